//! #13 item 3: a Dockerfile `RUN` that is no native idiom runs in the sandbox
//! (bubblewrap, for real) over the layers below it; its layer is pinned in
//! `airlock.lock` and must reproduce. The base is the shared Debian minbase root
//! filesystem (made once by `mmdebstrap`, then cached).

mod support;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;

use support::host_debian::{minbase_layout, tool};
use support::{airlock, stderr, stdout};

/// A project on the minbase base with `dockerfile_rest` after its `FROM`.
fn project(work: &Path, dockerfile_rest: &str) -> PathBuf {
    let project = work.join("project");
    fs::create_dir_all(project.join("dags")).expect("mkdir");
    fs::write(
        project.join("Dockerfile"),
        format!("FROM e2e/minbase:bookworm\n{dockerfile_rest}"),
    )
    .expect("write");
    fs::write(project.join("dags/dag.py"), "x = 1\n").expect("write");
    project
}

/// `airlock build --json` of `project` with the store `store`, `extra` after.
fn build(project: &Path, store: &Path, extra: &[&str]) -> Output {
    let layout = minbase_layout();
    let mut args = vec![
        "build",
        project.to_str().expect("utf-8"),
        "--cache-dir",
        store.to_str().expect("utf-8"),
        "--base-layout",
        layout.to_str().expect("utf-8"),
        "--json",
    ];
    args.extend_from_slice(extra);
    airlock(&args, project, &[("SOURCE_DATE_EPOCH", "1700000000")])
}

fn ok(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}{}",
        stdout(output),
        stderr(output)
    );
    serde_json::from_str(&stdout(output)).expect("json")
}

/// The diff IDs of the layers of kind `run`.
fn run_layers(result: &serde_json::Value) -> Vec<String> {
    result["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter(|l| l["kind"] == "run")
        .map(|l| l["diff_id"].as_str().expect("diff id").to_string())
        .collect()
}

fn ready() -> bool {
    if !tool("bwrap") {
        eprintln!("SKIP: bwrap is missing");
        return false;
    }
    true
}

/// #13 item 3: a deterministic `RUN` gives one layer from two stores, pinned in the
/// lock by key and diff ID; the second store runs it again and agrees.
#[test]
fn item13_3_deterministic_run_gives_one_digest_from_two_stores() {
    if !ready() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let project = project(work.path(), "RUN mkdir -p /opt/x && echo hi > /opt/x/y\n");
    let first = ok(&build(&project, &work.path().join("a"), &[]));
    let layers = run_layers(&first);
    assert_eq!(layers.len(), 1, "{first}");
    let lock = fs::read_to_string(project.join("airlock.lock")).expect("lock");
    assert!(lock.contains("[[steps]]"), "{lock}");
    assert!(lock.contains("kind = \"run\""), "{lock}");
    assert!(lock.contains(&layers[0]), "{lock}");
    assert!(lock.contains("network = true"), "{lock}");

    let second = ok(&build(&project, &work.path().join("b"), &[]));
    assert_eq!(run_layers(&second), layers);
    assert_eq!(
        fs::read_to_string(project.join("airlock.lock")).expect("lock"),
        lock,
        "the lock changed on a rebuild"
    );
    // The first store reuses its layer; the image is the second store's.
    let third = ok(&build(&project, &work.path().join("a"), &[]));
    assert_eq!(third["manifest_digest"], second["manifest_digest"]);
}

/// #13 item 3: a `RUN` writing random bytes fails the second build (another store,
/// the same lock) with "did not reproduce", both digests and the file.
#[test]
fn item13_3_nondeterministic_run_did_not_reproduce() {
    if !ready() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let project = project(
        work.path(),
        "RUN mkdir -p /opt && head -c 16 /dev/urandom > /opt/random && echo same > /opt/same\n",
    );
    let first = ok(&build(&project, &work.path().join("a"), &[]));
    let pinned = run_layers(&first);
    let lock = fs::read_to_string(project.join("airlock.lock")).expect("lock");

    let second = build(&project, &work.path().join("b"), &[]);
    assert!(!second.status.success(), "{}", stdout(&second));
    let message = stderr(&second);
    assert!(
        message.contains("RUN at Dockerfile:2 did not reproduce"),
        "{message}"
    );
    assert!(message.contains(&pinned[0]), "{message}");
    assert!(message.contains("/opt/random"), "{message}");
    assert!(!message.contains("/opt/same"), "{message}");
    assert_eq!(
        fs::read_to_string(project.join("airlock.lock")).expect("lock"),
        lock,
        "a failed build changed the lock"
    );
}

/// Whether `needle` is in a file under `dir`: `grep` over the raw files, and each
/// gzip file (a layer) decompressed. Returns the files searched.
fn find_in(dir: &Path, needle: &str) -> (usize, Vec<PathBuf>) {
    let (mut searched, mut found) = (0, Vec::new());
    for entry in fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            let (n, f) = find_in(&path, needle);
            searched += n;
            found.extend(f);
            continue;
        }
        searched += 1;
        let grep = std::process::Command::new("grep")
            .args(["-a", "-F", "-q", needle])
            .arg(&path)
            .status()
            .expect("grep");
        if grep.success() {
            found.push(path.clone());
        }
        let mut head = [0u8; 2];
        let is_gzip = fs::File::open(&path)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok()
            && head == [0x1f, 0x8b];
        if is_gzip {
            let mut plain = Vec::new();
            flate2::read::MultiGzDecoder::new(fs::File::open(&path).expect("open"))
                .read_to_end(&mut plain)
                .expect("gunzip");
            if plain.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(path);
            }
        }
    }
    (searched, found)
}

/// #13 item 3: a secret a `RUN` reads is in no layer, not in the lock, the logs or
/// the output; `--build-secrets` (as `astro deploy` passes it) works too.
#[test]
fn item13_3_secret_reaches_no_layer_lock_log_or_output() {
    if !ready() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let value = "tok-5ecr3t-9f8e7d";
    let secret = work.path().join("token.txt");
    fs::write(&secret, value).expect("write");
    let project = project(
        work.path(),
        "RUN --mount=type=secret,id=tok,required=true mkdir -p /opt && wc -c < /run/secrets/tok > /opt/length \
         && cp /run/secrets/tok /tmp/copy && cat /run/secrets/tok\n\
         RUN --mount=type=secret,id=tok,target=/etc/tok.conf test -s /etc/tok.conf\n",
    );
    let flag = format!("id=tok,src={}", secret.display());
    let output = build(&project, &work.path().join("a"), &["--secret", &flag]);
    ok(&output);
    let again = build(
        &project,
        &work.path().join("b"),
        &["--build-secrets", &flag],
    );
    ok(&again);
    let missing = build(&project, &work.path().join("c"), &[]);
    assert!(
        stderr(&missing).contains("mounts the secret `tok`, which was not given"),
        "{}",
        stderr(&missing)
    );
    for text in [
        stdout(&output),
        stderr(&output),
        stdout(&again),
        stderr(&again),
    ] {
        assert!(!text.contains(value), "the secret is in the output: {text}");
    }
    // The OCI layout (every layer and the config) and the project with its lock.
    let (searched, found) = find_in(&project, value);
    assert!(found.is_empty(), "the secret is in {found:?}");
    assert!(searched > 5, "nothing was searched");
    let lock = fs::read_to_string(project.join("airlock.lock")).expect("lock");
    assert!(!lock.contains(value), "{lock}");
    assert!(!lock.contains("token.txt"), "{lock}");
}

/// #13 item 3: `RUN --network=none` has no interface but `lo`, and the lock says so.
#[test]
fn item13_3_network_none_is_honoured() {
    if !ready() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let project = project(
        work.path(),
        "RUN --network=none mkdir -p /opt && test \"$(wc -l < /proc/net/dev)\" -eq 3 && touch /opt/offline\n",
    );
    ok(&build(&project, &work.path().join("a"), &[]));
    let lock = fs::read_to_string(project.join("airlock.lock")).expect("lock");
    assert!(lock.contains("network = false"), "{lock}");
}

/// #13 item 3: `--frozen` with a warm store builds with no network at all
/// (`unshare -n`); with a cold store, a step that may use the network is refused.
#[test]
fn item13_3_frozen_builds_from_a_warm_store_without_network() {
    if !ready() || !tool("unshare") {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let project = project(
        work.path(),
        "RUN mkdir -p /opt && echo warm > /opt/warm\nRUN --network=none echo none > /opt/none\n",
    );
    let store = work.path().join("a");
    let first = ok(&build(&project, &store, &[]));
    // Once more, so the project layer holds the lock with its pins.
    let second = ok(&build(&project, &store, &[]));
    let layout = minbase_layout();
    let frozen = std::process::Command::new("unshare")
        .arg("-n")
        .arg(env!("CARGO_BIN_EXE_airlock"))
        .args(["build", project.to_str().expect("utf-8"), "--cache-dir"])
        .arg(&store)
        .arg("--base-layout")
        .arg(&layout)
        .args(["--json", "--frozen"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("unshare");
    let frozen_result = ok(&frozen);
    assert_eq!(frozen_result["manifest_digest"], second["manifest_digest"]);
    assert_eq!(run_layers(&first), run_layers(&frozen_result));

    let cold = build(&project, &work.path().join("cold"), &["--frozen"]);
    assert!(
        stderr(&cold).contains("RUN at Dockerfile:2 must run"),
        "{}",
        stderr(&cold)
    );
}

/// #13 item 3: `airlock lock` pins a `RUN` as the build will see it (the same
/// `SOURCE_DATE_EPOCH`, the same key): the first build after it keeps the lock and
/// its image is the next one's.
#[test]
fn item13_3_lock_pins_the_run_as_the_build_does() {
    if !ready() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let project = project(work.path(), "RUN mkdir -p /opt/z && echo z > /opt/z/z\n");
    let store = work.path().join("a");
    let layout = minbase_layout();
    let locked = airlock(
        &[
            "lock",
            project.to_str().expect("utf-8"),
            "--cache-dir",
            store.to_str().expect("utf-8"),
            "--base-layout",
            layout.to_str().expect("utf-8"),
        ],
        &project,
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    );
    assert!(locked.status.success(), "{}", stderr(&locked));
    let lock = fs::read_to_string(project.join("airlock.lock")).expect("lock");
    assert!(lock.contains("[[steps]]"), "{lock}");
    let first = ok(&build(&project, &store, &[]));
    assert_eq!(first["lock_updated"], false, "{first}");
    let second = ok(&build(&project, &store, &[]));
    assert_eq!(first["manifest_digest"], second["manifest_digest"]);
}
