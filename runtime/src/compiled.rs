//! Entrypoints compiled to bytecode for regorus's virtual machine (RVM), and their evaluation.
//!
//! regorus offers two evaluators of the same language: the tree-walking interpreter (every
//! evaluation re-resolves rules, references and functions) and a compiler to register-machine
//! bytecode run by `RegoVM`. On the built-in library the VM is about five times faster.
//!
//! The VM is used only when the payload asks for it (`dockgate build --evaluator vm`; the
//! built-in library does): regorus 0.14.1's VM departs from Rego's semantics in places that
//! decide verdicts, so a bundle must be proven on it before it runs there. Known departures
//! (`tests/policy_engine.rs` pins them, so that an upgrade that fixes them is noticed):
//! - an assignment of an undefined value (`x := input.missing`) does not fail its body;
//! - a body that iterates (`some x in xs`, `xs[_]`) and finds nothing does not fall through
//!   to its `else`.
//!
//! The built-in library avoids both, and `tests/library_equivalence.rs` proves its decisions
//! equal the interpreter's over some 13,000 inputs. With the VM asked for, an entrypoint that
//! its compiler does not support (the `with` keyword, `walk` loops, some partial-object forms,
//! `print`, a package as entrypoint...) stays with the interpreter.
//!
//! Builtins. The VM calls builtins through function pointers kept in the program, and, left
//! alone, treats a builtin's error as an undefined value (OPA's default). The interpreter runs
//! in regorus's strict mode, where such an error fails the evaluation, and a security decision
//! must fail closed; so every builtin pointer of a program is replaced by a wrapper that calls
//! the original, records the first error, and the evaluation returns that error. The regex
//! builtins are this runtime's own (patterns compiled once, see `regex_cache`). The builtins
//! forwarded to the host (clock and others, see `host`) are not in regorus's table here: they
//! compile to host-await instructions, which are rewritten into calls of a builtin that
//! forwards them (so the VM runs to completion, its fast mode, and never suspends).
//!
//! Pure rules. Rules that depend only on the policy and its data (see `memo`) are evaluated
//! once per instance and data document, not once per evaluation: the VM reports the pure rules
//! an evaluation computed, `memo` keeps their values, and later evaluations with the same data
//! take them instead of evaluating the rules. Impure builtins — those forwarded to the host
//! (the clock, randomness) and regorus's nondeterministic ones — make a rule impure, as does
//! reading `input`. An evaluation that fails (a builtin error included) keeps nothing.
//!
//! Memory: the program is built during preparation (permanent memory); each evaluation makes
//! its own VM, allocated and freed within the evaluation; kept rule values live in the arena.

use core::cell::UnsafeCell;
use std::sync::Arc;

use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::Instruction;
use regorus::rvm::instructions::BuiltinCallParams;
use regorus::rvm::program::{BuiltinInfo, Program};
use regorus::rvm::vm::RegoVM;
use regorus::unstable::{Expr, Ref, Span};
use regorus::{Engine, Rc, Value};

use crate::memo::Memo;
use crate::{host, regex_cache};

/// An entrypoint compiled for the VM, and the values of its pure rules kept so far.
pub struct Compiled {
    program: Arc<Program>,
    /// By builtin index: the builtin's result is not a function of its arguments alone.
    impure_builtins: Arc<Vec<bool>>,
    memo: Memo,
}

/// Where an evaluation may keep pure rule values: the data handle (data parsed before the
/// host's heap snapshot, so permanent and never changed) and the snapshot's address (nodes
/// below it are permanent).
#[derive(Clone, Copy)]
pub struct Keep {
    pub data: u32,
    pub permanent_below: usize,
}

impl Compiled {
    /// Forgets the kept values without running destructors (see [`Memo::forget`]).
    pub fn forget_memo(&mut self, arena_gone: bool) {
        self.memo.forget(arena_gone);
    }
}

/// A builtin as regorus's VM calls it: span, argument expressions, argument values, strict.
pub type Builtin = fn(&Span, &[Ref<Expr>], &[Value], bool) -> anyhow::Result<Value>;

/// The name under which host-await calls are rewritten into builtin calls (arguments: the
/// array of the call's arguments, the forwarded builtin's name).
const HOST_CALL: &str = "dockgate.host_call";

/// Compiles entrypoint `path` (`data.pkg.rule`) of `engine`; `None` when the VM cannot run it
/// (the interpreter then evaluates it).
pub fn compile(engine: &mut Engine, path: &str) -> Option<Compiled> {
    let rule: Rc<str> = Rc::from(path);
    let policy = engine.compile_with_entrypoint(&rule).ok()?;
    let awaited: Vec<(&str, usize)> = host::FORWARDED
        .iter()
        .map(|(name, arity)| (*name, usize::from(*arity)))
        .collect();
    let mut program =
        Compiler::compile_from_policy_with_host_await(&policy, &[path], &awaited).ok()?;
    let p = Arc::get_mut(&mut program)?;
    // Every builtin the program calls must resolve in regorus's table (`print` does not: the
    // interpreter gathers prints and forwards them to the host).
    if p.resolved_builtins.len() != p.builtin_info_table.len()
        || !p
            .builtin_info_table
            .iter()
            .all(|b| regorus::unstable::BUILTINS.contains_key(b.name.as_str()))
    {
        return None;
    }
    rewrite_host_awaits(p)?;
    for (info, resolved) in p
        .builtin_info_table
        .iter()
        .zip(p.resolved_builtins.iter_mut())
    {
        let original = if info.name == HOST_CALL {
            host_call as Builtin
        } else {
            regex_cache::vm_builtin(&info.name).unwrap_or(resolved.0)
        };
        resolved.0 = strict::wrap(&info.name, original)?;
    }
    let impure_builtins = p
        .builtin_info_table
        .iter()
        .map(|b| impure_builtin(&b.name))
        .collect();
    Some(Compiled {
        program,
        impure_builtins: Arc::new(impure_builtins),
        memo: Memo::default(),
    })
}

/// Builtins whose result is not a function of their arguments: everything forwarded to the
/// host (the clock and randomness among them), and regorus's own that read the clock, random
/// numbers, the network or the environment, or print.
fn impure_builtin(name: &str) -> bool {
    name == HOST_CALL
        || host::FORWARDED.iter().any(|(n, _)| *n == name)
        || [
            "time.",
            "rand.",
            "uuid.",
            "http.",
            "net.lookup",
            "opa.runtime",
            "trace",
            "print",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
        || name == "io.jwt.decode_verify"
}

/// Rewrites every `HostAwait { dest, arg, id }` into a call of [`HOST_CALL`] with `arg` (the
/// array of arguments) and `id` (the builtin's name), storing into `dest`.
fn rewrite_host_awaits(p: &mut Program) -> Option<()> {
    let mut index = None;
    for i in 0..p.instructions.len() {
        let Instruction::HostAwait { dest, arg, id } = p.instructions[i] else {
            continue;
        };
        let builtin_index = match index {
            Some(b) => b,
            None => {
                let b = u16::try_from(p.builtin_info_table.len()).ok()?;
                p.builtin_info_table.push(BuiltinInfo {
                    name: HOST_CALL.to_string(),
                    num_args: 2,
                });
                p.resolved_builtins.push((host_call, 2));
                index = Some(b);
                b
            }
        };
        let mut args = [0u8; 8];
        args[0] = arg;
        args[1] = id;
        let params_index = p
            .instruction_data
            .add_builtin_call_params(BuiltinCallParams {
                dest,
                builtin_index,
                num_args: 2,
                args,
            });
        p.instructions[i] = Instruction::BuiltinCall { params_index };
    }
    Some(())
}

/// [`HOST_CALL`]: forwards builtin `args[1]` with arguments `args[0]` to the host.
fn host_call(_: &Span, _: &[Ref<Expr>], args: &[Value], _: bool) -> anyhow::Result<Value> {
    let [call_args, name] = args else {
        anyhow::bail!("{HOST_CALL}: expects 2 arguments");
    };
    let name = name
        .as_string()
        .map_err(|_| anyhow::anyhow!("{HOST_CALL}: no builtin name"))?;
    let call_args = call_args
        .as_array()
        .map_err(|_| anyhow::anyhow!("{name}: arguments are not an array"))?
        .to_vec();
    host::call_by_name(name, &call_args)
        .unwrap_or_else(|| Err(anyhow::anyhow!("unknown builtin {name}")))
}

/// Evaluates `compiled` (one entrypoint, index 0) with `data` and `input`; with `keep`, takes
/// and keeps the values of pure rules (see the module docs).
pub fn evaluate(
    compiled: &mut Compiled,
    data: Option<&Value>,
    keep: Option<Keep>,
    input: Value,
) -> Result<Value, String> {
    strict::reset();
    let mut vm = RegoVM::new();
    vm.load_program(compiled.program.clone());
    // The host bounds evaluation time (its deadline interrupts the module); the VM's own
    // default budget (25,000 instructions) is too small for large inputs.
    vm.set_max_instructions(usize::MAX);
    if let Some(data) = data {
        vm.set_data(data.clone()).map_err(|e| e.to_string())?;
    }
    let keep = keep.filter(|_| data.is_some());
    if let Some(k) = keep
        && let Some(known) = compiled
            .memo
            .for_data(k.data, compiled.program.rule_infos.len())
    {
        vm.set_pure_rules(known, compiled.impure_builtins.clone());
    }
    vm.set_input(input);
    let outcome = vm
        .execute_entry_point_by_index(0)
        .map_err(|e| e.to_string());
    if let Some(error) = strict::take() {
        return Err(error);
    }
    if let (Some(k), Ok(_)) = (keep, &outcome) {
        let fresh = vm.take_new_pure_rules();
        drop(vm);
        compiled.memo.keep(k.data, fresh, k.permanent_below);
    }
    outcome
}

/// Builtin errors fail the evaluation: each builtin of a compiled program is called through a
/// wrapper (one per distinct builtin name, [`SLOTS`] at most) that records the first error.
mod strict {
    use super::{Builtin, Expr, Ref, Span, UnsafeCell, Value};

    /// Distinct builtins over all compiled programs; a program that needs more stays with the
    /// interpreter.
    pub const SLOTS: usize = 96;

    struct Cell<T>(UnsafeCell<T>);
    // SAFETY: the runtime is single-threaded (wasm32 without atomics).
    unsafe impl<T> Sync for Cell<T> {}

    /// The wrapped builtins, by slot: name and original (set during preparation only).
    static ORIGINALS: Cell<[Option<(&'static str, Builtin)>; SLOTS]> =
        Cell(UnsafeCell::new([None; SLOTS]));

    /// The first builtin error of the running evaluation.
    static FAILED: Cell<Option<String>> = Cell(UnsafeCell::new(None));

    fn failed() -> &'static mut Option<String> {
        // SAFETY: single-threaded; no reference obtained here outlives one call below.
        unsafe { &mut *FAILED.0.get() }
    }

    /// Forgets an error left by an evaluation that did not finish (trapped or interrupted):
    /// its memory was handed back by the host's rewind, so it is not dropped.
    pub fn reset() {
        if let Some(stale) = failed().take() {
            core::mem::forget(stale);
        }
    }

    /// The error recorded by the evaluation that just ran.
    pub fn take() -> Option<String> {
        failed().take()
    }

    fn call(
        slot: usize,
        s: &Span,
        e: &[Ref<Expr>],
        a: &[Value],
        strict: bool,
    ) -> anyhow::Result<Value> {
        // SAFETY: single-threaded; the table is written only during preparation.
        let original = unsafe { (*ORIGINALS.0.get())[slot] };
        let Some((name, f)) = original else {
            anyhow::bail!("builtin slot {slot} is empty");
        };
        let outcome = f(s, e, a, strict);
        if let Err(error) = &outcome {
            let first = failed();
            if first.is_none() {
                *first = Some(format!("{name}: {error}"));
            }
        }
        outcome
    }

    macro_rules! wrappers {
        ($($i:literal)*) => {
            const WRAPPERS: [Builtin; SLOTS] = [$({
                fn w(s: &Span, e: &[Ref<Expr>], a: &[Value], strict: bool) -> anyhow::Result<Value> {
                    call($i, s, e, a, strict)
                }
                w
            }),*];
        };
    }
    wrappers!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29
        30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58
        59 60 61 62 63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86 87
        88 89 90 91 92 93 94 95);

    /// The wrapper of builtin `name` implemented by `original`; `None` when the slots are
    /// full. (Called during preparation only.)
    pub fn wrap(name: &str, original: Builtin) -> Option<Builtin> {
        // SAFETY: single-threaded; preparation runs before any evaluation.
        let table = unsafe { &mut *ORIGINALS.0.get() };
        let mut free = None;
        for (i, slot) in table.iter().enumerate() {
            match slot {
                Some((n, f)) if *n == name && core::ptr::fn_addr_eq(*f, original) => {
                    return Some(WRAPPERS[i]);
                }
                Some(_) => {}
                None => {
                    free.get_or_insert(i);
                }
            }
        }
        let i = free?;
        // Names live as long as the module: preparation's allocations are permanent.
        table[i] = Some((Box::leak(name.to_string().into_boxed_str()), original));
        Some(WRAPPERS[i])
    }
}
