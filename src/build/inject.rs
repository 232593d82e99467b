//! Injects a policy payload into the committed runtime module.
//!
//! The runtime (`runtime/`, built for wasm32-unknown-unknown and committed as
//! `runtime/dist/dockgate-runtime.wasm`) carries a 16-byte descriptor in its static data: two
//! magic words, then the address and length of the payload (both zero). Injection:
//! 1. places the payload as a new active data segment at the first 16-aligned address at or
//!    above `__heap_base` (the runtime's allocator starts above the payload);
//! 2. patches the descriptor with that address and length;
//! 3. raises the imported memory's minimum so the segment fits;
//! 4. adds the `opa_wasm_abi_version`/`opa_wasm_abi_minor_version` exported globals, which
//!    OPA's ABI requires as globals (a Rust `static` would export an address).

use walrus::{ConstExpr, DataKind, ExportItem, GlobalKind, ValType, ir::Value};

/// The runtime module, as committed.
pub const RUNTIME_WASM: &[u8] = include_bytes!("../../runtime/dist/dockgate-runtime.wasm");

/// "DGPL" "OAD1": must match `runtime/src/payload.rs`.
const MAGIC: [u8; 8] = [0x44, 0x47, 0x50, 0x4c, 0x4f, 0x41, 0x44, 0x31];

/// OPA wasm ABI version implemented by the runtime (`runtime/src/abi.rs`).
const ABI_VERSION: i32 = 1;
const ABI_MINOR_VERSION: i32 = 2;

const PAGE: u64 = 65_536;

/// Headroom (pages) above the payload for the runtime's preparation before it grows memory.
const HEADROOM_PAGES: u64 = 16;

/// Why a module could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    /// The runtime module is not what this code expects (a build problem, not a user error).
    #[error("runtime module is unusable: {0}")]
    Runtime(String),
    /// The payload does not fit in a 32-bit address space.
    #[error("policy payload too large ({0} bytes)")]
    TooLarge(usize),
}

/// Returns `runtime` with `payload` injected, as wasm bytes.
pub fn inject(runtime: &[u8], payload: &[u8]) -> Result<Vec<u8>, InjectError> {
    let bad = |m: &str| InjectError::Runtime(m.to_string());
    let mut module =
        walrus::Module::from_buffer(runtime).map_err(|e| InjectError::Runtime(e.to_string()))?;

    let heap_base = module
        .exports
        .iter()
        .find(|e| e.name == "__heap_base")
        .and_then(|e| match e.item {
            ExportItem::Global(g) => Some(g),
            _ => None,
        })
        .and_then(|g| match &module.globals.get(g).kind {
            GlobalKind::Local(ConstExpr::Value(Value::I32(v))) => Some(*v as u32 as u64),
            _ => None,
        })
        .ok_or_else(|| bad("no constant __heap_base export"))?;

    let memory = module
        .memories
        .iter()
        .next()
        .map(|m| m.id())
        .ok_or_else(|| bad("no memory"))?;

    let addr = heap_base.div_ceil(16) * 16;
    let len = payload.len() as u64;
    let end = addr + len;
    if end > u64::from(u32::MAX) / 2 {
        return Err(InjectError::TooLarge(payload.len()));
    }

    // Patch the descriptor in place.
    let (segment, at) = module
        .data
        .iter()
        .filter(|d| matches!(d.kind, DataKind::Active { .. }))
        .find_map(|d| {
            let i = d.value.windows(8).position(|w| w == MAGIC)?;
            Some((d.id(), i))
        })
        .ok_or_else(|| bad("payload descriptor not found"))?;
    let slot = module
        .data
        .get_mut(segment)
        .value
        .get_mut(at + 8..at + 16)
        .ok_or_else(|| bad("descriptor truncated"))?;
    slot[..4].copy_from_slice(&(addr as u32).to_le_bytes());
    slot[4..].copy_from_slice(&(len as u32).to_le_bytes());

    module.data.add(
        DataKind::Active {
            memory,
            offset: ConstExpr::Value(Value::I32(addr as u32 as i32)),
        },
        payload.to_vec(),
    );
    let mem = module.memories.get_mut(memory);
    mem.initial = mem.initial.max(end.div_ceil(PAGE) + HEADROOM_PAGES);

    for (name, v) in [
        ("opa_wasm_abi_version", ABI_VERSION),
        ("opa_wasm_abi_minor_version", ABI_MINOR_VERSION),
    ] {
        if module.exports.iter().any(|e| e.name == name) {
            continue;
        }
        let g =
            module
                .globals
                .add_local(ValType::I32, false, false, ConstExpr::Value(Value::I32(v)));
        module.exports.add(name, g);
    }
    Ok(module.emit_wasm())
}
