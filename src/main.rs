//! The `dockgate` command line: parses arguments, sets up logging, runs one subcommand and
//! maps its outcome to an exit code (0 ok, 1 policy failure, 2 usage or input error).

mod cli;

use std::process::ExitCode;

/// mimalloc instead of glibc's allocator: a served call allocates and frees a few hundred
/// blocks across two worker threads (HTTP/2 frames, JSON, the decision), where glibc spent ~5 %
/// of the server's CPU (`_int_malloc`, `_int_free`, `malloc_consolidate`); with mimalloc the
/// server takes 6 % less CPU per Evaluate (BENCHMARKS.md, eleventh session).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    cli::main()
}
