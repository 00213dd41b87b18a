//! Errors of a build, wrapping each layer below.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Project(#[from] crate::project::ProjectError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
    #[error(transparent)]
    Tree(#[from] crate::layer::TreeError),
    #[error(transparent)]
    Oci(#[from] crate::oci::OciError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    #[error("{path}: {source}")]
    Dockerfile {
        path: PathBuf,
        #[source]
        source: crate::project::dockerfile::DockerfileError,
    },
    #[error("The base image `{reference}` is not available locally")]
    BaseNotFound { reference: String },
    #[error("Invalid image name `{0}` after `FROM`")]
    BadImageName(String),
    #[error(
        "`{file}` lists {what} (line {line}: `{entry}`), which this version of airlock cannot install yet"
    )]
    UnsupportedInput {
        file: &'static str,
        what: &'static str,
        line: usize,
        entry: String,
    },
    #[error("Invalid output `{0}`: expected `oci:DIR[:TAG]` or `docker-archive:FILE[:REF]`")]
    BadOutput(String),
}

impl BuildError {
    /// What the user can do about it, when airlock knows.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::BaseNotFound { .. } => Some(
                "map the image to a local OCI layout with `--base-layout DIR`, or in `airlock.toml`:\n  [base.layouts]\n  \"<name without tag>\" = \"path/to/layout\""
                    .into(),
            ),
            Self::UnsupportedInput { file, .. } => Some(format!(
                "empty `{file}` for now (comments are fine); locking it arrives in a later release"
            )),
            _ => None,
        }
    }
}
