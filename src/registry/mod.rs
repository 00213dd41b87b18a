//! The OCI distribution API client: references, credentials, authentication, pull
//! and push. It never prints; transfer progress goes to a [`Progress`] hook.

mod artifact;
mod auth;
mod client;
mod credentials;
mod error;
mod layer_cache;
mod manifest;
mod pull;
mod push;
mod reference;
mod referrers;
mod remote_options;

pub(crate) use crate::http::NoProgress;
pub use crate::http::{BlobOutcome, Progress};
pub(crate) use artifact::{attach_documents, stored_blob};
pub use auth::AuthError;
pub use client::{RegistryClient, RegistryConfig};
pub use credentials::{Credential, Secret, StaticCredentials};
pub(crate) use credentials::{CredentialEnv, CredentialStore, CredentialsError};
pub use error::RegistryError;
pub(crate) use layer_cache::CacheEntry;
pub(crate) use manifest::parse_manifest;
pub use manifest::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, Platform, PlatformExt};
pub use push::{BlobSource, ImagePush};
pub(crate) use reference::ReferenceError;
pub use reference::{Reference, Repository};
pub(crate) use remote_options::RegistryDefaults;
pub use remote_options::RemoteOptions;
