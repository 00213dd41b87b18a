//! `airlock verify`: rebuild the project from its committed lock in a fresh store
//! and compare with the image.

use std::time::Instant;

use anyhow::Context;

use super::args::{GlobalArgs, VerifyArgs};
use super::reporter::Spinner;
use crate::build::{BuildOptions, LockMode, OutputSpec, build};
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
        .manifest
        .layers
        .iter()
        .zip(&image.layer_paths)
        .map(|(d, p)| (d.digest.clone(), p.clone()))
        .collect()
}

pub fn run(global: &GlobalArgs, args: &VerifyArgs) -> anyhow::Result<bool> {
    let started = Instant::now();
    let (image, _keep) = super::sbom_cmd::load_image(global, &args.image)?;
    let epoch = image
        .config
        .get("created")
        .and_then(serde_json::Value::as_str)
        .and_then(unix_seconds)
        .unwrap_or(0);
    let temp = tempfile::tempdir().context("Cannot make a temporary directory")?;
    let store_dir = temp.path().join("store");
    let options = BuildOptions {
        base_layout: args.base_layout.clone(),
        exclude_dags: args.exclude_dags,
        output: Some(OutputSpec::Oci {
            dir: temp.path().join("rebuild"),
            tag: "latest".into(),
        }),
        lock_mode: LockMode::Locked,
        ..BuildOptions::new(
            args.project_dir.clone(),
            store_dir.clone(),
            super::registry_cmd::remote_options(global, false, None),
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
        println!("{}", serde_json::to_string_pretty(&diff)?);
        return Ok(diff.identical());
    }
    if diff.identical() {
        if !global.quiet {
            eprintln!("Verified in {seconds:.1}s: the rebuild is identical");
        }
        println!("{}", diff.image);
        return Ok(true);
    }
    println!(
        "The image {} differs from the rebuild {}",
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
