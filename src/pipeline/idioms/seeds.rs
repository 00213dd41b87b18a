//! The wheels `ensurepip` would seed a virtual environment with (`usr/share/python-wheels`
//! on Debian, `ensurepip/_bundled` elsewhere), read from the base's layers.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::native::is_seed_wheel;
use crate::digest::Digest;
use crate::image::BaseImage;
use crate::pipeline::load::Session;
use crate::store::{Store, StoreError};

/// Reads the base's `ensurepip` wheels once, when a virtual environment needs them.
pub(in crate::pipeline) struct Seeds<'a> {
    store: &'a Store,
    base: &'a BaseImage,
    found: OnceCell<Vec<(String, Arc<[u8]>)>>,
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
    pub(in crate::pipeline) fn get(&self) -> Vec<(String, Arc<[u8]>)> {
        self.found.get_or_init(|| self.read()).clone()
    }

    /// From the store's record for this base when it has one whose blobs still hold
    /// their bytes, else from the layers (and then recorded: a warm rebuild does not
    /// read the whole base again).
    fn read(&self) -> Vec<(String, Arc<[u8]>)> {
        let record = self.record_path();
        if let Some(found) = self.cached(&record) {
            return found;
        }
        let blobs: Vec<_> = self.base.layers.iter().map(|l| l.path.clone()).collect();
        match super::files_in_layers(&blobs, &is_seed_wheel, 64 << 20) {
            Ok(files) => {
                let found: Vec<_> = files
                    .into_iter()
                    .map(|(path, bytes)| (path, Arc::from(bytes)))
                    .collect();
                self.remember(&record, &found);
                found
            }
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

    fn cached(&self, record: &Path) -> Option<Vec<(String, Arc<[u8]>)>> {
        let text = std::fs::read(record).ok()?;
        let entries: Vec<(String, Digest)> = serde_json::from_slice(&text).ok()?;
        entries
            .into_iter()
            .map(|(path, digest)| {
                let bytes = std::fs::read(self.store.blob_path(&digest)).ok()?;
                (Digest::of(&bytes) == digest).then(|| (path, Arc::from(bytes)))
            })
            .collect()
    }

    /// Best effort: a store that cannot keep the record only reads the base again.
    fn remember(&self, record: &Path, found: &[(String, Arc<[u8]>)]) {
        let entries: Result<Vec<(&str, Digest)>, _> = found
            .iter()
            .map(|(path, bytes)| Ok((path.as_str(), self.store.put_bytes(bytes)?)))
            .collect();
        let written = entries.and_then(|entries| {
            let text = serde_json::to_vec(&entries).map_err(|source| StoreError::Record {
                path: record.to_path_buf(),
                source,
            })?;
            self.store.write_atomic(record, &text)
        });
        if let Err(error) = written {
            tracing::debug!(%error, "cannot record the base's ensurepip wheels");
        }
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
        assert_eq!(&*first[0].1, wheel);
        std::fs::remove_file(&base.layers[0].path).unwrap();
        let again = Seeds::of(&store, &base).get();
        assert_eq!(again, first);
    }

    /// A cached seed whose blob no longer holds its bytes is not trusted: the layers
    /// are read again.
    #[test]
    fn seeds_cache_checks_its_blobs() {
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
        let mut perms = std::fs::metadata(&cached).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&cached, perms).unwrap();
        std::fs::write(&cached, b"tampered").unwrap();
        assert_eq!(Seeds::of(&store, &base).get(), first);
    }
}
