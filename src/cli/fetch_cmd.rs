//! `airlock fetch`.

use std::collections::BTreeMap;

use anyhow::Context;
use tokio::runtime::Handle;

use super::args::{FetchArgs, GlobalArgs};
use super::reporter::Spinner;
use super::settings::Resolved;
use crate::pipeline::{BuildOptions, LockMode, fetch};

pub(super) fn run(global: &GlobalArgs, args: &FetchArgs, runtime: &Handle) -> anyhow::Result<()> {
    let settings = Resolved::project(global, &args.project_dir)
        .with_context(|| format!("Cannot fetch for `{}`", args.project_dir.display()))?
        .with_source_date_epoch()?;
    let options = BuildOptions {
        base_layout: args.base_layout.clone(),
        build_args: args.build_args.iter().cloned().collect::<BTreeMap<_, _>>(),
        lock_mode: LockMode::Locked,
        cache: settings.cache(&args.cache_from, None, &|name| std::env::var(name).ok()),
        ..BuildOptions::new(
            args.project_dir.clone(),
            settings.store_dir.clone(),
            settings.flags_remote(false),
            runtime.clone(),
            settings.source_date_epoch,
        )
    };
    let spinner = Spinner::new(global.quiet || args.json);
    let mut options = options;
    options.remote.progress = spinner.transfers();
    // Layers neither the store nor the registry layer cache holds are left to
    // `build --frozen`, which makes them from the fetched inputs.
    let result = fetch(&options, &spinner);
    spinner.finish();
    let summary =
        result.with_context(|| format!("Cannot fetch for `{}`", args.project_dir.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if !global.quiet {
        if let Some(base) = &summary.base_manifest_digest {
            eprintln!("  base     {base}");
        }
        eprintln!("  debs     {}", summary.debs);
        eprintln!("  wheels   {}", summary.wheels);
        eprintln!(
            "  layers   {} in the store, {} fetched, {} to build from the fetched inputs",
            summary.layers_present, summary.layers_fetched, summary.layers_to_build
        );
        eprintln!("Fetched into {}", settings.store_dir.display());
    }
    Ok(())
}
