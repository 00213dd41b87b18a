//! The kinds of layer a build adds on top of its base, one file each, all behind
//! [`LayerStep`]: what the image history says of the layer, and how to get it (from
//! the store when it holds the layer, else made and stored). A new kind of layer is
//! a new file here and one line in the plan (`plan.rs`).

mod debian;
mod placement;
mod project;
mod python;

pub(super) use debian::DebianStep;
pub(super) use project::{FilesStep, Part, ProjectFiles};
pub(super) use python::PythonStep;

use super::BuildError;
use super::SkippedScript;
use super::options::Reporter;
use crate::store::{LayerRecord, Store};

/// One layer of the image, before it is made.
pub(super) trait LayerStep {
    /// `debian`, `python`, `project` or `dags`: the layer's name in the build result
    /// and in its history comment.
    fn kind(&self) -> &'static str;

    /// The layer's history line (`created_by`): the Dockerfile step it stands for.
    fn created_by(&self) -> String;

    /// Whether the layer is made from the project's files. `airlock.lock` is one of
    /// them, so the lock is written before the first such layer is made.
    fn reads_project(&self) -> bool {
        false
    }

    /// The layer from the store when it is there, else made and stored. `None` when
    /// the layer would be empty (the image then has no such layer).
    fn realise(
        &self,
        store: &Store,
        reporter: &dyn Reporter,
    ) -> Result<Option<Realised>, BuildError>;
}

/// A layer in the store.
pub(super) struct Realised {
    pub record: LayerRecord,
    /// True when the store already had the layer and nothing was made.
    pub reused: bool,
    /// Debian maintainer scripts that did work airlock did not do.
    pub skipped_scripts: Vec<SkippedScript>,
}
