//! Layer records: what a derivation key produced, so a rebuild can skip the work.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// The result of building one layer: the compressed blob and its uncompressed digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Digest of the compressed blob (the manifest's layer descriptor).
    pub digest: Digest,
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// Compressed size in bytes.
    pub size: u64,
    pub media_type: String,
}
