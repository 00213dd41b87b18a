//! #13 items 1 and 4: the Dockerfile's `COPY`/`ADD`/`WORKDIR` steps as layers, and
//! the config instructions, checked with the third-party readers (umoci, skopeo).

use crate::support;

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::{Sandbox, stderr, stdout};

/// The quickstart project with `extra` appended to its Dockerfile.
fn project_with(extra: &str) -> Sandbox {
    let sandbox = Sandbox::quickstart();
    let path = sandbox.project.join("Dockerfile");
    let mut text = fs::read_to_string(&path).expect("Dockerfile");
    text.push_str(extra);
    fs::write(&path, text).expect("write Dockerfile");
    sandbox
}

/// Builds into an OCI layout (tag `v1`); returns the layout and the digest.
fn build_layout(sandbox: &Sandbox) -> (std::path::PathBuf, String) {
    let layout = sandbox.dir.path().join("oci");
    let spec = format!("oci:{}:v1", layout.display());
    let output = sandbox.build(&["--output", &spec]);
    assert!(output.status.success(), "build failed: {}", stderr(&output));
    (layout, stdout(&output).trim().to_string())
}

fn unpack(sandbox: &Sandbox, layout: &Path) -> std::path::PathBuf {
    let bundle = sandbox.dir.path().join("bundle");
    let mut command = Command::new("umoci");
    command
        .args(["unpack", "--image", &format!("{}:v1", layout.display())])
        .arg(&bundle);
    if !running_as_root() {
        command.arg("--rootless");
    }
    let output = command.output().expect("umoci");
    assert!(output.status.success(), "umoci: {}", stderr(&output));
    bundle.join("rootfs")
}

fn running_as_root() -> bool {
    fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(1) == 0
}

/// The image config as stored (`--raw`: skopeo's OCI view drops Docker's fields such as
/// `Healthcheck`, `Shell` and `OnBuild`).
fn skopeo_config(layout: &Path) -> Value {
    let output = Command::new("skopeo")
        .args([
            "inspect",
            "--config",
            "--raw",
            &format!("oci:{}:v1", layout.display()),
        ])
        .output()
        .expect("skopeo");
    assert!(output.status.success(), "skopeo: {}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("config json")
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn owner(path: &Path) -> (u32, u32) {
    let meta = fs::symlink_metadata(path).expect("meta");
    (meta.uid(), meta.gid())
}

/// A plain tar of `entries` (path, bytes, mode).
fn plain_tar(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes, mode) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(*mode);
        header.set_cksum();
        builder
            .append_data(&mut header, path, *bytes)
            .expect("append");
    }
    builder.into_inner().expect("tar")
}

fn gzip_tar(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain_tar(entries)).expect("gzip");
    gz.finish().expect("gzip")
}

const STEPS: &str = r#"
USER root
COPY --chown=astro:0 include/ /opt/include/
COPY --chmod=750 include/helpers.py /opt/tools/run.py
COPY dags/*.py requirements.txt /opt/mixed/
COPY --chown=1234:5678 include notes/
ADD bundle.tar.gz /opt/bundle/
ADD --chown=astro plain.txt /opt/plain.txt
USER astro
WORKDIR /opt/newdir/sub
"#;

fn steps_project() -> Sandbox {
    let sandbox = project_with(STEPS);
    let tarball = gzip_tar(&[
        ("bin/tool", b"#!/bin/sh\necho tool\n", 0o755),
        ("./share/data.txt", b"data\n", 0o600),
    ]);
    fs::write(sandbox.project.join("bundle.tar.gz"), tarball).expect("tarball");
    fs::write(sandbox.project.join("plain.txt"), "plain\n").expect("plain");
    sandbox
}

#[test]
fn item13_1_copy_and_add_from_the_context_with_owners_and_modes() {
    let sandbox = steps_project();
    let (layout, _) = build_layout(&sandbox);
    let root = unpack(&sandbox, &layout);
    let home = root.join("usr/local/airflow");
    // A directory copies its contents, under its --chown owner.
    let helpers = root.join("opt/include/helpers.py");
    assert_eq!(
        fs::read(&helpers).expect("helpers"),
        fs::read(sandbox.project.join("include/helpers.py")).expect("source")
    );
    assert_eq!(mode(&helpers), 0o644);
    assert!(!root.join("opt/include/include").exists());
    // --chmod on a file onto a new name; its new parent is root's (no --chown).
    let tool = root.join("opt/tools/run.py");
    assert_eq!(mode(&tool), 0o750);
    // Globs and several sources into a directory.
    let mut mixed: Vec<String> = fs::read_dir(root.join("opt/mixed"))
        .expect("mixed")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    mixed.sort();
    assert_eq!(
        mixed,
        ["daily_report.py", "example_dag.py", "requirements.txt"]
    );
    // A relative destination is under the WORKDIR; a missing parent is made.
    let notes = home.join("notes/helpers.py");
    assert!(notes.is_file(), "{}", notes.display());
    // ADD extracts a local gzip tar; a plain file is copied as it is.
    let bundled = root.join("opt/bundle/bin/tool");
    assert_eq!(mode(&bundled), 0o755);
    assert_eq!(
        fs::read_to_string(root.join("opt/bundle/share/data.txt")).expect("data"),
        "data\n"
    );
    assert_eq!(
        fs::read_to_string(root.join("opt/plain.txt")).expect("plain"),
        "plain\n"
    );
    // WORKDIR makes its directory, owned by the USER in force.
    let workdir = root.join("opt/newdir/sub");
    assert!(workdir.is_dir());
    assert_eq!(mode(&workdir), 0o755);
    if running_as_root() {
        assert_eq!(owner(&helpers), (support::ASTRO_UID, 0));
        assert_eq!(owner(&root.join("opt/include")), (support::ASTRO_UID, 0));
        assert_eq!(owner(&tool), (0, 0));
        // A missing parent takes the step's owner, as BuildKit makes it: `/opt` came
        // with the first COPY (--chown=astro:0), `/opt/tools` with one without --chown.
        assert_eq!(owner(&root.join("opt")), (support::ASTRO_UID, 0));
        assert_eq!(owner(&root.join("opt/tools")), (0, 0));
        assert_eq!(owner(&notes), (1234, 5678));
        assert_eq!(owner(&root.join("opt/plain.txt")).0, support::ASTRO_UID);
        // `USER astro`: its uid and primary group, for the directory and its new parent.
        let astro = owner(&workdir);
        assert_eq!(astro.0, support::ASTRO_UID);
        assert_eq!(owner(&root.join("opt/newdir")), astro);
        // The base's directories keep their owner.
        assert_eq!(owner(&home).0, support::ASTRO_UID);
    }
    // The history has the steps in Dockerfile order, before the DAGs layer; the
    // config's workdir is the last WORKDIR.
    let config = skopeo_config(&layout);
    assert_eq!(config["config"]["WorkingDir"], "/opt/newdir/sub");
    let history: Vec<String> = config["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["created_by"].as_str().unwrap_or("").to_string())
        .collect();
    let position = |needle: &str| {
        history
            .iter()
            .position(|h| h.starts_with(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in {history:#?}"))
    };
    assert!(position("COPY --chown=astro:0 include/") < position("ADD bundle.tar.gz"));
    assert!(position("USER root") < position("COPY --chown=astro:0 include/"));
    assert!(position("WORKDIR /opt/newdir/sub") < position("COPY --chown=astro:0 dags/"));
    assert_eq!(
        config["rootfs"]["diff_ids"]
            .as_array()
            .expect("diff ids")
            .len(),
        history
            .iter()
            .zip(config["history"].as_array().expect("history"))
            .filter(|(_, h)| h["empty_layer"] != true)
            .count(),
        "one non-empty history line per layer"
    );
}

#[test]
fn item13_1_copy_steps_give_one_digest_from_two_stores() {
    let a = steps_project();
    let b = steps_project();
    let (_, first) = build_layout(&a);
    let (_, second) = build_layout(&b);
    assert_eq!(first, second);
    // And again from a warm store: the same digest, nothing to produce.
    let (_, again) = build_layout(&a);
    assert_eq!(first, again);
}

fn failing_build(sandbox: &Sandbox) -> String {
    let output = sandbox.build(&[]);
    assert!(!output.status.success(), "the build should fail");
    stderr(&output)
}

#[test]
fn item13_1_copy_never_leaves_the_context() {
    let outside = tempfile::tempdir().expect("tempdir");
    fs::write(outside.path().join("secret.txt"), "host secret").expect("secret");

    // `..` past the context root.
    let sandbox = project_with("COPY ../secret.txt /x\n");
    let message = failing_build(&sandbox);
    assert!(message.contains("Dockerfile:9"), "{message}");
    assert!(
        message.contains("leads outside the build context"),
        "{message}"
    );

    // An absolute source is relative to the context, as in Docker: not the host's.
    let sandbox = project_with("COPY /etc/passwd /x\n");
    let message = failing_build(&sandbox);
    assert!(
        message.contains("`/etc/passwd` is not in the build context"),
        "{message}"
    );

    // A symlink in the context that points out of it.
    let sandbox = project_with("COPY link.txt /x\n");
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        sandbox.project.join("link.txt"),
    )
    .expect("symlink");
    let message = failing_build(&sandbox);
    assert!(message.contains("link.txt"), "{message}");
    assert!(!message.contains("host secret"));

    // A relative symlink climbing out of it, named through a directory.
    let sandbox = project_with("COPY up/secret.txt /x\n");
    std::os::unix::fs::symlink("../..", sandbox.project.join("up")).expect("symlink");
    let message = failing_build(&sandbox);
    assert!(message.contains("up"), "{message}");

    // A file .dockerignore excludes is not in the context.
    let sandbox = project_with("COPY README.md /x\n");
    let message = failing_build(&sandbox);
    assert!(
        message
            .contains("`README.md` is not in the build context (or `.dockerignore` excludes it)"),
        "{message}"
    );

    // Several sources onto a destination without `/`.
    let sandbox = project_with("COPY dags/*.py /one-file\n");
    let message = failing_build(&sandbox);
    assert!(message.contains("must end with `/`"), "{message}");
}

#[test]
fn item13_1_remote_sources_are_refused_clearly() {
    let cases = [
        (
            "COPY http://127.0.0.1/x /x\n",
            "takes files from the build context only",
        ),
        ("ADD http://127.0.0.1/x /x\n", "without `--checksum=sha256:"),
        ("ADD https://127.0.0.1/repo.git /x\n", "git repository"),
        ("ADD git@127.0.0.1:repo /x\n", "git repository"),
    ];
    for (line, needle) in cases {
        let sandbox = project_with(line);
        let message = failing_build(&sandbox);
        assert!(message.contains("Dockerfile:9"), "{line}: {message}");
        assert!(message.contains(needle), "{line}: {message}");
    }
}

#[test]
fn item13_4_config_instructions_show_in_the_config() {
    let sandbox = project_with(
        r#"SHELL ["/bin/bash", "-c"]
ENTRYPOINT ["/entrypoint"]
CMD airflow standalone
EXPOSE 8080 8793/tcp 53/udp
VOLUME ["/data"]
HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://127.0.0.1:8080/health
STOPSIGNAL SIGINT
MAINTAINER team
ONBUILD RUN echo child
"#,
    );
    let (layout, _) = build_layout(&sandbox);
    let config = skopeo_config(&layout);
    let cfg = &config["config"];
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/entrypoint"]));
    assert_eq!(
        cfg["Cmd"],
        serde_json::json!(["/bin/bash", "-c", "airflow standalone"])
    );
    for port in ["8080/tcp", "8793/tcp", "53/udp"] {
        assert!(cfg["ExposedPorts"][port].is_object(), "{port}: {cfg}");
    }
    assert!(cfg["Volumes"]["/data"].is_object(), "{cfg}");
    assert_eq!(
        cfg["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "curl -f http://127.0.0.1:8080/health"])
    );
    assert_eq!(cfg["Healthcheck"]["Interval"], 30_000_000_000u64);
    assert_eq!(cfg["Healthcheck"]["Retries"], 3);
    assert_eq!(cfg["StopSignal"], "SIGINT");
    assert_eq!(cfg["Shell"], serde_json::json!(["/bin/bash", "-c"]));
    // The base's triggers were carried out; the Dockerfile's own are for children.
    assert_eq!(cfg["OnBuild"], serde_json::json!(["RUN echo child"]));
    assert_eq!(config["author"], "team");
    let history: Vec<&str> = config["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|h| h["created_by"].as_str())
        .collect();
    for line in [
        "SHELL [/bin/bash -c]",
        "ENTRYPOINT [\"/entrypoint\"]",
        "CMD [\"/bin/bash\" \"-c\" \"airflow standalone\"]",
        "EXPOSE 8080 8793/tcp 53/udp",
        "STOPSIGNAL SIGINT",
        "ONBUILD RUN echo child",
    ] {
        assert!(history.contains(&line), "no `{line}` in {history:#?}");
    }

    // A new ENTRYPOINT drops the base's CMD (Docker's rule).
    let sandbox = project_with("ENTRYPOINT [\"/e\"]\n");
    let (layout, _) = build_layout(&sandbox);
    let config = skopeo_config(&layout);
    assert_eq!(config["config"]["Entrypoint"], serde_json::json!(["/e"]));
    assert!(
        config["config"].get("Cmd").is_none_or(Value::is_null),
        "{config}"
    );
}

#[test]
fn item13_4_pyenv_and_other_frontends_are_refused_naming_the_line() {
    let sandbox = project_with("PYENV 3.10 snowpark requirements-snowpark.txt\n");
    let message = failing_build(&sandbox);
    assert!(message.contains("Line 9: `PYENV`"), "{message}");
    let sandbox = Sandbox::quickstart();
    let path = sandbox.project.join("Dockerfile");
    let text = fs::read_to_string(&path).expect("Dockerfile");
    fs::write(
        &path,
        text.replace(
            "# syntax=docker/dockerfile:1",
            "# syntax=registry.example/astronomer/airflow-extensions:v1",
        ),
    )
    .expect("write");
    let message = failing_build(&sandbox);
    assert!(
        message.contains("Line 1: the Dockerfile asks for the frontend"),
        "{message}"
    );
}

/// The quickstart with a Dockerfile of two stages: a builder stage on a base without
/// ONBUILD triggers (its own layout, mapped in airlock.toml), and the Runtime stage.
fn multi_stage_project(last_stage: &str) -> Sandbox {
    let sandbox = Sandbox::quickstart();
    let builder = sandbox.dir.path().join("builder-layout");
    support::write_base(
        &builder,
        &support::BaseSpec {
            tag: "1".into(),
            onbuild: Vec::new(),
            extra_files: vec![
                ("opt/tool/run.sh".into(), "#!/bin/sh\necho run\n".into()),
                ("opt/tool/notes.txt".into(), "notes\n".into()),
            ],
            ..support::BaseSpec::default()
        },
    );
    let runtime = support::repo_root().join("fixtures/runtime-base");
    fs::write(
        sandbox.project.join("airlock.toml"),
        format!(
            "[base.layouts]\n\"astro-runtime\" = \"{}\"\n\"builder-base\" = \"../builder-layout\"\n\n[dags]\nignore-syntax = \"glob\"\n",
            runtime.display(),
        ),
    )
    .expect("airlock.toml");
    fs::write(
        sandbox.project.join("Dockerfile"),
        format!(
            "ARG RUNTIME_VERSION=3.0-1\nFROM builder-base:1 AS build\nWORKDIR /work\nCOPY include/helpers.py ./helpers.py\nCOPY --chmod=755 include/helpers.py ./bin/tool\n\nFROM astro-runtime:${{RUNTIME_VERSION}}\nUSER root\n{last_stage}USER astro\n"
        ),
    )
    .expect("Dockerfile");
    sandbox
}

/// Builds without `--base-layout` (airlock.toml maps both images).
fn build_mapped(sandbox: &Sandbox) -> (std::process::Output, std::path::PathBuf) {
    let layout = sandbox.dir.path().join("oci");
    let spec = format!("oci:{}:v1", layout.display());
    let project = sandbox.project.to_string_lossy().into_owned();
    let cache = sandbox.cache.to_string_lossy().into_owned();
    let output = support::airlock(
        &["build", &project, "--cache-dir", &cache, "--output", &spec],
        sandbox.dir.path(),
        &[],
    );
    (output, layout)
}

#[test]
fn item13_1_multi_stage_copy_from_an_earlier_stage_and_an_image() {
    let steps = "COPY --from=build /work/ /opt/built/\nCOPY --from=build /opt/tool/*.sh /opt/scripts/\nCOPY --from=0 /work/helpers.py /opt/again.py\nCOPY --from=builder-base:1 /opt/tool/notes.txt /opt/from-image.txt\n";
    let a = multi_stage_project(steps);
    let (output, layout) = build_mapped(&a);
    assert!(output.status.success(), "{}", stderr(&output));
    let digest = stdout(&output).trim().to_string();
    let root = unpack(&a, &layout);
    let helpers = fs::read(a.project.join("include/helpers.py")).expect("helpers");
    // The stage's own COPY steps (and its WORKDIR) are in what it hands over.
    assert_eq!(
        fs::read(root.join("opt/built/helpers.py")).expect("built"),
        helpers
    );
    assert_eq!(mode(&root.join("opt/built/bin/tool")), 0o755);
    assert_eq!(mode(&root.join("opt/built/helpers.py")), 0o644);
    // The stage's base files, by glob; by stage index; from an image.
    assert_eq!(
        fs::read_to_string(root.join("opt/scripts/run.sh")).expect("run.sh"),
        "#!/bin/sh\necho run\n"
    );
    assert!(!root.join("opt/scripts/notes.txt").exists());
    assert_eq!(fs::read(root.join("opt/again.py")).expect("again"), helpers);
    assert_eq!(
        fs::read_to_string(root.join("opt/from-image.txt")).expect("from image"),
        "notes\n"
    );
    // Nothing of the builder stage but what was copied: its /work is not in the image.
    assert!(!root.join("work").exists());
    if running_as_root() {
        assert_eq!(owner(&root.join("opt/built/helpers.py")), (0, 0));
    }

    // Another store, another directory: the same image.
    let b = multi_stage_project(steps);
    let (output, _) = build_mapped(&b);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), digest);

    // A path the stage does not have names the line.
    let c = multi_stage_project("COPY --from=build /nope /x\n");
    let (output, _) = build_mapped(&c);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("Dockerfile:9"), "{message}");
    assert!(
        message.contains("`/nope` is not in the stage or image it copies from"),
        "{message}"
    );
}

/// A one-file HTTP server on 127.0.0.1 that counts its requests.
fn serve(body: &'static [u8]) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead as _, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
    });
    (format!("http://{address}"), count)
}

#[test]
fn item13_1_add_url_with_a_checksum_is_downloaded_verified_and_reused() {
    const BODY: &[u8] = b"downloaded tool\n";
    let (base, requests) = serve(BODY);
    let sha = airlock::digest::Digest::of(BODY).to_string();
    let sandbox = project_with(&format!(
        "ADD --checksum={sha} {base}/files/tool.txt /opt/dl/\nADD --checksum={sha} --chmod=644 {base}/files/tool.txt /opt/renamed.txt\n"
    ));
    let (layout, _) = build_layout(&sandbox);
    let root = unpack(&sandbox, &layout);
    let file = root.join("opt/dl/tool.txt");
    assert_eq!(fs::read(&file).expect("downloaded"), BODY);
    // Docker gives a downloaded file 0600; --chmod wins.
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&root.join("opt/renamed.txt")), 0o644);
    // Downloaded once (the second ADD finds it in the store by its digest).
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);
    // The first build pinned the two ADDs in the lock after its project layer, as a
    // new RUN is pinned: the next build's image holds the final lock.
    let output = sandbox.build(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let digest = stdout(&output).trim().to_string();
    // Offline with a warm store: no request, the same image.
    let output = sandbox.build(&["--offline"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), digest);
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);

    // Bytes that do not match the checksum are refused, naming the line.
    let wrong = airlock::digest::Digest::of(b"other").to_string();
    let sandbox = project_with(&format!(
        "ADD --checksum={wrong} {base}/files/tool.txt /opt/x\n"
    ));
    let message = failing_build(&sandbox);
    assert!(message.contains("ADD` at Dockerfile:9"), "{message}");
    assert!(message.contains(&sha), "{message}");
}

/// The `[[steps]]` of the sandbox project's lock.
fn lock_steps(sandbox: &Sandbox) -> Vec<toml::Value> {
    let text = fs::read_to_string(sandbox.project.join("airlock.lock")).expect("lock");
    let lock: toml::Value = toml::from_str(&text).expect("toml");
    lock.get("steps")
        .and_then(|s| s.as_array())
        .cloned()
        .unwrap_or_default()
}

/// #13 leftover (c): `ADD --checksum <URL>` has its own `[[steps]]` entry (kind
/// `add-url`, the URL and the checksum); `--locked` refuses a Dockerfile whose URL or
/// checksum differ from it before downloading, naming the line; a build without
/// `--locked` follows the Dockerfile, and `airlock lock` pins it too.
#[test]
fn item13_c_add_url_is_pinned_in_the_lock() {
    const BODY: &[u8] = b"pinned tool\n";
    let (base, requests) = serve(BODY);
    let sha = airlock::digest::Digest::of(BODY).to_string();
    let url = format!("{base}/files/tool.txt");
    let sandbox = project_with(&format!("ADD --checksum={sha} {url} /opt/dl/\n"));
    let output = sandbox.build(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let steps = lock_steps(&sandbox);
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(steps[0]["kind"].as_str(), Some("add-url"));
    assert_eq!(steps[0]["line"].as_integer(), Some(9));
    assert_eq!(steps[0]["url"].as_str(), Some(url.as_str()));
    assert_eq!(steps[0]["checksum"].as_str(), Some(sha.as_str()));
    let lock = fs::read_to_string(sandbox.project.join("airlock.lock")).expect("lock");
    let output = sandbox.build(&["--locked"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        fs::read_to_string(sandbox.project.join("airlock.lock")).expect("lock"),
        lock
    );
    let dockerfile = sandbox.project.join("Dockerfile");
    let original = fs::read_to_string(&dockerfile).expect("Dockerfile");
    let downloads = requests.load(std::sync::atomic::Ordering::SeqCst);
    // Another URL, or another checksum: `--locked` refuses, naming the line, and
    // downloads nothing.
    let other = airlock::digest::Digest::of(b"other").to_string();
    for changed in [
        original.replace("/files/tool.txt", "/files/moved.txt"),
        original.replace(&sha, &other),
    ] {
        fs::write(&dockerfile, &changed).expect("write");
        let output = sandbox.build(&["--locked"]);
        assert!(!output.status.success(), "{}", stdout(&output));
        let message = stderr(&output);
        assert!(message.contains("ADD at Dockerfile:9"), "{message}");
        assert!(message.contains("airlock.lock"), "{message}");
        assert_eq!(
            requests.load(std::sync::atomic::Ordering::SeqCst),
            downloads,
            "{message}"
        );
        assert_eq!(
            fs::read_to_string(sandbox.project.join("airlock.lock")).expect("lock"),
            lock
        );
    }
    // Without `--locked`: the entry follows the Dockerfile.
    fs::write(
        &dockerfile,
        original.replace("/files/tool.txt", "/files/moved.txt"),
    )
    .expect("write");
    let output = sandbox.build(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let steps = lock_steps(&sandbox);
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(
        steps[0]["url"].as_str(),
        Some(format!("{base}/files/moved.txt").as_str())
    );
    // `airlock lock` from no lock pins it as well.
    fs::remove_file(sandbox.project.join("airlock.lock")).expect("remove");
    let output = sandbox.run("lock", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let steps = lock_steps(&sandbox);
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(steps[0]["kind"].as_str(), Some("add-url"));
}

/// A first build that pins a step (here an `ADD <URL>`, whose pin is made as its
/// layer is) gives the image a rebuild from the lock it wrote gives: the image
/// carries that lock (label and project layer), not the one from before the pin.
#[test]
fn a_first_build_that_pins_a_step_equals_the_rebuild_from_its_lock() {
    const BODY: &[u8] = b"pinned tool\n";
    let (base, _requests) = serve(BODY);
    let sha = airlock::digest::Digest::of(BODY);
    let sandbox = project_with(&format!(
        "ADD --checksum={sha} {base}/files/tool.txt /opt/dl/\n"
    ));
    let (layout, first) = build_layout(&sandbox);
    let lock = fs::read(sandbox.project.join("airlock.lock")).expect("lock written");
    let config = image_config(&layout);
    assert_eq!(
        config["config"]["Labels"]["airlock.lock.sha256"],
        airlock::digest::Digest::of(&lock).hex(),
        "the image names the lock the build wrote"
    );
    let (_, again) = build_layout(&sandbox);
    assert_eq!(again, first, "the rebuild from the written lock differs");
    assert_eq!(
        fs::read(sandbox.project.join("airlock.lock")).expect("lock"),
        lock
    );
}

/// The config of the one image in the OCI layout `layout`.
fn image_config(layout: &Path) -> Value {
    let blob = |digest: &str| -> Value {
        let path = layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        serde_json::from_slice(&fs::read(path).expect("blob")).expect("json")
    };
    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).expect("index")).expect("json");
    let manifest = blob(index["manifests"][0]["digest"].as_str().expect("digest"));
    blob(
        manifest["config"]["digest"]
            .as_str()
            .expect("config digest"),
    )
}

/// The side documents `build --sbom both --provenance` wrote beside `out`: the
/// provenance, the SPDX and the CycloneDX document, parsed.
fn side_documents(out: &Path) -> [Value; 3] {
    ["intoto.json", "spdx.json", "cdx.json"].map(|suffix| {
        let path = format!("{}.{suffix}", out.display());
        serde_json::from_slice(&fs::read(&path).expect("side document")).expect("json")
    })
}

/// An `ADD --checksum <URL>` download is one of the build's materials: the
/// provenance lists it with its checksum, and both SBOMs name the URL and the hash.
#[test]
fn supply_chain_an_add_url_download_is_a_material_of_the_build() {
    const BODY: &[u8] = b"pinned tool\n";
    let (base, _requests) = serve(BODY);
    let sha = airlock::digest::Digest::of(BODY);
    let url = format!("{base}/files/tool.txt");
    let sandbox = project_with(&format!("ADD --checksum={sha} {url} /opt/dl/\n"));
    let out = sandbox.dir.path().join("out");
    let spec = format!("oci:{}", out.display());
    let args = ["--output", &spec, "--sbom", "both", "--provenance"];
    let output = sandbox.build(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let [provenance, spdx, cyclonedx] = side_documents(&out);
    let deps = &provenance["predicate"]["buildDefinition"]["resolvedDependencies"];
    let download = support::find_by(deps, "uri", &url);
    assert_eq!(download["digest"]["sha256"], sha.hex());
    assert_eq!(download["name"], "ADD at Dockerfile:9");
    let package = support::find_by(&spdx["packages"], "downloadLocation", &url);
    assert_eq!(package["checksums"][0]["checksumValue"], sha.hex());
    let component = support::find_by(&cyclonedx["components"], "name", &url);
    assert_eq!(component["hashes"][0]["content"], sha.hex());
    let image_deps = cyclonedx["dependencies"][0]["dependsOn"].to_string();
    assert!(
        image_deps.contains(component["bom-ref"].as_str().expect("bom-ref")),
        "{image_deps}"
    );
    // The documents with the new material still validate.
    if let Some(python) = support::sbom_check::validators() {
        let read = |suffix: &str| fs::read(format!("{}.{suffix}", out.display())).expect("read");
        let dir = sandbox.dir.path();
        support::sbom_check::validate(&python, &read("spdx.json"), &read("cdx.json"), dir);
    }
}

/// A bzip2 tar of `entries` (path, bytes, mode).
fn bzip2_tar(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    bz.write_all(&plain_tar(entries)).expect("bzip2");
    bz.finish().expect("bzip2")
}

/// #13 leftover (d): `ADD` of a local `.tar.bz2` extracts it, entries and modes as in
/// the archive; a corrupt one is refused with an error naming the file and the line.
#[test]
fn item13_d_add_extracts_a_bzip2_tar() {
    let sandbox = project_with("ADD bundle.tar.bz2 /opt/bundle/\n");
    let archive = bzip2_tar(&[
        ("bin/tool", b"#!/bin/sh\necho tool\n", 0o755),
        ("./share/data.txt", b"data\n", 0o600),
    ]);
    fs::write(sandbox.project.join("bundle.tar.bz2"), &archive).expect("write");
    let (layout, _) = build_layout(&sandbox);
    let root = unpack(&sandbox, &layout);
    let tool = root.join("opt/bundle/bin/tool");
    assert_eq!(
        fs::read_to_string(&tool).expect("tool"),
        "#!/bin/sh\necho tool\n"
    );
    assert_eq!(mode(&tool), 0o755);
    assert_eq!(
        fs::read_to_string(root.join("opt/bundle/share/data.txt")).expect("data"),
        "data\n"
    );
    assert!(!root.join("opt/bundle/bundle.tar.bz2").exists());
    // Cut short: the bzip2 header is there, the stream is not whole.
    fs::write(
        sandbox.project.join("bundle.tar.bz2"),
        &archive[..archive.len() / 2],
    )
    .expect("write");
    let message = failing_build(&sandbox);
    assert!(message.contains("Dockerfile:9"), "{message}");
    assert!(message.contains("bundle.tar.bz2"), "{message}");
}
