//! A `RUN pip install …` or `RUN python -m venv DIR && … pip install …` carried out
//! natively: the wheels its `[[steps]]` entry pins, fetched by hash and installed
//! with the same installer as `requirements.txt` (into the base's scheme, the user's
//! `~/.local`, or the virtual environment's), plus the environment itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use super::{AboveKeys, Below, LayerStep, StoredLayer};
use crate::digest::Digest;
use crate::image::BaseFacts;
use crate::layer::{Compression, Entry, EntryKind, FileSource, FileTree, Owner, build_layer_with};
use crate::lock::LockedWheel;
use crate::pipeline::BuildError;
use crate::pipeline::options::Reporter;
use crate::pipeline::python_layer::download_wheels;
use crate::pipeline::python_stage::{PythonError, PythonOptions};
use crate::python::{IndexUrl, InstallTarget, VenvEntry, VenvSpec, install_wheel, make_venv};
use crate::store::Store;

/// Bumped when the bytes made for the same pins change on purpose.
const PIP_STEP_FORMAT: u32 = 1;

/// The virtual environment a step makes, and the wheels `ensurepip` seeds it with
/// (read from the base, by file name and bytes).
pub(in crate::pipeline) struct NewVenv {
    pub spec: VenvSpec,
    /// The `ensurepip` wheels (file name, digest of the blob in the store).
    pub seed: Vec<(String, Digest)>,
}

/// A native `pip install` (or virtual environment) step.
pub(in crate::pipeline) struct PipStep<'a> {
    /// `pip` or `venv`.
    pub kind: &'static str,
    pub created_by: String,
    /// The wheels the step's lock entry pins.
    pub wheels: Vec<LockedWheel>,
    /// Where they go.
    pub target: InstallTarget,
    pub venv: Option<NewVenv>,
    /// The owner of what the step writes (its `USER`).
    pub owner: Owner,
    pub facts: &'a BaseFacts,
    /// The indexes, with credentials, for the downloads.
    pub indexes: Vec<IndexUrl>,
    pub options: &'a PythonOptions,
    pub mtime: u64,
    pub compression: Compression,
    /// The keys given, each with the key without the compression.
    pub keys: AboveKeys,
    pub runtime: &'a tokio::runtime::Handle,
}

impl LayerStep for PipStep<'_> {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn created_by(&self) -> String {
        self.created_by.clone()
    }

    fn key(
        &self,
        below: &Below<'_>,
        _reporter: &dyn Reporter,
    ) -> Result<Option<Digest>, BuildError> {
        if self.wheels.is_empty() && self.venv.is_none() {
            return Ok(None);
        }
        let mut h = Sha256::new();
        h.update(format!(
            "airlock-pip-step\0v{PIP_STEP_FORMAT}\0layer-v{}\0{}\0{}\0{}:{}\0",
            crate::layer::FORMAT_VERSION,
            self.mtime,
            below.base.manifest_digest,
            self.owner.uid,
            self.owner.gid
        ));
        h.update(format!("{:?}\0", self.target));
        if let Some(venv) = &self.venv {
            h.update(format!("{:?}\0", venv.spec));
            for (name, digest) in &venv.seed {
                h.update(format!("seed\0{name}\0{digest}\0"));
            }
        }
        for wheel in &self.wheels {
            h.update(format!("{}\0{}\0", wheel.filename, wheel.sha256));
        }
        for key in below.keys {
            h.update(format!("below\0{key}\0"));
        }
        let above = Digest::from_sha256(h.finalize().into());
        Ok(Some(self.keys.key(above, self.compression)))
    }

    fn key_above(&self, key: &Digest) -> Digest {
        self.keys.above(key)
    }

    fn produce(
        &self,
        _key: &Digest,
        _below: &Below<'_>,
        store: &Store,
        reporter: &dyn Reporter,
    ) -> Result<StoredLayer, BuildError> {
        let record = self.layer(store, reporter)?;
        Ok(StoredLayer::made(record))
    }
}

impl PipStep<'_> {
    fn layer(
        &self,
        store: &Store,
        reporter: &dyn Reporter,
    ) -> Result<crate::store::LayerRecord, PythonError> {
        download_wheels(
            &self.wheels,
            &self.indexes,
            self.options,
            self.runtime,
            store,
            reporter,
        )?;
        reporter.step("installing wheels");
        let mut files: BTreeMap<String, (u32, Arc<[u8]>)> = BTreeMap::new();
        let mut install = |bytes: &[u8], filename: &str| -> Result<(), PythonError> {
            let installed = install_wheel(bytes, filename, &self.target).map_err(|source| {
                PythonError::Install {
                    filename: filename.to_string(),
                    source,
                }
            })?;
            for file in installed {
                files.insert(file.path, (file.mode, Arc::from(file.contents)));
            }
            Ok(())
        };
        if let Some(venv) = &self.venv {
            for (name, digest) in &venv.seed {
                let bytes = store.read_blob(digest)?;
                // Never trust the store without the hash.
                if Digest::of(&bytes) != *digest {
                    return Err(PythonError::Corrupt {
                        filename: name.clone(),
                        expected: digest.clone(),
                    });
                }
                install(&bytes, name)?;
            }
        }
        for wheel in &self.wheels {
            let bytes = store.read_blob(&wheel.sha256)?;
            if Digest::of(&bytes) != wheel.sha256 {
                return Err(PythonError::Corrupt {
                    filename: wheel.filename.clone(),
                    expected: wheel.sha256.clone(),
                });
            }
            install(&bytes, &wheel.filename)?;
        }
        let mut tree = FileTree::new();
        if let Some(venv) = &self.venv {
            let entries = make_venv(&venv.spec).map_err(|e| PythonError::Read {
                path: venv.spec.dir.clone().into(),
                source: std::io::Error::other(e.to_string()),
            })?;
            for entry in entries {
                let (path, kind, mode) = match entry {
                    VenvEntry::Dir { path } => (path, EntryKind::Dir, 0o755),
                    VenvEntry::Symlink { path, target } => {
                        (path, EntryKind::Symlink { target }, 0o777)
                    }
                    VenvEntry::File {
                        path,
                        mode,
                        contents,
                    } => (path, file_kind(Arc::from(contents)), mode),
                };
                tree.insert(
                    &path,
                    Entry {
                        kind,
                        mode,
                        owner: self.owner,
                    },
                )?;
            }
        }
        for (path, (mode, bytes)) in files {
            if tree.contains(&path) {
                continue;
            }
            tree.insert(
                &path,
                Entry {
                    kind: file_kind(bytes),
                    mode,
                    owner: self.owner,
                },
            )?;
        }
        let owner = self.owner;
        let facts = self.facts;
        // Directories pip makes belong to the step's user; those of the base keep theirs.
        tree.add_parents(|path| match facts.dirs.get(path) {
            Some(_) => facts.parent_dir(path),
            None => (0o755, owner),
        });
        let (record, _) = build_layer_with(store, &tree, self.kind, self.mtime, self.compression)?;
        Ok(record)
    }
}

fn file_kind(bytes: Arc<[u8]>) -> EntryKind {
    EntryKind::File {
        size: bytes.len() as u64,
        sha256: Digest::of(&bytes),
        source: FileSource::Bytes(bytes),
    }
}
