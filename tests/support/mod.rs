//! Test support: tiny base images made in code, project copies, and a runner for
//! the `airlock` binary with a controlled environment.

#![allow(dead_code)]

pub mod astro;
pub mod debian;
pub mod host_debian;
pub mod host_python;
pub mod image;
pub mod proxy;
pub mod pyindex;
pub mod registry;
pub mod rootfs;
pub mod sbom_check;
pub mod wire;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use airlock::digest::Digest;
use airlock::layer::{Entry, EntryKind, FileSource, FileTree, Owner, build_layer};
use airlock::oci::{
    Descriptor, DescriptorExt as _, ImageIndex, IndexExt as _, Platform, descriptor, index_json,
    media_types, write_layout,
};
use airlock::store::Store;
use serde_json::json;

/// The ONBUILD triggers an Astro Runtime image carries.
pub const ASTRO_TRIGGERS: [&str; 7] = [
    "COPY packages.txt .",
    "USER root",
    "RUN /usr/local/bin/install-system-packages",
    "USER astro",
    "COPY requirements.txt .",
    "RUN /usr/local/bin/install-python-dependencies",
    "COPY --chown=astro:0 . .",
];

/// The same triggers in the Runtime's inline form: the install steps written out as
/// shell in the `RUN` text (apt-get for `packages.txt`, the `apache-airflow` guard and
/// pip for `requirements.txt`), as an image config carries them.
pub const ASTRO_INLINE_TRIGGERS: [&str; 7] = [
    "COPY packages.txt .",
    "USER root",
    "RUN if [[ -s packages.txt ]]; then     apt-get update && cat packages.txt | tr '\\r\\n' '\\n' | sed -e 's/#.*//' | xargs apt-get install -y --no-install-recommends     && apt-get clean     && rm -rf /var/lib/apt/lists/*;   fi",
    "COPY requirements.txt .",
    "RUN if grep -Eqx 'apache-airflow\\s*[=~>]{1,2}.*' requirements.txt; then     echo >&2 \"Do not upgrade by specifying 'apache-airflow' in your requirements.txt, change the base image instead!\";  exit 1;   fi;   pip install --no-cache-dir -r requirements.txt",
    "USER astro",
    "COPY --chown=astro:0 . .",
];

pub const ASTRO_UID: u32 = 50000;

/// What a generated base image looks like.
#[derive(Debug, Clone)]
pub struct BaseSpec {
    pub tag: String,
    pub os: String,
    pub arch: String,
    /// Wrap the manifest in an image index (with an extra arm64 entry).
    pub as_index: bool,
    pub onbuild: Vec<String>,
    /// The `io.astronomer.docker.runtime.version` label; empty: no such label.
    pub runtime_version: String,
    /// How the base's layers are compressed.
    pub compression: LayerCompression,
    /// Files (path, text) of one more layer on top, e.g. a dpkg status; none by default.
    pub extra_files: Vec<(String, String)>,
    /// More `NAME=value` entries for the config's `Env`.
    pub extra_env: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    Gzip,
    Zstd,
    None,
}

impl Default for BaseSpec {
    fn default() -> Self {
        Self {
            tag: "3.0-1".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            as_index: false,
            onbuild: ASTRO_TRIGGERS.iter().map(|s| s.to_string()).collect(),
            runtime_version: "3.0-1".into(),
            compression: LayerCompression::Gzip,
            extra_files: Vec::new(),
            extra_env: Vec::new(),
        }
    }
}

fn file(content: &str, mode: u32, owner: Owner) -> Entry {
    let bytes: Arc<[u8]> = Arc::from(content.as_bytes());
    Entry {
        kind: EntryKind::File {
            size: bytes.len() as u64,
            sha256: Digest::of(&bytes),
            source: FileSource::Bytes(bytes),
        },
        mode,
        owner,
    }
}

fn dir(mode: u32, owner: Owner) -> Entry {
    Entry {
        kind: EntryKind::Dir,
        mode,
        owner,
    }
}

fn symlink(target: &str) -> Entry {
    Entry {
        kind: EntryKind::Symlink {
            target: target.into(),
        },
        mode: 0o777,
        owner: Owner::ROOT,
    }
}

/// The root filesystem of a small Runtime-like base: accounts with an `astro` user,
/// a merged /usr, and the Airflow home owned by astro.
fn base_trees() -> Vec<FileTree> {
    let root = Owner::ROOT;
    let astro = Owner {
        uid: ASTRO_UID,
        gid: 0,
    };
    let mut os = FileTree::new();
    let entries = [
        ("bin", symlink("usr/bin")),
        ("lib", symlink("usr/lib")),
        ("etc", dir(0o755, root)),
        (
            "etc/passwd",
            file(
                "root:x:0:0:root:/root:/bin/bash\nastro:x:50000:50000::/home/astro:/bin/bash\n",
                0o644,
                root,
            ),
        ),
        (
            "etc/group",
            file("root:x:0:\nastro:x:50000:\n", 0o644, root),
        ),
        (
            "etc/os-release",
            file(
                "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_CODENAME=bookworm\n",
                0o644,
                root,
            ),
        ),
        ("home", dir(0o755, root)),
        (
            "home/astro",
            dir(
                0o750,
                Owner {
                    uid: ASTRO_UID,
                    gid: 50000,
                },
            ),
        ),
        ("tmp", dir(0o1777, root)),
        ("usr", dir(0o755, root)),
        ("usr/bin", dir(0o755, root)),
        ("usr/lib", dir(0o755, root)),
        ("usr/local", dir(0o755, root)),
        ("usr/local/bin", dir(0o755, root)),
        (
            "usr/local/bin/install-python-dependencies",
            file("#!/bin/sh\nexit 0\n", 0o755, root),
        ),
        (
            "usr/local/bin/install-system-packages",
            file("#!/bin/sh\nexit 0\n", 0o755, root),
        ),
        // A stand-in interpreter and an installed Airflow, as the facts read them.
        (
            "usr/local/bin/python3.12",
            file("#!/bin/sh\nexit 1\n", 0o755, root),
        ),
        ("usr/local/bin/python3", symlink("python3.12")),
        ("usr/local/lib", dir(0o755, root)),
        ("usr/local/lib/python3.12", dir(0o755, root)),
        ("usr/local/lib/python3.12/site-packages", dir(0o755, root)),
        (
            "usr/local/lib/python3.12/site-packages/airflow",
            dir(0o755, root),
        ),
        (
            "usr/local/lib/python3.12/site-packages/airflow/__init__.py",
            file("", 0o644, root),
        ),
        (
            "usr/local/lib/python3.12/site-packages/apache_airflow-3.0.2.dist-info",
            dir(0o755, root),
        ),
        (
            "usr/local/lib/python3.12/site-packages/apache_airflow-3.0.2.dist-info/METADATA",
            file(
                "Metadata-Version: 2.4\nName: apache-airflow\nVersion: 3.0.2\n\n",
                0o644,
                root,
            ),
        ),
        (
            "usr/local/lib/python3.12/site-packages/apache_airflow-3.0.2.dist-info/RECORD",
            file(
                "airflow/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\napache_airflow-3.0.2.dist-info/METADATA,,\n",
                0o644,
                root,
            ),
        ),
    ];
    for (path, entry) in entries {
        os.insert(path, entry).expect("valid fixture path");
    }
    let mut airflow = FileTree::new();
    airflow
        .insert("usr/local/airflow", dir(0o775, astro))
        .expect("valid path");
    airflow
        .insert("usr/local/airflow/.placeholder", file("", 0o644, astro))
        .expect("valid path");
    airflow.add_parents(|_| (0o755, root));
    vec![os, airflow]
}

/// An OCI manifest for `config` (stored here) and `layers` (already in `store`), and
/// every blob it needs with the file holding it.
pub fn image_manifest(
    store: &Store,
    config: &[u8],
    layers: &[Descriptor],
) -> (Vec<u8>, Vec<(Digest, PathBuf)>) {
    let config_digest = store.put_bytes(config).expect("config");
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_MANIFEST,
        "config": {"mediaType": media_types::OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": layers,
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("json");
    let mut blobs: Vec<(Digest, PathBuf)> = layers
        .iter()
        .map(|l| l.sha256().expect("sha256"))
        .map(|digest| (digest.clone(), store.blob_path(&digest)))
        .collect();
    blobs.push((config_digest.clone(), store.blob_path(&config_digest)));
    (manifest_bytes, blobs)
}

/// One gzip member the way the fixtures were first made (miniz_oxide 0.9.1, level 6),
/// so a generated base keeps its bytes when airlock's own compressor changes.
fn fixture_gzip(data: &[u8]) -> Vec<u8> {
    let deflated = miniz_oxide::deflate::compress_to_vec(data, 6);
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// The gzip blob `digest` re-encoded as `compression` (stored), with its media type.
/// Gzip is re-encoded too, as [`fixture_gzip`] does.
fn recompress(
    store: &Store,
    digest: &Digest,
    compression: LayerCompression,
) -> (&'static str, Digest) {
    use std::io::Read;
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(store.blob_path(digest)).expect("blob"))
        .read_to_end(&mut tar)
        .expect("gunzip");
    match compression {
        LayerCompression::Gzip => (
            media_types::OCI_LAYER_GZIP,
            store.put_bytes(&fixture_gzip(&tar)).expect("store"),
        ),
        LayerCompression::Zstd => {
            let bytes = ruzstd::encoding::compress_to_vec(
                &tar[..],
                ruzstd::encoding::CompressionLevel::Fastest,
            );
            (
                media_types::OCI_LAYER_ZSTD,
                store.put_bytes(&bytes).expect("store"),
            )
        }
        _ => (
            media_types::OCI_LAYER_TAR,
            store.put_bytes(&tar).expect("store"),
        ),
    }
}

/// Writes a generated base image into the OCI layout `layout` under `spec.tag`
/// and returns the digest the tag points at.
pub fn write_base(layout: &Path, spec: &BaseSpec) -> Digest {
    let scratch = tempfile::tempdir().expect("tempdir");
    let store = Store::open(scratch.path()).expect("store");
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut trees = base_trees();
    if !spec.extra_files.is_empty() {
        let mut extra = FileTree::new();
        for (path, text) in &spec.extra_files {
            extra
                .insert(path, file(text, 0o644, Owner::ROOT))
                .expect("valid path");
        }
        extra.add_parents(|_| (0o755, Owner::ROOT));
        trees.push(extra);
    }
    let mut history = vec![
        json!({"created": "1970-01-01T00:00:00Z", "created_by": "fixture: root filesystem"}),
        json!({"created": "1970-01-01T00:00:00Z", "created_by": "fixture: airflow home"}),
    ];
    if trees.len() > 2 {
        history
            .push(json!({"created": "1970-01-01T00:00:00Z", "created_by": "fixture: extra files"}));
    }
    for tree in trees {
        let (record, _) = build_layer(&store, &tree, "fixture-base", 0).expect("layer");
        diff_ids.push(record.diff_id.to_string());
        let (media_type, digest) = recompress(&store, &record.digest, spec.compression);
        let size = std::fs::metadata(store.blob_path(&digest))
            .expect("blob")
            .len();
        layers.push(descriptor(media_type, digest, size));
    }
    let mut labels = json!({"io.astronomer.docker": "true"});
    if !spec.runtime_version.is_empty() {
        labels["io.astronomer.docker.runtime.version"] = json!(spec.runtime_version);
    }
    let mut env = vec![
        "PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            .to_string(),
        "AIRFLOW_HOME=/usr/local/airflow".to_string(),
        "PYTHONUNBUFFERED=1".to_string(),
    ];
    env.extend(spec.extra_env.iter().cloned());
    let config = json!({
        "architecture": spec.arch,
        "os": spec.os,
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": env,
            "User": "astro",
            "WorkingDir": "/usr/local/airflow",
            "Entrypoint": ["/entrypoint"],
            "Labels": labels,
            "OnBuild": spec.onbuild,
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    let config_bytes = serde_json::to_vec(&config).expect("json");
    let (manifest_bytes, mut blobs) = image_manifest(&store, &config_bytes, &layers);
    let config_digest = Digest::of(&config_bytes);
    if !spec.as_index {
        return write_layout(
            layout,
            &spec.tag,
            &blobs,
            &manifest_bytes,
            media_types::OCI_MANIFEST,
        )
        .expect("layout");
    }
    // An index whose entries are this manifest (under the spec's platform) and an
    // arm64 sibling that reuses the same blobs.
    let manifest_digest = store.put_bytes(&manifest_bytes).expect("manifest");
    blobs.push((manifest_digest.clone(), store.blob_path(&manifest_digest)));
    let mut index = ImageIndex::empty();
    let mut own = descriptor(
        media_types::OCI_MANIFEST,
        manifest_digest,
        manifest_bytes.len() as u64,
    );
    own.set_platform(Some(platform(&spec.arch, &spec.os, None)));
    let other_bytes = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_MANIFEST,
        "config": {"mediaType": media_types::OCI_CONFIG, "digest": config_digest.to_string(), "size": config_bytes.len()},
        "layers": [],
        "annotations": {"fixture": "other platform"},
    }))
    .expect("json");
    let other_digest = store.put_bytes(&other_bytes).expect("manifest");
    blobs.push((other_digest.clone(), store.blob_path(&other_digest)));
    let mut other = descriptor(
        media_types::OCI_MANIFEST,
        other_digest,
        other_bytes.len() as u64,
    );
    other.set_platform(Some(platform("arm64", "linux", Some("v8"))));
    index.set_manifests(vec![other, own]);
    let index_bytes = index_json(&index).expect("json");
    write_layout(
        layout,
        &spec.tag,
        &blobs,
        &index_bytes,
        media_types::OCI_INDEX,
    )
    .expect("layout")
}

/// The platform `os/architecture[/variant]`.
pub fn platform(architecture: &str, os: &str, variant: Option<&str>) -> Platform {
    let mut platform = Platform::default();
    platform.set_architecture(architecture.into());
    platform.set_os(os.into());
    platform.set_variant(variant.map(str::to_string));
    platform
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copies a directory tree (files, dirs, symlinks) for a test to change freely.
pub fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    let mut names: Vec<_> = std::fs::read_dir(src)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names.sort();
    for name in names {
        let from = src.join(&name);
        let to = dst.join(&name);
        let meta = std::fs::symlink_metadata(&from).expect("metadata");
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from).expect("readlink"), &to)
                .expect("symlink");
        } else if meta.is_dir() {
            copy_tree(&from, &to);
        } else {
            std::fs::copy(&from, &to).expect("copy");
        }
    }
}

/// Runs the airlock binary with a clean, fixed environment plus `env`.
pub fn airlock(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_airlock"));
    command.args(args).current_dir(cwd).env_clear();
    let path = std::env::var("PATH").unwrap_or_default();
    command.env("PATH", path).env("NO_COLOR", "1");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run airlock")
}

/// Runs `command`, which must succeed; its stdout.
pub fn run_ok(command: &mut Command) -> String {
    String::from_utf8_lossy(&host_debian::run(command).stdout).into_owned()
}

/// The element of the JSON array `array` whose `field` is `value`; panics naming
/// what is missing and showing the array.
pub fn find_by<'a>(
    array: &'a serde_json::Value,
    field: &str,
    value: &str,
) -> &'a serde_json::Value {
    array
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {array}"))
        .iter()
        .find(|element| element[field] == value)
        .unwrap_or_else(|| panic!("no element with {field} = {value:?} in {array}"))
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A project copied from `examples/quickstart` into a temp dir, with its base layout
/// generated next to it and mapped by `--base-layout`.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub project: PathBuf,
    pub cache: PathBuf,
    pub base_layout: PathBuf,
}

impl Sandbox {
    pub fn quickstart() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = dir.path().join("project");
        copy_tree(&repo_root().join("examples/quickstart"), &project);
        let _ = std::fs::remove_dir_all(project.join(".airlock"));
        let _ = std::fs::remove_file(project.join("airlock.lock"));
        let base_layout = repo_root().join("fixtures/runtime-base");
        let cache = dir.path().join("cache");
        Self {
            dir,
            project,
            cache,
            base_layout,
        }
    }

    /// `airlock build` of the sandbox project with the fixed environment and `extra` args.
    pub fn build(&self, extra: &[&str]) -> Output {
        self.run("build", extra)
    }

    /// `airlock build` on another base layout than the committed fixture.
    pub fn build_on(&self, base_layout: &Path, extra: &[&str]) -> Output {
        self.run_on("build", base_layout, extra)
    }

    /// `airlock COMMAND PROJECT --cache-dir … --base-layout …` plus `extra`.
    pub fn run(&self, command: &str, extra: &[&str]) -> Output {
        self.run_on(command, &self.base_layout, extra)
    }

    fn run_on(&self, command: &str, base_layout: &Path, extra: &[&str]) -> Output {
        let project = self.project.to_string_lossy().into_owned();
        let cache = self.cache.to_string_lossy().into_owned();
        let layout = base_layout.to_string_lossy().into_owned();
        let mut args = vec![
            command,
            project.as_str(),
            "--cache-dir",
            cache.as_str(),
            "--base-layout",
            layout.as_str(),
        ];
        args.extend_from_slice(extra);
        airlock(&args, self.dir.path(), &[])
    }
}

/// Environment variables of a command, for perturbation tests.
pub fn env_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
