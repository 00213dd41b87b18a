//! `airlock parse`: the static DAG check.

use std::collections::BTreeMap;

use anyhow::Context;
use tokio::runtime::Handle;

use super::args::{GlobalArgs, ParseArgs};
use super::settings::Resolved;
use crate::dags::{PythonVersion, check_project, project_check_input};
use crate::pipeline::locked_base_facts;
use crate::project::Project;
use crate::store::Store;

/// Runs the check; `Ok(false)` when the project has errors (already printed).
pub(super) fn run(global: &GlobalArgs, args: &ParseArgs, runtime: &Handle) -> anyhow::Result<bool> {
    let started = std::time::Instant::now();
    let settings = Resolved::project(global, &args.project_dir)
        .with_context(|| format!("Cannot read the project `{}`", args.project_dir.display()))?;
    let settings = if args.full {
        settings.with_source_date_epoch()?
    } else {
        settings
    };
    let project = Project::load(&args.project_dir, &BTreeMap::new())
        .with_context(|| format!("Cannot read the project `{}`", args.project_dir.display()))?;
    let python = args
        .python_version
        .as_deref()
        .map(str::parse::<PythonVersion>)
        .transpose()?;
    let store = Store::open(&settings.store_dir)?;
    // `--full` builds first, so the locked wheels are in the store when tier 1 reads
    // their top-level modules.
    let prepared = if args.full {
        let options = super::build_cmd::default_options(
            &settings,
            &args.project_dir,
            args.base_layout.clone(),
            runtime,
        );
        let spinner = super::reporter::Spinner::new(global.quiet || args.json);
        let prepared = super::build_cmd::sandbox(&options, &spinner);
        spinner.finish();
        Some(prepared.context("Cannot prepare the sandbox for `parse --full`")?)
    } else {
        None
    };
    let remote = settings.remote(false);
    let (facts, lock) = locked_base_facts(
        &store,
        &project,
        args.base_layout.as_deref(),
        &remote,
        runtime,
    )?;
    let input = project_check_input(&store, &project, &facts, lock.as_ref(), python)?;
    let mut report = check_project(&input);
    let mut full = None;
    if let Some(prepared) = &prepared {
        let integrity = crate::dags::run_integrity(prepared, crate::project::DAGS_DIR)?;
        for diagnostic in &integrity.errors {
            if input.exceptions.allows(&diagnostic.file) {
                report.allowed.push(diagnostic.clone());
            } else {
                report.errors.push(diagnostic.clone());
            }
        }
        full = Some(integrity);
    }
    if let Some(integrity) = &full
        && !global.quiet
        && !args.json
    {
        eprintln!(
            "Loaded {} DAG(s) with Airflow: airlock overhead {:.2} s, Airflow import {:.2} s, parse {:.2} s",
            integrity.dags.len(),
            integrity.overhead_seconds,
            integrity.airflow_import_seconds,
            integrity.airflow_parse_seconds
        );
    }
    if args.json {
        println!("{}", report.to_json());
    } else {
        if !report.errors.is_empty() || !report.allowed.is_empty() {
            println!("{report}");
        } else if !global.quiet {
            eprintln!(
                "Checked {} files in {:.0} ms: {} error(s){}",
                report.files_checked,
                started.elapsed().as_secs_f64() * 1000.0,
                report.errors.len(),
                if report.allowed.is_empty() {
                    String::new()
                } else {
                    format!(", {} allowed by the exceptions files", report.allowed.len())
                }
            );
        }
    }
    Ok(report.is_ok())
}
