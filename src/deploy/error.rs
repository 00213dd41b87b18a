//! The one error type of deploys, records, bundles and `dags sync`.

use std::path::PathBuf;

use crate::digest::Digest;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("No deployments are defined in `airlock.toml`")]
    NoDeployments,
    #[error("Unknown deployment `{name}`; `airlock.toml` defines: {known}")]
    UnknownDeployment { name: String, known: String },
    #[error(
        "Several deployments are defined ({names}) and none was named; run `airlock deploy NAME`"
    )]
    ChooseDeployment { names: String },
    #[error("Deployment `{name}`: `{text}` is not a repository (`registry/repository`, no tag)")]
    BadRepository {
        name: String,
        text: String,
        #[source]
        source: Option<crate::registry::ReferenceError>,
    },
    #[error(
        "Deployments `{first}` and `{second}` use the same image repository `{repository}`; each deployment needs its own"
    )]
    SharedRepository {
        first: String,
        second: String,
        repository: String,
    },
    #[error(
        "DAG-only deploys are disabled for deployment `{name}`; run `airlock deployment update {name} --dag-deploy enable` first"
    )]
    DagDeployDisabled { name: String },
    #[error("The image `{image}` is for `{platform}`; deployments run linux/amd64 images only")]
    NotAmd64 { image: String, platform: String },
    #[error(
        "The image has Runtime `{new}` (label `{label}`) but deployment `{name}` runs `{current}`: downgrading is refused"
    )]
    Downgrade {
        name: String,
        label: String,
        current: String,
        new: String,
    },
    #[error(
        "The image {image} is not an Astro Runtime image: it has no `{label}` label, and deployment `{name}` runs Runtime images only"
    )]
    NotRuntime {
        name: String,
        image: String,
        label: String,
    },
    #[error("The project directory has uncommitted changes: {files}")]
    Uncommitted { name: String, files: String },
    #[error(
        "`airlock.lock` is out of date ({reason}); a deploy uses the committed lock as it is and never rewrites it"
    )]
    StaleLock { reason: String },
    #[error("No test file or directory `{}` in the project", path.display())]
    TestPath { path: PathBuf },
    #[error(
        "Credentials are written into a URL at {places}; the file is copied into the image as written, so the deploy is refused (nothing was deployed)"
    )]
    LiteralCredentials { places: String },
    #[error("The DAG check found {count} error(s); nothing was deployed\n{report}")]
    DagCheckFailed { count: usize, report: String },
    #[error("Cannot run the project's tests in the image")]
    Pytest(#[source] Box<crate::dags::Tier2Error>),
    /// The image the tests run in could not be built.
    #[error("Cannot run the project's tests in the image")]
    PytestBuild(#[source] Box<crate::pipeline::BuildError>),
    #[error("The project's tests failed; nothing was deployed")]
    PytestFailed,
    #[error(
        "Another deploy to `{name}` finished first: the record is now `{found}` but this deploy started from `{expected}`; this deploy's record was not written"
    )]
    RaceLost {
        name: String,
        expected: String,
        found: String,
    },
    #[error("Deployment `{name}` has no record yet: nothing was deployed to it")]
    NoRecord { name: String },
    #[error("The deployment record `{reference}` is not valid: {detail}")]
    BadRecord { reference: String, detail: String },
    #[error("The deploy's `--description` is not valid: {detail}")]
    BadDescription { detail: String },
    #[error(
        "Deployment `{name}` has no DAG bundle: DAG-only deploys are off or no `deploy --dags` ran"
    )]
    NoBundle { name: String },
    #[error("The DAG bundle `{digest}` is not valid: {detail}")]
    BadBundle { digest: Digest, detail: String },
    #[error("Refused bundle entry `{path}`: {reason}")]
    UnsafeEntry { path: String, reason: &'static str },
    #[error(
        "Refused symlink `{path}` (to `{target}`): a symlink in a DAG bundle must point inside the DAG folder, and {reason}"
    )]
    UnsafeLink {
        path: String,
        target: String,
        reason: &'static str,
    },
    #[error("`{}` exists and is not a symlink; `dags sync` manages it as a symlink", path.display())]
    DestNotSymlink { path: PathBuf },
    #[error("Cancelled; nothing was changed")]
    Cancelled,
    #[error("Cannot {action} `{}`", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Build(#[from] crate::pipeline::BuildError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error(transparent)]
    Project(#[from] crate::project::ProjectError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
    #[error(transparent)]
    Tree(#[from] crate::layer::TreeError),
    #[error(transparent)]
    Dags(#[from] crate::dags::DagsError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Sbom(#[from] crate::sbom::SbomError),
}

/// A descriptor whose digest airlock cannot use (not sha256) is an image error.
impl From<crate::oci::OciError> for DeployError {
    fn from(error: crate::oci::OciError) -> Self {
        Self::Image(error.into())
    }
}

impl DeployError {
    /// A build's error, with a stale `airlock.lock` told as `StaleLock`: a deploy never
    /// rewrites the lock, so the fix is `airlock lock` and a commit.
    pub fn from_build(error: crate::pipeline::BuildError) -> Self {
        use crate::lock::LockError;
        use crate::pipeline::{BuildError, PythonError};
        let stale = match &error {
            BuildError::Lock(LockError::Stale { reason, .. }) => Some(reason.clone()),
            BuildError::Python(python) => match python.as_ref() {
                PythonError::Lock(LockError::Stale { reason, .. }) => Some(reason.clone()),
                _ => None,
            },
            _ => None,
        };
        match stale {
            Some(reason) => Self::StaleLock { reason },
            None => Self::Build(error),
        }
    }
}

impl crate::hint::Hint for DeployError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::NoDeployments | Self::UnknownDeployment { .. } => vec![
                "name the deployment in `airlock.toml`:\n  [deployments.dev]\n  image = \"registry/team/airflow\"".into(),
            ],
            Self::BadRepository { source, .. } => {
                source.as_ref().map_or_else(Vec::new, |source| source.hints())
            }
            Self::Downgrade { .. } => vec![
                "if the rollback to the older Runtime is intended, deploy with `--allow-runtime-downgrade`".into(),
            ],
            Self::NotRuntime { name, .. } => vec![format!(
                "build on an Astro Runtime base image; if deployment `{name}` runs non-Runtime images on purpose, say so in `airlock.toml`:\n  [deployments.{name}]\n  allow-non-runtime-images = true"
            )],
            Self::Uncommitted { name, .. } => vec![format!(
                "commit (or stash) them, or deploy them anyway with `airlock deploy {name} --force` (the record then says `dirty`)"
            )],
            Self::StaleLock { .. } => vec![
                "run `airlock lock`, commit `airlock.lock` (`git add airlock.lock && git commit`), then deploy again".into(),
            ],
            Self::TestPath { .. } => vec![
                "give `-t/--test` a test file or directory relative to the project, e.g. `tests/dags`".into(),
            ],
            Self::LiteralCredentials { .. } => vec![format!(
                "{}; then rotate the credentials if the files were shared",
                crate::pipeline::LITERAL_CREDENTIALS_HINT
            )],
            Self::DagCheckFailed { .. } => vec![
                "fix the errors, list the file in `.airlock-dag-exceptions.txt`, or deploy anyway with `--force`".into(),
            ],
            Self::Pytest(error) => error.hints(),
            Self::PytestBuild(error) => error.hints(),
            Self::RaceLost { name, .. } => vec![format!(
                "check what is deployed with `airlock deployment inspect {name}`, then deploy again"
            )],
            Self::NoRecord { name } => vec![format!("deploy first: `airlock deploy {name}`")],
            Self::BadDescription { .. } => vec![
                "write the description on one line, without control characters (tabs, escapes), at most 4096 bytes".into(),
            ],
            Self::NoBundle { name } => vec![format!("run `airlock deploy {name} --dags`")],
            Self::DestNotSymlink { .. } => vec![
                "move that directory away (or pass an unused `--dest`); airlock creates the symlink".into(),
            ],
            Self::Build(error) => error.hints(),
            Self::Registry(error) => error.hints(),
            Self::Project(error) => error.hints(),
            Self::Store(error) => error.hints(),
            Self::Layer(error) => error.hints(),
            Self::Tree(error) => error.hints(),
            Self::Dags(error) => error.hints(),
            Self::Image(error) => error.hints(),
            Self::Sbom(error) => error.hints(),
            Self::ChooseDeployment { .. }
            | Self::SharedRepository { .. }
            | Self::DagDeployDisabled { .. }
            | Self::NotAmd64 { .. }
            | Self::PytestFailed
            | Self::BadRecord { .. }
            | Self::BadBundle { .. }
            | Self::UnsafeEntry { .. }
            | Self::UnsafeLink { .. }
            | Self::Cancelled
            | Self::Io { .. } => Vec::new(),
        }
    }
}
