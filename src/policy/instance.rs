//! One policy instance: a wasmtime `Store` with its limits and an opa-wasm `Policy`.
//!
//! A store is single-threaded, so each instance serves one evaluation at a time (the pool
//! hands them out). Limits: linear memory is capped by a `ResourceLimiter` that also records
//! the peak; time is capped by an epoch deadline callback that interrupts once the deadline
//! passes. An evaluation that runs longer than [`YIELD_AFTER`] yields to the async executor at
//! every tick, so it cannot hold a worker thread; a short one (the normal case, well under a
//! millisecond) is never suspended: a yield would put it behind every other ready task.

use std::time::{Duration, Instant};

use opa_wasm::{DefaultContext, Policy, Runtime};
use serde_json::Value;
use wasmtime::{Module, ResourceLimiter, Store, UpdateDeadline};

use super::EngineError;

/// Limits of one instance.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Maximum linear memory, bytes.
    pub memory_bytes: usize,
    /// Maximum time of one evaluation.
    pub eval_timeout: Duration,
    /// Maximum time to instantiate (prepare the policies and load data).
    pub init_timeout: Duration,
}

/// How long an evaluation runs before it starts yielding to the executor at every tick.
pub const YIELD_AFTER: Duration = Duration::from_millis(5);

struct State {
    memory_limit: usize,
    memory_peak: usize,
    memory_refused: bool,
    /// When the running call started (evaluation or instantiation).
    started: Instant,
    deadline: Option<Instant>,
    timed_out: bool,
}

impl ResourceLimiter for State {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.memory_refused = true;
            return Ok(false);
        }
        self.memory_peak = self.memory_peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A ready instance.
pub struct Instance {
    store: Store<State>,
    policy: Policy<DefaultContext>,
    limits: Limits,
}

impl Instance {
    /// Instantiates `module` and loads `data`.
    pub async fn new(module: &Module, data: &Value, limits: Limits) -> Result<Self, EngineError> {
        let mut store = Store::new(
            module.engine(),
            State {
                memory_limit: limits.memory_bytes,
                memory_peak: 0,
                memory_refused: false,
                started: Instant::now(),
                deadline: Some(Instant::now() + limits.init_timeout),
                timed_out: false,
            },
        );
        store.limiter(|s| s);
        store.epoch_deadline_callback(|mut ctx| {
            let s = ctx.data_mut();
            let now = Instant::now();
            match s.deadline {
                Some(d) if now >= d => {
                    s.timed_out = true;
                    Ok(UpdateDeadline::Interrupt)
                }
                _ if now.duration_since(s.started) < YIELD_AFTER => Ok(UpdateDeadline::Continue(1)),
                _ => Ok(UpdateDeadline::Yield(1)),
            }
        });
        store.set_epoch_deadline(1);
        let init = async {
            let runtime = Runtime::new(&mut store, module).await?;
            runtime.with_data(&mut store, data).await
        };
        let policy = match init.await {
            Ok(p) => p,
            Err(e) => {
                let s = store.data();
                let why = if s.timed_out {
                    format!("timed out after {:?}", limits.init_timeout)
                } else if s.memory_refused {
                    format!("exceeded the memory limit of {} bytes", limits.memory_bytes)
                } else {
                    format!("{e:#}")
                };
                return Err(EngineError::Instantiate(why));
            }
        };
        store.data_mut().deadline = None;
        Ok(Self {
            store,
            policy,
            limits,
        })
    }

    /// Entrypoints the module declares.
    pub fn entrypoints(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .policy
            .entrypoints()
            .into_iter()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }

    /// Peak linear memory of this instance, bytes.
    pub fn memory_peak(&self) -> usize {
        self.store.data().memory_peak
    }

    /// Evaluates `entrypoint` on `input` (already JSON-serialisable) and returns its value.
    /// An undefined result is [`EngineError::Undefined`].
    pub async fn evaluate<V: serde::Serialize + Sync>(
        &mut self,
        entrypoint: &str,
        input: &V,
    ) -> Result<Value, EngineError> {
        let limits = self.limits;
        {
            let s = self.store.data_mut();
            s.started = Instant::now();
            s.deadline = Some(s.started + limits.eval_timeout);
            s.timed_out = false;
            s.memory_refused = false;
        }
        self.store.set_epoch_deadline(1);
        let result: Result<Value, anyhow::Error> = self
            .policy
            .evaluate(&mut self.store, entrypoint, input)
            .await;
        self.store.data_mut().deadline = None;
        let set = match result {
            Ok(v) => v,
            Err(e) => {
                let s = self.store.data();
                return Err(if s.timed_out {
                    EngineError::Timeout {
                        entrypoint: entrypoint.to_string(),
                        limit: limits.eval_timeout,
                    }
                } else if s.memory_refused {
                    EngineError::MemoryLimit {
                        entrypoint: entrypoint.to_string(),
                        limit: limits.memory_bytes,
                    }
                } else {
                    EngineError::Evaluation {
                        entrypoint: entrypoint.to_string(),
                        message: format!("{e:#}"),
                    }
                });
            }
        };
        // OPA's result set: `[{"result": v}]`, or `[]` when undefined.
        match set {
            Value::Array(mut rows) if rows.len() == 1 => match rows.pop() {
                Some(Value::Object(mut row)) => {
                    row.remove("result").ok_or_else(|| EngineError::Undefined {
                        entrypoint: entrypoint.to_string(),
                    })
                }
                _ => Err(EngineError::Undefined {
                    entrypoint: entrypoint.to_string(),
                }),
            },
            Value::Array(rows) if rows.is_empty() => Err(EngineError::Undefined {
                entrypoint: entrypoint.to_string(),
            }),
            other => Err(EngineError::Evaluation {
                entrypoint: entrypoint.to_string(),
                message: format!("unexpected result set shape: {other}"),
            }),
        }
    }
}
