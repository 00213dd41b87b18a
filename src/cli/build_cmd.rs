//! `airlock build`.

use std::collections::BTreeMap;

use anyhow::Context;
use tokio::runtime::Handle;

use super::args::{BuildArgs, GlobalArgs};
use super::reporter::Spinner;
use super::settings::Resolved;
use crate::dags::{Prepared, prepare};
use crate::pipeline::{
    BuildOptions, LayerSource, LockMode, OutputSpec, Reporter, build, build_for_sandbox,
};

/// Builds the project as `options` say and prepares the sandbox around its image
/// (`parse --full`, `pytest`).
pub(super) fn sandbox(options: &BuildOptions, reporter: &dyn Reporter) -> anyhow::Result<Prepared> {
    let image = build_for_sandbox(options, reporter)?;
    Ok(prepare(&image, &|message| reporter.step(message))?)
}

/// Build options for a project with its default output (for the sandboxed checks).
pub(super) fn default_options(
    settings: &Resolved,
    project_dir: &std::path::Path,
    base_layout: Option<std::path::PathBuf>,
    runtime: &Handle,
) -> BuildOptions {
    BuildOptions {
        base_layout,
        ..BuildOptions::new(
            project_dir.to_path_buf(),
            settings.store_dir.clone(),
            settings.flags_remote(false),
            runtime.clone(),
            settings.source_date_epoch,
        )
    }
}

pub(super) fn run(global: &GlobalArgs, args: &BuildArgs, runtime: &Handle) -> anyhow::Result<()> {
    let settings = Resolved::project(global, &args.project_dir)
        .with_context(|| format!("Cannot build `{}`", args.project_dir.display()))?
        .with_source_date_epoch()?;
    let output = args.output.as_deref().map(OutputSpec::parse).transpose()?;
    let output_path = output
        .as_ref()
        .map_or_else(|| OutputSpec::default_for(&args.project_dir), Clone::clone)
        .path()
        .to_path_buf();
    let spinner = Spinner::new(global.quiet || args.json);
    let mut options = BuildOptions {
        project_dir: args.project_dir.clone(),
        store_dir: settings.store_dir.clone(),
        base_layout: args.base_layout.clone(),
        build_args: args.build_args.iter().cloned().collect::<BTreeMap<_, _>>(),
        exclude_dags: args.exclude_dags,
        output,
        source_date_epoch: settings.source_date_epoch,
        lock_mode: if args.locked || args.frozen {
            LockMode::Locked
        } else {
            LockMode::Update
        },
        remote: settings.flags_remote(args.offline || args.frozen),
        runtime: runtime.clone(),
        upgrade_base: args.upgrade_base,
        push: args.push.clone(),
        python: super::lock_cmd::python_options(&args.python),
        cache: settings.cache(&args.cache_from, args.cache_to.as_deref(), &|name| {
            std::env::var(name).ok()
        }),
        secrets: args.secrets.iter().cloned().collect(),
        compression: args.compression,
    };
    options.remote.progress = spinner.transfers();
    let result = build(&options, &spinner);
    spinner.finish();
    let result =
        result.with_context(|| format!("Cannot build `{}`", args.project_dir.display()))?;
    let parameters = crate::sbom::provenance::Parameters {
        build_arg_names: args.build_args.iter().map(|(k, _)| k.clone()).collect(),
        exclude_dags: args.exclude_dags,
        locked: args.locked || args.frozen,
        source_date_epoch: options.source_date_epoch,
    };
    let documents = super::sbom_cmd::write_beside(
        &settings,
        &result,
        &output_path,
        &args.project_dir,
        &args.sbom.map(super::sbom_cmd::formats).unwrap_or_default(),
        args.provenance.then_some(&parameters),
    )?;
    let attached = match &result.push {
        Some(push) => super::sbom_cmd::attach(
            &settings,
            &settings.remote(args.offline || args.frozen),
            runtime,
            &push.reference,
            &crate::store::Store::open(&settings.store_dir)?.read_blob(&result.manifest_digest)?,
            &documents,
        )?,
        None => Vec::new(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(());
    }
    if !global.quiet {
        for layer in &result.layers {
            if layer.kind != "base" {
                let state = match layer.source {
                    LayerSource::CachedFromRegistry => "from the registry cache",
                    LayerSource::Built => "built",
                    LayerSource::Base | LayerSource::Store => "cached",
                };
                eprintln!(
                    "  {:<8} {} {:>10} bytes ({state})",
                    layer.kind, layer.digest, layer.size
                );
            }
        }
        eprintln!("Wrote {}", result.output);
        for doc in &documents {
            eprintln!("Wrote {}", doc.path.display());
        }
        if let Some(push) = &result.push {
            eprintln!(
                "Pushed {}: {} blob(s) uploaded, {} already there, {} mounted",
                push.reference, push.uploaded, push.existed, push.mounted
            );
        }
        for artifact in &attached {
            eprintln!(
                "Attached {} {}",
                artifact
                    .artifact_type()
                    .as_ref()
                    .map_or("artifact", AsRef::as_ref),
                artifact.digest()
            );
        }
        if result.lock_updated {
            eprintln!("Updated airlock.lock");
        }
        super::lock_cmd::print_skipped_scripts(&result.skipped_scripts);
    }
    println!("{}", result.manifest_digest);
    Ok(())
}
