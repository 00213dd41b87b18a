//! #13 item 3: a Dockerfile `RUN` that is no native idiom runs in the sandbox
//! (bubblewrap, for real) over the layers below it; its layer is pinned in
//! `airlock.lock` and must reproduce. The base is the shared Debian minbase root
//! filesystem (made once by `mmdebstrap`, then cached).

use crate::support;

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
    // The first build, which pinned the step, gave the image of the lock it wrote.
    assert_eq!(second["manifest_digest"], first["manifest_digest"]);
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

/// A Debian python3 base (the shared minbase root filesystem with python3), its
/// workdir `/usr/local/airflow`, as a layout made once and cached.
fn python_layout() -> Option<PathBuf> {
    use support::rootfs::{FileLock, debian_rootfs, layout_from_rootfs, persistent_cache};
    let dir = persistent_cache("run-steps-python");
    let layout = dir.join("layout");
    let _lock = FileLock::acquire(&dir.join("layout.lock"));
    if layout.join("index.json").is_file() {
        return Some(layout);
    }
    let tar = debian_rootfs("bookworm", &["python3"])?;
    layout_from_rootfs(
        &tar,
        &layout,
        "bookworm",
        &["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "/usr/local/airflow",
    );
    Some(layout)
}

/// #13 item 5: `airlock pytest` runs in an image with a sandboxed `RUN` layer, and
/// sees what the step made in the workdir (a venv) beside the project copy.
#[test]
fn item13_5_pytest_sees_what_a_run_step_made_in_the_workdir() {
    if !ready() {
        return;
    }
    let Some(layout) = python_layout() else {
        eprintln!("SKIP: no Debian python3 root filesystem could be made here");
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let project = work.path().join("project");
    fs::create_dir_all(project.join("dags")).expect("mkdir");
    fs::create_dir_all(project.join("tests")).expect("mkdir");
    fs::write(
        project.join("Dockerfile"),
        "FROM e2e/python:bookworm\n\
         RUN python3 -m venv --without-pip /usr/local/airflow/tool_venv \
         && echo 'VALUE = 42' > /usr/local/airflow/tool_venv/made_by_run.py\n",
    )
    .expect("write");
    fs::write(project.join("dags/dag.py"), "x = 1\n").expect("write");
    // `python3 -m pytest` finds this stand-in in the working directory.
    fs::write(
        project.join("pytest.py"),
        "import os, subprocess\n\
         assert os.path.isfile('/usr/local/airflow/tool_venv/made_by_run.py')\n\
         out = subprocess.run(['/usr/local/airflow/tool_venv/bin/python', '-c', 'import sys; print(sys.prefix)'], capture_output=True, text=True).stdout.strip()\n\
         assert out == '/usr/local/airflow/tool_venv', out\n\
         print('stand-in pytest saw the RUN layer')\n",
    )
    .expect("write");
    let output = airlock(
        &[
            "pytest",
            "--project-dir",
            project.to_str().expect("utf-8"),
            "--cache-dir",
            work.path().join("store").to_str().expect("utf-8"),
            "--base-layout",
            layout.to_str().expect("utf-8"),
        ],
        work.path(),
        &[],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stdout(&output).contains("stand-in pytest saw the RUN layer"),
        "{}",
        stdout(&output)
    );
}

/// The manifest of the one image in the OCI layout `layout`.
fn layout_manifest(layout: &Path) -> serde_json::Value {
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).expect("index"))
            .expect("index json");
    let digest = index["manifests"][0]["digest"].as_str().expect("digest");
    blob_json(layout, digest)
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn blob_json(layout: &Path, digest: &str) -> serde_json::Value {
    serde_json::from_slice(&fs::read(blob_path(layout, digest)).expect("blob")).expect("json")
}

/// A plain (uncompressed) tar of `entries` (path, bytes, mode).
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

/// The (kind, diff ID) of each layer a build added (the base's left out).
fn new_layers(result: &serde_json::Value) -> Vec<(String, String)> {
    result["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter(|l| l["kind"] != "base")
        .map(|l| {
            (
                l["kind"].as_str().expect("kind").to_string(),
                l["diff_id"].as_str().expect("diff id").to_string(),
            )
        })
        .collect()
}

/// #13 leftover (a): with `--compression zstd` the layers of the Dockerfile's steps
/// (`COPY`, `ADD` of a local tar, `WORKDIR`, a sandboxed `RUN`) are tar+zstd like the
/// project's: skopeo reads the layout and each layer decompresses (our own reader) to
/// its diff ID. The `RUN`'s pin is its diff ID under a key that does not depend on
/// the compression, so the gzip lock stays as it is, a `--locked` zstd build from an
/// empty store runs the step again and reproduces it, and the gzip image is the same
/// before and after.
#[test]
fn item13_a_dockerfile_steps_honour_zstd() {
    if !ready() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let project = project(
        work.path(),
        "COPY include/ /opt/include/\nADD bundle.tar /opt/bundle/\nWORKDIR /opt/work\n\
         RUN test \"$(wc -c < /opt/include/big.bin)\" -eq 5242880 && mkdir -p /opt/x && echo hi > /opt/x/y\n",
    );
    fs::create_dir_all(project.join("include")).expect("mkdir");
    fs::write(project.join("include/a.txt"), "a\n").expect("write");
    // Past one 4 MiB member: the layers below the RUN are zstd streams of several
    // frames, which the sandbox must read whole.
    fs::write(project.join("include/big.bin"), vec![b'x'; 5 << 20]).expect("write");
    fs::write(
        project.join("bundle.tar"),
        plain_tar(&[("bin/tool", b"#!/bin/sh\n", 0o755)]),
    )
    .expect("write");
    let out = |name: &str| format!("oci:{}:v1", work.path().join(name).display());
    let store = work.path().join("a");
    ok(&build(&project, &store, &[]));
    // Once more, so the project layer holds the lock with its pins.
    let gzip = ok(&build(&project, &store, &["--output", &out("gz")]));
    let lock = fs::read_to_string(project.join("airlock.lock")).expect("lock");
    let zstd = ok(&build(
        &project,
        &store,
        &["--compression", "zstd", "--output", &out("zst")],
    ));
    assert_eq!(zstd["lock_updated"], false, "{zstd}");
    assert_eq!(
        fs::read_to_string(project.join("airlock.lock")).expect("lock"),
        lock,
        "a zstd build changed the gzip build's lock"
    );
    let kinds: Vec<String> = new_layers(&zstd).into_iter().map(|(k, _)| k).collect();
    for kind in ["copy", "add", "workdir", "run"] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "no {kind} layer: {kinds:?}"
        );
    }
    // The same tars, whatever the compression.
    assert_eq!(new_layers(&gzip), new_layers(&zstd));
    for (result, name, media) in [
        (&gzip, "gz", "application/vnd.oci.image.layer.v1.tar+gzip"),
        (&zstd, "zst", "application/vnd.oci.image.layer.v1.tar+zstd"),
    ] {
        let layout = work.path().join(name);
        let manifest = layout_manifest(&layout);
        let descriptors = manifest["layers"].as_array().expect("layers");
        for layer in result["layers"].as_array().expect("layers") {
            if layer["kind"] == "base" {
                continue;
            }
            let digest = layer["digest"].as_str().expect("digest");
            let descriptor = descriptors
                .iter()
                .find(|d| d["digest"] == digest)
                .unwrap_or_else(|| panic!("{digest} not in {manifest}"));
            assert_eq!(descriptor["mediaType"], media, "{} layer", layer["kind"]);
            if name == "zst" {
                let blob = fs::File::open(blob_path(&layout, digest)).expect("blob");
                let tar = zstd::stream::decode_all(blob).expect("a zstd stream");
                assert_eq!(
                    airlock::digest::Digest::of(&tar).to_string(),
                    layer["diff_id"].as_str().expect("diff id"),
                    "{} layer",
                    layer["kind"]
                );
            }
        }
        let inspect = std::process::Command::new("skopeo")
            .args(["inspect", &format!("oci:{}:v1", layout.display())])
            .output()
            .expect("skopeo");
        assert!(inspect.status.success(), "skopeo: {}", stderr(&inspect));
    }
    // An empty store, `--locked`, zstd: the RUN runs again and gives its pinned layer.
    let fresh = ok(&build(
        &project,
        &work.path().join("b"),
        &["--compression", "zstd", "--locked"],
    ));
    assert_eq!(fresh["manifest_digest"], zstd["manifest_digest"]);
    let again = ok(&build(&project, &work.path().join("b"), &["--locked"]));
    assert_eq!(again["manifest_digest"], gzip["manifest_digest"]);
}

/// Runs `args` inside the image of the OCI layout `layout` (tag `v1`), unpacked by
/// umoci, under bwrap without network.
fn inside(layout: &Path, args: &[&str]) -> Output {
    let bundle = layout.with_extension("bundle");
    if !bundle.join("rootfs").is_dir() {
        let unpack = std::process::Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:v1", layout.display()))
            .arg(&bundle)
            .output()
            .expect("umoci");
        assert!(unpack.status.success(), "{}", stderr(&unpack));
    }
    std::process::Command::new("bwrap")
        .arg("--bind")
        .arg(bundle.join("rootfs"))
        .args(["/", "--proc", "/proc", "--dev", "/dev", "--unshare-net"])
        .args(args)
        .output()
        .expect("run bwrap")
}

/// The `[[steps]]` of the project's lock.
fn lock_steps(project: &Path) -> Vec<toml::Value> {
    let text = fs::read_to_string(project.join("airlock.lock")).expect("lock");
    let lock: toml::Value = toml::from_str(&text).expect("toml");
    lock.get("steps")
        .and_then(|s| s.as_array())
        .cloned()
        .unwrap_or_default()
}

/// #13 leftover (b): a `RUN` that changes nothing adds no layer, as BuildKit does: its
/// history line says `empty_layer: true`, no diff ID is added, the lock still pins the
/// step (with no layer), the image unpacks and runs, another store reproduces it
/// under `--locked`, and the key of the step after it still depends on it.
#[test]
fn item13_b_run_that_changes_nothing_adds_no_layer() {
    if !ready() || !tool("umoci") {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let project = project(
        work.path(),
        "RUN true\nRUN mkdir -p /opt && echo after > /opt/after\n",
    );
    let store = work.path().join("a");
    ok(&build(&project, &store, &[]));
    let layout = work.path().join("oci");
    let result = ok(&build(
        &project,
        &store,
        &["--output", &format!("oci:{}:v1", layout.display())],
    ));
    let layers = run_layers(&result);
    assert_eq!(layers.len(), 1, "{result}");
    let steps = lock_steps(&project);
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[0]["line"].as_integer(), Some(2));
    assert_eq!(steps[0]["kind"].as_str(), Some("run"));
    assert!(steps[0].get("layer").is_none(), "{:?}", steps[0]);
    assert_eq!(steps[1]["layer"].as_str(), Some(layers[0].as_str()));
    // The config: `RUN true` is an empty history line; one diff ID per other line.
    let manifest = layout_manifest(&layout);
    let config = blob_json(
        &layout,
        manifest["config"]["digest"].as_str().expect("config"),
    );
    let history = config["history"].as_array().expect("history");
    let line = history
        .iter()
        .find(|h| h["created_by"] == "RUN /bin/sh -c true")
        .unwrap_or_else(|| panic!("no `RUN true` in {history:#?}"));
    assert_eq!(line["empty_layer"], true, "{line}");
    let non_empty = history.iter().filter(|h| h["empty_layer"] != true).count();
    let diff_ids = config["rootfs"]["diff_ids"].as_array().expect("diff ids");
    assert_eq!(diff_ids.len(), non_empty);
    assert_eq!(
        manifest["layers"].as_array().expect("layers").len(),
        diff_ids.len()
    );
    // The image unpacks and runs.
    let cat = inside(&layout, &["/bin/cat", "/opt/after"]);
    assert!(cat.status.success(), "{}", stderr(&cat));
    assert_eq!(stdout(&cat), "after\n");
    // Another store, `--locked`: the empty RUN runs again and matches its pin.
    let second = ok(&build(&project, &work.path().join("b"), &["--locked"]));
    assert_eq!(second["manifest_digest"], result["manifest_digest"]);
    // The step after it depends on it: another no-op gives it another key.
    fs::write(
        project.join("Dockerfile"),
        "FROM e2e/minbase:bookworm\nRUN :\nRUN mkdir -p /opt && echo after > /opt/after\n",
    )
    .expect("write");
    ok(&build(&project, &store, &[]));
    let changed = lock_steps(&project);
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert_ne!(changed[1]["key"], steps[1]["key"]);
    assert_eq!(changed[1]["layer"], steps[1]["layer"]);
}
