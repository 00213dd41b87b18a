//! airlock: daemonless, reproducible OCI images and deploys for Apache Airflow projects.
//!
//! The pipeline runs one way: project → plan → layers → image → output. See
//! `docs/architecture.md` for the module map and the invariants the tests guard.

// A narrow surface: an item is `pub` only when the binary, the integration tests or
// the benches reach it; everything else says `pub(crate)` or narrower.
#![deny(unreachable_pub)]

pub(crate) mod atomic_file;
pub mod cli;
pub(crate) mod confine;
pub(crate) mod dags;
pub(crate) mod debian;
pub mod deploy;
pub mod digest;
pub(crate) mod env_vars;
pub mod hint;
pub mod http;
pub mod image;
pub mod layer;
pub mod lock;
pub mod oci;
pub(crate) mod pipeline;
pub(crate) mod printable;
pub mod project;
pub mod python;
pub mod registry;
pub mod sandbox;
pub(crate) mod sbom;
pub mod store;
pub(crate) mod verify;
