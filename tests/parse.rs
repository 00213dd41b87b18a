//! `airlock parse`: the static (tier-1) DAG check against the base image's facts.

use crate::support;

use std::fs;

use support::{Sandbox, stderr, stdout};

fn parse(sandbox: &Sandbox, extra: &[&str]) -> std::process::Output {
    sandbox.run("parse", extra)
}

#[test]
fn the_quickstart_parses() {
    let sandbox = Sandbox::quickstart();
    let output = parse(&sandbox, &[]);
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("Checked 3 files"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn problems_are_reported_with_line_column_and_hint() {
    let sandbox = Sandbox::quickstart();
    fs::write(
        sandbox.project.join("dags/broken.py"),
        "import os\nimport pandas as pd\nfrom include.helpres import summarize\n",
    )
    .expect("write");
    fs::write(
        sandbox.project.join("dags/syntax.py"),
        "def f(:\n    pass\n",
    )
    .expect("write");
    let output = parse(&sandbox, &[]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("dags/broken.py:2:8"), "{text}");
    assert!(text.contains("pandas"), "{text}");
    assert!(text.contains("dags/broken.py:3:6"), "{text}");
    assert!(text.contains("include.helpres"), "{text}");
    assert!(text.contains("dags/syntax.py:1:"), "{text}");
    assert!(
        !text.contains("broken.py:1:"),
        "`os` is in the standard library: {text}"
    );

    let json = parse(&sandbox, &["--json"]);
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("JSON report");
    let errors = report["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 3, "{report}");
    assert!(
        errors
            .iter()
            .all(|e| e["file"].is_string() && e["line"].is_number() && e["kind"].is_string())
    );
}

#[test]
fn airflowignore_and_exceptions_are_honoured() {
    let sandbox = Sandbox::quickstart();
    // dags/scratch/ is in the quickstart's .airflowignore: never checked.
    fs::write(
        sandbox.project.join("dags/scratch/wip_dag.py"),
        "import nothing_here\n",
    )
    .expect("write");
    assert!(parse(&sandbox, &[]).status.success());
    fs::write(
        sandbox.project.join("dags/legacy.py"),
        "import retired_module\n",
    )
    .expect("write");
    assert_eq!(parse(&sandbox, &[]).status.code(), Some(1));
    fs::create_dir_all(sandbox.project.join(".astro")).expect("mkdir");
    fs::write(
        sandbox.project.join(".astro/dag_integrity_exceptions.txt"),
        "dags/legacy.py\n",
    )
    .expect("write");
    let output = parse(&sandbox, &[]);
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
}
