//! The planner: ties the project, the lock and the base into layers and an image,
//! then writes the requested output.

mod base_ref;
mod base_source;
mod debian;
mod error;
mod layers;
mod lock_run;
mod output;
mod push;
mod python_layer;
mod python_stage;
mod remote;
mod run;
mod session;

pub use base_ref::ImageName;
pub use base_source::{OCI_LAYOUT_PREFIX, load_base};
pub use debian::{DebianError, DebianLayer, SkippedScript, lock_packages};
pub use error::BuildError;
pub use lock_run::{LockSummary, check_lock, lock};
pub use output::{OutputSpec, ensure_state_dir};
pub use push::{
    BASE_DIGEST_ANNOTATION, BASE_NAME_ANNOTATION, LocalImage, PushSummary, attach_documents,
    push_image, read_image,
};
pub use python_stage::{LITERAL_CREDENTIALS_HINT, PythonError, PythonOptions, literal_credentials};
pub use remote::{BaseOrigin, RemoteOptions, pull_base, runtime};
pub use run::{BuildOptions, BuildResult, LayerSummary, LockMode, Reporter, build};
