//! A project shaped like the one `astro dev init` makes (the same files in the same
//! places, written here in this repository's own words), for the Astro-fidelity tests.

use std::fs;
use std::path::Path;

/// A DAG that passes the template's checks: it has tags and two retries.
pub const GOOD_DAG: &str = r#"from datetime import datetime

from airflow.sdk import dag, task


@dag(
    schedule=None,
    start_date=datetime(2025, 1, 1),
    tags=["example"],
    default_args={"retries": 2},
)
def example_astronauts():
    @task
    def count() -> int:
        return 3

    count()


example_astronauts()
"#;

/// A DAG that imports fine but has no tags and no retries.
pub const UNTIDY_DAG: &str = r#"from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2025, 1, 1))
def untidy():
    @task
    def nothing() -> None:
        return None

    nothing()


untidy()
"#;

/// The template's DAG tests: Airflow's own `DagBag()` with no folder given (so it
/// reads the DAG folder of the image's `AIRFLOW_HOME`), checking import errors, tags
/// and retries, one test per DAG where it applies.
pub const DAG_EXAMPLE_TEST: &str = r#""""The DAGs in the Airflow DAG folder import, carry tags and retry."""

import pytest
from airflow.models import DagBag


def dag_bag():
    return DagBag(include_examples=False)


def dag_ids():
    return sorted(dag_bag().dag_ids)


def test_the_dag_folder_imports():
    bag = dag_bag()
    assert not bag.import_errors, bag.import_errors


@pytest.mark.parametrize("dag_id", dag_ids())
def test_has_tags(dag_id):
    assert dag_bag().dags[dag_id].tags, f"{dag_id} has no tags"


@pytest.mark.parametrize("dag_id", dag_ids())
def test_retries_at_least_two(dag_id):
    retries = dag_bag().dags[dag_id].default_args.get("retries", 0)
    assert retries >= 2, f"{dag_id} retries {retries} time(s)"
"#;

/// The `.astro/` integrity test: one test per file Airflow's `DagBag()` saw, failing
/// on an import error unless the file is listed in `dag_integrity_exceptions.txt`.
pub const DAG_INTEGRITY_TEST: &str = r##""""Every file in the DAG folder imports (unless listed as an exception)."""

import os

import pytest
from airflow.models import DagBag


def results():
    bag = DagBag(include_examples=False)
    home = os.environ.get("AIRFLOW_HOME") or os.curdir
    seen = {path: str(error) for path, error in bag.import_errors.items()}
    for dag in bag.dags.values():
        seen.setdefault(dag.fileloc, "")
    return sorted((os.path.relpath(path, home), error) for path, error in seen.items())


def exceptions():
    path = os.path.join(os.path.dirname(__file__), "dag_integrity_exceptions.txt")
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        return {line.strip() for line in f if line.strip() and not line.startswith("#")}


@pytest.mark.parametrize("path, error", results())
def test_file_imports(path, error):
    if error and path not in exceptions():
        raise AssertionError(f"{path} does not import:\n{error}")
"##;

/// Writes the template's files into `project` with `FROM {from}`.
pub fn write_template(project: &Path, from: &str) {
    let files: [(&str, String); 12] = [
        ("Dockerfile", format!("FROM {from}\n")),
        (
            ".dockerignore",
            ".astro\n.git\n.env\nairflow_settings.yaml\nlogs/\n.venv\nairflow.db\nairflow.cfg\n"
                .into(),
        ),
        (".env", "# environment for local runs and tests\n".into()),
        (
            "airflow_settings.yaml",
            "airflow:\n  connections: []\n  pools: []\n  variables: []\n".into(),
        ),
        ("packages.txt", String::new()),
        (
            "requirements.txt",
            "# Python packages beyond the ones the base image ships\n".into(),
        ),
        ("dags/exampledag.py", GOOD_DAG.into()),
        ("dags/.airflowignore", String::new()),
        ("tests/dags/test_dag_example.py", DAG_EXAMPLE_TEST.into()),
        (".astro/config.yaml", "project:\n  name: template\n".into()),
        (
            ".astro/test_dag_integrity_default.py",
            DAG_INTEGRITY_TEST.into(),
        ),
        (
            ".astro/dag_integrity_exceptions.txt",
            "# DAG files allowed to fail the integrity test, one per line\n".into(),
        ),
    ];
    for (path, text) in files {
        let path = project.join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, text).expect("write");
    }
    for dir in ["include", "plugins"] {
        fs::create_dir_all(project.join(dir)).expect("mkdir");
    }
}
