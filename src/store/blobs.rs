//! The store's directory layout and its blob and record operations.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tempfile::NamedTempFile;

use super::locks::{GC_LOCK, RunLock};
use super::{LayerRecord, StoreLock};
use crate::digest::{Digest, HashingWriter};

/// The modification time of every blob the store has checked (one second after the
/// epoch). Blobs are hard-linked into outputs, and a write through any link moves
/// the time on, so a blob with another time is hashed before it is used again.
fn checked_mtime() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1)
}

/// Blobs are readable by everyone, like the outputs they are linked into.
#[cfg(unix)]
const BLOB_MODE: u32 = 0o644;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Cannot {action} `{path}`")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "Content of `{path}` does not match its digest: expected `{expected}`, found `{actual}`"
    )]
    DigestMismatch {
        path: PathBuf,
        expected: Digest,
        actual: Digest,
    },
    #[error("Corrupt layer record `{path}`")]
    Record {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A content-addressed store rooted at one directory.
///
/// ```text
/// blobs/sha256/<hex>     blobs, by digest
/// layers/<key-hex>.json  layer records, by derivation key
/// segments/<key-hex>.json  records of cached runs of a segmented layer (the run's
///                        compressed bytes are a blob), by run key, and notes beside
///                        them (`<key-hex>.NAME.json`); see `layer::segments`
/// bases/<hex>.json       facts read from a base image, by manifest digest
/// used/<hex>             use marks: dated when the blob of that digest was last used
/// tmp/                   temp files, renamed into place when complete
/// locks/                 advisory lock files; run-*.lock, one per running process;
///                        gc.lock, held shared while a process claims the store and
///                        exclusively by `cache gc` (see [`Store::exclusive`])
/// ```
///
/// A blob's own modification time says it was checked (below), so when it was last
/// used is kept apart, in `used/`; a layer record's own time is its last use.
///
/// A blob under its real name is complete, mode 0644, and dated one second after
/// the epoch once checked; [`Store::has_blob`] hashes one that is not and removes it
/// when it is damaged.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// The stores this process has claimed, by root: a claim lasts as long as the
/// process, so every temp file it makes is younger than its claim.
static CLAIMS: LazyLock<Mutex<HashMap<PathBuf, RunLock>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

impl Store {
    /// Opens (creating) the store. The first open in a process claims the store for
    /// the life of the process and removes temp files left by killed processes.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        for sub in [
            "blobs/sha256",
            "layers",
            "segments",
            "bases",
            "tmp",
            "locks",
            "used",
        ] {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).map_err(|e| StoreError::io("create directory", &dir, e))?;
        }
        let store = Self { root };
        let mut claims = CLAIMS.lock().unwrap_or_else(PoisonError::into_inner);
        if !claims.contains_key(&store.root) {
            // Never while `cache gc` collects: it waits for every claim to end first.
            let _gc = StoreLock::acquire_shared(&store.root.join("locks").join(GC_LOCK))?;
            let run = RunLock::register(&store.root.join("locks"))?;
            claims.insert(store.root.clone(), run);
            store.remove_stale_temp_files()?;
        }
        Ok(store)
    }

    /// Removes temp files older than every running airlock process that uses the
    /// store (its own included): no running process can own them, so a killed one
    /// left them. Temp files live in `tmp/`, and as dot files beside the real names
    /// (downloads in `blobs/sha256/`, record writes in `layers/` and `bases/`).
    fn remove_stale_temp_files(&self) -> Result<(), StoreError> {
        let _lock = self.lock("tmp")?;
        let Some(cutoff) = RunLock::oldest_running(&self.root.join("locks")) else {
            return Ok(());
        };
        for (sub, all) in [
            ("tmp", true),
            ("blobs/sha256", false),
            ("layers", false),
            ("segments", false),
            ("bases", false),
            ("rootfs", false),
        ] {
            let dir = self.root.join(sub);
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if !all && !entry.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                let path = entry.path();
                let Ok(metadata) = fs::symlink_metadata(&path) else {
                    continue;
                };
                if metadata.modified().is_ok_and(|time| time < cutoff) {
                    let removed = if metadata.is_dir() {
                        fs::remove_dir_all(&path)
                    } else {
                        fs::remove_file(&path)
                    };
                    match removed {
                        Ok(()) => {
                            tracing::info!(path = %path.display(), "removed a stale temp file")
                        }
                        Err(error) => {
                            tracing::warn!(path = %path.display(), %error, "cannot remove a stale temp file");
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// This process's claim on the store (`locks/run-*.lock`).
    pub(super) fn claim_path(&self) -> Option<PathBuf> {
        let claims = CLAIMS.lock().unwrap_or_else(PoisonError::into_inner);
        claims.get(&self.root).map(|run| run.path().to_path_buf())
    }

    /// Marks this process's claim as a collector's (see `RunLock::mark_collector`).
    pub(super) fn mark_collector(&self) -> Result<(), StoreError> {
        let claims = CLAIMS.lock().unwrap_or_else(PoisonError::into_inner);
        match claims.get(&self.root) {
            Some(run) => run
                .mark_collector()
                .map_err(|e| StoreError::io("mark", run.path(), e)),
            None => Ok(()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Whether the blob is here and intact. One still dated one second after the
    /// epoch is taken as is (a `stat`); any other is hashed: kept and marked checked when it
    /// matches its digest, removed when it does not (written to through a hard link
    /// in an output, say), so that whoever needs it fetches or builds it again.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        let path = self.blob_path(digest);
        let Ok(metadata) = fs::metadata(&path) else {
            return false;
        };
        if !metadata.is_file() {
            return false;
        }
        if metadata
            .modified()
            .is_ok_and(|time| time == checked_mtime())
        {
            self.mark_used(digest);
            return true;
        }
        match hash_file(&path) {
            Ok(actual) if &actual == digest => {
                if let Err(error) = File::open(&path).and_then(|file| mark_checked(&file)) {
                    tracing::debug!(path = %path.display(), %error, "cannot mark a blob checked");
                }
                self.mark_used(digest);
                true
            }
            Ok(actual) => {
                tracing::warn!(path = %path.display(), %actual, "removing a damaged blob from the store");
                if let Err(error) = fs::remove_file(&path) {
                    tracing::warn!(path = %path.display(), %error, "cannot remove a damaged blob");
                }
                false
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot read a blob");
                false
            }
        }
    }

    /// A temp file inside the store, on the same filesystem as the blobs.
    pub fn temp_file(&self) -> Result<NamedTempFile, StoreError> {
        let dir = self.root.join("tmp");
        NamedTempFile::new_in(&dir).map_err(|e| StoreError::io("create temp file in", &dir, e))
    }

    /// Moves a completed temp file under the blob's name. When the blob already exists
    /// (another build wrote it), the temp file is dropped: same digest, same bytes.
    pub fn commit_blob(&self, temp: NamedTempFile, digest: &Digest) -> Result<PathBuf, StoreError> {
        let dest = self.blob_path(digest);
        if self.has_blob(digest) {
            return Ok(dest);
        }
        set_blob_mode(temp.as_file())
            .map_err(|e| StoreError::io("set the mode of", temp.path(), e))?;
        temp.as_file()
            .sync_all()
            .map_err(|e| StoreError::io("sync", temp.path(), e))?;
        let file = temp
            .persist(&dest)
            .map_err(|e| StoreError::io("rename temp file to", &dest, e.error))?;
        // Dated only under its real name: an old temp file is a killed process's.
        if let Err(error) = file.set_modified(checked_mtime()) {
            tracing::debug!(path = %dest.display(), %error, "cannot mark a blob checked");
        }
        self.mark_used(digest);
        Ok(dest)
    }

    /// Where the use mark of a blob lives.
    pub(crate) fn use_mark_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("used").join(digest.hex())
    }

    /// Dates the blob's use mark now, so that `cache gc --older-than` and
    /// `--max-size` keep what builds use. Best effort: a mark that cannot be written
    /// only makes the blob look older.
    pub(crate) fn mark_used(&self, digest: &Digest) {
        let path = self.use_mark_path(digest);
        let marked = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .and_then(|file| file.set_modified(SystemTime::now()));
        if let Err(error) = marked {
            tracing::debug!(path = %path.display(), %error, "cannot mark a blob used");
        }
    }

    /// Where the record of the layer of `key` lives.
    pub(crate) fn layer_record_path(&self, key: &Digest) -> PathBuf {
        self.root.join("layers").join(format!("{}.json", key.hex()))
    }

    /// Writes bytes as a blob and returns their digest.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        if self.has_blob(&digest) {
            return Ok(digest);
        }
        let mut temp = self.temp_file()?;
        temp.write_all(bytes)
            .map_err(|e| StoreError::io("write", temp.path(), e))?;
        self.commit_blob(temp, &digest)?;
        Ok(digest)
    }

    /// Copies a file into the store, verifying it against the digest it claims.
    pub fn import_file(&self, source: &Path, expected: &Digest) -> Result<PathBuf, StoreError> {
        if self.has_blob(expected) {
            return Ok(self.blob_path(expected));
        }
        let input = File::open(source).map_err(|e| StoreError::io("open", source, e))?;
        let temp = self.temp_file()?;
        let mut writer = HashingWriter::new(BufWriter::new(temp));
        io::copy(&mut BufReader::new(input), &mut writer)
            .map_err(|e| StoreError::io("copy", source, e))?;
        let (actual, _, buffered) = writer.finish();
        let temp = buffered
            .into_inner()
            .map_err(|e| StoreError::io("write", source, e.into_error()))?;
        expect_digest(source, expected, actual)?;
        self.commit_blob(temp, expected)
    }

    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        fs::read(&path).map_err(|e| StoreError::io("read", &path, e))
    }

    /// The record of a layer built earlier under this key, when its blob is still here
    /// and intact (see [`Store::has_blob`]) and of the recorded size.
    pub fn layer_record(&self, key: &Digest) -> Result<Option<LayerRecord>, StoreError> {
        let path = self.layer_record_path(key);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("read", &path, e)),
        };
        let record: LayerRecord =
            serde_json::from_slice(&bytes).map_err(|source| StoreError::Record {
                path: path.clone(),
                source,
            })?;
        let intact = self.has_blob(&record.digest)
            && fs::metadata(self.blob_path(&record.digest))
                .is_ok_and(|metadata| metadata.len() == record.size);
        if intact {
            // The record's own time is its last use (see `cache gc`).
            let touched = File::options()
                .write(true)
                .open(&path)
                .and_then(|file| file.set_modified(SystemTime::now()));
            if let Err(error) = touched {
                tracing::debug!(path = %path.display(), %error, "cannot mark a layer record used");
            }
        }
        Ok(intact.then_some(record))
    }

    pub fn put_layer_record(&self, key: &Digest, record: &LayerRecord) -> Result<(), StoreError> {
        let path = self.layer_record_path(key);
        let bytes = serde_json::to_vec_pretty(record).map_err(|source| StoreError::Record {
            path: path.clone(),
            source,
        })?;
        self.write_atomic(&path, &bytes)
    }

    /// Where the record of the cached run of `key` lives (`layer::segments`), or with
    /// `note`, a note beside it.
    pub(crate) fn segment_record_path(&self, key: &Digest, note: Option<&str>) -> PathBuf {
        let name = match note {
            Some(note) => format!("{}.{note}.json", key.hex()),
            None => format!("{}.json", key.hex()),
        };
        self.root.join("segments").join(name)
    }

    /// Cached JSON about a base image, by its manifest digest.
    pub fn base_facts_path(&self, manifest: &Digest) -> PathBuf {
        self.root
            .join("bases")
            .join(format!("{}.json", manifest.hex()))
    }

    /// Writes a small file under the store atomically (temp file + rename).
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        crate::atomic_file::write(path, bytes).map_err(|e| StoreError::io("write", path, e))
    }

    /// Takes the named exclusive lock (e.g. one per derivation key).
    pub fn lock(&self, name: &str) -> Result<StoreLock, StoreError> {
        StoreLock::acquire(&self.root.join("locks").join(format!("{name}.lock")))
    }
}

/// The sha256 of a file's content.
fn hash_file(path: &Path) -> io::Result<Digest> {
    let mut writer = HashingWriter::new(io::sink());
    io::copy(&mut BufReader::new(File::open(path)?), &mut writer)?;
    Ok(writer.finish().0)
}

/// Gives a blob file the store's mode.
fn set_blob_mode(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(fs::Permissions::from_mode(BLOB_MODE))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Gives a blob under its real name the store's mode and the date that marks it
/// checked.
fn mark_checked(file: &File) -> io::Result<()> {
    set_blob_mode(file)?;
    file.set_modified(checked_mtime())
}

impl crate::hint::Hint for StoreError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Io { .. } | Self::DigestMismatch { .. } | Self::Record { .. } => Vec::new(),
        }
    }
}

/// `Ok` when the bytes read from `source` hashed to `expected`.
pub(super) fn expect_digest(
    source: &Path,
    expected: &Digest,
    actual: Digest,
) -> Result<(), StoreError> {
    if &actual != expected {
        return Err(StoreError::DigestMismatch {
            path: source.to_path_buf(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_and_import_are_content_addressed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("store")).expect("open store");
        let digest = store.put_bytes(b"hello").expect("put");
        assert_eq!(digest, Digest::of(b"hello"));
        assert_eq!(store.read_blob(&digest).expect("read"), b"hello");

        let src = dir.path().join("file");
        fs::write(&src, b"world").expect("write");
        let wrong = Digest::of(b"other");
        let err = store.import_file(&src, &wrong).expect_err("mismatch");
        assert!(matches!(err, StoreError::DigestMismatch { .. }));
        assert!(!store.has_blob(&wrong));
        // Nothing half-written is left behind under tmp/.
        assert_eq!(
            fs::read_dir(store.root().join("tmp")).expect("ls").count(),
            0
        );
        let right = Digest::of(b"world");
        store.import_file(&src, &right).expect("import");
        assert!(store.has_blob(&right));
    }

    #[test]
    fn layer_record_needs_its_blob() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open store");
        let key = Digest::of(b"key");
        let record = LayerRecord {
            digest: Digest::of(b"missing"),
            diff_id: Digest::of(b"x"),
            size: 7,
            media_type: "m".into(),
        };
        store.put_layer_record(&key, &record).expect("record");
        assert_eq!(store.layer_record(&key).expect("read"), None);
        let blob = store.put_bytes(b"present").expect("put");
        let record = LayerRecord {
            digest: blob,
            ..record
        };
        store.put_layer_record(&key, &record).expect("record");
        assert_eq!(store.layer_record(&key).expect("read"), Some(record));
    }
}
