//! `airlock cache info|gc|export|import`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio::runtime::Handle;

use super::args::{CacheCommand, CacheExportArgs, CacheGcArgs, ExportFormatChoice, GlobalArgs};
use super::reporter::Spinner;
use super::settings::Resolved;
use crate::lock::LOCK_FILE;
use crate::pipeline::{BuildOptions, Reporter as _, needs};
use crate::store::{ExportFormat, GcOptions, Needs, Store, export, import};

pub(super) fn run(
    global: &GlobalArgs,
    command: &CacheCommand,
    runtime: &Handle,
) -> anyhow::Result<()> {
    let settings = Resolved::global(global).with_source_date_epoch()?;
    let store = Store::open(&settings.store_dir)?;
    match command {
        CacheCommand::Info(args) => {
            let info = store.info();
            if args.json {
                println!("{}", serde_json::to_string_pretty(&info)?);
                return Ok(());
            }
            println!("{}", info.root.display());
            for (kind, tally) in &info.kinds {
                let name = serde_json::to_value(kind)?
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                println!("  {name:<12} {:>7} {:>12}", tally.count, human(tally.bytes));
            }
            println!(
                "  {:<12} {:>7} {:>12}",
                "total",
                "",
                human(info.total_bytes)
            );
            Ok(())
        }
        CacheCommand::Gc(args) => gc(global, &settings, &store, args, runtime),
        CacheCommand::Export(args) => export_cmd(global, &settings, &store, args, runtime),
        CacheCommand::Import(args) => {
            let spinner = Spinner::new(global.quiet || args.json);
            let done = std::cell::Cell::new(0u64);
            let result = import(&store, &args.source, &|digest, size| {
                done.set(done.get() + size);
                spinner.step(&format!("imported {digest} ({} so far)", human(done.get())));
            });
            spinner.finish();
            let carried =
                result.with_context(|| format!("Cannot import `{}`", args.source.display()))?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&carried)?);
            } else if !global.quiet {
                eprintln!(
                    "Imported {} blob(s), {}, {} layer record(s) into {}",
                    carried.blobs,
                    human(carried.bytes),
                    carried.layers,
                    store.root().display()
                );
            }
            Ok(())
        }
    }
}

fn gc(
    global: &GlobalArgs,
    settings: &Resolved,
    store: &Store,
    args: &CacheGcArgs,
    runtime: &Handle,
) -> anyhow::Result<()> {
    if args.keep_locks.is_empty() && args.older_than.is_none() && args.max_size.is_none() {
        anyhow::bail!(
            "Say what to remove: `--keep-locks PATH…`, `--older-than AGE` or `--max-size SIZE`"
        );
    }
    let keep = locks_needs(
        global,
        settings,
        &args.keep_locks,
        args.base_layout.as_deref(),
        runtime,
    )?;
    let exclusive = store.exclusive(&|count| {
        if !global.quiet {
            eprintln!("Waiting for {count} running airlock process(es) that use the store");
        }
    })?;
    let report = store.collect_garbage(
        &GcOptions {
            keep,
            keep_given: !args.keep_locks.is_empty(),
            older_than: args.older_than,
            max_size: args.max_size,
        },
        &exclusive,
    )?;
    drop(exclusive);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !global.quiet {
        eprintln!(
            "Removed {} of {} (the store now holds {}; the kept locks need {})",
            human(report.removed_bytes),
            human(report.before_bytes),
            human(report.after_bytes),
            human(report.kept_bytes)
        );
    }
    Ok(())
}

fn export_cmd(
    global: &GlobalArgs,
    settings: &Resolved,
    store: &Store,
    args: &CacheExportArgs,
    runtime: &Handle,
) -> anyhow::Result<()> {
    let locks = if args.locks.is_empty() {
        vec![PathBuf::from(LOCK_FILE)]
    } else {
        args.locks.clone()
    };
    let needs = locks_needs(
        global,
        settings,
        &locks,
        args.base_layout.as_deref(),
        runtime,
    )?;
    let format = match args.format {
        Some(ExportFormatChoice::Dir) => ExportFormat::Dir,
        Some(ExportFormatChoice::Tar) => ExportFormat::Tar,
        None => ExportFormat::for_path(&args.dest),
    };
    let spinner = Spinner::new(global.quiet || args.json);
    let done = std::cell::Cell::new(0u64);
    let result = export(store, &needs, &args.dest, format, &|digest, size| {
        done.set(done.get() + size);
        spinner.step(&format!("exported {digest} ({} so far)", human(done.get())));
    });
    spinner.finish();
    let carried = result.with_context(|| format!("Cannot export to `{}`", args.dest.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&carried)?);
    } else if !global.quiet {
        eprintln!(
            "Exported {} blob(s), {}, {} layer record(s) to {}",
            carried.blobs,
            human(carried.bytes),
            carried.layers,
            args.dest.display()
        );
    }
    Ok(())
}

/// What the locks need from the store (each lock's project is its directory).
fn locks_needs(
    global: &GlobalArgs,
    settings: &Resolved,
    locks: &[PathBuf],
    base_layout: Option<&Path>,
    runtime: &Handle,
) -> anyhow::Result<Needs> {
    let mut all = Needs::default();
    for lock in locks {
        if !lock.is_file() {
            anyhow::bail!("Cannot read the lock `{}`: no such file", lock.display());
        }
        let project = lock
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let project_settings = Resolved::project(global, project)?;
        let options = BuildOptions {
            base_layout: base_layout.map(Path::to_path_buf),
            ..BuildOptions::new(
                project.to_path_buf(),
                settings.store_dir.clone(),
                project_settings.flags_remote(true),
                runtime.clone(),
                settings.source_date_epoch,
            )
        };
        all.extend(needs(&options).with_context(|| format!("Cannot read `{}`", lock.display()))?);
    }
    Ok(all)
}

/// Bytes in binary units.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
