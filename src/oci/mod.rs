//! OCI image layouts and docker-archives on disk: reading a base, writing an output.
//!
//! Owns the image spec's documents: `oci-spec`'s types (descriptors, manifests,
//! indexes), airlock's media type names, and their canonical serialization (fixed
//! field order, sorted annotations), so the bytes we hash are the bytes we write. It
//! knows nothing about projects or registries.

mod archive;
mod canonical;
#[cfg(test)]
mod golden;
mod layout;
mod read_archive;
mod types;

pub use archive::write_docker_archive;
pub use canonical::{index_json, manifest_json};
pub use layout::{LayoutImage, OciError, image_by_digest, read_layout, select_image, write_layout};
pub use read_archive::{ArchiveImage, read_docker_archive};
pub use types::{
    Descriptor, DescriptorExt, ImageIndex, ImageManifest, IndexExt, MediaType, Platform,
    PlatformExt, annotation, descriptor, image_manifest, media_types, spec_platform_keys,
};
