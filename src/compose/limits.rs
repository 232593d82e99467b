//! The runtime-behaviour fields of a service: resource limits, logging, healthcheck and
//! restart policy.
//!
//! Limits come from the legacy keys (`mem_limit`, `cpus`, `cpu_quota`/`cpu_period`,
//! `pids_limit`, `cpu_shares`) or from `deploy.resources.limits` (which docker-compose 1.29
//! applies too); sizes are parsed as Compose parses them and durations become nanoseconds.

use serde_json::Value;

use super::ComposeError;
use super::mounts::truthy;
use super::service::{Svc, mapping, scalar};
use super::units::{parse_bytes, parse_duration_ns};
use crate::model::{Healthcheck, Logging, Resources, RestartPolicy};

pub(super) fn resources(s: &Svc<'_>) -> Result<Resources, ComposeError> {
    let limits = s
        .json
        .pointer("/deploy/resources/limits")
        .cloned()
        .unwrap_or(Value::Null);
    let bytes = |v: &Value, path: &[&str]| match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| s.err(path, format!("{n} is not a whole number of bytes"))),
        other => parse_bytes(&scalar(other)).ok_or_else(|| {
            s.err(
                path,
                format!("{other} is not a size (a number, then b, k, m or g, e.g. 512m)"),
            )
        }),
    };
    let cpus = |v: &Value, path: &[&str]| {
        let f = match v {
            Value::Number(n) => n.as_f64(),
            other => scalar(other).trim().parse::<f64>().ok(),
        };
        match f {
            Some(f) if (0.0..1e9).contains(&f) => Ok((f * 1e9) as i64),
            _ => Err(s.err(path, format!("{v} is not a number of CPUs (e.g. 0.5)"))),
        }
    };
    let int = |v: &Value, path: &[&str]| match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| s.err(path, format!("{n} is not an integer"))),
        other => scalar(other)
            .trim()
            .parse::<i64>()
            .map_err(|_| s.err(path, format!("{other} is not an integer"))),
    };
    let memory_bytes = match (s.get("mem_limit"), limits.get("memory")) {
        (Some(v), _) => Some(bytes(v, &["mem_limit"])?),
        (None, Some(v)) => Some(bytes(v, &["deploy", "resources", "limits", "memory"])?),
        _ => None,
    };
    let nano_cpus = match (s.get("cpus"), limits.get("cpus"), s.get("cpu_quota")) {
        (Some(v), _, _) => Some(cpus(v, &["cpus"])?),
        (None, Some(v), _) => Some(cpus(v, &["deploy", "resources", "limits", "cpus"])?),
        (None, None, Some(q)) => {
            let quota = int(q, &["cpu_quota"])?;
            let period = match s.get("cpu_period") {
                Some(p) => int(p, &["cpu_period"])?,
                None => 100_000,
            };
            (quota > 0 && period > 0).then(|| quota.saturating_mul(1_000_000_000) / period)
        }
        _ => None,
    };
    let pids_limit = match (s.get("pids_limit"), limits.get("pids")) {
        (Some(v), _) => Some(int(v, &["pids_limit"])?),
        (None, Some(v)) => Some(int(v, &["deploy", "resources", "limits", "pids"])?),
        _ => None,
    };
    let cpu_shares = s
        .get("cpu_shares")
        .map(|v| int(v, &["cpu_shares"]))
        .transpose()?;
    Ok(Resources {
        memory_bytes,
        nano_cpus,
        pids_limit,
        cpu_shares,
    })
}

pub(super) fn logging(s: &Svc<'_>) -> Logging {
    let (driver, options) = match s.get("logging") {
        Some(l) => (
            l.get("driver").map(scalar).unwrap_or_default(),
            l.get("options"),
        ),
        None => (s.string("log_driver"), s.get("log_opt")),
    };
    Logging {
        driver,
        options: mapping(options, '=')
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect(),
    }
}

pub(super) fn healthcheck(s: &Svc<'_>) -> Result<Option<Healthcheck>, ComposeError> {
    let Some(h) = s.get("healthcheck") else {
        return Ok(None);
    };
    let disabled = truthy(h.get("disable")).map_err(|e| s.err(&["healthcheck", "disable"], e))?;
    let test = match h.get("test") {
        _ if disabled => vec!["NONE".to_string()],
        Some(Value::String(t)) => vec!["CMD-SHELL".to_string(), t.clone()],
        Some(Value::Array(a)) => a.iter().map(scalar).collect(),
        _ => Vec::new(),
    };
    let dur = |k: &str| -> Result<Option<i64>, ComposeError> {
        match h.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => parse_duration_ns(&scalar(v)).map(Some).ok_or_else(|| {
                s.err(
                    &["healthcheck", k],
                    format!("{v} is not a duration (e.g. 1m30s)"),
                )
            }),
        }
    };
    let retries = match h.get("retries") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            scalar(v)
                .parse::<i64>()
                .map_err(|_| s.err(&["healthcheck", "retries"], "not an integer"))?,
        ),
    };
    Ok(Some(Healthcheck {
        disabled: disabled || test.first().is_some_and(|t| t == "NONE"),
        test,
        interval_ns: dur("interval")?,
        timeout_ns: dur("timeout")?,
        retries,
        start_period_ns: dur("start_period")?,
    }))
}

pub(super) fn restart(s: &Svc<'_>) -> Result<RestartPolicy, ComposeError> {
    let raw = s.string("restart");
    let (name, retries) = raw.split_once(':').unwrap_or((raw.as_str(), ""));
    let name = match name {
        "" | "no" => "no",
        "always" | "unless-stopped" | "on-failure" => name,
        other => {
            return Err(s.err(
                &["restart"],
                format!("{other:?} is not no, always, unless-stopped or on-failure[:N]"),
            ));
        }
    };
    let max_retries = if retries.is_empty() {
        0
    } else {
        retries.parse().map_err(|_| {
            s.err(
                &["restart"],
                format!("{retries:?} is not a number of retries"),
            )
        })?
    };
    Ok(RestartPolicy {
        name: name.to_string(),
        max_retries,
    })
}
