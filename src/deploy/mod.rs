//! Deployments with the registry as the only server: deploys (image, DAG bundle or
//! both), prebuilt images, the deployment record, its history, and `dags sync`.
//!
//! Owns the deployment record format, DAG bundles and their confined extraction.
//! It must not print or prompt: the CLI asks the questions and renders outcomes.

mod bundle;
mod check;
mod clock;
mod error;
mod git;
mod image;
mod pytest;
mod record;
mod remote;
mod run;
mod sync;
mod target;
mod unpack;
mod update;

pub use bundle::{BUNDLE_ARTIFACT_TYPE, BUNDLE_MEDIA_TYPE, Bundle, build_bundle, bundle_tree};
pub(crate) use error::DeployError;
pub(crate) use git::GitInfo;
pub use record::{
    Action, BundleRef, RECORD_ARTIFACT_TYPE, RECORD_MEDIA_TYPE, RECORD_TAG, Record, StoredRecord,
};
pub use remote::DeploymentRemote;
pub use run::deploy;
pub(crate) use run::{DeployMode, DeployOptions};
pub(crate) use sync::{SyncOutcome, sync_once};
pub use target::Deployment;
pub(crate) use target::names as deployment_names;
pub use update::history;
pub(crate) use update::set_dag_deploy;
