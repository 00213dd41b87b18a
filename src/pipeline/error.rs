//! Errors of a build, wrapping each layer below.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Project(#[from] crate::project::ProjectError),
    #[error(transparent)]
    Debian(#[from] super::DebianError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    /// An image an earlier stage or a `COPY --from` reads could not be loaded.
    #[error("Dockerfile:{line}: {source}")]
    ImageAt {
        line: usize,
        #[source]
        source: Box<crate::image::ImageError>,
    },
    /// A Dockerfile step that could not be carried out, with its line.
    #[error("Dockerfile:{line}: {source}")]
    StepAt {
        line: usize,
        #[source]
        source: Box<BuildError>,
    },
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
    #[error(
        "{}:{line}: `{entry}` pins Airflow, which the base image's ONBUILD trigger refuses: Airflow comes with the base image; remove this line and change the Airflow version with the `FROM` tag in the Dockerfile",
        path.display()
    )]
    AirflowPinned {
        path: PathBuf,
        line: usize,
        entry: String,
    },
    #[error(
        "`{instruction}` at Dockerfile:{line} is not supported yet: airlock cannot carry out this step"
    )]
    StepNotYet { line: usize, instruction: String },
    #[error(
        "`{file}` lists {what} (line {line}: `{entry}`), which this version of airlock cannot install yet"
    )]
    UnsupportedInput {
        file: &'static str,
        what: &'static str,
        line: usize,
        entry: String,
    },
    #[error(transparent)]
    Copy(#[from] super::CopyError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error(transparent)]
    Reference(#[from] crate::registry::ReferenceError),
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    #[error("`{target}` names a digest, but the image to push is `{image}`")]
    PushDigest {
        target: String,
        image: crate::digest::Digest,
    },
    #[error(transparent)]
    Python(Box<super::python_stage::PythonError>),
    #[error(transparent)]
    RunStep(Box<super::layers::RunStepError>),
    #[error("Invalid output `{0}`: expected `oci:DIR[:TAG]` or `docker-archive:FILE[:REF]`")]
    BadOutput(String),
    #[error(
        "The Dockerfile's steps pinned other results in `airlock.lock` when the image was planned again from the lock they wrote"
    )]
    StepPinsUnsettled,
    #[error("Cannot write `{}`", path.display())]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<super::python_stage::PythonError> for BuildError {
    fn from(error: super::python_stage::PythonError) -> Self {
        Self::Python(Box::new(error))
    }
}

impl crate::hint::Hint for BuildError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Project(error) => error.hints(),
            Self::Debian(error) => error.hints(),
            Self::Image(error) => error.hints(),
            Self::ImageAt { source, .. } => source.hints(),
            Self::StepAt { source, .. } => source.hints(),
            Self::Layer(error) => error.hints(),
            Self::Tree(error) => error.hints(),
            Self::Oci(error) => error.hints(),
            Self::Store(error) => error.hints(),
            Self::Lock(error) => error.hints(),
            Self::Dockerfile { source, .. } => source.hints(),
            Self::AirflowPinned { .. } => vec![
                "each base image tag carries one Airflow version: pick the tag with the version you want (`FROM <runtime>:<tag>`); other providers and packages stay in requirements.txt".into(),
            ],
            Self::Copy(error) => error.hints(),
            Self::Registry(error) => error.hints(),
            Self::Reference(crate::registry::ReferenceError::NoRegistry(_)) => vec![crate::image::NO_REGISTRY_HINT.into()],
            Self::Reference(error) => error.hints(),
            Self::Http(error) => error.hints(),
            Self::Python(error) => error.hints(),
            Self::RunStep(error) => error.hints(),
            Self::StepPinsUnsettled => vec![
                "a `RUN` whose result depends on `airlock.lock` cannot be pinned in it; run `airlock lock` and build again, and report the Dockerfile if this repeats".into(),
            ],
            Self::UnsupportedInput { .. }
            | Self::StepNotYet { .. }
            | Self::PushDigest { .. }
            | Self::BadOutput(..)
            | Self::StateDir { .. } => Vec::new(),
        }
    }
}
