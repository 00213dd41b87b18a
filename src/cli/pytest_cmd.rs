//! `airlock pytest`: the project's tests inside the built image, sandboxed.

use anyhow::Context;
use tokio::runtime::Handle;

use super::args::{GlobalArgs, PytestArgs};
use super::build_cmd::{default_options, sandbox};
use super::reporter::Spinner;
use super::settings::Resolved;
use crate::dags::{Tier2Error, project_env, run_pytest};

/// Returns pytest's exit status.
pub(super) fn run(global: &GlobalArgs, args: &PytestArgs, runtime: &Handle) -> anyhow::Result<u8> {
    let settings = Resolved::project(global, &args.project_dir)
        .context("Cannot prepare the sandbox for pytest")?
        .with_source_date_epoch()?;
    let options = default_options(
        &settings,
        &args.project_dir,
        args.base_layout.clone(),
        runtime,
    );
    // Read first: a bad `.env` fails before the build.
    let env = project_env(&args.project_dir, args.env_file.as_deref()).map_err(Tier2Error::from)?;
    let spinner = Spinner::new(global.quiet);
    let prepared = sandbox(&options, &spinner);
    spinner.finish();
    let prepared = prepared.context("Cannot prepare the sandbox for pytest")?;
    let extra: Vec<String> = args
        .args
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let code = run_pytest(&prepared, args.file.as_deref(), &extra, &env)?;
    Ok(u8::try_from(code).unwrap_or(1))
}
