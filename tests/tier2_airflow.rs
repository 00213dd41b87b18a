//! Tier 2 with a real Airflow: `airlock parse --full` loads the DAGs with Airflow's
//! `DagBag` inside the built image, sandboxed. The base is Debian's python3 (made once
//! by `mmdebstrap`); `apache-airflow` 3.x comes from locked wheels on the index the
//! host's pip uses (found at run time). Everything is cached between runs.
//!
//! The Astro-template test builds a Runtime-like base from that: Airflow and pytest
//! installed, an `astro` user, `AIRFLOW_HOME` as `WORKDIR`, and the Runtime's ONBUILD
//! triggers in their inline form; then runs a project shaped like `astro dev init`'s.

use crate::support;

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use airlock::digest::Digest;
use airlock::layer::{Entry, EntryKind, FileSource, FileTree, Owner, build_layer};
use airlock::oci::{DescriptorExt as _, descriptor, media_types, select_image, write_layout};
use airlock::store::Store;
use serde_json::Value;
use support::host_python::{BASE_TAG, debian_python_base, host_index, reachable};
use support::registry::Registry;
use support::rootfs::{FileLock, debian_rootfs, persistent_cache};
use support::{ASTRO_INLINE_TRIGGERS, ASTRO_UID, airlock, stderr, stdout};

/// Uploads after this time are ignored, so the lock does not move with the index.
const EXCLUDE_NEWER: &str = "2025-07-01T00:00:00Z";

const GOOD_DAG: &str = r#"from datetime import datetime
from airflow.sdk import dag, task

@dag(schedule=None, start_date=datetime(2025, 1, 1), tags=["good"])
def good():
    @task
    def hello():
        return 1
    hello()

good()
"#;

const CYCLE_DAG: &str = r#"from datetime import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG("cycle", schedule=None, start_date=datetime(2025, 1, 1)):
    a = EmptyOperator(task_id="a")
    b = EmptyOperator(task_id="b")
    a >> b >> a
"#;

const BROKEN_DAG: &str = r#"from datetime import datetime
from airflow.sdk import DAG

raise RuntimeError("this DAG fails at import time")
"#;

#[test]
fn parse_full_loads_the_dags_with_airflow_in_the_image() {
    let Some(index) = host_index() else {
        eprintln!("SKIP: no pip on this host to tell which package index to use");
        return;
    };
    let cache = persistent_cache("tier2-airflow");
    let store = cache.join("store");
    if !reachable(&index) && !store.join("layers").is_dir() {
        eprintln!("SKIP: the package index is unreachable and nothing is cached");
        return;
    }
    let Some(base) = debian_python_base() else {
        return;
    };
    assert!(
        support::host_debian::tool("bwrap"),
        "`bwrap` is missing: run scripts/test, which installs it"
    );
    let project = cache.join("project");
    fs::create_dir_all(project.join("dags")).expect("mkdir");
    fs::write(
        project.join("Dockerfile"),
        format!("FROM debian-python:{BASE_TAG}\n"),
    )
    .expect("write");
    fs::write(project.join("requirements.txt"), "apache-airflow==3.0.2\n").expect("write");
    fs::write(
        project.join("airlock.toml"),
        format!("[python]\nindex-url = \"{index}\"\nexclude-newer = \"{EXCLUDE_NEWER}\"\n"),
    )
    .expect("write");
    fs::write(project.join("dags/good.py"), GOOD_DAG).expect("write");
    fs::write(project.join("dags/cycle.py"), CYCLE_DAG).expect("write");
    fs::write(project.join("dags/broken.py"), BROKEN_DAG).expect("write");

    let args = [
        "parse",
        project.to_str().expect("utf-8"),
        "--full",
        "--json",
        "--cache-dir",
        store.to_str().expect("utf-8"),
        "--base-layout",
        base.to_str().expect("utf-8"),
    ];
    let output = airlock(&args, Path::new(env!("CARGO_TARGET_TMPDIR")), &[]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let report: Value = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("JSON report ({e}): {}{}", stdout(&output), stderr(&output)));
    let errors = report["errors"].as_array().expect("errors");
    let from_airflow: Vec<&str> = errors
        .iter()
        .filter(|e| e["kind"] == "dag-import-error")
        .map(|e| e["file"].as_str().expect("file"))
        .collect();
    assert!(from_airflow.contains(&"dags/cycle.py"), "{report}");
    assert!(from_airflow.contains(&"dags/broken.py"), "{report}");
    assert!(
        !errors.iter().any(|e| e["file"] == "dags/good.py"),
        "{report}"
    );
    // Tier 1 knows the modules of the locked wheels: `airflow` is not "missing".
    assert!(
        !errors.iter().any(|e| e["kind"] == "unresolved-import"),
        "{report}"
    );
    let broken = errors
        .iter()
        .find(|e| e["file"] == "dags/broken.py" && e["kind"] == "dag-import-error")
        .expect("broken");
    assert_eq!(
        broken["line"], 4,
        "the traceback's line in the DAG file: {broken}"
    );
    assert!(
        broken["message"]
            .as_str()
            .expect("message")
            .contains("fails at import time")
    );

    // Human output also says how the time was spent.
    let human: Vec<&str> = args.iter().copied().filter(|a| *a != "--json").collect();
    let output = airlock(&human, Path::new(env!("CARGO_TARGET_TMPDIR")), &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("Loaded 1 DAG(s) with Airflow"), "{err}");
    eprintln!(
        "{}",
        err.lines()
            .find(|l| l.contains("airlock overhead"))
            .unwrap_or("")
    );
}

/// The tag of the Runtime-like base.
const RUNTIME_TAG: &str = "3.0-2";

fn file_entry(text: &str, mode: u32) -> Entry {
    let bytes: Arc<[u8]> = Arc::from(text.as_bytes());
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

/// `etc/passwd` of the Debian root filesystem `tar`.
fn passwd_of(tar: &Path) -> String {
    let mut archive = tar::Archive::new(fs::File::open(tar).expect("rootfs tar"));
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        if path.trim_start_matches("./") == "etc/passwd" {
            let mut text = String::new();
            entry.read_to_string(&mut text).expect("passwd");
            return text;
        }
    }
    panic!("no etc/passwd in {}", tar.display());
}

/// The Runtime-like base as an OCI layout (tag [`RUNTIME_TAG`]), made once: the Debian
/// python3 base with `apache-airflow` and `pytest` from locked wheels (built by airlock),
/// plus a layer with the `astro` user and its Airflow home, and a config like the
/// Runtime's (`AIRFLOW_HOME=/usr/local/airflow`, that `WORKDIR`, `USER astro`, the
/// inline ONBUILD triggers).
fn runtime_like_base(index: &str, cache: &Path, store: &Path, debian: &Path) -> PathBuf {
    let layout = cache.join("runtime-like-v1");
    let _lock = FileLock::acquire(&cache.join("runtime-like-v1.lock"));
    if layout.join("index.json").is_file() {
        return layout;
    }
    let stage = cache.join("runtime-stage");
    fs::create_dir_all(stage.join("dags")).expect("mkdir");
    fs::write(
        stage.join("Dockerfile"),
        format!("FROM debian-python:{BASE_TAG}\n"),
    )
    .expect("write");
    fs::write(
        stage.join("requirements.txt"),
        "apache-airflow==3.0.2\npytest==8.4.1\n",
    )
    .expect("write");
    fs::write(
        stage.join("airlock.toml"),
        format!("[python]\nindex-url = \"{index}\"\nexclude-newer = \"{EXCLUDE_NEWER}\"\n"),
    )
    .expect("write");
    let stage_oci = cache.join("runtime-stage-oci");
    let _ = fs::remove_dir_all(&stage_oci);
    let output = airlock(
        &[
            "build",
            stage.to_str().expect("utf-8"),
            "--exclude-dags",
            "--output",
            &format!("oci:{}:stage", stage_oci.display()),
            "--cache-dir",
            store.to_str().expect("utf-8"),
            "--base-layout",
            debian.to_str().expect("utf-8"),
        ],
        cache,
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let image = select_image(&stage_oci, Some("stage")).expect("stage image");
    let mut config: Value = serde_json::from_slice(
        &fs::read(image.blob_path(&image.manifest.config().sha256().expect("sha256")))
            .expect("config"),
    )
    .expect("config json");

    // The `astro` user and its Airflow home, one more layer.
    let rootfs = debian_rootfs(BASE_TAG, &["python3"]).expect("the Debian rootfs is cached");
    let passwd = format!(
        "{}astro:x:{ASTRO_UID}:0::/home/astro:/bin/bash\n",
        passwd_of(&rootfs)
    );
    let scratch = tempfile::tempdir().expect("tempdir");
    let layer_store = Store::open(scratch.path()).expect("store");
    let mut tree = FileTree::new();
    tree.insert("etc/passwd", file_entry(&passwd, 0o644))
        .expect("path");
    let airflow_home = Entry {
        kind: EntryKind::Dir,
        mode: 0o775,
        owner: Owner {
            uid: ASTRO_UID,
            gid: 0,
        },
    };
    tree.insert("usr/local/airflow", airflow_home.clone())
        .expect("path");
    tree.insert("home/astro", airflow_home).expect("path");
    tree.add_parents(|_| (0o755, Owner::ROOT));
    let (record, _) = build_layer(&layer_store, &tree, "fixture-base", 0).expect("layer");
    let layer_path = layer_store.blob_path(&record.digest);
    let size = fs::metadata(&layer_path).expect("layer").len();

    let cfg = &mut config["config"];
    let mut env: Vec<Value> = cfg["Env"].as_array().cloned().unwrap_or_default();
    env.push("AIRFLOW_HOME=/usr/local/airflow".into());
    cfg["Env"] = env.into();
    cfg["WorkingDir"] = "/usr/local/airflow".into();
    cfg["User"] = "astro".into();
    cfg["OnBuild"] = ASTRO_INLINE_TRIGGERS
        .iter()
        .map(|t| Value::from(*t))
        .collect();
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .expect("diff_ids")
        .push(record.diff_id.to_string().into());
    config["history"].as_array_mut().expect("history").push(
        serde_json::json!({"created": "1970-01-01T00:00:00Z", "created_by": "fixture: astro user"}),
    );
    let config_bytes = serde_json::to_vec(&config).expect("json");
    let config_digest = layer_store.put_bytes(&config_bytes).expect("config");
    let mut layers = image.manifest.layers().clone();
    layers.push(descriptor(
        media_types::OCI_LAYER_GZIP,
        record.digest.clone(),
        size,
    ));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_MANIFEST,
        "config": {"mediaType": media_types::OCI_CONFIG, "digest": config_digest.to_string(), "size": config_bytes.len()},
        "layers": layers,
    });
    let mut blobs: Vec<(Digest, PathBuf)> = image
        .manifest
        .layers()
        .iter()
        .map(|l| l.sha256().expect("sha256"))
        .map(|digest| (digest.clone(), image.blob_path(&digest)))
        .collect();
    blobs.push((record.digest.clone(), layer_path));
    blobs.push((config_digest.clone(), layer_store.blob_path(&config_digest)));
    let partial = cache.join("runtime-like-v1.partial");
    let _ = fs::remove_dir_all(&partial);
    write_layout(
        &partial,
        RUNTIME_TAG,
        &blobs,
        &serde_json::to_vec(&manifest).expect("json"),
        media_types::OCI_MANIFEST,
    )
    .expect("layout");
    fs::rename(&partial, &layout).expect("rename");
    layout
}

/// The issue's "what must show": a project shaped like `astro dev init`'s on a base
/// with Airflow installed and the Runtime's real trigger text. `airlock pytest`
/// collects and runs the DAG tests (none skipped), the `.astro` integrity test too;
/// a DAG without tags and retries fails them with exit 1 and `deploy --pytest`
/// refuses; `airlock init` makes a project whose tests run the same way.
#[test]
fn astro_1_template_tests_run_against_the_images_dag_folder() {
    let Some(index) = host_index() else {
        eprintln!("SKIP: no pip on this host to tell which package index to use");
        return;
    };
    let cache = persistent_cache("tier2-airflow");
    let store = cache.join("store");
    if !reachable(&index) && !store.join("layers").is_dir() {
        eprintln!("SKIP: the package index is unreachable and nothing is cached");
        return;
    }
    let Some(debian) = debian_python_base() else {
        return;
    };
    assert!(
        support::host_debian::tool("bwrap"),
        "`bwrap` is missing: run scripts/test, which installs it"
    );
    let base = runtime_like_base(&index, &cache, &store, &debian);
    let project = cache.join("astro-template");
    let _ = fs::remove_dir_all(&project);
    support::astro::write_template(&project, &format!("astro-runtime:{RUNTIME_TAG}"));
    let common = [
        "--cache-dir",
        store.to_str().expect("utf-8"),
        "--base-layout",
        base.to_str().expect("utf-8"),
    ];
    let pytest = |project: &Path, extra: &[&str]| {
        let mut args = vec!["pytest", "--project-dir", project.to_str().expect("utf-8")];
        args.extend_from_slice(&common);
        args.extend_from_slice(extra);
        airlock(&args, &cache, &[])
    };
    let show = |output: &std::process::Output| format!("{}{}", stdout(output), stderr(output));

    let output = pytest(&project, &["-a", "-q -rs"]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert!(stdout(&output).contains("3 passed"), "{}", show(&output));
    assert!(!stdout(&output).contains("skipped"), "{}", show(&output));

    let output = pytest(
        &project,
        &[".astro/test_dag_integrity_default.py", "-a", "-q -rs"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert!(stdout(&output).contains("1 passed"), "{}", show(&output));
    assert!(!stdout(&output).contains("skipped"), "{}", show(&output));

    let mut args = vec!["parse", project.to_str().expect("utf-8"), "--full"];
    args.extend_from_slice(&common);
    let output = airlock(&args, &cache, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert!(
        stderr(&output).contains("Loaded 1 DAG(s) with Airflow"),
        "{}",
        show(&output)
    );

    // A DAG without tags and retries: the tests fail, and so does a deploy with them.
    fs::write(project.join("dags/untidy.py"), support::astro::UNTIDY_DAG).expect("write");
    let output = pytest(&project, &["-a", "-q -rs"]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    assert!(
        stdout(&output).contains("2 failed, 3 passed"),
        "{}",
        show(&output)
    );
    assert!(!stdout(&output).contains("skipped"), "{}", show(&output));

    let registry = Registry::plain();
    fs::write(
        project.join("airlock.toml"),
        format!(
            "[base.layouts]\n\"astro-runtime\" = \"{}\"\n\n[deployments.dev]\nimage = \"{}/team/airflow\"\n",
            base.display(),
            registry.address()
        ),
    )
    .expect("write");
    let output = airlock(
        &[
            "deploy",
            "dev",
            "--pytest",
            "--project-dir",
            project.to_str().expect("utf-8"),
            "--cache-dir",
            store.to_str().expect("utf-8"),
        ],
        &cache,
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    assert!(
        stderr(&output).contains("tests failed; nothing was deployed"),
        "{}",
        show(&output)
    );

    // `airlock init` makes a project whose own tests run real checks here.
    let fresh = cache.join("astro-init");
    let _ = fs::remove_dir_all(&fresh);
    let output = airlock(
        &[
            "init",
            fresh.to_str().expect("utf-8"),
            "--base",
            &format!("astro-runtime:{RUNTIME_TAG}"),
        ],
        &cache,
        &[],
    );
    assert!(output.status.success(), "{}", show(&output));
    let output = pytest(&fresh, &["-a", "-q -rs"]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert!(stdout(&output).contains(" passed"), "{}", show(&output));
    assert!(!stdout(&output).contains("skipped"), "{}", show(&output));
    let output = pytest(
        &fresh,
        &[".astro/test_dag_integrity_default.py", "-a", "-q -rs"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert!(stdout(&output).contains("1 passed"), "{}", show(&output));
    assert!(!stdout(&output).contains("skipped"), "{}", show(&output));
}
