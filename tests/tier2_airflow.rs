//! Tier 2 with a real Airflow: `airlock parse --full` loads the DAGs with Airflow's
//! `DagBag` inside the built image, sandboxed. The base is Debian's python3 (made once
//! by `mmdebstrap`); `apache-airflow` 3.x comes from locked wheels on the index the
//! host's pip uses (found at run time). Everything is cached between runs.

mod support;

use std::fs;
use std::path::Path;

use serde_json::Value;
use support::host_python::{BASE_TAG, debian_python_base, host_index, reachable};
use support::rootfs::persistent_cache;
use support::{airlock, stderr, stdout};

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
