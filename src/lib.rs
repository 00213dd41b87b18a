//! airlock: daemonless, reproducible OCI images and deploys for Apache Airflow projects.
//!
//! The pipeline runs one way: project → plan → layers → image → output. See
//! `docs/architecture.md` for the module map and the invariants the tests guard.

pub mod atomic_file;
pub mod cli;
pub mod confine;
pub mod dags;
pub mod debian;
pub mod deploy;
pub mod digest;
pub mod env_vars;
pub mod hint;
pub mod http;
pub mod image;
pub mod layer;
pub mod lock;
pub mod oci;
pub mod pipeline;
pub mod printable;
pub mod project;
pub mod python;
pub mod registry;
pub mod sandbox;
pub mod sbom;
pub mod store;
pub mod verify;
