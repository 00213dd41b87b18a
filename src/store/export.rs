//! `cache export` / `cache import`: the part of the store a set of locks needs, as one
//! OCI image layout (a directory, or the same tree in a tar file) that can be carried
//! across an air gap.
//!
//! ```text
//! oci-layout
//! index.json                  the cache manifest (ref name `airlock-cache`) and each
//!                             base image's own manifest (so other tools read them)
//! blobs/sha256/<hex>          every blob: base manifests, configs and layers, .debs,
//!                             wheels, built layers, the cache manifest, `{}`
//! ```
//!
//! The cache manifest is an OCI artifact (`artifactType`
//! `application/vnd.airlock.cache.v1`, empty config) listing one descriptor per blob,
//! annotated with `io.airlock.cache.kind` (`base`, `deb`, `wheel`, `layer`), the file
//! name (`org.opencontainers.image.title`) for `.deb`s and wheels, and for a built
//! layer its derivation key (`io.airlock.cache.key`), diff ID
//! (`io.airlock.cache.diff-id`) and the notes kept beside its record
//! (`io.airlock.cache.note.NAME`). Import checks every blob against its digest and
//! every descriptor against a present blob of its size before it writes any layer
//! record, and writes each record after its blob and notes.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::gc::{NeededKind, Needs};
use super::{LayerRecord, SEGMENTS_NOTE, Store, StoreError};
use crate::digest::Digest;

pub(crate) const CACHE_ARTIFACT_TYPE: &str = "application/vnd.airlock.cache.v1";
const CACHE_REF_NAME: &str = "airlock-cache";
const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const BLOB_MEDIA_TYPE: &str = "application/octet-stream";
const KIND: &str = "io.airlock.cache.kind";
const KEY: &str = "io.airlock.cache.key";
const DIFF_ID: &str = "io.airlock.cache.diff-id";
const NOTE: &str = "io.airlock.cache.note.";
const TITLE: &str = "org.opencontainers.image.title";
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const LAYOUT_FILE: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("The store lacks blob `{digest}` ({what})")]
    Missing { digest: Digest, what: String },
    #[error("`{path}` already exists")]
    Exists { path: PathBuf },
    #[error("Cannot {action} `{path}`")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{path}` is not an airlock cache export: {reason}")]
    NotACache { path: PathBuf, reason: String },
    #[error("`{path}` refers to blob `{digest}`, which it does not hold whole")]
    Dangling { path: PathBuf, digest: Digest },
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ExportError {
    let path = path.to_path_buf();
    move |source| ExportError::Io {
        action,
        path,
        source,
    }
}

/// A layout as a directory or as a tar file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExportFormat {
    Dir,
    Tar,
}

impl ExportFormat {
    /// A tar for a name ending in `.tar`, else a directory.
    pub(crate) fn for_path(path: &Path) -> Self {
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("tar"))
        {
            Self::Tar
        } else {
            Self::Dir
        }
    }
}

/// What an export or import carried.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Carried {
    pub blobs: usize,
    pub bytes: u64,
    pub layers: usize,
}

/// One descriptor of the cache manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: Digest,
    size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct CacheManifest {
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
    layers: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct Index {
    manifests: Vec<IndexEntry>,
}

#[derive(Debug, Deserialize)]
struct IndexEntry {
    digest: Digest,
    size: u64,
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Writes what `needs` names from the store to `dest` (a new directory or tar file).
/// `progress` hears each blob written and its size.
pub(crate) fn export(
    store: &Store,
    needs: &Needs,
    dest: &Path,
    format: ExportFormat,
    progress: &dyn Fn(&Digest, u64),
) -> Result<Carried, ExportError> {
    if fs::symlink_metadata(dest).is_ok() {
        return Err(ExportError::Exists {
            path: dest.to_path_buf(),
        });
    }
    let (files, carried) = layout_files(store, needs)?;
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match format {
        ExportFormat::Dir => {
            let staging = tempfile::Builder::new()
                .prefix(".airlock-export-")
                .tempdir_in(parent)
                .map_err(io_error("create a directory in", parent))?;
            let blobs = staging.path().join("blobs/sha256");
            fs::create_dir_all(&blobs).map_err(io_error("create", &blobs))?;
            for (name, source) in &files {
                let to = staging.path().join(name);
                match source {
                    Source::Bytes(bytes) => {
                        fs::write(&to, bytes).map_err(io_error("write", &to))?
                    }
                    Source::Blob(digest, size) => {
                        let from = store.blob_path(digest);
                        if fs::hard_link(&from, &to).is_err() {
                            fs::copy(&from, &to).map_err(io_error("copy", &from))?;
                        }
                        progress(digest, *size);
                    }
                }
            }
            let staged = staging.keep();
            fs::rename(&staged, dest).map_err(|e| {
                let _ = fs::remove_dir_all(&staged);
                ExportError::Io {
                    action: "rename a directory to",
                    path: dest.to_path_buf(),
                    source: e,
                }
            })?;
        }
        ExportFormat::Tar => {
            let temp = tempfile::Builder::new()
                .prefix(".airlock-export-")
                .tempfile_in(parent)
                .map_err(io_error("create a file in", parent))?;
            let mut tar = tar::Builder::new(BufWriter::new(temp));
            for dir in ["blobs/", "blobs/sha256/"] {
                let mut header = header(tar::EntryType::Directory, 0o755, 0);
                tar.append_data(&mut header, dir, io::empty())
                    .map_err(io_error("write", dest))?;
            }
            for (name, source) in &files {
                match source {
                    Source::Bytes(bytes) => {
                        let mut header = header(tar::EntryType::Regular, 0o644, bytes.len() as u64);
                        tar.append_data(&mut header, name, &bytes[..])
                            .map_err(io_error("write", dest))?;
                    }
                    Source::Blob(digest, size) => {
                        let path = store.blob_path(digest);
                        let file = File::open(&path).map_err(io_error("open", &path))?;
                        let mut header = header(tar::EntryType::Regular, 0o644, *size);
                        tar.append_data(&mut header, name, file.take(*size))
                            .map_err(io_error("write", dest))?;
                        progress(digest, *size);
                    }
                }
            }
            let buffered = tar.into_inner().map_err(io_error("write", dest))?;
            let temp = buffered.into_inner().map_err(|e| ExportError::Io {
                action: "write",
                path: dest.to_path_buf(),
                source: e.into_error(),
            })?;
            temp.persist_noclobber(dest).map_err(|e| ExportError::Io {
                action: "rename a file to",
                path: dest.to_path_buf(),
                source: e.error,
            })?;
        }
    }
    Ok(carried)
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}

enum Source {
    Bytes(Vec<u8>),
    Blob(Digest, u64),
}

/// The layout's files, by name, sorted; and what they carry.
fn layout_files(
    store: &Store,
    needs: &Needs,
) -> Result<(BTreeMap<String, Source>, Carried), ExportError> {
    let mut files: BTreeMap<String, Source> = BTreeMap::new();
    let mut carried = Carried::default();
    let mut descriptors = Vec::new();
    let size_of = |digest: &Digest, what: &str| -> Result<u64, ExportError> {
        if !store.has_blob(digest) {
            return Err(ExportError::Missing {
                digest: digest.clone(),
                what: what.to_string(),
            });
        }
        let path = store.blob_path(digest);
        Ok(fs::metadata(&path).map_err(io_error("read", &path))?.len())
    };
    for (digest, needed) in &needs.blobs {
        let what = needed
            .title
            .clone()
            .unwrap_or_else(|| needed.kind.as_str().to_string());
        let size = size_of(digest, &what)?;
        files.insert(blob_name(digest), Source::Blob(digest.clone(), size));
        carried.blobs += 1;
        carried.bytes += size;
        if needed.kind == NeededKind::Layer {
            continue;
        }
        let mut annotations =
            BTreeMap::from([(KIND.to_string(), needed.kind.as_str().to_string())]);
        if let Some(title) = &needed.title {
            annotations.insert(TITLE.to_string(), title.clone());
        }
        descriptors.push(Descriptor {
            media_type: BLOB_MEDIA_TYPE.to_string(),
            digest: digest.clone(),
            size,
            annotations,
        });
    }
    for (key, record) in &needs.layers {
        let mut annotations = BTreeMap::from([
            (KIND.to_string(), NeededKind::Layer.as_str().to_string()),
            (KEY.to_string(), key.to_string()),
            (DIFF_ID.to_string(), record.diff_id.to_string()),
        ]);
        // The runs a segmented layer was made from are not exported (see `cache gc`),
        // so neither is their list.
        let notes = store.layer_notes(key).into_iter();
        for (name, bytes) in notes.filter(|(name, _)| name != SEGMENTS_NOTE) {
            annotations.insert(
                format!("{NOTE}{name}"),
                String::from_utf8_lossy(&bytes).into_owned(),
            );
        }
        descriptors.push(Descriptor {
            media_type: record.media_type.clone(),
            digest: record.digest.clone(),
            size: record.size,
            annotations,
        });
        carried.layers += 1;
    }
    let empty = b"{}".to_vec();
    let empty_digest = Digest::of(&empty);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": CACHE_ARTIFACT_TYPE,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": empty_digest, "size": 2},
        "layers": descriptors,
    }))
    .unwrap_or_default();
    let manifest_digest = Digest::of(&manifest);
    let mut entries = vec![json!({
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": CACHE_ARTIFACT_TYPE,
        "digest": manifest_digest,
        "size": manifest.len(),
        "annotations": {REF_NAME: CACHE_REF_NAME},
    })];
    for base in &needs.bases {
        let Some(Source::Blob(_, size)) = files.get(&blob_name(base)) else {
            continue;
        };
        let media_type = serde_json::from_slice::<serde_json::Value>(&store.read_blob(base)?)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_string))
            .unwrap_or_else(|| MANIFEST_MEDIA_TYPE.to_string());
        entries.push(json!({
            "mediaType": media_type,
            "digest": base,
            "size": size,
            "annotations": {KIND: NeededKind::Base.as_str()},
        }));
    }
    let index = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": entries,
    }))
    .unwrap_or_default();
    files.insert(blob_name(&empty_digest), Source::Bytes(empty));
    files.insert(blob_name(&manifest_digest), Source::Bytes(manifest));
    files.insert("index.json".into(), Source::Bytes(index));
    files.insert("oci-layout".into(), Source::Bytes(LAYOUT_FILE.to_vec()));
    Ok((files, carried))
}

fn blob_name(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// Reads an export (a directory or tar file) into the store: every blob checked
/// against its digest, every layer record written only once its blob is in the store
/// whole. `progress` hears each blob imported and its size.
pub(crate) fn import(
    store: &Store,
    source: &Path,
    progress: &dyn Fn(&Digest, u64),
) -> Result<Carried, ExportError> {
    let meta = fs::metadata(source).map_err(io_error("read", source))?;
    let unpacked;
    let dir = if meta.is_dir() {
        source
    } else {
        unpacked = tempfile::Builder::new()
            .prefix("import-")
            .tempdir_in(store.root().join("tmp"))
            .map_err(io_error("create a directory in", store.root()))?;
        untar(source, unpacked.path())?;
        unpacked.path()
    };
    let not_cache = |reason: &str| ExportError::NotACache {
        path: source.to_path_buf(),
        reason: reason.to_string(),
    };
    let layout = fs::read(dir.join("oci-layout")).map_err(|_| not_cache("no `oci-layout`"))?;
    if serde_json::from_slice::<serde_json::Value>(&layout)
        .ok()
        .and_then(|v| v["imageLayoutVersion"].as_str().map(str::to_string))
        .as_deref()
        != Some("1.0.0")
    {
        return Err(not_cache("`oci-layout` is not version 1.0.0"));
    }
    let index: Index = fs::read(dir.join("index.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| not_cache("no readable `index.json`"))?;
    // Every blob of the layout, checked against its name on the way into the store.
    let mut carried = Carried::default();
    let blobs = dir.join("blobs/sha256");
    for entry in fs::read_dir(&blobs).map_err(|_| not_cache("no `blobs/sha256`"))? {
        let entry = entry.map_err(io_error("read", &blobs))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let digest = format!("sha256:{name}")
            .parse::<Digest>()
            .map_err(|_| not_cache(&format!("`blobs/sha256/{name}` is not named by a digest")))?;
        let meta = fs::symlink_metadata(&path).map_err(io_error("read", &path))?;
        if !meta.is_file() {
            return Err(not_cache(&format!("`blobs/sha256/{name}` is not a file")));
        }
        store.import_file(&path, &digest)?;
        carried.blobs += 1;
        carried.bytes += meta.len();
        progress(&digest, meta.len());
    }
    let present = |digest: &Digest, size: u64| {
        store.has_blob(digest)
            && fs::metadata(store.blob_path(digest)).is_ok_and(|m| m.len() == size)
    };
    let dangling = |digest: &Digest| ExportError::Dangling {
        path: source.to_path_buf(),
        digest: digest.clone(),
    };
    let mut records = Vec::new();
    for entry in &index.manifests {
        if !present(&entry.digest, entry.size) {
            return Err(dangling(&entry.digest));
        }
        let is_cache = entry.artifact_type.as_deref() == Some(CACHE_ARTIFACT_TYPE)
            || entry.annotations.get(REF_NAME).map(String::as_str) == Some(CACHE_REF_NAME);
        if !is_cache {
            continue;
        }
        let manifest: CacheManifest = serde_json::from_slice(&store.read_blob(&entry.digest)?)
            .map_err(|_| not_cache("the cache manifest is malformed"))?;
        if manifest.artifact_type.as_deref() != Some(CACHE_ARTIFACT_TYPE) {
            return Err(not_cache("the cache manifest has another artifact type"));
        }
        for descriptor in manifest.layers {
            if !present(&descriptor.digest, descriptor.size) {
                return Err(dangling(&descriptor.digest));
            }
            if let Some(record) = layer_record(&descriptor).map_err(|reason| not_cache(&reason))? {
                records.push(record);
            }
        }
    }
    // Only now, with every blob checked: notes, then the record.
    for (key, record, notes) in records {
        for (name, text) in notes {
            store.put_layer_note(&key, &name, text.as_bytes())?;
        }
        store.put_layer_record(&key, &record)?;
        carried.layers += 1;
    }
    Ok(carried)
}

type ImportedRecord = (Digest, LayerRecord, Vec<(String, String)>);

/// The layer record a descriptor carries, when it is a layer's.
fn layer_record(descriptor: &Descriptor) -> Result<Option<ImportedRecord>, String> {
    let annotations = &descriptor.annotations;
    if annotations.get(KIND).map(String::as_str) != Some(NeededKind::Layer.as_str()) {
        return Ok(None);
    }
    let digest_of = |name: &str| {
        annotations
            .get(name)
            .and_then(|text| text.parse::<Digest>().ok())
            .ok_or_else(|| format!("a layer descriptor lacks a valid `{name}`"))
    };
    let key = digest_of(KEY)?;
    let diff_id = digest_of(DIFF_ID)?;
    let mut notes = Vec::new();
    for (name, text) in annotations {
        if let Some(note) = name.strip_prefix(NOTE) {
            if note.is_empty() || !note.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(format!("a layer note has a bad name `{note}`"));
            }
            notes.push((note.to_string(), text.clone()));
        }
    }
    Ok(Some((
        key,
        LayerRecord {
            digest: descriptor.digest.clone(),
            diff_id,
            size: descriptor.size,
            media_type: descriptor.media_type.clone(),
        },
        notes,
    )))
}

/// Unpacks an export tar into `dir`: only `oci-layout`, `index.json` and regular
/// files under `blobs/sha256/`; anything else (other paths, links, devices) refuses
/// the whole file.
fn untar(source: &Path, dir: &Path) -> Result<(), ExportError> {
    let file = File::open(source).map_err(io_error("open", source))?;
    let mut archive = tar::Archive::new(io::BufReader::new(file));
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).map_err(io_error("create", &blobs))?;
    let refuse = |reason: String| ExportError::NotACache {
        path: source.to_path_buf(),
        reason,
    };
    for entry in archive.entries().map_err(io_error("read", source))? {
        let mut entry = entry.map_err(io_error("read", source))?;
        let path = entry
            .path()
            .map_err(io_error("read", source))?
            .to_string_lossy()
            .into_owned();
        let name = path.trim_start_matches("./");
        let kind = entry.header().entry_type();
        if kind.is_dir()
            && matches!(
                name.trim_end_matches('/'),
                "" | "." | "blobs" | "blobs/sha256"
            )
        {
            continue;
        }
        let allowed = match name {
            "oci-layout" | "index.json" => true,
            _ => name.strip_prefix("blobs/sha256/").is_some_and(|hex| {
                hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            }),
        };
        if !allowed || !kind.is_file() {
            return Err(refuse(format!(
                "it holds `{name}`, which an export never does"
            )));
        }
        let to = dir.join(name);
        let mut out = File::create(&to).map_err(io_error("create", &to))?;
        io::copy(&mut entry, &mut out).map_err(io_error("write", &to))?;
        out.flush().map_err(io_error("write", &to))?;
    }
    Ok(())
}

impl crate::hint::Hint for ExportError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Store(error) => error.hints(),
            Self::Missing { .. } => {
                vec!["run `airlock fetch` for each lock first, then export again".into()]
            }
            Self::Exists { .. } => vec!["remove it or choose another destination".into()],
            Self::NotACache { .. } | Self::Dangling { .. } => {
                vec!["export it again with `airlock cache export` and carry the whole file".into()]
            }
            Self::Io { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled() -> (tempfile::TempDir, Store, Needs, Digest) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("a")).expect("store");
        let mut needs = Needs::default();
        let wheel = store.put_bytes(b"PK\x03\x04 a wheel").expect("put");
        needs.blob(
            wheel,
            NeededKind::Wheel,
            Some("a-1.0-py3-none-any.whl".into()),
        );
        let layer = store.put_bytes(b"\x1f\x8b a layer").expect("put");
        let key = Digest::of(b"key");
        let record = LayerRecord {
            digest: layer,
            diff_id: Digest::of(b"tar"),
            size: 10,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        };
        store.put_layer_record(&key, &record).expect("record");
        store.put_layer_note(&key, "skipped", b"[]").expect("note");
        needs.layer(key.clone(), record);
        (dir, store, needs, key)
    }

    #[test]
    fn item3_export_then_import_carries_blobs_records_and_notes_in_both_forms() {
        let (dir, store, needs, key) = filled();
        for name in ["cache", "cache.tar"] {
            let dest = dir.path().join(name);
            export(
                &store,
                &needs,
                &dest,
                ExportFormat::for_path(&dest),
                &|_, _| {},
            )
            .expect("export");
            let other = Store::open(dir.path().join(format!("b-{name}"))).expect("store");
            let carried = import(&other, &dest, &|_, _| {}).expect("import");
            assert_eq!(carried.layers, 1);
            let record = other.layer_record(&key).expect("read").expect("a record");
            assert_eq!(Some(record), store.layer_record(&key).expect("read"));
            assert_eq!(
                other.layer_notes(&key).get("skipped").map(Vec::as_slice),
                Some(&b"[]"[..])
            );
            for digest in needs.blobs.keys() {
                assert!(other.has_blob(digest));
            }
        }
    }

    #[test]
    fn item3_import_refuses_a_tampered_blob_and_writes_no_record() {
        let (dir, store, needs, key) = filled();
        let dest = dir.path().join("cache");
        export(&store, &needs, &dest, ExportFormat::Dir, &|_, _| {}).expect("export");
        let layer = &needs.layers[&key].digest;
        let path = dest.join("blobs/sha256").join(layer.hex());
        fs::remove_file(&path).expect("unlink");
        fs::write(&path, b"\x1f\x8b evil layer").expect("tamper");
        let other = Store::open(dir.path().join("b")).expect("store");
        let err = import(&other, &dest, &|_, _| {}).expect_err("tampered");
        assert!(
            matches!(err, ExportError::Store(StoreError::DigestMismatch { .. })),
            "{err}"
        );
        assert_eq!(other.layer_record(&key).expect("read"), None);
        assert!(!other.layer_record_path(&key).exists());
    }

    #[test]
    fn item3_import_refuses_a_record_without_its_blob() {
        let (dir, store, needs, key) = filled();
        let dest = dir.path().join("cache");
        export(&store, &needs, &dest, ExportFormat::Dir, &|_, _| {}).expect("export");
        let layer = &needs.layers[&key].digest;
        fs::remove_file(dest.join("blobs/sha256").join(layer.hex())).expect("unlink");
        let other = Store::open(dir.path().join("b")).expect("store");
        let err = import(&other, &dest, &|_, _| {}).expect_err("dangling");
        assert!(matches!(err, ExportError::Dangling { .. }), "{err}");
        assert!(!other.layer_record_path(&key).exists());
    }

    #[test]
    fn item3_import_refuses_a_tar_with_other_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("evil.tar");
        let mut tar = tar::Builder::new(File::create(&path).expect("create"));
        let mut h = header(tar::EntryType::Regular, 0o644, 1);
        tar.append_data(&mut h, "blobs/../../escape", &b"x"[..])
            .or_else(|_| {
                let mut h = header(tar::EntryType::Regular, 0o644, 1);
                tar.append_data(&mut h, "etc/passwd", &b"x"[..])
            })
            .expect("append");
        tar.finish().expect("finish");
        drop(tar);
        let store = Store::open(dir.path().join("s")).expect("store");
        let err = import(&store, &path, &|_, _| {}).expect_err("refused");
        assert!(matches!(err, ExportError::NotACache { .. }), "{err}");
        assert!(!dir.path().join("escape").exists());
    }

    #[test]
    fn item3_import_refuses_a_symlinked_blob_and_a_note_named_to_escape() {
        let (dir, store, needs, key) = filled();
        let dest = dir.path().join("cache");
        export(&store, &needs, &dest, ExportFormat::Dir, &|_, _| {}).expect("export");
        // A blob that is a symlink to a file outside the export.
        let wheel = needs
            .blobs
            .iter()
            .find(|(_, n)| n.kind == NeededKind::Wheel)
            .map(|(d, _)| d.clone())
            .expect("a wheel");
        let path = dest.join("blobs/sha256").join(wheel.hex());
        let outside = dir.path().join("outside");
        fs::copy(&path, &outside).expect("copy");
        fs::remove_file(&path).expect("unlink");
        std::os::unix::fs::symlink(&outside, &path).expect("symlink");
        let other = Store::open(dir.path().join("b")).expect("store");
        let err = import(&other, &dest, &|_, _| {}).expect_err("symlink");
        assert!(matches!(err, ExportError::NotACache { .. }), "{err}");
        fs::remove_file(&path).expect("unlink");
        fs::copy(&outside, &path).expect("copy back");

        // A note whose name would write outside `layers/`.
        let descriptor = Descriptor {
            media_type: "m".into(),
            digest: wheel.clone(),
            size: 1,
            annotations: BTreeMap::from([
                (KIND.to_string(), "layer".to_string()),
                (KEY.to_string(), key.to_string()),
                (DIFF_ID.to_string(), key.to_string()),
                (format!("{NOTE}../../escape"), "[]".to_string()),
            ]),
        };
        assert!(layer_record(&descriptor).is_err());
    }

    #[test]
    fn item3_a_directory_export_tarred_by_hand_imports() {
        let (dir, store, needs, key) = filled();
        let dest = dir.path().join("cache");
        export(&store, &needs, &dest, ExportFormat::Dir, &|_, _| {}).expect("export");
        let tar = dir.path().join("by-hand.tar");
        let status = std::process::Command::new("tar")
            .arg("cf")
            .arg(&tar)
            .arg("-C")
            .arg(&dest)
            .arg(".")
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("SKIPPED: no tar command");
            return;
        }
        let other = Store::open(dir.path().join("b")).expect("store");
        import(&other, &tar, &|_, _| {}).expect("import");
        assert!(other.layer_record(&key).expect("read").is_some());
    }
}
