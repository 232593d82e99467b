//! The exported functions of OPA's wasm ABI (version 1.2).
//!
//! Values are opaque handles: the address of a heap-allocated regorus `Value`. Evaluation
//! contexts are handles to an [`EvalCtx`]. See OPA's "WebAssembly" documentation for the
//! contract of each export; the names and signatures here follow it exactly.

use regorus::Value;

use crate::{evaluator, heap, host};

/// ABI 1.2 adds the one-call `opa_eval` fast path.
pub const ABI_VERSION: i32 = 1;
pub const ABI_MINOR_VERSION: i32 = 2;

/// State of one evaluation set up through the legacy (pre-1.2) calls.
#[derive(Default)]
pub struct EvalCtx {
    input: u32,
    data: u32,
    entrypoint: u32,
    result: u32,
}

fn parse(addr: u32, len: u32) -> u32 {
    evaluator::ensure_prepared();
    let mut bytes = heap::read_bytes(addr, len);
    // opa-wasm passes a length that includes the C string's NUL.
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    let Ok(text) = core::str::from_utf8(&bytes) else {
        return 0;
    };
    match Value::from_json_str(text) {
        Ok(v) => {
            let handle = heap::leak(v);
            evaluator::note_parsed(handle);
            handle
        }
        Err(_) => 0,
    }
}

fn dump(value: u32) -> u32 {
    evaluator::ensure_prepared();
    let json = match heap::borrow::<Value>(value) {
        Some(v) => v.to_json_str().unwrap_or_else(|_| "null".into()),
        None => "null".into(),
    };
    heap::leak_cstring(json.into_bytes())
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_malloc(size: u32) -> u32 {
    evaluator::ensure_prepared();
    let Ok(layout) = core::alloc::Layout::from_size_align(size as usize, 8) else {
        host::abort("opa_malloc: invalid size");
    };
    // SAFETY: a non-zero-size layout is required by `alloc`; we round zero up to one byte.
    let layout = if layout.size() == 0 {
        core::alloc::Layout::new::<u8>()
    } else {
        layout
    };
    // SAFETY: `layout` has a non-zero size.
    let ptr = unsafe { std::alloc::alloc(layout) };
    if ptr.is_null() {
        host::abort("opa_malloc: out of memory");
    }
    ptr as usize as u32
}

/// Memory is reclaimed by the host's heap rewind; a free is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn opa_free(_addr: u32) {}

#[unsafe(no_mangle)]
pub extern "C" fn opa_json_parse(addr: u32, len: u32) -> u32 {
    parse(addr, len)
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_value_parse(addr: u32, len: u32) -> u32 {
    parse(addr, len)
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_json_dump(value: u32) -> u32 {
    dump(value)
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_value_dump(value: u32) -> u32 {
    dump(value)
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_heap_ptr_get() -> u32 {
    evaluator::ensure_prepared();
    evaluator::bind_data();
    heap::top() as u32
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_heap_ptr_set(addr: u32) {
    evaluator::ensure_prepared();
    evaluator::heap_moved(addr as usize);
    heap::set_top(addr as usize);
}

#[unsafe(no_mangle)]
pub extern "C" fn builtins() -> u32 {
    evaluator::ensure_prepared();
    let mut obj = Value::new_object();
    if let Ok(map) = obj.as_object_mut() {
        for (id, (name, _)) in host::FORWARDED.iter().enumerate() {
            map.insert(Value::from(*name), Value::from(id as u64));
        }
    }
    host::builtins_listed();
    heap::leak(obj)
}

#[unsafe(no_mangle)]
pub extern "C" fn entrypoints() -> u32 {
    evaluator::ensure_prepared();
    heap::leak(evaluator::entrypoints_value())
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_new() -> u32 {
    evaluator::ensure_prepared();
    heap::leak(EvalCtx::default())
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_set_input(ctx: u32, value: u32) {
    if let Some(c) = heap::borrow_mut::<EvalCtx>(ctx) {
        c.input = value;
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_set_data(ctx: u32, value: u32) {
    if let Some(c) = heap::borrow_mut::<EvalCtx>(ctx) {
        c.data = value;
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_set_entrypoint(ctx: u32, entrypoint: u32) {
    if let Some(c) = heap::borrow_mut::<EvalCtx>(ctx) {
        c.entrypoint = entrypoint;
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_get_result(ctx: u32) -> u32 {
    heap::borrow::<EvalCtx>(ctx).map_or(0, |c| c.result)
}

/// Legacy evaluation: returns 0 on success; errors abort through the host.
#[unsafe(no_mangle)]
pub extern "C" fn eval(ctx: u32) -> u32 {
    evaluator::ensure_prepared();
    let Some(c) = heap::borrow_mut::<EvalCtx>(ctx) else {
        host::abort("eval: invalid context");
    };
    let input = heap::borrow::<Value>(c.input).cloned();
    match evaluator::evaluate(c.entrypoint, c.data, input) {
        Ok(result) => {
            c.result = heap::leak(result);
            0
        }
        Err(msg) => host::abort(&msg),
    }
}

/// ABI 1.2 one-call evaluation: the input JSON is at `input_addr` (written by the host at the
/// heap snapshot), `heap_addr` is where allocation may start. Returns the address of the
/// NUL-terminated JSON result set. Only format 0 (JSON) is defined.
#[unsafe(no_mangle)]
pub extern "C" fn opa_eval(
    _reserved: u32,
    entrypoint: u32,
    data: u32,
    input_addr: u32,
    input_len: u32,
    heap_addr: u32,
    _format: u32,
) -> u32 {
    evaluator::ensure_prepared();
    evaluator::heap_moved(heap_addr as usize);
    heap::set_top(heap_addr as usize);
    let bytes = heap::read_bytes(input_addr, input_len);
    let input = if bytes.is_empty() {
        None
    } else {
        let text = match core::str::from_utf8(&bytes) {
            Ok(t) => t,
            Err(_) => host::abort("opa_eval: input is not UTF-8"),
        };
        // Not `Value::from_json_str`: it interns object keys through a SipHash set made and
        // dropped for every parse — half the fixed cost of an evaluation, for an input whose
        // keys rarely repeat. Same values either way.
        match serde_json::from_str::<Value>(text) {
            Ok(v) => Some(v),
            Err(e) => host::abort(&format!("opa_eval: input is not valid JSON: {e}")),
        }
    };
    match evaluator::evaluate(entrypoint, data, input) {
        Ok(result) => {
            let json = match result.to_json_str() {
                Ok(j) => j,
                Err(e) => host::abort(&format!("opa_eval: result not serialisable: {e}")),
            };
            heap::leak_cstring(json.into_bytes())
        }
        Err(msg) => host::abort(&msg),
    }
}
