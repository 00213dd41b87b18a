//! `airlock init` writes a buildable skeleton and never overwrites.

mod support;

use support::{airlock, stderr, stdout};

#[test]
fn init_then_build() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("new");
    let output = airlock(
        &[
            "init",
            &project.to_string_lossy(),
            "--base",
            "astro-runtime:3.0-1",
        ],
        dir.path(),
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    for file in [
        "Dockerfile",
        "requirements.txt",
        "packages.txt",
        "dags/example_dag.py",
        "dags/.airflowignore",
        "include",
        "plugins",
        "tests/dags/test_dag_integrity.py",
        ".dockerignore",
        "airlock.toml",
    ] {
        assert!(project.join(file).exists(), "{file} missing");
    }
    let layout = support::repo_root().join("fixtures/runtime-base");
    let output = airlock(
        &[
            "build",
            &project.to_string_lossy(),
            "--cache-dir",
            &dir.path().join("cache").to_string_lossy(),
            "--base-layout",
            &layout.to_string_lossy(),
        ],
        dir.path(),
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("sha256:"));

    let again = airlock(&["init", &project.to_string_lossy()], dir.path(), &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn help_explains_the_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = airlock(&["build", "--help"], dir.path(), &[]);
    assert!(output.status.success());
    let help = stdout(&output);
    for text in [
        "--output",
        "oci:DIR[:TAG]",
        "--base-layout",
        "--exclude-dags",
        "--locked",
        "SOURCE_DATE_EPOCH",
    ] {
        assert!(help.contains(text), "`{text}` missing from build --help");
    }
}
