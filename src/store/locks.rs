//! Advisory file locks that let two airlock processes share one store.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::StoreError;

/// An exclusive lock held until dropped (the OS releases it when the file closes).
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// The lock `cache gc` holds exclusively while it removes anything, and every
/// process holds shared while it claims the store (`locks/gc.lock`).
pub(super) const GC_LOCK: &str = "gc.lock";

impl StoreLock {
    pub(super) fn acquire(path: &Path) -> Result<Self, StoreError> {
        let file = open_lock_file(path)?;
        if file.try_lock().is_err() {
            tracing::info!(path = %path.display(), "waiting for another airlock process");
            file.lock()
                .map_err(|source| StoreError::io("lock", path, source))?;
        }
        Ok(Self { _file: file })
    }

    /// A shared lock: any number of holders, none while someone holds it exclusively.
    pub(super) fn acquire_shared(path: &Path) -> Result<Self, StoreError> {
        let file = open_lock_file(path)?;
        if file.try_lock_shared().is_err() {
            tracing::info!(path = %path.display(), "waiting for `airlock cache gc`");
            file.lock_shared()
                .map_err(|source| StoreError::io("lock", path, source))?;
        }
        Ok(Self { _file: file })
    }
}

fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| StoreError::io("open lock file", path, source))
}

const RUN_PREFIX: &str = "run-";
/// The content of a collector's claim.
const COLLECTOR: &[u8] = b"gc\n";
const RUN_SUFFIX: &str = ".lock";

/// A running airlock process's claim on the store: `locks/run-*.lock`, locked for as
/// long as the process lives (the OS lets go when it ends, however it ends), its
/// modification time the moment the process first opened the store. Whatever temp
/// file a running process owns is younger than its claim.
#[derive(Debug)]
pub(super) struct RunLock {
    _file: File,
    path: PathBuf,
}

impl RunLock {
    /// Claims the store for this process. The file is locked under a temp name and
    /// then renamed, so a claim is never seen unlocked while its owner runs.
    pub(super) fn register(dir: &Path) -> Result<Self, StoreError> {
        let temp = tempfile::Builder::new()
            .prefix(".run-")
            .tempfile_in(dir)
            .map_err(|source| StoreError::io("create lock file in", dir, source))?;
        temp.as_file()
            .try_lock()
            .map_err(|error| StoreError::io("lock", temp.path(), error.into()))?;
        let unique = temp
            .path()
            .file_name()
            .map(|name| {
                name.to_string_lossy()
                    .trim_start_matches(".run-")
                    .to_string()
            })
            .unwrap_or_default();
        let path = dir.join(format!("{RUN_PREFIX}{unique}{RUN_SUFFIX}"));
        let file = temp
            .persist_noclobber(&path)
            .map_err(|error| StoreError::io("rename lock file to", &path, error.error))?;
        Ok(Self { _file: file, path })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// How many other processes hold a claim on the store (`own` is this process's
    /// claim); `None` when a claim cannot be judged.
    pub(super) fn others_running(dir: &Path, own: Option<&Path>) -> Option<usize> {
        let mut others = 0;
        for entry in std::fs::read_dir(dir).ok()? {
            let entry = entry.ok()?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with(RUN_PREFIX) && name.ends_with(RUN_SUFFIX))
                || Some(path.as_path()) == own
            {
                continue;
            }
            let file = match File::open(&path) {
                Ok(file) => file,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(_) => return None,
            };
            match file.try_lock() {
                Ok(()) => {}
                // Collectors take turns on `gc.lock` instead of waiting for each other.
                Err(std::fs::TryLockError::WouldBlock)
                    if std::fs::read(&path).is_ok_and(|text| text == COLLECTOR) => {}
                Err(std::fs::TryLockError::WouldBlock) => others += 1,
                Err(std::fs::TryLockError::Error(_)) => return None,
            }
        }
        Some(others)
    }

    /// Marks this claim as a collector's (`cache gc`), whose claim other collectors
    /// do not wait for. Its date (the process's start) is kept.
    pub(super) fn mark_collector(&self) -> std::io::Result<()> {
        use std::io::Write as _;
        let started = self._file.metadata()?.modified()?;
        (&self._file).write_all(COLLECTOR)?;
        self._file.set_modified(started)
    }

    /// When the oldest running process that uses the store started (this one
    /// included). Claims of processes that ended are removed on the way. `None`
    /// when a claim cannot be judged: then no temp file may be taken for stale.
    pub(super) fn oldest_running(dir: &Path) -> Option<SystemTime> {
        let mut oldest: Option<SystemTime> = None;
        let entries = std::fs::read_dir(dir).ok()?;
        for entry in entries {
            let entry = entry.ok()?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with(RUN_PREFIX) && name.ends_with(RUN_SUFFIX)) {
                continue;
            }
            let path = entry.path();
            let file = match File::open(&path) {
                Ok(file) => file,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(_) => return None,
            };
            match file.try_lock() {
                Ok(()) => {
                    // Its process is gone.
                    let _ = std::fs::remove_file(&path);
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    let started = file.metadata().and_then(|m| m.modified()).ok()?;
                    oldest = Some(oldest.map_or(started, |o| o.min(started)));
                }
                Err(std::fs::TryLockError::Error(_)) => return None,
            }
        }
        oldest
    }
}
