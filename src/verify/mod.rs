//! `airlock verify`: an image against a rebuild of its project from the committed
//! lock. The rebuild itself is an ordinary locked build into a fresh store; this
//! module compares the two images and, when they differ, says which layers differ
//! and the first files within them that do.
//!
//! - [`diff`]: layer-by-layer and file-by-file comparison
//! - [`checkout`]: the project's committed tree, written out for the rebuild

pub(crate) mod checkout;
pub(crate) mod diff;

pub(crate) use checkout::{CheckoutError, checkout, in_git};
pub(crate) use diff::{FileFacts, compare};
