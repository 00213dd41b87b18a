//! The planner: ties the project, the lock and the base into layers and an image,
//! then writes the requested output.

mod checks;
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

pub use checks::{build_for_sandbox, locked_base_facts};
pub use debian::{DebianError, DebianLayer, SkippedScript, lock_packages};
pub use error::BuildError;
pub use lock_run::{LockSummary, check_lock, lock};
pub use output::{OutputSpec, ensure_state_dir};
pub use push::{LocalImage, PushSummary, push_image, read_image};
pub use python_stage::{LITERAL_CREDENTIALS_HINT, PythonError, PythonOptions, literal_credentials};
pub use run::{BuildOptions, BuildResult, LayerSummary, LockMode, Reporter, build};
