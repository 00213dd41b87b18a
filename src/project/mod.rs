//! The project model: an Astro-style directory read into typed parts.
//!
//! Parsers for each file live in their own leaf modules (pure, no I/O); this module
//! reads the files and the tree. It does no I/O outside the project directory.

pub mod airflowignore;
pub mod dockerfile;
pub mod dockerignore;
pub mod init;
mod load;
pub mod settings;
mod walk;

pub(crate) use load::{Project, ProjectError};
pub use settings::Settings;
pub use walk::{DAGS_DIR, walk, walk_dags};
pub(crate) use walk::{STATE_DIR, WalkedEntry, WalkedKind};
