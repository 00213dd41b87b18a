//! Writes a file tree as a deterministic tar, gzip-compressed, into the store.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read};
use std::path::PathBuf;
use std::sync::Arc;

use tar::{EntryType, Header};

use super::tree::{Entry, EntryKind, FileSource, FileTree, LazyFile};
use super::{Compression, LayerCompressor};
use crate::digest::HashingWriter;
use crate::store::{LayerRecord, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Cannot read `{path}` while writing a layer")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{path}` changed while the layer was being written; run the build again")]
    Changed { path: PathBuf },
    #[error("Cannot write layer data")]
    Write(#[source] io::Error),
    #[error("The cached run `{path}` is damaged ({reason}); it was removed, run the build again")]
    DamagedRun { path: PathBuf, reason: String },
}

/// Hashes what is read through it, so a file is checked against the content hash its
/// derivation key was computed from, in the same pass that writes it.
struct HashingReader<R> {
    inner: R,
    writer: HashingWriter<io::Sink>,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        io::Write::write_all(&mut self.writer, &buf[..n])?;
        Ok(n)
    }
}

/// Builds the layer for `tree` unless the store already holds the layer of the same
/// derivation key (`FileTree::derivation_key`). Returns the record and whether it was
/// reused. The build's own layers get the same lookup from `pipeline/realise.rs`,
/// which calls [`write_layer`] itself.
pub fn build_layer(
    store: &Store,
    tree: &FileTree,
    kind: &str,
    mtime: u64,
) -> Result<(LayerRecord, bool), LayerError> {
    build_layer_with(store, tree, kind, mtime, Compression::Gzip)
}

/// [`build_layer`] with the given compression (part of the derivation key).
pub fn build_layer_with(
    store: &Store,
    tree: &FileTree,
    kind: &str,
    mtime: u64,
    compression: Compression,
) -> Result<(LayerRecord, bool), LayerError> {
    let key = tree.derivation_key_with(kind, mtime, compression);
    if let Some(record) = store.layer_record(&key)? {
        return Ok((record, true));
    }
    let _lock = store.lock(&format!("layer-{}", key.hex()))?;
    if let Some(record) = store.layer_record(&key)? {
        return Ok((record, true));
    }
    let record = write_layer_with(store, tree, mtime, compression)?;
    store.put_layer_record(&key, &record)?;
    tracing::debug!(kind, %key, digest = %record.digest, "layer written");
    Ok((record, false))
}

/// Writes the layer for `tree` into the store, every timestamp `mtime`, and returns
/// its record (not stored under any key: the caller decides the key).
// Kept for layer steps that take no compression (gzip).
#[allow(dead_code)]
pub(crate) fn write_layer(
    store: &Store,
    tree: &FileTree,
    mtime: u64,
) -> Result<LayerRecord, LayerError> {
    write_layer_with(store, tree, mtime, Compression::Gzip)
}

/// [`write_layer`] with the given compression.
pub(crate) fn write_layer_with(
    store: &Store,
    tree: &FileTree,
    mtime: u64,
    compression: Compression,
) -> Result<LayerRecord, LayerError> {
    let temp = store.temp_file()?;
    let compressed = HashingWriter::new(BufWriter::with_capacity(1 << 20, temp));
    let uncompressed = HashingWriter::new(LayerCompressor::with(compressed, compression));
    let mut builder = tar::Builder::new(uncompressed);
    builder.mode(tar::HeaderMode::Deterministic);

    for (path, entry) in tree.iter() {
        append_entry(&mut builder, path, entry, mtime)?;
    }

    let uncompressed = builder.into_inner().map_err(LayerError::Write)?;
    let (diff_id, _, gz) = uncompressed.finish();
    let compressed = gz.finish().map_err(LayerError::Write)?;
    let (digest, size, buffered) = compressed.finish();
    let temp = buffered
        .into_inner()
        .map_err(|e| LayerError::Write(e.into_error()))?;
    store.commit_blob(temp, &digest)?;
    Ok(LayerRecord {
        digest,
        diff_id,
        size,
        media_type: compression.media_type().to_string(),
    })
}

/// Appends one entry of a layer to `builder`: the deterministic header (`mtime`, the
/// entry's numeric owner and mode) and, for a file, its bytes (a host file is checked
/// against the content hash it was listed with).
pub(super) fn append_entry<W: io::Write>(
    builder: &mut tar::Builder<W>,
    path: &str,
    entry: &Entry,
    mtime: u64,
) -> Result<(), LayerError> {
    let mut header = Header::new_gnu();
    header.set_mtime(mtime);
    header.set_uid(u64::from(entry.owner.uid));
    header.set_gid(u64::from(entry.owner.gid));
    header.set_mode(entry.mode);
    let written = match &entry.kind {
        EntryKind::Dir => {
            header.set_entry_type(EntryType::Directory);
            header.set_size(0);
            builder.append_data(&mut header, format!("{path}/"), io::empty())
        }
        EntryKind::Symlink { target } => {
            header.set_entry_type(EntryType::Symlink);
            header.set_size(0);
            builder.append_link(&mut header, path, target)
        }
        EntryKind::Hardlink { target } => {
            header.set_entry_type(EntryType::Link);
            header.set_size(0);
            builder.append_link(&mut header, path, target)
        }
        EntryKind::File {
            source,
            size,
            sha256,
        } => {
            header.set_entry_type(EntryType::Regular);
            header.set_size(*size);
            match source {
                FileSource::Bytes(bytes) => builder.append_data(&mut header, path, &bytes[..]),
                FileSource::Host(host) => {
                    let file = File::open(host).map_err(|source| LayerError::Read {
                        path: host.clone(),
                        source,
                    })?;
                    let mut reader = HashingReader {
                        inner: BufReader::new(file).take(*size),
                        writer: HashingWriter::new(io::sink()),
                    };
                    let result = builder.append_data(&mut header, path, &mut reader);
                    let (actual, read, _) = reader.writer.finish();
                    if result.is_ok() && (&actual != sha256 || read != *size) {
                        return Err(LayerError::Changed { path: host.clone() });
                    }
                    result
                }
                FileSource::Lazy(lazy) => return append_lazy(builder, header, path, lazy, *size),
            }
        }
    };
    written.map_err(LayerError::Write)
}

/// Appends a lazy file's bytes under `header`, failing when the source fails or gives
/// other than `size` bytes.
fn append_lazy<W: io::Write>(
    builder: &mut tar::Builder<W>,
    mut header: Header,
    path: &str,
    lazy: &Arc<dyn LazyFile>,
    size: u64,
) -> Result<(), LayerError> {
    let mut given = 0u64;
    let read = &mut |reader: &mut dyn Read| {
        let mut counted = Counted {
            inner: reader,
            count: &mut given,
        };
        builder.append_data(&mut header, path, &mut counted)
    };
    let mut result = lazy.read_with(read);
    if result.is_ok() && given != size {
        result = Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("its source gave {given} bytes, not {size}"),
        ));
    }
    result.map_err(|source| LayerError::Read {
        path: PathBuf::from(path),
        source,
    })
}

/// Counts the bytes read through it.
struct Counted<'a, R: ?Sized> {
    inner: &'a mut R,
    count: &'a mut u64,
}

impl<R: Read + ?Sized> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.count += n as u64;
        Ok(n)
    }
}

impl crate::hint::Hint for LayerError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Store(error) => error.hints(),
            Self::Read { .. }
            | Self::Changed { .. }
            | Self::Write(..)
            | Self::DamagedRun { .. } => Vec::new(),
        }
    }
}
