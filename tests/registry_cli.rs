//! The registry commands end to end against a real registry on loopback:
//! build --push, pull, push --from, registry bases, mounts, offline and locked builds.

mod support;

use std::fs;
use std::process::{Command, Output};

use serde_json::Value;
use support::proxy::Proxy;
use support::registry::Registry;
use support::{Sandbox, airlock, stderr, stdout};

fn run(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Output {
    let cache = sandbox.cache.to_string_lossy().into_owned();
    let mut all: Vec<&str> = args.to_vec();
    all.extend_from_slice(&["--cache-dir", &cache]);
    airlock(&all, sandbox.dir.path(), env)
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

fn skopeo_digest(reference: &str) -> String {
    let output = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", reference])
        .output()
        .expect("skopeo is installed by scripts/test");
    assert!(output.status.success(), "{}", stderr(&output));
    let json: Value = serde_json::from_slice(&output.stdout).expect("json");
    json["Digest"].as_str().expect("digest").to_string()
}

/// Points the sandbox project's `FROM` at `image` and drops the layout mapping.
fn from_registry(sandbox: &Sandbox, image: &str) {
    fs::write(
        sandbox.project.join("Dockerfile"),
        format!("FROM {image}\n"),
    )
    .expect("write");
    fs::write(
        sandbox.project.join("airlock.toml"),
        "[dags]\nignore-syntax = \"glob\"\n",
    )
    .expect("write");
    let _ = fs::remove_file(sandbox.project.join("airlock.lock"));
}

fn push_fixture_base(sandbox: &Sandbox, target: &str) -> String {
    let from = format!("oci:{}:3.0-1", sandbox.base_layout.display());
    ok(run(sandbox, &["push", target, "--from", &from], &[]))
        .trim()
        .to_string()
}

#[test]
fn build_push_then_pull_into_an_empty_store() {
    let registry = Registry::plain();
    let sandbox = Sandbox::quickstart();
    let target = format!("{}/quickstart:v1", registry.address());
    let result: Value =
        serde_json::from_str(&ok(sandbox.build(&["--json", "--push", &target]))).expect("json");
    let digest = result["manifest_digest"]
        .as_str()
        .expect("digest")
        .to_string();
    assert_eq!(result["push"]["digest"], digest.as_str());
    assert_eq!(skopeo_digest(&format!("docker://{target}")), digest);

    let empty = sandbox.dir.path().join("empty-store");
    let pulled = ok(airlock(
        &["pull", &target, "--cache-dir", &empty.to_string_lossy()],
        sandbox.dir.path(),
        &[],
    ));
    assert_eq!(pulled.trim(), digest);
    let config = result["config_digest"]
        .as_str()
        .expect("config")
        .to_string();
    assert!(
        empty.join("blobs/sha256").join(&config[7..]).is_file(),
        "config pulled into the store"
    );

    // skopeo copies it to a layout with the same manifest.
    let copy = sandbox.dir.path().join("copy");
    let output = Command::new("skopeo")
        .args([
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{target}"),
            &format!("oci:{}:v1", copy.display()),
        ])
        .output()
        .expect("skopeo");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(skopeo_digest(&format!("oci:{}:v1", copy.display())), digest);
}

#[test]
fn a_registry_base_is_locked_mounted_and_never_uploaded_twice() {
    let registry = Registry::plain();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let proxy = runtime.block_on(Proxy::start(registry.port));
    let sandbox = Sandbox::quickstart();
    let base_ref = format!("{}/runtime:3.0-1", proxy.address());
    let base_digest = push_fixture_base(&sandbox, &base_ref);
    from_registry(&sandbox, &base_ref);

    let project = sandbox.project.to_string_lossy().into_owned();
    let out = format!("oci:{}", sandbox.dir.path().join("out").display());
    let first = ok(run(&sandbox, &["build", &project, "--output", &out], &[]));
    let lock = fs::read_to_string(sandbox.project.join("airlock.lock")).expect("lock written");
    assert!(
        lock.contains(&base_digest),
        "the lock pins the base digest:\n{lock}"
    );

    proxy.clear();
    let target = format!("{}/app:1", proxy.address());
    let pushed = ok(run(&sandbox, &["push", &target, "--from", &out], &[]));
    assert_eq!(pushed.trim(), first.trim());
    let requests = proxy.requests();
    let mounts = requests
        .iter()
        .filter(|r| r.target.contains("mount=") && r.status == Some(201))
        .count();
    assert_eq!(mounts, 2, "both base layers are mounted from runtime");
    let uploads = proxy.count("PUT", "/blobs/uploads/");
    assert_eq!(
        uploads, 3,
        "only the project layer, the DAG layer and the config are uploaded"
    );

    proxy.clear();
    ok(run(&sandbox, &["push", &target, "--from", &out], &[]));
    assert_eq!(
        proxy.requests().iter().filter(|r| r.is_upload()).count(),
        0,
        "a second push uploads nothing"
    );

    // Offline: the base is in the store, so a locked offline build works...
    let again = ok(run(
        &sandbox,
        &["build", &project, "--output", &out, "--frozen"],
        &[],
    ));
    assert_eq!(again, first);
    // ...and with an empty store it fails clearly, without a network request.
    proxy.clear();
    let empty = sandbox
        .dir
        .path()
        .join("empty")
        .to_string_lossy()
        .into_owned();
    let output = airlock(
        &["build", &project, "--offline", "--cache-dir", &empty],
        sandbox.dir.path(),
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--offline"), "{}", stderr(&output));
    assert!(proxy.requests().is_empty());
}

#[test]
fn a_moved_tag_is_ignored_until_upgrade_base() {
    let registry = Registry::plain();
    let sandbox = Sandbox::quickstart();
    let base_ref = format!("{}/runtime:3.0-1", registry.address());
    push_fixture_base(&sandbox, &base_ref);
    from_registry(&sandbox, &base_ref);
    let project = sandbox.project.to_string_lossy().into_owned();
    let first = ok(run(&sandbox, &["build", &project], &[]));

    // Move the tag to another image (a different runtime version label).
    let other = sandbox.dir.path().join("other");
    support::write_base(
        &other,
        &support::BaseSpec {
            runtime_version: "3.0-2".into(),
            ..support::BaseSpec::default()
        },
    );
    ok(run(
        &sandbox,
        &[
            "push",
            &base_ref,
            "--from",
            &format!("oci:{}:3.0-1", other.display()),
        ],
        &[],
    ));

    let locked = ok(run(&sandbox, &["build", &project], &[]));
    assert_eq!(locked, first, "the locked digest wins over the moved tag");
    let upgraded = ok(run(&sandbox, &["build", &project, "--upgrade-base"], &[]));
    assert_ne!(upgraded, first);
}

#[test]
fn docker_archive_push_and_short_names() {
    let registry = Registry::plain();
    let sandbox = Sandbox::quickstart();
    let archive = sandbox.dir.path().join("image.tar");
    let built = ok(sandbox.build(&[
        "--output",
        &format!("docker-archive:{}:quickstart:dev", archive.display()),
    ]));
    let target = format!("{}/team/quickstart:dev", registry.address());
    let pushed = ok(run(
        &sandbox,
        &[
            "push",
            &target,
            "--from",
            &format!("docker-archive:{}", archive.display()),
        ],
        &[],
    ));
    assert_eq!(pushed, built);

    let output = run(&sandbox, &["pull", "runtime:1"], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no registry"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn login_then_pull_over_tls_with_basic_auth() {
    let registry = Registry::tls_basic(&[("ci", "s3cret-pass")]);
    let ca = registry.ca_file.clone().expect("tls registry has a CA");
    let sandbox = Sandbox::quickstart();
    let docker_config = sandbox.dir.path().join("docker");
    let docker_env = docker_config.to_string_lossy().into_owned();
    let env = [("DOCKER_CONFIG", docker_env.as_str())];
    let target = format!("{}/quickstart:v1", registry.address());
    let ca_arg = ca.to_string_lossy().into_owned();

    // Without credentials: a clear error, and the password never shows.
    let output = run(
        &sandbox,
        &[
            "push",
            &target,
            "--ca-file",
            &ca_arg,
            "--from",
            "oci:nowhere",
        ],
        &env,
    );
    assert_eq!(output.status.code(), Some(1));

    let mut login = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args([
            "login",
            &registry.address(),
            "--username",
            "ci",
            "--password-stdin",
        ])
        .env("DOCKER_CONFIG", &docker_config)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write;
    login
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"s3cret-pass\n")
        .expect("write");
    let login = login.wait_with_output().expect("login");
    assert!(login.status.success(), "{}", stderr(&login));
    assert!(!stderr(&login).contains("s3cret-pass"));

    let built = ok(run(
        &sandbox,
        &[
            "build",
            &sandbox.project.to_string_lossy(),
            "--base-layout",
            &sandbox.base_layout.to_string_lossy(),
            "--push",
            &target,
            "--ca-file",
            &ca_arg,
        ],
        &env,
    ));
    let pulled = ok(run(
        &sandbox,
        &["pull", &target, "--ca-file", &ca_arg],
        &env,
    ));
    assert_eq!(pulled, built);

    // Without the CA: refused, with a hint about --ca-file.
    let output = run(&sandbox, &["pull", &target], &env);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--ca-file"), "{}", stderr(&output));

    ok(run(&sandbox, &["logout", &registry.address()], &env));
    let config = fs::read_to_string(docker_config.join("config.json")).expect("config");
    assert!(!config.contains(&registry.address()), "{config}");
}
