//! The bytes airlock writes for a manifest or an index, and so the digests it prints.
//!
//! `oci-spec`'s own serializer is not used for them: its annotation maps are
//! `HashMap`s (their order changes from one process to the next) and its descriptor
//! puts `annotations` before `platform`. These views write every document the way
//! airlock always has: fields in the order below, absent ones left out, annotation
//! keys sorted, no insignificant whitespace. The golden tests pin the result.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::types::{Descriptor, ImageIndex, ImageManifest, Platform};

/// The canonical JSON of an image manifest.
pub fn manifest_json(manifest: &ImageManifest) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&ManifestView {
        schema_version: manifest.schema_version(),
        media_type: manifest.media_type().as_ref().map(AsRef::as_ref),
        artifact_type: manifest.artifact_type().as_ref().map(AsRef::as_ref),
        config: DescriptorView::of(manifest.config()),
        layers: manifest.layers().iter().map(DescriptorView::of).collect(),
        subject: manifest.subject().as_ref().map(DescriptorView::of),
        annotations: sorted(manifest.annotations()),
    })
}

/// The canonical JSON of an image index.
pub fn index_json(index: &ImageIndex) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&IndexView {
        schema_version: index.schema_version(),
        media_type: index.media_type().as_ref().map(AsRef::as_ref),
        artifact_type: index.artifact_type().as_ref().map(AsRef::as_ref),
        manifests: index.manifests().iter().map(DescriptorView::of).collect(),
        subject: index.subject().as_ref().map(DescriptorView::of),
        annotations: sorted(index.annotations()),
    })
}

fn sorted(annotations: &Option<HashMap<String, String>>) -> BTreeMap<&str, &str> {
    annotations
        .iter()
        .flatten()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestView<'a> {
    schema_version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<&'a str>,
    config: DescriptorView<'a>,
    layers: Vec<DescriptorView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<DescriptorView<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<&'a str, &'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexView<'a> {
    schema_version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<&'a str>,
    manifests: Vec<DescriptorView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<DescriptorView<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<&'a str, &'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DescriptorView<'a> {
    media_type: &'a str,
    digest: &'a str,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<PlatformView<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    urls: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a str>,
}

impl<'a> DescriptorView<'a> {
    fn of(descriptor: &'a Descriptor) -> Self {
        Self {
            media_type: descriptor.media_type().as_ref(),
            digest: descriptor.digest().as_ref(),
            size: descriptor.size(),
            platform: descriptor.platform().as_ref().map(PlatformView::of),
            annotations: sorted(descriptor.annotations()),
            artifact_type: descriptor.artifact_type().as_ref().map(AsRef::as_ref),
            urls: descriptor.urls().as_deref(),
            data: descriptor.data().as_deref(),
        }
    }
}

#[derive(Serialize)]
struct PlatformView<'a> {
    architecture: String,
    os: String,
    #[serde(rename = "os.version", skip_serializing_if = "Option::is_none")]
    os_version: Option<&'a str>,
    #[serde(rename = "os.features", skip_serializing_if = "Option::is_none")]
    os_features: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    features: Option<&'a [String]>,
}

impl<'a> PlatformView<'a> {
    fn of(platform: &'a Platform) -> Self {
        Self {
            architecture: platform.architecture().to_string(),
            os: platform.os().to_string(),
            os_version: platform.os_version().as_deref(),
            os_features: platform.os_features().as_deref(),
            variant: platform.variant().as_deref(),
            features: platform.features().as_deref(),
        }
    }
}
