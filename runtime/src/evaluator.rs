//! One prepared regorus engine, and evaluation of entrypoints: compiled to bytecode for
//! regorus's VM when the VM compiler supports them (see `compiled`), else on clones of the
//! engine (the interpreter).
//!
//! Preparation (parsing the payload's modules, analysing them, a warm-up evaluation of every
//! entrypoint) happens on the first ABI call, before the host can snapshot the heap. The host
//! then parses its `data` document and snapshots the heap (`opa_heap_ptr_get`); at that moment
//! the last parsed value is merged into a second, data-bound engine ("binding"), so that
//! interpreted evaluations with that data handle — the normal case — skip regorus's
//! re-analysis. An evaluation with any other data handle still works, on a clone with the data
//! merged in. A compiled entrypoint takes whatever data the host passes, as it is.

use core::cell::UnsafeCell;
use regorus::{Engine, Value};

use crate::{compiled, heap, host, payload, regex_cache};

/// How an entrypoint is evaluated: a rule (`eval_rule`) or a package/document (`eval_query`).
enum Kind {
    Rule,
    Query,
}

struct Entrypoint {
    path: String,
    kind: Kind,
    /// The entrypoint compiled for the VM; `None`: the interpreter evaluates it.
    program: Option<compiled::Compiled>,
}

struct Prepared {
    engine: Engine,
    entrypoints: Vec<(String, Entrypoint)>,
    /// The engine with the host's data merged in, and the handle of that data.
    bound: Option<(u32, Engine)>,
    /// Heap top right after binding: a rewind below it invalidates the binding.
    bound_top: usize,
    /// End of the heap's arena (compiled regexes), 0 when there is none: a rewind below it
    /// invalidates the arena and what it holds.
    arena_end: usize,
    /// The most recent value parsed outside an evaluation (the data candidate).
    last_parsed: u32,
    /// Set while an evaluation runs (values parsed then are never data).
    evaluating: bool,
}

struct State(UnsafeCell<Option<Result<Prepared, String>>>);

// SAFETY: the runtime is single-threaded (wasm32 without atomics).
unsafe impl Sync for State {}

static STATE: State = State(UnsafeCell::new(None));

fn state() -> &'static mut Option<Result<Prepared, String>> {
    // SAFETY: single-threaded, and no reference obtained here outlives one ABI call; ABI
    // calls do not nest except for host builtins, which do not touch the state.
    unsafe { &mut *STATE.0.get() }
}

/// Prepares the engine if needed; aborts the caller (via `opa_abort`) if the policies do not
/// compile, so a broken module fails at instantiation, not at its first evaluation.
fn prepared() -> &'static mut Prepared {
    let slot = state();
    if slot.is_none() {
        *slot = Some(prepare());
    }
    match slot {
        Some(Ok(p)) => p,
        Some(Err(msg)) => host::abort(msg),
        None => host::abort("runtime state missing"),
    }
}

/// Called at the start of every ABI export.
pub fn ensure_prepared() {
    host::on_abi_call();
    let _ = prepared();
}

fn rule_path(entrypoint: &str) -> String {
    let mut path = String::from("data");
    for seg in entrypoint.split('/').filter(|s| !s.is_empty()) {
        path.push('.');
        path.push_str(seg);
    }
    path
}

fn prepare() -> Result<Prepared, String> {
    std::panic::set_hook(Box::new(|info| host::abort(&info.to_string())));
    // Initialise the thread-local RNG now: its first use allocates, and must not happen
    // inside an evaluation (see the crate docs).
    let _ = rand::rng();
    touch_lazy_globals();
    let payload = payload::read()?;
    let mut engine = Engine::new();
    engine.set_gather_prints(true);
    host::register(&mut engine)?;
    regex_cache::register(&mut engine)?;
    for m in payload.modules {
        engine
            .add_policy(m.path, m.source)
            .map_err(|e| e.to_string())?;
    }
    let packages = engine.get_packages().map_err(|e| e.to_string())?;
    let mut entrypoints = Vec::new();
    for name in payload.entrypoints.clone() {
        let path = rule_path(&name);
        let is_package = packages
            .iter()
            .any(|p| p == &path || p.starts_with(&format!("{path}.")));
        let (kind, program) = if is_package || path == "data" {
            (Kind::Query, None)
        } else if payload.evaluator == payload::Evaluator::Vm {
            (Kind::Rule, compiled::compile(&mut engine, &path))
        } else {
            (Kind::Rule, None)
        };
        entrypoints.push((
            name,
            Entrypoint {
                path,
                kind,
                program,
            },
        ));
    }
    let mut p = Prepared {
        engine,
        entrypoints,
        bound: None,
        bound_top: 0,
        arena_end: 0,
        last_parsed: 0,
        evaluating: false,
    };
    warm_up(&mut p.engine, &mut p.entrypoints);
    Ok(p)
}

/// Forces regorus's lazily-initialised globals into existence now, while allocations are
/// permanent. Each of these, first touched inside an evaluation, would live in memory that the
/// host's next heap rewind hands back (the builtins table is the one every policy reaches).
fn touch_lazy_globals() {
    let _ = regorus::unstable::BUILTINS.len();
}

/// Runs regorus's analysis on `engine` itself (not a clone) while allocations are still
/// permanent, so clones start prepared. A trivial query is enough: analysis covers every
/// module whatever the query, and this bump heap never frees, so evaluating real entrypoints
/// here would cost memory for nothing.
fn warm_up(engine: &mut Engine, entrypoints: &mut [(String, Entrypoint)]) {
    // The VM's lazily-initialised state, likewise (outcomes do not matter: host builtins are
    // refused now, and there is no data yet).
    for (_, ep) in entrypoints.iter_mut() {
        if let Some(program) = &mut ep.program {
            let _ = compiled::evaluate(program, None, None, Value::new_object());
        }
    }
    engine.set_input(Value::new_object());
    let _ = engine.eval_query("true".to_string(), false);
    let _ = engine.take_prints();
    let _ = Value::from_json_str(r#"{"warm":[1,"a",true,null,{"b":2.5}]}"#)
        .and_then(|v| v.to_json_str());
}

fn eval_on(engine: &mut Engine, ep: &Entrypoint) -> anyhow::Result<Value> {
    match ep.kind {
        Kind::Rule => engine.eval_rule(ep.path.clone()),
        Kind::Query => {
            let results = engine.eval_query(ep.path.clone(), false)?;
            Ok(results
                .result
                .into_iter()
                .next()
                .and_then(|r| r.expressions.into_iter().next())
                .map(|e| e.value)
                .unwrap_or(Value::Undefined))
        }
    }
}

/// The `entrypoints()` document: name → id.
pub fn entrypoints_value() -> Value {
    let p = prepared();
    let mut obj = Value::new_object();
    if let Ok(map) = obj.as_object_mut() {
        for (id, (name, _)) in p.entrypoints.iter().enumerate() {
            map.insert(Value::from(name.as_str()), Value::from(id as u64));
        }
    }
    obj
}

/// Records a value parsed by the host outside an evaluation (a data candidate).
pub fn note_parsed(handle: u32) {
    let p = prepared();
    if !p.evaluating {
        p.last_parsed = handle;
    }
}

/// Called when the host reads the heap pointer (to snapshot it): bind the last parsed object
/// as data, and reserve the arena for compiled regexes, both below the snapshot.
pub fn bind_data() {
    let p = prepared();
    if p.evaluating {
        return;
    }
    bind(p);
    if p.arena_end == 0 && heap::reserve_arena(regex_cache::ARENA_BYTES) {
        p.arena_end = heap::top();
    }
}

fn bind(p: &mut Prepared) {
    if p.bound.is_some() || p.last_parsed == 0 {
        return;
    }
    let handle = p.last_parsed;
    let Some(data) = heap::borrow::<Value>(handle) else {
        return;
    };
    if data.as_object().is_err() {
        return;
    }
    let mut engine = p.engine.clone();
    if engine.add_data(data.clone()).is_err() {
        return;
    }
    warm_up(&mut engine, &mut p.entrypoints);
    p.bound = Some((handle, engine));
    p.bound_top = heap::top();
}

/// Called when the host moves the heap pointer: a rewind below the binding or the arena
/// drops it.
pub fn heap_moved(addr: usize) {
    let p = prepared();
    if p.arena_end != 0 && addr < p.arena_end {
        regex_cache::forget();
        forget_memos(p, true);
        heap::drop_arena();
        p.arena_end = 0;
    }
    if p.bound.is_some() && addr < p.bound_top {
        // The bound engine's memory is being handed back to the host: forget it without
        // running destructors over memory that may already be reused.
        if let Some(b) = p.bound.take() {
            core::mem::forget(b);
        }
        p.last_parsed = 0;
        // Kept rule values belong to that data (and may share its nodes); new data may be
        // parsed at the same address, so its handle says nothing.
        forget_memos(p, false);
    }
}

/// Forgets the kept pure-rule values of every compiled entrypoint (see `memo`).
fn forget_memos(p: &mut Prepared, arena_gone: bool) {
    for (_, ep) in p.entrypoints.iter_mut() {
        if let Some(program) = &mut ep.program {
            program.forget_memo(arena_gone);
        }
    }
}

fn run(p: &mut Prepared, idx: usize, data: u32, input: Option<Value>) -> Result<Value, String> {
    // Pure rule values are kept only for the bound data (parsed before the host's snapshot,
    // so permanent), and only in an arena.
    let keep = match &p.bound {
        Some((handle, _)) if *handle == data && p.arena_end != 0 => Some(compiled::Keep {
            data,
            permanent_below: p.arena_end,
        }),
        _ => None,
    };
    let ep = &mut p.entrypoints[idx].1;
    if let Some(program) = &mut ep.program {
        let data = heap::borrow::<Value>(data).filter(|d| d.as_object().is_ok());
        return compiled::evaluate(program, data, keep, input.unwrap_or(Value::Undefined));
    }
    let ep = &p.entrypoints[idx].1;
    let mut engine = match &p.bound {
        Some((handle, engine)) if *handle == data => engine.clone(),
        _ => {
            let mut engine = p.engine.clone();
            if let Some(d) = heap::borrow::<Value>(data)
                && d.as_object().is_ok()
            {
                engine.add_data(d.clone()).map_err(|e| e.to_string())?;
            }
            engine
        }
    };
    engine.set_input(input.unwrap_or(Value::Undefined));
    let outcome = eval_on(&mut engine, ep);
    if let Ok(prints) = engine.take_prints() {
        for line in prints {
            host::println(&line);
        }
    }
    outcome.map_err(|e| e.to_string())
}

/// Evaluates entrypoint `id` and returns OPA's result set: `[{"result": v}]`, or `[]` when
/// the entrypoint is undefined for this input.
pub fn evaluate(id: u32, data: u32, input: Option<Value>) -> Result<Value, String> {
    let p = prepared();
    let idx = id as usize;
    if idx >= p.entrypoints.len() {
        return Err(format!("unknown entrypoint id {id}"));
    }
    p.evaluating = true;
    let outcome = run(p, idx, data, input);
    p.evaluating = false;
    let value = outcome?;
    let mut set = Value::new_array();
    if value != Value::Undefined {
        let mut obj = Value::new_object();
        if let Ok(map) = obj.as_object_mut() {
            map.insert(Value::from("result"), value);
        }
        if let Ok(arr) = set.as_array_mut() {
            arr.push(obj);
        }
    }
    Ok(set)
}
