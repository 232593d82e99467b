//! The policy engine: OPA bundles evaluated in WebAssembly through `opa-wasm`.
//!
//! A small facade in the spirit of OPA's wasm SDK: [`PolicyEngine::load`] a [`Bundle`], then
//! [`PolicyEngine::decide`] on an [`crate::model::AdmissionRequest`] (or [`PolicyEngine::evaluate`] one
//! entrypoint on raw JSON). Nothing outside this module knows about wasmtime stores, the
//! instance pool or the limits. Evaluation speaks only OPA's wasm ABI, so a bundle from
//! `opa build -t wasm` and one from `dockgate build` load the same way.
//!
//! - [`bundle`]: the bundle format (read/write, no evaluation);
//! - `wasm`: the shared wasmtime engine, compilation cache and epoch ticker;
//! - `instance`: one store + opa-wasm policy with memory and time limits;
//! - `pool`: ready instances, one per concurrent evaluation;
//! - [`findings`]: entrypoint results → [`Decision`] (Conftest conventions).

pub mod bundle;
pub mod findings;
mod instance;
mod pool;
mod wasm;

use std::time::{Duration, SystemTime};

use serde_json::Value;

pub use bundle::{Bundle, BundleError};
pub use pool::PoolStats;

use crate::model::Decision;
use instance::{Instance, Limits};
use pool::Pool;

/// Why loading or evaluating failed. Every variant is a failure: callers must never read one
/// as "allowed".
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The bundle could not be read.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The wasm module does not compile.
    #[error("{origin}: {message}")]
    Compile {
        /// The bundle.
        origin: String,
        /// The compiler's message.
        message: String,
    },
    /// The module could not be instantiated (not an OPA module, policies that do not prepare,
    /// limits exceeded while loading).
    #[error("cannot instantiate the policy: {0}")]
    Instantiate(String),
    /// The module declares no entrypoint to decide with.
    #[error(
        "the bundle has no entrypoint to decide with: build it with `-e ENTRYPOINT` (e.g. `-e dockgate/main/decision`)"
    )]
    NoEntrypoints,
    /// An entrypoint that the module does not have.
    #[error("unknown entrypoint {entrypoint}; the bundle has: {}", available.join(", "))]
    UnknownEntrypoint {
        /// The one asked for.
        entrypoint: String,
        /// The ones available.
        available: Vec<String>,
    },
    /// The entrypoint is undefined for this input (never read as allow).
    #[error("entrypoint {entrypoint} is undefined for this input")]
    Undefined {
        /// The entrypoint.
        entrypoint: String,
    },
    /// The evaluation exceeded its time limit.
    #[error("evaluation of {entrypoint} exceeded its time limit of {limit:?}")]
    Timeout {
        /// The entrypoint.
        entrypoint: String,
        /// The limit.
        limit: Duration,
    },
    /// The evaluation exceeded its memory limit.
    #[error("evaluation of {entrypoint} exceeded the memory limit of {limit} bytes")]
    MemoryLimit {
        /// The entrypoint.
        entrypoint: String,
        /// The limit.
        limit: usize,
    },
    /// A runtime error inside the policy.
    #[error("evaluation of {entrypoint} failed: {message}")]
    Evaluation {
        /// The entrypoint.
        entrypoint: String,
        /// The error.
        message: String,
    },
    /// The entrypoint's value is not a set of findings.
    #[error("{0}")]
    InvalidResult(String),
    /// The engine is shutting down.
    #[error("the policy engine is closed")]
    Closed,
    /// Internal failure (thread pool, wasmtime setup).
    #[error("internal error: {0}")]
    Internal(String),
}

/// How to run a bundle.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Concurrent evaluations (instances). Defaults to the number of cores.
    pub pool_size: usize,
    /// Time limit of one evaluation.
    pub eval_timeout: Duration,
    /// Time limit of instantiating (preparing the policies, loading data).
    pub init_timeout: Duration,
    /// Linear memory limit of one instance, bytes.
    pub memory_limit_bytes: usize,
    /// Entrypoints used by [`PolicyEngine::decide`]; `None` = all the bundle declares.
    pub decision_entrypoints: Option<Vec<String>>,
    /// Use the on-disk cache of compiled modules (see `DOCKGATE_CACHE_DIR`).
    pub module_cache: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            pool_size: std::thread::available_parallelism().map_or(2, |n| n.get()),
            eval_timeout: Duration::from_millis(500),
            init_timeout: Duration::from_secs(30),
            memory_limit_bytes: 256 * 1024 * 1024,
            decision_entrypoints: None,
            module_cache: true,
        }
    }
}

/// What is loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyInfo {
    /// Bundle origin (path).
    pub origin: String,
    /// Bundle revision (the manifest's, else a hash prefix of the module and the data).
    pub revision: String,
    /// All entrypoints of the module.
    pub entrypoints: Vec<String>,
    /// Entrypoints `decide` evaluates.
    pub decision_entrypoints: Vec<String>,
    /// SHA-256 of the wasm module, hex.
    pub module_sha256: String,
    /// When the bundle was loaded.
    pub loaded_at: SystemTime,
    /// How long loading took.
    pub load_duration: Duration,
}

/// The entrypoints to decide with when the bundle does not list them (`dockgate build` writes
/// them to the manifest's `metadata.dockgate.decision_entrypoints`), out of all a module
/// declares: those that follow the
/// conventions (`.../deny`, `violation`, `warn`, `audit`, or the library's
/// `dockgate/main/decision`), when there are any. `opa build` also declares every rule that
/// depends on a requested entrypoint; those are not findings and are left out.
fn decision_shaped(all: Vec<String>) -> Vec<String> {
    let shaped: Vec<String> = all
        .iter()
        .filter(|e| {
            let last = e.rsplit('/').next().unwrap_or("");
            matches!(last, "deny" | "violation" | "warn" | "audit")
                || e.as_str() == crate::build::DEFAULT_ENTRYPOINT
        })
        .cloned()
        .collect();
    if shaped.is_empty() { all } else { shaped }
}

/// A loaded bundle, ready to evaluate. Cheap to share behind an `Arc`.
pub struct PolicyEngine {
    info: PolicyInfo,
    pool: Pool,
}

impl PolicyEngine {
    /// Compiles (or loads from the cache) the bundle's module, prepares the instance pool and
    /// checks the entrypoints.
    pub async fn load(bundle: Bundle, options: &EngineOptions) -> Result<Self, EngineError> {
        let started = std::time::Instant::now();
        let module_sha256 = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&bundle.wasm))
        };
        let origin = bundle.origin.clone();
        let wasm = bundle.wasm;
        let use_cache = options.module_cache;
        let module = tokio::task::spawn_blocking(move || wasm::compile(&wasm, use_cache))
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))?
            .map_err(|message| EngineError::Compile {
                origin: origin.clone(),
                message,
            })?;
        let limits = Limits {
            memory_bytes: options.memory_limit_bytes,
            eval_timeout: options.eval_timeout,
            init_timeout: options.init_timeout,
        };
        let first = Instance::new(&module, &bundle.data, limits).await?;
        let entrypoints = first.entrypoints();
        let declared: Vec<String> = bundle
            .manifest
            .wasm
            .iter()
            .map(|w| w.entrypoint.clone())
            .collect();
        let from_metadata = bundle
            .manifest
            .metadata
            .as_ref()
            .and_then(|m| m.pointer("/dockgate/decision_entrypoints"))
            .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok());
        let decision_entrypoints = match (&options.decision_entrypoints, from_metadata) {
            (Some(list), _) => list.clone(),
            (None, Some(list)) => list,
            (None, None) if !declared.is_empty() => decision_shaped(declared),
            (None, None) => decision_shaped(entrypoints.clone()),
        };
        for e in &decision_entrypoints {
            if !entrypoints.contains(e) {
                return Err(EngineError::UnknownEntrypoint {
                    entrypoint: e.clone(),
                    available: entrypoints,
                });
            }
        }
        let revision = if bundle.manifest.revision.is_empty() {
            // Module and data together: a reload that changes only the data (a profile, an
            // exemption) is a new revision too.
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(module_sha256.as_bytes());
            h.update([0]);
            h.update(bundle.data.to_string().as_bytes());
            hex::encode(h.finalize()).chars().take(12).collect()
        } else {
            bundle.manifest.revision.clone()
        };
        let pool = Pool::new(module, bundle.data, limits, options.pool_size, first).await?;
        Ok(Self {
            info: PolicyInfo {
                origin: bundle.origin,
                revision,
                entrypoints,
                decision_entrypoints,
                module_sha256,
                loaded_at: SystemTime::now(),
                load_duration: started.elapsed(),
            },
            pool,
        })
    }

    /// Evaluates every decision entrypoint on `request` (a [`crate::model::AdmissionRequest`], or any
    /// document of that shape) and merges the findings.
    pub async fn decide<V: serde::Serialize + Sync>(
        &self,
        request: &V,
    ) -> Result<Decision, EngineError> {
        if self.info.decision_entrypoints.is_empty() {
            return Err(EngineError::NoEntrypoints);
        }
        let mut decision = Decision {
            allowed: true,
            violations: Vec::new(),
            warnings: Vec::new(),
            audits: Vec::new(),
            bundle_revision: self.info.revision.clone(),
        };
        for entrypoint in &self.info.decision_entrypoints {
            let value = self.pool.evaluate(entrypoint, request).await?;
            findings::collect(&mut decision, entrypoint, value)
                .map_err(EngineError::InvalidResult)?;
        }
        findings::sort(&mut decision);
        Ok(decision)
    }

    /// Evaluates one entrypoint on a raw input document and returns its value.
    pub async fn evaluate(&self, entrypoint: &str, input: &Value) -> Result<Value, EngineError> {
        if !self.info.entrypoints.iter().any(|e| e == entrypoint) {
            return Err(EngineError::UnknownEntrypoint {
                entrypoint: entrypoint.to_string(),
                available: self.info.entrypoints.clone(),
            });
        }
        self.pool.evaluate(entrypoint, input).await
    }

    /// What is loaded.
    pub fn info(&self) -> &PolicyInfo {
        &self.info
    }

    /// Pool counters.
    pub fn stats(&self) -> PoolStats {
        self.pool.stats()
    }

    /// Peak linear memory of an idle instance, bytes.
    pub fn instance_memory_peak(&self) -> usize {
        self.pool.memory_peak()
    }

    /// Creates a fresh instance, as the pool does when it replaces a failed one, and returns
    /// its linear memory size in bytes (for capacity planning and the benchmarks).
    pub async fn probe_instance(&self) -> Result<usize, EngineError> {
        self.pool.probe().await
    }
}
