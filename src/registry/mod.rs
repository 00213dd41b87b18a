//! The OCI distribution API client: references, credentials, authentication, pull
//! and push. It never prints; transfer progress goes to a [`Progress`] hook.

mod artifact;
mod auth;
mod client;
mod credentials;
mod error;
mod manifest;
mod progress;
mod pull;
mod push;
mod reference;
mod referrers;
mod remote_options;

pub use artifact::{attach_documents, stored_blob};
pub use auth::{AuthError, Challenge, Scopes, parse_challenge};
pub use client::{RegistryClient, RegistryConfig};
pub use credentials::{
    Credential, CredentialEnv, CredentialSource, CredentialStore, CredentialsError, Secret,
    StaticCredentials,
};
pub use error::{ApiError, RegistryError};
pub use manifest::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Descriptor, FetchedManifest, OCI_INDEX, OCI_MANIFEST,
    Platform, PlatformExt, ResolvedImage, parse_index, parse_manifest,
};
pub use progress::{BlobOutcome, NoProgress, Progress};
pub use push::{BlobSource, ImagePush, PushReport};
pub use reference::{Reference, ReferenceError, Repository};
pub use referrers::{EMPTY_CONFIG, EMPTY_MEDIA_TYPE, artifact_manifest, referrers_tag};
pub use remote_options::{RegistryDefaults, RemoteOptions};
