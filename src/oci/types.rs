//! The image spec's JSON documents are `oci-spec`'s types (re-exported here). This
//! file adds what airlock needs around them: its media type names, constructors that
//! take airlock's [`Digest`], and the way back from a descriptor to that digest.

use std::collections::HashMap;

use serde_json::Value;

use oci_spec::image::{Arch, ImageManifestBuilder, Os};
pub use oci_spec::image::{Descriptor, ImageIndex, Platform};
pub(crate) use oci_spec::image::{ImageManifest, MediaType};

use super::OciError;
use crate::digest::Digest;

pub mod media_types {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    /// The annotation naming a manifest inside an OCI layout's `index.json`.
    pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

    /// The OCI "empty" descriptor's media type: the config of an artifact that has none.
    pub(crate) const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

    pub fn is_index(media_type: &str) -> bool {
        media_type == OCI_INDEX || media_type == DOCKER_LIST
    }

    pub fn is_manifest(media_type: &str) -> bool {
        media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
    }
}

/// airlock's digest as `oci-spec`'s: `sha256:` and 64 lowercase hex digits, which
/// `oci-spec` always accepts.
fn oci_digest(digest: &Digest) -> oci_spec::image::Digest {
    digest
        .to_string()
        .parse()
        .unwrap_or_else(|_| unreachable!("a sha256 digest is a valid OCI digest"))
}

/// The descriptor of `size` bytes of `media_type` content named `digest`.
pub fn descriptor(media_type: &str, digest: Digest, size: u64) -> Descriptor {
    Descriptor::new(MediaType::from(media_type), size, oci_digest(&digest))
}

/// The content of the OCI "empty" descriptor (`{}`), the config of an artifact.
pub(crate) const EMPTY_CONFIG: &[u8] = b"{}";

/// The OCI "empty" descriptor: an artifact's config.
pub(crate) fn empty_descriptor() -> Descriptor {
    descriptor(
        media_types::OCI_EMPTY,
        Digest::of(EMPTY_CONFIG),
        EMPTY_CONFIG.len() as u64,
    )
}

/// An OCI 1.1 artifact manifest of `artifact_type`: an image manifest of `config` and
/// `layers` that says what it carries.
pub(crate) fn artifact_manifest(
    artifact_type: &str,
    config: Descriptor,
    layers: Vec<Descriptor>,
) -> ImageManifest {
    let mut manifest = image_manifest(config, layers);
    manifest.set_artifact_type(Some(MediaType::from(artifact_type)));
    manifest
}

/// An OCI image manifest (schema 2) of `config` and `layers`; set the optional
/// fields (artifact type, subject, annotations) on the result.
pub fn image_manifest(config: Descriptor, layers: Vec<Descriptor>) -> ImageManifest {
    ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layers)
        .build()
        .unwrap_or_else(|_| unreachable!("every required field of the manifest is set"))
}

/// What airlock reads off a descriptor beyond `oci-spec`'s getters.
pub trait DescriptorExt {
    /// The digest as airlock's [`Digest`]; an error for any algorithm but sha256.
    fn sha256(&self) -> Result<Digest, OciError>;
    /// The `org.opencontainers.image.ref.name` annotation (a layout's tag).
    fn ref_name(&self) -> Option<&str>;
    /// Sets annotation `key` to `value`, keeping the others.
    fn annotate(&mut self, key: &str, value: &str);
}

impl DescriptorExt for Descriptor {
    fn sha256(&self) -> Result<Digest, OciError> {
        Ok(self.digest().as_ref().parse::<Digest>()?)
    }

    fn ref_name(&self) -> Option<&str> {
        self.annotations()
            .as_ref()?
            .get(media_types::REF_NAME)
            .map(String::as_str)
    }

    fn annotate(&mut self, key: &str, value: &str) {
        let mut annotations = self.annotations().clone().unwrap_or_default();
        annotations.insert(key.to_string(), value.to_string());
        self.set_annotations(Some(annotations));
    }
}

/// The platform questions airlock asks.
pub trait PlatformExt {
    fn linux_amd64() -> Self;
    fn is_linux_amd64(&self) -> bool;
    /// Whether an index entry for `other` fits this platform (a missing variant on
    /// either side matches any).
    fn matches(&self, other: &Self) -> bool;
    /// `os/architecture[/variant]`, as messages name a platform.
    fn name(&self) -> String;
}

impl PlatformExt for Platform {
    fn linux_amd64() -> Self {
        let mut platform = Platform::default();
        platform.set_architecture(Arch::Amd64);
        platform.set_os(Os::Linux);
        platform
    }

    fn is_linux_amd64(&self) -> bool {
        *self.os() == Os::Linux && *self.architecture() == Arch::Amd64
    }

    fn matches(&self, other: &Platform) -> bool {
        self.os() == other.os()
            && self.architecture() == other.architecture()
            && match (self.variant(), other.variant()) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }

    fn name(&self) -> String {
        let mut name = format!("{}/{}", self.os(), self.architecture());
        if let Some(variant) = self.variant() {
            name.push('/');
            name.push_str(variant);
        }
        name
    }
}

/// The empty index a new layout (or referrers tag) starts from.
pub trait IndexExt {
    fn empty() -> Self;
}

impl IndexExt for ImageIndex {
    fn empty() -> Self {
        let mut index = ImageIndex::default();
        index.set_schema_version(2);
        index.set_media_type(Some(MediaType::ImageIndex));
        index
    }
}

/// `oci-spec` 0.10 reads (and writes) a platform's `os.version` and `os.features` as
/// `os_version` and `os_features`, so it would drop the spec's keys unread. Renames
/// them, in every `platform` object of `document`, before `oci-spec` reads it;
/// [`super::index_json`] writes the spec's names again.
pub(crate) fn spec_platform_keys(document: &mut Value) {
    match document {
        Value::Object(fields) => {
            if let Some(Value::Object(platform)) = fields.get_mut("platform") {
                for (spec, read) in [("os.version", "os_version"), ("os.features", "os_features")] {
                    if let Some(value) = platform.remove(spec) {
                        platform.insert(read.to_string(), value);
                    }
                }
            }
            fields.values_mut().for_each(spec_platform_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(spec_platform_keys),
        _ => {}
    }
}

/// The value of annotation `key` in a document's annotations.
pub(crate) fn annotation<'a>(
    annotations: &'a Option<HashMap<String, String>>,
    key: &str,
) -> Option<&'a str> {
    annotations.as_ref()?.get(key).map(String::as_str)
}
