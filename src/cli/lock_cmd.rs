//! `airlock lock`, and the report of skipped maintainer scripts shared with `build`.

use std::collections::BTreeMap;

use anyhow::Context;
use tokio::runtime::Handle;

use super::args::{GlobalArgs, LockArgs, PythonArgs};
use super::reporter::Spinner;
use super::settings::Resolved;
use crate::pipeline::{BuildOptions, LockMode, PythonOptions, SkippedScript, lock};
use crate::python::{Upgrade, package_name};

/// The Python resolution settings the flags give.
pub(super) fn python_options(args: &PythonArgs) -> PythonOptions {
    let upgrade = if args.upgrade {
        Upgrade::All
    } else if args.upgrade_package.is_empty() {
        Upgrade::None
    } else {
        Upgrade::Packages(
            args.upgrade_package
                .iter()
                .filter_map(|name| package_name(name).ok())
                .collect(),
        )
    };
    PythonOptions {
        upgrade,
        exclude_newer: args.exclude_newer.clone(),
        allow_base_upgrades: args.allow_base_upgrades,
        ..PythonOptions::default()
    }
}

pub(super) fn run(global: &GlobalArgs, args: &LockArgs, runtime: &Handle) -> anyhow::Result<()> {
    // `SOURCE_DATE_EPOCH` as the build reads it: a Dockerfile `RUN` is pinned here
    // with the timestamps the build will give its layers.
    let settings = Resolved::project(global, &args.project_dir)
        .with_context(|| format!("Cannot lock `{}`", args.project_dir.display()))?
        .with_source_date_epoch()?;
    let options = BuildOptions {
        project_dir: args.project_dir.clone(),
        store_dir: settings.store_dir.clone(),
        base_layout: args.base_layout.clone(),
        build_args: args.build_args.iter().cloned().collect::<BTreeMap<_, _>>(),
        exclude_dags: false,
        output: None,
        source_date_epoch: settings.source_date_epoch,
        lock_mode: if args.locked {
            LockMode::Locked
        } else {
            LockMode::Update
        },
        remote: settings.flags_remote(args.offline),
        runtime: runtime.clone(),
        upgrade_base: args.upgrade_base,
        push: None,
        python: python_options(&args.python),
        cache: Default::default(),
        secrets: args.secrets.iter().cloned().collect(),
        compression: None,
    };
    let spinner = Spinner::new(global.quiet || args.json);
    let result = lock(&options, &spinner);
    spinner.finish();
    let summary =
        result.with_context(|| format!("Cannot lock `{}`", args.project_dir.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if !global.quiet {
        for change in &summary.base_upgrades {
            eprintln!("warning: replaces the base's {change}");
        }
        let state = match (summary.updated, args.locked) {
            (_, true) => "is up to date",
            (true, _) => "updated",
            (false, _) => "unchanged",
        };
        eprintln!(
            "airlock.lock {state} ({} Debian packages, {} wheels)",
            summary.debs.len(),
            summary.wheels
        );
    }
    Ok(())
}

/// Lists the maintainer scripts whose work was skipped, so nothing is hidden.
pub(super) fn print_skipped_scripts(skipped: &[SkippedScript]) {
    if skipped.is_empty() {
        return;
    }
    eprintln!("Maintainer scripts not run (their other work was skipped):");
    for s in skipped {
        eprintln!("  {} {}: {}", s.package, s.script, s.summary);
    }
}
