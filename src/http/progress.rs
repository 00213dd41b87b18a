//! Byte progress of transfers (registry blobs, wheels, `.deb`s), each named by the
//! digest of its content, for the CLI to draw. Library code never prints.

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
    /// What the transfer of `digest` is, for people (a file name, `cached python
    /// layer`); without it the digest names it. Sent before or after `blob_started`.
    fn blob_named(&self, _digest: &Digest, _name: &str) {}
    fn blob_started(&self, _digest: &Digest, _size: Option<u64>) {}
    /// Bytes of the blob transferred so far. May go back when a transfer restarts.
    fn blob_position(&self, _digest: &Digest, _position: u64) {}
    fn blob_finished(&self, _digest: &Digest, _outcome: BlobOutcome) {}
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
