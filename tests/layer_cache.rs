//! The registry layer cache (issue 16 item 1) against a real registry started by
//! the test, behind a logging proxy: two runners with empty stores, runner A
//! building with `--cache-to`, runner B with `--cache-from` and `--push` to the same
//! registry; a cache registry that is down; a cache blob tampered with.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Output;

use pgp::composed::SignedPublicKey;
use serde_json::Value;
use support::debian::{TestArchive, hello_and_libhello};
use support::proxy::Proxy;
use support::pyindex::{Form, PyIndex, Served, WheelSpec};
use support::registry::{Registry, free_port};
use support::{BaseSpec, airlock, copy_tree, stderr, stdout, write_base};

const DPKG_STATUS: &str = "Package: base-files\nStatus: install ok installed\nPriority: required\nSection: admin\nMaintainer: Test <test@invalid>\nArchitecture: amd64\nVersion: 12.4\nEssential: yes\nDescription: base files\n\nPackage: libc6\nStatus: install ok installed\nPriority: required\nSection: libs\nMaintainer: Test <test@invalid>\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\nDescription: libc\n\n";

/// A Runtime-like project (Debian packages and wheels) whose base lives in a real
/// registry, reached through a proxy that logs every request.
struct Fleet {
    dir: tempfile::TempDir,
    registry: Registry,
    proxy: Proxy,
    _runtime: tokio::runtime::Runtime,
    _archive: TestArchive,
    index: PyIndex,
    /// Runner A's checkout.
    project: PathBuf,
}

impl Fleet {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = Registry::plain();
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let proxy = runtime.block_on(Proxy::start(registry.port));
        let archive = TestArchive::new("bookworm", &hello_and_libhello());
        let key = SignedPublicKey::from(archive.key.clone())
            .to_armored_string(Default::default())
            .expect("armor");
        let sources = format!(
            "Types: deb\nURIs: {}\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/test-archive.asc\n",
            archive.uri()
        );
        let layout = dir.path().join("base");
        write_base(
            &layout,
            &BaseSpec {
                extra_files: vec![
                    ("var/lib/dpkg/status".into(), DPKG_STATUS.into()),
                    ("etc/apt/sources.list.d/test.sources".into(), sources),
                    ("usr/share/keyrings/test-archive.asc".into(), key),
                ],
                ..BaseSpec::default()
            },
        );
        let base = format!("{}/runtime:3.0-1", registry.address());
        let from = format!("oci:{}:3.0-1", layout.display());
        let pushed = airlock(&["push", &base, "--from", &from], dir.path(), &[]);
        assert!(pushed.status.success(), "{}", stderr(&pushed));

        let wheel = WheelSpec::pure("tinylib", "1.0").file("tinylib/data.txt", b"x = 1\n", false);
        let index = PyIndex::start(vec![Served::wheel(&wheel)], Form::Json, None);
        let project = dir.path().join("a/project");
        std::fs::create_dir_all(project.join("dags")).expect("mkdir");
        std::fs::write(
            project.join("Dockerfile"),
            format!("FROM {}/runtime:3.0-1\n", proxy.address()),
        )
        .expect("write");
        std::fs::write(project.join("packages.txt"), "hello\n").expect("write");
        std::fs::write(project.join("requirements.txt"), "tinylib==1.0\n").expect("write");
        std::fs::write(project.join("dags/a.py"), "x = 1\n").expect("write");
        Self {
            dir,
            registry,
            proxy,
            _runtime: runtime,
            _archive: archive,
            index,
            project,
        }
    }

    /// `airlock build` of `project` with the store `store` and `extra` arguments.
    fn build(&self, project: &Path, store: &str, extra: &[&str]) -> Output {
        let project = project.to_string_lossy().into_owned();
        let store = self.dir.path().join(store).to_string_lossy().into_owned();
        let mut args = vec!["build", project.as_str(), "--cache-dir", store.as_str()];
        args.extend_from_slice(extra);
        airlock(
            &args,
            self.dir.path(),
            &[("PIP_INDEX_URL", self.index.url().as_str())],
        )
    }

    /// Runner B's checkout of the same commit: A's project with its lock, no outputs.
    fn checkout(&self, name: &str) -> PathBuf {
        let project = self.dir.path().join(name).join("project");
        copy_tree(&self.project, &project);
        let _ = std::fs::remove_dir_all(project.join(".airlock"));
        project
    }

    fn cache(&self) -> String {
        format!("{}/cache", self.proxy.address())
    }

    /// Runner A: an empty store, `--cache-to`.
    fn runner_a(&self) -> Value {
        let out = self.build(
            &self.project,
            "store-a",
            &["--json", "--cache-to", &self.cache()],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let result: Value = serde_json::from_str(&stdout(&out)).expect("json");
        let sources = new_layers(&result);
        assert_eq!(
            sources
                .iter()
                .map(|(kind, _, _)| kind.as_str())
                .collect::<Vec<_>>(),
            ["debian", "python", "project", "dags"],
            "{result}"
        );
        assert!(
            sources.iter().all(|(_, source, _)| source == "built"),
            "{result}"
        );
        result
    }
}

/// Each new layer's (kind, source, digest).
fn new_layers(result: &Value) -> Vec<(String, String, String)> {
    result["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter(|l| l["kind"] != "base")
        .map(|l| {
            let text = |name: &str| l[name].as_str().unwrap_or_default().to_string();
            (text("kind"), text("source"), text("digest"))
        })
        .collect()
}

fn layer_digests(result: &Value) -> Vec<String> {
    result["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["digest"].as_str().expect("digest").to_string())
        .collect()
}

/// The two-runner test of issue 16: B gets A's digest without building a layer,
/// and its `--push` to the cache's registry uploads no layer bytes (mounts them).
#[test]
fn registry_cache_two_runners_same_digest_nothing_built_no_layer_uploaded() {
    let fleet = Fleet::new();
    let a = fleet.runner_a();
    let wheel_requests = fleet.index.requests().len();

    let project = fleet.checkout("b");
    fleet.proxy.clear();
    let target = format!("{}/app:1", fleet.proxy.address());
    let out = fleet.build(
        &project,
        "store-b",
        &[
            "--json",
            "--locked",
            "--cache-from",
            &fleet.cache(),
            "--push",
            &target,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let b: Value = serde_json::from_str(&stdout(&out)).expect("json");

    assert_eq!(b["manifest_digest"], a["manifest_digest"], "{b}");
    let layers = new_layers(&b);
    assert_eq!(layers.len(), 4, "{b}");
    for (kind, source, _) in &layers {
        assert_eq!(
            source, "cached-from-registry",
            "the {kind} layer was not cached: {b}"
        );
    }
    assert_eq!(
        fleet.index.requests().len(),
        wheel_requests,
        "runner B asked the package index: {:?}",
        fleet.index.requests()
    );
    let store_b = fleet.dir.path().join("store-b");
    assert!(
        std::fs::read_dir(store_b.join("layers"))
            .expect("layers")
            .any(|e| e
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .ends_with(".skipped.json")),
        "the Debian layer's skipped scripts came with it"
    );

    // Fetched blobs get the store's mode: the output layout links them, and its
    // readers are not only this user.
    for (kind, _, digest) in &layers {
        use std::os::unix::fs::PermissionsExt as _;
        let blob = project
            .join(".airlock/oci/blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        let mode = std::fs::metadata(&blob)
            .expect("blob in the layout")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "the {kind} layer's blob in the layout");
    }

    // The push: every layer mounted (base from its repository, new ones from the
    // cache), no layer byte sent; only the config and the manifest go up.
    let requests = fleet.proxy.requests();
    let uploads: Vec<_> = requests.iter().filter(|r| r.is_upload()).collect();
    for digest in layer_digests(&b) {
        let encoded = digest.replace(':', "%3A");
        let sent = uploads
            .iter()
            .any(|r| r.method == "PUT" && r.target.contains(&format!("digest={encoded}")));
        assert!(!sent, "layer {digest} was uploaded: {uploads:#?}");
        let mounted = uploads.iter().any(|r| {
            r.method == "POST"
                && r.target.contains("mount=")
                && r.target.contains(&format!("mount={encoded}"))
                && r.status == Some(201)
        });
        assert!(mounted, "layer {digest} was not mounted: {uploads:#?}");
    }
    assert!(
        !uploads.iter().any(|r| r.method == "PATCH"),
        "chunks were sent: {uploads:#?}"
    );
    assert_eq!(b["push"]["uploaded"], 1, "only the config: {b}");
    assert_eq!(b["push"]["mounted"], layer_digests(&b).len(), "{b}");

    // A rebuild of B finds everything in its own store.
    let again = fleet.build(
        &project,
        "store-b",
        &["--json", "--locked", "--cache-from", &fleet.cache()],
    );
    assert!(again.status.success(), "{}", stderr(&again));
    let again: Value = serde_json::from_str(&stdout(&again)).expect("json");
    assert!(
        new_layers(&again)
            .iter()
            .all(|(_, source, _)| source == "store"),
        "{again}"
    );
}

/// A cache registry that does not answer: a warning, the layers built, the same
/// image.
#[test]
fn registry_cache_down_builds_with_a_warning() {
    let fleet = Fleet::new();
    let a = fleet.runner_a();
    let project = fleet.checkout("b");
    let down = format!("127.0.0.1:{}/cache", free_port());
    let out = fleet.build(
        &project,
        "store-b",
        &["--locked", "--cache-from", &down, "--cache-to", &down],
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: The registry layer cache") && err.contains(&down),
        "{err}"
    );
    assert_eq!(
        err.matches("warning: The registry layer cache").count(),
        1,
        "one warning, then the cache is left alone:\n{err}"
    );
    assert!(err.contains("(built)"), "{err}");
    assert!(!err.contains("(from the registry cache)"), "{err}");
    assert_eq!(
        stdout(&out).trim(),
        a["manifest_digest"].as_str().expect("digest"),
        "{err}"
    );
}

/// A cache blob whose bytes were changed in the registry's storage is refused by
/// its digest: a warning, the layer built, the same image, and the store holds no
/// byte of the tampered blob.
#[test]
fn registry_cache_refuses_a_tampered_blob() {
    let fleet = Fleet::new();
    let a = fleet.runner_a();
    let python = new_layers(&a)
        .into_iter()
        .find(|(kind, _, _)| kind == "python")
        .expect("python layer")
        .2;
    let hex = python.trim_start_matches("sha256:");
    let data = fleet
        .registry
        .dir
        .path()
        .join("data/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = std::fs::read(&data).expect("the cached blob in the registry's storage");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&data, &bytes).expect("tamper");

    let project = fleet.checkout("b");
    let out = fleet.build(
        &project,
        "store-b",
        &["--locked", "--cache-from", &fleet.cache()],
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Digest mismatch"), "{err}");
    assert!(
        err.contains("(from the registry cache)"),
        "the Debian layer came: {err}"
    );
    let python_line = err
        .lines()
        .find(|l| l.trim_start().starts_with("python"))
        .expect("python line");
    assert!(python_line.ends_with("(built)"), "{err}");
    assert_eq!(
        stdout(&out).trim(),
        a["manifest_digest"].as_str().expect("digest")
    );
    let blob = fleet.dir.path().join("store-b/blobs/sha256").join(hex);
    assert_ne!(
        std::fs::read(&blob).expect("the layer, built"),
        bytes,
        "the tampered bytes are in the store"
    );
}

/// Issue 16 item 5 without a terminal: one plain line per finished transfer (the
/// base's blobs, the `.deb`s, the wheel, the cache pushes and the cached layers);
/// nothing with `-q`, and `--json` keeps stdout JSON and stderr free of them.
#[test]
fn progress_lines_without_a_terminal_and_none_with_quiet() {
    let fleet = Fleet::new();
    let out = fleet.build(&fleet.project, "store-a", &["--cache-to", &fleet.cache()]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    for needle in [
        "downloaded hello_1.0-1_amd64.deb (",
        "downloaded libhello_1.2-1_amd64.deb (",
        "downloaded tinylib-1.0-py3-none-any.whl (",
        "downloaded blob ",
        "uploaded python layer (",
        "uploaded debian layer cache entry (",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
    let is_progress = |line: &&str| {
        [
            "downloaded ",
            "uploaded ",
            "mounted ",
            "already in the registry",
        ]
        .iter()
        .any(|verb| line.starts_with(verb))
    };

    let b = fleet.checkout("b");
    let cached = fleet.build(&b, "store-b", &["--cache-from", &fleet.cache()]);
    let err = stderr(&cached);
    assert!(cached.status.success(), "{err}");
    assert!(err.contains("downloaded cached python layer ("), "{err}");

    let c = fleet.checkout("c");
    let quiet = fleet.build(&c, "store-c", &["-q", "--cache-from", &fleet.cache()]);
    let err = stderr(&quiet);
    assert!(quiet.status.success(), "{err}");
    let lines: Vec<&str> = err.lines().filter(is_progress).collect();
    assert!(lines.is_empty(), "-q printed progress: {lines:?}");

    let d = fleet.checkout("d");
    let json = fleet.build(&d, "store-d", &["--json", "--cache-from", &fleet.cache()]);
    let err = stderr(&json);
    assert!(json.status.success(), "{err}");
    let lines: Vec<&str> = err.lines().filter(is_progress).collect();
    assert!(lines.is_empty(), "--json printed progress: {lines:?}");
    let _: Value = serde_json::from_str(&stdout(&json)).expect("stdout is the JSON result");
}

/// A cache registry that wants credentials the runner lacks: the build goes on,
/// with a warning that says so and what to check.
#[test]
fn registry_cache_without_credentials_is_a_clear_warning() {
    let fleet = Fleet::new();
    let a = fleet.runner_a();
    let guarded = Registry::plain_basic(&[("ci", "secret-password")]);
    let cache = format!("{}/cache", guarded.address());
    let project = fleet.checkout("b");
    let out = fleet.build(&project, "store-b", &["--locked", "--cache-from", &cache]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "warning: The registry layer cache `{cache}` refused access"
        )),
        "{err}"
    );
    assert!(err.contains("hint: check the credentials"), "{err}");
    assert!(!err.contains("secret-password"), "{err}");
    assert_eq!(
        stdout(&out).trim(),
        a["manifest_digest"].as_str().expect("digest")
    );
}
