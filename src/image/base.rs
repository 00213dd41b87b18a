//! A base image whose blobs are in the store, verified.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ImageError;
use super::facts::{BaseFacts, cached_facts, layer_stream, store_facts};
use crate::digest::Digest;
use crate::oci::{
    Descriptor, DescriptorExt as _, ImageManifest, LayoutImage, image_by_digest, select_image,
};
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct BaseLayer {
    pub descriptor: Descriptor,
    /// The descriptor's digest (sha256, checked when the base was loaded).
    pub digest: Digest,
    /// Where the verified blob lives in the store.
    pub path: PathBuf,
}

/// The `FROM` image: manifest, config and layers, all held by the store.
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// What the Dockerfile named, for messages and labels.
    pub reference: String,
    pub manifest_digest: Digest,
    pub manifest: ImageManifest,
    pub config_digest: Digest,
    pub config: Value,
    pub layers: Vec<BaseLayer>,
}

impl BaseImage {
    /// `config.Env` as `K=V` strings.
    pub fn env(&self) -> Vec<String> {
        string_list(self.config.pointer("/config/Env"))
    }

    pub fn user(&self) -> Option<String> {
        self.config
            .pointer("/config/User")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    pub fn working_dir(&self) -> Option<String> {
        self.config
            .pointer("/config/WorkingDir")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    pub fn onbuild(&self) -> Vec<String> {
        string_list(self.config.pointer("/config/OnBuild"))
    }

    pub fn label(&self, name: &str) -> Option<String> {
        self.config
            .pointer("/config/Labels")
            .and_then(|labels| labels.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    pub fn diff_ids(&self) -> Vec<String> {
        string_list(self.config.pointer("/rootfs/diff_ids"))
    }
}

/// The strings of a JSON array (e.g. `config.Env`); anything else gives none.
pub(crate) fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether importing an image also reads its facts (for a `FROM` image, whose facts
/// the build reads next).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImportFacts {
    Read,
    Skip,
}

/// Loads a base from a local OCI layout into the store, verifying every blob.
pub fn load_base_from_layout(
    store: &Store,
    reference: &str,
    layout: &Path,
    tag: Option<&str>,
) -> Result<BaseImage, ImageError> {
    base_from_layout(store, reference, layout, tag, ImportFacts::Skip)
}

/// [`load_base_from_layout`], reading the facts on the way when `facts` says so.
pub(crate) fn base_from_layout(
    store: &Store,
    reference: &str,
    layout: &Path,
    tag: Option<&str>,
    facts: ImportFacts,
) -> Result<BaseImage, ImageError> {
    let image = select_image(layout, tag)?;
    import_layout_image(store, reference, &image, facts)
}

/// The base pinned at `digest` (by the lock): from the store when it holds it, else
/// from the layout's blobs whatever its tags say now. `None` when neither has it.
pub(crate) fn load_pinned_base_from_layout(
    store: &Store,
    reference: &str,
    layout: &Path,
    (digest, facts): (&Digest, ImportFacts),
) -> Result<Option<BaseImage>, ImageError> {
    match base_from_store(store, reference, digest) {
        Ok(base) => return Ok(Some(base)),
        Err(ImageError::NotInStore { .. }) => {}
        Err(err) => return Err(err),
    }
    match image_by_digest(layout, digest)? {
        Some(image) => import_layout_image(store, reference, &image, facts).map(Some),
        None => Ok(None),
    }
}

/// Copies a layout image's manifest, config and layers into the store (each blob
/// verified) and reads it back as a base. With `ImportFacts::Read`, and no facts of
/// this image in the store, each layer blob is read once: inflated for the facts on
/// this thread while another thread hashes and copies it (the facts are then kept
/// beside the base, as `read_facts` keeps them, and only when every blob matched).
/// Facts that cannot be read are left to `read_facts`, which reads the store's copy
/// and reports the error where a build has always reported it.
fn import_layout_image(
    store: &Store,
    reference: &str,
    image: &LayoutImage,
    facts: ImportFacts,
) -> Result<BaseImage, ImageError> {
    store.put_bytes(&image.manifest_bytes)?;
    let config_digest = image.manifest.config().sha256()?;
    store.import_file(&image.blob_path(&config_digest), &config_digest)?;
    let wanted =
        facts == ImportFacts::Read && cached_facts(store, &image.manifest_digest).is_none();
    let mut read = wanted.then(|| Ok(BaseFacts::empty()));
    for descriptor in image.manifest.layers() {
        let digest = descriptor.sha256()?;
        let source = image.blob_path(&digest);
        read = match read {
            Some(Ok(mut facts)) => {
                let (_, applied) = store.import_file_reading(&source, &digest, |blob| {
                    let layer = layer_stream(blob).map_err(|source| ImageError::Layer {
                        digest: digest.clone(),
                        source,
                    })?;
                    facts.apply_layer(&digest, layer)
                })?;
                Some(applied.map(|()| facts))
            }
            other => {
                store.import_file(&source, &digest)?;
                other
            }
        };
    }
    let base = base_from_store(store, reference, &image.manifest_digest)?;
    match read {
        Some(Ok(facts)) => {
            if let Err(error) = store_facts(store, &base.manifest_digest, &facts) {
                tracing::debug!(%error, "cannot keep the facts read on import");
            }
        }
        Some(Err(error)) => {
            tracing::debug!(%error, "the facts were not read on import");
        }
        None => {}
    }
    Ok(base)
}

/// A base whose manifest, config and layers the store already holds (pulled or
/// imported earlier). Fails with `ImageError::NotInStore` when any blob is missing.
pub(crate) fn base_from_store(
    store: &Store,
    reference: &str,
    manifest_digest: &Digest,
) -> Result<BaseImage, ImageError> {
    let missing = |digest: &Digest| ImageError::NotInStore {
        reference: reference.to_string(),
        digest: digest.clone(),
    };
    if !store.has_blob(manifest_digest) {
        return Err(missing(manifest_digest));
    }
    let manifest_bytes = store.read_blob(manifest_digest)?;
    if &Digest::of(&manifest_bytes) != manifest_digest {
        return Err(ImageError::Config {
            digest: manifest_digest.clone(),
            reason: "the store's copy of the manifest is corrupt; remove it from the cache".into(),
        });
    }
    let manifest: ImageManifest =
        crate::registry::parse_manifest(&manifest_bytes).map_err(|e| ImageError::Config {
            digest: manifest_digest.clone(),
            reason: e.to_string(),
        })?;
    let config_digest = manifest.config().sha256()?;
    if !store.has_blob(&config_digest) {
        return Err(missing(&config_digest));
    }
    let config_bytes = store.read_blob(&config_digest)?;
    let config: Value = serde_json::from_slice(&config_bytes).map_err(|e| ImageError::Config {
        digest: config_digest.clone(),
        reason: e.to_string(),
    })?;
    check_platform(&config)?;
    let mut layers = Vec::new();
    for descriptor in manifest.layers() {
        let digest = descriptor.sha256()?;
        if !store.has_blob(&digest) {
            return Err(missing(&digest));
        }
        layers.push(BaseLayer {
            descriptor: descriptor.clone(),
            path: store.blob_path(&digest),
            digest,
        });
    }
    let base = BaseImage {
        reference: reference.to_string(),
        manifest_digest: manifest_digest.clone(),
        manifest,
        config_digest,
        config,
        layers,
    };
    if base.diff_ids().len() != base.layers.len() {
        return Err(ImageError::Config {
            digest: base.config_digest,
            reason: "the number of `rootfs.diff_ids` differs from the number of layers".into(),
        });
    }
    Ok(base)
}

fn check_platform(config: &Value) -> Result<(), ImageError> {
    let os = config.get("os").and_then(Value::as_str).unwrap_or("");
    let arch = config
        .get("architecture")
        .and_then(Value::as_str)
        .unwrap_or("");
    if os == "linux" && arch == "amd64" {
        Ok(())
    } else {
        Err(ImageError::Platform {
            found: format!("{os}/{arch}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A base pulled from a registry that serves its manifest without `schemaVersion`
    /// (the pull accepts it) loads from the store too.
    #[test]
    fn base_from_store_reads_a_pulled_manifest_without_schema_version() {
        let temp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(temp.path()).expect("store");
        let config = br#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let config_digest = store.put_bytes(config).expect("config");
        let manifest = serde_json::to_vec(&serde_json::json!({
            "mediaType": crate::oci::media_types::DOCKER_MANIFEST,
            "config": {
                "mediaType": crate::oci::media_types::DOCKER_CONFIG,
                "digest": config_digest.to_string(),
                "size": config.len(),
            },
            "layers": [],
        }))
        .expect("json");
        let manifest_digest = store.put_bytes(&manifest).expect("manifest");
        let base = base_from_store(&store, "127.0.0.1:5000/base:1", &manifest_digest)
            .expect("the pulled base loads");
        assert_eq!(base.config_digest, config_digest);
        assert!(base.layers.is_empty());
    }

    /// A gzip'd tar of `entries` (a path ending in `/` is a directory).
    fn gz_layer(entries: &[(&str, &str)]) -> Vec<u8> {
        use std::io::Write as _;
        let mut builder = tar::Builder::new(Vec::new());
        for (path, text) in entries {
            let mut header = tar::Header::new_gnu();
            if path.ends_with('/') {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o750);
            } else {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
            }
            header.set_size(text.len() as u64);
            builder
                .append_data(&mut header, path, text.as_bytes())
                .expect("append");
        }
        let tar = builder.into_inner().expect("tar");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).expect("gzip");
        gz.finish().expect("gzip")
    }

    /// An OCI layout (tag `1`) of an amd64 image of `layers`, in `dir`.
    fn layout_of(dir: &Path, layers: &[Vec<u8>]) {
        let scratch = dir.join("scratch");
        std::fs::create_dir_all(&scratch).expect("mkdir");
        let mut blobs = Vec::new();
        let mut descriptors = Vec::new();
        for (i, bytes) in layers.iter().enumerate() {
            let digest = Digest::of(bytes);
            let path = scratch.join(format!("layer{i}"));
            std::fs::write(&path, bytes).expect("write");
            descriptors.push(serde_json::json!({
                "mediaType": crate::oci::GZIP_LAYER_MEDIA_TYPE,
                "digest": digest.to_string(),
                "size": bytes.len(),
            }));
            blobs.push((digest, path));
        }
        let diff_ids: Vec<String> = (0..layers.len())
            .map(|i| Digest::of(format!("{i}").as_bytes()).to_string())
            .collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .expect("json");
        let config_path = scratch.join("config");
        std::fs::write(&config_path, &config).expect("write");
        blobs.push((Digest::of(&config), config_path));
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": crate::oci::media_types::OCI_MANIFEST,
            "config": {
                "mediaType": crate::oci::media_types::OCI_CONFIG,
                "digest": Digest::of(&config).to_string(),
                "size": config.len(),
            },
            "layers": descriptors,
        }))
        .expect("json");
        crate::oci::write_layout(
            &dir.join("layout"),
            "1",
            &blobs,
            &manifest,
            crate::oci::media_types::OCI_MANIFEST,
        )
        .expect("layout");
    }

    fn temp_files(store_dir: &Path) -> usize {
        std::fs::read_dir(store_dir.join("tmp"))
            .expect("tmp")
            .count()
    }

    /// coldbase: the facts a `FROM` image's import reads on the way (each layer read
    /// once, inflated while another thread hashes and copies it) are the facts
    /// `read_facts` reads from the store's copy: two layers, a whiteout, an opaque
    /// directory, a captured file replaced.
    #[test]
    fn coldbase_facts_read_on_import_equal_the_facts_read_from_the_store() {
        let temp = tempfile::tempdir().expect("tempdir");
        let first = gz_layer(&[
            ("etc/", ""),
            ("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
            ("opt/", ""),
            ("opt/a/", ""),
            ("opt/a/b", "b"),
            ("srv/", ""),
            ("srv/x", "x"),
            ("usr/", ""),
            ("usr/bin/", ""),
            ("usr/bin/python3.12", "elf"),
        ]);
        let second = gz_layer(&[
            ("etc/passwd", "astro:x:50000:0::/home/astro:/bin/bash\n"),
            ("opt/.wh.a", ""),
            ("srv/.wh..wh..opq", ""),
            ("srv/y", "y"),
        ]);
        layout_of(temp.path(), &[first, second]);
        let layout = temp.path().join("layout");
        let read = Store::open(temp.path().join("read")).expect("store");
        let base =
            base_from_layout(&read, "base", &layout, Some("1"), ImportFacts::Read).expect("import");
        let on_import = cached_facts(&read, &base.manifest_digest).expect("facts kept on import");
        assert_eq!(temp_files(&temp.path().join("read")), 0);
        let skip = Store::open(temp.path().join("skip")).expect("store");
        let base = load_base_from_layout(&skip, "base", &layout, Some("1")).expect("import");
        assert!(cached_facts(&skip, &base.manifest_digest).is_none());
        let from_store = super::super::read_facts(&skip, &base).expect("facts");
        let json = |facts: &BaseFacts| serde_json::to_string(facts).expect("json");
        assert_eq!(json(&on_import), json(&from_store));
        assert!(on_import.passwd().is_some_and(|p| p.starts_with("astro")));
        assert!(!on_import.dirs.contains_key("opt/a"));
        assert!(on_import.interpreters.contains("usr/bin/python3.12"));
    }

    /// coldbase, hostile input: a layer blob whose bytes do not match its digest fails
    /// the import as before (the digest error, not a facts error), keeps no facts and
    /// leaves no temp file; a layer the facts reader refuses (a whiteout naming no
    /// file) imports, keeps no facts, and `read_facts` reports the refusal.
    #[test]
    fn coldbase_a_bad_layer_fails_as_before_when_facts_are_read_on_import() {
        let temp = tempfile::tempdir().expect("tempdir");
        let good = gz_layer(&[("etc/", ""), ("etc/passwd", "root:x:0:0::/root:/bin/sh\n")]);
        layout_of(temp.path(), std::slice::from_ref(&good));
        let layout = temp.path().join("layout");
        let blob = layout.join("blobs/sha256").join(Digest::of(&good).hex());
        let mut tampered = good.clone();
        let middle = tampered.len() / 2;
        tampered[middle] ^= 0x55;
        std::fs::set_permissions(&blob, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .expect("chmod");
        std::fs::write(&blob, &tampered).expect("tamper");
        let store_dir = temp.path().join("store");
        let store = Store::open(&store_dir).expect("store");
        let err = base_from_layout(&store, "base", &layout, Some("1"), ImportFacts::Read)
            .expect_err("a tampered layer");
        assert!(
            matches!(
                &err,
                ImageError::Store(crate::store::StoreError::DigestMismatch { expected, .. })
                    if *expected == Digest::of(&good)
            ),
            "{err}"
        );
        assert!(!store.has_blob(&Digest::of(&good)));
        assert_eq!(temp_files(&store_dir), 0);
        assert_eq!(
            std::fs::read_dir(store_dir.join("bases")).map_or(0, |d| d.count()),
            0
        );

        let other = tempfile::tempdir().expect("tempdir");
        let nameless = gz_layer(&[("etc/", ""), ("etc/.wh.", "")]);
        layout_of(other.path(), &[nameless]);
        let store = Store::open(other.path().join("store")).expect("store");
        let base = base_from_layout(
            &store,
            "base",
            &other.path().join("layout"),
            Some("1"),
            ImportFacts::Read,
        )
        .expect("the blobs import");
        assert!(cached_facts(&store, &base.manifest_digest).is_none());
        let err = super::super::read_facts(&store, &base).expect_err("refused");
        assert!(err.to_string().contains("`/etc/.wh.`"), "{err}");
    }
}
