//! The one pinned compressor. Every blob airlock compresses goes through here, so
//! the compressed bytes (and therefore digests) depend on nothing but the input.

use std::io::Write;

use flate2::{Compression, GzBuilder, write::GzEncoder};

/// Media type of the layers airlock writes.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Compression level 6 of flate2's pure-Rust backend (miniz_oxide); the gzip header
/// carries no name, no mtime and the "unknown" OS byte.
pub fn gzip_encoder<W: Write>(inner: W) -> GzEncoder<W> {
    GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(inner, Compression::new(6))
}
