//! The few manifest and index fields the client reads: media types, descriptors and
//! platforms. Image assembly owns the full models; this is only what pull needs.

use serde::Deserialize;

use crate::digest::Digest;

pub use crate::oci::media_types::{
    DOCKER_LIST as DOCKER_MANIFEST_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, is_index,
    is_manifest,
};
pub use crate::oci::{Descriptor, Platform};

/// Every manifest media type the client accepts, for `Accept`.
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

#[derive(Deserialize)]
pub(crate) struct ManifestFields {
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
pub(crate) struct IndexFields {
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
pub(crate) struct MediaTypeField {
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
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
