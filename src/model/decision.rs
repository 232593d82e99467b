//! `Decision`: what the engine concludes about one `AdmissionRequest`.

use serde::{Deserialize, Serialize};

/// How serious a finding is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Parses a severity name, case-insensitively (`moderate` = medium, `error` = high,
    /// `warning` = low).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "info" | "informational" | "note" => Some(Self::Info),
            "low" | "warning" => Some(Self::Low),
            "medium" | "moderate" => Some(Self::Medium),
            "high" | "error" => Some(Self::High),
            "critical" => Some(Self::Critical),
            _ => None,
        }
    }

    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// One finding of a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule id (`DG-101`), or `""` when the policy gave only a message.
    pub rule_id: String,
    /// The Rego package that produced it (`dockgate.privilege`).
    pub package: String,
    /// Severity.
    pub severity: Severity,
    /// The human message.
    pub message: String,
    /// The offending field of the input, as a dotted path (`container.privileged`), if known.
    pub field: Option<String>,
    /// Every other key of the finding object, as the policy wrote it.
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// The outcome of evaluating one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// True when there are no violations.
    pub allowed: bool,
    /// Findings that deny (`deny`/`violation` rules).
    pub violations: Vec<Finding>,
    /// Findings that warn (`warn` rules).
    pub warnings: Vec<Finding>,
    /// Findings recorded only (`audit` rules, or rules whose action is `audit`).
    pub audits: Vec<Finding>,
    /// Revision of the bundle that decided.
    pub bundle_revision: String,
}

impl Decision {
    /// Every rule id that denied, in order, without duplicates.
    pub fn violation_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for f in &self.violations {
            if !f.rule_id.is_empty() && !ids.contains(&f.rule_id.as_str()) {
                ids.push(&f.rule_id);
            }
        }
        ids
    }
}
