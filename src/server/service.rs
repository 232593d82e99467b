//! The `dockgate.v1.PolicyService` implementation: thin, delegating to the policy state, the
//! compose adapter and the engine; conversions and errors live in `convert`.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tokio_stream::wrappers::{BroadcastStream, WatchStream};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::access::Access;
use super::convert;
use super::decision_log::DecisionLog;
use super::metrics::Metrics;
use super::pb;
use super::state::PolicyState;
use crate::check::{self, Evaluated};
use crate::compose::{self, LoadOptions, MemFs};
use crate::model::AdmissionRequest;
use crate::policy::EngineError;

/// Where CheckCompose places the files it receives.
const PROJECT_DIR: &str = "/project";

/// The service.
pub struct PolicyService {
    pub(super) state: Arc<PolicyState>,
    pub(super) log: Arc<DecisionLog>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) access: Arc<Access>,
    /// Largest `admission_request_json` / compose file accepted.
    pub(super) max_input_bytes: usize,
    /// Becomes true when the server starts shutting down.
    pub(super) stopping: tokio::sync::watch::Receiver<bool>,
    /// Policy calls in flight (Evaluate, CheckCompose); health, reflection and admin calls are
    /// never shed.
    pub(super) in_flight: Arc<tokio::sync::Semaphore>,
    /// The `--max-concurrency` figure, for messages.
    pub(super) max_concurrency: usize,
    /// Per-call time limit of policy calls.
    pub(super) call_timeout: std::time::Duration,
}

/// What deciding one request takes: evaluation, metrics, decision log. Cheap to clone, so
/// each service of a `CheckCompose` is decided in a task of its own.
#[derive(Clone)]
pub(super) struct Decider {
    state: Arc<PolicyState>,
    log: Arc<DecisionLog>,
    metrics: Arc<Metrics>,
}

impl Decider {
    /// Decides one request: evaluation, metrics, decision log.
    async fn decide(&self, req: &AdmissionRequest) -> Result<Evaluated, Status> {
        let loaded = self
            .state
            .current()
            .ok_or_else(|| Status::unavailable("policies are not loaded yet; retry shortly"))?;
        let audit_id = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        let key = loaded
            .cache
            .enabled()
            .then(|| super::decision_cache::key(req))
            .flatten();
        let cached = key.as_ref().and_then(|k| loaded.cache.get(k));
        if key.is_some() {
            self.metrics.cache_lookup(cached.is_some());
        }
        let outcome = match cached {
            Some(d) => Ok(d),
            None => {
                // Boxed: the engine's future (wasmtime's call on a fiber inside) is ~5 KB, and
                // each future that holds it inline is copied whole on every move.
                let outcome = Box::pin(loaded.engine.decide(req)).await;
                if let (Some(k), Ok(d)) = (key, &outcome) {
                    loaded.cache.put(k, d);
                }
                outcome
            }
        };
        let took = started.elapsed();
        let stats = loaded.engine.stats();
        self.metrics.pool(stats.in_use, stats.size);
        let revision = &loaded.engine.info().revision;
        let op = req.operation.as_str();
        match &outcome {
            Ok(d) => {
                let result = if d.allowed { "allow" } else { "deny" };
                self.metrics
                    .decision(result, op, &d.violation_ids(), took.as_secs_f64());
                self.log.record(&audit_id, req, Ok(d), revision, took);
            }
            Err(e) => {
                self.metrics.decision("error", op, &[], took.as_secs_f64());
                let msg = e.to_string();
                self.log.record(&audit_id, req, Err(&msg), revision, took);
            }
        }
        let decision = outcome.map_err(|e: EngineError| convert::engine_error(&e))?;
        Ok(Evaluated {
            decision,
            audit_id,
            evaluation_time_us: u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
        })
    }
}

impl PolicyService {
    fn decider(&self) -> Decider {
        Decider {
            state: self.state.clone(),
            log: self.log.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// Admits a policy call or sheds it with UNAVAILABLE (retryable) when too many run.
    fn admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Status> {
        self.in_flight.clone().try_acquire_owned().map_err(|_| {
            Status::unavailable(format!(
                "server overloaded: {} policy calls in flight (--max-concurrency); retry with backoff",
                self.max_concurrency
            ))
        })
    }

    /// Runs a policy call under the per-call time limit (DEADLINE_EXCEEDED past it).
    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, Status>>,
    ) -> Result<T, Status> {
        tokio::time::timeout(self.call_timeout, call)
            .await
            .unwrap_or_else(|_| {
                Err(Status::deadline_exceeded(format!(
                    "the call took longer than {:?} (--call-timeout-ms)",
                    self.call_timeout
                )))
            })
    }

    async fn evaluate_call(
        &self,
        request: Request<pb::EvaluateRequest>,
    ) -> Result<Response<pb::Decision>, Status> {
        let json = &request.get_ref().admission_request_json;
        if let Some(s) = self.too_large("admission_request_json", json.len()) {
            return Err(s);
        }
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
            Status::invalid_argument(format!(
                "admission_request_json is not valid JSON: {e} (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let req =
            crate::model::validate_input_json(&value).map_err(|e| convert::invalid_input(&e))?;
        let ev = self.decider().decide(&req).await?;
        let subject = req.subject();
        Ok(Response::new(convert::decision(
            &ev.decision,
            &subject,
            &ev.audit_id,
            ev.evaluation_time_us,
            &|_| None,
        )))
    }

    async fn check_compose_call(
        &self,
        request: Request<pb::CheckComposeRequest>,
    ) -> Result<Response<pb::CheckComposeResponse>, Status> {
        let r = request.into_inner();
        if r.files.is_empty() {
            return Err(Status::invalid_argument(
                "files: give at least one compose file",
            ));
        }
        let mut fs = MemFs::new();
        let mut files = Vec::new();
        for f in &r.files {
            if let Some(s) = self.too_large(&format!("file {:?}", f.name), f.content.len()) {
                return Err(s);
            }
            let path = project_path(&f.name)?;
            fs.add(path.clone(), f.content.clone().into_bytes());
            files.push(path);
        }
        for f in &r.attachments {
            if let Some(s) = self.too_large(&format!("attachment {:?}", f.name), f.content.len()) {
                return Err(s);
            }
            fs.add(project_path(&f.name)?, f.content.clone().into_bytes());
        }
        let mut env_files = Vec::new();
        if !r.dotenv.is_empty() {
            fs.add(
                PathBuf::from(PROJECT_DIR).join(".env"),
                r.dotenv.clone().into_bytes(),
            );
            env_files.push(PathBuf::from(PROJECT_DIR).join(".env"));
        }
        let options = LoadOptions {
            files,
            project_dir: Some(PathBuf::from(PROJECT_DIR)),
            project_name: (!r.project_name.is_empty()).then(|| r.project_name.clone()),
            env_files,
            profiles: r.profiles.clone(),
            env: r.env.clone().into_iter().collect(),
            working_dir: Some(PathBuf::from(PROJECT_DIR)),
        };
        let revision = self
            .state
            .current()
            .map(|l| l.engine.info().revision.clone())
            .unwrap_or_default();
        let project = match compose::load_with(&options, &fs) {
            Ok(p) => p,
            Err(e) => {
                let mut errors = convert::compose_errors(&e);
                for err in &mut errors {
                    strip_project_dir(&mut err.file);
                }
                return Ok(Response::new(pb::CheckComposeResponse {
                    errors,
                    bundle_revision: revision,
                    ..Default::default()
                }));
            }
        };
        let decider = self.decider();
        let (report, evaluated) = check::check_project(&project, |req| {
            let decider = decider.clone();
            async move { decider.decide(&req).await }
        })
        .await?;
        let services = convert::check_services(&report, &evaluated, &|f: &str| {
            let mut file = f.to_string();
            strip_project_dir(&mut file);
            file
        });
        let mut warnings = convert::compose_warnings(&project.warnings);
        for w in &mut warnings {
            strip_project_dir(&mut w.file);
        }
        Ok(Response::new(pb::CheckComposeResponse {
            services,
            errors: Vec::new(),
            bundle_revision: revision,
            warnings,
        }))
    }

    fn too_large(&self, what: &str, len: usize) -> Option<Status> {
        (len > self.max_input_bytes).then(|| {
            Status::invalid_argument(format!(
                "{what} is {len} bytes; the limit is {} bytes",
                self.max_input_bytes
            ))
        })
    }

    fn info(&self) -> pb::PolicyInfo {
        let mut info = pb::PolicyInfo {
            last_reload_error: self.state.last_error(),
            reload_failures: self.state.failures(),
            ..Default::default()
        };
        if let Some(l) = self.state.current() {
            let i = l.engine.info();
            info.revision.clone_from(&i.revision);
            info.entrypoints.clone_from(&i.decision_entrypoints);
            info.loaded_at_unix_ms = i
                .loaded_at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            info.profile.clone_from(&l.profile);
            info.origin.clone_from(&i.origin);
        }
        info
    }
}

type RecordStream = Pin<Box<dyn Stream<Item = Result<pb::DecisionRecord, Status>> + Send>>;

#[tonic::async_trait]
impl pb::policy_service_server::PolicyService for PolicyService {
    async fn evaluate(
        &self,
        request: Request<pb::EvaluateRequest>,
    ) -> Result<Response<pb::Decision>, Status> {
        let _permit = self.admit()?;
        self.bounded(self.evaluate_call(request)).await
    }

    async fn check_compose(
        &self,
        request: Request<pb::CheckComposeRequest>,
    ) -> Result<Response<pb::CheckComposeResponse>, Status> {
        let _permit = self.admit()?;
        self.bounded(self.check_compose_call(request)).await
    }

    async fn get_policy_info(
        &self,
        _request: Request<pb::GetPolicyInfoRequest>,
    ) -> Result<Response<pb::PolicyInfo>, Status> {
        Ok(Response::new(self.info()))
    }

    async fn reload(
        &self,
        request: Request<pb::ReloadRequest>,
    ) -> Result<Response<pb::PolicyInfo>, Status> {
        self.access.require_admin(&request, "Reload")?;
        // The reload runs in its own task: a call that times out or is cancelled does not
        // abandon a load halfway (the caller may see DEADLINE_EXCEEDED; the load completes).
        let state = self.state.clone();
        let outcome = tokio::spawn(async move { state.reload().await })
            .await
            .map_err(|e| Status::internal(format!("reload task failed: {e}")))?;
        outcome.map_err(|e| {
            Status::failed_precondition(format!(
                "reload failed; the previous policies keep serving: {e}"
            ))
        })?;
        Ok(Response::new(self.info()))
    }

    type WatchDecisionsStream = RecordStream;

    async fn watch_decisions(
        &self,
        request: Request<pb::WatchDecisionsRequest>,
    ) -> Result<Response<Self::WatchDecisionsStream>, Status> {
        self.access.require_admin(&request, "WatchDecisions")?;
        let denied_only = request.get_ref().denied_only;
        enum Event {
            Record(Box<Result<pb::DecisionRecord, Status>>),
            Stop,
        }
        let records = BroadcastStream::new(self.log.subscribe()).filter_map(move |r| match r {
            Ok(rec) if denied_only && rec.allowed => None,
            Ok(rec) => Some(Event::Record(Box::new(Ok(rec)))),
            // A slow watcher misses records rather than slowing decisions down.
            Err(_) => None,
        });
        // Streams end at shutdown, so draining does not wait for them forever.
        let stop = WatchStream::new(self.stopping.clone())
            .filter(|stopping| *stopping)
            .map(|_| Event::Stop);
        let stream = records
            .merge(stop)
            .take_while(|e| matches!(e, Event::Record(_)))
            .filter_map(|e| match e {
                Event::Record(r) => Some(*r),
                Event::Stop => None,
            });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn ping(
        &self,
        _request: Request<pb::PingRequest>,
    ) -> Result<Response<pb::PingResponse>, Status> {
        Ok(Response::new(pb::PingResponse {}))
    }
}

/// Where a file sent as `name` goes: under [`PROJECT_DIR`], never outside it.
fn project_path(name: &str) -> Result<PathBuf, Status> {
    let name = name.trim_start_matches("./");
    if name.is_empty() || name.contains("..") || name.starts_with('/') {
        return Err(Status::invalid_argument(format!(
            "file name {name:?}: give a relative name without `..`"
        )));
    }
    Ok(PathBuf::from(PROJECT_DIR).join(name))
}

fn strip_project_dir(file: &mut String) {
    if let Some(rest) = file
        .strip_prefix(PROJECT_DIR)
        .and_then(|r| r.strip_prefix('/'))
    {
        *file = rest.to_string();
    }
}
