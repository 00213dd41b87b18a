//! Lock + build of the `apache-airflow==2.10.5` set (its `python-nvd3` only exists as
//! an sdist, built in the sandbox) on the Debian python3 base, cold store and warm
//! store, next to `uv pip compile` + `uv pip install --target` (cold cache and warm)
//! for the same Python version, platform and exclude-newer date, in the same run.
//!
//! Run: `cargo bench --bench sdist`. Needs the network, pip, mmdebstrap (or the
//! cached base under the target directory) and bubblewrap.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "../tests/support/host_python.rs"]
#[allow(dead_code)]
mod host_python;
#[path = "../tests/support/rootfs.rs"]
#[allow(dead_code)]
mod rootfs;

use host_python::{BASE_TAG, debian_python_base, host_index, uv};

const REQUIREMENTS: &str = "apache-airflow==2.10.5\n";
const EXCLUDE_NEWER: &str = "2025-06-01T00:00:00Z";

fn airlock(args: &[&str]) -> Duration {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .output()
        .expect("airlock");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

fn uv_run(uv: &Path, cache: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let out = Command::new(uv)
        .args(args)
        .env("UV_CACHE_DIR", cache)
        .output()
        .expect("uv");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

/// Lock then build the project into a fresh layout with `store`.
fn airlock_lock_build(project: &Path, base: &Path, store: &Path) -> Duration {
    let _ = std::fs::remove_file(project.join("airlock.lock"));
    let project_s = project.to_string_lossy().into_owned();
    let base_s = base.to_string_lossy().into_owned();
    let store_s = store.to_string_lossy().into_owned();
    let common = ["--base-layout", &base_s, "--cache-dir", &store_s];
    let mut lock = vec!["lock", project_s.as_str()];
    lock.extend(common);
    let mut build = vec!["build", project_s.as_str(), "--locked"];
    build.extend(common);
    airlock(&lock) + airlock(&build)
}

/// `uv pip compile` then `uv pip install --target` of the result.
fn uv_compile_install(uv: &Path, index: &str, cache: &Path, work: &Path) -> Duration {
    let input = work.join("requirements.in");
    let output = work.join("requirements.txt");
    let target = work.join("target");
    let _ = std::fs::remove_dir_all(&target);
    std::fs::write(&input, REQUIREMENTS).expect("write");
    let platform = [
        "--python-version",
        "3.11",
        "--python-platform",
        "x86_64-manylinux_2_36",
    ];
    let mut compile = vec!["pip", "compile", "--quiet", "--index-url", index];
    compile.extend(["--exclude-newer", EXCLUDE_NEWER]);
    compile.extend(platform);
    let (input_s, output_s, target_s) = (
        input.to_string_lossy().into_owned(),
        output.to_string_lossy().into_owned(),
        target.to_string_lossy().into_owned(),
    );
    compile.extend([input_s.as_str(), "-o", output_s.as_str()]);
    let mut install = vec!["pip", "install", "--quiet", "--index-url", index];
    install.extend(platform);
    install.extend(["--target", target_s.as_str(), "-r", output_s.as_str()]);
    uv_run(uv, cache, &compile) + uv_run(uv, cache, &install)
}

fn main() {
    let Some(index) = host_index() else {
        eprintln!("skipping: no pip on this host to tell which package index to use");
        return;
    };
    let Some(base) = debian_python_base() else {
        eprintln!("skipping: no Debian python3 base");
        return;
    };
    let Some(uv) = uv() else { return };
    let work = tempfile::tempdir().expect("tempdir");
    let project = work.path().join("project");
    std::fs::create_dir_all(project.join("dags")).expect("mkdir");
    std::fs::write(
        project.join("Dockerfile"),
        format!("FROM debian-python:{BASE_TAG}\n"),
    )
    .expect("write");
    std::fs::write(project.join("requirements.txt"), REQUIREMENTS).expect("write");
    std::fs::write(
        project.join("airlock.toml"),
        format!("[python]\nindex-url = \"{index}\"\nexclude-newer = \"{EXCLUDE_NEWER}\"\n"),
    )
    .expect("write");
    let store = work.path().join("store");
    let cold = airlock_lock_build(&project, &base, &store);
    let warm = airlock_lock_build(&project, &base, &store);
    let uv_cache = work.path().join("uv-cache");
    let uv_dir = work.path().join("uv");
    std::fs::create_dir_all(&uv_dir).expect("mkdir");
    let uv_cold = uv_compile_install(&uv, &index, &uv_cache, &uv_dir);
    let uv_warm = uv_compile_install(&uv, &index, &uv_cache, &uv_dir);
    println!("sdist/airflow-2.10.5 lock+build  cold {cold:>8.1?}  warm {warm:>8.1?}");
    println!("uv compile+install --target      cold {uv_cold:>8.1?}  warm {uv_warm:>8.1?}");
}
