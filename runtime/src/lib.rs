//! The dockgate wasm runtime: a Rego evaluator behind OPA's WebAssembly ABI.
//!
//! OPA compiles Rego to a wasm module with a fixed ABI (exports such as `opa_eval`,
//! `opa_json_parse`, `entrypoints`; imports `env.memory`, `env.opa_abort` and the
//! `env.opa_builtinN` host builtins). Any host that speaks that ABI — the `opa-wasm` crate,
//! OPA's own SDKs — can evaluate such a module. This crate is the same ABI with a different
//! inside: instead of compiled Rego it embeds the regorus interpreter, and `dockgate build`
//! injects the policy sources into the built module (the payload, see [`payload`]).
//!
//! Layout:
//! - [`heap`]: the bump allocator whose top *is* OPA's heap pointer, and all raw memory access,
//!   a word-at-a-time `memcmp` included (the only `unsafe` besides the ABI signatures);
//! - [`payload`]: reads the policy sources and entrypoints that `dockgate build` injected;
//! - [`evaluator`]: prepares one regorus engine and evaluates entrypoints on clones of it;
//! - [`host`]: builtins regorus cannot provide inside wasm (clock, randomness...), forwarded
//!   to the host through `opa_builtinN`;
//! - [`memo`]: values of rules that depend only on the policy and its data, kept across
//!   evaluations in the heap's arena;
//! - [`regex_cache`]: the regex builtins policies call per evaluation, with patterns compiled
//!   once into the heap's arena;
//! - [`abi`]: the exported OPA ABI functions.
//!
//! Memory discipline (the reason for the bump allocator): the host saves the heap pointer
//! after loading data and resets it before every evaluation. Everything allocated during an
//! evaluation dies with that reset, so the prepared engine is built before the host first
//! reads the heap pointer, evaluations run on a clone, and every lazily-initialised global is
//! touched during preparation (a warm-up evaluation).

pub mod abi;
pub mod compiled;
pub mod evaluator;
pub mod heap;
pub mod host;
pub mod memo;
pub mod payload;
pub mod regex_cache;
