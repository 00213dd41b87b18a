//! `airlock verify`: an image against a rebuild of its project from the committed
//! lock. The rebuild itself is an ordinary locked build into a fresh store; this
//! module compares the two images and, when they differ, says which layers differ
//! and the first files within them that do.
//!
//! - [`diff`]: layer-by-layer and file-by-file comparison
//! - [`checkout`]: the project's committed tree, written out for the rebuild

pub mod checkout;
pub mod diff;

pub use checkout::{Checkout, CheckoutError, checkout, in_git};
pub use diff::{FileFacts, ImageDiff, LayerDiff, compare};
