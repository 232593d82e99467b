//! The host side of OPA's ABI: imports, and builtins forwarded to the host.
//!
//! regorus inside wasm has no clock and no randomness, and some builtin families are left out
//! of the runtime to keep it small. OPA's ABI lets a module declare builtins it wants the host
//! to implement (`builtins()` maps each name to an id; the module calls `opa_builtinN(id, ctx,
//! args...)`). Each forwarded builtin is registered in regorus as an extension that makes that
//! call. Every name here is implemented by the `opa-wasm` crate and by OPA's SDKs.

use regorus::Value;

use crate::heap;

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn opa_abort(addr: u32);
    fn opa_println(addr: u32);
    fn opa_builtin0(id: u32, ctx: u32) -> u32;
    fn opa_builtin1(id: u32, ctx: u32, a: u32) -> u32;
    fn opa_builtin2(id: u32, ctx: u32, a: u32, b: u32) -> u32;
    fn opa_builtin3(id: u32, ctx: u32, a: u32, b: u32, c: u32) -> u32;
    fn opa_builtin4(id: u32, ctx: u32, a: u32, b: u32, c: u32, d: u32) -> u32;
}

/// Builtins implemented by the host: name and arity. The index is the builtin id.
pub const FORWARDED: &[(&str, u8)] = &[
    ("time.now_ns", 0),
    ("time.parse_rfc3339_ns", 1),
    ("time.parse_ns", 2),
    ("time.parse_duration_ns", 1),
    ("time.date", 1),
    ("time.clock", 1),
    ("time.weekday", 1),
    ("time.add_date", 4),
    ("time.diff", 2),
    ("uuid.rfc4122", 1),
    ("rand.intn", 2),
    ("yaml.marshal", 1),
    ("yaml.unmarshal", 1),
    ("yaml.is_valid", 1),
    ("crypto.md5", 1),
    ("crypto.sha1", 1),
    ("crypto.sha256", 1),
    ("crypto.hmac.md5", 2),
    ("crypto.hmac.sha1", 2),
    ("crypto.hmac.sha256", 2),
    ("crypto.hmac.sha512", 2),
];

/// Aborts the evaluation with `msg`: the host turns `opa_abort` into an error (a trap).
pub fn abort(msg: &str) -> ! {
    let addr = heap::leak_cstring(msg.as_bytes().to_vec());
    // SAFETY: `addr` is a NUL-terminated string in our memory, as `opa_abort` expects.
    unsafe { opa_abort(addr) };
    // The host never returns from `opa_abort`; if one does, trap.
    core::arch::wasm32::unreachable()
}

/// Prints through the host (Rego `print`).
pub fn println(msg: &str) {
    let addr = heap::leak_cstring(msg.as_bytes().to_vec());
    // SAFETY: as for `abort`.
    unsafe { opa_println(addr) }
}

/// Whether the host can serve builtins. OPA hosts resolve the `builtins()` map before they
/// wire up `opa_builtinN`, and this runtime prepares (and warms up) its engine during that very
/// call; a host builtin called then would fail in the host. So calls are refused until the
/// first ABI call after `builtins()` has returned.
struct Flag(core::cell::Cell<u8>);
// SAFETY: single-threaded (wasm32 without atomics).
unsafe impl Sync for Flag {}
static HOST_STATE: Flag = Flag(core::cell::Cell::new(0));
const LISTED: u8 = 1;
const READY: u8 = 2;

/// Called at the end of `builtins()`.
pub fn builtins_listed() {
    if HOST_STATE.0.get() < LISTED {
        HOST_STATE.0.set(LISTED);
    }
}

/// Called at the start of every ABI call: after `builtins()` returned, the host is ready.
pub fn on_abi_call() {
    if HOST_STATE.0.get() == LISTED {
        HOST_STATE.0.set(READY);
    }
}

/// Calls forwarded builtin `id` with `args` (already checked against its arity by regorus).
fn call(id: u32, args: &[Value]) -> anyhow::Result<Value> {
    if HOST_STATE.0.get() != READY {
        anyhow::bail!("host builtins are not available while the policy is being prepared");
    }
    let h: Vec<u32> = args.iter().map(|a| heap::leak(a.clone())).collect();
    // SAFETY: imports provided by the host; handles are live values in our memory.
    let result = unsafe {
        match h.as_slice() {
            [] => opa_builtin0(id, 0),
            [a] => opa_builtin1(id, 0, *a),
            [a, b] => opa_builtin2(id, 0, *a, *b),
            [a, b, c] => opa_builtin3(id, 0, *a, *b, *c),
            [a, b, c, d] => opa_builtin4(id, 0, *a, *b, *c, *d),
            _ => anyhow::bail!("builtin {id}: too many arguments"),
        }
    };
    heap::borrow::<Value>(result)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("host builtin {id} returned no value"))
}

/// Calls forwarded builtin `name`; `None` when it is not one of [`FORWARDED`] (or `args` does
/// not match its arity).
pub fn call_by_name(name: &str, args: &[Value]) -> Option<anyhow::Result<Value>> {
    let id = FORWARDED
        .iter()
        .position(|(n, arity)| *n == name && usize::from(*arity) == args.len())?;
    Some(call(id as u32, args))
}

/// Registers every forwarded builtin in `engine` as an extension.
pub fn register(engine: &mut regorus::Engine) -> Result<(), String> {
    for (id, (name, arity)) in FORWARDED.iter().enumerate() {
        let id = id as u32;
        engine
            .add_extension(
                (*name).to_string(),
                *arity,
                Box::new(move |args: Vec<Value>| call(id, &args)),
            )
            .map_err(|e| format!("registering host builtin {name}: {e}"))?;
    }
    Ok(())
}

/// Entropy for regorus's `rand.intn` (through `getrandom`'s custom backend).
///
/// OPA's ABI gives a module no entropy source, and the first use happens while the engine is
/// prepared (before host builtins exist), so this is a deterministic SplitMix64 stream: fine
/// for `rand.intn` in policies, which must not be used for secrets anyway.
///
/// # Safety
/// `dest` must be valid for writes of `len` bytes (getrandom's contract).
#[unsafe(no_mangle)]
unsafe extern "Rust" fn __getrandom_v03_custom(
    dest: *mut u8,
    len: usize,
) -> Result<(), getrandom::Error> {
    static STATE: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0x9E37_79B9);
    use core::sync::atomic::Ordering::Relaxed;
    for i in 0..len {
        let mut z = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        // SAFETY: `i < len` and the caller guarantees `dest` is valid for `len` bytes.
        unsafe { dest.add(i).write((z ^ (z >> 31)) as u8) };
    }
    Ok(())
}
