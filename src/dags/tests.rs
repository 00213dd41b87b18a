//! Behaviour of the tier-1 check on whole fixture projects, built in memory (and in a
//! temporary directory for the exceptions files).

use std::collections::BTreeSet;

use super::check::{AIRLOCK_EXCEPTIONS_FILE, ASTRO_EXCEPTIONS_FILE, Report};
use super::*;

/// A project under construction: files, installed distributions, Python version.
struct Fixture {
    files: Vec<(String, String)>,
    distributions: Vec<Distribution>,
    python: PythonVersion,
    exceptions: Exceptions,
}

impl Fixture {
    fn new(python: &str) -> Self {
        Self {
            files: Vec::new(),
            distributions: vec![dist("apache-airflow", &["airflow"])],
            python: python.parse().expect("supported version"),
            exceptions: Exceptions::default(),
        }
    }

    fn file(mut self, path: &str, text: &str) -> Self {
        self.files.push((path.to_owned(), text.to_owned()));
        self
    }

    fn dist(mut self, distribution: Distribution) -> Self {
        self.distributions.push(distribution);
        self
    }

    fn check(self) -> Report {
        let project = ProjectLayout::new(
            self.files.iter().map(|(path, _)| path.as_str()),
            std::iter::empty::<&str>(),
        );
        let input = CheckInput {
            files: self
                .files
                .into_iter()
                .map(|(path, text)| SourceFile {
                    path,
                    contents: text.into_bytes(),
                })
                .collect(),
            universe: ModuleUniverse::new(self.python, self.distributions, project),
            exceptions: self.exceptions,
        };
        check_project(&input)
    }
}

fn dist(name: &str, top: &[&str]) -> Distribution {
    Distribution {
        name: name.to_owned(),
        top_level: top.iter().map(|t| (*t).to_owned()).collect(),
    }
}

/// `(file, line, column, kind)` of each error.
fn errors(report: &Report) -> Vec<(&str, u32, u32, DiagnosticKind)> {
    report
        .errors
        .iter()
        .map(|d| (d.file.as_str(), d.line, d.column, d.kind))
        .collect()
}

const GOOD_DAG: &str = "\
from airflow.decorators import dag, task
import pendulum

@dag(start_date=pendulum.datetime(2024, 1, 1))
def good():
    @task
    def hello():
        print('hello')
    hello()

good()
";

#[test]
fn syntax_errors_at_the_right_line_and_column() {
    let report = Fixture::new("3.12")
        .dist(dist("pendulum", &["pendulum"]))
        .file("dags/good.py", GOOD_DAG)
        .file(
            "dags/broken.py",
            "from airflow.decorators import dag\n\n\ndef f(:\n    pass\n",
        )
        .file("dags/unclosed.py", "import os\nx = dict(a=1,\n     b=2\n")
        .file("include/bad_indent.py", "def g():\nreturn 1\n")
        .check();
    assert_eq!(
        errors(&report),
        vec![
            ("dags/broken.py", 4, 7, DiagnosticKind::SyntaxError),
            ("dags/unclosed.py", 2, 9, DiagnosticKind::SyntaxError),
            ("include/bad_indent.py", 2, 1, DiagnosticKind::SyntaxError),
        ],
        "{report}"
    );
    let rendered = report.errors[1].to_string();
    assert_eq!(
        rendered,
        "dags/unclosed.py:2:9: `(` was never closed\n    x = dict(a=1,\n            ^"
    );
    assert!(
        report
            .to_string()
            .ends_with("Checked 4 files: 3 problems in 3 files")
    );
}

#[test]
fn missing_module_is_reported_with_a_hint() {
    let report = Fixture::new("3.12")
        .file(
            "dags/etl.py",
            "import os\nimport pandas as pd\nfrom airflow.models import DAG\n",
        )
        .check();
    assert_eq!(
        errors(&report),
        vec![("dags/etl.py", 2, 8, DiagnosticKind::UnresolvedImport)]
    );
    let d = &report.errors[0];
    assert_eq!(d.message, "No module named `pandas`");
    assert_eq!(d.hint.as_deref(), Some("add `pandas` to requirements.txt"));
    assert_eq!(
        d.to_string(),
        "dags/etl.py:2:8: No module named `pandas`\n    import pandas as pd\n           ^\n  \
         hint: add `pandas` to requirements.txt"
    );
}

#[test]
fn misspelled_local_helper() {
    let report = Fixture::new("3.12")
        .file("include/__init__.py", "")
        .file("include/helpers.py", "def func():\n    return 1\n")
        .file(
            "dags/uses_helpers.py",
            "from include.helpers import func\nfrom include.helpres import func as f2\n",
        )
        .check();
    assert_eq!(
        errors(&report),
        vec![(
            "dags/uses_helpers.py",
            2,
            6,
            DiagnosticKind::UnresolvedImport
        )]
    );
    assert_eq!(
        report.errors[0].message,
        "No module named `include.helpres`"
    );
    assert_eq!(
        report.errors[0].hint.as_deref(),
        Some("did you mean `include.helpers`?")
    );
}

#[test]
fn guarded_imports_are_not_reported() {
    let report = Fixture::new("3.12")
        .file(
            "dags/guarded.py",
            "\
from __future__ import annotations
import typing
from typing import TYPE_CHECKING

try:
    import ujson as json
except ImportError:
    import json

try:
    from airflow.sdk import dag
except (ModuleNotFoundError, AttributeError):
    from airflow.decorators import dag

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
if typing.TYPE_CHECKING:
    import pandas

@task.virtualenv(requirements=['polars'])
def isolated():
    import polars
",
        )
        .check();
    assert!(report.is_ok(), "{report}");
}

#[test]
fn relative_imports_inside_a_plugins_package() {
    let report = Fixture::new("3.12")
        .file("plugins/company/__init__.py", "")
        .file(
            "plugins/company/hooks/__init__.py",
            "from .s3 import Hook\n",
        )
        .file("plugins/company/hooks/s3.py", "class Hook: ...\n")
        .file(
            "plugins/company/operators.py",
            "from .hooks import Hook\nfrom .hooks.s3 import Hook as H\nfrom . import hooks\n",
        )
        .file(
            "plugins/nsp/a.py",
            "from . import b\nfrom . import missing\n",
        )
        .file("plugins/nsp/b.py", "from .a import x\n")
        .file(
            "dags/uses_plugin.py",
            "from company.operators import Hook\nfrom .x import y\n",
        )
        .check();
    assert_eq!(
        errors(&report),
        vec![
            (
                "dags/uses_plugin.py",
                2,
                7,
                DiagnosticKind::InvalidRelativeImport
            ),
            // `nsp` has no `__init__.py`, so only a submodule can be imported from it.
            ("plugins/nsp/a.py", 2, 15, DiagnosticKind::UnresolvedImport),
        ],
        "{report}"
    );
    assert_eq!(report.errors[1].message, "No module named `nsp.missing`");
}

#[test]
fn module_provided_by_a_differently_named_distribution() {
    let dag = "import yaml\nfrom yaml import safe_load\n";
    let record = "yaml/__init__.py,sha256=a,1\n_yaml/__init__.py,sha256=b,2\n\
                  PyYAML-6.0.2.dist-info/RECORD,,\n";
    let with_pyyaml = Fixture::new("3.11")
        .dist(Distribution {
            name: "PyYAML".into(),
            top_level: top_level_from_record(record),
        })
        .file("dags/config.py", dag)
        .check();
    assert!(with_pyyaml.is_ok(), "{with_pyyaml}");

    let without = Fixture::new("3.11").file("dags/config.py", dag).check();
    assert_eq!(without.errors.len(), 2);
    assert_eq!(
        without.errors[0].hint.as_deref(),
        Some("add `PyYAML` to requirements.txt")
    );
}

#[test]
fn standard_library_depends_on_the_python_version() {
    let dag = "import tomllib\n";
    let on_310 = Fixture::new("3.10").file("dags/t.py", dag).check();
    assert_eq!(
        errors(&on_310),
        vec![("dags/t.py", 1, 8, DiagnosticKind::UnresolvedImport)]
    );
    assert!(
        on_310.errors[0]
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("from Python 3.11 on"))
    );
    assert!(Fixture::new("3.11").file("dags/t.py", dag).check().is_ok());

    let conditional = "\
import sys
if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib
";
    let on_310 = Fixture::new("3.10").file("dags/t.py", conditional).check();
    assert_eq!(
        errors(&on_310),
        vec![("dags/t.py", 5, 12, DiagnosticKind::UnresolvedImport)]
    );
    assert!(
        Fixture::new("3.11")
            .file("dags/t.py", conditional)
            .check()
            .is_ok()
    );

    let removed = Fixture::new("3.12")
        .file("dags/old.py", "import imp\nimport distutils.util\n")
        .check();
    assert_eq!(removed.errors.len(), 2);
}

#[test]
fn exceptions_files_allow_failures() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in [
        (ASTRO_EXCEPTIONS_FILE, "# Astro format\ndags/broken.py\n"),
        (
            AIRLOCK_EXCEPTIONS_FILE,
            "dags/legacy/  # everything below\n",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    let exceptions = Exceptions::load(dir.path()).expect("readable");
    let mut fixture = Fixture::new("3.12")
        .file("dags/broken.py", "def f(:\n")
        .file("dags/legacy/old.py", "import missing_thing\n")
        .file("dags/new.py", "import also_missing\n");
    fixture.exceptions = exceptions;
    let report = fixture.check();
    assert_eq!(
        errors(&report),
        vec![("dags/new.py", 1, 8, DiagnosticKind::UnresolvedImport)]
    );
    let allowed: BTreeSet<&str> = report.allowed.iter().map(|d| d.file.as_str()).collect();
    assert_eq!(
        allowed,
        BTreeSet::from(["dags/broken.py", "dags/legacy/old.py"])
    );
    assert!(Exceptions::load(&dir.path().join("nothing-here")).is_ok());
}

#[test]
fn json_report() {
    let report = Fixture::new("3.12")
        .file("dags/a.py", "import yaml\n")
        .check();
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("json");
    assert_eq!(
        json,
        serde_json::json!({
            "files_checked": 1,
            "errors": [{
                "file": "dags/a.py",
                "line": 1,
                "column": 8,
                "kind": "unresolved-import",
                "message": "No module named `yaml`",
                "hint": "add `PyYAML` to requirements.txt",
            }],
            "allowed": [],
        })
    );
}

#[test]
fn airflow_provider_must_be_installed() {
    let dag = "from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook\n";
    let report = Fixture::new("3.12").file("dags/s.py", dag).check();
    assert_eq!(
        report.errors[0].hint.as_deref(),
        Some("add `apache-airflow-providers-snowflake` to requirements.txt")
    );
    let report = Fixture::new("3.12")
        .dist(dist("apache-airflow-providers-snowflake", &["airflow"]))
        .file("dags/s.py", dag)
        .check();
    assert!(report.is_ok(), "{report}");
}
