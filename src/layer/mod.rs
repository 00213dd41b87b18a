//! Layers as derivations: a file tree in, a deterministic compressed tar blob out.
//!
//! The derivation key of a tree is a hash of everything that decides the layer's
//! bytes, so the store can answer for a tree it has built before. This module never
//! reads the clock, the host user, the umask or directory order: every input arrives
//! in the tree.

mod build;
mod compress;
mod tree;
mod whiteout;

pub use build::build_layer;
pub(crate) use build::{LayerError, write_layer};
pub use compress::gzip_member;
pub(crate) use compress::{LAYER_MEDIA_TYPE, ParallelGzip};
pub use tree::{Entry, EntryKind, FileSource, FileTree, Owner};
pub(crate) use tree::{TreeError, normalize_mode};
pub use whiteout::layer_path;
pub(crate) use whiteout::{
    LayerChange, NamelessWhiteout, OPAQUE_WHITEOUT, layer_change, whiteout_target,
};

/// Bumped whenever the bytes a layer builder writes change on purpose.
pub const FORMAT_VERSION: u32 = 1;
