//! The lockfile model, its canonical text and its staleness check.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

pub(crate) const LOCK_FILE: &str = "airlock.lock";
const LOCK_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("Cannot read `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a valid airlock lockfile: {message}; delete it to re-lock")]
    Parse { path: PathBuf, message: String },
    #[error(
        "`{path}` has version {found}, this airlock reads version {LOCK_VERSION}; upgrade airlock or re-lock"
    )]
    Version { path: PathBuf, found: u32 },
    #[error("Cannot write `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is out of date ({reason}) and `--locked` was given")]
    Stale { path: PathBuf, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedBase {
    /// The image as the Dockerfile names it.
    pub reference: String,
    /// The manifest digest it resolved to.
    pub manifest: Digest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    pub version: u32,
    pub base: LockedBase,
    /// sha256 of each input file the lock was made from (`packages.txt`,
    /// `requirements.txt`), by file name; absent files are absent here.
    #[serde(default)]
    pub inputs: BTreeMap<String, Digest>,
    /// Where the Debian packages came from; absent when `packages.txt` asks for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debian: Option<DebianLock>,
    /// The Debian packages to unpack, in installation order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub debs: Vec<LockedDeb>,
    /// The Python target and settings; absent when `requirements.txt` asks for nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<super::PythonLock>,
    /// The wheels to install, sorted by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wheels: Vec<super::LockedWheel>,
    /// The Dockerfile steps whose results are pinned (`[[steps]]`), by line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<super::LockedStep>,
    /// The images besides the base that the build reads (an earlier stage's `FROM`,
    /// a `COPY --from=<image>`), sorted by reference. Absent in locks made before
    /// the table existed: such a lock reads as one pinning none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<super::LockedImage>,
}

/// The archive state a Debian resolution was made against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DebianLock {
    /// The release codename (`bookworm`).
    pub suite: String,
    /// Every repository that was read, in priority order.
    pub sources: Vec<LockedSource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedSource {
    pub uri: String,
    pub suite: String,
    #[serde(default)]
    pub components: Vec<String>,
    /// sha256 of the `InRelease` (or, for a trusted unsigned source, `Release`) read.
    pub in_release: Digest,
}

/// One `.deb`, pinned by hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedDeb {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// Path in the pool, relative to the source's URI.
    pub filename: String,
    pub sha256: Digest,
    pub size: u64,
    /// Index into `debian.sources`.
    pub source: usize,
}

impl Lockfile {
    pub fn new(base: LockedBase, inputs: BTreeMap<String, Digest>) -> Self {
        Self {
            version: LOCK_VERSION,
            base,
            inputs,
            debian: None,
            debs: Vec::new(),
            python: None,
            wheels: Vec::new(),
            steps: Vec::new(),
            images: Vec::new(),
        }
    }

    pub fn read(path: &Path) -> Result<Option<Self>, LockError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(LockError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let value: toml::Value = toml::from_str(&text).map_err(|e| LockError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let found = value
            .get("version")
            .and_then(toml::Value::as_integer)
            .unwrap_or(0);
        if found != i64::from(LOCK_VERSION) {
            return Err(LockError::Version {
                path: path.to_path_buf(),
                found: u32::try_from(found).unwrap_or(0),
            });
        }
        toml::from_str(&text)
            .map(Some)
            .map_err(|e| LockError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
    }

    /// The base digest this lock pins for `from` (the `FROM` text), if it pins one.
    pub fn pinned_base(&self, from: &str) -> Option<Digest> {
        (self.base.reference == from).then(|| self.base.manifest.clone())
    }

    /// The manifest digest this lock pins for the image `reference` (the base's, or
    /// one of `[[images]]`), if it pins one.
    pub(crate) fn pinned_image(&self, reference: &str) -> Option<Digest> {
        self.pinned_base(reference).or_else(|| {
            self.images
                .iter()
                .find(|i| i.reference == reference)
                .map(|i| i.manifest.clone())
        })
    }

    /// The canonical text: a header comment, then TOML with sorted tables.
    pub fn to_text(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!("# This file is written by airlock. Do not edit it by hand.\n{body}")
    }

    /// Why `self` (the lock on disk) does not describe `wanted`, if it does not.
    pub fn staleness(&self, wanted: &Lockfile) -> Option<String> {
        if self.base.reference != wanted.base.reference {
            return Some(format!(
                "the base changed from `{}` to `{}`",
                self.base.reference, wanted.base.reference
            ));
        }
        if self.base.manifest != wanted.base.manifest {
            return Some(format!(
                "`{}` now resolves to `{}`, the lock has `{}`",
                wanted.base.reference, wanted.base.manifest, self.base.manifest
            ));
        }
        for name in self.inputs.keys().chain(wanted.inputs.keys()) {
            if self.inputs.get(name) != wanted.inputs.get(name) {
                return Some(format!("`{name}` changed"));
            }
        }
        super::images::images_staleness(&self.images, &wanted.images)
    }

    /// Writes the lock atomically, only when its text changes.
    pub fn write(&self, path: &Path) -> Result<bool, LockError> {
        let text = self.to_text();
        if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
            return Ok(false);
        }
        let err = |source| LockError::Write {
            path: path.to_path_buf(),
            source,
        };
        crate::atomic_file::write(path, text.as_bytes()).map_err(err)?;
        Ok(true)
    }

    /// [`Lockfile::write`] with the temp file in `staging`: the lock sits in the
    /// project, whose every file goes into the image, so a killed write must not leave
    /// its temp file beside it.
    pub(crate) fn write_staged(&self, path: &Path, staging: &Path) -> Result<bool, LockError> {
        let text = self.to_text();
        if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
            return Ok(false);
        }
        crate::atomic_file::write_staged(path, text.as_bytes(), staging).map_err(|source| {
            LockError::Write {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Ok(true)
    }
}

impl crate::hint::Hint for LockError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Stale { .. } => vec![
                "run `airlock lock` to update it, then commit `airlock.lock` (`git add airlock.lock && git commit`)".into(),
            ],
            Self::Read { .. }
            | Self::Parse { .. }
            | Self::Version { .. }
            | Self::Write { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(manifest: &[u8], req: &[u8]) -> Lockfile {
        Lockfile::new(
            LockedBase {
                reference: "example/runtime:1".into(),
                manifest: Digest::of(manifest),
            },
            BTreeMap::from([("requirements.txt".to_string(), Digest::of(req))]),
        )
    }

    #[test]
    fn round_trips_and_detects_staleness() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(LOCK_FILE);
        let a = lock(b"m", b"r");
        assert!(a.write(&path).expect("write"));
        assert!(!a.write(&path).expect("unchanged"));
        let read = Lockfile::read(&path).expect("read").expect("present");
        assert_eq!(read, a);
        assert_eq!(read.staleness(&a), None);
        assert!(
            read.staleness(&lock(b"m2", b"r"))
                .is_some_and(|r| r.contains("resolves"))
        );
        assert!(
            read.staleness(&lock(b"m", b"r2"))
                .is_some_and(|r| r.contains("requirements.txt"))
        );
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(LOCK_FILE);
        std::fs::write(&path, "version = 99\n").expect("write");
        assert!(matches!(
            Lockfile::read(&path),
            Err(LockError::Version { found: 99, .. })
        ));
        std::fs::write(&path, "not toml [").expect("write");
        assert!(matches!(
            Lockfile::read(&path),
            Err(LockError::Parse { .. })
        ));
    }
}
