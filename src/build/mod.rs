//! The planner: ties the project, the lock and the base into layers and an image,
//! then writes the requested output.

mod base_ref;
mod error;
mod layers;
mod output;
mod run;

pub use base_ref::ImageName;
pub use error::BuildError;
pub use output::OutputSpec;
pub use run::{BuildOptions, BuildResult, LayerSummary, LockMode, Reporter, build, load_base};
