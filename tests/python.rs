//! `requirements.txt` end to end against a simple-API index served on 127.0.0.1 by
//! the test (JSON and HTML forms) with wheels made in code: lock, build, the layer's
//! contents, reuse, offline builds, credentials, and bad inputs.

use crate::support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;

use support::pyindex::{Form, PyIndex, Served, WheelSpec};
use support::{BaseSpec, airlock, stderr, stdout, write_base};

const DPKG_STATUS: &str = "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u4\n";
const SITE: &str = "usr/local/lib/python3.12/site-packages";

/// A project on the generated Runtime-like base (CPython 3.12 stand-in, glibc 2.36,
/// apache-airflow 3.0.2 installed).
struct Py {
    dir: tempfile::TempDir,
    project: PathBuf,
    cache: PathBuf,
    layout: PathBuf,
    env: Vec<(String, String)>,
}

impl Py {
    fn new(requirements: &str, index: &str) -> Self {
        Self::on_base(requirements, index, BaseSpec::default().onbuild)
    }

    /// On a base with these ONBUILD triggers.
    fn on_base(requirements: &str, index: &str, onbuild: Vec<String>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = dir.path().join("project");
        std::fs::create_dir_all(project.join("dags")).expect("mkdir");
        std::fs::write(project.join("Dockerfile"), "FROM example/runtime:3.0-1\n").expect("write");
        std::fs::write(project.join("requirements.txt"), requirements).expect("write");
        std::fs::write(project.join("dags/dag.py"), "x = 1\n").expect("write");
        let layout = dir.path().join("base");
        write_base(
            &layout,
            &BaseSpec {
                onbuild,
                extra_files: vec![("var/lib/dpkg/status".into(), DPKG_STATUS.into())],
                ..BaseSpec::default()
            },
        );
        Self {
            cache: dir.path().join("cache"),
            dir,
            project,
            layout,
            env: vec![("PIP_INDEX_URL".into(), index.to_string())],
        }
    }

    fn run(&self, command: &str, extra: &[&str]) -> Output {
        let project = self.project.to_string_lossy().into_owned();
        let cache = self.cache.to_string_lossy().into_owned();
        let layout = self.layout.to_string_lossy().into_owned();
        let mut args = vec![command, project.as_str(), "--base-layout", layout.as_str()];
        if !extra.contains(&"--cache-dir") {
            args.extend(["--cache-dir", cache.as_str()]);
        }
        args.extend_from_slice(extra);
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        airlock(&args, self.dir.path(), &env)
    }

    fn requirements(&self, text: &str) {
        std::fs::write(self.project.join("requirements.txt"), text).expect("write");
    }

    fn lock_text(&self) -> String {
        std::fs::read_to_string(self.project.join("airlock.lock")).unwrap_or_default()
    }

    fn lock(&self) -> toml::Value {
        toml::from_str(&self.lock_text()).expect("lock parses")
    }

    /// `name==version` of every locked wheel.
    fn pins(&self) -> Vec<String> {
        support::host_python::locked_pins(&self.lock_text())
    }

    /// Builds with `--json` and returns the parsed result.
    fn build_json(&self, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["--json"];
        args.extend_from_slice(extra);
        let output = self.run("build", &args);
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_str(&stdout(&output)).expect("json")
    }

    fn layer_blob(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.project.join(".airlock/oci/blobs/sha256").join(hex)
    }
}

fn python_layer(result: &serde_json::Value) -> Option<&serde_json::Value> {
    result["layers"]
        .as_array()
        .and_then(|layers| layers.iter().find(|l| l["kind"] == "python"))
}

/// (mode, uid, gid, contents) of every entry of a gzip'd tar layer.
fn read_layer(path: &Path) -> BTreeMap<String, (u32, u64, u64, Vec<u8>)> {
    let file = std::fs::File::open(path).expect("open layer");
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(file));
    let mut out = BTreeMap::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let header = entry.header().clone();
        let mut contents = Vec::new();
        entry.read_to_end(&mut contents).expect("read");
        out.insert(
            path,
            (
                header.mode().expect("mode"),
                header.uid().expect("uid"),
                header.gid().expect("gid"),
                contents,
            ),
        );
    }
    out
}

/// The layer's paths in tar order; asserts that no path appears twice and that a
/// directory the layer holds precedes everything under it.
fn layer_order(path: &Path) -> Vec<String> {
    let file = std::fs::File::open(path).expect("open layer");
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(file));
    let mut order = Vec::new();
    for entry in archive.entries().expect("entries") {
        let entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        order.push(path.trim_end_matches('/').to_string());
    }
    let all: std::collections::BTreeSet<&String> = order.iter().collect();
    assert_eq!(all.len(), order.len(), "a path appears twice: {order:?}");
    let mut seen = std::collections::HashSet::new();
    for path in &order {
        let mut parent = path.as_str();
        while let Some((up, _)) = parent.rsplit_once('/') {
            parent = up;
            let parent = parent.to_string();
            assert!(
                !all.contains(&parent) || seen.contains(&parent),
                "{parent} comes after {path}: {order:?}"
            );
        }
        seen.insert(path.clone());
    }
    order
}

fn alpha() -> WheelSpec {
    WheelSpec::pure("alpha", "1.0")
        .requires("beta>=1.0")
        .requires("gamma; python_version < \"3\"")
        .file("alpha/cli.py", b"def main():\n    print('alpha')\n", false)
        .file(
            "alpha-1.0.data/scripts/alpha-tool",
            b"#!python\nprint('tool')\n",
            true,
        )
        .file(
            "alpha-1.0.data/data/share/alpha/notes.txt",
            b"notes\n",
            false,
        )
        .entry_points("[console_scripts]\nalpha-cli = alpha.cli:main\n")
}

fn beta(version: &str) -> WheelSpec {
    WheelSpec::pure("beta", version)
        .tag("cp312-cp312-manylinux_2_17_x86_64")
        .file("beta/_speed.so", b"\x7fELF not really", true)
}

fn standard_index(form: Form) -> PyIndex {
    PyIndex::start(
        vec![
            Served::wheel(&alpha()),
            Served::wheel(&beta("1.0")),
            Served::wheel(&beta("2.0")).uploaded("2025-03-01T00:00:00Z"),
            // Newer, but only for another platform: never chosen.
            Served::wheel(&beta("3.0").tag("cp312-cp312-macosx_11_0_arm64")),
        ],
        form,
        None,
    )
}

#[test]
fn lock_build_and_install_from_a_json_index() {
    let index = standard_index(Form::Json);
    let py = Py::new("# tools\nalpha  # the app\n", &index.url());
    let output = py.run("lock", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(py.pins(), ["alpha==1.0", "beta==2.0"]);
    let lock = py.lock();
    assert_eq!(lock["python"]["python"].as_str(), Some("3.12.0"));
    assert_eq!(lock["python"]["glibc"].as_str(), Some("2.36"));
    assert_eq!(lock["python"]["site-packages"].as_str(), Some(SITE));
    let beta = &lock["wheels"].as_array().expect("wheels")[1];
    assert_eq!(
        beta["filename"].as_str(),
        Some("beta-2.0-cp312-cp312-manylinux_2_17_x86_64.whl")
    );
    assert!(
        beta["sha256"]
            .as_str()
            .is_some_and(|s| s.starts_with("sha256:"))
    );
    assert!(
        beta["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/files/beta-2.0-cp312-cp312-manylinux_2_17_x86_64.whl"))
    );
    assert_eq!(lock["wheels"][0]["dependencies"][0].as_str(), Some("beta"));
    let locked = py.lock_text();

    let result = py.build_json(&[]);
    assert_eq!(py.lock_text(), locked, "build keeps a fresh lock as is");
    let kinds: Vec<&str> = result["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["base", "base", "base", "python", "project", "dags"]);
    let layer = python_layer(&result).expect("python layer");
    let entries = read_layer(&py.layer_blob(layer["digest"].as_str().expect("digest")));
    let get = |path: &str| {
        entries.get(path).unwrap_or_else(|| {
            panic!(
                "{path} missing from {:?}",
                entries.keys().collect::<Vec<_>>()
            )
        })
    };
    let (mode, uid, gid, init) = get(&format!("{SITE}/alpha/__init__.py"));
    assert_eq!((*mode, *uid, *gid), (0o644, 0, 0));
    assert_eq!(init, b"VERSION = \"1.0\"\n");
    assert_eq!(get(&format!("{SITE}/beta/_speed.so")).0, 0o755);
    let (mode, _, _, launcher) = get("usr/local/bin/alpha-cli");
    assert_eq!(*mode, 0o755);
    let launcher = String::from_utf8_lossy(launcher);
    assert!(
        launcher.starts_with("#!/usr/local/bin/python3.12\n"),
        "{launcher}"
    );
    assert!(launcher.contains("alpha.cli"), "{launcher}");
    let (_, _, _, tool) = get("usr/local/bin/alpha-tool");
    assert_eq!(tool, b"#!/usr/local/bin/python3.12\nprint('tool')\n");
    assert_eq!(get("usr/local/share/alpha/notes.txt").3, b"notes\n");
    assert_eq!(
        get(&format!("{SITE}/alpha-1.0.dist-info/INSTALLER")).3,
        b"airlock\n"
    );
    let record =
        String::from_utf8_lossy(&get(&format!("{SITE}/alpha-1.0.dist-info/RECORD")).3).into_owned();
    assert!(
        record.contains("../../../bin/alpha-cli,sha256="),
        "{record}"
    );
    assert!(
        !entries.keys().any(|p| p.ends_with(".pyc")),
        "no byte-compilation"
    );
    assert!(!entries.contains_key("usr/local/lib/python3.12/site-packages/gamma"));

    // Same lock, same layer: reused from the store without a request to the index.
    let before = index.requests().len();
    let again = py.build_json(&[]);
    let layer_again = python_layer(&again).expect("python layer");
    assert_eq!(layer_again["digest"], layer["digest"]);
    assert_eq!(layer_again["reused"], true);
    assert_eq!(again["manifest_digest"], result["manifest_digest"]);
    assert_eq!(index.requests().len(), before, "{:?}", index.requests());

    // A fresh store rebuilds the same bytes from the locked wheels.
    let fresh = py.dir.path().join("cache2");
    let fresh = fresh.to_string_lossy().into_owned();
    let rebuilt = py.build_json(&["--cache-dir", &fresh]);
    assert_eq!(rebuilt["manifest_digest"], result["manifest_digest"]);

    // Offline and frozen builds need nothing from the network; an offline re-lock
    // resolves from the cached index pages and metadata.
    drop(index);
    let frozen = py.run("build", &["--frozen"]);
    assert!(frozen.status.success(), "{}", stderr(&frozen));
    let relock = py.run("lock", &["--offline", "--upgrade"]);
    assert!(relock.status.success(), "{}", stderr(&relock));
    assert_eq!(py.lock_text(), locked);
    py.requirements("alpha\nsomething-never-seen\n");
    let missing = py.run("lock", &["--offline"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("--offline"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn html_index_gives_the_same_lock_as_json() {
    let json = standard_index(Form::Json);
    let html = standard_index(Form::Html);
    let a = Py::new("alpha\n", &json.url());
    let b = Py::new("alpha\n", &html.url());
    for py in [&a, &b] {
        let output = py.run("lock", &[]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    assert_eq!(a.pins(), b.pins());
    let sha = |py: &Py| {
        py.lock()["wheels"]
            .as_array()
            .expect("wheels")
            .iter()
            .map(|w| (w["sha256"].to_string(), w["size"].to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(sha(&a), sha(&b));
}

#[test]
fn exclude_newer_upgrade_and_locked() {
    let index = standard_index(Form::Json);
    let py = Py::new("alpha\n", &index.url());
    let output = py.run("lock", &["--exclude-newer", "2024-06-01"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(py.pins(), ["alpha==1.0", "beta==1.0"]);
    assert_eq!(
        py.lock()["python"]["exclude-newer"].as_str(),
        Some("2024-06-01")
    );

    // The setting moved to airlock.toml: same lock, nothing to do.
    std::fs::write(
        py.project.join("airlock.toml"),
        "[python]\nexclude-newer = \"2024-06-01\"\n",
    )
    .expect("write");
    let locked = py.run("lock", &["--locked"]);
    assert!(locked.status.success(), "{}", stderr(&locked));

    // Dropping the cut-off keeps the pins (preferences) …
    std::fs::remove_file(py.project.join("airlock.toml")).expect("rm");
    let output = py.run("lock", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(py.pins(), ["alpha==1.0", "beta==1.0"]);
    // … until an upgrade is asked for.
    let output = py.run("lock", &["--upgrade-package", "beta"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(py.pins(), ["alpha==1.0", "beta==2.0"]);

    // A changed requirements file makes `--locked` fail and leaves the lock alone.
    let before = py.lock_text();
    py.requirements("alpha\nbeta<2\n");
    let stale = py.run("build", &["--locked"]);
    assert_eq!(stale.status.code(), Some(1));
    assert!(stderr(&stale).contains("out of date"), "{}", stderr(&stale));
    assert!(
        stderr(&stale).contains("requirements.txt"),
        "{}",
        stderr(&stale)
    );
    assert_eq!(py.lock_text(), before);
    // Without `--locked` the build re-locks.
    let output = py.run("build", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(py.pins(), ["alpha==1.0", "beta==1.0"]);
}

#[test]
fn credentials_work_and_never_show() {
    let secret = "s3cr3t-token";
    let index = PyIndex::start(
        vec![Served::wheel(&alpha()), Served::wheel(&beta("1.0"))],
        Form::Json,
        Some(("user", secret)),
    );
    let py = Py::new("alpha\n", &index.url_with("user", secret));
    let output = py.run("build", &["-vv"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!py.lock_text().contains(secret));
    assert!(!py.lock_text().contains("user@"));
    assert!(!stderr(&output).contains(secret));
    assert!(!stdout(&output).contains(secret));

    // From .netrc, for an index URL without user info.
    let home = py.dir.path().join("home");
    std::fs::create_dir_all(&home).expect("mkdir");
    std::fs::write(
        home.join(".netrc"),
        format!("machine 127.0.0.1 login user password {secret}\n"),
    )
    .expect("write");
    let mut netrc = Py::new("alpha\n", &index.url());
    netrc
        .env
        .push(("HOME".into(), home.to_string_lossy().into_owned()));
    let output = netrc.run("lock", &[]);
    assert!(output.status.success(), "{}", stderr(&output));

    // Wrong credentials: an error that names the index without the secret.
    let bad = Py::new("alpha\n", &index.url_with("user", "wrong-pass"));
    let output = bad.run("lock", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("401"), "{}", stderr(&output));
    assert!(
        !stderr(&output).contains("wrong-pass"),
        "{}",
        stderr(&output)
    );
}

fn assert_fails_cleanly(py: &Py, command: &str, needle: &str) {
    let before = py.lock_text();
    let output = py.run(command, &[]);
    let err = stderr(&output);
    eprintln!("--- {command}:\n{err}");
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains(needle), "expected `{needle}` in:\n{err}");
    assert_eq!(py.lock_text(), before, "the lock must be left untouched");
}

#[test]
fn bad_inputs_are_clear_errors_and_leave_the_lock_alone() {
    let index = standard_index(Form::Json);
    let py = Py::new("alpha\n", &index.url());
    let output = py.run("build", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!py.lock_text().is_empty());

    py.requirements("alpah\n");
    assert_fails_cleanly(&py, "build", "No distribution named `alpah`");
    py.requirements("beta==1.0\nbeta==2.0\n");
    assert_fails_cleanly(&py, "lock", "cannot both hold");
    py.requirements("alpha\nbeta==9.9\n");
    assert_fails_cleanly(&py, "lock", "No solution");
    py.requirements("alpha\nbeta ; python_version >>> \"3\"\n");
    assert_fails_cleanly(&py, "lock", "requirements.txt:2");
    py.requirements("alpha @ http://127.0.0.1/files/alpha-1.0-py3-none-any.whl\n");
    assert_fails_cleanly(&py, "build", "URL requirement");
    py.requirements("-e ./src\n");
    assert_fails_cleanly(&py, "build", "Editable");
    py.requirements("beta>=3\n");
    assert_fails_cleanly(&py, "lock", "No compatible wheel");
    // With an sdist, `--only-binary` still refuses it, as pip does.
    index.set_files(vec![
        Served::wheel(&alpha()),
        Served::wheel(&beta("3.0").tag("cp312-cp312-macosx_11_0_arm64")),
        Served::sdist("beta", "3.0"),
    ]);
    py.requirements("--only-binary :all:\nbeta>=3\n");
    assert_fails_cleanly(&py, "lock", "No compatible wheel");
    py.requirements("apache-airflow<3\n");
    assert_fails_cleanly(&py, "lock", "base image");
}

#[test]
fn hash_mismatch_malicious_and_broken_wheels_are_refused() {
    let mut tampered = Served::wheel(&WheelSpec::pure("gamma", "1.0"));
    tampered.sha256 = "00".repeat(32);
    let mut evil = WheelSpec::pure("evil", "1.0");
    evil.files.push((
        "../../../../etc/cron.d/evil".into(),
        b"* * * * * root true\n".to_vec(),
        false,
    ));
    let mut broken = WheelSpec::pure("broken", "1.0");
    broken.bad_record_for = Some("broken/__init__.py".into());
    let index = PyIndex::start(
        vec![
            Served::wheel(&alpha()),
            Served::wheel(&beta("1.0")),
            tampered,
            Served::wheel(&evil),
            Served::wheel(&broken),
        ],
        Form::Json,
        None,
    );
    let py = Py::new("alpha\n", &index.url());
    let output = py.run("build", &[]);
    assert!(output.status.success(), "{}", stderr(&output));

    py.requirements("gamma\n");
    assert_fails_cleanly(&py, "build", "but the index lists");
    py.requirements("evil\n");
    assert_fails_cleanly(&py, "build", "unsafe path");
    py.requirements("broken\n");
    assert_fails_cleanly(&py, "build", "does not match its RECORD");
}

/// Sweep item 6: at lock time the hash a fetched wheel misses is the index's (no lock
/// is written yet), and the message says so, for JSON (size listed) and HTML indexes.
#[test]
fn sweep6_a_lock_time_hash_mismatch_names_the_index() {
    for form in [Form::Json, Form::Html] {
        let mut tampered = Served::wheel(&WheelSpec::pure("gamma", "1.0"));
        tampered.sha256 = "00".repeat(32);
        let index = PyIndex::start(vec![tampered], form, None);
        let py = Py::new("gamma\n", &index.url());
        for command in ["lock", "build"] {
            let output = py.run(command, &[]);
            let err = stderr(&output);
            assert_eq!(output.status.code(), Some(1), "{err}");
            assert!(err.contains("but the index lists `sha256:0000"), "{err}");
            assert!(!err.contains("airlock.lock pins"), "{err}");
            assert!(py.lock_text().is_empty(), "no lock is written: {err}");
        }
    }
    // From a written lock, the expected hash is the lock's, and the message says so.
    let gamma = WheelSpec::pure("gamma", "1.0");
    let index = PyIndex::start(vec![Served::wheel(&gamma)], Form::Json, None);
    let py = Py::new("gamma\n", &index.url());
    let output = py.run("lock", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    std::fs::remove_dir_all(&py.cache).expect("clear store");
    let mut other = Served::wheel(&gamma.clone().file("gamma/extra.py", b"y = 2\n", false));
    other.filename = Served::wheel(&gamma).filename;
    index.set_files(vec![other]);
    let output = py.run("build", &["--locked"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("but airlock.lock pins"), "{err}");
}

#[test]
fn item12_lock_refuses_wheels_that_install_would_refuse() {
    let cron = b"* * * * * root true\n".to_vec();
    let mut dotdot = WheelSpec::pure("dotdot", "1.0");
    dotdot
        .files
        .push(("../../../../etc/cron.d/evil".into(), cron.clone(), false));
    let mut absolute = WheelSpec::pure("absolute", "1.0");
    absolute
        .files
        .push(("/etc/cron.d/evil".into(), cron.clone(), false));
    let mut linked = WheelSpec::pure("linked", "1.0");
    linked
        .symlinks
        .push(("linked/shadow".into(), "/etc/shadow".into()));
    let index = PyIndex::start(
        vec![
            Served::wheel(&alpha()),
            Served::wheel(&beta("1.0")),
            Served::wheel(&dotdot),
            Served::wheel(&absolute),
            Served::wheel(&linked),
        ],
        Form::Json,
        None,
    );
    let py = Py::new("alpha\n", &index.url());
    let output = py.run("lock", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    for (requirement, wheel, rule) in [
        (
            "dotdot\n",
            "dotdot-1.0-py3-none-any.whl",
            "unsafe path `../../../../etc/cron.d/evil`",
        ),
        (
            "absolute\n",
            "absolute-1.0-py3-none-any.whl",
            "unsafe path `/etc/cron.d/evil`",
        ),
        (
            "linked\n",
            "linked-1.0-py3-none-any.whl",
            "symbolic link `linked/shadow`",
        ),
    ] {
        py.requirements(requirement);
        assert_fails_cleanly(&py, "lock", wheel);
        assert_fails_cleanly(&py, "lock", rule);
    }
}

#[test]
fn item8_credentials_written_into_requirements_are_warned_about_at_lock_time() {
    let secret = "s3cr3t-token";
    let index = PyIndex::start(
        vec![Served::wheel(&alpha()), Served::wheel(&beta("1.0"))],
        Form::Json,
        Some(("user", secret)),
    );
    let written = format!("--index-url {}\nalpha\n", index.url_with("user", secret));
    let py = Py::new(&written, &index.url());
    for command in ["lock", "build"] {
        let output = py.run(command, &[]);
        let err = stderr(&output);
        assert!(output.status.success(), "{err}");
        assert!(err.contains("warning:"), "{command}: {err}");
        assert!(err.contains("requirements.txt:1"), "{command}: {err}");
        assert!(err.contains("${"), "{command}: {err}");
        assert!(err.contains(".netrc"), "{command}: {err}");
        assert!(!err.contains(secret), "{command}: {err}");
    }

    // The same index through `${VAR}`: nothing to warn about.
    let referenced = index.url_with("user", "${INDEX_PASSWORD}");
    let mut py = Py::new(&format!("--index-url {referenced}\nalpha\n"), &index.url());
    py.env.push(("INDEX_PASSWORD".into(), secret.into()));
    let output = py.run("lock", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stderr(&output).contains("warning:"), "{}", stderr(&output));
}

#[test]
fn hashed_requirements_are_used_as_is() {
    let index = standard_index(Form::Json);
    let beta1 = Served::wheel(&beta("1.0"));
    let py = Py::new(
        &format!("beta==1.0 \\\n    --hash=sha256:{}\n", beta1.sha256),
        &index.url(),
    );
    let output = py.run("lock", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(py.pins(), ["beta==1.0"]);
    assert_eq!(
        py.lock()["python"]["hashed-requirements"].as_bool(),
        Some(true)
    );

    py.requirements(&format!("beta==1.0 --hash=sha256:{}\n", "ab".repeat(32)));
    assert_fails_cleanly(&py, "lock", "matches the given `--hash`");
}

#[test]
fn a_wheelhouse_with_no_index() {
    let py = Py::new("", "");
    let wheels = py.project.join("wheels");
    std::fs::create_dir_all(&wheels).expect("mkdir");
    for spec in [alpha(), beta("1.0")] {
        std::fs::write(wheels.join(spec.filename()), spec.build()).expect("write");
    }
    py.requirements("--no-index\n--find-links ./wheels\nalpha\n");
    let result = py.build_json(&[]);
    assert!(python_layer(&result).is_some());
    assert_eq!(py.pins(), ["alpha==1.0", "beta==1.0"]);
    let url = py.lock()["wheels"][0]["url"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(url.starts_with("file://"), "{url}");
}

#[test]
fn no_index_anywhere_says_how_to_set_one() {
    let py = Py::new("alpha\n", "");
    let mut py = py;
    py.env.clear();
    py.env.push(("PIP_CONFIG_FILE".into(), "/dev/null".into()));
    let output = py.run("lock", &[]);
    let err = stderr(&output);
    if err.contains("No Python package index is configured") {
        assert!(err.contains("PIP_INDEX_URL"), "{err}");
        assert!(err.contains("[python]"), "{err}");
    } else {
        // The host's pip configuration names an index: that is found instead.
        eprintln!("skipping: this host's pip configuration names an index");
    }
}

#[test]
fn base_upgrades_need_permission() {
    let airflow = WheelSpec::pure("apache-airflow", "3.0.3");
    let index = PyIndex::start(vec![Served::wheel(&airflow)], Form::Json, None);
    // Without the Runtime's triggers: with them, pinning Airflow is refused outright.
    let py = Py::on_base("apache-airflow==3.0.3\n", &index.url(), Vec::new());
    let output = py.run("lock", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("--allow-base-upgrades"),
        "{}",
        stderr(&output)
    );
    let output = py.run("build", &["--allow-base-upgrades", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("apache-airflow 3.0.2 → 3.0.3"),
        "{}",
        stderr(&output)
    );
    let result: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("json");
    let layer = python_layer(&result).expect("python layer");
    let entries = read_layer(&py.layer_blob(layer["digest"].as_str().expect("digest")));
    assert!(
        entries.contains_key(&format!("{SITE}/.wh.apache_airflow-3.0.2.dist-info")),
        "{:?}",
        entries.keys()
    );
    assert!(entries.contains_key(&format!("{SITE}/apache_airflow-3.0.3.dist-info/METADATA")));
    // The whiteouts and the directories only they need come last, after the new
    // version's files.
    let order = layer_order(&py.layer_blob(layer["digest"].as_str().expect("digest")));
    let at = |path: String| order.iter().position(|p| *p == path).expect("in the layer");
    let metadata = at(format!("{SITE}/apache_airflow-3.0.3.dist-info/METADATA"));
    assert!(at(format!("{SITE}/.wh.apache_airflow-3.0.2.dist-info")) > metadata);
    assert!(at(format!("{SITE}/airflow")) > metadata, "{order:?}");
    assert!(at(format!("{SITE}/airflow/.wh.__init__.py")) > metadata);
}

#[test]
fn init_records_the_host_pips_index() {
    let has_pip = std::process::Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("new");
    let home = std::env::var("HOME").unwrap_or_default();
    let output = airlock(
        &["init", &project.to_string_lossy()],
        dir.path(),
        &[("HOME", home.as_str())],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let settings = std::fs::read_to_string(project.join("airlock.toml")).expect("airlock.toml");
    if has_pip {
        assert!(settings.contains("[python]\n"), "{settings}");
        assert!(settings.contains("index-url = \"http"), "{settings}");
    } else {
        eprintln!("skipping the check: no pip on this host");
        assert!(!settings.contains("[python]"), "{settings}");
    }
    // Whatever it recorded parses as settings.
    let check = airlock(
        &["lock", &project.to_string_lossy(), "--locked"],
        dir.path(),
        &[],
    );
    assert!(!stderr(&check).contains("Invalid `"), "{}", stderr(&check));
}

/// The run records (`segments/<key>.json`) in a store, by file name, with the paths
/// each run holds.
fn run_records(cache: &Path) -> BTreeMap<String, (std::time::SystemTime, Vec<String>)> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(cache.join("segments")) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Records only: notes are `<key>.NAME.json`.
        if name.starts_with('.') || name.matches('.').count() != 1 {
            continue;
        }
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(entry.path()).expect("read")).expect("json");
        let paths = record["paths"]
            .as_array()
            .expect("paths")
            .iter()
            .map(|p| p.as_str().expect("path").to_string())
            .collect();
        let time = entry.metadata().and_then(|m| m.modified()).expect("time");
        out.insert(name, (time, paths));
    }
    out
}

/// `len` bytes deflate cannot shrink, different for each `seed`.
fn noise(mut seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// #15 item 3: the Python layer is one cached run per wheel, each after a small
/// segment of the directories it needs first, the largest wheels first. Adding a
/// (small) requirement to a built lock compresses only the new wheel and its
/// directories, reuses the others' runs untouched, and gives the bytes of a cold
/// build of the same lock in an empty store. A path two wheels install goes to the
/// later one in lock order, with a warning.
#[test]
fn item3_adding_one_wheel_reuses_the_other_wheels_runs() {
    let shared = |name: &str, seed: u64| {
        WheelSpec::pure(name, "1.0")
            .file(
                "shared/common.py",
                format!("FROM = \"{name}\"\n").as_bytes(),
                false,
            )
            .file(&format!("{name}/noise.bin"), &noise(seed, 4000), false)
    };
    let index = PyIndex::start(
        vec![
            Served::wheel(&WheelSpec::pure("apple", "1.0").file(
                "apple/noise.bin",
                &noise(1, 8000),
                false,
            )),
            Served::wheel(&WheelSpec::pure("banana", "1.0").file(
                "banana/data/big.txt",
                &b"banana ".repeat(100_000),
                false,
            )),
            Served::wheel(&shared("cherry", 2)),
            Served::wheel(&shared("damson", 3)),
        ],
        Form::Json,
        None,
    );
    let py = Py::new("apple\ncherry\ndamson\n", &index.url());
    let output = py.run("build", &["--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("the later one wins"),
        "{}",
        stderr(&output)
    );
    let first: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("json");
    let layer = python_layer(&first).expect("python layer");
    let entries = read_layer(&py.layer_blob(layer["digest"].as_str().expect("digest")));
    assert_eq!(
        entries[&format!("{SITE}/shared/common.py")].3,
        b"FROM = \"damson\"\n"
    );
    let before = run_records(&py.cache);
    // Apple's directories and apple, cherry's and cherry (without the shared
    // file), damson's (`damson`, its dist-info and `shared`: the layer's copy of the
    // shared file is damson's) and damson.
    assert_eq!(before.len(), 6, "{before:?}");
    assert!(
        before
            .values()
            .any(|(_, paths)| paths.contains(&format!("{SITE}/shared"))
                && paths.contains(&format!("{SITE}/damson"))
                && !paths.contains(&format!("{SITE}/cherry")))
    );
    assert!(before.values().any(|(_, paths)| {
        paths
            .iter()
            .any(|p| p.starts_with(&format!("{SITE}/cherry")))
            && !paths.contains(&format!("{SITE}/shared/common.py"))
    }));

    py.requirements("apple\nbanana\ncherry\ndamson\n");
    let added = py.build_json(&[]);
    let after = run_records(&py.cache);
    let new: Vec<&Vec<String>> = after
        .iter()
        .filter(|(name, _)| !before.contains_key(*name))
        .map(|(_, (_, paths))| paths)
        .collect();
    // Two new runs: banana's files, and the directories only banana needs.
    assert_eq!(new.len(), 2, "{new:?}");
    assert!(
        new.iter()
            .any(|paths| paths.iter().all(|p| p.contains("/banana"))),
        "{new:?}"
    );
    assert!(
        new.iter()
            .any(|paths| paths.contains(&format!("{SITE}/banana")))
    );
    for (name, (time, _)) in &before {
        assert_eq!(
            after.get(name).map(|(t, _)| t),
            Some(time),
            "{name} was rewritten"
        );
    }

    // Byte for byte the layer of a cold build of the same lock in an empty store.
    let fresh = py.dir.path().join("cold-cache");
    let fresh_arg = fresh.to_string_lossy().into_owned();
    let cold = py.build_json(&["--cache-dir", &fresh_arg]);
    let layer = python_layer(&added).expect("python layer");
    assert_eq!(
        layer["digest"],
        python_layer(&cold).expect("python layer")["digest"]
    );
    assert_eq!(added["manifest_digest"], cold["manifest_digest"]);
    let entries = read_layer(&py.layer_blob(layer["digest"].as_str().expect("digest")));
    assert_eq!(
        entries[&format!("{SITE}/banana/data/big.txt")].3.len(),
        700_000
    );
    // Each wheel's new directories just before its files, the largest wheel first
    // (apple), the smallest last (banana: its big file is one repeated word).
    let order = layer_order(&py.layer_blob(layer["digest"].as_str().expect("digest")));
    let at = |path: &str| {
        order
            .iter()
            .position(|p| p == &format!("{SITE}/{path}"))
            .unwrap_or_else(|| panic!("{path} in {order:?}"))
    };
    assert!(at("apple") < at("apple/__init__.py"));
    assert!(at("apple/__init__.py") < at("cherry"));
    assert!(at("apple/__init__.py") < at("damson"));
    assert!(at("cherry/__init__.py") < at("banana"));
    assert!(at("damson/__init__.py") < at("banana"));
    assert!(at("banana") < at("banana/data/big.txt"));
    assert!(at("damson") < at("shared"));
    assert!(at("shared") < at("damson/__init__.py"));
    assert_eq!(run_records(&fresh).len(), 8);
}

/// Wheels with every kind of installed file: `#!python` and `#!pythonw` scripts, a
/// plain script, data, headers, `.data/purelib` and `.data/platlib`, console and GUI
/// entry points, an executable extension module, a file bigger than one compressed
/// member.
fn every_kind_of_file() -> Vec<WheelSpec> {
    let gamma = WheelSpec::pure("gamma", "2.1")
        .tag("cp312-cp312-manylinux_2_17_x86_64")
        .file("gamma/_core.so", &b"\x7fELF core ".repeat(700_000), true)
        .file("gamma-2.1.data/scripts/gamma-w", b"#!pythonw -E\nimport gamma\n", false)
        .file("gamma-2.1.data/scripts/gamma-sh", b"#!/bin/sh\necho gamma\n", true)
        .file("gamma-2.1.data/scripts/gamma-bare", b"#!python", false)
        .file("gamma-2.1.data/headers/gamma.h", b"int gamma;\n", false)
        .file("gamma-2.1.data/purelib/gamma_pure.py", b"", false)
        .file("gamma-2.1.data/platlib/gamma_plat.so", b"\x7fELF plat", true)
        .file("gamma-2.1.data/data/share/gamma/a b.txt", b"comma\n", false)
        .entry_points(
            "[console_scripts]\ngamma = gamma.cli:main.run [extra]\n\n[gui_scripts]\ngamma-gui=gamma:gui\n",
        );
    vec![alpha(), beta("1.0"), gamma]
}

/// The digest of each wheel's run (`segments/<key>.json` holding its `.dist-info`), by
/// `.dist-info` directory.
fn wheel_runs(cache: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(cache.join("segments"))
        .expect("segments")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.matches('.').count() != 1 {
            continue;
        }
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(entry.path()).expect("read")).expect("json");
        let paths = record["paths"].as_array().expect("paths");
        if let Some(dist_info) = paths
            .iter()
            .filter_map(|p| p.as_str()?.strip_suffix("/RECORD"))
            .find(|p| p.ends_with(".dist-info"))
        {
            let digest = record["digest"].as_str().expect("digest").to_string();
            out.insert(
                dist_info.rsplit('/').next().unwrap_or("").to_string(),
                digest,
            );
        }
    }
    out
}

/// #15 (wheels streamed): each wheel's run keeps the bytes the in-memory install gave
/// (digests taken from the build before wheels were streamed), and the layer holds what
/// `install_wheel` installs, file for file.
#[test]
fn item15_streamed_wheel_runs_keep_their_bytes() {
    let wheels = every_kind_of_file();
    let index = PyIndex::start(wheels.iter().map(Served::wheel).collect(), Form::Json, None);
    let py = Py::new("alpha\ngamma\n", &index.url());
    let result = py.build_json(&[]);
    let runs = wheel_runs(&py.cache);
    let expected: BTreeMap<String, String> = [
        (
            "alpha-1.0.dist-info",
            "sha256:3bf9d8fdef8d507a8728f08d898eeb6fa2fbd16777d32b2293ca2ed9dcc254c6",
        ),
        (
            "beta-1.0.dist-info",
            "sha256:47f5db4c0d210f7e9f18f9d261585a9536c36008d184ea344fb98ca5ea23f1e1",
        ),
        (
            "gamma-2.1.dist-info",
            "sha256:65feeb952e29e6bd6ca728db8cd5f3c38f876b58d02fff0bc61fe5426b1aaf6f",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(runs, expected);
    let layer = python_layer(&result).expect("python layer");
    let entries = read_layer(&py.layer_blob(layer["digest"].as_str().expect("digest")));
    let target = airlock::python::InstallTarget {
        purelib: SITE.into(),
        platlib: SITE.into(),
        scripts: "usr/local/bin".into(),
        data: "usr/local".into(),
        headers: "usr/local/include/python3.12".into(),
        interpreter: "/usr/local/bin/python3.12".into(),
    };
    for wheel in &wheels {
        let files = airlock::python::install_wheel(&wheel.build(), &wheel.filename(), &target)
            .expect("installs");
        for file in files {
            let (mode, uid, gid, contents) = &entries[&file.path];
            assert_eq!((*mode, *uid, *gid), (file.mode, 0, 0), "{}", file.path);
            assert!(*contents == file.contents, "{}", file.path);
        }
    }
}

/// The largest peak resident set of the children this test process has waited for.
fn children_peak_rss() -> u64 {
    // SAFETY: `getrusage` only writes the struct it is given, which is plain data.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; the pointer is to a live, writable `rusage`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024
}

/// #15 (wheels streamed): a wheel's 100 MiB extension module goes into the layer in
/// bounded buffers: the build's peak RSS stays under the file's size (it held the
/// file two or three times over when wheels were installed in memory).
#[test]
fn item15_a_big_file_in_a_wheel_is_streamed_not_held() {
    const BIG: usize = 100 << 20;
    let index = {
        let hefty = WheelSpec::pure("hefty", "1.0")
            .tag("cp312-cp312-manylinux_2_17_x86_64")
            .file("hefty/_big.so", &vec![7u8; BIG], true);
        PyIndex::start(vec![Served::wheel(&hefty)], Form::Json, None)
    };
    let py = Py::new("hefty\n", &index.url());
    // A child spawned with vfork takes its parent's peak at exec: reset this process's
    // (Linux `clear_refs` 5) now that the wheel is made. (nextest runs each test in a
    // process of its own, so no other test's children count.)
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS");
    let result = py.build_json(&[]);
    let peak = children_peak_rss();
    assert!(
        peak < BIG as u64,
        "peak RSS {} MiB for a {} MiB file",
        peak >> 20,
        BIG >> 20
    );
    let layer = python_layer(&result).expect("python layer");
    let entries = read_layer(&py.layer_blob(layer["digest"].as_str().expect("digest")));
    let big = &entries[&format!("{SITE}/hefty/_big.so")];
    assert_eq!((big.0, big.3.len()), (0o755, BIG));
    assert!(big.3.iter().all(|&b| b == 7));
}

/// #15 (wheels streamed): a file whose bytes disagree with RECORD is found while its
/// wheel's segment is written (after 9 MiB of the wheel went to the compressors), and
/// fails the build before the segment's run is committed: no run of that wheel's files
/// is left in the store (the directories' segment is), and the next build fails the
/// same way.
#[test]
fn item15_a_streamed_record_mismatch_commits_no_run() {
    let noise = noise(0x2545_f491_4f6c_dd1d, 9 << 20);
    // `0noise.bin` is written before `__init__.py`, whose RECORD hash is wrong.
    let mut broken = WheelSpec::pure("broken", "1.0").file("broken/0noise.bin", &noise, false);
    broken.bad_record_for = Some("broken/__init__.py".into());
    let index = PyIndex::start(
        vec![
            Served::wheel(&broken),
            Served::wheel(&alpha()),
            Served::wheel(&beta("1.0")),
        ],
        Form::Json,
        None,
    );
    let py = Py::new("alpha\nbroken\n", &index.url());
    for _ in 0..2 {
        let output = py.run("build", &[]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{err}");
        assert!(err.contains("does not match its RECORD hash"), "{err}");
        assert!(err.contains("broken/__init__.py"), "{err}");
        let runs = run_records(&py.cache);
        assert!(
            !runs.values().any(|(_, paths)| paths
                .iter()
                .any(|p| p.contains("/broken/") || p.contains("/broken-1.0.dist-info/"))),
            "{runs:?}"
        );
    }
}

/// The files left in a store's temp directory.
fn store_temp_files(cache: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(cache.join("tmp"))
        .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// coldbase: a cold build from a fresh lock downloads the locked wheels while the
/// base is read (its log says so). A download that then fails is the build's error,
/// worded as before (the wheel named; other bytes than the lock pins, or the
/// index's answer), the lock untouched and no temp file left in the store.
#[test]
fn coldbase_a_download_failing_while_the_base_is_read_is_the_build_error() {
    let index = standard_index(Form::Json);
    let py = Py::new("alpha\n", &index.url());
    let output = py.run("lock", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let locked = py.lock_text();
    let cold = |name: &str| {
        let cache = py.dir.path().join(name);
        let arg = cache.to_string_lossy().into_owned();
        (
            py.run("build", &["--locked", "--cache-dir", &arg, "-vv"]),
            cache,
        )
    };
    let (ok, _) = cold("cold-ok");
    let log = stderr(&ok);
    assert!(ok.status.success(), "{log}");
    assert!(
        log.contains("downloading wheels while the base is read"),
        "{log}"
    );

    // The same file names with other bytes.
    index.set_files(vec![
        Served::wheel(&alpha().file("alpha/more.py", b"x = 2\n", false)),
        Served::wheel(&beta("2.0").file("beta/more.py", b"y = 3\n", false)),
    ]);
    let (bad, cache) = cold("cold-tampered");
    let err = stderr(&bad);
    assert_eq!(bad.status.code(), Some(1), "{err}");
    assert!(
        err.contains("downloading wheels while the base is read"),
        "{err}"
    );
    assert!(err.contains("but airlock.lock pins"), "{err}");
    assert!(
        err.contains("alpha-1.0-py3-none-any.whl")
            || err.contains("beta-2.0-cp312-cp312-manylinux_2_17_x86_64.whl"),
        "{err}"
    );
    assert_eq!(py.lock_text(), locked);
    assert_eq!(store_temp_files(&cache), Vec::<PathBuf>::new());

    // Gone from the index: its answer is the error.
    index.set_files(Vec::new());
    let (gone, cache) = cold("cold-gone");
    let err = stderr(&gone);
    assert_eq!(gone.status.code(), Some(1), "{err}");
    assert!(err.contains("answered HTTP 404"), "{err}");
    assert_eq!(py.lock_text(), locked);
    assert_eq!(store_temp_files(&cache), Vec::<PathBuf>::new());
}

/// coldbase: the base failing to read while the locked wheels download is the
/// build's error (its blob's digest mismatch), not a download's; the downloads are
/// stopped and no temp file is left in the store.
#[test]
fn coldbase_a_base_failing_while_the_wheels_download_is_the_build_error() {
    let index = standard_index(Form::Json);
    let py = Py::new("alpha\n", &index.url());
    let output = py.run("lock", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let locked = py.lock_text();
    // The layout's largest blob (a layer), one byte changed.
    let blobs = py.layout.join("blobs/sha256");
    let biggest = std::fs::read_dir(&blobs)
        .expect("blobs")
        .filter_map(|e| e.ok())
        .max_by_key(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .expect("a blob")
        .path();
    let mut bytes = std::fs::read(&biggest).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&biggest, &bytes).expect("tamper");
    let cache = py.dir.path().join("cold");
    let arg = cache.to_string_lossy().into_owned();
    let output = py.run("build", &["--locked", "--cache-dir", &arg, "-vv"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("downloading wheels while the base is read"),
        "{err}"
    );
    let hex = biggest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cause = err
        .lines()
        .find(|l| l.contains("does not match its digest"))
        .unwrap_or("");
    assert!(cause.contains(&hex), "{err}");
    assert!(!err.contains("airlock.lock pins"), "{err}");
    assert_eq!(py.lock_text(), locked);
    assert_eq!(store_temp_files(&cache), Vec::<PathBuf>::new());
}
