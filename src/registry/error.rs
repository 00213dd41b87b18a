use std::fmt;
use std::io;
use std::path::PathBuf;

use super::auth::AuthError;
use super::credentials::CredentialsError;
use super::reference::ReferenceError;
use crate::digest::Digest;
use crate::http::HttpError;

/// Errors from registry operations. Messages name the blob or manifest, and carry the
/// registry's own error code and message when it sent one.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("Cannot {action}")]
    Http {
        action: String,
        #[source]
        source: HttpError,
    },
    #[error(
        "Cannot tell whether the loopback registry `{registry}` speaks plain HTTP or TLS: neither answered"
    )]
    SchemeUnknown {
        registry: String,
        /// The last failure in plain HTTP.
        #[source]
        source: Box<HttpError>,
    },
    #[error("Registry refused to {action}: HTTP {status}{}", ApiErrors(errors))]
    Api {
        action: String,
        status: u16,
        errors: Vec<ApiError>,
    },
    #[error("Registry sent unexpected data for {action}: {detail}")]
    Protocol { action: String, detail: String },
    #[error("Digest mismatch for {what}: expected `{expected}`, got `{actual}`")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("Manifest `{reference}` has unsupported media type `{media_type}`")]
    UnsupportedMediaType {
        reference: String,
        media_type: String,
    },
    #[error("Manifest `{reference}` is not valid")]
    InvalidManifest {
        reference: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("Manifest `{reference}` is larger than {limit} bytes")]
    ManifestTooLarge { reference: String, limit: usize },
    #[error("Image index `{reference}` has no manifest for platform `{platform}`")]
    NoPlatform { reference: String, platform: String },
    #[error("Cannot {action} `{}`", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("Offline: {what} is not in the store and `--offline` forbids fetching it")]
    Offline { what: String },
    /// The HTTP client could not be set up (e.g. a CA file that does not read).
    #[error(transparent)]
    Client(HttpError),
    #[error("Gave up on {action} after {attempts} attempts")]
    Exhausted {
        action: String,
        attempts: u32,
        #[source]
        last: Box<RegistryError>,
    },
}

impl RegistryError {
    /// Whether the same operation may succeed if tried again.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Self::Http { source, .. } => source.is_retryable(),
            Self::Api { status, .. } => reqwest::StatusCode::from_u16(*status)
                .is_ok_and(crate::http::RetryPolicy::is_retryable_status),
            Self::Protocol { .. } => true,
            _ => false,
        }
    }
}

/// One entry of the distribution API's `{"errors": [...]}` body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

struct ApiErrors<'a>(&'a [ApiError]);

impl fmt::Display for ApiErrors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for error in self.0 {
            write!(f, "; {}", error.code)?;
            if !error.message.is_empty() {
                write!(f, ": {}", error.message)?;
            }
        }
        Ok(())
    }
}

/// Reads the error entries of a distribution API error body; empty when there are none.
pub(crate) fn parse_api_errors(body: &[u8]) -> Vec<ApiError> {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<ApiError>,
    }
    serde_json::from_slice::<Body>(body)
        .map(|b| b.errors)
        .unwrap_or_default()
}

impl crate::hint::Hint for RegistryError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Reference(error) => error.hints(),
            Self::Credentials(error) => error.hints(),
            Self::Auth(error) => error.hints(),
            Self::Http { source, .. } => source.hints(),
            Self::SchemeUnknown { .. } => vec![
                "check that the registry is running; if it speaks plain HTTP, name it with `--insecure-registry` to skip the probe".to_string(),
            ],
            Self::Exhausted { last, .. } => last.hints(),
            Self::Store(error) => error.hints(),
            Self::Offline { .. } => vec![
                "run the same command once without `--offline` (or `--frozen`) to fill the store".into(),
            ],
            Self::Client(error) => error.hints(),
            Self::Api { .. }
            | Self::Protocol { .. }
            | Self::DigestMismatch { .. }
            | Self::UnsupportedMediaType { .. }
            | Self::InvalidManifest { .. }
            | Self::ManifestTooLarge { .. }
            | Self::NoPlatform { .. }
            | Self::Io { .. } => Vec::new(),
        }
    }
}
