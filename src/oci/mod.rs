//! OCI image layouts and docker-archives on disk: reading a base, writing an output.
//!
//! Owns the image spec's documents: `oci-spec`'s types (descriptors, manifests,
//! indexes), airlock's media type names, and their canonical serialization (fixed
//! field order, sorted annotations), so the bytes we hash are the bytes we write. It
//! knows nothing about projects or registries.

mod archive;
mod canonical;
mod compression;
#[cfg(test)]
mod golden;
mod layout;
mod read_archive;
mod types;

pub(crate) use archive::write_docker_archive;
pub use canonical::{index_json, manifest_json};
pub use compression::Compression;
pub(crate) use compression::{GZIP_LAYER_MEDIA_TYPE, ZSTD_LAYER_MEDIA_TYPE};
pub(crate) use layout::{LayoutImage, OciError, image_by_digest};
pub use layout::{read_layout, select_image, write_layout};
pub(crate) use read_archive::read_docker_archive;
pub use types::{
    Descriptor, DescriptorExt, ImageIndex, IndexExt, Platform, PlatformExt, descriptor,
    image_manifest, media_types,
};
pub(crate) use types::{
    EMPTY_CONFIG, ImageManifest, MediaType, annotation, artifact_manifest, empty_descriptor,
    spec_platform_keys,
};
