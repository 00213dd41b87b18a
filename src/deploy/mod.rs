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
pub use check::CheckSummary;
pub use clock::Timestamp;
pub use error::DeployError;
pub use git::GitInfo;
pub use image::compare_versions;
pub use pytest::run_pytest;
pub use record::{
    Action, BundleRef, ImageRef, RECORD_ARTIFACT_TYPE, RECORD_MEDIA_TYPE, RECORD_TAG, Record,
    StoredRecord,
};
pub use remote::DeploymentRemote;
pub use run::{DeployMode, DeployOptions, DeployOutcome, deploy};
pub use sync::{SyncOutcome, sync_once};
pub use target::{DEFAULT_RUNTIME_LABEL, Deployment, names as deployment_names};
pub use unpack::unpack_bundle;
pub use update::{history, set_dag_deploy};
