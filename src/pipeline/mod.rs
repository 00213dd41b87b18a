//! The build, as stages (`run.rs` reads top to bottom): the project is loaded
//! (`load`), its lock pinned (`pin`), the image planned (`plan`), its layers realised
//! (`realise`, one file per kind of layer in `layers/`), the image assembled
//! (`assemble`) and written to its outputs (one file per kind in `outputs/`).

mod assemble;
mod cache;
mod checks;
mod debian;
mod error;
mod fetch;
mod idioms;
mod images;
mod layers;
mod load;
mod lock_run;
mod options;
mod outputs;
mod pin;
mod plan;
mod prefetch;
mod push;
mod python_layer;
mod python_stage;
mod realise;
mod remote;
mod run;
mod sdist_build;

pub(crate) use cache::{CacheOptions, LayerSource};
pub(crate) use checks::{build_for_sandbox, locked_base_facts};
pub(crate) use debian::{DebianError, SkippedScript};
pub(crate) use error::BuildError;
pub(crate) use fetch::{fetch, needs};
pub(crate) use layers::CopyError;
pub(crate) use layers::RunStepError;
pub(crate) use lock_run::{check_lock, lock};
pub(crate) use options::{BuildOptions, LockMode, Reporter};
pub(crate) use outputs::{OutputSpec, ensure_state_dir};
pub(crate) use push::{LocalImage, PushSummary, push_image, read_image};
pub(crate) use python_stage::{
    LITERAL_CREDENTIALS_HINT, PythonError, PythonOptions, literal_credentials,
};
pub(crate) use run::{BuildResult, build};
pub(crate) use sdist_build::SdistBuildError;
