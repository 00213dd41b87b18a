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

/// The name of the note beside a segmented layer's record (`layers/<key>.segments.json`)
/// that lists what the layer was made from, so `cache gc` keeps it with the layer.
pub(crate) const SEGMENTS_NOTE: &str = "segments";

/// What a segmented layer was made from (see `layer::segments`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SegmentsNote {
    /// The run keys of its cached segments (`segments/<key>.json` and their blobs).
    pub runs: Vec<Digest>,
    /// The keys of notes its producer reads (`segments/<key>.NAME.json`).
    pub notes: Vec<Digest>,
}
