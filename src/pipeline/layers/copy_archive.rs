//! `ADD` of a local tar archive (plain, gzip, xz or bzip2): what kind it is by its
//! first bytes, and its entries read into memory, confined (no absolute paths, no
//! `..`, no device nodes; hard links only to earlier entries). The messages are
//! clauses about the archive, which the caller names.

use std::io::Read;
use std::sync::Arc;

use super::copy_step::SourceEntry;
use crate::digest::Digest;
use crate::layer::FileSource;

/// The archives `ADD` extracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::pipeline) enum ArchiveKind {
    Plain,
    Gzip,
    Xz,
    Bzip2,
}

/// One entry of an archive.
pub(in crate::pipeline) enum ArchiveEntry {
    Entry(SourceEntry),
    /// A hard link to an earlier entry (path relative to the archive root).
    Hardlink(String),
}

/// The archive kind of a file starting with `head` (up to 512 bytes); `None` for a
/// file `ADD` copies as it is.
pub(in crate::pipeline) fn archive_kind(head: &[u8]) -> Option<ArchiveKind> {
    if head.starts_with(&[0x1f, 0x8b]) {
        return Some(ArchiveKind::Gzip);
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Some(ArchiveKind::Xz);
    }
    // `BZh` and the block size, 1 to 9 (hundreds of kB).
    if head.starts_with(b"BZh") && head.len() > 3 && (b'1'..=b'9').contains(&head[3]) {
        return Some(ArchiveKind::Bzip2);
    }
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return Some(ArchiveKind::Plain);
    }
    None
}

/// The archive's entries, in archive order, paths relative to its root.
pub(in crate::pipeline) fn read_archive(
    reader: Box<dyn Read>,
    kind: ArchiveKind,
) -> Result<Vec<(String, ArchiveEntry)>, String> {
    let reader: Box<dyn Read> = match kind {
        ArchiveKind::Plain => reader,
        ArchiveKind::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        ArchiveKind::Xz => Box::new(lzma_rust2::XzReader::new(reader, true)),
        // Several streams one after the other (as parallel bzip2 tools write) are one
        // archive, as GNU tar reads them.
        ArchiveKind::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(reader)),
    };
    let mut archive = tar::Archive::new(reader);
    let broken = |e: std::io::Error| format!("which airlock cannot read: {e}");
    let mut out = Vec::new();
    for entry in archive.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(path) = member_path(&raw)? else {
            continue;
        };
        let header = entry.header();
        let link = || -> Result<String, String> {
            let target = entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            if target.is_empty() {
                return Err(format!("whose link `{raw}` has no target"));
            }
            Ok(target)
        };
        let item = match header.entry_type() {
            tar::EntryType::Directory => ArchiveEntry::Entry(SourceEntry::Dir),
            tar::EntryType::Symlink => ArchiveEntry::Entry(SourceEntry::Symlink(link()?)),
            tar::EntryType::Link => {
                let target = link()?;
                match member_path(&target)? {
                    Some(target) => ArchiveEntry::Hardlink(target),
                    None => {
                        return Err(format!("whose hard link `{raw}` names its root"));
                    }
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let executable = header.mode().unwrap_or(0o644) & 0o111 != 0;
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).map_err(broken)?;
                ArchiveEntry::Entry(SourceEntry::File {
                    size: bytes.len() as u64,
                    sha256: Digest::of(&bytes),
                    source: FileSource::Bytes(Arc::from(bytes)),
                    executable,
                })
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
            other => {
                return Err(format!(
                    "with `{raw}`, a {other:?} entry; airlock extracts files, directories and links only"
                ));
            }
        };
        out.push((path, item));
    }
    Ok(out)
}

/// A member path made relative (`./` dropped); `None` for the archive root; refused
/// when absolute or climbing with `..`.
fn member_path(raw: &str) -> Result<Option<String>, String> {
    if raw.starts_with('/') {
        return Err(format!("with the absolute path `{raw}`"));
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(format!("with the path `{raw}`, which climbs out with `..`"));
            }
            other => parts.push(other),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}
