//! Layers as derivations: a file tree in, a deterministic compressed tar blob out.
//!
//! The derivation key of a tree is a hash of everything that decides the layer's
//! bytes, so the store can answer for a tree it has built before. This module never
//! reads the clock, the host user, the umask or directory order: every input arrives
//! in the tree.

mod build;
mod compress;
pub(crate) mod segments;
mod tree;
mod whiteout;

pub(crate) use build::{LayerError, write_layer_with};
pub use build::{build_layer, build_layer_with};
pub(crate) use compress::LayerCompressor;
#[cfg(test)]
pub(crate) use compress::ParallelGzip;
pub use compress::{Compression, gzip_member};
// The gzip writer under its old name, for layer steps that take no compression.
#[allow(unused_imports)]
pub(crate) use build::write_layer;
pub use tree::{Entry, EntryKind, FileSource, FileTree, LazyFile, Owner};
pub(crate) use tree::{TreeError, check_path, normalize_mode, read_whole};
pub use whiteout::layer_path;
pub(crate) use whiteout::{
    LayerChange, NamelessWhiteout, OPAQUE_WHITEOUT, layer_change, whiteout_target,
};

/// Bumped whenever the bytes a layer builder writes change on purpose (2: deflate by
/// libdeflate instead of miniz_oxide; 3: the Python layer written in segments; 4: the
/// Python layer's directories in one segment per wheel, before it).
pub const FORMAT_VERSION: u32 = 4;
