//! The tier-1 check of a whole project: every file parsed and its imports resolved, in
//! parallel, with an exceptions list.
//!
//! Owns [`check_project`], the exceptions files (Astro's
//! `.astro/dag_integrity_exceptions.txt` and airlock's `.airlock-dag-exceptions.txt`)
//! and the [`Report`]. It must not walk directories: the caller hands over the files to
//! check (with `.airflowignore` applied) and their contents. The one I/O helper,
//! [`Exceptions::load`], reads the two exceptions files.

use std::collections::BTreeSet;
use std::fmt;
use std::num::NonZeroUsize;
use std::path::Path;

use serde::Serialize;

use super::diagnostic::{Diagnostic, SourceMap};
use super::error::DagsError;
use super::imports::collect_imports;
use super::resolve::ModuleUniverse;
use super::syntax::parse_source;

/// Astro's list of files allowed to fail its DAG integrity test.
pub(super) const ASTRO_EXCEPTIONS_FILE: &str = ".astro/dag_integrity_exceptions.txt";
/// airlock's own list, same format.
pub(super) const AIRLOCK_EXCEPTIONS_FILE: &str = ".airlock-dag-exceptions.txt";

/// Below this many files per thread, spawning costs more than it saves.
const MIN_FILES_PER_THREAD: usize = 16;

/// One file to check.
#[derive(Clone, Debug)]
pub(crate) struct SourceFile {
    /// Relative to the project root, `/`-separated (`dags/etl.py`).
    pub path: String,
    pub contents: Vec<u8>,
}

/// Everything [`check_project`] needs.
#[derive(Clone, Debug)]
pub(crate) struct CheckInput {
    pub files: Vec<SourceFile>,
    pub universe: ModuleUniverse,
    pub exceptions: Exceptions,
}

/// Files allowed to fail: one project-relative path per line, `#` starts a comment.
/// A line ending in `/` allows every file below that directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Exceptions {
    files: BTreeSet<String>,
    dirs: BTreeSet<String>,
}

impl Exceptions {
    #[cfg(test)]
    fn parse(text: &str) -> Self {
        let mut exceptions = Self::default();
        exceptions.extend(text);
        exceptions
    }

    /// Adds the entries of another exceptions file.
    pub(crate) fn extend(&mut self, text: &str) {
        for line in text.lines() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            let entry = normalize(entry);
            if entry.ends_with('/') {
                self.dirs.insert(entry);
            } else {
                self.files.insert(entry);
            }
        }
    }

    /// Reads [`ASTRO_EXCEPTIONS_FILE`] and [`AIRLOCK_EXCEPTIONS_FILE`] under
    /// `project_root`; a missing file is an empty list.
    pub(crate) fn load(project_root: &Path) -> Result<Self, DagsError> {
        let mut exceptions = Self::default();
        for name in [ASTRO_EXCEPTIONS_FILE, AIRLOCK_EXCEPTIONS_FILE] {
            let path = project_root.join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) => exceptions.extend(&text),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(DagsError::ReadExceptions { path, source }),
            }
        }
        Ok(exceptions)
    }

    pub(crate) fn allows(&self, file: &str) -> bool {
        let file = normalize(file);
        self.files.contains(&file) || self.dirs.iter().any(|dir| file.starts_with(dir.as_str()))
    }
}

/// The outcome of a check; `errors` fail the build, `allowed` are from excepted files.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Report {
    pub files_checked: usize,
    pub errors: Vec<Diagnostic>,
    pub allowed: Vec<Diagnostic>,
}

impl Report {
    pub(crate) fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The `--json` form: `{files_checked, errors: [{file, line, column, kind,
    /// message, hint?}], allowed: [...]}`.
    pub(crate) fn to_json(&self) -> String {
        // Plain strings and integers only: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Each error as `file:line:col: message` with its source line and caret, then a
/// one-line summary.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for diagnostic in &self.errors {
            writeln!(f, "{diagnostic}\n")?;
        }
        let failing: BTreeSet<&str> = self.errors.iter().map(|d| d.file.as_str()).collect();
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        if self.errors.is_empty() {
            write!(
                f,
                "Checked {}: no problems",
                plural(self.files_checked, "file")
            )?;
        } else {
            write!(
                f,
                "Checked {}: {} in {}",
                plural(self.files_checked, "file"),
                plural(self.errors.len(), "problem"),
                plural(failing.len(), "file")
            )?;
        }
        if !self.allowed.is_empty() {
            write!(
                f,
                " ({} allowed by exceptions files)",
                plural(self.allowed.len(), "problem")
            )?;
        }
        Ok(())
    }
}

/// Parses every file and resolves its imports, using all available cores.
///
/// The report is sorted by file, line and column, so it does not depend on scheduling.
pub(crate) fn check_project(input: &CheckInput) -> Report {
    let files = &input.files;
    let universe = &input.universe;
    let threads = std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(files.len().div_ceil(MIN_FILES_PER_THREAD))
        .max(1);
    let mut diagnostics: Vec<Diagnostic> = if threads == 1 {
        files.iter().flat_map(|f| check_file(f, universe)).collect()
    } else {
        let chunk = files.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let workers: Vec<_> = files
                .chunks(chunk)
                .map(|chunk| {
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .flat_map(|f| check_file(f, universe))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| {
                    worker
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    };
    diagnostics.sort_by(|a, b| a.position().cmp(&b.position()));

    let (allowed, errors) = diagnostics
        .into_iter()
        .partition(|d| input.exceptions.allows(&d.file));
    Report {
        files_checked: files.len(),
        errors,
        allowed,
    }
}

fn check_file(file: &SourceFile, universe: &ModuleUniverse) -> Vec<Diagnostic> {
    let path = normalize(&file.path);
    let parsed = match parse_source(&path, &file.contents, universe.python()) {
        Ok(parsed) => parsed,
        Err(diagnostic) => return vec![*diagnostic],
    };
    let map = SourceMap::new(&path, parsed.text);
    let imports = collect_imports(&parsed.module, &map, universe.python());
    let mut out = imports.problems;
    out.extend(universe.check_imports(&map, &imports.imports));
    out
}

fn normalize(path: &str) -> String {
    path.replace('\\', "/").trim_start_matches("./").to_owned()
}

/// A generated project of `dag_count` typical DAG files (plus a few helpers) for the
/// tests of [`check_project`]; every 100th DAG misspells a helper module so errors are
/// rendered too.
#[cfg(test)]
fn synthetic_project(dag_count: usize) -> CheckInput {
    use super::resolve::{Distribution, ProjectLayout, PythonVersion};

    let mut files = vec![
        SourceFile {
            path: "include/helpers.py".into(),
            contents: b"import json\n\ndef load(path):\n    with open(path) as f:\n        return json.load(f)\n".to_vec(),
        },
        SourceFile {
            path: "plugins/company/__init__.py".into(),
            contents: Vec::new(),
        },
        SourceFile {
            path: "plugins/company/operators.py".into(),
            contents: b"from airflow.models import BaseOperator\nfrom . import hooks\n\nclass Op(BaseOperator):\n    pass\n".to_vec(),
        },
        SourceFile {
            path: "plugins/company/hooks.py".into(),
            contents: b"from airflow.hooks.base import BaseHook\n".to_vec(),
        },
    ];
    for i in 0..dag_count {
        let helpers = if i % 100 == 99 { "helpres" } else { "helpers" };
        files.push(SourceFile {
            path: format!("dags/team_{}/dag_{i:05}.py", i % 10),
            contents: synthetic_dag(i, helpers).into_bytes(),
        });
    }
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let project = ProjectLayout::new(paths, std::iter::empty::<&str>());
    let dist = |name: &str, top: &[&str]| Distribution {
        name: name.to_owned(),
        top_level: top.iter().map(|t| (*t).to_owned()).collect(),
    };
    let distributions = vec![
        dist("apache-airflow", &["airflow"]),
        dist("apache-airflow-providers-standard", &["airflow"]),
        dist("apache-airflow-providers-amazon", &["airflow"]),
        dist("pendulum", &["pendulum"]),
        dist("PyYAML", &["yaml", "_yaml"]),
        dist("pandas", &["pandas"]),
        dist("requests", &["requests"]),
    ];
    CheckInput {
        files,
        universe: ModuleUniverse::new(PythonVersion::latest(), distributions, project),
        exceptions: Exceptions::default(),
    }
}

#[cfg(test)]
fn synthetic_dag(i: usize, helpers: &str) -> String {
    format!(
        r#""""Pipeline {i}: extract, transform and load a daily batch."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pendulum
import yaml
from airflow.decorators import dag, task
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.standard.operators.empty import EmptyOperator

from include.{helpers} import load
from company.operators import Op

try:
    import ujson as fast_json
except ImportError:
    fast_json = json

if TYPE_CHECKING:
    from airflow.models import TaskInstance

log = logging.getLogger(__name__)

DEFAULT_ARGS: dict[str, Any] = {{
    "owner": "team-{team}",
    "retries": {retries},
    "retry_delay": timedelta(minutes=5),
}}


@dag(
    dag_id="pipeline_{i:05}",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["team-{team}", "generated"],
)
def pipeline_{i:05}():
    start = EmptyOperator(task_id="start")

    @task
    def extract(**context) -> list[dict[str, Any]]:
        config = yaml.safe_load(open("/usr/local/airflow/include/config.yaml"))
        rows = [{{"id": n, "value": n * {i}}} for n in range(config.get("rows", 10))]
        log.info("extracted %d rows", len(rows))
        return rows

    @task
    def transform(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        import pandas as pd

        frame = pd.DataFrame(rows)
        frame["value"] = frame["value"].apply(lambda v: v * 2 if v % 2 else v)
        return frame.to_dict(orient="records")

    @task
    def load_rows(rows: list[dict[str, Any]]) -> None:
        hook = S3Hook(aws_conn_id="aws_default")
        body = fast_json.dumps(rows)
        hook.load_string(body, key=f"out/{{datetime.utcnow():%Y%m%d}}/{i}.json", bucket_name="data")

    done = Op(task_id="done")
    start >> load_rows(transform(extract())) >> done


pipeline_{i:05}()
"#,
        team = i % 10,
        retries = i % 3,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceptions_format() {
        let exceptions = Exceptions::parse(
            "# files allowed to fail\n\ndags/broken.py  # known\n./dags/legacy/\n",
        );
        assert!(exceptions.allows("dags/broken.py"));
        assert!(exceptions.allows("./dags/broken.py"));
        assert!(exceptions.allows("dags/legacy/old.py"));
        assert!(!exceptions.allows("dags/ok.py"));
    }

    #[test]
    fn synthetic_project_reports_only_the_planted_typos() {
        let report = check_project(&synthetic_project(200));
        assert_eq!(report.files_checked, 204);
        assert_eq!(report.errors.len(), 2, "{report}");
        assert!(
            report
                .errors
                .iter()
                .all(|d| d.message == "No module named `include.helpres`")
        );
    }
}
