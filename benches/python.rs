//! Python locking and installing, against the real index the host's pip uses:
//!
//! - lock time for an `apache-airflow` 3.x pin, two providers and pandas (~150
//!   distributions), cold cache and warm cache, next to `uv pip compile` for the same
//!   Python version and platform in the same run;
//! - install of the locked set into a layer from a warm store, in MB/s of wheel data.
//!
//! Run: `cargo bench --bench python`. Needs the network and pip (uv is installed into
//! a virtual environment under the target directory).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use airlock::digest::Digest;
use airlock::layer::{Entry, EntryKind, FileSource, FileTree, Owner, build_layer};
use airlock::oci::{descriptor, media_types, write_layout};
use airlock::store::Store;
use serde_json::json;

#[path = "../tests/support/host_python.rs"]
#[allow(dead_code)]
mod host_python;
#[path = "../tests/support/rootfs.rs"]
#[allow(dead_code)]
mod rootfs;

use host_python::{host_index, uv};

const REQUIREMENTS: &str = "apache-airflow==3.0.2\napache-airflow-providers-http\napache-airflow-providers-postgres\npandas\n";
const EXCLUDE_NEWER: &str = "2025-07-01T00:00:00Z";

fn airlock(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .output()
        .expect("airlock")
}

fn file(content: &[u8], mode: u32) -> Entry {
    let bytes: Arc<[u8]> = Arc::from(content);
    Entry {
        kind: EntryKind::File {
            size: bytes.len() as u64,
            sha256: Digest::of(&bytes),
            source: FileSource::Bytes(bytes),
        },
        mode,
        owner: Owner::ROOT,
    }
}

/// A base that reads as CPython 3.12.7 on glibc 2.36 (an official `python` image
/// layout) with nothing installed.
fn python_base(layout: &Path) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let store = Store::open(scratch.path()).expect("store");
    let mut tree = FileTree::new();
    tree.insert("usr/local/bin/python3.12", file(b"#!/bin/sh\n", 0o755))
        .expect("insert");
    tree.insert(
        "var/lib/dpkg/status",
        file(
            b"Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u10\n",
            0o644,
        ),
    )
    .expect("insert");
    tree.insert(
        "usr/local/lib/python3.12/site-packages",
        Entry {
            kind: EntryKind::Dir,
            mode: 0o755,
            owner: Owner::ROOT,
        },
    )
    .expect("insert");
    tree.add_parents(|_| (0o755, Owner::ROOT));
    let (record, _) = build_layer(&store, &tree, "bench-base", 0).expect("layer");
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PYTHON_VERSION=3.12.7"], "WorkingDir": "/opt/app"},
        "rootfs": {"type": "layers", "diff_ids": [record.diff_id.to_string()]},
    }))
    .expect("json");
    let config_digest = store.put_bytes(&config).expect("config");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_MANIFEST,
        "config": {"mediaType": media_types::OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": [descriptor(&record.media_type, record.digest.clone(), record.size)],
    }))
    .expect("json");
    let blobs = vec![
        (record.digest.clone(), store.blob_path(&record.digest)),
        (config_digest.clone(), store.blob_path(&config_digest)),
    ];
    write_layout(layout, "3.12", &blobs, &manifest, media_types::OCI_MANIFEST).expect("layout");
}

fn seconds(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

fn main() {
    let Some(index) = host_index() else {
        eprintln!("skipping: no pip on this host to tell which index to use");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("dags")).expect("mkdir");
    std::fs::write(project.join("Dockerfile"), "FROM bench-python:3.12\n").expect("write");
    std::fs::write(project.join("requirements.txt"), REQUIREMENTS).expect("write");
    std::fs::write(
        project.join("airlock.toml"),
        format!("[python]\nindex-url = \"{index}\"\nexclude-newer = \"{EXCLUDE_NEWER}\"\n"),
    )
    .expect("write");
    let layout = dir.path().join("base");
    python_base(&layout);
    let (p, l) = (project.to_string_lossy(), layout.to_string_lossy());
    let lock_path = project.join("airlock.lock");

    // airlock: cold (empty cache) and warm (pages revalidated, metadata cached).
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut offline = Vec::new();
    for round in 0..3 {
        let cache = dir.path().join(format!("cold-{round}"));
        let c = cache.to_string_lossy();
        let _ = std::fs::remove_file(&lock_path);
        let start = Instant::now();
        let out = airlock(&["lock", &p, "--base-layout", &l, "--cache-dir", &c, "-q"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        cold.push(seconds(start));
    }
    let cache = dir.path().join("cold-0");
    let c = cache.to_string_lossy();
    for _ in 0..5 {
        let _ = std::fs::remove_file(&lock_path);
        let start = Instant::now();
        let out = airlock(&["lock", &p, "--base-layout", &l, "--cache-dir", &c, "-q"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        warm.push(seconds(start));
        let _ = std::fs::remove_file(&lock_path);
        let start = Instant::now();
        let out = airlock(&[
            "lock",
            &p,
            "--base-layout",
            &l,
            "--cache-dir",
            &c,
            "--offline",
            "-q",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        offline.push(seconds(start));
    }
    let lock: toml::Value =
        toml::from_str(&std::fs::read_to_string(&lock_path).expect("lock")).expect("toml");
    let wheels = lock["wheels"].as_array().expect("wheels");
    let total: u64 = wheels
        .iter()
        .map(|w| w["size"].as_integer().unwrap_or(0) as u64)
        .sum();
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("distributions locked: {}", wheels.len());
    println!(
        "airlock lock, cold cache:          {:.2} s (median of {})",
        median(&mut cold),
        cold.len()
    );
    println!(
        "airlock lock, warm cache:          {:.2} s (median of {})",
        median(&mut warm),
        warm.len()
    );
    println!(
        "airlock lock, warm cache, offline: {:.2} s (median of {})",
        median(&mut offline),
        offline.len()
    );

    // uv pip compile, same Python and platform, same cut-off.
    if let Some(uv) = uv() {
        let input = dir.path().join("requirements.in");
        std::fs::write(&input, REQUIREMENTS).expect("write");
        let uv_cache = dir.path().join("uv-cache");
        let compile = |extra: &[&str]| {
            let start = Instant::now();
            let out = Command::new(&uv)
                .args(["pip", "compile", "--quiet", "--no-header"])
                .args([
                    "--python-version",
                    "3.12",
                    "--python-platform",
                    "x86_64-manylinux_2_36",
                ])
                .args(["--index-url", &index, "--exclude-newer", EXCLUDE_NEWER])
                .arg("--cache-dir")
                .arg(&uv_cache)
                // Resolve for 3.12 without fetching an interpreter (it is not needed).
                .env("UV_PYTHON_DOWNLOADS", "never")
                .args(extra)
                .arg(&input)
                .output()
                .expect("uv");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            seconds(start)
        };
        let mut uv_cold: Vec<f64> = (0..3).map(|_| compile(&["--no-cache"])).collect();
        compile(&[]);
        let mut uv_warm: Vec<f64> = (0..5).map(|_| compile(&[])).collect();
        let mut uv_offline: Vec<f64> = (0..5).map(|_| compile(&["--offline"])).collect();
        println!(
            "uv pip compile, no cache:          {:.2} s",
            median(&mut uv_cold)
        );
        println!(
            "uv pip compile, warm cache:        {:.2} s",
            median(&mut uv_warm)
        );
        println!(
            "uv pip compile, warm, offline:     {:.2} s",
            median(&mut uv_offline)
        );
    } else {
        println!("uv: not available, no comparison");
    }

    // Install from a warm store: the first build downloads the wheels; each later
    // build with another SOURCE_DATE_EPOCH (another layer key) installs them again.
    let out = airlock(&["build", &p, "--base-layout", &l, "--cache-dir", &c, "-q"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut installs = Vec::new();
    for round in 1..=3 {
        let epoch = round.to_string();
        let start = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args([
                "build",
                &p,
                "--base-layout",
                &l,
                "--cache-dir",
                &c,
                "--offline",
                "-q",
            ])
            .env("SOURCE_DATE_EPOCH", &epoch)
            .output()
            .expect("airlock");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        installs.push(seconds(start));
    }
    let install = median(&mut installs);
    println!(
        "build with a new Python layer, warm store: {:.2} s for {:.1} MB of wheels = {:.1} MB/s",
        install,
        total as f64 / 1e6,
        total as f64 / 1e6 / install
    );

    // The install alone (unzip, RECORD checks, launchers), without the layer's gzip.
    let store = Store::open(&*c).expect("store");
    let target = airlock::python::InstallTarget {
        purelib: "usr/local/lib/python3.12/site-packages".into(),
        platlib: "usr/local/lib/python3.12/site-packages".into(),
        scripts: "usr/local/bin".into(),
        data: "usr/local".into(),
        headers: "usr/local/include/python3.12".into(),
        interpreter: "/usr/local/bin/python3.12".into(),
    };
    let start = Instant::now();
    let mut installed_bytes = 0u64;
    for wheel in wheels {
        let digest: Digest = wheel["sha256"]
            .as_str()
            .expect("sha")
            .parse()
            .expect("digest");
        let bytes = store.read_blob(&digest).expect("wheel in store");
        assert_eq!(Digest::of(&bytes), digest);
        let files = airlock::python::install_wheel(
            &bytes,
            wheel["filename"].as_str().expect("filename"),
            &target,
        )
        .expect("install");
        installed_bytes += files.iter().map(|f| f.contents.len() as u64).sum::<u64>();
    }
    let alone = seconds(start);
    println!(
        "install alone (verify, unzip, RECORD): {:.2} s = {:.0} MB/s of wheels ({:.0} MB installed)",
        alone,
        total as f64 / 1e6 / alone,
        installed_bytes as f64 / 1e6
    );
}
