//! The process-wide wasmtime engine: configuration, compilation cache, epoch ticker.
//!
//! One `wasmtime::Engine` (two: with and without the cache) serves every policy engine of the process (it is cheap to share and
//! compiled modules are tied to it). It runs async (opa-wasm requires it), interrupts wasm by
//! epochs (a ticker thread advances the epoch every [`TICK`]) and caches compiled modules on
//! disk, keyed by the module's hash, so a restart does not recompile.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::{Cache, CacheConfig, Config, Engine, Module};

/// Epoch period: the granularity of evaluation time limits and of yielding to the executor.
pub const TICK: Duration = Duration::from_millis(2);

static CACHED: OnceLock<Result<Engine, String>> = OnceLock::new();
static UNCACHED: OnceLock<Result<Engine, String>> = OnceLock::new();

/// Where compiled modules are cached: `$DOCKGATE_CACHE_DIR`, else `$XDG_CACHE_HOME/dockgate`,
/// else `~/.cache/dockgate`. `DOCKGATE_CACHE_DIR=off` disables the cache.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKGATE_CACHE_DIR") {
        if dir == "off" {
            return None;
        }
        return Some(PathBuf::from(dir));
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(x).join("dockgate"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("dockgate"))
}

fn build_engine(use_cache: bool) -> Result<Engine, String> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    config.max_wasm_stack(2 * 1024 * 1024);
    // For profiling policies: `DOCKGATE_WASM_PROFILER=perfmap` writes /tmp/perf-PID.map, so
    // `perf report` names the wasm functions (see BENCHMARKS.md, "Profiling").
    if std::env::var_os("DOCKGATE_WASM_PROFILER").is_some_and(|v| v == "perfmap") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if let Some(dir) = cache_dir().filter(|_| use_cache) {
        let mut cc = CacheConfig::new();
        cc.with_directory(dir.join("modules"));
        match Cache::new(cc) {
            Ok(cache) => {
                config.cache(Some(cache));
            }
            Err(e) => tracing::warn!(error = %e, dir = %dir.display(), "module cache disabled"),
        }
    }
    let engine = Engine::new(&config).map_err(|e| format!("wasmtime: {e:#}"))?;
    let ticker = engine.clone();
    std::thread::Builder::new()
        .name("dockgate-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                ticker.increment_epoch();
            }
        })
        .map_err(|e| format!("cannot start the epoch thread: {e}"))?;
    Ok(engine)
}

/// The shared engine (with or without the on-disk module cache).
pub fn engine(use_cache: bool) -> Result<&'static Engine, String> {
    let cell = if use_cache { &CACHED } else { &UNCACHED };
    cell.get_or_init(|| build_engine(use_cache))
        .as_ref()
        .map_err(Clone::clone)
}

/// Compiles `wasm` (or loads it from the cache). CPU-heavy: call from a blocking context.
pub fn compile(wasm: &[u8], use_cache: bool) -> Result<Module, String> {
    let engine = engine(use_cache)?;
    Module::new(engine, wasm).map_err(|e| format!("invalid wasm module: {e:#}"))
}
