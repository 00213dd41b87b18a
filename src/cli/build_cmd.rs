//! `airlock build`.

use std::collections::BTreeMap;

use anyhow::Context;

use super::args::{BuildArgs, GlobalArgs};
use super::reporter::Spinner;
use crate::env_vars;
use crate::pipeline::{BuildOptions, LockMode, OutputSpec, build};

/// `SOURCE_DATE_EPOCH` as Unix seconds; unset or empty means 0.
pub fn source_date_epoch() -> anyhow::Result<u64> {
    match std::env::var(env_vars::SOURCE_DATE_EPOCH) {
        Ok(text) if !text.trim().is_empty() => text.trim().parse().with_context(|| {
            format!("`SOURCE_DATE_EPOCH` must be whole Unix seconds, got `{text}`")
        }),
        _ => Ok(0),
    }
}

pub fn store_dir(global: &GlobalArgs) -> std::path::PathBuf {
    global
        .cache_dir
        .clone()
        .unwrap_or_else(|| crate::store::default_cache_dir(&|name| std::env::var(name).ok()))
}

/// Build options for a project with its default output (for the sandboxed checks).
pub fn default_options(
    global: &GlobalArgs,
    project_dir: &std::path::Path,
    base_layout: Option<std::path::PathBuf>,
) -> anyhow::Result<BuildOptions> {
    Ok(BuildOptions {
        base_layout,
        ..BuildOptions::new(
            project_dir.to_path_buf(),
            store_dir(global),
            super::registry_cmd::remote_options(global, false, None),
            source_date_epoch()?,
        )
    })
}

pub fn run(global: &GlobalArgs, args: &BuildArgs) -> anyhow::Result<()> {
    let output = args.output.as_deref().map(OutputSpec::parse).transpose()?;
    let output_path = output
        .as_ref()
        .map_or_else(|| OutputSpec::default_for(&args.project_dir), Clone::clone)
        .path()
        .to_path_buf();
    let options = BuildOptions {
        project_dir: args.project_dir.clone(),
        store_dir: store_dir(global),
        base_layout: args.base_layout.clone(),
        build_args: args.build_args.iter().cloned().collect::<BTreeMap<_, _>>(),
        exclude_dags: args.exclude_dags,
        output,
        source_date_epoch: source_date_epoch()?,
        lock_mode: if args.locked || args.frozen {
            LockMode::Locked
        } else {
            LockMode::Update
        },
        remote: super::registry_cmd::remote_options(global, args.offline || args.frozen, None),
        upgrade_base: args.upgrade_base,
        push: args.push.clone(),
        python: super::lock_cmd::python_options(&args.python),
    };
    let spinner = Spinner::new(global.quiet || args.json);
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
        global,
        &result,
        &output_path,
        &args.project_dir,
        &args.sbom.map(super::sbom_cmd::formats).unwrap_or_default(),
        args.provenance.then_some(&parameters),
    )?;
    let attached = match &result.push {
        Some(push) => super::sbom_cmd::attach(
            global,
            &options.remote,
            &push.reference,
            &crate::store::Store::open(store_dir(global))?.read_blob(&result.manifest_digest)?,
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
                let state = if layer.reused { "cached" } else { "built" };
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
