//! `--find-links` directories: a local wheelhouse, listed as if an index served it.
//! Each wheel is hashed when listed, so the lock pins it like any other.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::index_url::IndexUrl;
use super::simple_api::DistFile;

/// Why a wheelhouse could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("Cannot read the `--find-links` directory `{}`", path.display())]
pub struct FindLinksError {
    /// The directory or file.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: io::Error,
}

/// Every `*.whl` directly in `dir`, sorted by name, as `file:` URLs with their sha256.
pub(crate) fn list_wheel_dir(dir: &Path) -> Result<Vec<DistFile>, FindLinksError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FindLinksError { path, source }
    };
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(err(dir))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(err(dir))?;
    names.retain(|p| p.extension().is_some_and(|e| e == "whl") && p.is_file());
    names.sort();
    let mut files = Vec::new();
    for path in names {
        let absolute = std::path::absolute(&path).map_err(err(&path))?;
        let Ok(url) = url::Url::from_file_path(&absolute) else {
            continue;
        };
        let Ok(url) = IndexUrl::from_url(url) else {
            continue;
        };
        let mut file = std::fs::File::open(&path).map_err(err(&path))?;
        let mut hasher = Sha256::new();
        let size = io::copy(&mut file, &mut hasher).map_err(err(&path))?;
        let sha256: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let Some(filename) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        files.push(DistFile {
            filename: filename.to_string(),
            url,
            hashes: BTreeMap::from([("sha256".to_string(), sha256)]),
            requires_python: None,
            yanked: Default::default(),
            core_metadata: Default::default(),
            upload_time: None,
            size: Some(size),
        });
    }
    Ok(files)
}

impl crate::hint::Hint for FindLinksError {
    fn hints(&self) -> Vec<String> {
        Vec::new()
    }
}
