//! Entrypoints compiled to bytecode for regorus's virtual machine (RVM), and their evaluation.
//!
//! regorus offers two evaluators of the same language: the tree-walking interpreter (every
//! evaluation re-resolves rules, references and functions) and a compiler to register-machine
//! bytecode run by `RegoVM`. On the built-in library the VM is three to four times faster.
//!
//! The VM is used only when the payload asks for it (`dockgate build --evaluator vm`; the
//! built-in library does): regorus 0.14.1's VM departs from Rego's semantics in places that
//! decide verdicts, so a bundle must be proven on it before it runs there. Known departures
//! (`tests/policy_engine.rs` pins them, so that an upgrade that fixes them is noticed):
//! - an assignment of an undefined value (`x := input.missing`) does not fail its body;
//! - a body that iterates (`some x in xs`, `xs[_]`) and finds nothing does not fall through
//!   to its `else`;
//! - a builtin's error makes its value undefined (OPA's default mode) instead of failing the
//!   evaluation (regorus's strict mode, which the interpreter runs in); the runtime's own
//!   builtins (regexes, host builtins) still fail the evaluation.
//!
//! The built-in library avoids both, and `tests/library_equivalence.rs` proves its decisions
//! equal the interpreter's over some 13,000 inputs. With the VM asked for, an entrypoint that
//! its compiler does not support (the `with` keyword, `walk` loops, some partial-object forms,
//! `print`, a package as entrypoint...) stays with the interpreter.
//!
//! The VM resolves builtins from regorus's static table only; the builtins this runtime
//! provides itself (regexes compiled once, see `regex_cache`; clock and others forwarded to
//! the host, see `host`) are compiled as host-await calls: the VM suspends at such a call with
//! the builtin's name and arguments, [`evaluate`] computes the result and resumes it. A
//! builtin's error ends the evaluation with that error, as in the interpreter.
//!
//! Memory: the program is built during preparation (permanent memory); each evaluation makes
//! its own VM, allocated and freed within the evaluation.

use std::sync::Arc;

use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::program::Program;
use regorus::rvm::vm::{ExecutionMode, ExecutionState, RegoVM, SuspendReason};
use regorus::{Engine, Rc, Value};

use crate::{host, regex_cache};

/// Compiles entrypoint `path` (`data.pkg.rule`) of `engine`; `None` when the VM cannot run it
/// (the interpreter then evaluates it).
pub fn compile(engine: &mut Engine, path: &str) -> Option<Arc<Program>> {
    let rule: Rc<str> = Rc::from(path);
    let policy = engine.compile_with_entrypoint(&rule).ok()?;
    let awaited: Vec<(&str, usize)> = regex_cache::BUILTINS
        .iter()
        .map(|(name, arity)| (*name, usize::from(*arity)))
        .chain(
            host::FORWARDED
                .iter()
                .map(|(name, arity)| (*name, usize::from(*arity))),
        )
        .collect();
    let program = Compiler::compile_from_policy_with_host_await(&policy, &[path], &awaited).ok()?;
    // Every builtin the program calls must resolve in regorus's table (`print` does not: the
    // interpreter gathers prints and forwards them to the host).
    let resolvable = program
        .builtin_info_table
        .iter()
        .all(|b| regorus::unstable::BUILTINS.contains_key(b.name.as_str()));
    resolvable.then_some(program)
}

/// Evaluates `program` (one entrypoint, index 0) with `data` and `input`.
pub fn evaluate(
    program: &Arc<Program>,
    data: Option<&Value>,
    input: Value,
) -> Result<Value, String> {
    let mut vm = RegoVM::new();
    vm.load_program(program.clone());
    // The host bounds evaluation time (its deadline interrupts the module); the VM's own
    // default budget (25,000 instructions) is too small for large inputs.
    vm.set_max_instructions(usize::MAX);
    if let Some(data) = data {
        vm.set_data(data.clone()).map_err(|e| e.to_string())?;
    }
    vm.set_input(input);
    vm.set_execution_mode(ExecutionMode::Suspendable);
    vm.execute_entry_point_by_index(0)
        .map_err(|e| e.to_string())?;
    loop {
        let response = match vm.execution_state() {
            ExecutionState::Completed { result } => return Ok(result.clone()),
            ExecutionState::Error { error } => return Err(error.to_string()),
            ExecutionState::Suspended {
                reason:
                    SuspendReason::HostAwait {
                        identifier,
                        argument,
                        ..
                    },
                ..
            } => call(identifier, argument)?,
            other => return Err(format!("unexpected VM state: {other:?}")),
        };
        vm.resume(Some(response)).map_err(|e| e.to_string())?;
    }
}

/// A host-await call: builtin `name` with the array of its arguments.
fn call(name: &Value, args: &Value) -> Result<Value, String> {
    let name = name
        .as_string()
        .map_err(|_| format!("host-await call without a builtin name: {name}"))?;
    let args = args
        .as_array()
        .map_err(|_| format!("{name}: arguments are not an array"))?
        .to_vec();
    let outcome = regex_cache::call(name, &args)
        .or_else(|| host::call_by_name(name, &args))
        .unwrap_or_else(|| Err(anyhow::anyhow!("unknown builtin {name}")));
    outcome.map_err(|e| e.to_string())
}
