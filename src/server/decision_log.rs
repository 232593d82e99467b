//! The decision log: one JSON line per decision (through `tracing`, target
//! `dockgate::decision`), and a broadcast of the same records for `WatchDecisions`.
//!
//! A record names the workload and the rules, never the container's environment or any other
//! value that may hold a secret.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use super::pb;
use crate::model::{AdmissionRequest, Decision};

/// The log.
pub struct DecisionLog {
    tx: broadcast::Sender<pb::DecisionRecord>,
    denied_only: bool,
}

impl DecisionLog {
    /// `denied_only`: log only denied (and failed) decisions; watchers still see all.
    pub fn new(denied_only: bool) -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self { tx, denied_only }
    }

    /// A new subscription for `WatchDecisions`.
    pub fn subscribe(&self) -> broadcast::Receiver<pb::DecisionRecord> {
        self.tx.subscribe()
    }

    /// Records one decision (or a failure to decide, which denies).
    pub fn record(
        &self,
        audit_id: &str,
        req: &AdmissionRequest,
        outcome: Result<&Decision, &str>,
        revision: &str,
        took: Duration,
    ) {
        let allowed = outcome.is_ok_and(|d| d.allowed);
        let log = !(self.denied_only && allowed)
            && tracing::enabled!(target: "dockgate::decision", tracing::Level::INFO);
        if !log && self.tx.receiver_count() == 0 {
            // Neither logged nor watched: the record is not built (the Evaluate path is hot).
            return;
        }
        let rule_ids = match outcome {
            Ok(d) => d.violation_ids().into_iter().map(str::to_string).collect(),
            Err(_) => Vec::new(),
        };
        let o = &req.origin;
        let record = pb::DecisionRecord {
            audit_id: audit_id.to_string(),
            operation: req.operation.as_str().to_string(),
            source: format!("{:?}", req.source).to_lowercase(),
            image: req.container.image.clone(),
            project: o.project.clone().unwrap_or_default(),
            service: o.service.clone().unwrap_or_default(),
            container: o
                .container_name
                .clone()
                .or_else(|| o.container_id.clone())
                .unwrap_or_default(),
            user: req
                .user
                .as_ref()
                .map(|u| u.name.clone())
                .unwrap_or_default(),
            allowed,
            rule_ids,
            duration_us: u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            time_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            bundle_revision: revision.to_string(),
        };
        if log {
            tracing::info!(
                target: "dockgate::decision",
                audit_id = %record.audit_id,
                operation = %record.operation,
                source = %record.source,
                image = %record.image,
                project = %record.project,
                service = %record.service,
                container = %record.container,
                user = %record.user,
                result = if allowed { "allow" } else { "deny" },
                rule_ids = %record.rule_ids.join(","),
                error = outcome.err().unwrap_or(""),
                duration_us = record.duration_us,
                bundle_revision = %record.bundle_revision,
                "decision"
            );
        }
        let _ = self.tx.send(record);
    }
}
