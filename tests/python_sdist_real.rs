//! Against the real package index (found at run time the way pip finds it, never
//! named here): requirement sets that need sdists (`docopt`, and
//! `apache-airflow==2.10.5`, which needs `python-nvd3`) on the Debian python3 base
//! lock to the same `name==version` set as `uv pip compile` with the same
//! exclude-newer date, build (the sdists in the sandbox), and import in the image
//! under bubblewrap. Downloads are cached under the target directory; without the
//! network (and no cache) the test is skipped with a message.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::host_python::{
    BASE_TAG, compiled_pins, debian_python_base, host_index, locked_pins, reachable, uv,
};
use support::rootfs::persistent_cache;
use support::{airlock, stderr, stdout};

const EXCLUDE_NEWER: &str = "2025-06-01T00:00:00Z";
const CACHE: &str = "python-sdist-real";

fn project(name: &str, index: &str, requirements: &str) -> PathBuf {
    let dir = persistent_cache(CACHE).join(name);
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
        format!("[python]\nindex-url = \"{index}\"\nexclude-newer = \"{EXCLUDE_NEWER}\"\n"),
    )
    .expect("write");
    dir
}

fn run(base: &Path, command: &str, extra: &[&str], project: &Path) -> std::process::Output {
    let dir = project.to_string_lossy().into_owned();
    let base = base.to_string_lossy().into_owned();
    let cache = persistent_cache(CACHE)
        .join("store")
        .to_string_lossy()
        .into_owned();
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
        .env("UV_CACHE_DIR", persistent_cache(CACHE).join("uv-cache"))
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
fn sdist_sets_lock_like_uv_build_and_import() {
    let Some(index) = host_index() else {
        eprintln!("skipping: no pip on this host to tell which package index to use");
        return;
    };
    if !reachable(&index) {
        eprintln!("skipping: the package index is unreachable");
        return;
    }
    let Some(base) = debian_python_base() else {
        return;
    };
    let Some(uv) = uv() else { return };
    let sets = [
        (
            "docopt",
            "docopt\n",
            "import docopt; print(docopt.__version__)",
        ),
        (
            "airflow",
            "apache-airflow==2.10.5\n",
            "import airflow, nvd3; print(airflow.__version__)",
        ),
    ];
    for (name, requirements, import) in sets {
        let dir = project(name, &index, requirements);
        let lock = run(&base, "lock", &[], &dir);
        assert!(lock.status.success(), "{name}: {}", stderr(&lock));
        let text = std::fs::read_to_string(dir.join("airlock.lock")).expect("lock");
        let ours = locked_pins(&text);
        let theirs = uv_compile(&uv, &index, requirements);
        let only_ours: Vec<&String> = ours.iter().filter(|p| !theirs.contains(p)).collect();
        let only_uv: Vec<&String> = theirs.iter().filter(|p| !ours.contains(p)).collect();
        assert_eq!(
            ours, theirs,
            "{name}: only airlock {only_ours:?}, only uv {only_uv:?}"
        );
        assert!(
            text.contains("[wheels.sdist]"),
            "{name}: no sdist in the lock"
        );

        let out = persistent_cache(CACHE).join(format!("{name}-oci"));
        let spec = format!("oci:{}:latest", out.display());
        let build = run(&base, "build", &["--locked", "--output", &spec], &dir);
        assert!(build.status.success(), "{name}: {}", stderr(&build));
        let bundle = tempfile::tempdir().expect("tempdir");
        let rootfs_parent = bundle.path().join("bundle");
        let Ok(unpack) = Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:latest", out.display()))
            .arg(&rootfs_parent)
            .output()
        else {
            eprintln!("skipping the import check: umoci is not installed");
            continue;
        };
        assert!(
            unpack.status.success(),
            "{}",
            String::from_utf8_lossy(&unpack.stderr)
        );
        let imports = Command::new("bwrap")
            .arg("--bind")
            .arg(rootfs_parent.join("rootfs"))
            .args(["/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"])
            .args(["--unshare-net", "--setenv", "AIRFLOW_HOME", "/tmp/airflow"])
            .args(["--setenv", "HOME", "/tmp"])
            .args(["/usr/bin/python3", "-c", import])
            .output()
            .expect("run bwrap");
        assert!(
            imports.status.success(),
            "{name}: {}{}",
            stdout(&imports),
            stderr(&imports)
        );
    }
}
