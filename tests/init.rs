//! `airlock init` writes a buildable skeleton and never overwrites.

use crate::support;

use support::{airlock, stderr, stdout};

/// `airlock init` writes the Astro template's files in their places, with tests that
/// check import errors, tags and retries; the project builds without `airlock.toml`.
#[test]
fn astro_11_init_writes_the_astro_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("fresh");
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
    let read = |file: &str| {
        std::fs::read_to_string(project.join(file)).unwrap_or_else(|_| panic!("{file} missing"))
    };
    for file in [
        "Dockerfile",
        ".dockerignore",
        ".env",
        "airflow_settings.yaml",
        "packages.txt",
        "requirements.txt",
        "dags/exampledag.py",
        "dags/.airflowignore",
        "tests/dags/test_dag_example.py",
        ".astro/config.yaml",
        ".astro/test_dag_integrity_default.py",
        ".astro/dag_integrity_exceptions.txt",
        "README.md",
    ] {
        read(file);
    }
    assert!(read("Dockerfile").contains("FROM astro-runtime:3.0-1"));
    let tests = read("tests/dags/test_dag_example.py");
    for checked in ["import_errors", "tags", "retries"] {
        assert!(tests.contains(checked), "the DAG tests check {checked}");
    }
    assert!(read(".astro/config.yaml").contains("name: fresh"));
    assert!(read(".astro/test_dag_integrity_default.py").contains("dag_integrity_exceptions.txt"));
    assert!(read(".dockerignore").lines().any(|l| l == ".env"));
    assert!(read(".gitignore").lines().any(|l| l == ".env"));
    // The example DAG passes its own checks.
    let dag = read("dags/exampledag.py");
    assert!(
        dag.contains("tags=") && dag.contains("\"retries\": 2"),
        "{dag}"
    );

    // An Astro project needs no airlock-specific file to build.
    std::fs::remove_file(project.join("airlock.toml")).expect("rm");
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
}

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
        "dags/exampledag.py",
        "dags/.airflowignore",
        "include",
        "plugins",
        "tests/dags/test_dag_example.py",
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

/// Issue 12, item 7: the default output directory `.airlock/` (hundreds of MB) ignores
/// itself and is tagged as a cache, so `git add -A` in a project that did not come
/// from `airlock init` (no `.gitignore`) never commits it.
#[test]
fn item7_the_output_directory_ignores_itself() {
    let sandbox = support::Sandbox::quickstart();
    assert!(!sandbox.project.join(".gitignore").exists());
    let git = |args: &[&str]| {
        let output = std::process::Command::new("git")
            .args(args)
            .current_dir(&sandbox.project)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("git");
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    };
    git(&["init", "-q"]);
    let output = sandbox.build(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let state = sandbox.project.join(".airlock");
    assert!(state.join("oci/index.json").is_file());
    assert_eq!(
        std::fs::read_to_string(state.join(".gitignore")).expect(".gitignore"),
        "*\n"
    );
    let tag = std::fs::read_to_string(state.join("CACHEDIR.TAG")).expect("CACHEDIR.TAG");
    assert!(
        tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55"),
        "{tag}"
    );
    git(&["add", "-A"]);
    let staged = git(&["diff", "--cached", "--name-only"]);
    assert!(staged.contains("Dockerfile"), "{staged}");
    assert!(!staged.contains(".airlock"), "{staged}");

    // A second build into the existing directory keeps both files.
    let output = sandbox.build(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(state.join(".gitignore").is_file());
}
