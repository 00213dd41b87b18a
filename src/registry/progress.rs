//! Byte progress of blob transfers, for the CLI to draw. Library code never prints.

use crate::digest::Digest;

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    /// The registry already had it; nothing was sent.
    Existed,
    /// Mounted from another repository of the same registry; nothing was sent.
    Mounted,
    Uploaded,
    Downloaded,
    /// Already in the local destination; nothing was fetched.
    Cached,
}

/// Receives transfer progress. Called from several tasks at once; keep it cheap.
pub trait Progress: Send + Sync {
    fn blob_started(&self, _digest: &Digest, _size: Option<u64>) {}
    /// Bytes of the blob transferred so far. May go back when a transfer restarts.
    fn blob_position(&self, _digest: &Digest, _position: u64) {}
    fn blob_finished(&self, _digest: &Digest, _outcome: BlobOutcome) {}
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NoProgress;

impl Progress for NoProgress {}
