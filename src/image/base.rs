//! A base image whose blobs are in the store, verified.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ImageError;
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

/// Loads a base from a local OCI layout into the store, verifying every blob.
pub fn load_base_from_layout(
    store: &Store,
    reference: &str,
    layout: &Path,
    tag: Option<&str>,
) -> Result<BaseImage, ImageError> {
    let image = select_image(layout, tag)?;
    import_layout_image(store, reference, &image)
}

/// The base pinned at `digest` (by the lock): from the store when it holds it, else
/// from the layout's blobs whatever its tags say now. `None` when neither has it.
pub(crate) fn load_pinned_base_from_layout(
    store: &Store,
    reference: &str,
    layout: &Path,
    digest: &Digest,
) -> Result<Option<BaseImage>, ImageError> {
    match base_from_store(store, reference, digest) {
        Ok(base) => return Ok(Some(base)),
        Err(ImageError::NotInStore { .. }) => {}
        Err(err) => return Err(err),
    }
    match image_by_digest(layout, digest)? {
        Some(image) => import_layout_image(store, reference, &image).map(Some),
        None => Ok(None),
    }
}

/// Copies a layout image's manifest, config and layers into the store (each blob
/// verified) and reads it back as a base.
fn import_layout_image(
    store: &Store,
    reference: &str,
    image: &LayoutImage,
) -> Result<BaseImage, ImageError> {
    store.put_bytes(&image.manifest_bytes)?;
    let config_digest = image.manifest.config().sha256()?;
    store.import_file(&image.blob_path(&config_digest), &config_digest)?;
    for descriptor in image.manifest.layers() {
        let digest = descriptor.sha256()?;
        store.import_file(&image.blob_path(&digest), &digest)?;
    }
    base_from_store(store, reference, &image.manifest_digest)
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
}
