//! The command line: clap definitions, settings resolution, progress and printing.
//!
//! Thin by design: it parses, calls the library, and prints. Errors are rendered
//! here (`error:`, the `Caused by:` chain, then hints); library code never prints.

mod args;
mod build_cmd;
mod deploy_cmd;
mod deployment_cmd;
mod init_cmd;
mod lock_cmd;
mod parse_cmd;
mod pip_host;
mod pytest_cmd;
mod registry_cmd;
mod render;
mod reporter;
mod sbom_cmd;
mod settings;
mod verify_cmd;

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
    let done = |result: anyhow::Result<()>| result.map(|()| ExitStatus::Success);
    let checked = |result: anyhow::Result<bool>| {
        result.map(|ok| {
            if ok {
                ExitStatus::Success
            } else {
                ExitStatus::Failure
            }
        })
    };
    let global = &cli.global;
    let result = match &cli.command {
        args::Command::Build(args) => done(build_cmd::run(global, args)),
        args::Command::Lock(args) => done(lock_cmd::run(global, args)),
        args::Command::Init(args) => done(init_cmd::run(global, args)),
        args::Command::Parse(args) => checked(parse_cmd::run(global, args)),
        args::Command::Pytest(args) => pytest_cmd::run(global, args).map(|code| match code {
            0 => ExitStatus::Success,
            code => ExitStatus::PassThrough(code),
        }),
        args::Command::Pull(args) => done(registry_cmd::pull(global, args)),
        args::Command::Push(args) => done(registry_cmd::push(global, args)),
        args::Command::Login(args) => done(registry_cmd::login(global, args)),
        args::Command::Logout(args) => done(registry_cmd::logout(global, args)),
        args::Command::Deploy(args) => done(deploy_cmd::run(global, args)),
        args::Command::Deployment(command) => checked(deployment_cmd::run(global, command)),
        args::Command::Dags(args::DagsCommand::Sync(args)) => {
            done(deployment_cmd::sync(global, args))
        }
        args::Command::Sbom(args) => done(sbom_cmd::run(global, args)),
        args::Command::Verify(args) => checked(verify_cmd::run(global, args)),
    };
    result.unwrap_or_else(|err| {
        render::print_error(&err);
        ExitStatus::Failure
    })
}
