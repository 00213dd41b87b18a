//! The command line: clap definitions, settings resolution, progress and printing.
//!
//! Thin by design: it parses, calls the library, and prints. Errors are rendered
//! here (`error:`, the `Caused by:` chain, then hints); library code never prints.

mod args;
mod build_cmd;
mod cache_cmd;
mod deploy_cmd;
mod deployment_cmd;
mod fetch_cmd;
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

pub(crate) use args::Cli;
pub(crate) use render::ExitStatus;

use anyhow::Context as _;
use clap::Parser;
use tokio::runtime::Handle;

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
        args::Command::Build(args) => done(on_runtime(|rt| build_cmd::run(global, args, rt))),
        args::Command::Lock(args) => done(on_runtime(|rt| lock_cmd::run(global, args, rt))),
        args::Command::Init(args) => done(init_cmd::run(global, args)),
        args::Command::Parse(args) => checked(on_runtime(|rt| parse_cmd::run(global, args, rt))),
        args::Command::Pytest(args) => {
            on_runtime(|rt| pytest_cmd::run(global, args, rt)).map(|code| match code {
                0 => ExitStatus::Success,
                code => ExitStatus::PassThrough(code),
            })
        }
        args::Command::Pull(args) => done(on_runtime(|rt| registry_cmd::pull(global, args, rt))),
        args::Command::Push(args) => done(on_runtime(|rt| registry_cmd::push(global, args, rt))),
        args::Command::Login(args) => done(registry_cmd::login(global, args)),
        args::Command::Logout(args) => done(registry_cmd::logout(global, args)),
        args::Command::Deploy(args) => done(on_runtime(|rt| deploy_cmd::run(global, args, rt))),
        args::Command::Deployment(command) => {
            checked(on_runtime(|rt| deployment_cmd::run(global, command, rt)))
        }
        args::Command::Dags(args::DagsCommand::Sync(args)) => {
            done(on_runtime(|rt| deployment_cmd::sync(global, args, rt)))
        }
        args::Command::Sbom(args) => done(on_runtime(|rt| sbom_cmd::run(global, args, rt))),
        args::Command::Verify(args) => checked(on_runtime(|rt| verify_cmd::run(global, args, rt))),
        args::Command::Fetch(args) => done(on_runtime(|rt| fetch_cmd::run(global, args, rt))),
        args::Command::Cache(command) => done(on_runtime(|rt| cache_cmd::run(global, command, rt))),
    };
    result.unwrap_or_else(|err| {
        render::print_error(&err);
        ExitStatus::Failure
    })
}

/// Runs `command` on the process's one async runtime, made here where the command
/// starts and dropped when it ends. Library code that waits on network work (pulls,
/// pushes, index and archive requests, downloads) is handed this handle and never
/// makes a runtime of its own (`tests/floors.rs` checks). Multi-thread with two
/// workers, as the runtimes the library made for itself before.
fn on_runtime<T>(command: impl FnOnce(&Handle) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("Cannot start the async runtime")?;
    command(runtime.handle())
}
