//! The policies being served, swapped atomically on reload.
//!
//! A reload builds and loads the new bundle completely (compile, instances, entrypoint check)
//! and decides a sample request with it before it swaps; evaluations in flight finish on the
//! engine they started with. A broken bundle never replaces a working one: the error is kept
//! for `GetPolicyInfo` and metrics. Broken includes policies that load but fail when they
//! decide a plain, hardened container ([`crate::model::SAMPLE_REQUEST_JSON`]): a builtin error,
//! a conflict, a result that is not findings, the time or memory limit. Served, they would deny
//! every request with an error. (An undefined decision is not refused: it denies as well, but a
//! policy may mean it.)

use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use tokio::sync::Mutex;

use super::decision_cache::{DecisionCache, DecisionCacheConfig};
use super::metrics::Metrics;
use super::source::{PolicySource, bundle_profile};
use crate::library::Profile;
use crate::policy::{EngineError, EngineOptions, PolicyEngine};

/// One loaded generation of policies.
pub struct Loaded {
    /// The engine.
    pub engine: PolicyEngine,
    /// The active profile (`""` when the bundle has none).
    pub profile: String,
    /// Decisions of this generation by input (off unless configured).
    pub cache: DecisionCache,
}

/// Decides the sample request with `engine` (loaded from `source`); an error (other than an
/// undefined decision) refuses the policies.
async fn smoke_test(engine: &PolicyEngine, source: &PolicySource) -> Result<(), String> {
    let sample = crate::model::sample_request()
        .map_err(|e| format!("internal error: the sample request does not parse: {e}"))?;
    match engine.decide(&sample).await {
        Ok(_) | Err(EngineError::Undefined { .. }) => Ok(()),
        Err(e) => {
            let policies = match source {
                PolicySource::Library => String::new(),
                PolicySource::Bundle(p) => format!(" --bundle {}", p.display()),
                PolicySource::Policies(p) => format!(" --policies {}", p.display()),
            };
            Err(format!(
                "the policies load but fail on a plain, hardened container (nginx, non-root, \
                 read-only; every request would be denied with an error): {e}. Fix the policy; \
                 reproduce with `dockgate eval{policies} --input FILE` on a container's input \
                 (`dockgate normalize` prints one for a compose file)"
            ))
        }
    }
}

/// The server's policies.
pub struct PolicyState {
    source: PolicySource,
    profile: Option<Profile>,
    options: EngineOptions,
    cache: DecisionCacheConfig,
    current: ArcSwapOption<Loaded>,
    reload_lock: Mutex<()>,
    last_error: StdMutex<String>,
    failures: AtomicU64,
    metrics: Arc<Metrics>,
}

impl PolicyState {
    /// A state with nothing loaded yet.
    pub fn new(
        source: PolicySource,
        profile: Option<Profile>,
        options: EngineOptions,
        cache: DecisionCacheConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            source,
            profile,
            options,
            cache,
            current: ArcSwapOption::empty(),
            reload_lock: Mutex::new(()),
            last_error: StdMutex::new(String::new()),
            failures: AtomicU64::new(0),
            metrics,
        }
    }

    /// The current policies, if loaded.
    pub fn current(&self) -> Option<Arc<Loaded>> {
        self.current.load_full()
    }

    /// Loads the policies from the source and swaps them in. On failure the old policies stay.
    pub async fn reload(&self) -> Result<Arc<Loaded>, String> {
        let _guard = self.reload_lock.lock().await;
        let outcome = async {
            let source = self.source.clone();
            let profile = self.profile;
            let bundle = tokio::task::spawn_blocking(move || source.load(profile))
                .await
                .map_err(|e| e.to_string())??;
            let profile = bundle_profile(&bundle);
            let engine = PolicyEngine::load(bundle, &self.options)
                .await
                .map_err(|e| e.to_string())?;
            smoke_test(&engine, &self.source).await?;
            let cache = DecisionCache::new(self.cache);
            Ok::<_, String>(Arc::new(Loaded {
                engine,
                profile,
                cache,
            }))
        }
        .await;
        match outcome {
            Ok(loaded) => {
                self.current.store(Some(loaded.clone()));
                if let Ok(mut e) = self.last_error.lock() {
                    e.clear();
                }
                self.metrics.bundle_loaded(&loaded.engine.info().revision);
                tracing::info!(
                    revision = %loaded.engine.info().revision,
                    origin = %loaded.engine.info().origin,
                    profile = %loaded.profile,
                    load_ms = loaded.engine.info().load_duration.as_millis() as u64,
                    "policies loaded"
                );
                Ok(loaded)
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                self.metrics.reload_failed();
                if let Ok(mut last) = self.last_error.lock() {
                    last.clone_from(&e);
                }
                tracing::error!(error = %e, "reload failed; the previous policies keep serving");
                Err(e)
            }
        }
    }

    /// The last reload error (`""` after a successful one).
    pub fn last_error(&self) -> String {
        self.last_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// Failed reloads since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The source (for watching).
    pub fn source(&self) -> &PolicySource {
        &self.source
    }
}
