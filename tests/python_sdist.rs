//! Source distributions made by the tests, served from a local index, built into
//! wheels in the sandbox on a Debian python3 base: with setuptools' legacy backend
//! (no `pyproject.toml`, metadata only known by building) and with flit_core
//! (static `PKG-INFO` 2.2), both backends as real wheels downloaded once from the
//! host's index (cached under the target directory). The same lock built from two
//! empty stores gives the same image; a backend that writes a timestamp is caught
//! on the rebuild. Skipped with a message without the Debian base or the backends.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::host_python::{BASE_TAG, debian_python_base, host_index, locked_pins, reachable};
use support::pyindex::{Form, PyIndex, Served, WheelSpec, sdist_archive};
use support::rootfs::persistent_cache;
use support::{airlock, stderr, stdout};

const BACKENDS: [&str; 3] = ["setuptools==75.8.0", "wheel==0.45.1", "flit_core==3.10.1"];

/// The backend wheels, downloaded once with the host's pip.
fn backend_wheels() -> Option<Vec<PathBuf>> {
    let dir = persistent_cache("sdist-backends");
    let listed = || -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        found.retain(|p| p.extension().is_some_and(|e| e == "whl"));
        found.sort();
        found
    };
    if listed().len() < BACKENDS.len() {
        let index = host_index()?;
        if !reachable(&index) {
            eprintln!("skipping: the package index is unreachable and the backends are not cached");
            return None;
        }
        let ok = Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary",
                ":all:",
            ])
            .args(["--index-url", &index, "-d"])
            .arg(&dir)
            .args(BACKENDS)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipping: cannot download the build backends");
            return None;
        }
    }
    Some(listed())
}

/// A setuptools project without `pyproject.toml` whose dependency is only known to
/// `setup.py` (`PKG-INFO` 2.1: the backend must be asked).
fn legacy_sdist() -> Served {
    let body = sdist_archive(
        "legacy_demo-1.0",
        &[
            (
                "PKG-INFO",
                "Metadata-Version: 2.1\nName: legacy-demo\nVersion: 1.0\n",
            ),
            (
                "setup.py",
                "from setuptools import setup\nsetup(name='legacy-demo', version='1.0', packages=['legacy_demo'], install_requires=['dep-wheel>=1'])\n",
            ),
            ("legacy_demo/__init__.py", "VALUE = 'legacy'\n"),
        ],
    );
    Served::with_body("legacy-demo", "legacy_demo-1.0.tar.gz", body)
}

/// A flit_core project whose `PKG-INFO` (2.2) states its dependencies.
fn flit_sdist() -> Served {
    let body = sdist_archive(
        "flit_demo-2.0",
        &[
            (
                "PKG-INFO",
                "Metadata-Version: 2.2\nName: flit-demo\nVersion: 2.0\nSummary: demo\nRequires-Dist: dep-wheel\n",
            ),
            (
                "pyproject.toml",
                "[build-system]\nrequires = [\"flit_core>=3.2,<4\"]\nbuild-backend = \"flit_core.buildapi\"\n\n[project]\nname = \"flit-demo\"\nversion = \"2.0\"\ndescription = \"demo\"\ndependencies = [\"dep-wheel\"]\n",
            ),
            ("flit_demo/__init__.py", "VALUE = 'flit'\n"),
        ],
    );
    Served::with_body("flit-demo", "flit_demo-2.0.tar.gz", body)
}

/// A backend (a wheel made here) whose wheels carry the time they were built.
fn stamp_backend() -> Served {
    let code = r#"import os, time, zipfile
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "stamp_demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        z.writestr("stamp_demo/__init__.py", "BUILT = %r\n" % time.time_ns())
        z.writestr("stamp_demo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: stamp-demo\nVersion: 1.0\n")
        z.writestr("stamp_demo-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: stamp\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("stamp_demo-1.0.dist-info/RECORD", "")
    return name
"#;
    let spec =
        WheelSpec::pure("stampbackend", "1.0").file("stamp_hooks.py", code.as_bytes(), false);
    Served::wheel(&spec)
}

fn stamp_sdist() -> Served {
    let body = sdist_archive(
        "stamp_demo-1.0",
        &[
            (
                "PKG-INFO",
                "Metadata-Version: 2.2\nName: stamp-demo\nVersion: 1.0\n",
            ),
            (
                "pyproject.toml",
                "[build-system]\nrequires = [\"stampbackend\"]\nbuild-backend = \"stamp_hooks\"\n",
            ),
        ],
    );
    Served::with_body("stamp-demo", "stamp_demo-1.0.tar.gz", body)
}

struct Setup {
    base: PathBuf,
    index: PyIndex,
}

fn setup() -> Option<Setup> {
    let base = debian_python_base()?;
    let mut files: Vec<Served> = Vec::new();
    for wheel in backend_wheels()? {
        let filename = wheel.file_name()?.to_string_lossy().into_owned();
        let project = filename
            .split('-')
            .next()?
            .to_ascii_lowercase()
            .replace('_', "-");
        files.push(Served::with_body(
            &project,
            &filename,
            std::fs::read(&wheel).ok()?,
        ));
    }
    files.push(Served::wheel(&WheelSpec::pure("dep-wheel", "1.0")));
    files.extend([legacy_sdist(), flit_sdist(), stamp_backend(), stamp_sdist()]);
    let index = PyIndex::start(files, Form::Json, None);
    Some(Setup { base, index })
}

/// A project in a fresh directory on the Debian base.
fn project(setup: &Setup, requirements: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("project");
    std::fs::create_dir_all(root.join("dags")).expect("mkdir");
    std::fs::write(
        root.join("Dockerfile"),
        format!("FROM debian-python:{BASE_TAG}\n"),
    )
    .expect("write");
    std::fs::write(root.join("requirements.txt"), requirements).expect("write");
    std::fs::write(root.join("dags/dag.py"), "x = 1\n").expect("write");
    std::fs::write(
        root.join("airlock.toml"),
        format!("[python]\nindex-url = \"{}\"\n", setup.index.url()),
    )
    .expect("write");
    dir
}

fn run(
    setup: &Setup,
    dir: &Path,
    command: &str,
    store: &str,
    extra: &[&str],
) -> std::process::Output {
    let project = dir.join("project").to_string_lossy().into_owned();
    let base = setup.base.to_string_lossy().into_owned();
    let cache = dir.join(store).to_string_lossy().into_owned();
    let mut args = vec![
        command,
        project.as_str(),
        "--base-layout",
        &base,
        "--cache-dir",
        &cache,
    ];
    args.extend_from_slice(extra);
    airlock(&args, dir, &[])
}

fn image_digest(output: &std::process::Output) -> String {
    let json: serde_json::Value = serde_json::from_str(&stdout(output)).expect("json");
    json["manifest_digest"]
        .as_str()
        .unwrap_or_else(|| panic!("no digest in {json}"))
        .to_string()
}

#[test]
fn sdists_build_into_wheels_reproducibly_from_two_empty_stores() {
    let Some(setup) = setup() else { return };
    let dir = project(&setup, "legacy-demo\nflit-demo\n");
    let lock = run(&setup, dir.path(), "lock", "store-a", &[]);
    assert!(lock.status.success(), "{}", stderr(&lock));
    let text = std::fs::read_to_string(dir.path().join("project/airlock.lock")).expect("lock");
    assert_eq!(
        locked_pins(&text),
        ["dep-wheel==1.0", "flit-demo==2.0", "legacy-demo==1.0"],
        "{text}"
    );
    let parsed: toml::Value = toml::from_str(&text).expect("toml");
    let wheels = parsed["wheels"].as_array().expect("wheels");
    let flit = wheels
        .iter()
        .find(|w| w["name"].as_str() == Some("flit-demo"))
        .expect("flit");
    assert!(
        flit["filename"]
            .as_str()
            .is_some_and(|f| f.starts_with("flit_demo-2.0-") && f.ends_with("-none-any.whl")),
        "{flit}"
    );
    assert_eq!(
        flit["sdist"]["filename"].as_str(),
        Some("flit_demo-2.0.tar.gz")
    );
    assert_eq!(
        flit["sdist"]["backend"].as_str(),
        Some("flit_core.buildapi")
    );
    assert!(
        flit["sdist"]["build-key"]
            .as_str()
            .is_some_and(|k| k.starts_with("sha256:"))
    );
    assert_eq!(
        flit["sdist"]["build-requires"][0]["name"].as_str(),
        Some("flit-core")
    );
    let legacy = wheels
        .iter()
        .find(|w| w["name"].as_str() == Some("legacy-demo"))
        .expect("legacy");
    assert_eq!(
        legacy["sdist"]["backend"].as_str(),
        Some("setuptools.build_meta:__legacy__")
    );
    assert_eq!(legacy["dependencies"][0].as_str(), Some("dep-wheel"));

    // Two empty stores, the same lock: the same image.
    let layout = dir.path().join("oci");
    let spec = format!("oci:{}:latest", layout.display());
    let first = run(
        &setup,
        dir.path(),
        "build",
        "store-b",
        &["--locked", "--json", "--output", &spec],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let second = run(
        &setup,
        dir.path(),
        "build",
        "store-c",
        &["--locked", "--json"],
    );
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(image_digest(&first), image_digest(&second));
    // The store the lock was made with has the wheels already (warm).
    let warm = run(
        &setup,
        dir.path(),
        "build",
        "store-a",
        &["--locked", "--json"],
    );
    assert!(warm.status.success(), "{}", stderr(&warm));
    assert_eq!(image_digest(&first), image_digest(&warm));

    // The packages import in the image, under bubblewrap, offline.
    let bundle = dir.path().join("bundle");
    let unpack = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:latest", layout.display()))
        .arg(&bundle)
        .output();
    let Ok(unpack) = unpack else {
        eprintln!("skipping the import check: umoci is not installed");
        return;
    };
    assert!(
        unpack.status.success(),
        "{}",
        String::from_utf8_lossy(&unpack.stderr)
    );
    let imports = Command::new("bwrap")
        .arg("--bind")
        .arg(bundle.join("rootfs"))
        .args([
            "/",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            "--unshare-net",
        ])
        .args([
            "/usr/bin/python3",
            "-c",
            "import legacy_demo, flit_demo, dep_wheel; print(legacy_demo.VALUE, flit_demo.VALUE)",
        ])
        .output()
        .expect("bwrap");
    assert!(
        imports.status.success(),
        "{}",
        String::from_utf8_lossy(&imports.stderr)
    );
    assert_eq!(stdout(&imports).trim(), "legacy flit");
}

#[test]
fn a_build_that_is_not_reproducible_is_named() {
    let Some(setup) = setup() else { return };
    let dir = project(&setup, "stamp-demo\n");
    let lock = run(&setup, dir.path(), "lock", "store-a", &[]);
    assert!(lock.status.success(), "{}", stderr(&lock));
    // `--frozen` never reaches the network, so an empty store cannot build.
    let frozen = run(&setup, dir.path(), "build", "store-b", &["--frozen"]);
    assert!(!frozen.status.success());
    assert!(
        stderr(&frozen).contains("`--offline` forbids downloading"),
        "{}",
        stderr(&frozen)
    );
    let build = run(&setup, dir.path(), "build", "store-b", &["--locked"]);
    assert!(!build.status.success());
    let err = stderr(&build);
    assert!(
        err.contains("The build of `stamp-demo` 1.0 is not reproducible"),
        "{err}"
    );
    assert!(err.contains("--find-links"), "{err}");
}

#[test]
fn only_binary_and_no_build_refuse_sdists() {
    let Some(setup) = setup() else { return };
    let dir = project(&setup, "--only-binary :all:\nlegacy-demo\n");
    let lock = run(&setup, dir.path(), "lock", "store-a", &[]);
    assert!(!lock.status.success());
    assert!(
        stderr(&lock).contains("No compatible wheel"),
        "{}",
        stderr(&lock)
    );
    let dir = project(&setup, "legacy-demo\n");
    let toml = dir.path().join("project/airlock.toml");
    let text = std::fs::read_to_string(&toml).expect("read");
    std::fs::write(
        &toml,
        text.replace("[python]\n", "[python]\nno-build = true\n"),
    )
    .expect("write");
    let lock = run(&setup, dir.path(), "lock", "store-a", &[]);
    assert!(!lock.status.success());
    assert!(
        stderr(&lock).contains("No compatible wheel"),
        "{}",
        stderr(&lock)
    );
}

/// A build sees the Debian layer below it: a header a `packages.txt` package brings
/// (from a local signed archive) is there when `setup.py` runs.
#[test]
fn a_build_runs_on_the_debian_layer_below() {
    use support::debian::{Item, TestArchive, TestPackage, public_keyring};
    let Some(setup) = setup() else { return };
    let archive = TestArchive::new(
        "bookworm",
        &[TestPackage::new("airlock-probe-dev", "1.0")
            .item(Item::Dir("./usr/include/"))
            .item(Item::File(
                "./usr/include/airlock_probe.h",
                0o644,
                b"#define PROBE 1\n".to_vec(),
            ))],
    );
    let body = sdist_archive(
        "probe_demo-1.0",
        &[
            (
                "PKG-INFO",
                "Metadata-Version: 2.1\nName: probe-demo\nVersion: 1.0\n",
            ),
            (
                "setup.py",
                "import os\nfrom setuptools import setup\nassert os.path.exists('/usr/include/airlock_probe.h'), 'the Debian layer is not below the build'\nsetup(name='probe-demo', version='1.0', py_modules=['probe_demo'])\n",
            ),
            ("probe_demo.py", "OK = True\n"),
        ],
    );
    let mut files = Vec::new();
    for wheel in backend_wheels().unwrap_or_default() {
        let filename = wheel
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let project = filename
            .split('-')
            .next()
            .expect("project")
            .to_ascii_lowercase()
            .replace('_', "-");
        files.push(Served::with_body(
            &project,
            &filename,
            std::fs::read(&wheel).expect("read"),
        ));
    }
    files.push(Served::with_body(
        "probe-demo",
        "probe_demo-1.0.tar.gz",
        body,
    ));
    setup.index.set_files(files);
    let dir = project(&setup, "probe-demo\n");
    let root = dir.path().join("project");
    std::fs::write(root.join("packages.txt"), "airlock-probe-dev\n").expect("write");
    std::fs::write(root.join("archive.gpg"), public_keyring(&archive.key)).expect("write");
    let toml = root.join("airlock.toml");
    let text = std::fs::read_to_string(&toml).expect("read");
    std::fs::write(
        &toml,
        format!(
            "{text}\n[debian]\nrelease = \"bookworm\"\n\n[[debian.repositories]]\nuri = \"{}\"\nkey = \"archive.gpg\"\n",
            archive.uri()
        ),
    )
    .expect("write");
    let build = run(&setup, dir.path(), "build", "store-a", &[]);
    assert!(build.status.success(), "{}", stderr(&build));
    let lock = std::fs::read_to_string(root.join("airlock.lock")).expect("lock");
    assert!(
        locked_pins(&lock).contains(&"probe-demo==1.0".to_string()),
        "{lock}"
    );
}
