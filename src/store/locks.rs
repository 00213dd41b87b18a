//! Advisory file locks that let two airlock processes share one store.

use std::fs::{File, OpenOptions};
use std::path::Path;

use super::StoreError;

/// An exclusive lock held until dropped (the OS releases it when the file closes).
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    pub(super) fn acquire(path: &Path) -> Result<Self, StoreError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|source| StoreError::io("open lock file", path, source))?;
        if file.try_lock().is_err() {
            tracing::info!(path = %path.display(), "waiting for another airlock process");
            file.lock()
                .map_err(|source| StoreError::io("lock", path, source))?;
        }
        Ok(Self { _file: file })
    }
}
