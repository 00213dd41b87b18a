//! DAG bundles: the DAG folder as a deterministic tar.gz, pushed as an OCI artifact.
//!
//! The tar comes from the one layer writer (`layer::build_layer`), so a bundle gets
//! the same normalization and the pinned compressor: the same DAGs give the same
//! blob and the same artifact digest, on any machine. Entries are relative to the
//! DAG folder, owned by root, mtime 0; `.git` and `__pycache__` never travel, and
//! symlinks must lead inside the folder, the links on their way followed.

use super::DeployError;
use super::record::artifact_manifest;
use crate::confine::{Node, resolve_link};
use crate::digest::Digest;
use crate::layer::{Entry, EntryKind, FileSource, FileTree, Owner, build_layer, normalize_mode};
use crate::oci::{descriptor, empty_descriptor};
use crate::project::{DAGS_DIR, WalkedEntry, WalkedKind};
use crate::store::Store;

/// `artifactType` of DAG bundle manifests.
pub const BUNDLE_ARTIFACT_TYPE: &str = "application/vnd.airlock.dag-bundle.v1";
/// Media type of the bundle's one layer.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.airlock.dag-bundle.v1.tar+gzip";

/// Directory names that never go into a bundle.
const NEVER_BUNDLED: [&str; 2] = [".git", "__pycache__"];

/// A bundle built into the store.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The artifact manifest's digest: the bundle's identity.
    pub digest: Digest,
    pub manifest: Vec<u8>,
    pub blob: Digest,
    pub size: u64,
    pub files: usize,
}

/// The bundle tree of the walked DAG folder (entries named `dags/...`).
pub fn bundle_tree(entries: &[WalkedEntry]) -> Result<FileTree, DeployError> {
    let mut tree = FileTree::new();
    let mut links = Vec::new();
    let prefix = format!("{DAGS_DIR}/");
    for entry in entries {
        let Some(path) = entry.rel.strip_prefix(&prefix) else {
            continue;
        };
        if path.split('/').any(|part| NEVER_BUNDLED.contains(&part)) {
            continue;
        }
        let (kind, host_mode) = match &entry.kind {
            WalkedKind::Dir => (EntryKind::Dir, 0o755),
            WalkedKind::File {
                size,
                sha256,
                executable,
            } => (
                EntryKind::File {
                    source: FileSource::Host(entry.host.clone()),
                    size: *size,
                    sha256: sha256.clone(),
                },
                if *executable { 0o755 } else { 0o644 },
            ),
            WalkedKind::Symlink { target } => {
                links.push((path, target, &entry.rel));
                (
                    EntryKind::Symlink {
                        target: target.clone(),
                    },
                    0o777,
                )
            }
        };
        let mode = normalize_mode(&kind, host_mode);
        tree.insert(
            path,
            Entry {
                kind,
                mode,
                owner: Owner::ROOT,
            },
        )?;
    }
    // Each link must lead inside the DAG folder as it ships, links on the way followed.
    for (path, target, rel) in links {
        let lookup = |at: &str| match tree.get(at).map(|e| &e.kind) {
            Some(EntryKind::Dir) => Node::Dir,
            Some(EntryKind::Symlink { target }) => Node::Symlink(target.clone()),
            Some(_) => Node::File,
            None => Node::Missing,
        };
        if let Err(error) = resolve_link(path, target, lookup) {
            return Err(DeployError::UnsafeLink {
                path: rel.clone(),
                target: target.clone(),
                reason: error.reason(),
            });
        }
    }
    Ok(tree)
}

/// Builds the bundle of the walked DAG folder into the store (or finds it there).
pub fn build_bundle(store: &Store, entries: &[WalkedEntry]) -> Result<Bundle, DeployError> {
    let tree = bundle_tree(entries)?;
    let files = tree
        .iter()
        .filter(|(_, e)| matches!(e.kind, EntryKind::File { .. }))
        .count();
    let (record, _) = build_layer(store, &tree, "dag-bundle", 0)?;
    let manifest = artifact_manifest(
        BUNDLE_ARTIFACT_TYPE,
        empty_descriptor(),
        vec![descriptor(
            BUNDLE_MEDIA_TYPE,
            record.digest.clone(),
            record.size,
        )],
    );
    Ok(Bundle {
        digest: Digest::of(&manifest),
        manifest,
        blob: record.digest,
        size: record.size,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(rel: &str, target: &str) -> WalkedEntry {
        WalkedEntry {
            rel: rel.to_string(),
            host: std::path::PathBuf::new(),
            kind: WalkedKind::Symlink {
                target: target.to_string(),
            },
        }
    }

    fn dir(rel: &str) -> WalkedEntry {
        WalkedEntry {
            rel: rel.to_string(),
            host: std::path::PathBuf::new(),
            kind: WalkedKind::Dir,
        }
    }

    #[test]
    fn symlinks_must_stay_inside() {
        let ok = |entries: &[WalkedEntry]| bundle_tree(entries).is_ok();
        assert!(ok(&[dir("dags"), link("dags/a.py", "b.py")]));
        assert!(ok(&[
            dir("dags"),
            dir("dags/sub"),
            link("dags/sub/a.py", "../b.py")
        ]));
        assert!(!ok(&[dir("dags"), link("dags/a.py", "../b.py")]));
        assert!(!ok(&[
            dir("dags"),
            dir("dags/sub"),
            link("dags/sub/a.py", "../../b.py")
        ]));
        assert!(!ok(&[dir("dags"), link("dags/a.py", "/etc/passwd")]));
    }

    #[test]
    fn symlink_through_dot_link_is_refused() {
        let err = bundle_tree(&[
            dir("dags"),
            link("dags/s", "."),
            link("dags/x", "s/s/s/../../.."),
        ])
        .expect_err("refused");
        assert!(
            matches!(err, DeployError::UnsafeLink { ref path, .. } if path == "dags/x"),
            "{err}"
        );
    }
}
