//! Push of a ~300 MB image to a local registry: first push and no-op re-push, side by
//! side with `skopeo copy oci:… docker://…` of the same layout in the same run, with
//! airlock's peak memory (from `/usr/bin/time`-style rusage of the child).
//!
//! Run: `cargo bench --bench push` (needs `docker-registry` and `skopeo`, which
//! `scripts/test` installs).

#[path = "../tests/support/registry.rs"]
#[allow(dead_code)]
mod registry;
#[path = "../tests/support/wire.rs"]
#[allow(dead_code)]
mod wire;

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use airlock::digest::Digest;
use airlock::layer::{Entry, EntryKind, FileSource, FileTree, Owner, build_layer};
use airlock::oci::{DescriptorExt as _, descriptor, media_types, write_layout};
use airlock::store::Store;
use serde_json::json;

/// Incompressible bytes, so the blob sizes are what they say.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn timed(label: &str, command: &mut Command) -> f64 {
    let start = Instant::now();
    let output = command.output().expect("run");
    let seconds = start.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "{label}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    seconds
}

/// Writes an image of four `layer_size` layers into an OCI layout under `dir`.
fn make_image(dir: &std::path::Path, name: &str, layer_size: usize) -> (std::path::PathBuf, u64) {
    let store = Store::open(dir.join("store")).expect("store");
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for i in 0..4u64 {
        let bytes = noise(i + 1 + layer_size as u64, layer_size);
        let mut tree = FileTree::new();
        tree.insert(
            &format!("data/blob{i}.bin"),
            Entry {
                kind: EntryKind::File {
                    size: bytes.len() as u64,
                    sha256: Digest::of(&bytes),
                    source: FileSource::Bytes(bytes.into()),
                },
                mode: 0o644,
                owner: Owner::ROOT,
            },
        )
        .expect("insert");
        tree.add_parents(|_| (0o755, Owner::ROOT));
        let (record, _) = build_layer(&store, &tree, "bench", 0).expect("layer");
        diff_ids.push(record.diff_id.to_string());
        layers.push(descriptor(&record.media_type, record.digest, record.size));
    }
    let total: u64 = layers.iter().map(|l| l.size()).sum();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .expect("json");
    let config_digest = store.put_bytes(&config).expect("config");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_MANIFEST,
        "config": {"mediaType": media_types::OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": layers,
    }))
    .expect("json");
    let mut blobs: Vec<_> = layers
        .iter()
        .map(|l| l.sha256().expect("sha256"))
        .map(|digest| (digest.clone(), store.blob_path(&digest)))
        .collect();
    blobs.push((config_digest.clone(), store.blob_path(&config_digest)));
    let layout = dir.join(name);
    write_layout(&layout, "v1", &blobs, &manifest, media_types::OCI_MANIFEST).expect("layout");
    (layout, total)
}

/// Peak RSS in MiB of one `airlock push`, measured by GNU time.
fn push_rss(layout: &std::path::Path, target: &str) -> f64 {
    let from = format!("oci:{}:v1", layout.display());
    let output = Command::new("/usr/bin/time")
        .args([
            "-f",
            "%M",
            env!("CARGO_BIN_EXE_airlock"),
            "push",
            target,
            "--from",
            &from,
            "-q",
        ])
        .output()
        .expect("time");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stderr);
    text.lines()
        .last()
        .and_then(|l| l.trim().parse::<f64>().ok())
        .unwrap_or(f64::NAN)
        / 1024.0
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (layout, total) = make_image(dir.path(), "layout", 75_000_000);
    println!("image: 4 layers, {:.1} MB", total as f64 / 1e6);

    let ours = registry::Registry::plain();
    let theirs = registry::Registry::plain();
    let airlock = env!("CARGO_BIN_EXE_airlock");
    let from = format!("oci:{}:v1", layout.display());
    let target = format!("{}/bench:v1", ours.address());
    let first = timed(
        "airlock push",
        Command::new(airlock).args(["push", &target, "--from", &from, "-q"]),
    );
    let again = timed(
        "airlock push again",
        Command::new(airlock).args(["push", &target, "--from", &from, "-q"]),
    );
    let dest = format!("docker://{}/bench:v1", theirs.address());
    let skopeo_first = timed(
        "skopeo copy",
        Command::new("skopeo").args(["copy", "--dest-tls-verify=false", "-q", &from, &dest]),
    );
    let skopeo_again = timed(
        "skopeo copy again",
        Command::new("skopeo").args(["copy", "--dest-tls-verify=false", "-q", &from, &dest]),
    );
    println!("airlock push: first {first:.2} s, again {again:.3} s");
    println!("skopeo copy:  first {skopeo_first:.2} s, again {skopeo_again:.3} s");
    // Peak memory does not grow with blob size: 4 x 75 MB against 4 x 10 MB.
    let (small, _) = make_image(dir.path(), "small", 10_000_000);
    let big_rss = push_rss(&layout, &format!("{}/rss-big:v1", ours.address()));
    let small_rss = push_rss(&small, &format!("{}/rss-small:v1", ours.address()));
    println!(
        "airlock push peak RSS: {big_rss:.0} MiB for 75 MB layers, {small_rss:.0} MiB for 10 MB layers"
    );
    let _ = std::io::stdout().flush();
}
