//! Reading `.deb` files: the `ar` container, `debian-binary`, the control archive
//! (control paragraph, md5sums, conffiles, maintainer scripts) and a streaming walk
//! of the data archive. Every data entry is checked for confinement before the
//! caller sees it. Pure apart from the `Read` it is given: it never touches the
//! filesystem and never runs a script.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};

use super::control::{ControlError, Paragraph, paragraphs};

/// Largest control archive (decompressed members included) read into memory.
const MAX_CONTROL_BYTES: u64 = 64 << 20;

/// Why a `.deb` was refused.
#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error("Reading the `.deb` failed")]
    Io(#[from] io::Error),
    #[error("Not a `.deb`: the `ar` signature is missing")]
    NotAr,
    #[error("Not a `.deb`: malformed `ar` member header ({reason})")]
    BadMemberHeader { reason: &'static str },
    #[error("Not a `.deb`: expected member `{expected}`, found `{found}`")]
    UnexpectedMember {
        expected: &'static str,
        found: String,
    },
    #[error("Not a `.deb`: member `{0}` is missing")]
    MissingMember(&'static str),
    #[error("Unsupported `.deb` format version `{0}`; only 2.x is supported")]
    UnsupportedFormat(String),
    #[error("Member `{0}` uses a compression that is not supported (use none, gzip, xz or zstd)")]
    UnsupportedCompression(String),
    #[error("Member `{member}` could not be decompressed: {reason}")]
    Decompress { member: String, reason: String },
    #[error("The control archive is larger than {MAX_CONTROL_BYTES} bytes")]
    ControlTooLarge,
    #[error("The control archive has no `control` file")]
    MissingControlFile,
    #[error("The `control` file is malformed")]
    Control(#[from] ControlError),
    #[error("The `control` file holds no paragraph")]
    EmptyControl,
    #[error("Path `{path}` is refused: {reason}")]
    BadPath { path: String, reason: &'static str },
    #[error("Symlink `{path}` points to `{target}`, outside the image root")]
    SymlinkEscape { path: String, target: String },
    #[error("Entry `{path}` is a {kind}; device nodes, FIFOs and sockets are refused")]
    SpecialFile { path: String, kind: &'static str },
    #[error("Entry `{path}` has an unsupported tar type `{kind}`")]
    UnsupportedEntry { path: String, kind: char },
}

/// A path inside the image root: relative, `/`-separated, without `.`, `..` or
/// empty components. The root itself is the empty path.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct NormalizedPath(String);

impl NormalizedPath {
    /// The relative form, e.g. `usr/bin/git` (empty for the root).
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The parent directory; `None` for the root.
    #[cfg(test)]
    fn parent(&self) -> Option<NormalizedPath> {
        if self.is_root() {
            return None;
        }
        Some(NormalizedPath(
            self.0.rsplit_once('/').map_or("", |(p, _)| p).to_owned(),
        ))
    }
}

impl fmt::Display for NormalizedPath {
    /// Shown as an absolute path inside the image, e.g. `/usr/bin/git`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0)
    }
}

impl fmt::Debug for NormalizedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Normalises an archive member path (`./usr/bin/git` → `usr/bin/git`) and refuses
/// anything that could leave the image root: absolute paths, `..` components (even
/// ones that would stay inside), NUL bytes.
pub(super) fn check_member_path(path: &str) -> Result<NormalizedPath, DebError> {
    let bad = |reason| DebError::BadPath {
        path: path.to_owned(),
        reason,
    };
    if path.contains('\0') {
        return Err(bad("it contains a NUL byte"));
    }
    if path.starts_with('/') {
        return Err(bad("it is absolute"));
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(bad("it contains `..`")),
            c => parts.push(c),
        }
    }
    Ok(NormalizedPath(parts.join("/")))
}

/// Resolves a symlink target lexically from the link's location (absolute targets
/// from the image root, as inside the container) and refuses targets whose `..`
/// climb above the root. Returns the resolved path. Symlinks met along the way are
/// not followed: the confined extraction handle guards those at write time.
pub(super) fn check_symlink_target(
    link: &NormalizedPath,
    target: &str,
) -> Result<NormalizedPath, DebError> {
    let escape = || DebError::SymlinkEscape {
        path: link.to_string(),
        target: target.to_owned(),
    };
    if target.is_empty() || target.contains('\0') {
        return Err(DebError::BadPath {
            path: link.to_string(),
            reason: "its symlink target is empty or contains a NUL byte",
        });
    }
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        if link.is_root() {
            return Err(escape());
        }
        let parent = link.0.rsplit_once('/').map_or("", |(p, _)| p);
        parent.split('/').filter(|c| !c.is_empty()).collect()
    };
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(escape());
                }
            }
            c => parts.push(c),
        }
    }
    Ok(NormalizedPath(parts.join("/")))
}

/// A line of `md5sums`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Md5Sum {
    pub md5: String,
    /// As written, relative to the root (e.g. `usr/bin/git`).
    pub path: String,
}

/// A line of `conffiles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conffile {
    /// Absolute path in the image, as written.
    pub path: String,
    /// Flags written before the path, such as `remove-on-upgrade`.
    pub flags: Vec<String>,
}

/// What the control archive holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ControlInfo {
    /// Contents of `debian-binary`, trimmed (e.g. `2.0`).
    pub format_version: String,
    /// The `control` file text.
    pub control: String,
    pub md5sums: Vec<Md5Sum>,
    pub conffiles: Vec<Conffile>,
    /// Maintainer scripts (`preinst`, `postinst`, `prerm`, `postrm`, `config`) by
    /// name; never run, kept so callers can report what was skipped.
    pub scripts: BTreeMap<String, String>,
    /// Every other control member (`triggers`, `shlibs`, `symbols`, `templates`...).
    pub other: BTreeMap<String, Vec<u8>>,
}

impl ControlInfo {
    /// The package's control paragraph.
    pub(crate) fn paragraph(&self) -> Result<Paragraph<'_>, DebError> {
        paragraphs(&self.control)
            .next()
            .ok_or(DebError::EmptyControl)?
            .map_err(DebError::from)
    }
}

/// The kind of a data archive entry. Devices, FIFOs and sockets never get this far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DataKind {
    File,
    Dir,
    Symlink,
    Hardlink,
}

/// One entry of the data archive; reading it yields a regular file's contents.
pub(crate) struct DataEntry<'a> {
    pub path: NormalizedPath,
    pub kind: DataKind,
    /// Permission bits including setuid/setgid/sticky (`0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Content size; 0 for anything but files.
    pub size: u64,
    /// Symlink target as written (checked not to escape), or the normalised path a
    /// hardlink points to.
    pub link_target: Option<String>,
    reader: &'a mut dyn Read,
}

impl Read for DataEntry<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl fmt::Debug for DataEntry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataEntry")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("mode", &format_args!("{:o}", self.mode))
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("size", &self.size)
            .field("link_target", &self.link_target)
            .finish()
    }
}

/// An open `.deb` whose control part has been read; the data part is walked once
/// with [`Deb::for_each_data_entry`].
pub(crate) struct Deb<R: Read> {
    reader: R,
    control: ControlInfo,
}

struct MemberHeader {
    name: String,
    size: u64,
}

impl<R: Read> Deb<R> {
    /// Reads the `ar` signature, `debian-binary` and the control archive.
    pub(crate) fn new(mut reader: R) -> Result<Self, DebError> {
        let mut magic = [0u8; 8];
        reader.read_exact(&mut magic).map_err(|_| DebError::NotAr)?;
        if &magic != b"!<arch>\n" {
            return Err(DebError::NotAr);
        }
        let binary = next_member(&mut reader)?.ok_or(DebError::MissingMember("debian-binary"))?;
        if binary.name != "debian-binary" {
            return Err(DebError::UnexpectedMember {
                expected: "debian-binary",
                found: binary.name,
            });
        }
        let bytes = read_member(&mut reader, &binary, 1024)?;
        let format_version = String::from_utf8_lossy(&bytes).trim().to_owned();
        if !format_version.starts_with("2.") {
            return Err(DebError::UnsupportedFormat(format_version));
        }
        let control_member = loop {
            let m = next_member(&mut reader)?.ok_or(DebError::MissingMember("control.tar"))?;
            if m.name.starts_with('_') {
                skip_member(&mut reader, &m)?;
                continue;
            }
            if !m.name.starts_with("control.tar") {
                return Err(DebError::UnexpectedMember {
                    expected: "control.tar",
                    found: m.name,
                });
            }
            break m;
        };
        let compressed = read_member(&mut reader, &control_member, MAX_CONTROL_BYTES)?;
        let control = read_control_archive(&control_member.name, &compressed, format_version)?;
        Ok(Deb { reader, control })
    }

    pub(crate) fn control(&self) -> &ControlInfo {
        &self.control
    }

    /// Streams the data archive, calling `f` for every entry in archive order after
    /// checking it for confinement. Returns the control information for convenience.
    pub(crate) fn for_each_data_entry<F, E>(mut self, mut f: F) -> Result<ControlInfo, E>
    where
        F: FnMut(DataEntry<'_>) -> Result<(), E>,
        E: From<DebError>,
    {
        let member = loop {
            let m = next_member(&mut self.reader)?.ok_or(DebError::MissingMember("data.tar"))?;
            if m.name.starts_with('_') {
                skip_member(&mut self.reader, &m)?;
                continue;
            }
            if !m.name.starts_with("data.tar") {
                return Err(DebError::UnexpectedMember {
                    expected: "data.tar",
                    found: m.name,
                }
                .into());
            }
            break m;
        };
        let limited = (&mut self.reader).take(member.size);
        let decoder = decompressor(&member.name, limited)?;
        let mut archive = tar::Archive::new(decoder);
        let entries = archive
            .entries()
            .map_err(|e| decompress_error(&member.name, &e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| decompress_error(&member.name, &e))?;
            let path_text = String::from_utf8(entry.path_bytes().into_owned()).map_err(|_| {
                DebError::BadPath {
                    path: String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
                    reason: "it is not UTF-8",
                }
            })?;
            let path = check_member_path(&path_text)?;
            let header = entry.header();
            let entry_type = header.entry_type();
            let kind = match entry_type {
                tar::EntryType::Regular | tar::EntryType::Continuous => DataKind::File,
                tar::EntryType::Directory => DataKind::Dir,
                tar::EntryType::Symlink => DataKind::Symlink,
                tar::EntryType::Link => DataKind::Hardlink,
                tar::EntryType::Char => return Err(special(&path, "character device").into()),
                tar::EntryType::Block => return Err(special(&path, "block device").into()),
                tar::EntryType::Fifo => return Err(special(&path, "FIFO").into()),
                other => {
                    return Err(DebError::UnsupportedEntry {
                        path: path.to_string(),
                        kind: char::from(other.as_byte()),
                    }
                    .into());
                }
            };
            let link_target = match kind {
                DataKind::Symlink | DataKind::Hardlink => {
                    let raw = entry.link_name_bytes().ok_or_else(|| DebError::BadPath {
                        path: path.to_string(),
                        reason: "its link has no target",
                    })?;
                    let target =
                        String::from_utf8(raw.into_owned()).map_err(|_| DebError::BadPath {
                            path: path.to_string(),
                            reason: "its link target is not UTF-8",
                        })?;
                    if kind == DataKind::Symlink {
                        check_symlink_target(&path, &target)?;
                        Some(target)
                    } else {
                        Some(check_member_path(&target)?.as_str().to_owned())
                    }
                }
                _ => None,
            };
            let bad_header = |e: io::Error| decompress_error(&member.name, &e);
            let mode = header.mode().map_err(bad_header)? & 0o7777;
            let uid = header.uid().map_err(bad_header)?;
            let gid = header.gid().map_err(bad_header)?;
            let size = if kind == DataKind::File {
                entry.size()
            } else {
                0
            };
            f(DataEntry {
                path,
                kind,
                mode,
                uid,
                gid,
                size,
                link_target,
                reader: &mut entry,
            })?;
        }
        Ok(self.control)
    }
}

fn special(path: &NormalizedPath, kind: &'static str) -> DebError {
    DebError::SpecialFile {
        path: path.to_string(),
        kind,
    }
}

fn decompress_error(member: &str, e: &io::Error) -> DebError {
    DebError::Decompress {
        member: member.to_owned(),
        reason: e.to_string(),
    }
}

/// Reads the next `ar` member header; `None` at a clean end of the archive.
fn next_member(r: &mut impl Read) -> Result<Option<MemberHeader>, DebError> {
    let mut header = [0u8; 60];
    let mut filled = 0;
    while filled < header.len() {
        let n = r.read(&mut header[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    if filled == 0 {
        return Ok(None);
    }
    if filled < header.len() {
        return Err(DebError::BadMemberHeader {
            reason: "truncated",
        });
    }
    if &header[58..60] != b"`\n" {
        return Err(DebError::BadMemberHeader {
            reason: "bad terminator",
        });
    }
    let name = std::str::from_utf8(&header[..16])
        .map_err(|_| DebError::BadMemberHeader {
            reason: "name is not UTF-8",
        })?
        .trim_end_matches(' ');
    let name = name.strip_suffix('/').unwrap_or(name).to_owned();
    let size = std::str::from_utf8(&header[48..58])
        .ok()
        .and_then(|s| s.trim_end_matches(' ').parse::<u64>().ok())
        .ok_or(DebError::BadMemberHeader { reason: "bad size" })?;
    Ok(Some(MemberHeader { name, size }))
}

/// Reads a whole member (at most `limit` bytes) and its padding byte.
fn read_member(r: &mut impl Read, m: &MemberHeader, limit: u64) -> Result<Vec<u8>, DebError> {
    if m.size > limit {
        return Err(DebError::ControlTooLarge);
    }
    let mut buf = Vec::new();
    r.take(m.size).read_to_end(&mut buf)?;
    if (buf.len() as u64) < m.size {
        return Err(DebError::BadMemberHeader {
            reason: "member is truncated",
        });
    }
    skip_padding(r, m)?;
    Ok(buf)
}

fn skip_member(r: &mut impl Read, m: &MemberHeader) -> Result<(), DebError> {
    let copied = io::copy(&mut r.take(m.size), &mut io::sink())?;
    if copied < m.size {
        return Err(DebError::BadMemberHeader {
            reason: "member is truncated",
        });
    }
    skip_padding(r, m)
}

fn skip_padding(r: &mut impl Read, m: &MemberHeader) -> Result<(), DebError> {
    if m.size % 2 == 1 {
        let mut pad = [0u8; 1];
        // A missing final padding byte at the end of the file is tolerated.
        let _ = r.read(&mut pad)?;
    }
    Ok(())
}

/// Picks the decompressor from the member name's suffix.
fn decompressor<'a, R: Read + 'a>(name: &str, r: R) -> Result<Box<dyn Read + 'a>, DebError> {
    let suffix = name
        .strip_prefix("data.tar")
        .or_else(|| name.strip_prefix("control.tar"))
        .unwrap_or(name);
    Ok(match suffix {
        "" => Box::new(r),
        ".gz" => Box::new(flate2::read::MultiGzDecoder::new(r)),
        ".xz" => Box::new(lzma_rust2::XzReader::new(r, true)),
        ".zst" => Box::new(ruzstd::decoding::StreamingDecoder::new(r).map_err(|e| {
            DebError::Decompress {
                member: name.to_owned(),
                reason: e.to_string(),
            }
        })?),
        _ => return Err(DebError::UnsupportedCompression(name.to_owned())),
    })
}

fn read_control_archive(
    name: &str,
    compressed: &[u8],
    format_version: String,
) -> Result<ControlInfo, DebError> {
    let decoder = decompressor(name, compressed)?;
    let mut archive = tar::Archive::new(decoder.take(MAX_CONTROL_BYTES));
    let mut control = None;
    let mut md5sums = Vec::new();
    let mut conffiles = Vec::new();
    let mut scripts = BTreeMap::new();
    let mut other = BTreeMap::new();
    let entries = archive.entries().map_err(|e| decompress_error(name, &e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| decompress_error(name, &e))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = check_member_path(&raw_path)?;
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| decompress_error(name, &e))?;
        match path.as_str() {
            "control" => control = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "md5sums" => md5sums = parse_md5sums(&String::from_utf8_lossy(&bytes)),
            "conffiles" => conffiles = parse_conffiles(&String::from_utf8_lossy(&bytes)),
            s @ ("preinst" | "postinst" | "prerm" | "postrm" | "config") => {
                scripts.insert(s.to_owned(), String::from_utf8_lossy(&bytes).into_owned());
            }
            s => {
                other.insert(s.to_owned(), bytes);
            }
        }
    }
    let control = control.ok_or(DebError::MissingControlFile)?;
    Ok(ControlInfo {
        format_version,
        control,
        md5sums,
        conffiles,
        scripts,
        other,
    })
}

fn parse_md5sums(text: &str) -> Vec<Md5Sum> {
    text.lines()
        .filter_map(|l| {
            let (md5, path) = l.split_once(char::is_whitespace)?;
            let path = path.trim_start();
            (!path.is_empty()).then(|| Md5Sum {
                md5: md5.to_owned(),
                path: path.to_owned(),
            })
        })
        .collect()
}

fn parse_conffiles(text: &str) -> Vec<Conffile> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut flags = Vec::new();
            let mut rest = l;
            while !rest.starts_with('/') {
                match rest.split_once(char::is_whitespace) {
                    Some((flag, tail)) => {
                        flags.push(flag.to_owned());
                        rest = tail.trim_start();
                    }
                    None => break,
                }
            }
            Conffile {
                path: rest.to_owned(),
                flags,
            }
        })
        .collect()
}

impl crate::hint::Hint for DebError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Control(error) => error.hints(),
            Self::Io(..)
            | Self::NotAr
            | Self::BadMemberHeader { .. }
            | Self::UnexpectedMember { .. }
            | Self::MissingMember(..)
            | Self::UnsupportedFormat(..)
            | Self::UnsupportedCompression(..)
            | Self::Decompress { .. }
            | Self::ControlTooLarge
            | Self::MissingControlFile
            | Self::EmptyControl
            | Self::BadPath { .. }
            | Self::SymlinkEscape { .. }
            | Self::SpecialFile { .. }
            | Self::UnsupportedEntry { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdeb::*;
    use super::*;

    const CONTROL: &str = "Package: hello\nVersion: 1.0-1\nArchitecture: amd64\nDepends: libc6 (>= 2.34)\nDescription: greets\n Says hello.\n";

    fn control_tar() -> Vec<u8> {
        tar_of(&[
            dir("./"),
            file("./control", 0o644, CONTROL.as_bytes()),
            file(
                "./md5sums",
                0o644,
                b"0123456789abcdef0123456789abcdef  usr/bin/hello\nfedcba9876543210fedcba9876543210  usr/share/doc/hello/a b\n",
            ),
            file("./conffiles", 0o644, b"/etc/hello.conf\nremove-on-upgrade /etc/old.conf\n"),
            file("./postinst", 0o755, b"#!/bin/sh\nset -e\nupdate-alternatives --install /usr/bin/hi hi /usr/bin/hello 10\n"),
            file("./triggers", 0o644, b"activate-noawait ldconfig\n"),
        ])
    }

    fn deb(control: Vec<u8>, control_name: &str, data: Vec<u8>, data_name: &str) -> Vec<u8> {
        ar_of(&[
            ("debian-binary", b"2.0\n".to_vec()),
            (control_name, control),
            (data_name, data),
        ])
    }

    #[derive(Debug, PartialEq)]
    struct Seen {
        path: String,
        kind: DataKind,
        mode: u32,
        size: u64,
        link: Option<String>,
        data: Vec<u8>,
    }

    fn walk(bytes: &[u8]) -> Result<(ControlInfo, Vec<Seen>), DebError> {
        let deb = Deb::new(bytes)?;
        let mut seen = Vec::new();
        let info = deb.for_each_data_entry(|mut e| {
            let mut data = Vec::new();
            e.read_to_end(&mut data)?;
            seen.push(Seen {
                path: e.path.as_str().to_owned(),
                kind: e.kind,
                mode: e.mode,
                size: e.size,
                link: e.link_target.clone(),
                data,
            });
            Ok::<(), DebError>(())
        })?;
        Ok((info, seen))
    }

    fn good_data() -> Vec<u8> {
        tar_of(&[
            dir("./"),
            dir("./usr/"),
            dir("./usr/bin/"),
            file("./usr/bin/hello", 0o4755, b"#!/bin/sh\necho hello\n"),
            symlink("./usr/bin/hi", "hello"),
            hardlink("./usr/bin/hello2", "./usr/bin/hello"),
            dir("./etc/"),
            symlink("./etc/abs", "/usr/bin/hello"),
            symlink("./usr/bin/up", "../../etc/abs"),
        ])
    }

    fn check_good(bytes: &[u8]) {
        let (info, seen) = walk(bytes).unwrap();
        assert_eq!(info.format_version, "2.0");
        assert_eq!(info.paragraph().unwrap().get("package"), Some("hello"));
        let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "",
                "usr",
                "usr/bin",
                "usr/bin/hello",
                "usr/bin/hi",
                "usr/bin/hello2",
                "etc",
                "etc/abs",
                "usr/bin/up"
            ]
        );
        assert_eq!(seen[3].kind, DataKind::File);
        assert_eq!(seen[3].mode, 0o4755);
        assert_eq!(seen[3].size, 21);
        assert_eq!(seen[3].data, b"#!/bin/sh\necho hello\n");
        assert_eq!(seen[4].kind, DataKind::Symlink);
        assert_eq!(seen[4].link.as_deref(), Some("hello"));
        assert_eq!(seen[5].kind, DataKind::Hardlink);
        assert_eq!(seen[5].link.as_deref(), Some("usr/bin/hello"));
        assert_eq!(seen[7].link.as_deref(), Some("/usr/bin/hello"));
        assert_eq!(seen[0].kind, DataKind::Dir);
        assert_eq!(seen[0].size, 0);
    }

    #[test]
    fn reads_gzip_xz_zstd_and_plain() {
        let c = control_tar();
        let d = good_data();
        check_good(&deb(gz(&c), "control.tar.gz", gz(&d), "data.tar.gz"));
        check_good(&deb(xz(&c), "control.tar.xz", xz(&d), "data.tar.xz"));
        check_good(&deb(zst(&c), "control.tar.zst", zst(&d), "data.tar.zst"));
        check_good(&deb(c.clone(), "control.tar", d.clone(), "data.tar"));
        // Mixed, with GNU ar's trailing slash on names.
        check_good(&deb(xz(&c), "control.tar.xz/", zst(&d), "data.tar.zst/"));
    }

    #[test]
    fn control_archive_contents() {
        let bytes = deb(
            gz(&control_tar()),
            "control.tar.gz",
            xz(&good_data()),
            "data.tar.xz",
        );
        let deb = Deb::new(&bytes[..]).unwrap();
        let info = deb.control();
        assert_eq!(info.control, CONTROL);
        let p = info.paragraph().unwrap();
        assert_eq!(p.get("Version"), Some("1.0-1"));
        assert_eq!(
            info.md5sums,
            [
                Md5Sum {
                    md5: "0123456789abcdef0123456789abcdef".into(),
                    path: "usr/bin/hello".into()
                },
                Md5Sum {
                    md5: "fedcba9876543210fedcba9876543210".into(),
                    path: "usr/share/doc/hello/a b".into()
                },
            ]
        );
        assert_eq!(
            info.conffiles,
            [
                Conffile {
                    path: "/etc/hello.conf".into(),
                    flags: vec![]
                },
                Conffile {
                    path: "/etc/old.conf".into(),
                    flags: vec!["remove-on-upgrade".into()]
                },
            ]
        );
        assert_eq!(info.scripts.keys().collect::<Vec<_>>(), ["postinst"]);
        assert!(info.scripts["postinst"].contains("update-alternatives --install"));
        assert_eq!(info.other.keys().collect::<Vec<_>>(), ["triggers"]);
    }

    #[test]
    fn streams_a_large_file() {
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let data = tar_of(&[dir("./"), file("./big", 0o644, &big)]);
        let bytes = deb(
            gz(&control_tar()),
            "control.tar.gz",
            zst(&data),
            "data.tar.zst",
        );
        let mut total = 0u64;
        let mut sum = 0u64;
        Deb::new(&bytes[..])
            .unwrap()
            .for_each_data_entry(|mut e| {
                let mut buf = [0u8; 8192];
                loop {
                    let n = e.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    total += n as u64;
                    sum += buf[..n].iter().map(|&b| u64::from(b)).sum::<u64>();
                }
                Ok::<(), DebError>(())
            })
            .unwrap();
        assert_eq!(total, big.len() as u64);
        assert_eq!(sum, big.iter().map(|&b| u64::from(b)).sum::<u64>());
    }

    #[test]
    fn refuses_dotdot_escape() {
        let data = tar_of(&[dir("./"), file("./usr/../../etc/passwd", 0o644, b"x")]);
        let bytes = deb(
            gz(&control_tar()),
            "control.tar.gz",
            xz(&data),
            "data.tar.xz",
        );
        let err = walk(&bytes).unwrap_err();
        assert!(
            matches!(err, DebError::BadPath { ref path, reason: "it contains `..`" } if path == "./usr/../../etc/passwd"),
            "{err:?}"
        );
        let data = tar_of(&[file("/etc/passwd", 0o644, b"x")]);
        let bytes = deb(
            gz(&control_tar()),
            "control.tar.gz",
            gz(&data),
            "data.tar.gz",
        );
        assert!(matches!(
            walk(&bytes),
            Err(DebError::BadPath {
                reason: "it is absolute",
                ..
            })
        ));
        let data = tar_of(&[hardlink("./x", "../outside")]);
        let bytes = deb(
            gz(&control_tar()),
            "control.tar.gz",
            gz(&data),
            "data.tar.gz",
        );
        assert!(matches!(walk(&bytes), Err(DebError::BadPath { .. })));
    }

    #[test]
    fn refuses_escaping_symlinks() {
        for (name, target) in [
            ("./usr/bin/evil", "/../../../etc/shadow"),
            ("./usr/bin/evil", "../../../etc/shadow"),
            ("./evil", ".."),
        ] {
            let data = tar_of(&[dir("./"), symlink(name, target)]);
            let bytes = deb(
                gz(&control_tar()),
                "control.tar.gz",
                zst(&data),
                "data.tar.zst",
            );
            let err = walk(&bytes).unwrap_err();
            assert!(
                matches!(err, DebError::SymlinkEscape { .. }),
                "{target}: {err:?}"
            );
        }
        let err = check_symlink_target(&check_member_path("usr/bin/evil").unwrap(), "/../etc")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Symlink `/usr/bin/evil` points to `/../etc`, outside the image root"
        );
    }

    #[test]
    fn refuses_device_nodes() {
        let mut d = dir("./dev/null");
        d.kind = tar::EntryType::Char;
        let data = tar_of(&[d]);
        let bytes = deb(
            gz(&control_tar()),
            "control.tar.gz",
            gz(&data),
            "data.tar.gz",
        );
        assert!(matches!(
            walk(&bytes),
            Err(DebError::SpecialFile {
                kind: "character device",
                ..
            })
        ));
        let mut f = dir("./run/fifo");
        f.kind = tar::EntryType::Fifo;
        let bytes = deb(
            gz(&control_tar()),
            "control.tar.gz",
            gz(&tar_of(&[f])),
            "data.tar.gz",
        );
        assert!(matches!(
            walk(&bytes),
            Err(DebError::SpecialFile { kind: "FIFO", .. })
        ));
    }

    #[test]
    fn member_path_normalisation() {
        let ok = |p: &str| check_member_path(p).unwrap().as_str().to_owned();
        assert_eq!(ok("./usr/bin/git"), "usr/bin/git");
        assert_eq!(ok("usr//bin/./git/"), "usr/bin/git");
        assert_eq!(ok("./"), "");
        assert_eq!(ok("."), "");
        assert!(check_member_path("./").unwrap().is_root());
        assert!(check_member_path("/usr").is_err());
        assert!(check_member_path("a/../b").is_err());
        assert!(check_member_path("..").is_err());
        assert!(check_member_path("a\0b").is_err());
        let p = check_member_path("./usr/bin/git").unwrap();
        assert_eq!(p.to_string(), "/usr/bin/git");
        assert_eq!(p.parent().unwrap().as_str(), "usr/bin");
        assert_eq!(
            check_member_path("usr").unwrap().parent().unwrap().as_str(),
            ""
        );
        assert_eq!(check_member_path("").unwrap().parent(), None);
    }

    #[test]
    fn symlink_resolution() {
        let link = check_member_path("usr/lib/x86_64-linux-gnu/libfoo.so").unwrap();
        let r = |t: &str| check_symlink_target(&link, t).map(|p| p.as_str().to_owned());
        assert_eq!(
            r("libfoo.so.1").unwrap(),
            "usr/lib/x86_64-linux-gnu/libfoo.so.1"
        );
        assert_eq!(r("../../../etc/x").unwrap(), "etc/x");
        assert_eq!(r("/etc/alternatives/foo").unwrap(), "etc/alternatives/foo");
        assert_eq!(r("./a/./b").unwrap(), "usr/lib/x86_64-linux-gnu/a/b");
        assert!(r("../../../../etc/x").is_err());
        assert!(r("/..").is_err());
        assert!(r("").is_err());
    }

    #[test]
    fn malformed_archives() {
        assert!(matches!(Deb::new(&b"not a deb"[..]), Err(DebError::NotAr)));
        assert!(matches!(
            Deb::new(&b"!<arch>\n"[..]),
            Err(DebError::MissingMember("debian-binary"))
        ));
        let wrong_first = ar_of(&[("control.tar.gz", gz(&control_tar()))]);
        assert!(matches!(
            Deb::new(&wrong_first[..]),
            Err(DebError::UnexpectedMember { .. })
        ));
        let v3 = ar_of(&[("debian-binary", b"3.0\n".to_vec())]);
        assert!(matches!(Deb::new(&v3[..]), Err(DebError::UnsupportedFormat(v)) if v == "3.0"));
        let bz = ar_of(&[
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.bz2", vec![1, 2, 3]),
        ]);
        assert!(matches!(
            Deb::new(&bz[..]),
            Err(DebError::UnsupportedCompression(_))
        ));
        let no_control = ar_of(&[
            ("debian-binary", b"2.0\n".to_vec()),
            (
                "control.tar.gz",
                gz(&tar_of(&[file("./md5sums", 0o644, b"")])),
            ),
        ]);
        assert!(matches!(
            Deb::new(&no_control[..]),
            Err(DebError::MissingControlFile)
        ));
        let no_data = ar_of(&[
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.gz", gz(&control_tar())),
        ]);
        let opened = Deb::new(&no_data[..]).unwrap();
        assert!(matches!(
            opened.for_each_data_entry(|_| Ok::<(), DebError>(())),
            Err(DebError::MissingMember("data.tar"))
        ));
        let corrupt = deb_with_corrupt_data();
        assert!(
            matches!(walk(&corrupt), Err(DebError::Decompress { .. })),
            "{:?}",
            walk(&corrupt).err()
        );
        let mut truncated = deb(
            gz(&control_tar()),
            "control.tar.gz",
            gz(&good_data()),
            "data.tar.gz",
        );
        truncated.truncate(70);
        assert!(Deb::new(&truncated[..]).is_err());
    }

    fn deb_with_corrupt_data() -> Vec<u8> {
        let mut data = xz(&good_data());
        let mid = data.len() / 2;
        data[mid] ^= 0xff;
        data[mid + 1] ^= 0xff;
        deb(gz(&control_tar()), "control.tar.gz", data, "data.tar.xz")
    }

    #[test]
    fn callback_errors_propagate() {
        #[derive(Debug)]
        enum MyError {
            Deb,
            Stop(String),
        }
        impl From<DebError> for MyError {
            fn from(_: DebError) -> Self {
                MyError::Deb
            }
        }
        let bytes = deb(
            gz(&control_tar()),
            "control.tar.gz",
            gz(&good_data()),
            "data.tar.gz",
        );
        let mut count = 0;
        let err = Deb::new(&bytes[..])
            .unwrap()
            .for_each_data_entry(|e| {
                count += 1;
                if e.kind == DataKind::Symlink {
                    return Err(MyError::Stop(e.path.to_string()));
                }
                Ok(())
            })
            .unwrap_err();
        assert!(matches!(err, MyError::Stop(ref p) if p == "/usr/bin/hi"));
        assert_eq!(count, 5);
        assert!(matches!(MyError::Deb, MyError::Deb));
    }

    #[test]
    fn skips_underscore_members() {
        let bytes = ar_of(&[
            ("debian-binary", b"2.0\n".to_vec()),
            ("_gpgorigin", b"sig".to_vec()),
            ("control.tar.gz", gz(&control_tar())),
            ("_extra", b"x".to_vec()),
            ("data.tar.gz", gz(&good_data())),
        ]);
        check_good(&bytes);
    }
}
