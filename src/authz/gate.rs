//! The gate: one AuthZ request in, one verdict out.
//!
//! Routing ([`super::route`]) says what a call is; this module gathers what deciding it needs
//! (the create/update/exec body, the container's and the image's inspect over the Docker API),
//! builds the `AdmissionRequest` with the Engine API adapter, asks the policy servers
//! ([`super::upstream`]) and words the reply for the Docker CLI. A call that needs a body and
//! has none is denied with the reason; a server that cannot answer means deny unless the
//! operation is configured to fail open. The Docker API calls made here come back through the
//! plugin as `GET`s, which are allowed without any lookup, and no lock is held across an
//! `await`, so they cannot deadlock.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::Docker;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::cache::{ImageCache, Verdict, VerdictCache};
use super::protocol::{AuthzRequest, AuthzResponse, BodyError};
use super::route::{Route, changes_images, route, split_uri};
use super::upstream::Upstream;
use crate::engine_api;
use crate::model::{AdmissionRequest, Operation, RequestUser};
use crate::server::pb;

/// Operations that are allowed (instead of denied) when no policy server answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailOpen {
    /// Container create.
    pub create: bool,
    /// Container start/restart.
    pub start: bool,
    /// Container update.
    pub update: bool,
    /// Exec create.
    pub exec: bool,
}

impl FailOpen {
    fn for_op(&self, op: Operation) -> bool {
        match op {
            Operation::Create => self.create,
            Operation::Start => self.start,
            Operation::Update => self.update,
            Operation::Exec => self.exec,
            Operation::Check | Operation::Audit => false,
        }
    }
}

/// How the gate behaves.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// Deadline of each Docker API lookup (the policy call has the upstream's own).
    pub docker_timeout: Duration,
    /// Per-operation fail-open switches (default: all fail closed).
    pub fail_open: FailOpen,
    /// Allow Swarm `services/create|update` (default: deny).
    pub allow_swarm: bool,
    /// Containers in the verdict cache.
    pub cache_size: usize,
    /// Use the verdict cache.
    pub cache: bool,
    /// How long an image inspect is reused (cleared at once by any pull, tag, delete, load,
    /// build or commit the plugin authorizes); zero: never.
    pub image_ttl: Duration,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            docker_timeout: Duration::from_secs(2),
            fail_open: FailOpen::default(),
            allow_swarm: false,
            cache_size: 4096,
            cache: true,
            image_ttl: Duration::from_secs(30),
        }
    }
}

/// The Docker API client, set up on first use: the plugin usually starts before the daemon
/// whose socket it inspects through.
pub struct DockerLink {
    path: String,
    timeout: Duration,
    client: Mutex<Option<Docker>>,
}

impl DockerLink {
    /// A link to the daemon's unix socket at `path` (nothing is connected yet).
    pub fn new(path: &str, timeout: Duration) -> Self {
        Self {
            path: path.to_string(),
            timeout,
            client: Mutex::new(None),
        }
    }

    fn get(&self) -> Result<Docker, String> {
        let mut slot = self
            .client
            .lock()
            .map_err(|_| "the Docker client lock is poisoned".to_string())?;
        if let Some(d) = slot.as_ref() {
            return Ok(d.clone());
        }
        let d = Docker::connect_with_unix(
            &self.path,
            self.timeout.as_secs().max(1),
            // The oldest API the Engine API adapter reads; every supported daemon speaks it.
            &bollard::ClientVersion {
                major_version: 1,
                minor_version: 41,
            },
        )
        .map_err(|e| format!("cannot reach the Docker API at unix://{}: {e}", self.path))?;
        *slot = Some(d.clone());
        Ok(d)
    }
}

/// The plugin's decision maker.
pub struct Gate {
    upstream: Upstream,
    docker: DockerLink,
    cfg: GateConfig,
    cache: Mutex<VerdictCache>,
    images: Mutex<ImageCache>,
}

/// What the log line of one call says besides the reply.
#[derive(Default)]
struct Facts {
    op: &'static str,
    subject: String,
    image: String,
    rules: Vec<String>,
    cached: bool,
    audit_id: String,
    revision: String,
    reason: &'static str,
    /// When the policy calls of this request must be answered.
    until: Option<Instant>,
}

impl Gate {
    /// A gate asking `upstream`, inspecting through `docker`.
    pub fn new(upstream: Upstream, docker: DockerLink, cfg: GateConfig) -> Self {
        let cache = Mutex::new(VerdictCache::new(cfg.cache_size));
        let ttl = if cfg.cache {
            cfg.image_ttl
        } else {
            Duration::ZERO
        };
        let images = Mutex::new(ImageCache::new(256, ttl));
        Self {
            images,
            upstream,
            docker,
            cfg,
            cache,
        }
    }

    /// `/AuthZPlugin.AuthZReq`.
    pub async fn request(&self, req: &AuthzRequest) -> AuthzResponse {
        let started = Instant::now();
        let mut facts = Facts {
            until: Some(started + self.upstream.deadline()),
            ..Facts::default()
        };
        self.note_image_change(req);
        let resp = match route(&req.method, &req.uri) {
            Route::AlwaysAllow => return AuthzResponse::allow(),
            Route::Other => return AuthzResponse::allow(),
            Route::Swarm => {
                facts.op = "SWARM";
                facts.reason = "swarm";
                if self.cfg.allow_swarm {
                    AuthzResponse::allow()
                } else {
                    AuthzResponse::deny(
                        "dockgate: Swarm service create/update is denied by the plugin's configuration \
                         (dockgate authz --swarm deny): dockgate judges containers, not Swarm services",
                    )
                }
            }
            Route::Create { name } => self.create(req, name.as_deref(), &mut facts).await,
            Route::Start { id } => self.start(req, &id, &mut facts).await,
            Route::Update { id } => self.update(req, &id, &mut facts).await,
            Route::Exec { id } => self.exec(req, &id, &mut facts).await,
        };
        let (path, _) = split_uri(&req.uri);
        let took_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        if resp.allow {
            tracing::info!(
                target: "dockgate::authz",
                op = facts.op, method = %req.method, path, subject = %facts.subject,
                image = %facts.image, allowed = true, cached = facts.cached,
                audit_id = %facts.audit_id, reason = facts.reason, took_us, "authorization"
            );
        } else {
            tracing::info!(
                target: "dockgate::authz",
                op = facts.op, method = %req.method, path, subject = %facts.subject,
                image = %facts.image, allowed = false, rules = %facts.rules.join(","),
                audit_id = %facts.audit_id, reason = facts.reason, took_us, "authorization"
            );
        }
        resp
    }

    /// Clears the image cache for a request that can change what image names point to (at
    /// the request, and again at its response: nothing inspected in between is kept).
    fn note_image_change(&self, req: &AuthzRequest) {
        if changes_images(&req.method, &req.uri)
            && let Ok(mut images) = self.images.lock()
        {
            images.clear();
        }
    }

    /// `/AuthZPlugin.AuthZRes`: never denies; learns the id of a created container.
    pub async fn response(&self, req: &AuthzRequest) -> AuthzResponse {
        self.note_image_change(req);
        match route(&req.method, &req.uri) {
            Route::Create { .. } if self.cfg.cache => {
                let created = matches!(req.response_status, Some(200..=299));
                if let (true, Some(body)) = (created, req.json_response_body())
                    && let Some(id) = body.get("Id").and_then(Value::as_str)
                {
                    let digest = body_digest(req);
                    if let Ok(mut c) = self.cache.lock() {
                        c.created(&digest, id);
                    }
                }
            }
            Route::Update { id } => self.forget(&id),
            _ => {}
        }
        AuthzResponse::allow()
    }

    fn forget(&self, id: &str) {
        if let Ok(mut c) = self.cache.lock() {
            c.forget(id);
        }
    }

    async fn create(
        &self,
        req: &AuthzRequest,
        name: Option<&str>,
        facts: &mut Facts,
    ) -> AuthzResponse {
        facts.op = "CREATE";
        let body = match req.json_body() {
            Ok(b) => b,
            Err(e) => return body_denied("container create", &e, facts),
        };
        let mut doc = match engine_api::from_create(&body, name) {
            Ok(d) => d,
            Err(e) => return unreadable("container create", &e.to_string(), facts),
        };
        let complete = self.add_image_config(&mut doc, None).await;
        // The generation is read before the decision: a reload in between makes the
        // remembered verdict stale, never a stale verdict current.
        let generation = if self.cfg.cache && complete {
            self.generation(facts).await
        } else {
            None
        };
        let resp = self.decide(req, doc, facts).await;
        if let Some(v) = self.rememberable(&resp, generation, facts)
            && let Ok(mut c) = self.cache.lock()
        {
            c.pending(body_digest(req), v);
        }
        resp
    }

    /// The policy generation the servers enforce now: the revision and when it was loaded (a
    /// reload of the same module with other data keeps the revision but not the load time).
    async fn generation(&self, facts: &Facts) -> Option<String> {
        let until = facts
            .until
            .unwrap_or_else(|| Instant::now() + self.upstream.deadline());
        let info = self.upstream.policy_info(until).await.ok()?;
        Some(format!("{}@{}", info.revision, info.loaded_at_unix_ms))
    }

    /// The verdict to remember for an allowed decision made under `generation`.
    fn rememberable(
        &self,
        resp: &AuthzResponse,
        generation: Option<String>,
        facts: &Facts,
    ) -> Option<Verdict> {
        let generation = generation?;
        let made_under = generation
            .split_once('@')
            .is_some_and(|(rev, _)| rev == facts.revision);
        (resp.allow && made_under && !facts.audit_id.is_empty()).then(|| Verdict {
            revision: generation,
            audit_id: facts.audit_id.clone(),
        })
    }

    async fn start(&self, req: &AuthzRequest, id: &str, facts: &mut Facts) -> AuthzResponse {
        facts.op = "START";
        // Before API 1.24 a start could carry a HostConfig that changes the container as it
        // starts; such a body is not judged, it is refused.
        let raw = req.body_bytes();
        let harmless = raw.iter().all(u8::is_ascii_whitespace)
            || match serde_json::from_slice::<Value>(&raw) {
                Ok(Value::Null) => true,
                Ok(Value::Object(m)) => m.is_empty(),
                _ => false,
            };
        if !harmless {
            facts.reason = "start-body";
            return AuthzResponse::deny(
                "dockgate: a container start with a configuration body (API < 1.24) is denied: \
                 it would change the container without a create to judge; use a current Docker client",
            );
        }
        let inspect = match self.inspect_container(id).await {
            Ok(v) => v,
            Err(msg) => return self.docker_failed(id, &msg, facts),
        };
        let full_id = inspect
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or(id)
            .to_string();
        let generation = if self.cfg.cache {
            self.generation(facts).await
        } else {
            None
        };
        if let Some(g) = &generation
            && let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(&full_id, g))
        {
            facts.subject = format!("container {}", short(&full_id));
            facts.reason = "cache";
            facts.cached = true;
            facts.audit_id = hit.audit_id;
            return AuthzResponse::allow();
        }
        let mut doc = match engine_api::from_inspect(&inspect, Operation::Start) {
            Ok(d) => d,
            Err(e) => return unreadable("container inspect", &e.to_string(), facts),
        };
        let complete = self.add_image_config(&mut doc, image_id(&inspect)).await;
        let resp = self.decide(req, doc, facts).await;
        if let Some(v) = self.rememberable(&resp, generation.filter(|_| complete), facts)
            && let Ok(mut c) = self.cache.lock()
        {
            c.remember(&full_id, v);
        }
        resp
    }

    async fn update(&self, req: &AuthzRequest, id: &str, facts: &mut Facts) -> AuthzResponse {
        facts.op = "UPDATE";
        let body = match req.json_body() {
            Ok(b) => b,
            Err(e) => return body_denied("container update", &e, facts),
        };
        let inspect = match self.inspect_container(id).await {
            Ok(v) => v,
            Err(msg) => return self.docker_failed(id, &msg, facts),
        };
        if let Some(full) = inspect.get("Id").and_then(Value::as_str) {
            self.forget(full);
        }
        let mut doc = match engine_api::from_update(&inspect, &body) {
            Ok(d) => d,
            Err(e) => return unreadable("container update", &e.to_string(), facts),
        };
        self.add_image_config(&mut doc, image_id(&inspect)).await;
        self.decide(req, doc, facts).await
    }

    async fn exec(&self, req: &AuthzRequest, id: &str, facts: &mut Facts) -> AuthzResponse {
        facts.op = "EXEC";
        let body = match req.json_body() {
            Ok(b) => b,
            Err(e) => return body_denied("exec create", &e, facts),
        };
        let inspect = match self.inspect_container(id).await {
            Ok(v) => v,
            Err(msg) => return self.docker_failed(id, &msg, facts),
        };
        let mut doc = match engine_api::from_exec(&body, &inspect) {
            Ok(d) => d,
            Err(e) => return unreadable("exec create", &e.to_string(), facts),
        };
        self.add_image_config(&mut doc, image_id(&inspect)).await;
        self.decide(req, doc, facts).await
    }

    /// Adds the image's configuration (user, healthcheck); `false` when it is not known.
    async fn add_image_config(&self, doc: &mut AdmissionRequest, image: Option<String>) -> bool {
        let name = image.unwrap_or_else(|| doc.container.image.clone());
        if name.is_empty() {
            return false;
        }
        let cached = self.images.lock().ok().and_then(|c| c.get(&name));
        if let Some(v) = cached {
            return engine_api::apply_image_inspect(doc, &v).is_ok();
        }
        let docker = match self.docker.get() {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(target: "dockgate::authz", error = %e, "no Docker API client");
                return false;
            }
        };
        let inspected =
            tokio::time::timeout(self.cfg.docker_timeout, docker.inspect_image(&name)).await;
        let value = match inspected {
            Ok(Ok(i)) => {
                let v = serde_json::to_value(&i).ok();
                if let (Some(v), Ok(mut c)) = (&v, self.images.lock()) {
                    c.put(&name, v.clone());
                }
                v
            }
            Ok(Err(e)) => {
                tracing::debug!(target: "dockgate::authz", image = %name, error = %e, "image inspect failed");
                None
            }
            Err(_) => {
                tracing::warn!(target: "dockgate::authz", image = %name, "image inspect timed out");
                None
            }
        };
        match value {
            Some(v) => engine_api::apply_image_inspect(doc, &v).is_ok(),
            None => false,
        }
    }

    async fn inspect_container(&self, id: &str) -> Result<Value, String> {
        let docker = self.docker.get()?;
        match tokio::time::timeout(self.cfg.docker_timeout, docker.inspect_container(id, None))
            .await
        {
            Ok(Ok(i)) => serde_json::to_value(&i).map_err(|e| e.to_string()),
            Ok(Err(bollard::errors::Error::DockerResponseServerError { message, .. })) => {
                Err(message)
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "the Docker API did not answer within {:?}",
                self.cfg.docker_timeout
            )),
        }
    }

    fn docker_failed(&self, id: &str, msg: &str, facts: &mut Facts) -> AuthzResponse {
        facts.subject = format!("container {id}");
        facts.reason = "inspect-failed";
        AuthzResponse::deny(format!(
            "dockgate: container {id} denied: cannot inspect it to judge the request ({msg})"
        ))
    }

    async fn decide(
        &self,
        req: &AuthzRequest,
        mut doc: AdmissionRequest,
        facts: &mut Facts,
    ) -> AuthzResponse {
        if !req.user.is_empty() {
            doc.user = Some(RequestUser {
                name: req.user.clone(),
                authn_method: Some(req.user_authn_method.clone()).filter(|m| !m.is_empty()),
            });
        }
        facts.subject = doc.subject();
        facts.image = doc.container.image.clone();
        let json = match serde_json::to_string(&doc) {
            Ok(j) => j,
            Err(e) => return unreadable("admission request", &e.to_string(), facts),
        };
        let until = facts
            .until
            .unwrap_or_else(|| Instant::now() + self.upstream.deadline());
        match self.upstream.evaluate(json, until).await {
            Ok(d) => {
                facts.audit_id = d.audit_id.clone();
                facts.revision.clone_from(&d.bundle_revision);
                facts.rules = d
                    .violations
                    .iter()
                    .map(|f| f.rule_id.clone())
                    .filter(|r| !r.is_empty())
                    .collect();
                if d.allowed {
                    facts.reason = "policy";
                    AuthzResponse::allow()
                } else {
                    facts.reason = "policy";
                    AuthzResponse::deny(deny_message(&doc, &d))
                }
            }
            Err(e) => {
                if self.cfg.fail_open.for_op(doc.operation) {
                    facts.reason = "fail-open";
                    tracing::warn!(
                        target: "dockgate::authz", op = facts.op, subject = %facts.subject,
                        error = %e, "no policy decision; allowed because this operation fails open"
                    );
                    AuthzResponse::allow()
                } else {
                    facts.reason = "fail-closed";
                    AuthzResponse::deny(format!(
                        "dockgate: {} ({}) denied: no policy decision ({e}); the plugin fails closed. \
                         Check the policy server with `dockgate health --server URI`",
                        facts.subject, facts.image
                    ))
                }
            }
        }
    }
}

/// The digest a create verdict waits under until the daemon names the container.
fn body_digest(req: &AuthzRequest) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(req.uri.as_bytes());
    h.update([0]);
    h.update(req.body.as_deref().unwrap_or("").as_bytes());
    h.finalize().into()
}

fn image_id(inspect: &Value) -> Option<String> {
    inspect
        .get("Image")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn body_denied(what: &str, e: &BodyError, facts: &mut Facts) -> AuthzResponse {
    facts.reason = "no-body";
    AuthzResponse::deny(format!("dockgate: {what} denied: {e}"))
}

fn unreadable(what: &str, e: &str, facts: &mut Facts) -> AuthzResponse {
    facts.reason = "unreadable";
    AuthzResponse::deny(format!(
        "dockgate: {what} denied: the request cannot be judged: {e}"
    ))
}

/// Violations worded with their fix; beyond this many, titles only (the CLI shows one line).
const DETAILED_VIOLATIONS: usize = 3;

/// `dockgate: container "web" (nginx:1.27) denied: DG-101 container is privileged: remove
/// privileged: true...; DG-201 ...` and a hint at `dockgate explain` / `dockgate normalize`.
pub fn deny_message(doc: &AdmissionRequest, d: &pb::Decision) -> String {
    let subject = doc.subject();
    let prefix = format!("{subject}: ");
    let detailed = d.violations.len() <= DETAILED_VIOLATIONS;
    let parts: Vec<String> = d
        .violations
        .iter()
        .map(|f| {
            let fix = f.message.strip_prefix(&prefix).unwrap_or(&f.message);
            let suffix = format!(" ({})", f.rule_id);
            let fix = fix.strip_suffix(&suffix).unwrap_or(fix);
            let title = serde_json::from_str::<Value>(&f.details_json)
                .ok()
                .and_then(|v| v.get("title").and_then(Value::as_str).map(str::to_string))
                .map(|t| short_title(&t));
            let text = match (title, detailed) {
                (Some(t), true) if fix.to_lowercase().starts_with(&t.to_lowercase()) => {
                    fix.to_string()
                }
                (Some(t), true) => format!("{t}: {fix}"),
                (Some(t), false) => t,
                (None, _) => fix.to_string(),
            };
            if f.rule_id.is_empty() {
                text
            } else {
                format!("{} {text}", f.rule_id)
            }
        })
        .collect();
    let what = match doc.operation {
        Operation::Exec => "exec denied",
        Operation::Start => "start denied",
        Operation::Update => "update denied",
        _ => "denied",
    };
    let first = d
        .violations
        .iter()
        .map(|f| f.rule_id.as_str())
        .find(|r| !r.is_empty());
    let hint = match first {
        Some(id) => format!(
            "`dockgate explain {id}` explains a rule, `dockgate normalize` shows what the policy sees"
        ),
        None => "`dockgate normalize` shows what the policy sees".to_string(),
    };
    let image = if subject.starts_with("image ") {
        String::new()
    } else {
        format!(" ({})", doc.container.image)
    };
    format!(
        "dockgate: {subject}{image} {what}: {}. {hint}",
        if parts.is_empty() {
            "the policy denied it without findings".to_string()
        } else {
            parts.join("; ")
        }
    )
}

/// A control's title without its parenthesised details or explanation after a colon:
/// "runs as root: no `user`, or ..." → "runs as root".
fn short_title(t: &str) -> String {
    let t = t.split(" (").next().unwrap_or(t);
    let t = t.split(": ").next().unwrap_or(t);
    t.replace('`', "").trim().to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::{ContainerSpec, ImageRef, Origin, Source};

    fn finding(id: &str, subject: &str, fix: &str, title: &str) -> pb::Finding {
        pb::Finding {
            rule_id: id.into(),
            message: format!("{subject}: {fix} ({id})"),
            details_json: serde_json::json!({ "title": title }).to_string(),
            ..Default::default()
        }
    }

    fn doc(op: Operation) -> AdmissionRequest {
        let spec = ContainerSpec {
            image: "busybox:1.36".into(),
            image_ref: ImageRef::parse("busybox:1.36").unwrap(),
            ..ContainerSpec::default()
        };
        let origin = Origin {
            container_name: Some("web".into()),
            ..Origin::default()
        };
        AdmissionRequest::new(op, Source::Engine, origin, spec)
    }

    #[test]
    fn the_deny_message_names_subject_image_rules_and_fixes() {
        let d = pb::Decision {
            violations: vec![
                finding(
                    "DG-101",
                    "container \"web\"",
                    "remove privileged: true",
                    "container is privileged",
                ),
                finding(
                    "DG-201",
                    "container \"web\"",
                    "do not mount it",
                    "container runtime socket mounted (`docker.sock`)",
                ),
            ],
            ..Default::default()
        };
        let m = deny_message(&doc(Operation::Create), &d);
        assert_eq!(
            m,
            "dockgate: container \"web\" (busybox:1.36) denied: DG-101 container is privileged: \
             remove privileged: true; DG-201 container runtime socket mounted: do not mount it. \
             `dockgate explain DG-101` explains a rule, `dockgate normalize` shows what the \
             policy sees"
        );
        // Repeating the title when the fix already says it is noise.
        let d2 = pb::Decision {
            violations: vec![finding(
                "DG-103",
                "container \"web\"",
                "shares the host PID namespace: remove pid: host",
                "shares the host PID namespace",
            )],
            ..Default::default()
        };
        assert!(
            deny_message(&doc(Operation::Create), &d2)
                .contains("denied: DG-103 shares the host PID namespace: remove pid: host."),
        );
        let m = deny_message(&doc(Operation::Exec), &d);
        assert!(
            m.starts_with("dockgate: container \"web\" (busybox:1.36) exec denied: DG-101"),
            "{m}"
        );
    }

    #[test]
    fn many_violations_are_listed_by_title() {
        let d = pb::Decision {
            violations: (1..=5)
                .map(|i| {
                    finding(
                        &format!("DG-10{i}"),
                        "container \"web\"",
                        "long fix text",
                        &format!("title {i}"),
                    )
                })
                .collect(),
            ..Default::default()
        };
        let m = deny_message(&doc(Operation::Start), &d);
        assert!(
            m.contains("start denied: DG-101 title 1; DG-102 title 2;"),
            "{m}"
        );
        assert!(!m.contains("long fix text"), "{m}");
    }
}

/// The gate's own decisions, with no policy server and no Docker daemon behind it: what is
/// allowed without a lookup, what is denied for want of a body, and the fail modes.
#[cfg(test)]
mod offline_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::client::ClientTls;

    fn gate(cfg: GateConfig) -> Gate {
        // Nothing listens on these sockets.
        let dir = std::env::temp_dir().join(format!("dg-gate-{}", uuid::Uuid::new_v4()));
        let srv = format!("unix://{}/none.sock", dir.display());
        let upstream =
            Upstream::new(&[srv], &ClientTls::default(), Duration::from_millis(300)).unwrap();
        let docker = DockerLink::new(
            &format!("{}/docker.sock", dir.display()),
            cfg.docker_timeout,
        );
        Gate::new(upstream, docker, cfg)
    }

    fn call(method: &str, uri: &str, body: Option<&str>) -> AuthzRequest {
        use base64::Engine as _;
        AuthzRequest {
            method: method.into(),
            uri: uri.into(),
            body: body.map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
            ..AuthzRequest::default()
        }
    }

    const CREATE: &str = r#"{"Image":"busybox:1.36","User":"1000:1000"}"#;

    #[tokio::test]
    async fn reads_and_repair_calls_are_allowed_without_any_lookup() {
        let g = gate(GateConfig::default());
        for (m, u) in [
            ("GET", "/v1.41/containers/json"),
            ("HEAD", "/_ping"),
            ("POST", "/v1.41/plugins/dockgate/disable"),
            ("GET", "/v1.41/containers/abc/json"),
        ] {
            let started = Instant::now();
            assert!(g.request(&call(m, u, None)).await.allow, "{m} {u}");
            assert!(started.elapsed() < Duration::from_millis(100));
        }
    }

    #[tokio::test]
    async fn calls_that_need_a_body_and_have_none_are_denied_saying_why() {
        let g = gate(GateConfig::default());
        for uri in [
            "/v1.41/containers/create",
            "/v1.41/containers/abc/update",
            "/v1.41/containers/abc/exec",
        ] {
            let r = g.request(&call("POST", uri, None)).await;
            assert!(!r.allow, "{uri}");
            assert!(
                r.msg.contains("has no body") && r.msg.contains("1 MiB"),
                "{uri}: {}",
                r.msg
            );
            let r = g.request(&call("POST", uri, Some("not json"))).await;
            assert!(!r.allow && r.msg.contains("not JSON"), "{uri}: {}", r.msg);
        }
        let r = g
            .request(&call(
                "POST",
                "/v1.23/containers/abc/start",
                Some(r#"{"Privileged":true}"#),
            ))
            .await;
        assert!(!r.allow && r.msg.contains("API < 1.24"), "{}", r.msg);
    }

    #[tokio::test]
    async fn swarm_services_follow_the_configuration() {
        let r = gate(GateConfig::default())
            .request(&call("POST", "/v1.41/services/create", Some("{}")))
            .await;
        assert!(!r.allow && r.msg.contains("Swarm"), "{}", r.msg);
        let g = gate(GateConfig {
            allow_swarm: true,
            ..GateConfig::default()
        });
        assert!(
            g.request(&call("POST", "/v1.41/services/x/update", Some("{}")))
                .await
                .allow
        );
    }

    #[tokio::test]
    async fn no_server_means_deny_within_the_deadline_unless_the_operation_fails_open() {
        let g = gate(GateConfig::default());
        let started = Instant::now();
        let r = g
            .request(&call(
                "POST",
                "/v1.41/containers/create?name=web",
                Some(CREATE),
            ))
            .await;
        assert!(!r.allow);
        assert!(r.msg.contains("fails closed"), "{}", r.msg);
        assert!(
            r.msg
                .starts_with("dockgate: container \"web\" (busybox:1.36) denied"),
            "{}",
            r.msg
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );

        let g = gate(GateConfig {
            fail_open: FailOpen {
                create: true,
                ..FailOpen::default()
            },
            ..GateConfig::default()
        });
        let r = g
            .request(&call("POST", "/v1.41/containers/create", Some(CREATE)))
            .await;
        assert!(r.allow, "{}", r.msg);
        // Exec still fails closed: the switch is per operation. (The container cannot be
        // inspected here, which denies it too: either way, no decision means no exec.)
        let r = g
            .request(&call(
                "POST",
                "/v1.41/containers/abc/exec",
                Some(r#"{"Cmd":["sh"]}"#),
            ))
            .await;
        assert!(!r.allow);
    }

    #[tokio::test]
    async fn responses_are_never_denied() {
        let g = gate(GateConfig::default());
        let mut c = call("POST", "/v1.41/containers/create", Some(CREATE));
        c.response_status = Some(201);
        assert!(g.response(&c).await.allow);
    }
}
