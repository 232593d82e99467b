//! The verdict cache: `docker run` is a create then a start, and the start of a container the
//! plugin has just allowed, unchanged, under the same policy revision, needs no second
//! evaluation.
//!
//! - When a create is allowed, its verdict waits under the create body's digest
//!   ([`VerdictCache::pending`]) until the daemon's response (`AuthZRes`) names the new
//!   container's id ([`VerdictCache::created`]).
//! - A start looks the container up by id ([`VerdictCache::get`]); the entry counts only for
//!   the revision it was made under, and only when it was judged with the image's own
//!   configuration (user, healthcheck) known. An allowed start is remembered the same way,
//!   so a restart is cheap too. The generation is the server's revision and load time: a
//!   reload with other data (a profile change) keeps the module's revision but not the time.
//! - An update of the container forgets it ([`VerdictCache::forget`]); a new revision makes
//!   every entry stale.
//!
//! Both maps are bounded; the oldest entries go first. Only allow verdicts are kept: a denied
//! create has no container, and a denied start is asked again.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// A remembered allow verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The policy generation it was made under (revision and load time).
    pub revision: String,
    /// The audit id of the decision.
    pub audit_id: String,
}

/// A map that forgets its oldest entries beyond `cap`.
#[derive(Debug)]
struct Bounded<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    cap: usize,
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    fn new(cap: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    fn insert(&mut self, k: K, v: V) {
        if self.map.insert(k.clone(), v).is_none() {
            self.order.push_back(k);
        }
        while self.map.len() > self.cap {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        // Keys removed out of order leave stale entries in `order`; drop them once they
        // dominate so the queue stays bounded too.
        if self.order.len() > 2 * self.cap {
            let map = &self.map;
            self.order.retain(|k| map.contains_key(k));
        }
    }

    fn remove(&mut self, k: &K) -> Option<V> {
        self.map.remove(k)
    }

    fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k)
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

/// Allowed creates waiting for their container id, and verdicts by container id.
#[derive(Debug)]
pub struct VerdictCache {
    pending: Bounded<[u8; 32], Verdict>,
    by_container: Bounded<String, Verdict>,
}

impl VerdictCache {
    /// A cache of at most `cap` containers (and as many pending creates).
    pub fn new(cap: usize) -> Self {
        Self {
            pending: Bounded::new(cap),
            by_container: Bounded::new(cap),
        }
    }

    /// An allowed create, keyed by the digest of its body.
    pub fn pending(&mut self, body_digest: [u8; 32], v: Verdict) {
        self.pending.insert(body_digest, v);
    }

    /// The daemon created container `id` from the body with this digest.
    pub fn created(&mut self, body_digest: &[u8; 32], id: &str) -> bool {
        match self.pending.remove(body_digest) {
            Some(v) => {
                self.by_container.insert(id.to_string(), v);
                true
            }
            None => false,
        }
    }

    /// Remembers an allowed start (or any allow) of container `id`.
    pub fn remember(&mut self, id: &str, v: Verdict) {
        self.by_container.insert(id.to_string(), v);
    }

    /// The verdict for container `id` under `revision`, if one is remembered.
    pub fn get(&self, id: &str, revision: &str) -> Option<Verdict> {
        self.by_container
            .get(&id.to_string())
            .filter(|v| v.revision == revision)
            .cloned()
    }

    /// Whether container `id` has a verdict (under any revision).
    pub fn contains(&self, id: &str) -> bool {
        self.by_container.get(&id.to_string()).is_some()
    }

    /// Forgets container `id` (it is being changed).
    pub fn forget(&mut self, id: &str) {
        self.by_container.remove(&id.to_string());
    }

    /// Containers remembered.
    pub fn len(&self) -> usize {
        self.by_container.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Image inspects by the name the request used, so that every create of the same image does
/// not send the daemon an image inspect (which the daemon authorizes through this plugin again).
///
/// An entry is fresh for `ttl`; any request that can change what an image name points to
/// (pull, import, load, tag, untag/delete, build, commit: see `route::changes_images`) clears
/// the whole cache when the plugin authorizes it and again when its response passes, so a
/// lookup never returns an image older than the last such change. Bounded: the oldest names
/// go first.
#[derive(Debug)]
pub struct ImageCache {
    entries: Bounded<String, (std::time::Instant, serde_json::Value)>,
    ttl: std::time::Duration,
}

impl ImageCache {
    /// A cache of at most `cap` images, each fresh for `ttl` (zero: nothing is kept).
    pub fn new(cap: usize, ttl: std::time::Duration) -> Self {
        Self {
            entries: Bounded::new(cap),
            ttl,
        }
    }

    /// The inspect of `name`, when fresh.
    pub fn get(&self, name: &str) -> Option<serde_json::Value> {
        let (at, v) = self.entries.get(&name.to_string())?;
        (at.elapsed() < self.ttl).then(|| v.clone())
    }

    /// Remembers the inspect of `name`.
    pub fn put(&mut self, name: &str, inspect: serde_json::Value) {
        if !self.ttl.is_zero() {
            self.entries
                .insert(name.to_string(), (std::time::Instant::now(), inspect));
        }
    }

    /// Forgets every image.
    pub fn clear(&mut self) {
        self.entries.map.clear();
        self.entries.order.clear();
    }

    /// Images kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn image_inspects_are_kept_for_their_ttl_and_cleared_at_once() {
        let mut c = ImageCache::new(2, Duration::from_secs(60));
        c.put("a:1", serde_json::json!({"Id": "a"}));
        c.put("b:1", serde_json::json!({"Id": "b"}));
        assert_eq!(c.get("a:1"), Some(serde_json::json!({"Id": "a"})));
        c.put("c:1", serde_json::json!({"Id": "c"}));
        assert_eq!(c.len(), 2, "bounded: the oldest name went");
        assert_eq!(c.get("a:1"), None);
        c.clear();
        assert!(c.is_empty());
        assert_eq!(c.get("c:1"), None);
        let mut stale = ImageCache::new(8, Duration::from_millis(1));
        stale.put("a:1", serde_json::json!({}));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(stale.get("a:1"), None, "past its ttl");
        let mut off = ImageCache::new(8, Duration::ZERO);
        off.put("a:1", serde_json::json!({}));
        assert!(off.is_empty(), "ttl 0 keeps nothing");
    }

    use super::*;

    fn v(rev: &str) -> Verdict {
        Verdict {
            revision: rev.into(),
            audit_id: "a".into(),
        }
    }

    #[test]
    fn a_create_verdict_reaches_its_container_and_counts_only_for_its_revision() {
        let mut c = VerdictCache::new(8);
        c.pending([1; 32], v("r1"));
        assert!(c.get("c1", "r1").is_none());
        assert!(!c.created(&[2; 32], "c1"), "unknown body");
        assert!(c.created(&[1; 32], "c1"));
        assert!(!c.created(&[1; 32], "c1"), "a pending verdict is used once");
        assert_eq!(c.get("c1", "r1"), Some(v("r1")));
        assert!(c.get("c1", "r2").is_none(), "a new revision re-evaluates");
        c.forget("c1");
        assert!(c.get("c1", "r1").is_none(), "an update re-evaluates");
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut c = VerdictCache::new(3);
        for i in 0..10 {
            c.remember(&format!("c{i}"), v("r"));
        }
        assert_eq!(c.len(), 3);
        assert!(c.get("c9", "r").is_some());
        assert!(c.get("c0", "r").is_none());
        // Removal out of order keeps the bookkeeping bounded.
        for i in 0..100 {
            let id = format!("d{i}");
            c.remember(&id, v("r"));
            c.forget(&id);
        }
        assert!(c.by_container.order.len() <= 6);
        for i in 0..10u8 {
            c.pending([i; 32], v("r"));
        }
        assert_eq!(c.pending.len(), 3);
    }
}
