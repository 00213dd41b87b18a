//! Against the real package index, found at run time the way pip finds it (never
//! named in this repository): lock and build a project with a provider package and
//! numpy on a Debian base with a real CPython (made by mmdebstrap), run imports and a
//! console script inside the unpacked image with bubblewrap, and compare locks with
//! `uv pip compile`.
//!
//! Everything fetched is cached under the target directory, so a rerun needs no
//! network. Without the network (and no cache), the tests are skipped with a message.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::host_python::{
    BASE_TAG, compiled_pins, debian_python_base, host_index, locked_pins, reachable, uv,
};
use support::rootfs::persistent_cache;
use support::{airlock, stderr, stdout};

/// Files uploaded after this are ignored, on both sides, so results stay put.
const EXCLUDE_NEWER: &str = "2025-06-01T00:00:00Z";

struct Real {
    index: String,
    base: PathBuf,
    cache: PathBuf,
}

/// The index and the base, or `None` with a message saying why the test is skipped.
fn setup() -> Option<Real> {
    let Some(index) = host_index() else {
        eprintln!("skipping: no pip on this host to tell which package index to use");
        return None;
    };
    let cache = persistent_cache("python-real").join("store");
    if !reachable(&index) && !cache.join("layers").is_dir() {
        eprintln!("skipping: the package index is unreachable and nothing is cached");
        return None;
    }
    let base = debian_python_base()?;
    Some(Real { index, base, cache })
}

/// A project (kept between runs, so its lock is too) requiring `requirements`.
fn project(name: &str, real: &Real, requirements: &str) -> PathBuf {
    let dir = persistent_cache("python-real").join(name);
    std::fs::create_dir_all(dir.join("dags")).expect("mkdir");
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM debian-python:{BASE_TAG}\n"),
    )
    .expect("write");
    std::fs::write(dir.join("requirements.txt"), requirements).expect("write");
    std::fs::write(dir.join("dags/dag.py"), "x = 1\n").expect("write");
    std::fs::write(
        dir.join("airlock.toml"),
        format!(
            "[python]\nindex-url = \"{}\"\nexclude-newer = \"{EXCLUDE_NEWER}\"\n",
            real.index
        ),
    )
    .expect("write");
    dir
}

fn run(real: &Real, command: &str, extra: &[&str], project: &Path) -> std::process::Output {
    let dir = project.to_string_lossy().into_owned();
    let base = real.base.to_string_lossy().into_owned();
    let cache = real.cache.to_string_lossy().into_owned();
    let mut args = vec![
        command,
        dir.as_str(),
        "--base-layout",
        &base,
        "--cache-dir",
        &cache,
    ];
    args.extend_from_slice(extra);
    airlock(&args, project, &[])
}

fn pins(project: &Path) -> Vec<String> {
    locked_pins(&std::fs::read_to_string(project.join("airlock.lock")).expect("lock"))
}

#[test]
fn real_index_build_runs_in_the_image() {
    let Some(real) = setup() else { return };
    let dir = project("e2e", &real, "apache-airflow-providers-http\nnumpy\n");
    let out = persistent_cache("python-real").join("e2e-oci");
    let output_spec = format!("oci:{}:latest", out.display());
    let build = run(&real, "build", &["--output", &output_spec], &dir);
    assert!(build.status.success(), "{}", stderr(&build));
    let locked = pins(&dir);
    assert!(
        locked.iter().any(|p| p.starts_with("numpy==")),
        "{locked:?}"
    );
    assert!(locked.len() > 50, "{locked:?}");

    // Unpack the image as a container runtime would, then run inside it, offline.
    let bundle = tempfile::tempdir().expect("tempdir");
    let rootfs_parent = bundle.path().join("bundle");
    let unpack = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:latest", out.display()))
        .arg(&rootfs_parent)
        .output();
    let Ok(unpack) = unpack else {
        eprintln!("skipping the run inside the image: umoci is not installed");
        return;
    };
    assert!(
        unpack.status.success(),
        "{}",
        String::from_utf8_lossy(&unpack.stderr)
    );
    let rootfs = rootfs_parent.join("rootfs");
    let inside = |args: &[&str]| {
        Command::new("bwrap")
            .arg("--bind")
            .arg(&rootfs)
            .args(["/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"])
            .args(["--unshare-net", "--setenv", "AIRFLOW_HOME", "/tmp/airflow"])
            .args(["--setenv", "HOME", "/tmp"])
            .args(args)
            .output()
            .expect("run bwrap")
    };
    let imports = inside(&[
        "/usr/bin/python3",
        "-c",
        "import numpy, airflow.providers.http; print('ok', numpy.__version__)",
    ]);
    assert!(
        imports.status.success(),
        "{}{}",
        stdout(&imports),
        stderr(&imports)
    );
    assert!(stdout(&imports).starts_with("ok "), "{}", stdout(&imports));
    // A console script the layer installed, with its rewritten shebang.
    let script = inside(&["/usr/local/bin/f2py", "-v"]);
    assert!(
        script.status.success(),
        "{}{}",
        stdout(&script),
        stderr(&script)
    );
    let version = locked
        .iter()
        .find_map(|p| p.strip_prefix("numpy=="))
        .unwrap_or_default();
    assert!(
        stdout(&script).trim().starts_with(version),
        "{}",
        stdout(&script)
    );

    // Same lock, same image: the rebuild reuses the layer, with no network.
    let again = run(
        &real,
        "build",
        &["--frozen", "--output", &output_spec],
        &dir,
    );
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(stdout(&again), stdout(&build));
}

/// `uv pip compile` for CPython 3.11 on manylinux 2.36 x86_64 (the Debian base).
fn uv_compile(uv: &Path, index: &str, requirements: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("requirements.in");
    std::fs::write(&file, requirements).expect("write");
    let out = Command::new(uv)
        .args(["pip", "compile", "--quiet", "--no-header", "--no-annotate"])
        .args([
            "--python-version",
            "3.11",
            "--python-platform",
            "x86_64-manylinux_2_36",
        ])
        .args(["--index-url", index, "--exclude-newer", EXCLUDE_NEWER])
        .arg(&file)
        .env(
            "UV_CACHE_DIR",
            persistent_cache("python-real").join("uv-cache"),
        )
        .env("UV_PYTHON_DOWNLOADS", "never")
        .output()
        .expect("uv runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    compiled_pins(&out.stdout)
}

#[test]
fn locks_agree_with_uv() {
    let Some(real) = setup() else { return };
    if !reachable(&real.index) {
        eprintln!("skipping: the package index is unreachable");
        return;
    }
    let Some(uv) = uv() else { return };
    let sets = [
        ("uv-requests-pandas", "requests\npandas\n"),
        ("uv-provider", "apache-airflow-providers-http\n"),
        ("uv-web", "fastapi[standard]\nsqlalchemy<2\nboto3\n"),
    ];
    for (name, requirements) in sets {
        let dir = project(name, &real, requirements);
        let lock = run(&real, "lock", &[], &dir);
        assert!(lock.status.success(), "{name}: {}", stderr(&lock));
        let ours = pins(&dir);
        let theirs = uv_compile(&uv, &real.index, requirements);
        let only_ours: Vec<&String> = ours.iter().filter(|p| !theirs.contains(p)).collect();
        let only_uv: Vec<&String> = theirs.iter().filter(|p| !ours.contains(p)).collect();
        assert_eq!(
            ours, theirs,
            "{name}: only airlock {only_ours:?}, only uv {only_uv:?}"
        );
    }
}
