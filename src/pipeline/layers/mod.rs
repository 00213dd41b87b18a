//! The kinds of layer a build adds on top of its base, one file each, all behind
//! [`LayerStep`]: what the image history says of the layer, its derivation key, and
//! how to produce it when the store lacks it (`realise.rs` looks the key up). A new
//! kind of layer is a new file here and one line in the plan (`plan.rs`).

mod add_url;
mod apt_step;
mod copy_archive;
mod copy_step;
mod debian;
mod pip_step;
mod placement;
mod project;
mod python;
mod run_step;
mod stage_files;

pub(super) use add_url::AddUrlStep;
pub(super) use apt_step::AptStep;
pub(crate) use copy_step::CopyError;
pub(super) use copy_step::{CopyStep, DirsBelow, Sources, WorkdirStep, check_remote, is_url};
pub(super) use debian::DebianStep;
pub(super) use pip_step::{NewVenv, PipStep};
pub(super) use project::{FilesStep, Part, ProjectFiles};
pub(super) use python::PythonStep;
pub(crate) use run_step::RunStepError;
pub(super) use run_step::{RunStep, StepPins};
pub(super) use stage_files::StageFiles;

use std::cell::RefCell;

use super::BuildError;
use super::SkippedScript;
use super::options::Reporter;
use crate::digest::Digest;
use crate::image::BaseImage;
use crate::layer::Compression;
use crate::store::{LayerRecord, Store};

/// The layers below a step: what a step that runs over them (a `RUN`) depends on.
pub(super) struct Below<'a> {
    pub base: &'a BaseImage,
    /// The derivation keys of the new layers below, bottom first, as the steps above
    /// see them ([`LayerStep::key_above`]).
    pub keys: &'a [Digest],
    /// Their records (blobs in the store), bottom first.
    pub layers: &'a [LayerRecord],
}

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

    /// The layer's derivation key: a hash of everything that decides its bytes,
    /// computed without making the layer. `None` when the layer would be empty (the
    /// image then has no such layer). `reporter` hears of the work, whether the layer
    /// is then found in the store or made.
    fn key(&self, below: &Below<'_>, reporter: &dyn Reporter)
    -> Result<Option<Digest>, BuildError>;

    /// Makes the layer of `key`, which the store lacks: its blob goes into the store,
    /// its record is returned (the caller stores it under `key`).
    fn produce(
        &self,
        key: &Digest,
        below: &Below<'_>,
        store: &Store,
        reporter: &dyn Reporter,
    ) -> Result<StoredLayer, BuildError>;

    /// Downloads into the store what `produce` reads from the network (the locked
    /// `.deb`s, wheels), without making the layer: `airlock fetch`. Nothing for
    /// kinds made from the project alone.
    fn fetch_inputs(&self, _store: &Store, _reporter: &dyn Reporter) -> Result<(), BuildError> {
        Ok(())
    }

    /// The maintainer scripts kept beside the stored layer of `key`; `None` when the
    /// store lacks that note, and the layer is then produced again. No kind but the
    /// Debian layer keeps one.
    fn skipped_scripts(&self, _store: &Store, _key: &Digest) -> Option<Vec<SkippedScript>> {
        Some(Vec::new())
    }

    /// Keeps `skipped` beside the stored layer of `key`, as `produce` does (for a
    /// layer that came from the registry cache). No kind but the Debian layer keeps it.
    fn keep_skipped_scripts(
        &self,
        _store: &Store,
        _key: &Digest,
        _skipped: &[SkippedScript],
    ) -> Result<(), BuildError> {
        Ok(())
    }

    /// The key the steps above this layer see for it ([`Below::keys`]): its key,
    /// except that the project layer leaves `airlock.lock` out (the lock holds the
    /// pins of the steps above, which must not depend on themselves).
    fn key_above(&self, key: &Digest) -> Digest {
        key.clone()
    }

    /// Whether the lock pins the step's result (`[[steps]]`) as it is realised:
    /// `airlock lock` then realises the layers to pin it.
    fn pinned_when_realised(&self) -> bool {
        false
    }

    /// Hears of the layer of `key`, found in the store (`reused`) or just made: a
    /// step the lock pins checks it against the pin and records it.
    fn realised(
        &self,
        _key: &Digest,
        _record: &LayerRecord,
        _reused: bool,
    ) -> Result<(), BuildError> {
        Ok(())
    }
}

/// The key of a layer compressed as `compression`, from its key without the
/// compression (the one the steps above see): a gzip layer's key is that key itself,
/// so gzip builds keep the keys they always had.
pub(super) fn compressed_key(key: Digest, compression: Compression) -> Digest {
    match compression {
        Compression::Gzip => key,
        other => Digest::of(format!("{key}\0{}", other.key_part()).as_bytes()),
    }
}

/// The keys a step gave (with its compression), each with the key the steps above
/// see (without it): the keys of the steps above, and the pins in the lock, are the
/// same whatever the layers' compression.
#[derive(Default)]
pub(super) struct AboveKeys(RefCell<Vec<(Digest, Digest)>>);

impl AboveKeys {
    /// The key of the layer compressed as `compression`, remembered with `above`.
    pub(super) fn key(&self, above: Digest, compression: Compression) -> Digest {
        let key = compressed_key(above.clone(), compression);
        self.0.borrow_mut().push((key.clone(), above));
        key
    }

    /// The key without the compression of `key` (one [`AboveKeys::key`] gave).
    pub(super) fn above(&self, key: &Digest) -> Digest {
        self.0
            .borrow()
            .iter()
            .find(|(k, _)| k == key)
            .map_or_else(|| key.clone(), |(_, above)| above.clone())
    }
}

/// The diff ID of an empty tar (two zero blocks): a layer that changes nothing.
pub(super) fn empty_diff_id() -> Digest {
    Digest::of(&[0u8; 1024])
}

/// Whether `record` is a layer that changes nothing (a `RUN` that wrote nothing it
/// keeps): the image has no layer for it, only its history line, as BuildKit does.
pub(super) fn changes_nothing(record: &LayerRecord) -> bool {
    record.diff_id == empty_diff_id()
}

/// A layer in the store.
pub(super) struct StoredLayer {
    pub record: LayerRecord,
    /// True when the store already had the layer and nothing was written.
    pub reused: bool,
    /// Debian maintainer scripts that did work airlock did not do.
    pub skipped_scripts: Vec<SkippedScript>,
}

impl StoredLayer {
    /// A layer `produce` just made: not reused, no skipped maintainer scripts.
    pub(super) fn made(record: LayerRecord) -> Self {
        Self {
            record,
            reused: false,
            skipped_scripts: Vec::new(),
        }
    }

    /// The layer of `tree`, written into the store just now (the `produce` of the
    /// steps whose layer is one file tree: project, COPY/ADD, WORKDIR, ADD <URL>).
    pub(super) fn of_tree(
        store: &Store,
        tree: &crate::layer::FileTree,
        mtime: u64,
        compression: Compression,
    ) -> Result<Self, BuildError> {
        let record = crate::layer::write_layer_with(store, tree, mtime, compression)?;
        Ok(Self::made(record))
    }
}
