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
    #[error("The DAG check found {count} error(s); nothing was deployed\n{report}")]
    DagCheckFailed { count: usize, report: String },
    #[error("Cannot run the project's tests in the image")]
    Pytest(#[source] Box<crate::dags::Tier2Error>),
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
    #[error(
        "Deployment `{name}` has no DAG bundle: DAG-only deploys are off or no `deploy --dags` ran"
    )]
    NoBundle { name: String },
    #[error("The DAG bundle `{digest}` is not valid: {detail}")]
    BadBundle { digest: Digest, detail: String },
    #[error("Refused bundle entry `{path}`: {reason}")]
    UnsafeEntry { path: String, reason: &'static str },
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
    Build(#[from] crate::build::BuildError),
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
}

impl DeployError {
    /// What the user can do about it, when airlock knows.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NoDeployments | Self::UnknownDeployment { .. } => Some(
                "name the deployment in `airlock.toml`:\n  [deployments.dev]\n  image = \"registry/team/airflow\""
                    .into(),
            ),
            Self::Downgrade { .. } => {
                Some("deploy it anyway with `--force` if the downgrade is intended".into())
            }
            Self::DagCheckFailed { .. } => Some(
                "fix the errors, list the file in `.airlock-dag-exceptions.txt`, or deploy anyway with `--force`"
                    .into(),
            ),
            Self::Pytest(err) => match err.as_ref() {
                crate::dags::Tier2Error::Sandbox(e) => e.hint(),
                crate::dags::Tier2Error::Build(e) => e.hint(),
                crate::dags::Tier2Error::EnvFile(e) => e.hint(),
                _ => None,
            },
            Self::RaceLost { name, .. } => Some(format!(
                "check what is deployed with `airlock deployment inspect {name}`, then deploy again"
            )),
            Self::NoRecord { name } => Some(format!("deploy first: `airlock deploy {name}`")),
            Self::NoBundle { name } => Some(format!("run `airlock deploy {name} --dags`")),
            Self::DestNotSymlink { .. } => Some(
                "move that directory away (or pass an unused `--dest`); airlock creates the symlink"
                    .into(),
            ),
            Self::Build(error) => error.hint(),
            Self::Dags(error) => error.hint(),
            Self::Registry(error) => error.hint(),
            _ => None,
        }
    }
}
