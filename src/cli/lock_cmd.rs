//! `airlock lock`, and the report of skipped maintainer scripts shared with `build`.

use std::collections::BTreeMap;

use anyhow::Context;

use super::args::{GlobalArgs, LockArgs};
use super::reporter::Spinner;
use crate::build::{BuildOptions, LockMode, SkippedScript, lock};

pub fn run(global: &GlobalArgs, args: &LockArgs) -> anyhow::Result<()> {
    let options = BuildOptions {
        project_dir: args.project_dir.clone(),
        store_dir: super::build_cmd::store_dir(global),
        base_layout: args.base_layout.clone(),
        build_args: args.build_args.iter().cloned().collect::<BTreeMap<_, _>>(),
        exclude_dags: false,
        output: None,
        source_date_epoch: 0,
        lock_mode: LockMode::Update,
        remote: super::registry_cmd::remote_options(global, false, None),
        upgrade_base: false,
        push: None,
    };
    let spinner = Spinner::new(global.quiet || args.json);
    let result = lock(&options, &spinner);
    spinner.finish();
    let result = result.with_context(|| format!("Cannot lock `{}`", args.project_dir.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(());
    }
    if !global.quiet {
        eprintln!(
            "{} {} ({} Debian packages)",
            if result.updated {
                "Wrote"
            } else {
                "Unchanged:"
            },
            result.path,
            result.debs.len()
        );
    }
    Ok(())
}

/// Lists the maintainer scripts whose work was skipped, so nothing is hidden.
pub fn print_skipped_scripts(skipped: &[SkippedScript]) {
    if skipped.is_empty() {
        return;
    }
    eprintln!("Maintainer scripts not run (their other work was skipped):");
    for s in skipped {
        eprintln!("  {} {}: {}", s.package, s.script, s.summary);
    }
}
