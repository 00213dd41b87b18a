//! The store for fleets and air gaps (#16): `airlock fetch`, `cache export` /
//! `cache import` carried into a network namespace with no interfaces, `cache gc`
//! with kept locks and with a build running, `cache info`. Offline fixtures: a base
//! made in code (in a layout, or pushed to a registry started on 127.0.0.1) and
//! wheels served by a simple-API index on 127.0.0.1.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::pyindex::{Form, PyIndex, Served, WheelSpec};
use support::registry::Registry;
use support::{BaseSpec, airlock, copy_tree, stderr, stdout, write_base};

const DPKG_STATUS: &str = "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u4\n";

fn index() -> PyIndex {
    PyIndex::start(
        vec![
            Served::wheel(&WheelSpec::pure("alpha", "1.0").requires("beta>=1.0").file(
                "alpha/cli.py",
                b"print('alpha')\n",
                false,
            )),
            Served::wheel(&WheelSpec::pure("beta", "2.0").file("beta/x.py", b"x = 2\n", false)),
            Served::wheel(&WheelSpec::pure("gamma", "3.0").file(
                "gamma/big.py",
                &[b'#'; 200_000],
                false,
            )),
        ],
        Form::Json,
        None,
    )
}

fn base_layout(dir: &Path) -> PathBuf {
    let layout = dir.join("base");
    write_base(
        &layout,
        &BaseSpec {
            extra_files: vec![("var/lib/dpkg/status".into(), DPKG_STATUS.into())],
            ..BaseSpec::default()
        },
    );
    layout
}

/// A project `FROM from` asking for `requirements`; `example/runtime` maps to the
/// base layout beside it (`[base.layouts]`), so every command finds the base.
fn project(dir: &Path, name: &str, from: &str, requirements: &str) -> PathBuf {
    let project = dir.join(name);
    std::fs::create_dir_all(project.join("dags")).expect("mkdir");
    if from.starts_with("example/runtime") {
        std::fs::write(
            project.join("airlock.toml"),
            format!(
                "[base.layouts]\n\"example/runtime\" = \"{}\"\n",
                dir.join("base").display()
            ),
        )
        .expect("write");
    }
    std::fs::write(project.join("Dockerfile"), format!("FROM {from}\n")).expect("write");
    std::fs::write(project.join("requirements.txt"), requirements).expect("write");
    std::fs::write(project.join("dags/dag.py"), format!("NAME = {name:?}\n")).expect("write");
    project
}

fn s(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

fn json(output: Output) -> Value {
    serde_json::from_str(&ok(output)).expect("json")
}

/// `airlock ARGS --cache-dir STORE` with the index in `PIP_INDEX_URL`.
fn run(dir: &Path, store: &Path, index: &str, args: &[&str]) -> Output {
    let store = s(store);
    let mut all = args.to_vec();
    all.extend(["--cache-dir", &store]);
    airlock(&all, dir, &[("PIP_INDEX_URL", index)])
}

fn layer<'a>(result: &'a Value, kind: &str) -> &'a Value {
    result["layers"]
        .as_array()
        .and_then(|layers| layers.iter().find(|l| l["kind"] == kind))
        .unwrap_or_else(|| panic!("no {kind} layer in {result}"))
}

/// `unshare -n` (a network namespace without interfaces) works here.
fn unshare_works() -> bool {
    Command::new("unshare")
        .args(["-n", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The airlock binary inside a new network namespace.
fn offline_airlock(args: &[&str], cwd: &Path) -> Output {
    Command::new("unshare")
        .arg("-n")
        .arg(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .output()
        .expect("run unshare")
}

#[test]
fn item2_fetch_brings_what_a_frozen_build_needs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = index();
    base_layout(dir.path());
    let project = project(dir.path(), "p", "example/runtime:3.0-1", "alpha\n");
    let p = s(&project);
    let built = json(run(
        dir.path(),
        &dir.path().join("s1"),
        &index.url(),
        &["build", &p, "--json"],
    ));

    // A fresh store: fetch, then the index goes away and a frozen build works.
    let fresh = dir.path().join("s2");
    let summary = json(run(
        dir.path(),
        &fresh,
        &index.url(),
        &["fetch", &p, "--json"],
    ));
    assert_eq!(summary["wheels"], 2, "{summary}");
    assert_eq!(summary["layers_present"], 0, "{summary}");
    assert!(summary["layers_to_build"].as_u64() >= Some(1), "{summary}");
    let url = index.url();
    drop(index);
    let frozen = json(run(
        dir.path(),
        &fresh,
        &url,
        &["build", &p, "--frozen", "--json"],
    ));
    assert_eq!(frozen["manifest_digest"], built["manifest_digest"]);
}

#[test]
fn item2_fetch_refuses_a_stale_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = index();
    base_layout(dir.path());
    let project = project(dir.path(), "p", "example/runtime:3.0-1", "alpha\n");
    let p = s(&project);
    let store = dir.path().join("s");
    ok(run(dir.path(), &store, &index.url(), &["lock", &p]));
    std::fs::write(project.join("requirements.txt"), "gamma\n").expect("write");
    let out = run(dir.path(), &store, &index.url(), &["fetch", &p]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("airlock lock"), "{}", stderr(&out));
}

#[test]
fn item5_air_gap_fetch_export_then_import_and_frozen_build_without_a_network() {
    if !unshare_works() {
        eprintln!("SKIPPED: `unshare -n` is not permitted here (the test needs root)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::plain();
    let index = index();
    let layout = base_layout(dir.path());
    let image = format!("{}/runtime:3.0-1", registry.address());
    let scratch = dir.path().join("push-store");
    ok(run(
        dir.path(),
        &scratch,
        &index.url(),
        &[
            "push",
            &image,
            "--from",
            &format!("oci:{}:3.0-1", layout.display()),
        ],
    ));
    let project = project(dir.path(), "p", &image, "alpha\n");
    let p = s(&project);

    // The connected side: a build (its digest is the reference), then fetch into an
    // empty store and export it as one tar; the built store is exported as a directory.
    let built_store = dir.path().join("built");
    let built = json(run(
        dir.path(),
        &built_store,
        &index.url(),
        &["build", &p, "--json"],
    ));
    let fetched = dir.path().join("fetched");
    ok(run(dir.path(), &fetched, &index.url(), &["fetch", &p]));
    let lock = s(&project.join("airlock.lock"));
    let tar = dir.path().join("carry.tar");
    ok(run(
        dir.path(),
        &fetched,
        &index.url(),
        &["cache", "export", &s(&tar), "--lock", &lock],
    ));
    let layout_dir = dir.path().join("carry-dir");
    ok(run(
        dir.path(),
        &built_store,
        &index.url(),
        &["cache", "export", &s(&layout_dir), "--lock", &lock],
    ));
    drop(index);
    drop(registry);

    // The air-gapped side: a copy of the project, an empty store, no network at all.
    for (name, carried, reused) in [("tar", &tar, false), ("dir", &layout_dir, true)] {
        let inside = dir.path().join(format!("inside-{name}"));
        std::fs::create_dir_all(&inside).expect("mkdir");
        copy_tree(&project, &inside.join("p"));
        let _ = std::fs::remove_dir_all(inside.join("p/.airlock"));
        let store = s(&inside.join("store"));
        ok(offline_airlock(
            &["cache", "import", &s(carried), "--cache-dir", &store],
            &inside,
        ));
        let result = json(offline_airlock(
            &["build", "p", "--frozen", "--json", "--cache-dir", &store],
            &inside,
        ));
        assert_eq!(
            result["manifest_digest"], built["manifest_digest"],
            "{name}"
        );
        assert_eq!(
            layer(&result, "python")["reused"],
            reused,
            "{name}: {result}"
        );
    }
}

#[test]
fn item4_gc_with_keep_locks_keeps_what_a_frozen_build_needs_and_shrinks_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = index();
    base_layout(dir.path());

    let store = dir.path().join("store");
    let kept = project(dir.path(), "kept", "example/runtime:3.0-1", "alpha\n");
    let other = project(dir.path(), "other", "example/runtime:3.0-1", "gamma\n");
    let kept_build = json(run(
        dir.path(),
        &store,
        &index.url(),
        &["build", &s(&kept), "--json"],
    ));
    ok(run(
        dir.path(),
        &store,
        &index.url(),
        &["build", &s(&other)],
    ));
    let info = |label: &str| {
        let info = json(run(
            dir.path(),
            &store,
            &index.url(),
            &["cache", "info", "--json"],
        ));
        assert!(
            info["kinds"]["wheel"]["count"].as_u64().is_some(),
            "{label}: {info}"
        );
        info
    };
    let before = info("before");
    assert_eq!(before["kinds"]["wheel"]["count"], 3, "{before}");

    ok(run(
        dir.path(),
        &store,
        &index.url(),
        &[
            "cache",
            "gc",
            "--keep-locks",
            &s(&kept.join("airlock.lock")),
        ],
    ));
    let after = info("after");
    assert!(
        after["total_bytes"].as_u64() < before["total_bytes"].as_u64(),
        "{before}\n{after}"
    );
    assert_eq!(after["kinds"]["wheel"]["count"], 2, "{after}");

    // The kept project still builds frozen, without the index, from its kept layers.
    let url = index.url();
    drop(index);
    let frozen = json(run(
        dir.path(),
        &store,
        &url,
        &["build", &s(&kept), "--frozen", "--json"],
    ));
    assert_eq!(frozen["manifest_digest"], kept_build["manifest_digest"]);
    assert_eq!(layer(&frozen, "python")["reused"], true, "{frozen}");
    // What only the other project needed is gone.
    let gone = run(dir.path(), &store, &url, &["build", &s(&other), "--frozen"]);
    assert_eq!(gone.status.code(), Some(1), "{}", stderr(&gone));
}

#[test]
fn item4_a_build_running_during_gc_succeeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = index();
    base_layout(dir.path());

    let clean_store = dir.path().join("clean");
    let other = project(
        dir.path(),
        "other",
        "example/runtime:3.0-1",
        "alpha\ngamma\n",
    );
    let clean = json(run(
        dir.path(),
        &clean_store,
        &index.url(),
        &["build", &s(&other), "--json"],
    ));
    let store = dir.path().join("store");
    ok(run(
        dir.path(),
        &store,
        &index.url(),
        &["fetch", &s(&other)],
    ));
    let running = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["build", &s(&other), "--json", "--frozen"])
        .args(["--cache-dir", &s(&store)])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn build");
    // gc starts once the build has claimed the store, and keeps nothing by lock:
    // everything the build uses would go, were it not running.
    let claims = store.join("locks");
    let live_claim = || {
        std::fs::read_dir(&claims)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("run-"))
            .any(|e| {
                std::fs::File::open(e.path())
                    .is_ok_and(|f| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)))
            })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline && !live_claim() {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let gc = run(
        dir.path(),
        &store,
        &index.url(),
        &["cache", "gc", "--max-size", "0"],
    );
    let built = running.wait_with_output().expect("build output");
    ok(gc);
    let result: Value = serde_json::from_str(&ok(built)).expect("json");
    assert_eq!(result["manifest_digest"], clean["manifest_digest"]);
}

#[test]
fn item4_gc_without_a_rule_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(
        dir.path(),
        &dir.path().join("s"),
        "http://127.0.0.1:9/",
        &["cache", "gc"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--keep-locks"), "{}", stderr(&out));
}

#[test]
fn item2_fetch_brings_the_locked_debs_and_export_carries_the_debian_layer_whole() {
    use support::debian::{TestArchive, hello_and_libhello, public_keyring, sources_for};
    let archive = TestArchive::new("bookworm", &hello_and_libhello());
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = dir.path().join("debian-base");
    support::debian::write_debian_base(
        &layout,
        &sources_for(&archive),
        &public_keyring(&archive.key),
    );
    let project = dir.path().join("p");
    std::fs::create_dir_all(project.join("dags")).expect("mkdir");
    std::fs::write(project.join("Dockerfile"), "FROM test/debian:bookworm\n").expect("write");
    std::fs::write(project.join("packages.txt"), "hello\n").expect("write");
    std::fs::write(project.join("dags/a.py"), "x = 1\n").expect("write");
    std::fs::write(
        project.join("airlock.toml"),
        format!(
            "[base.layouts]\n\"test/debian\" = \"{}\"\n",
            layout.display()
        ),
    )
    .expect("write");
    let p = s(&project);
    let none = "http://127.0.0.1:9/simple";
    let built_store = dir.path().join("built");
    let built = json(run(
        dir.path(),
        &built_store,
        none,
        &["build", &p, "--json"],
    ));
    let fetched = dir.path().join("fetched");
    let summary = json(run(dir.path(), &fetched, none, &["fetch", &p, "--json"]));
    assert_eq!(summary["debs"], 2, "{summary}");
    let export = dir.path().join("carry");
    ok(run(
        dir.path(),
        &built_store,
        none,
        &[
            "cache",
            "export",
            &s(&export),
            "--lock",
            &s(&project.join("airlock.lock")),
        ],
    ));
    drop(archive);
    let from_fetch = json(run(
        dir.path(),
        &fetched,
        none,
        &["build", &p, "--frozen", "--json"],
    ));
    assert_eq!(from_fetch["manifest_digest"], built["manifest_digest"]);
    let imported = dir.path().join("imported");
    ok(run(
        dir.path(),
        &imported,
        none,
        &["cache", "import", &s(&export)],
    ));
    let from_import = json(run(
        dir.path(),
        &imported,
        none,
        &["build", &p, "--frozen", "--json"],
    ));
    assert_eq!(from_import["manifest_digest"], built["manifest_digest"]);
    // The layer came with its note of skipped maintainer scripts: not made again.
    assert_eq!(
        layer(&from_import, "debian")["reused"],
        true,
        "{from_import}"
    );
    assert_eq!(from_import["skipped_scripts"], built["skipped_scripts"]);
}

#[test]
fn item4_two_collectors_at_once_both_finish() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    ok(run(
        dir.path(),
        &store,
        "http://127.0.0.1:9/",
        &["cache", "info"],
    ));
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(["cache", "gc", "--max-size", "0", "--cache-dir", &s(&store)])
            .env_clear()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn gc")
    };
    let mut children: Vec<_> = (0..4).map(|_| spawn()).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    for child in &mut children {
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                assert!(status.success());
                break;
            }
            if std::time::Instant::now() > deadline {
                for child in &mut children {
                    let _ = child.kill();
                }
                panic!("collectors waited for each other");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[test]
fn item4_gc_plans_a_project_whose_base_comes_from_base_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = index();
    let layout = s(&base_layout(dir.path()));
    let project = project(dir.path(), "p", "example/runtime:3.0-1", "alpha\n");
    // The base is named by the flag only.
    std::fs::remove_file(project.join("airlock.toml")).expect("rm");
    let p = s(&project);
    let store = dir.path().join("store");
    let url = index.url();
    ok(run(
        dir.path(),
        &store,
        &url,
        &["build", &p, "--base-layout", &layout],
    ));
    ok(run(
        dir.path(),
        &store,
        &url,
        &[
            "cache",
            "gc",
            "--keep-locks",
            &s(&project.join("airlock.lock")),
            "--base-layout",
            &layout,
        ],
    ));
    drop(index);
    let frozen = json(run(
        dir.path(),
        &store,
        &url,
        &["build", &p, "--frozen", "--json", "--base-layout", &layout],
    ));
    assert_eq!(layer(&frozen, "python")["reused"], true, "{frozen}");
}
