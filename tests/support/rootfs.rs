//! Real root filesystems for end-to-end tests: a Debian `minbase` made by
//! `mmdebstrap` (from the host's own apt sources), cached under the target
//! directory, turned into an OCI image layout that airlock reads as a base.
//!
//! API: [`debian_rootfs`] makes (or finds) the tar, [`layout_from_rootfs`] writes a
//! single-layer linux/amd64 image of it. Both return `None`/skip when the tools are
//! missing, with a message saying why.

use std::path::{Path, PathBuf};
use std::process::Command;

use airlock::digest::Digest;
use airlock::oci::{descriptor, media_types, write_layout};
use airlock::store::Store;
use serde_json::json;

/// A directory kept between test runs (inside the target directory).
pub fn persistent_cache(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).expect("cache dir");
    dir
}

/// The tar of `mmdebstrap --variant=minbase --include=PACKAGES SUITE`, made once and
/// cached. `None` (with a message) when mmdebstrap is missing or fails.
pub fn debian_rootfs(suite: &str, include: &[&str]) -> Option<PathBuf> {
    let key = format!("{suite}-minbase-{}", include.join("+"));
    let dir = persistent_cache("rootfs");
    let tar = dir.join(format!("{key}.tar"));
    if tar.is_file() {
        return Some(tar);
    }
    if Command::new("mmdebstrap")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipping: mmdebstrap is not installed (scripts/test installs it)");
        return None;
    }
    let _lock = FileLock::acquire(&dir.join(format!("{key}.lock")));
    if tar.is_file() {
        return Some(tar);
    }
    // mmdebstrap picks its output format from the name: keep `.tar` at the end, and
    // say it explicitly too.
    let partial = dir.join(format!("{key}.partial.tar"));
    let _ = std::fs::remove_dir_all(&partial);
    let _ = std::fs::remove_file(&partial);
    let output = Command::new("mmdebstrap")
        .args(["--variant=minbase", "--quiet", "--format=tar"])
        .args((!include.is_empty()).then(|| format!("--include={}", include.join(","))))
        .arg(suite)
        .arg(&partial)
        .output()
        .expect("run mmdebstrap");
    if !output.status.success() {
        eprintln!(
            "skipping: mmdebstrap failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    }
    std::fs::rename(&partial, &tar).expect("rename rootfs");
    Some(tar)
}

/// Writes a one-layer linux/amd64 image of the root filesystem `tar` (uncompressed)
/// into the layout `layout` under `tag`, with `env` and `workdir` in its config.
pub fn layout_from_rootfs(
    tar: &Path,
    layout: &Path,
    tag: &str,
    env: &[&str],
    workdir: &str,
) -> Digest {
    let scratch = tempfile::tempdir().expect("tempdir");
    let store = Store::open(scratch.path()).expect("store");
    // Uncompressed: a tar layer is valid OCI, and gzip in a debug build is slow.
    let (diff_id, size) =
        Digest::of_reader(std::fs::File::open(tar).expect("open rootfs")).expect("hash rootfs");
    let layer = diff_id.clone();
    store.import_file(tar, &layer).expect("layer");
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": env, "WorkingDir": workdir, "Cmd": ["/bin/bash"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "mmdebstrap"}],
    });
    let config_bytes = serde_json::to_vec(&config).expect("json");
    let config_digest = store.put_bytes(&config_bytes).expect("config");
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_MANIFEST,
        "config": {"mediaType": media_types::OCI_CONFIG, "digest": config_digest.to_string(), "size": config_bytes.len()},
        "layers": [descriptor(media_types::OCI_LAYER_TAR, layer.clone(), size)],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("json");
    let blobs = vec![
        (layer.clone(), store.blob_path(&layer)),
        (config_digest.clone(), store.blob_path(&config_digest)),
    ];
    write_layout(
        layout,
        tag,
        &blobs,
        &manifest_bytes,
        media_types::OCI_MANIFEST,
    )
    .expect("layout")
}

/// An exclusive advisory lock held while a slow fixture is made.
pub struct FileLock(std::fs::File);

impl FileLock {
    pub fn acquire(path: &Path) -> Self {
        let file = std::fs::File::create(path).expect("lock file");
        file.lock().expect("lock");
        Self(file)
    }
}

/// Copies the root filesystem `tar` to `out` without the top-level directories
/// `dropped` (and everything under them): a base that lacks, say, `/proc`.
pub fn rootfs_without(tar: &Path, out: &Path, dropped: &[&str]) {
    let input = std::fs::File::open(tar).expect("open rootfs");
    let mut archive = tar::Archive::new(std::io::BufReader::new(input));
    let partial = out.with_extension("partial");
    let output = std::fs::File::create(&partial).expect("create tar");
    let mut builder = tar::Builder::new(std::io::BufWriter::new(output));
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").into_owned();
        let relative = path.strip_prefix(".").unwrap_or(&path).to_path_buf();
        let top = relative
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        if relative.as_os_str().is_empty() || dropped.contains(&top.as_str()) {
            continue;
        }
        let mut header = entry.header().clone();
        let kind = header.entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .expect("link")
                .expect("target")
                .into_owned();
            builder
                .append_link(&mut header, &relative, &target)
                .expect("append link");
        } else {
            builder
                .append_data(&mut header, &relative, &mut entry)
                .expect("append");
        }
    }
    builder
        .into_inner()
        .expect("tar")
        .into_inner()
        .expect("flush");
    std::fs::rename(&partial, out).expect("rename");
}
