//! `airlock verify`: rebuild the project from its committed lock in a fresh store
//! and compare with the image.

use std::time::Instant;

use anyhow::Context;
use tokio::runtime::Handle;

use super::args::{GlobalArgs, VerifyArgs};
use super::reporter::Spinner;
use super::settings::Resolved;
use crate::pipeline::{BuildOptions, LockMode, OutputSpec, build};
use crate::sbom::ImageInput;
use crate::store::Store;
use crate::verify::compare;

/// Unix seconds of an RFC 3339 UTC time (`1970-01-01T00:00:00Z`), as the image
/// config's `created` holds it.
fn unix_seconds(text: &str) -> Option<u64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time
        .split('.')
        .next()?
        .split(':')
        .map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    // Days from civil (proleptic Gregorian), the inverse of `image::rfc3339`.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

fn layers(image: &ImageInput) -> Vec<(crate::digest::Digest, std::path::PathBuf)> {
    image
        .layer_digests
        .iter()
        .zip(&image.layer_paths)
        .map(|(d, p)| (d.clone(), p.clone()))
        .collect()
}

/// What `verify` compares against: the image reference to load, the commit a
/// deployment record names, and whether its image carries the DAGs.
struct Target {
    image: String,
    remote: crate::registry::RemoteOptions,
    commit: Option<String>,
    /// The record says the deployed tree had uncommitted changes (`deploy --force`).
    dirty: bool,
    exclude_dags: bool,
}

/// IMAGE as given, or, when it names a deployment in `airlock.toml`, that
/// deployment's current image from its record.
fn target(settings: &Resolved, args: &VerifyArgs, runtime: &Handle) -> anyhow::Result<Target> {
    if !settings.file.deployments.contains_key(&args.image) {
        return Ok(Target {
            image: args.image.clone(),
            remote: settings.flags_remote(false),
            commit: None,
            dirty: false,
            exclude_dags: args.exclude_dags,
        });
    };
    let deployment = super::deployment_cmd::open(settings, &args.image, runtime)?;
    let stored = deployment
        .read_record()
        .with_context(|| format!("Cannot read the record of `{}`", args.image))?
        .ok_or_else(|| crate::deploy::DeployError::NoRecord {
            name: args.image.clone(),
        })?;
    let image =
        stored.record.image.as_ref().ok_or_else(|| {
            anyhow::anyhow!("Deployment `{}` has no image in its record", args.image)
        })?;
    Ok(Target {
        image: format!("{}@{}", image.repository, image.digest),
        remote: settings.remote(false),
        commit: stored.record.git.as_ref().map(|g| g.commit.clone()),
        dirty: stored.record.git.as_ref().is_some_and(|g| g.dirty),
        exclude_dags: args.exclude_dags || !image.includes_dags,
    })
}

pub(super) fn run(
    global: &GlobalArgs,
    args: &VerifyArgs,
    runtime: &Handle,
) -> anyhow::Result<bool> {
    let started = Instant::now();
    // A local image names no deployment: `airlock.toml` is read for a registry one.
    let local = args.image.starts_with("oci:") || args.image.starts_with("docker-archive:");
    let settings = if local {
        Resolved::global(global)
    } else {
        Resolved::project(global, &args.project_dir)?
    };
    let target = target(&settings, args, runtime)?;
    let (image, _keep) =
        super::sbom_cmd::load_image_with(&settings, &target.remote, runtime, &target.image)?;
    let epoch = image
        .config
        .get("created")
        .and_then(serde_json::Value::as_str)
        .and_then(unix_seconds)
        .unwrap_or(0);
    let temp = tempfile::tempdir().context("Cannot make a temporary directory")?;
    let store_dir = temp.path().join("store");
    if target.dirty && args.commit.is_none() && !global.quiet {
        eprintln!(
            "warning: `{}` was deployed with uncommitted changes (`deploy --force`); the rebuild of its recorded commit cannot be expected to match",
            crate::printable::printable(&args.image)
        );
    }
    // The project at a commit when it is in git: `--commit`, the record's, `HEAD`.
    let rev = args.commit.clone().or(target.commit);
    let (project_dir, commit) = if rev.is_some() || crate::verify::in_git(&args.project_dir) {
        let rev = rev.unwrap_or_else(|| "HEAD".to_string());
        let checkout_dir = temp.path().join("checkout");
        std::fs::create_dir_all(&checkout_dir)
            .with_context(|| format!("Cannot create `{}`", checkout_dir.display()))?;
        let checkout = crate::verify::checkout(&args.project_dir, &rev, &checkout_dir)?;
        (checkout.project_dir, Some(checkout.commit))
    } else {
        (args.project_dir.clone(), None)
    };
    if !global.quiet && !args.json {
        match &commit {
            Some(commit) => eprintln!("Rebuilding commit {commit}"),
            None => eprintln!(
                "Rebuilding `{}` as it is (not in git)",
                args.project_dir.display()
            ),
        }
    }
    let options = BuildOptions {
        base_layout: args.base_layout.clone(),
        exclude_dags: target.exclude_dags,
        output: Some(OutputSpec::Oci {
            dir: temp.path().join("rebuild"),
            tag: "latest".into(),
        }),
        lock_mode: LockMode::Locked,
        ..BuildOptions::new(
            project_dir,
            store_dir.clone(),
            settings.flags_remote(false),
            runtime.clone(),
            epoch,
        )
    };
    let spinner = Spinner::new(global.quiet || args.json);
    let result = build(&options, &spinner);
    spinner.finish();
    let result = result.with_context(|| {
        format!(
            "Cannot rebuild `{}` from its lock",
            args.project_dir.display()
        )
    })?;
    let rebuilt = ImageInput::from_store(&Store::open(&store_dir)?, &result.manifest_digest)?;
    let diff = compare(
        (&image.digest(), &layers(&image)),
        (&result.manifest_digest, &layers(&rebuilt)),
        10,
    )
    .context("Cannot compare the layers")?;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let mut value = serde_json::to_value(&diff)?;
        value["commit"] = serde_json::json!(commit);
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(diff.identical());
    }
    let built = commit
        .as_ref()
        .map_or(String::new(), |c| format!(" of commit {c}"));
    if diff.identical() {
        if !global.quiet {
            eprintln!("Verified in {seconds:.1}s: the rebuild{built} is identical");
        }
        println!("{}", diff.image);
        return Ok(true);
    }
    println!(
        "The image {} differs from the rebuild{built} {}",
        diff.image, diff.rebuild
    );
    if diff.layers.is_empty() {
        println!("  every layer is the same; the config or manifest differs");
    }
    let show = |f: &Option<crate::verify::FileFacts>| match f {
        Some(f) => format!(
            "{} size {} mode {:o} owner {}:{} {}",
            f.kind, f.size, f.mode, f.uid, f.gid, f.content
        ),
        None => "absent".to_string(),
    };
    for layer in &diff.layers {
        let name = |d: &Option<crate::digest::Digest>| {
            d.as_ref().map_or("absent".to_string(), ToString::to_string)
        };
        println!(
            "  layer {}: image {}, rebuild {}",
            layer.index,
            name(&layer.image),
            name(&layer.rebuild)
        );
        for file in &layer.files {
            println!("    {}", file.path);
            println!("      image:   {}", show(&file.image));
            println!("      rebuild: {}", show(&file.rebuild));
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    #[test]
    fn unix_seconds_inverts_rfc3339() {
        for s in [0, 951_782_400, 1_700_000_000, 4_102_444_799] {
            assert_eq!(super::unix_seconds(&crate::image::rfc3339(s)), Some(s));
        }
    }
}
