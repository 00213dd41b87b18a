//! The wheels `ensurepip` would seed a virtual environment with (`usr/share/python-wheels`
//! on Debian, `ensurepip/_bundled` elsewhere), read from the base's layers.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use super::native::is_seed_wheel;
use crate::digest::Digest;
use crate::image::BaseImage;
use crate::pipeline::load::Session;
use crate::store::{Store, StoreError};

/// Reads the base's `ensurepip` wheels once, when a virtual environment needs them.
pub(in crate::pipeline) struct Seeds<'a> {
    store: &'a Store,
    base: &'a BaseImage,
    found: OnceCell<Vec<(String, Digest)>>,
}

impl<'a> Seeds<'a> {
    pub(in crate::pipeline) fn new(session: &'a Session) -> Self {
        Self::of(&session.store, &session.base)
    }

    pub(in crate::pipeline) fn of(store: &'a Store, base: &'a BaseImage) -> Self {
        Self {
            store,
            base,
            found: OnceCell::new(),
        }
    }

    /// The seed wheels by path (without the leading `/`), as the base shows them.
    pub(in crate::pipeline) fn get(&self) -> Vec<(String, Digest)> {
        self.found.get_or_init(|| self.read()).clone()
    }

    /// From the store's record for this base when it has one whose blobs still hold
    /// their bytes, else from the layers (and then recorded: a warm rebuild does not
    /// read the whole base again).
    fn read(&self) -> Vec<(String, Digest)> {
        let record = self.record_path();
        if let Some(found) = self.cached(&record) {
            return found;
        }
        let blobs: Vec<_> = self.base.layers.iter().map(|l| l.path.clone()).collect();
        match super::files_in_layers(&blobs, &is_seed_wheel, 64 << 20) {
            Ok(files) => match self.remember(&record, files) {
                Ok(found) => found,
                Err(error) => {
                    tracing::warn!(%error, "cannot keep the base's ensurepip wheels in the store");
                    Vec::new()
                }
            },
            Err(error) => {
                tracing::warn!(%error, "cannot read the base's ensurepip wheels");
                Vec::new()
            }
        }
    }

    /// `bases/<manifest>.seeds.json` beside the base's facts: the seed wheels' paths
    /// and the digests of their blobs.
    fn record_path(&self) -> PathBuf {
        let digest = &self.base.manifest_digest;
        self.store
            .base_facts_path(digest)
            .with_file_name(format!("{}.seeds.json", digest.hex()))
    }

    /// The recorded wheels, when the store still holds each of them. Their bytes are
    /// checked against the digest where they are read (`PipStep::produce`), so a warm
    /// build that reuses the venv layer reads none of them.
    fn cached(&self, record: &Path) -> Option<Vec<(String, Digest)>> {
        let text = std::fs::read(record).ok()?;
        let entries: Vec<(String, Digest)> = serde_json::from_slice(&text).ok()?;
        entries
            .iter()
            .all(|(_, digest)| self.store.blob_path(digest).is_file())
            .then_some(entries)
    }

    /// Puts the wheels into the store and records them for this base.
    fn remember(
        &self,
        record: &Path,
        found: std::collections::BTreeMap<String, Vec<u8>>,
    ) -> Result<Vec<(String, Digest)>, StoreError> {
        let entries = found
            .into_iter()
            .map(|(path, bytes)| Ok((path, self.store.put_bytes(&bytes)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let text = serde_json::to_vec(&entries).map_err(|source| StoreError::Record {
            path: record.to_path_buf(),
            source,
        })?;
        if let Err(error) = self.store.write_atomic(record, &text) {
            tracing::debug!(%error, "cannot record the base's ensurepip wheels");
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{BaseLayer, scratch_base};
    use crate::oci::{descriptor, media_types};

    /// A base of one uncompressed layer holding `files`, in `store`.
    fn base_with(store: &Store, files: &[(&str, &[u8])]) -> BaseImage {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, bytes) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, path, *bytes).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let digest = store.put_bytes(&tar).unwrap();
        let mut base = scratch_base(store).unwrap();
        base.layers.push(BaseLayer {
            descriptor: descriptor(media_types::OCI_LAYER_TAR, digest.clone(), tar.len() as u64),
            path: store.blob_path(&digest),
            digest,
        });
        base
    }

    /// A later build reads the seed wheels of a base it has read once without reading
    /// the base's layers again (a warm rebuild used to read every layer of the base,
    /// twice, for them): here the layer is gone, and the wheels still come.
    #[test]
    fn seeds_are_read_once_per_base_and_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let wheel: &[u8] = b"PK pip wheel bytes";
        let base = base_with(
            &store,
            &[
                ("usr/share/python-wheels/pip-23.0.1-py3-none-any.whl", wheel),
                ("usr/bin/python3.11", b"ELF"),
            ],
        );
        let first = Seeds::of(&store, &base).get();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].1, Digest::of(wheel));
        assert_eq!(store.read_blob(&first[0].1).unwrap(), wheel);
        std::fs::remove_file(&base.layers[0].path).unwrap();
        let again = Seeds::of(&store, &base).get();
        assert_eq!(again, first);
    }

    /// A cached seed whose blob is gone from the store is not trusted: the layers are
    /// read again and the blob is put back. (A blob whose bytes changed is refused
    /// where the bytes are read, in `PipStep::produce`, like a locked wheel.)
    #[test]
    fn seeds_cache_reads_the_layers_again_when_a_blob_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let wheel: &[u8] = b"PK setuptools wheel bytes";
        let base = base_with(
            &store,
            &[(
                "usr/share/python-wheels/setuptools-66-py3-none-any.whl",
                wheel,
            )],
        );
        let first = Seeds::of(&store, &base).get();
        let cached = store.blob_path(&Digest::of(wheel));
        assert!(cached.is_file(), "the wheel is kept as a blob");
        std::fs::remove_file(&cached).unwrap();
        assert_eq!(Seeds::of(&store, &base).get(), first);
        assert!(cached.is_file(), "the wheel is put back");
    }
}
