//! What can go wrong making an SBOM or a provenance statement.

use std::path::PathBuf;

use crate::digest::Digest;

#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    #[error("Cannot read layer `{digest}` of the image")]
    Layer {
        digest: Digest,
        #[source]
        source: std::io::Error,
    },
    #[error("The image's {what} is not valid JSON")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("Cannot read `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Cannot write `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Oci(#[from] crate::oci::OciError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl crate::hint::Hint for SbomError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Oci(error) => error.hints(),
            Self::Store(error) => error.hints(),
            Self::Layer { .. } | Self::Json { .. } | Self::Read { .. } | Self::Write { .. } => {
                Vec::new()
            }
        }
    }
}
