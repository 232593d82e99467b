//! A pool of ready instances of one compiled module.
//!
//! Instances are created up front (so the first requests do not pay for preparation), handed
//! out one per evaluation, and returned afterwards. An instance whose evaluation failed in the
//! wasm (a trap: timeout, memory limit, runtime error) or whose evaluation was cancelled is
//! discarded, never reused: its heap may be in any state. A replacement is created on demand.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use tokio::sync::Semaphore;
use wasmtime::Module;

use super::EngineError;
use super::instance::{Instance, Limits};

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Maximum concurrent evaluations.
    pub size: usize,
    /// Evaluations running now.
    pub in_use: usize,
    /// Instances created since load (initial ones included).
    pub created: usize,
    /// Instances discarded after a failure or cancellation.
    pub discarded: usize,
}

pub struct Pool {
    module: Module,
    data: Value,
    limits: Limits,
    idle: Mutex<Vec<Instance>>,
    permits: Semaphore,
    size: usize,
    in_use: AtomicUsize,
    created: AtomicUsize,
    discarded: AtomicUsize,
}

/// Returns the instance to the pool only when the evaluation completed normally.
struct Lease<'a> {
    pool: &'a Pool,
    instance: Option<Instance>,
    keep: bool,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.pool.in_use.fetch_sub(1, Ordering::Relaxed);
        if let Some(inst) = self.instance.take() {
            if self.keep {
                if let Ok(mut idle) = self.pool.idle.lock() {
                    idle.push(inst);
                }
            } else {
                self.pool.discarded.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Pool {
    /// Creates a pool of `size` instances; the first one is `first` (already created).
    pub async fn new(
        module: Module,
        data: Value,
        limits: Limits,
        size: usize,
        first: Instance,
    ) -> Result<Self, EngineError> {
        let size = size.max(1);
        let mut idle = vec![first];
        for _ in 1..size {
            idle.push(Instance::new(&module, &data, limits).await?);
        }
        Ok(Self {
            module,
            data,
            limits,
            idle: Mutex::new(idle),
            permits: Semaphore::new(size),
            size,
            in_use: AtomicUsize::new(0),
            created: AtomicUsize::new(size),
            discarded: AtomicUsize::new(0),
        })
    }

    /// Evaluates `entrypoint` on `input` with a pooled instance.
    pub async fn evaluate<V: serde::Serialize + Sync>(
        &self,
        entrypoint: &str,
        input: &V,
    ) -> Result<Value, EngineError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| EngineError::Closed)?;
        self.in_use.fetch_add(1, Ordering::Relaxed);
        let mut lease = Lease {
            pool: self,
            instance: None,
            keep: false,
        };
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let instance = match pooled {
            Some(i) => i,
            None => {
                self.created.fetch_add(1, Ordering::Relaxed);
                Instance::new(&self.module, &self.data, self.limits).await?
            }
        };
        let instance = lease.instance.insert(instance);
        let result = instance.evaluate(entrypoint, input).await;
        // Undefined and malformed results are policy outcomes; the instance is healthy.
        lease.keep = matches!(result, Ok(_) | Err(EngineError::Undefined { .. }));
        result
    }

    /// Current counters.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            size: self.size,
            in_use: self.in_use.load(Ordering::Relaxed),
            created: self.created.load(Ordering::Relaxed),
            discarded: self.discarded.load(Ordering::Relaxed),
        }
    }

    /// Creates and drops one instance; returns its linear memory size.
    pub async fn probe(&self) -> Result<usize, EngineError> {
        let i = Instance::new(&self.module, &self.data, self.limits).await?;
        Ok(i.memory_peak())
    }

    /// Peak linear memory among idle instances, bytes.
    pub fn memory_peak(&self) -> usize {
        self.idle
            .lock()
            .map(|idle| idle.iter().map(Instance::memory_peak).max().unwrap_or(0))
            .unwrap_or(0)
    }
}
