//! `airlock pytest`: the project's tests inside the built image, sandboxed.

use anyhow::Context;

use super::args::{GlobalArgs, PytestArgs};
use super::build_cmd::default_options;
use super::reporter::Spinner;
use crate::dags::{prepare, run_pytest};

/// Returns pytest's exit status.
pub fn run(global: &GlobalArgs, args: &PytestArgs) -> anyhow::Result<u8> {
    let options = default_options(global, &args.project_dir, args.base_layout.clone())?;
    let spinner = Spinner::new(global.quiet);
    let prepared = prepare(&options, &spinner);
    spinner.finish();
    let prepared = prepared.context("Cannot prepare the sandbox for pytest")?;
    let extra: Vec<String> = args
        .args
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let code = run_pytest(&prepared, args.file.as_deref(), &extra)?;
    Ok(u8::try_from(code).unwrap_or(1))
}
