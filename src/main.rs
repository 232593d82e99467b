//! The `dockgate` command line: parses arguments, sets up logging, runs one subcommand and
//! maps its outcome to an exit code (0 ok, 1 policy failure, 2 usage or input error).

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
