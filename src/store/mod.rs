//! The content-addressed store: blobs by digest, built layers by derivation key.
//!
//! Everything lands under a real name only through a temp file and a rename, and
//! concurrent builds coordinate with file locks. The store knows nothing about images
//! or projects.

mod blobs;
mod export;
mod gc;
mod location;
mod locks;
mod records;
mod tee;

pub use blobs::Store;
pub(crate) use blobs::StoreError;
pub(crate) use export::{ExportError, ExportFormat, export, import};
pub(crate) use gc::{GcOptions, NeededKind, Needs};
pub(crate) use location::default_cache_dir;
pub(crate) use locks::StoreLock;
pub use records::LayerRecord;
pub(crate) use records::{SEGMENTS_NOTE, SegmentsNote};
