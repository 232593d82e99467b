//! An optional, bounded cache of decisions by input, one per loaded policy generation.
//!
//! Off unless `--decision-cache N` is given. A decision is a function of the policies, their
//! data, the input and (for time-dependent rules such as exemption expiry) the clock; the
//! cache belongs to one loaded generation (a reload starts an empty one), is keyed by the
//! SHA-256 of the input's canonical JSON (the typed request serialised, so field order and
//! formatting of the caller's JSON do not matter), and an entry lives at most `ttl`. Only
//! successful decisions are kept. Every call is still logged and counted as a decision, with
//! its own audit ID; hits and misses are counted separately (`dockgate_decision_cache_total`),
//! and a hit's evaluation time is the lookup's. Evaluation costs in BENCHMARKS.md are
//! measured with the cache off.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::model::{AdmissionRequest, Decision};

/// Size and lifetime of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionCacheConfig {
    /// Entries kept (0: no cache).
    pub entries: usize,
    /// Longest time an entry is served.
    pub ttl: Duration,
}

impl Default for DecisionCacheConfig {
    fn default() -> Self {
        Self {
            entries: 0,
            ttl: Duration::from_secs(10),
        }
    }
}

type Key = [u8; 32];

struct Inner {
    map: HashMap<Key, (Decision, Instant)>,
    /// Insertion order, for eviction (oldest first).
    order: VecDeque<Key>,
}

/// The cache of one loaded generation.
pub struct DecisionCache {
    config: DecisionCacheConfig,
    inner: Mutex<Inner>,
}

/// The cache key of a request.
pub fn key(req: &AdmissionRequest) -> Option<Key> {
    let bytes = serde_json::to_vec(req).ok()?;
    Some(Sha256::digest(&bytes).into())
}

impl DecisionCache {
    /// An empty cache (`config.entries == 0`: every lookup misses and nothing is kept).
    pub fn new(config: DecisionCacheConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    /// Whether the cache is on.
    pub fn enabled(&self) -> bool {
        self.config.entries > 0
    }

    /// The decision for `key`, if one younger than the TTL is kept.
    pub fn get(&self, key: &Key) -> Option<Decision> {
        let inner = self.inner.lock().ok()?;
        let (decision, at) = inner.map.get(key)?;
        (at.elapsed() < self.config.ttl).then(|| decision.clone())
    }

    /// Keeps `decision` for `key`, evicting the oldest entries beyond the bound.
    pub fn put(&self, key: Key, decision: &Decision) {
        if !self.enabled() {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner
            .map
            .insert(key, (decision.clone(), Instant::now()))
            .is_none()
        {
            inner.order.push_back(key);
        }
        while inner.map.len() > self.config.entries {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.map.remove(&oldest);
        }
    }

    /// Entries kept now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.map.len()).unwrap_or(0)
    }

    /// Whether nothing is kept.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(allowed: bool) -> Decision {
        Decision {
            allowed,
            violations: Vec::new(),
            warnings: Vec::new(),
            audits: Vec::new(),
            bundle_revision: "r".into(),
        }
    }

    #[test]
    fn bounded_oldest_first_and_expiring() {
        let c = DecisionCache::new(DecisionCacheConfig {
            entries: 2,
            ttl: Duration::from_millis(200),
        });
        c.put([1; 32], &decision(true));
        c.put([2; 32], &decision(false));
        c.put([2; 32], &decision(false));
        assert_eq!(c.len(), 2);
        c.put([3; 32], &decision(true));
        assert_eq!(c.len(), 2);
        assert!(c.get(&[1; 32]).is_none(), "the oldest entry is evicted");
        assert_eq!(c.get(&[2; 32]).map(|d| d.allowed), Some(false));
        std::thread::sleep(Duration::from_millis(250));
        assert!(
            c.get(&[3; 32]).is_none(),
            "an entry past its TTL is not served"
        );
    }

    #[test]
    fn off_keeps_nothing() {
        let c = DecisionCache::new(DecisionCacheConfig::default());
        c.put([1; 32], &decision(true));
        assert!(c.is_empty());
        assert!(c.get(&[1; 32]).is_none());
    }
}
