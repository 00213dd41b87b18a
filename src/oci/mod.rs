//! OCI image layouts and docker-archives on disk: reading a base, writing an output.
//!
//! Owns the JSON types of the image spec (descriptors, manifests, indexes), serialized
//! canonically (struct field order, sorted maps), so the bytes we hash are the bytes
//! we write. It knows nothing about projects or registries.

mod archive;
#[cfg(test)]
mod golden;
mod layout;
mod types;

pub use archive::write_docker_archive;
pub use layout::{LayoutImage, OciError, image_by_digest, read_layout, select_image, write_layout};
pub use types::{Descriptor, ImageIndex, ImageManifest, Platform, media_types};
