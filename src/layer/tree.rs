//! The file tree of one layer: normalized entries, sorted, with their owners.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error(
        "Invalid path `{0}` in a layer: paths must be relative, without `.`, `..` or empty components"
    )]
    InvalidPath(String),
    #[error("`{path}` is added twice to the same layer")]
    Duplicate { path: String },
}

/// Numeric owner of an entry; names never reach a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    pub const ROOT: Owner = Owner { uid: 0, gid: 0 };
}

/// Where a regular file's bytes come from.
#[derive(Debug, Clone)]
pub enum FileSource {
    /// A host file, expected to still hash to `sha256` when the layer is written.
    Host(PathBuf),
    Bytes(Arc<[u8]>),
    /// Bytes made when the tar writer reaches the entry (a member of an archive, say),
    /// read in bounded buffers, never whole in memory; the source checks them.
    Lazy(Arc<dyn LazyFile>),
}

/// A file whose bytes are read only when its entry is written (see
/// [`FileSource::Lazy`]).
pub trait LazyFile: std::fmt::Debug + Send + Sync {
    /// Calls `read` once with a reader of the file's bytes (the entry's size of them),
    /// checked as they are read: an error of the reader, or of a check after its last
    /// byte, fails the entry, and with it the layer being written (before anything of
    /// it is committed to the store).
    fn read_with(&self, read: &mut dyn FnMut(&mut dyn Read) -> io::Result<()>) -> io::Result<()>;
}

/// The bytes of a lazy file read whole, for a reader that needs them all at once.
pub(crate) fn read_whole(lazy: &dyn LazyFile) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    lazy.read_with(&mut |reader| reader.read_to_end(&mut bytes).map(drop))?;
    Ok(bytes)
}

#[derive(Debug, Clone)]
pub enum EntryKind {
    Dir,
    File {
        source: FileSource,
        size: u64,
        sha256: Digest,
    },
    Symlink {
        target: String,
    },
    /// A hard link to an earlier entry of the same layer (path relative to the root).
    Hardlink {
        target: String,
    },
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: EntryKind,
    /// Permission bits only (no file type bits).
    pub mode: u32,
    pub owner: Owner,
}

/// A layer's content: entries keyed by their relative path, iterated bytewise sorted,
/// which puts every parent before its children.
#[derive(Debug, Clone, Default)]
pub struct FileTree {
    entries: BTreeMap<String, Entry>,
}

/// Normalized permission bits: directories and executables 0755, other files 0644,
/// symlinks 0777. Setuid, setgid and sticky bits are dropped.
pub(crate) fn normalize_mode(kind: &EntryKind, host_mode: u32) -> u32 {
    match kind {
        EntryKind::Dir => 0o755,
        EntryKind::Symlink { .. } => 0o777,
        EntryKind::File { .. } | EntryKind::Hardlink { .. } => {
            if host_mode & 0o111 != 0 {
                0o755
            } else {
                0o644
            }
        }
    }
}

pub(crate) fn check_path(path: &str) -> Result<(), TreeError> {
    let valid = !path.is_empty()
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if valid {
        Ok(())
    } else {
        Err(TreeError::InvalidPath(path.to_string()))
    }
}

impl FileTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(path)
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// Adds an entry; the path is relative to the image root (`usr/local/airflow/x`).
    pub fn insert(&mut self, path: &str, entry: Entry) -> Result<(), TreeError> {
        check_path(path)?;
        if self.entries.insert(path.to_string(), entry).is_some() {
            return Err(TreeError::Duplicate {
                path: path.to_string(),
            });
        }
        Ok(())
    }

    /// Adds a directory entry for every missing ancestor of every entry, with the
    /// metadata `parent_meta` gives for that path (e.g. copied from the base image).
    pub fn add_parents(&mut self, parent_meta: impl Fn(&str) -> (u32, Owner)) {
        let mut missing = Vec::new();
        for path in self.entries.keys() {
            let mut end = 0;
            while let Some(pos) = path[end..].find('/') {
                end += pos;
                let parent = &path[..end];
                if !self.entries.contains_key(parent) {
                    missing.push(parent.to_string());
                }
                end += 1;
            }
        }
        for parent in missing {
            let (mode, owner) = parent_meta(&parent);
            self.entries.entry(parent).or_insert(Entry {
                kind: EntryKind::Dir,
                mode,
                owner,
            });
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The derivation key: a hash of the layer kind, the builder's format version and
    /// every entry's path, type, mode, owner and content hash (or link target).
    pub fn derivation_key(&self, kind: &str, mtime: u64) -> Digest {
        self.derivation_key_with(kind, mtime, super::Compression::Gzip)
    }

    /// [`FileTree::derivation_key`] of the layer compressed as `compression`.
    pub fn derivation_key_with(
        &self,
        kind: &str,
        mtime: u64,
        compression: super::Compression,
    ) -> Digest {
        let mut h = Sha256::new();
        h.update(format!(
            "airlock-layer\0v{}\0{kind}\0{mtime}\0{}",
            super::FORMAT_VERSION,
            compression.key_part()
        ));
        for (path, entry) in &self.entries {
            h.update(path.as_bytes());
            h.update(b"\0");
            let (tag, detail) = match &entry.kind {
                EntryKind::Dir => ("d", String::new()),
                EntryKind::File { sha256, size, .. } => ("f", format!("{sha256}:{size}")),
                EntryKind::Symlink { target } => ("l", target.clone()),
                EntryKind::Hardlink { target } => ("h", target.clone()),
            };
            h.update(format!(
                "{tag}\0{:o}\0{}\0{}\0{detail}\0",
                entry.mode, entry.owner.uid, entry.owner.gid
            ));
        }
        Digest::from_sha256(h.finalize().into())
    }
}

impl crate::hint::Hint for TreeError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::InvalidPath(..) | Self::Duplicate { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(bytes: &[u8]) -> Entry {
        Entry {
            kind: EntryKind::File {
                source: FileSource::Bytes(Arc::from(bytes)),
                size: bytes.len() as u64,
                sha256: Digest::of(bytes),
            },
            mode: 0o644,
            owner: Owner::ROOT,
        }
    }

    #[test]
    fn parents_are_added_and_sorted_first() {
        let mut tree = FileTree::new();
        tree.insert("a/b/c.txt", file(b"x")).expect("insert");
        tree.insert("a-b", file(b"y")).expect("insert");
        tree.add_parents(|_| (0o700, Owner { uid: 5, gid: 6 }));
        let paths: Vec<_> = tree.iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["a", "a-b", "a/b", "a/b/c.txt"]);
        let (_, a) = tree.iter().next().expect("first");
        assert_eq!(a.mode, 0o700);
        assert_eq!(a.owner, Owner { uid: 5, gid: 6 });
    }

    #[test]
    fn rejects_bad_paths_and_duplicates() {
        let mut tree = FileTree::new();
        for bad in ["", "/abs", "a/../b", "./a", "a//b"] {
            assert!(tree.insert(bad, file(b"")).is_err(), "{bad}");
        }
        tree.insert("a", file(b"")).expect("insert");
        assert!(matches!(
            tree.insert("a", file(b"")),
            Err(TreeError::Duplicate { .. })
        ));
    }

    #[test]
    fn key_changes_with_content_mode_and_owner() {
        let base = {
            let mut t = FileTree::new();
            t.insert("f", file(b"one")).expect("insert");
            t
        };
        let key = base.derivation_key("dags", 0);
        assert_eq!(key, base.clone().derivation_key("dags", 0));
        assert_ne!(key, base.derivation_key("project", 0));
        assert_ne!(key, base.derivation_key("dags", 1));
        let mut changed = FileTree::new();
        changed.insert("f", file(b"two")).expect("insert");
        assert_ne!(key, changed.derivation_key("dags", 0));
        let mut moded = FileTree::new();
        let mut e = file(b"one");
        e.mode = 0o755;
        moded.insert("f", e).expect("insert");
        assert_ne!(key, moded.derivation_key("dags", 0));
        let mut owned = FileTree::new();
        let mut e = file(b"one");
        e.owner.uid = 1;
        owned.insert("f", e).expect("insert");
        assert_ne!(key, owned.derivation_key("dags", 0));
    }

    #[test]
    fn modes_are_normalized() {
        let f = file(b"").kind;
        assert_eq!(normalize_mode(&f, 0o100700), 0o755);
        assert_eq!(normalize_mode(&f, 0o4640), 0o644);
        assert_eq!(normalize_mode(&EntryKind::Dir, 0o700), 0o755);
    }
}
