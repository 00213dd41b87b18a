//! `ADD` of a local tar archive: what kind it is by its first bytes, and its entries
//! read into memory, confined (no absolute paths, no `..`, no device nodes; hard links
//! only to earlier entries).

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
}

/// One entry of an archive.
pub(in crate::pipeline) enum ArchiveEntry {
    Entry(SourceEntry),
    /// A hard link to an earlier entry (path relative to the archive root).
    Hardlink(String),
}

/// The archive kind of a file starting with `head` (up to 512 bytes); `None` for a
/// file `ADD` copies as it is. A bzip2 archive is refused (airlock has no bzip2
/// reader), rather than copied unextracted.
pub(in crate::pipeline) fn archive_kind(head: &[u8]) -> Result<Option<ArchiveKind>, String> {
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Some(ArchiveKind::Gzip));
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Ok(Some(ArchiveKind::Xz));
    }
    if head.starts_with(b"BZh") && head.len() > 3 && head[3].is_ascii_digit() {
        return Err(
            "adds a bzip2 archive, which airlock cannot extract; recompress it with gzip or xz"
                .into(),
        );
    }
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return Ok(Some(ArchiveKind::Plain));
    }
    Ok(None)
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
    };
    let mut archive = tar::Archive::new(reader);
    let broken = |e: std::io::Error| format!("has an archive airlock cannot read: {e}");
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
                return Err(format!("has an archive whose link `{raw}` has no target"));
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
                        return Err(format!(
                            "has an archive whose hard link `{raw}` names its root"
                        ));
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
                    "has an archive with `{raw}`, a {other:?} entry; airlock extracts files, directories and links only"
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
        return Err(format!("has an archive with the absolute path `{raw}`"));
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(format!(
                    "has an archive with the path `{raw}`, which climbs out with `..`"
                ));
            }
            other => parts.push(other),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}
