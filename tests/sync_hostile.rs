//! `dags sync` against hostile deployment records and bundles, on a real registry on
//! loopback: every record field is checked on read and cross-checked against the
//! bundle and the deployment, links are resolved against the unpacked tree, registry
//! text reaches the terminal escaped, and a refused record leaves the current DAGs and
//! everything around them untouched.

use crate::support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use airlock::deploy::{
    Action, BUNDLE_ARTIFACT_TYPE, BUNDLE_MEDIA_TYPE, Bundle, BundleRef, Deployment,
    DeploymentRemote, RECORD_ARTIFACT_TYPE, RECORD_MEDIA_TYPE, RECORD_TAG, Record, build_bundle,
};
use airlock::digest::Digest;
use airlock::project::airflowignore::IgnoreSyntax;
use airlock::project::dockerignore::DockerIgnore;
use airlock::project::settings::DeploymentSettings;
use airlock::registry::RemoteOptions;
use airlock::registry::{RegistryClient, Repository};
use airlock::store::Store;
use serde_json::{Value, json};
use support::registry::Registry;
use support::{stderr, stdout};

/// The version of the fixture's legitimate bundle.
const VERSION: &str = "20250101T000000.000Z";

/// A deployment `dev` with one legitimate bundle synced to `dest`, and the means to
/// replace its record with anything.
struct Fixture {
    registry: Registry,
    /// `airlock.toml`, the DAG folder and the crafting store live here.
    project: tempfile::TempDir,
    /// The Airflow side: `dest` is `area/deep/dags`, so that `../../x` from
    /// `dags.versions` still lands inside, where the snapshot sees it.
    airflow: tempfile::TempDir,
    dest: PathBuf,
    /// The sync side's cache, outside `airflow` (it fills as sync fetches).
    cache: PathBuf,
    store: Store,
    remote: DeploymentRemote,
    client: RegistryClient,
    runtime: tokio::runtime::Runtime,
    bundle: Bundle,
    /// The legitimate record, as JSON.
    good: Value,
    /// The Airflow side after the legitimate sync.
    before: Vec<String>,
}

fn deployment(name: &str, image: &str) -> Deployment {
    Deployment::from_settings(
        name,
        &DeploymentSettings {
            image: image.to_string(),
            dag_bundles: None,
            runtime_label: None,
            allow_non_runtime_images: false,
            skip_parse: false,
        },
    )
    .expect("deployment")
}

/// Every path below `dir`, not following symlinks: kind, link target or content.
fn snapshot(dir: &Path) -> Vec<String> {
    fn visit(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut paths: Vec<PathBuf> = fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .collect();
        paths.sort();
        for path in paths {
            let rel = path
                .strip_prefix(root)
                .expect("prefix")
                .display()
                .to_string();
            let meta = fs::symlink_metadata(&path).expect("meta");
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).expect("link");
                out.push(format!("{rel} -> {}", target.display()));
            } else if meta.is_dir() {
                out.push(format!("{rel}/"));
                visit(root, &path, out);
            } else {
                let content = fs::read(&path).expect("read");
                out.push(format!("{rel} = {}", Digest::of(&content)));
            }
        }
    }
    let mut out = Vec::new();
    visit(dir, dir, &mut out);
    out
}

impl Fixture {
    fn new() -> Self {
        let registry = Registry::plain();
        let project = tempfile::tempdir().expect("tempdir");
        fs::write(
            project.path().join("airlock.toml"),
            format!(
                "[deployments.dev]\nimage = \"{}/team/airflow\"\n",
                registry.address()
            ),
        )
        .expect("write airlock.toml");
        let dags = project.path().join("dags");
        fs::create_dir_all(dags.join("sub")).expect("mkdir");
        fs::write(dags.join("a.py"), "print('a')\n").expect("write");
        fs::write(dags.join("sub/b.py"), "print('b')\n").expect("write");
        std::os::unix::fs::symlink("sub/b.py", dags.join("b.py")).expect("symlink");

        let store = Store::open(project.path().join("crafted")).expect("store");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let remote = DeploymentRemote::new(
            deployment("dev", &format!("{}/team/airflow", registry.address())),
            &RemoteOptions::default(),
            store.clone(),
            runtime.handle().clone(),
        )
        .expect("remote");
        let entries = airlock::project::walk_dags(
            &dags,
            &DockerIgnore::parse("").expect("ignore"),
            IgnoreSyntax::Glob,
        )
        .expect("walk");
        let bundle = build_bundle(&store, &entries).expect("bundle");
        remote.push_bundle(&bundle, VERSION).expect("push bundle");
        let record = Record {
            schema_version: 1,
            deployment: "dev".into(),
            image: None,
            dag_bundle: Some(BundleRef {
                repository: format!("{}/team/airflow", registry.address()),
                digest: bundle.digest.clone(),
                version: VERSION.into(),
                blob: bundle.blob.clone(),
                size: bundle.size,
            }),
            dag_deploy_enabled: true,
            action: Action::DeployDags,
            description: Some("the good one".into()),
            deployed_at: "2025-01-01T00:00:00.000Z".into(),
            git: None,
            parent: None,
        };
        remote.write_record(&record, None, VERSION).expect("record");
        let good = serde_json::to_value(&record).expect("json");

        let airflow = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(airflow.path().join("area/deep")).expect("mkdir");
        let dest = airflow.path().join("area/deep/dags");
        let cache = project.path().join("sync-cache");
        let client = RemoteOptions::default().client("test").expect("client");
        let mut fixture = Self {
            registry,
            project,
            airflow,
            dest,
            cache,
            store,
            remote,
            client,
            runtime,
            bundle,
            good,
            before: Vec::new(),
        };
        let output = fixture.sync();
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(
            fs::read_to_string(fixture.dest.join("b.py")).expect("synced"),
            "print('b')\n"
        );
        fixture.before = snapshot(fixture.airflow.path());
        fixture
    }

    fn images(&self) -> Repository {
        self.remote.deployment.images.clone()
    }

    /// Runs `airlock ARGS` in the project directory.
    fn airlock(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(args)
            .arg("--cache-dir")
            .arg(&self.cache)
            .current_dir(self.project.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .env("HOME", self.project.path())
            .stdin(Stdio::null())
            .output()
            .expect("run airlock")
    }

    fn sync(&self) -> Output {
        self.airlock(&[
            "dags",
            "sync",
            "dev",
            "--once",
            "--dest",
            &self.dest.to_string_lossy(),
        ])
    }

    /// Puts `bytes` into `repo` as a blob; returns its digest.
    fn push_blob(&self, repo: &Repository, bytes: &[u8]) -> Digest {
        let digest = self.store.put_bytes(bytes).expect("put");
        let path = self.store.blob_path(&digest);
        self.runtime
            .block_on(
                self.client
                    .push_blob(repo, &digest, bytes.len() as u64, &path, None),
            )
            .expect("push blob");
        digest
    }

    fn push_manifest(&self, repo: &Repository, tag: &str, manifest: &Value) -> Digest {
        let bytes = serde_json::to_vec(manifest).expect("json");
        self.runtime
            .block_on(self.client.push_manifest(
                repo,
                tag,
                &bytes,
                "application/vnd.oci.image.manifest.v1+json",
            ))
            .expect("push manifest")
    }

    /// Makes `json` (any JSON, typed or not) the deployment's current record.
    fn put_record(&self, json: &Value) {
        let repo = self.images();
        let bytes = serde_json::to_vec(json).expect("json");
        let config = self.push_blob(&repo, &bytes);
        self.push_manifest(
            &repo,
            RECORD_TAG,
            &json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "artifactType": RECORD_ARTIFACT_TYPE,
                "config": {"mediaType": RECORD_MEDIA_TYPE, "digest": config.to_string(), "size": bytes.len()},
                "layers": [],
            }),
        );
    }

    /// The legitimate record with `change` applied.
    fn record_with(&self, change: impl FnOnce(&mut Value)) -> Value {
        let mut record = self.good.clone();
        change(&mut record);
        record
    }

    /// Sync refuses the current record: exit status 1, `expected` in the message, no
    /// raw control character on the terminal, the Airflow side exactly as it was.
    fn assert_refused(&self, case: &str, expected: &str) -> String {
        let output = self.sync();
        let err = stderr(&output);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{case}: sync must fail\nstdout:\n{}\nstderr:\n{err}",
            stdout(&output)
        );
        assert!(err.contains(expected), "{case}: `{expected}` in:\n{err}");
        assert!(err.contains("is unchanged"), "{case}: {err}");
        assert_no_raw_controls(case, &output);
        assert_eq!(
            snapshot(self.airflow.path()),
            self.before,
            "{case}: the Airflow side changed"
        );
        err
    }
}

/// No control character other than newline reaches the terminal.
fn assert_no_raw_controls(case: &str, output: &Output) {
    for (name, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        let raw: Vec<char> = text
            .chars()
            .filter(|c| c.is_control() && *c != '\n')
            .collect();
        assert!(
            raw.is_empty(),
            "{case}: raw control characters {raw:?} on {name}:\n{text:?}"
        );
    }
}

/// A tar.gz with raw entries: (path, type, link target, content).
fn raw_bundle(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
    let mut tar = Vec::new();
    {
        let mut builder = tar::Builder::new(&mut tar);
        for (path, kind, link, content) in entries {
            let mut header = tar::Header::new_gnu();
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            header.set_size(content.len() as u64);
            if !link.is_empty() {
                header.set_link_name(link).expect("link");
            }
            header.set_cksum();
            builder.append(&header, *content).expect("append");
        }
        builder.finish().expect("finish");
    }
    airlock::layer::gzip_member(&tar)
}

#[test]
fn sync_refuses_version_with_traversal() {
    let fx = Fixture::new();
    let plugins = fx.airflow.path().join("plugins");
    let long = "9".repeat(300);
    let cases: [(&str, &str); 11] = [
        ("absolute", &plugins.to_string_lossy()),
        ("dot-dot slash", "../../x"),
        ("empty", ""),
        ("dot-dot", ".."),
        ("dot", "."),
        ("slash", "20250101T000000.000Z/../../x"),
        ("newline", "20250101T000000.000Z\nx"),
        ("retired marker", "x.retired"),
        ("over-long", &long),
        ("hidden", ".incoming-x"),
        ("almost a time", "20250101T000000.000Z "),
    ];
    for (case, version) in cases {
        fx.put_record(&fx.record_with(|r| r["dag_bundle"]["version"] = json!(version)));
        let err = fx.assert_refused(case, "dag_bundle.version");
        assert!(err.contains("YYYYMMDDTHHMMSS.mmmZ"), "{case}: {err}");
    }
    assert!(!plugins.exists());
    assert!(!fx.airflow.path().join("area/x").exists());
    // The legitimate record still syncs after all that.
    fx.put_record(&fx.good);
    let output = fx.sync();
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn sync_refuses_record_with_wrong_types_or_sizes() {
    let fx = Fixture::new();
    let long = "x".repeat(5000);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "version a number",
            fx.record_with(|r| r["dag_bundle"]["version"] = json!(5)),
            "invalid type",
        ),
        (
            "size a string",
            fx.record_with(|r| r["dag_bundle"]["size"] = json!("12")),
            "invalid type",
        ),
        (
            "bundle a string",
            fx.record_with(|r| r["dag_bundle"] = json!("x")),
            "invalid type",
        ),
        (
            "deployment a number",
            fx.record_with(|r| r["deployment"] = json!(7)),
            "invalid type",
        ),
        (
            "digest not a digest",
            fx.record_with(|r| r["dag_bundle"]["digest"] = json!("sha256:../../x")),
            "Malformed digest",
        ),
        (
            "missing field",
            fx.record_with(|r| {
                r.as_object_mut().expect("object").remove("deployed_at");
            }),
            "missing field",
        ),
        (
            "unknown field",
            fx.record_with(|r| r["dag_bundle"]["path"] = json!("/etc")),
            "unknown field",
        ),
        (
            "over-long description",
            fx.record_with(|r| r["description"] = json!(long)),
            "`description` is longer than",
        ),
        (
            "over-long deployment",
            fx.record_with(|r| r["deployment"] = json!(long)),
            "`deployment` is longer than",
        ),
        (
            "repository with a tag",
            fx.record_with(|r| {
                r["dag_bundle"]["repository"] =
                    json!(format!("{}/team/airflow:x", fx.registry.address()))
            }),
            "dag_bundle.repository",
        ),
        (
            "bundle size out of range",
            fx.record_with(|r| r["dag_bundle"]["size"] = json!(u64::MAX)),
            "dag_bundle.size",
        ),
        (
            "git commit not hex",
            fx.record_with(|r| r["git"] = json!({"commit": "ééééééééééééé", "dirty": false})),
            "git.commit",
        ),
    ];
    for (case, record, expected) in cases {
        fx.put_record(&record);
        fx.assert_refused(case, expected);
    }
}

#[test]
fn sync_refuses_blob_not_matching_the_layer() {
    let fx = Fixture::new();
    let other = fx.push_blob(&fx.images(), b"not the layer");
    fx.put_record(&fx.record_with(|r| r["dag_bundle"]["blob"] = json!(other.to_string())));
    fx.assert_refused("blob", "dag_bundle.blob");
    fx.put_record(&fx.record_with(|r| r["dag_bundle"]["size"] = json!(fx.bundle.size + 1)));
    fx.assert_refused("size", "dag_bundle.size");
}

#[test]
fn sync_refuses_record_of_another_deployment() {
    let fx = Fixture::new();
    fx.put_record(&fx.record_with(|r| r["deployment"] = json!("prod")));
    let err = fx.assert_refused("deployment", "`prod`");
    assert!(err.contains("`dev`"), "{err}");
}

#[test]
fn sync_refuses_bundle_from_another_registry() {
    let fx = Fixture::new();
    // The same bundle, in another registry: a record must not send sync there.
    let elsewhere = Registry::plain();
    let other = DeploymentRemote::new(
        deployment("dev", &format!("{}/team/airflow", elsewhere.address())),
        &RemoteOptions::default(),
        fx.store.clone(),
        fx.runtime.handle().clone(),
    )
    .expect("remote");
    other.push_bundle(&fx.bundle, VERSION).expect("push");
    fx.put_record(&fx.record_with(|r| {
        r["dag_bundle"]["repository"] = json!(format!("{}/team/airflow", elsewhere.address()));
        r["dag_bundle"]["version"] = json!("20250102T000000.000Z");
    }));
    fx.assert_refused("registry", "dag_bundle.repository");
}

#[test]
fn sync_refuses_control_characters_in_record_text() {
    let fx = Fixture::new();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "description",
            fx.record_with(|r| r["description"] = json!("\u{1b}]0;owned\u{7}\u{1b}[2J")),
            "description",
        ),
        (
            "deployed_at",
            fx.record_with(|r| r["deployed_at"] = json!("2025\u{1b}[31m")),
            "deployed_at",
        ),
        (
            "git author",
            fx.record_with(|r| {
                r["git"] =
                    json!({"commit": "0123456789abcdef", "dirty": false, "author": "a\u{9b}31mb"})
            }),
            "git.author",
        ),
        (
            "deployment",
            fx.record_with(|r| r["deployment"] = json!("dev\r\u{1b}[K")),
            "deployment",
        ),
    ];
    for (case, record, expected) in cases {
        fx.put_record(&record);
        let err = fx.assert_refused(case, expected);
        assert!(err.contains("control character"), "{case}: {err}");
    }
}

/// Item 10: registry text reaches the terminal escaped, whatever command prints it.
#[test]
fn registry_text_is_escaped_on_output() {
    let fx = Fixture::new();
    let hostile = "\u{1b}]0;owned\u{7}\u{1b}[2Jdone\u{9b}";
    fx.put_record(&fx.record_with(|r| {
        r["description"] = json!(hostile);
        r["dag_bundle"]["version"] = json!(format!("{VERSION}\u{1b}[1A"));
    }));
    for args in [
        &["deployment", "inspect", "dev"][..],
        &["deployment", "history", "dev"][..],
        &[
            "dags",
            "sync",
            "dev",
            "--once",
            "--dest",
            &fx.dest.to_string_lossy(),
        ][..],
    ] {
        let output = fx.airlock(args);
        assert_no_raw_controls(&args.join(" "), &output);
        let all = format!("{}{}", stdout(&output), stderr(&output));
        assert!(
            all.contains("\\u{1b}"),
            "{args:?}: the escape is shown:\n{all}"
        );
    }
    assert_eq!(snapshot(fx.airflow.path()), fx.before);
}

/// Item 2: with `s -> .`, `s/s/…/../..` really leaves the tree though it looks
/// like it stays when `..` is taken textually.
const THROUGH_DOT: &str = "s/s/s/s/s/s/s/s/s/s/../../../../../../../../../..";

#[test]
fn symlink_through_dot_link_is_refused() {
    // The project walk (build and deploy) refuses it.
    let project = tempfile::tempdir().expect("tempdir");
    let dags = project.path().join("dags");
    fs::create_dir_all(&dags).expect("mkdir");
    fs::write(dags.join("a.py"), "x = 1\n").expect("write");
    std::os::unix::fs::symlink(".", dags.join("s")).expect("symlink");
    std::os::unix::fs::symlink(THROUGH_DOT, dags.join("x")).expect("symlink");
    let ignore = DockerIgnore::parse("").expect("ignore");
    let err = airlock::project::walk(project.path(), &ignore, IgnoreSyntax::Glob)
        .expect_err("the project walk refuses it");
    assert!(err.to_string().contains("dags/x"), "{err}");
    let err = airlock::project::walk_dags(&dags, &ignore, IgnoreSyntax::Glob)
        .expect_err("the DAG walk refuses it");
    assert!(err.to_string().contains("dags/x"), "{err}");

    // A link that goes through `s` and stays inside is fine.
    fs::remove_file(dags.join("x")).expect("rm");
    std::os::unix::fs::symlink("s/s/a.py", dags.join("x")).expect("symlink");
    let entries =
        airlock::project::walk_dags(&dags, &ignore, IgnoreSyntax::Glob).expect("inside is fine");
    airlock::deploy::bundle_tree(&entries).expect("bundles");
}

#[test]
fn bundle_symlink_through_dot_link_is_refused() {
    let fx = Fixture::new();
    // Links first, so that `x` is written before `s` exists, and the other order.
    for (case, entries) in [
        (
            "x first",
            vec![
                ("x", tar::EntryType::Symlink, THROUGH_DOT, &b""[..]),
                ("s", tar::EntryType::Symlink, ".", &b""[..]),
                ("a.py", tar::EntryType::Regular, "", &b"x = 1\n"[..]),
            ],
        ),
        (
            "s first",
            vec![
                ("a.py", tar::EntryType::Regular, "", &b"x = 1\n"[..]),
                ("s", tar::EntryType::Symlink, ".", &b""[..]),
                ("x", tar::EntryType::Symlink, THROUGH_DOT, &b""[..]),
            ],
        ),
        (
            "through a link to the parent",
            vec![
                ("d/", tar::EntryType::Directory, "", &b""[..]),
                ("d/u", tar::EntryType::Symlink, "..", &b""[..]),
                ("x", tar::EntryType::Symlink, "d/u/../..", &b""[..]),
            ],
        ),
    ] {
        let blob_bytes = raw_bundle(&entries);
        let repo = fx.images();
        let blob = fx.push_blob(&repo, &blob_bytes);
        let config = fx.push_blob(&repo, b"{}");
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": BUNDLE_ARTIFACT_TYPE,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config.to_string(), "size": 2},
            "layers": [{"mediaType": BUNDLE_MEDIA_TYPE, "digest": blob.to_string(), "size": blob_bytes.len()}],
        });
        let digest = fx.push_manifest(&repo, "dags-evil", &manifest);
        fx.put_record(&fx.record_with(|r| {
            r["dag_bundle"]["digest"] = json!(digest.to_string());
            r["dag_bundle"]["blob"] = json!(blob.to_string());
            r["dag_bundle"]["size"] = json!(blob_bytes.len());
            r["dag_bundle"]["version"] = json!("20250103T000000.000Z");
        }));
        fx.assert_refused(case, "Refused symlink `x`");
    }
}

/// Item 16: a `dags` that is a regular file is not a DAG folder.
#[test]
fn dags_path_that_is_a_file_is_refused() {
    let project = tempfile::tempdir().expect("tempdir");
    fs::write(project.path().join("dags"), "not a folder\n").expect("write");
    let ignore = DockerIgnore::parse("").expect("ignore");
    let err = airlock::project::walk(project.path(), &ignore, IgnoreSyntax::Glob)
        .expect_err("the project walk refuses it");
    assert!(err.to_string().contains("not a directory"), "{err}");
    let err =
        airlock::project::walk_dags(&project.path().join("dags"), &ignore, IgnoreSyntax::Glob)
            .expect_err("`--dags-path FILE` is refused");
    assert!(err.to_string().contains("not a directory"), "{err}");
}
