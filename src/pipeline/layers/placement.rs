//! Turns walked project entries into layer trees placed under the image's workdir.

use crate::image::BaseFacts;
use crate::layer::{Entry, EntryKind, FileSource, FileTree, Owner, TreeError, normalize_mode};
use crate::project::{WalkedEntry, WalkedKind};

/// Where and as whom project files land.
pub(super) struct Placement<'a> {
    /// Absolute directory in the image (the base's `WORKDIR`).
    pub workdir: &'a str,
    pub owner: Owner,
    pub facts: &'a BaseFacts,
}

impl Placement<'_> {
    fn prefix(&self) -> &str {
        self.workdir.trim_matches('/')
    }

    fn image_path(&self, rel: &str) -> String {
        let prefix = self.prefix();
        if prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{prefix}/{rel}")
        }
    }

    /// Metadata for a directory the layer must carry as a parent: inside the workdir
    /// it belongs to the project owner; above it, it is copied from the base.
    fn parent_meta(&self, path: &str) -> (u32, Owner) {
        let prefix = self.prefix();
        let inside = !prefix.is_empty()
            && path.len() > prefix.len()
            && path.starts_with(prefix)
            && path.as_bytes()[prefix.len()] == b'/';
        if inside || prefix.is_empty() {
            return (0o755, self.owner);
        }
        self.facts.parent_dir(path)
    }

    /// The layer tree for `entries`, with every parent directory present.
    pub(super) fn tree(&self, entries: &[WalkedEntry]) -> Result<FileTree, TreeError> {
        let mut tree = FileTree::new();
        for walked in entries {
            let kind = match &walked.kind {
                WalkedKind::Dir => EntryKind::Dir,
                WalkedKind::File { size, sha256, .. } => EntryKind::File {
                    source: FileSource::Host(walked.host.clone()),
                    size: *size,
                    sha256: sha256.clone(),
                },
                WalkedKind::Symlink { target } => EntryKind::Symlink {
                    target: target.clone(),
                },
            };
            let host_mode = match &walked.kind {
                WalkedKind::File {
                    executable: true, ..
                } => 0o755,
                _ => 0o644,
            };
            let mode = normalize_mode(&kind, host_mode);
            tree.insert(
                &self.image_path(&walked.rel),
                Entry {
                    kind,
                    mode,
                    owner: self.owner,
                },
            )?;
        }
        if !tree.is_empty() {
            tree.add_parents(|path| self.parent_meta(path));
        }
        Ok(tree)
    }
}
