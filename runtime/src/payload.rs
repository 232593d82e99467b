//! The policy payload injected by `dockgate build`.
//!
//! The built module carries a 16-byte descriptor in its static data: two magic words, then
//! the address and length of the payload. `dockgate build` finds the descriptor by its magic,
//! appends the payload as a new data segment above `__heap_base` and patches address and
//! length in place. The payload is JSON:
//!
//! ```json
//! {"modules": [{"path": "policies/x.rego", "source": "package x ..."}],
//!  "entrypoints": ["x/deny", "x"], "evaluator": "vm"}
//! ```
//!
//! `evaluator` (optional): `"vm"` compiles rule entrypoints for regorus's VM (see `compiled`);
//! absent or `"interpreter"`, the interpreter evaluates everything.
//!
//! The descriptor is read with volatile loads so the optimiser cannot fold the zeroes of the
//! unpatched module into the code.

use serde::Deserialize;

/// "DGPL" "OAD1" in little-endian words; must match `src/build/inject.rs` on the host.
pub const MAGIC: [u32; 2] = [0x4c50_4744, 0x3144_414f];

#[used]
static DESCRIPTOR: [u32; 4] = [MAGIC[0], MAGIC[1], 0, 0];

/// Address and length of the payload (0, 0 when none was injected).
pub fn location() -> (u32, u32) {
    // SAFETY: reading two words of a live static; volatile only to defeat constant folding.
    unsafe {
        let base = core::ptr::addr_of!(DESCRIPTOR) as *const u32;
        (
            core::ptr::read_volatile(base.add(2)),
            core::ptr::read_volatile(base.add(3)),
        )
    }
}

#[derive(Deserialize)]
pub struct Payload {
    pub modules: Vec<Module>,
    pub entrypoints: Vec<String>,
    #[serde(default)]
    pub evaluator: Evaluator,
}

/// Which evaluator runs the rule entrypoints.
#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Evaluator {
    #[default]
    Interpreter,
    Vm,
}

#[derive(Deserialize)]
pub struct Module {
    pub path: String,
    pub source: String,
}

/// Parses the injected payload.
pub fn read() -> Result<Payload, String> {
    let (ptr, len) = location();
    if len == 0 {
        return Err("no policy payload: build the module with `dockgate build`".into());
    }
    let bytes = crate::heap::read_bytes(ptr, len);
    serde_json::from_slice(&bytes).map_err(|e| format!("corrupt policy payload: {e}"))
}
