//! Bad input: one clear error, a non-zero exit, and nothing left under the output name.

use crate::support;

use std::fs;

use support::{Sandbox, stderr};

/// Builds into `out/` and checks the failure: exit 1, the message, no output.
fn assert_fails(sandbox: &Sandbox, expected: &[&str]) {
    let out = sandbox.dir.path().join("out");
    let spec = format!("oci:{}", out.display());
    let output = sandbox.build(&["--output", &spec]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    for text in expected {
        assert!(err.contains(text), "expected `{text}` in:\n{err}");
    }
    assert!(!out.exists(), "no output may be left behind");
    let leftovers: Vec<_> = fs::read_dir(sandbox.dir.path())
        .expect("ls")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".airlock-layout-")
        })
        .collect();
    assert!(leftovers.is_empty(), "temp layouts left: {leftovers:?}");
}

#[test]
fn missing_dockerfile() {
    let sandbox = Sandbox::quickstart();
    fs::remove_file(sandbox.project.join("Dockerfile")).expect("rm");
    assert_fails(&sandbox, &["No `Dockerfile`", "airlock init"]);
}

#[test]
fn unsupported_instruction_names_the_line() {
    let sandbox = Sandbox::quickstart();
    let path = sandbox.project.join("Dockerfile");
    let mut text = fs::read_to_string(&path).expect("read");
    let line = text.lines().count() + 1;
    text.push_str("RUN <<EOF\npip install something\nEOF\n");
    fs::write(&path, text).expect("write");
    assert_fails(
        &sandbox,
        &[&format!("Line {line}"), "`RUN`", "heredoc", "not supported"],
    );
}

#[test]
fn a_stage_built_on_a_stage_is_refused() {
    let sandbox = Sandbox::quickstart();
    let path = sandbox.project.join("Dockerfile");
    let mut text = fs::read_to_string(&path).expect("read");
    let line = text.lines().count() + 2;
    text.push_str("FROM other:1 AS build\nFROM build\n");
    fs::write(&path, text).expect("write");
    assert_fails(
        &sandbox,
        &[&format!("Line {line}"), "`FROM build`", "not supported yet"],
    );
}

#[test]
fn malformed_dockerignore_pattern() {
    let sandbox = Sandbox::quickstart();
    fs::write(
        sandbox.project.join(".dockerignore"),
        "# ok\n*.pyc\nlogs/[a-\n",
    )
    .expect("write");
    assert_fails(&sandbox, &[".dockerignore", "3", "logs/[a-"]);
}

#[test]
fn base_without_linux_amd64() {
    let sandbox = Sandbox::quickstart();
    let layout = sandbox.dir.path().join("arm");
    support::write_base(
        &layout,
        &support::BaseSpec {
            arch: "arm64".into(),
            as_index: true,
            ..support::BaseSpec::default()
        },
    );
    let out = sandbox.dir.path().join("out");
    let output = sandbox.build_on(&layout, &["--output", &format!("oci:{}", out.display())]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no linux/amd64"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("linux/arm64"),
        "{}",
        stderr(&output)
    );
    assert!(!out.exists());
}

#[test]
fn symlink_out_of_the_project() {
    let sandbox = Sandbox::quickstart();
    std::os::unix::fs::symlink(
        "../../../etc/passwd",
        sandbox.project.join("include/passwd"),
    )
    .expect("symlink");
    assert_fails(&sandbox, &["include/passwd", "outside the project"]);
}

#[test]
fn absolute_symlink_is_refused_but_inner_one_is_kept() {
    let sandbox = Sandbox::quickstart();
    std::os::unix::fs::symlink("helpers.py", sandbox.project.join("include/alias.py"))
        .expect("symlink");
    let ok = sandbox.build(&[]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    std::os::unix::fs::symlink("/etc/hostname", sandbox.project.join("include/host"))
        .expect("symlink");
    assert_fails(&sandbox, &["include/host", "outside the project"]);
}

#[test]
fn unknown_onbuild_trigger() {
    let sandbox = Sandbox::quickstart();
    let layout = sandbox.dir.path().join("odd");
    let mut spec = support::BaseSpec::default();
    spec.onbuild.push("RUN curl -s install.sh | sh".into());
    support::write_base(&layout, &spec);
    let out = sandbox.dir.path().join("out");
    let output = sandbox.build_on(&layout, &["--output", &format!("oci:{}", out.display())]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("Unknown ONBUILD trigger `RUN curl"),
        "{}",
        stderr(&output)
    );
    assert!(!out.exists());
}

#[test]
fn requirements_errors_name_the_file_and_line() {
    let sandbox = Sandbox::quickstart();
    fs::write(
        sandbox.project.join("requirements.txt"),
        "# deps\npandas >>= 2.2.3\n",
    )
    .expect("write");
    assert_fails(&sandbox, &["requirements.txt:2", "pandas"]);
    fs::write(
        sandbox.project.join("requirements.txt"),
        "# deps\n-e ./src\n",
    )
    .expect("write");
    assert_fails(&sandbox, &["requirements.txt:2", "Editable", "hint:"]);
}

#[test]
fn unmapped_base_has_a_hint() {
    let sandbox = Sandbox::quickstart();
    let out = sandbox.dir.path().join("out");
    let output = support::airlock(
        &[
            "build",
            &sandbox.project.to_string_lossy(),
            "--cache-dir",
            &sandbox.cache.to_string_lossy(),
            "--output",
            &format!("oci:{}", out.display()),
        ],
        sandbox.dir.path(),
        &[],
    );
    // The copied airlock.toml maps the base with a path relative to the repo layout.
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("runtime-base") || err.contains("hint:"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn bad_output_spec_and_unknown_flag_are_usage_errors() {
    let sandbox = Sandbox::quickstart();
    let output = sandbox.build(&["--output", "tarball:x"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("oci:DIR[:TAG]"));
    let output = sandbox.build(&["--no-such-flag"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn bad_airlock_toml_names_the_line() {
    let sandbox = Sandbox::quickstart();
    fs::write(
        sandbox.project.join("airlock.toml"),
        "[dags]\nignore-syntax = \"fnmatch\"\n",
    )
    .expect("write");
    assert_fails(&sandbox, &["airlock.toml", "line 2"]);
}

/// `pull` and `push` read `./airlock.toml` (its `[registry]` settings): one that does
/// not parse is an error naming the file and the line, before any registry is asked.
#[test]
fn bad_airlock_toml_in_the_working_directory_stops_pull_and_push() {
    let sandbox = Sandbox::quickstart();
    fs::write(
        sandbox.dir.path().join("airlock.toml"),
        "[registry]\ninsecure = \"127.0.0.1:1\"\n",
    )
    .expect("write");
    let cache = sandbox.cache.to_string_lossy().into_owned();
    let from = format!("oci:{}:3.0-1", sandbox.base_layout.display());
    for args in [
        vec!["pull", "127.0.0.1:1/team/base:1", "--cache-dir", &cache],
        vec![
            "push",
            "127.0.0.1:1/team/base:1",
            "--from",
            &from,
            "--cache-dir",
            &cache,
        ],
    ] {
        let output = support::airlock(&args, sandbox.dir.path(), &[]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains("airlock.toml"), "{args:?}: {err}");
        assert!(err.contains("line 2"), "{args:?}: {err}");
        assert!(
            !err.contains("127.0.0.1:1/team"),
            "no registry was asked: {err}"
        );
    }
}

/// Every command that reads `airlock.toml` resolves it before any work: one that does
/// not parse stops the command with the file and the line, whatever the command.
#[test]
fn bad_airlock_toml_stops_every_command_that_reads_it() {
    let sandbox = Sandbox::quickstart();
    fs::write(
        sandbox.project.join("airlock.toml"),
        "[deployments.dev]\nimage = 1\n",
    )
    .expect("write");
    let dest = sandbox
        .dir
        .path()
        .join("dest")
        .to_string_lossy()
        .into_owned();
    let from = format!("oci:{}:3.0-1", sandbox.base_layout.display());
    let reference = "127.0.0.1:1/team/base:1";
    let commands: [&[&str]; 12] = [
        &["build"],
        &["lock"],
        &["parse"],
        &["pytest"],
        &["deploy", "dev"],
        &["deployment", "inspect", "dev"],
        &["deployment", "history", "dev"],
        &["deployment", "update", "dev"],
        &["dags", "sync", "dev", "--once", "--dest", &dest],
        &["verify", "dev"],
        &["pull", reference],
        &["push", reference, "--from", &from],
    ];
    let cache = sandbox.cache.to_string_lossy().into_owned();
    for command in commands {
        let mut args = command.to_vec();
        args.extend_from_slice(&["--cache-dir", &cache]);
        let output = support::airlock(&args, &sandbox.project, &[]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{command:?}: {err}");
        assert!(err.starts_with("error: "), "{command:?}: {err}");
        assert!(err.contains("airlock.toml"), "{command:?}: {err}");
        assert!(err.contains("line 2"), "{command:?}: {err}");
    }
}
