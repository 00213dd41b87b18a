//! The command line: clap definitions, settings resolution, progress and printing.
//!
//! Thin by design: it parses, calls the library, and prints. Errors are rendered
//! here (`error:`, the `Caused by:` chain, then hints); library code never prints.

mod args;
mod build_cmd;
mod init_cmd;
mod lock_cmd;
mod parse_cmd;
mod pip_host;
mod registry_cmd;
mod render;
mod reporter;

pub use args::Cli;
pub use render::ExitStatus;

use clap::Parser;

/// Runs airlock with the process arguments and returns the exit status.
pub fn main() -> ExitStatus {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitStatus::Usage
            } else {
                ExitStatus::Success
            };
        }
    };
    render::init_logging(cli.global.verbose, cli.global.quiet);
    let result = match &cli.command {
        args::Command::Build(args) => build_cmd::run(&cli.global, args).map(|()| true),
        args::Command::Init(args) => init_cmd::run(&cli.global, args).map(|()| true),
        args::Command::Parse(args) => parse_cmd::run(&cli.global, args),
        args::Command::Pull(args) => registry_cmd::pull(&cli.global, args).map(|()| true),
        args::Command::Push(args) => registry_cmd::push(&cli.global, args).map(|()| true),
        args::Command::Login(args) => registry_cmd::login(&cli.global, args).map(|()| true),
        args::Command::Logout(args) => registry_cmd::logout(&cli.global, args).map(|()| true),
        args::Command::Lock(args) => lock_cmd::run(&cli.global, args).map(|()| true),
    };
    match result {
        Ok(true) => ExitStatus::Success,
        Ok(false) => ExitStatus::Failure,
        Err(err) => {
            render::print_error(&err);
            ExitStatus::Failure
        }
    }
}
