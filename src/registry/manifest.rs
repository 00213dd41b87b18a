//! Manifests and indexes as the client reads them: `oci-spec`'s types, reached
//! through one edge ([`normalise`]) that accepts what registries really serve.

use serde_json::{Value, json};

use super::RegistryError;
use crate::digest::Digest;
pub use crate::oci::media_types::{
    DOCKER_LIST as DOCKER_MANIFEST_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, is_index,
    is_manifest,
};
pub use crate::oci::{Descriptor, Platform, PlatformExt};
use crate::oci::{DescriptorExt as _, ImageIndex, ImageManifest};

/// Every manifest media type the client accepts, for `Accept`.
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// The document `bytes` as `oci-spec` reads it. Registries serve documents its strict
/// types refuse or misread, all of which a pull accepts: Docker v2 schema-2
/// manifests and lists (Docker media types, which `oci-spec` keeps as they are), a
/// missing `schemaVersion` (2 is the only version either format has), a missing
/// `layers` or `manifests` list (empty), a platform's `os.version` and
/// `os.features` (which `oci-spec` 0.10 names `os_version` and `os_features`), and
/// extra fields (ignored). `list` names the document's list: `layers` for a
/// manifest, `manifests` for an index.
fn normalise(bytes: &[u8], list: &str) -> Result<Value, serde_json::Error> {
    let mut document: Value = serde_json::from_slice(bytes)?;
    if let Value::Object(fields) = &mut document {
        fields.entry("schemaVersion").or_insert(json!(2));
        fields.entry(list).or_insert(json!([]));
        if let Some(Value::Array(entries)) = fields.get_mut("manifests") {
            for platform in entries.iter_mut().filter_map(|e| e.get_mut("platform")) {
                if let Value::Object(platform) = platform {
                    for (spec, read) in
                        [("os.version", "os_version"), ("os.features", "os_features")]
                    {
                        if let Some(value) = platform.remove(spec) {
                            platform.insert(read.to_string(), value);
                        }
                    }
                }
            }
        }
    }
    Ok(document)
}

/// A manifest (OCI or Docker v2 schema 2) as a registry sent it.
pub fn parse_manifest(bytes: &[u8]) -> Result<ImageManifest, serde_json::Error> {
    serde_json::from_value(normalise(bytes, "layers")?)
}

/// An index (OCI or Docker manifest list) as a registry sent it.
pub fn parse_index(bytes: &[u8]) -> Result<ImageIndex, serde_json::Error> {
    serde_json::from_value(normalise(bytes, "manifests")?)
}

/// The `mediaType` a document declares, if any.
pub(crate) fn declared_media_type(bytes: &[u8]) -> Option<String> {
    let document: Value = serde_json::from_slice(bytes).ok()?;
    document.get("mediaType")?.as_str().map(str::to_string)
}

/// A descriptor's digest as airlock's. Any algorithm but sha256 makes the document
/// naming it (`reference`) invalid: airlock verifies every blob by its sha256.
pub(crate) fn sha256(
    descriptor: &Descriptor,
    reference: &dyn std::fmt::Display,
) -> Result<Digest, RegistryError> {
    descriptor
        .sha256()
        .map_err(|error| RegistryError::InvalidManifest {
            reference: reference.to_string(),
            source: serde::de::Error::custom(error),
        })
}

/// A manifest or index exactly as the registry sent it, with its verified digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// An image resolved for one platform: the index it came through (if any), its
/// manifest, and the blobs that manifest names.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    pub index: Option<FetchedManifest>,
    pub manifest: FetchedManifest,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}
