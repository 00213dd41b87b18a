//! Installs a wheel following the binary distribution format: root files to purelib
//! or platlib, `.data/*` to their schemes, `#!python` scripts rewritten for the target
//! interpreter, console and GUI entry points turned into launchers, `INSTALLER`
//! written and `RECORD` rewritten.
//!
//! In two steps: [`plan_wheel`] works out every installed file (path, mode, size,
//! SHA-256) from the zip's central directory and the small metadata files, without
//! reading the package's files; [`read_planned`] then gives one file's bytes, read
//! from its member in bounded buffers (or inflated in one call when small) and
//! checked against the wheel's `RECORD` as they are read, so a file that disagrees
//! fails its reader before the reader ends. [`install_wheel`] runs both in memory.
//! No path may leave its destination. No byte-compilation; the only I/O is the
//! caller's reader of the wheel.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Cursor, Read, Seek};
use std::sync::Arc;

use sha2::{Digest, Sha256, Sha384, Sha512};
use zip::ZipArchive;

use super::wheel_name::{WheelName, WheelNameError, normalize_name};

/// Written to `*.dist-info/INSTALLER`.
pub(super) const INSTALLER: &str = "airlock";

/// Why a wheel was refused.
#[derive(Debug, thiserror::Error)]
pub enum WheelInstallError {
    /// The filename is not a wheel name.
    #[error(transparent)]
    Filename(#[from] WheelNameError),
    /// The archive is unreadable.
    #[error("Wheel `{wheel}` is not a valid zip archive")]
    Zip {
        /// The wheel.
        wheel: String,
        /// The cause.
        #[source]
        source: zip::result::ZipError,
    },
    /// Reading an entry failed (corrupt data or checksum).
    #[error("Failed to read `{path}` from wheel `{wheel}`")]
    Read {
        /// The wheel.
        wheel: String,
        /// The entry.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An entry that would escape its destination, or is not a plain name.
    #[error("Wheel `{wheel}` contains the unsafe path `{path}`")]
    UnsafePath {
        /// The wheel.
        wheel: String,
        /// The entry name, lossily decoded.
        path: String,
    },
    /// A symbolic link entry.
    #[error("Wheel `{wheel}` contains a symbolic link `{path}`, which wheels may not")]
    Symlink {
        /// The wheel.
        wheel: String,
        /// The entry.
        path: String,
    },
    /// Zero or several `.dist-info` directories, or one named for another project.
    #[error("Wheel `{wheel}` must contain exactly one `{expected}` directory")]
    DistInfo {
        /// The wheel.
        wheel: String,
        /// The expected directory name.
        expected: String,
    },
    /// A required metadata file is missing.
    #[error("Wheel `{wheel}` has no `{file}`")]
    MissingMetadata {
        /// The wheel.
        wheel: String,
        /// The file.
        file: String,
    },
    /// `Wheel-Version` is not 1.x.
    #[error("Wheel `{wheel}` has unsupported `Wheel-Version` `{version}`")]
    WheelVersion {
        /// The wheel.
        wheel: String,
        /// The version given.
        version: String,
    },
    /// A malformed `RECORD` line.
    #[error("Wheel `{wheel}` has a malformed RECORD at line {line}")]
    Record {
        /// The wheel.
        wheel: String,
        /// 1-based line.
        line: usize,
    },
    /// A file that `RECORD` does not list (with a hash).
    #[error("Wheel `{wheel}`: `{path}` is not in RECORD with a hash")]
    NotInRecord {
        /// The wheel.
        wheel: String,
        /// The entry.
        path: String,
    },
    /// A file `RECORD` lists that the archive lacks.
    #[error("Wheel `{wheel}`: RECORD lists `{path}`, which the archive does not contain")]
    MissingFromArchive {
        /// The wheel.
        wheel: String,
        /// The entry.
        path: String,
    },
    /// A hash algorithm weaker than SHA-256 or unknown.
    #[error("Wheel `{wheel}`: `{path}` has an unsupported RECORD hash `{algorithm}`")]
    HashAlgorithm {
        /// The wheel.
        wheel: String,
        /// The entry.
        path: String,
        /// The algorithm.
        algorithm: String,
    },
    /// Contents disagree with `RECORD`.
    #[error("Wheel `{wheel}`: `{path}` does not match its RECORD {what}")]
    Mismatch {
        /// The wheel.
        wheel: String,
        /// The entry.
        path: String,
        /// `hash` or `size`.
        what: &'static str,
    },
    /// `NAME.data/KEY/` with an unknown key.
    #[error("Wheel `{wheel}` has an unknown data directory `{key}`")]
    DataKey {
        /// The wheel.
        wheel: String,
        /// The key.
        key: String,
    },
    /// A malformed `entry_points.txt` line.
    #[error("Wheel `{wheel}` has an invalid entry point `{entry}`: {reason}")]
    EntryPoint {
        /// The wheel.
        wheel: String,
        /// The line.
        entry: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Two files for the same installed path.
    #[error("Wheel `{wheel}` installs `{path}` twice")]
    Duplicate {
        /// The wheel.
        wheel: String,
        /// The installed path.
        path: String,
    },
    /// A metadata text file that is not UTF-8.
    #[error("Wheel `{wheel}`: `{path}` is not UTF-8")]
    Utf8 {
        /// The wheel.
        wheel: String,
        /// The file.
        path: String,
    },
}

/// Where the schemes of the target interpreter live, relative to the image root
/// (no leading `/`), plus the interpreter's absolute path for shebangs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallTarget {
    /// Pure-Python packages: `usr/local/lib/python3.12/site-packages`.
    pub purelib: String,
    /// Platform packages (the same directory on Debian-style CPython images).
    pub platlib: String,
    /// Scripts: `usr/local/bin`.
    pub scripts: String,
    /// Data files' prefix: `usr/local`.
    pub data: String,
    /// C headers' base: `usr/local/include/python3.12` (the project name is appended).
    pub headers: String,
    /// The interpreter written into script shebangs: `/usr/local/bin/python3.12`.
    pub interpreter: String,
}

/// One installed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledFile {
    /// Relative to the image root, `/`-separated, no leading slash.
    pub path: String,
    /// Permission bits: `0o755` for executables, `0o644` otherwise.
    pub mode: u32,
    /// The bytes.
    pub contents: Vec<u8>,
}

/// A `RECORD` row: hash (`algo`, urlsafe-base64 digest) and size.
struct RecordRow {
    hash: Option<(String, String)>,
    size: Option<u64>,
}

/// Installs `wheel` (the bytes of the file named `filename`) for `target`, in memory.
/// The result is sorted by path. The plan and the checked readers are those of a
/// streamed install ([`plan_wheel`], [`read_planned`]), so both give the same bytes.
pub fn install_wheel(
    wheel: &[u8],
    filename: &str,
    target: &InstallTarget,
) -> Result<Vec<InstalledFile>, WheelInstallError> {
    let mut archive = open_wheel(Cursor::new(wheel), filename)?;
    let plan = plan_wheel(&mut archive, filename, target)?;
    let mut files = Vec::with_capacity(plan.files.len());
    for file in &plan.files {
        let mut contents = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0).min(1 << 24));
        read_planned(&mut archive, &plan, file, |reader| {
            reader.read_to_end(&mut contents).map(drop)
        })?;
        files.push(InstalledFile {
            path: file.path.clone(),
            mode: file.mode,
            contents,
        });
    }
    Ok(files)
}

/// What installing one wheel gives, worked out without reading its files: every
/// installed file's path, mode, size and SHA-256, and where its bytes come from.
#[derive(Debug, Clone)]
pub(crate) struct WheelPlan {
    /// The wheel's filename, for errors.
    wheel: String,
    /// Sorted by path.
    files: Vec<PlannedFile>,
}

impl WheelPlan {
    /// The installed files, sorted by path.
    pub(crate) fn files(&self) -> &[PlannedFile] {
        &self.files
    }
}

/// One installed file of a [`WheelPlan`].
#[derive(Debug, Clone)]
pub(crate) struct PlannedFile {
    /// Relative to the image root, `/`-separated, no leading slash.
    pub(crate) path: String,
    /// `0o755` for executables, `0o644` otherwise.
    pub(crate) mode: u32,
    /// The installed length.
    pub(crate) size: u64,
    /// SHA-256 of the installed bytes. For a member copied as it is, the wheel's
    /// `RECORD` digest, which [`read_planned`] checks the bytes against as it reads
    /// them.
    pub(crate) sha256: [u8; 32],
    source: Source,
}

/// Where a planned file's bytes come from.
#[derive(Debug, Clone)]
enum Source {
    /// An archive member, checked against its `RECORD` row as it is read.
    Member(Member),
    /// Made by the install: `INSTALLER`, `RECORD`, entry-point launchers.
    Bytes(Arc<[u8]>),
}

/// An archive member to copy, with what `RECORD` says of it.
#[derive(Debug, Clone)]
struct Member {
    index: usize,
    /// Its name in the archive, checked again when it is opened.
    name: String,
    /// The size the central directory declares, which `RECORD` agrees with.
    size: u64,
    algorithm: Algorithm,
    /// `RECORD`'s digest, urlsafe base64 without padding.
    expected: String,
    /// A script's `#!python` line: how many leading bytes give way to the target
    /// interpreter's `#!` line.
    shebang: Option<(usize, Arc<[u8]>)>,
}

/// A `RECORD` hash algorithm airlock accepts (SHA-256 or stronger).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Sha256,
    Sha384,
    Sha512,
}

/// A running `RECORD` hash.
enum RecordHasher {
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl RecordHasher {
    fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => Self::Sha256(Sha256::new()),
            Algorithm::Sha384 => Self::Sha384(Sha384::new()),
            Algorithm::Sha512 => Self::Sha512(Sha512::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(data),
            Self::Sha384(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
        }
    }

    /// The digest as `RECORD` writes it.
    fn finish(self) -> String {
        match self {
            Self::Sha256(h) => urlsafe_b64(&h.finalize()),
            Self::Sha384(h) => urlsafe_b64(&h.finalize()),
            Self::Sha512(h) => urlsafe_b64(&h.finalize()),
        }
    }
}

/// The zip archive of the wheel `filename` (its name checked first), its central
/// directory read.
pub(crate) fn open_wheel<R: Read + Seek>(
    reader: R,
    filename: &str,
) -> Result<ZipArchive<R>, WheelInstallError> {
    let _: WheelName = filename.parse()?;
    ZipArchive::new(reader).map_err(|source| zip_error(filename, source))
}

fn zip_error(wheel: &str, source: zip::result::ZipError) -> WheelInstallError {
    WheelInstallError::Zip {
        wheel: wheel.to_string(),
        source,
    }
}

/// Works out what installing the wheel `filename` (its `archive`) for `target` gives,
/// from the zip's central directory and the small metadata files (`WHEEL`, `RECORD`,
/// `entry_points.txt`); only scripts (for their `#!python` line) and files `RECORD`
/// hashes with other than SHA-256 are read whole, in bounded buffers. Refuses all that
/// [`install_wheel`] refuses, but a file whose bytes disagree with `RECORD`, which
/// [`read_planned`] finds when it reads it.
pub(crate) fn plan_wheel<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    filename: &str,
    target: &InstallTarget,
) -> Result<WheelPlan, WheelInstallError> {
    let name: WheelName = filename.parse()?;
    let members = list_members(archive, filename)?;
    let mut unpacked = Unpacked::new(filename, &name, members, archive)?;
    let root = if unpacked.root_is_purelib()? {
        &target.purelib
    } else {
        &target.platlib
    };
    let checks = unpacked.record_checks()?;
    let mut tree = InstalledTree::new(filename);
    unpacked.place_files(target, root, checks, &mut tree)?;
    unpacked.add_launchers(target, &mut tree)?;
    let files = tree.finish(root, &unpacked.dist_info)?;
    Ok(WheelPlan {
        wheel: filename.to_string(),
        files,
    })
}

/// Calls `read` with a reader of `file`'s installed bytes, taken from `archive` (the
/// one `plan` was made from) and checked against `RECORD` as they are read: the
/// reader fails at its end, before it reports the end, when they disagree, and at
/// once when there are more bytes than planned.
pub(crate) fn read_planned<R: Read + Seek, T>(
    archive: &mut ZipArchive<R>,
    plan: &WheelPlan,
    file: &PlannedFile,
    read: impl FnOnce(&mut dyn Read) -> io::Result<T>,
) -> Result<T, WheelInstallError> {
    let member = match &file.source {
        Source::Bytes(bytes) => {
            return read(&mut &bytes[..]).map_err(|e| install_error(e, &plan.wheel, &file.path));
        }
        Source::Member(member) => member,
    };
    let wheel = plan.wheel.as_str();
    let entry = archive
        .by_index_data(member.index)
        .map_err(|source| zip_error(wheel, source))?;
    if entry.name_raw() != member.name.as_bytes() {
        return Err(member_error(
            wheel,
            member,
            "the archive is not the one the install was planned from",
        ));
    }
    if entry.compression() == zip::CompressionMethod::Deflated
        && !entry.encrypted()
        && entry.size() <= WHOLE_MEMBER
    {
        let (crc32, compressed) = (entry.crc32(), entry.compressed_size());
        let data = inflate_whole(archive, wheel, member, crc32, compressed)?;
        let mut checked = Checked::new(&data[..], wheel, member);
        let value = read(&mut checked).map_err(|e| install_error(e, wheel, &member.name))?;
        checked.finish()?;
        return Ok(value);
    }
    let mut zip = archive
        .by_index(member.index)
        .map_err(|source| zip_error(wheel, source))?;
    let mut checked = Checked::new(&mut zip, wheel, member);
    let value = read(&mut checked).map_err(|e| install_error(e, wheel, &member.name))?;
    checked.finish()?;
    Ok(value)
}

/// Deflated members up to this size are inflated in one call (libdeflate, several
/// times faster than a stream); larger ones stream in bounded buffers.
const WHOLE_MEMBER: u64 = 1 << 20;

/// A deflated member of at most [`WHOLE_MEMBER`] bytes, inflated in one call and
/// checked against the central directory's size and CRC-32 (as the zip reader would).
fn inflate_whole<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    wheel: &str,
    member: &Member,
    crc32: u32,
    compressed_size: u64,
) -> Result<Vec<u8>, WheelInstallError> {
    let raw = archive
        .by_index_raw(member.index)
        .map_err(|source| zip_error(wheel, source))?;
    let compressed = read_declared(raw, compressed_size, wheel, &member.name)?;
    let size = usize::try_from(member.size)
        .map_err(|_| member_error(wheel, member, "entry is too large"))?;
    let mut data = vec![0u8; size];
    let inflated = libdeflater::Decompressor::new()
        .deflate_decompress(&compressed, &mut data)
        .map_err(|_| member_error(wheel, member, "entry does not inflate to its declared size"))?;
    if inflated != size {
        return Err(member_error(
            wheel,
            member,
            "entry is shorter than its declared size",
        ));
    }
    if crc32fast::hash(&data) != crc32 {
        return Err(member_error(
            wheel,
            member,
            "entry does not match its CRC-32",
        ));
    }
    Ok(data)
}

/// A read error of `member` for `reason`.
fn member_error(wheel: &str, member: &Member, reason: &'static str) -> WheelInstallError {
    WheelInstallError::Read {
        wheel: wheel.to_string(),
        path: member.name.clone(),
        source: io::Error::new(io::ErrorKind::InvalidData, reason),
    }
}

/// The install error an I/O error carries, or a read error of `path`.
fn install_error(error: io::Error, wheel: &str, path: &str) -> WheelInstallError {
    if error
        .get_ref()
        .is_some_and(|inner| inner.is::<WheelInstallError>())
    {
        if let Some(Ok(inner)) = error
            .into_inner()
            .map(|inner| inner.downcast::<WheelInstallError>())
        {
            return *inner;
        }
        return WheelInstallError::Read {
            wheel: wheel.to_string(),
            path: path.to_string(),
            source: io::Error::other("an install error was lost"),
        };
    }
    WheelInstallError::Read {
        wheel: wheel.to_string(),
        path: path.to_string(),
        source: error,
    }
}

/// Reads an archive member, hashing it with its `RECORD` algorithm; at the member's
/// end, checks its length and hash. A script's `#!python` line is replaced on the way.
struct Checked<'a, R> {
    inner: R,
    wheel: &'a str,
    member: &'a Member,
    /// `None` once checked.
    hasher: Option<RecordHasher>,
    /// Member bytes read.
    read: u64,
    /// The new first line, given first.
    prefix: &'a [u8],
    /// Bytes of `prefix` given.
    given: usize,
    /// Member bytes still to drop (the old first line).
    skip: usize,
}

impl<'a, R: Read> Checked<'a, R> {
    fn new(inner: R, wheel: &'a str, member: &'a Member) -> Self {
        let (skip, prefix) = match &member.shebang {
            Some((skip, prefix)) => (*skip, &prefix[..]),
            None => (0, &b""[..]),
        };
        Self {
            inner,
            wheel,
            member,
            hasher: Some(RecordHasher::new(member.algorithm)),
            read: 0,
            prefix,
            given: 0,
            skip,
        }
    }

    fn error(&self, error: WheelInstallError) -> io::Error {
        io::Error::other(error)
    }

    fn read_error(&self, reason: &'static str) -> WheelInstallError {
        WheelInstallError::Read {
            wheel: self.wheel.to_string(),
            path: self.member.name.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, reason),
        }
    }

    /// Checks the length and the hash, once.
    fn check(&mut self) -> Result<(), WheelInstallError> {
        let Some(hasher) = self.hasher.take() else {
            return Ok(());
        };
        if self.read != self.member.size {
            return Err(self.read_error("entry is shorter than its declared size"));
        }
        if hasher.finish() != self.member.expected {
            return Err(WheelInstallError::Mismatch {
                wheel: self.wheel.to_string(),
                path: self.member.name.clone(),
                what: "hash",
            });
        }
        Ok(())
    }

    /// Reads what the consumer left and checks.
    fn finish(&mut self) -> Result<(), WheelInstallError> {
        let mut rest = [0u8; 8192];
        while self.hasher.is_some() {
            if let Err(error) = self.read(&mut rest) {
                return Err(install_error(error, self.wheel, &self.member.name));
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Checked<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.given < self.prefix.len() {
            let n = (self.prefix.len() - self.given).min(buf.len());
            buf[..n].copy_from_slice(&self.prefix[self.given..self.given + n]);
            self.given += n;
            return Ok(n);
        }
        loop {
            let n = match self.inner.read(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(self.error(WheelInstallError::Read {
                        wheel: self.wheel.to_string(),
                        path: self.member.name.clone(),
                        source: e,
                    }));
                }
            };
            if n == 0 {
                return match self.check() {
                    Ok(()) => Ok(0),
                    Err(error) => Err(self.error(error)),
                };
            }
            self.read += n as u64;
            if self.read > self.member.size {
                let error = self.read_error("entry is larger than its declared size");
                return Err(self.error(error));
            }
            if let Some(hasher) = &mut self.hasher {
                hasher.update(&buf[..n]);
            }
            let skip = self.skip.min(n);
            self.skip -= skip;
            if skip < n {
                buf.copy_within(skip..n, 0);
                return Ok(n - skip);
            }
        }
    }
}

/// Hashes (SHA-256) a member's installed bytes as they are written to it: with
/// `interpreter`, a `#!python` first line replaced (decided on the first 10 bytes).
struct InstalledHash<'a> {
    interpreter: Option<&'a str>,
    head: Vec<u8>,
    /// The bytes of the first line replaced, once decided.
    strip: Option<usize>,
    hasher: Sha256,
    len: u64,
}

/// Enough of a script to tell a `#!python` or `#!pythonw` line.
const SHEBANG_HEAD: usize = 10;

impl<'a> InstalledHash<'a> {
    fn new(interpreter: Option<&'a str>) -> Self {
        Self {
            interpreter,
            head: Vec::with_capacity(SHEBANG_HEAD),
            strip: None,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    fn feed(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.len += data.len() as u64;
    }

    fn decide(&mut self) {
        let strip = match self.interpreter {
            Some(_) => shebang_len(&self.head),
            None => 0,
        };
        if let (Some(interpreter), true) = (self.interpreter, strip > 0) {
            self.feed(format!("#!{interpreter}").as_bytes());
        }
        let head = std::mem::take(&mut self.head);
        self.feed(&head[strip..]);
        self.strip = Some(strip);
    }

    /// The installed bytes' SHA-256 and length, and how many leading bytes of the
    /// member gave way to the new first line.
    fn finish(mut self) -> ([u8; 32], u64, usize) {
        if self.strip.is_none() {
            self.decide();
        }
        let strip = self.strip.unwrap_or(0);
        (self.hasher.finalize().into(), self.len, strip)
    }
}

impl io::Write for InstalledHash<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        if self.strip.is_none() {
            let take = (SHEBANG_HEAD - self.head.len()).min(rest.len());
            self.head.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.head.len() < SHEBANG_HEAD {
                return Ok(data.len());
            }
            self.decide();
        }
        self.feed(rest);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A member the install may use: where it is and what the central directory says.
#[derive(Debug, Clone, Copy)]
struct MemberInfo {
    index: usize,
    size: u64,
    executable: bool,
}

/// Every file entry of the wheel `w` from the central directory, names checked as
/// it goes (directories are checked, then skipped).
fn list_members<R: Read + Seek>(
    archive: &ZipArchive<R>,
    w: &str,
) -> Result<BTreeMap<String, MemberInfo>, WheelInstallError> {
    let mut members = BTreeMap::new();
    for index in 0..archive.len() {
        let file = archive
            .by_index_data(index)
            .map_err(|source| zip_error(w, source))?;
        let path = checked_entry(w, file.name_raw(), file.is_symlink())?;
        if file.is_dir() {
            continue;
        }
        let info = MemberInfo {
            index,
            size: file.size(),
            executable: file.unix_mode().is_some_and(|m| m & 0o111 != 0),
        };
        if members.insert(path.clone(), info).is_some() {
            return Err(WheelInstallError::Duplicate {
                wheel: w.to_string(),
                path,
            });
        }
    }
    Ok(members)
}

/// The bytes of one entry, never reading past the size the central directory
/// declares.
fn read_declared(
    file: impl Read,
    declared: u64,
    w: &str,
    path: &str,
) -> Result<Vec<u8>, WheelInstallError> {
    let mut contents = Vec::with_capacity(usize::try_from(declared).unwrap_or(0).min(1 << 24));
    file.take(declared.saturating_add(1))
        .read_to_end(&mut contents)
        .map_err(|source| WheelInstallError::Read {
            wheel: w.to_string(),
            path: path.to_string(),
            source,
        })?;
    if contents.len() as u64 > declared {
        return Err(WheelInstallError::Read {
            wheel: w.to_string(),
            path: path.to_string(),
            source: io::Error::new(
                io::ErrorKind::InvalidData,
                "entry is larger than its declared size",
            ),
        });
    }
    Ok(contents)
}

/// A wheel's checked members and its one `.dist-info` directory.
struct Unpacked<'a, 'z, R> {
    /// The wheel's filename, for errors.
    wheel: &'a str,
    archive: &'z mut ZipArchive<R>,
    members: BTreeMap<String, MemberInfo>,
    /// `NAME-VERSION.dist-info`, named for this project.
    dist_info: String,
}

impl<'a, 'z, R: Read + Seek> Unpacked<'a, 'z, R> {
    /// Finds the one `.dist-info` directory, named for this project.
    fn new(
        wheel: &'a str,
        name: &WheelName,
        members: BTreeMap<String, MemberInfo>,
        archive: &'z mut ZipArchive<R>,
    ) -> Result<Self, WheelInstallError> {
        let dist_infos: BTreeSet<&str> = members
            .keys()
            .filter_map(|p| p.split_once('/').map(|(top, _)| top))
            .filter(|top| top.ends_with(".dist-info"))
            .collect();
        let dist_info = match dist_infos.iter().collect::<Vec<_>>().as_slice() {
            [one] if dist_info_matches(one, name) => one.to_string(),
            _ => {
                let expected = format!(
                    "{}-{}.dist-info",
                    name.name.as_dist_info_name(),
                    name.version
                );
                return Err(WheelInstallError::DistInfo {
                    wheel: wheel.to_string(),
                    expected,
                });
            }
        };
        Ok(Self {
            wheel,
            archive,
            members,
            dist_info,
        })
    }

    /// A UTF-8 metadata file of the `.dist-info` directory.
    fn text(&mut self, file: &str) -> Result<String, WheelInstallError> {
        let path = format!("{}/{file}", self.dist_info);
        let info = *self
            .members
            .get(&path)
            .ok_or_else(|| WheelInstallError::MissingMetadata {
                wheel: self.wheel.to_string(),
                file: path.clone(),
            })?;
        let zip = self
            .archive
            .by_index(info.index)
            .map_err(|source| zip_error(self.wheel, source))?;
        let contents = read_declared(zip, info.size, self.wheel, &path)?;
        String::from_utf8(contents).map_err(|_| WheelInstallError::Utf8 {
            wheel: self.wheel.to_string(),
            path,
        })
    }

    /// Reads `WHEEL`: refuses a `Wheel-Version` other than 1.x, and tells whether
    /// the root goes to purelib.
    fn root_is_purelib(&mut self) -> Result<bool, WheelInstallError> {
        let wheel_meta = self.text("WHEEL")?;
        let field = |key: &str| {
            wheel_meta.lines().find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.trim().eq_ignore_ascii_case(key))
                    .map(|(_, v)| v.trim().to_string())
            })
        };
        let version = field("Wheel-Version").unwrap_or_default();
        if version.split('.').next() != Some("1") {
            return Err(WheelInstallError::WheelVersion {
                wheel: self.wheel.to_string(),
                version,
            });
        }
        Ok(field("Root-Is-Purelib").is_some_and(|v| v.eq_ignore_ascii_case("true")))
    }

    /// `RECORD` itself or its signature: the files `RECORD` cannot hash.
    fn is_record(&self, path: &str) -> bool {
        let record_path = format!("{}/RECORD", self.dist_info);
        path == record_path
            || path == format!("{record_path}.jws")
            || path == format!("{record_path}.p7s")
    }

    /// Every other member must be listed in `RECORD` with a hash (SHA-256 or
    /// stronger) and, if any, its size; every file `RECORD` lists must be in the
    /// archive. Returns each member's hash, which its bytes are checked against
    /// when they are read.
    fn record_checks(
        &mut self,
    ) -> Result<BTreeMap<String, (Algorithm, String)>, WheelInstallError> {
        let record = parse_record(&self.text("RECORD")?, self.wheel)?;
        let mut checks = BTreeMap::new();
        for (path, info) in &self.members {
            if !self.is_record(path) {
                let check = record_check(self.wheel, path, info, record.get(path))?;
                checks.insert(path.clone(), check);
            }
        }
        if let Some(path) = record
            .keys()
            .find(|p| !self.is_record(p) && !self.members.contains_key(*p))
        {
            return Err(WheelInstallError::MissingFromArchive {
                wheel: self.wheel.to_string(),
                path: path.clone(),
            });
        }
        Ok(checks)
    }

    /// Places every member but `RECORD` (and its signatures): root files under
    /// `root`, `.data/KEY/` files in their schemes.
    fn place_files(
        &mut self,
        target: &InstallTarget,
        root: &str,
        checks: BTreeMap<String, (Algorithm, String)>,
        tree: &mut InstalledTree<'_>,
    ) -> Result<(), WheelInstallError> {
        let data_prefix = format!("{}.data/", self.dist_info.trim_end_matches(".dist-info"));
        for (path, (algorithm, expected)) in checks {
            let Some(&info) = self.members.get(&path) else {
                continue;
            };
            let mode = if info.executable { 0o755 } else { 0o644 };
            let (installed, mode, script) = match path.strip_prefix(&data_prefix) {
                None => (join(root, &path), mode, false),
                Some(rest) => self.data_path(target, &path, rest, mode)?,
            };
            let member = Member {
                index: info.index,
                name: path,
                size: info.size,
                algorithm,
                expected,
                shebang: None,
            };
            let interpreter = script.then_some(target.interpreter.as_str());
            tree.put(self.plan_member(installed, mode, member, interpreter)?)?;
        }
        Ok(())
    }

    /// The installed path of `NAME.data/KEY/REL` (`rest` is `KEY/REL`), its mode, and
    /// whether it is a script (made executable, its `#!python` line rewritten).
    fn data_path(
        &self,
        target: &InstallTarget,
        path: &str,
        rest: &str,
        mode: u32,
    ) -> Result<(String, u32, bool), WheelInstallError> {
        let (key, rel) = rest.split_once('/').unwrap_or((rest, ""));
        let installed = match key {
            "purelib" => join(&target.purelib, rel),
            "platlib" => join(&target.platlib, rel),
            "data" => join(&target.data, rel),
            "headers" => join(&join(&target.headers, self.project_dir()), rel),
            "scripts" => join(&target.scripts, rel),
            other => {
                return Err(WheelInstallError::DataKey {
                    wheel: self.wheel.to_string(),
                    key: other.to_string(),
                });
            }
        };
        if rel.is_empty() {
            return Err(WheelInstallError::UnsafePath {
                wheel: self.wheel.to_string(),
                path: path.to_string(),
            });
        }
        Ok(match key {
            "scripts" => (installed, 0o755, true),
            _ => (installed, mode, false),
        })
    }

    /// The planned file for `member` at `installed`. Its SHA-256 is `RECORD`'s when
    /// `RECORD` gives one and the bytes are copied as they are; a script (with the
    /// target `interpreter` for its `#!python` line) or a file hashed otherwise is
    /// read once here (checked as well) to hash what is installed.
    fn plan_member(
        &mut self,
        installed: String,
        mode: u32,
        mut member: Member,
        interpreter: Option<&str>,
    ) -> Result<PlannedFile, WheelInstallError> {
        let (sha256, size) = match (member.algorithm, interpreter) {
            (Algorithm::Sha256, None) => (decode_sha256(&member.expected), member.size),
            _ => (None, member.size),
        };
        let (sha256, size) = match sha256 {
            Some(sha256) => (sha256, size),
            None if member.algorithm == Algorithm::Sha256 && interpreter.is_none() => {
                // A digest that is no SHA-256 in urlsafe base64 matches no bytes.
                return Err(WheelInstallError::Mismatch {
                    wheel: self.wheel.to_string(),
                    path: member.name,
                    what: "hash",
                });
            }
            None => {
                let mut hash = InstalledHash::new(interpreter);
                let zip = self
                    .archive
                    .by_index(member.index)
                    .map_err(|source| zip_error(self.wheel, source))?;
                let mut checked = Checked::new(zip, self.wheel, &member);
                io::copy(&mut checked, &mut hash)
                    .map_err(|e| install_error(e, self.wheel, &member.name))?;
                checked.finish()?;
                let (sha256, size, strip) = hash.finish();
                if let (Some(interpreter), true) = (interpreter, strip > 0) {
                    let line: Arc<[u8]> = Arc::from(format!("#!{interpreter}").into_bytes());
                    member.shebang = Some((strip, line));
                }
                (sha256, size)
            }
        };
        Ok(PlannedFile {
            path: installed,
            mode,
            size,
            sha256,
            source: Source::Member(member),
        })
    }

    /// The project's name as the `.dist-info` directory spells it: the headers'
    /// subdirectory.
    fn project_dir(&self) -> &str {
        self.dist_info
            .trim_end_matches(".dist-info")
            .rsplit_once('-')
            .map_or(self.dist_info.as_str(), |(n, _)| n)
    }

    /// A launcher in the scripts directory for every console and GUI entry point.
    fn add_launchers(
        &mut self,
        target: &InstallTarget,
        tree: &mut InstalledTree<'_>,
    ) -> Result<(), WheelInstallError> {
        if !self
            .members
            .contains_key(&format!("{}/entry_points.txt", self.dist_info))
        {
            return Ok(());
        }
        for (script, module, attr) in
            parse_entry_points(&self.text("entry_points.txt")?, self.wheel)?
        {
            let contents = launcher(&target.interpreter, &module, &attr).into_bytes();
            tree.put(made(join(&target.scripts, &script), 0o755, contents))?;
        }
        Ok(())
    }
}

/// `RECORD`'s hash for the member `path` (`info`), checked: listed with a hash,
/// SHA-256 or stronger, and the size the central directory declares (if it says).
fn record_check(
    wheel: &str,
    path: &str,
    info: &MemberInfo,
    row: Option<&RecordRow>,
) -> Result<(Algorithm, String), WheelInstallError> {
    let Some(RecordRow {
        hash: Some((algorithm, expected)),
        size,
    }) = row
    else {
        return Err(WheelInstallError::NotInRecord {
            wheel: wheel.to_string(),
            path: path.to_string(),
        });
    };
    let algorithm = match algorithm.as_str() {
        "sha256" => Algorithm::Sha256,
        "sha384" => Algorithm::Sha384,
        "sha512" => Algorithm::Sha512,
        _ => {
            return Err(WheelInstallError::HashAlgorithm {
                wheel: wheel.to_string(),
                path: path.to_string(),
                algorithm: algorithm.clone(),
            });
        }
    };
    if size.is_some_and(|s| s != info.size) {
        return Err(WheelInstallError::Mismatch {
            wheel: wheel.to_string(),
            path: path.to_string(),
            what: "size",
        });
    }
    Ok((algorithm, expected.trim_end_matches('=').to_string()))
}

/// The 32 bytes of a SHA-256 digest in urlsafe base64 without padding, when `b64` is
/// exactly how [`urlsafe_b64`] writes one.
fn decode_sha256(b64: &str) -> Option<[u8; 32]> {
    fn value(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        }))
    }
    if b64.len() != 43 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut bits = 0u32;
    let mut count = 0;
    let mut at = 0;
    for &c in b64.as_bytes() {
        bits = (bits << 6) | value(c)?;
        count += 6;
        if count >= 8 {
            count -= 8;
            *out.get_mut(at)? = (bits >> count) as u8;
            at += 1;
            bits &= (1 << count) - 1;
        }
    }
    // Canonical: the bits left over are zero, so the text round-trips.
    (bits == 0 && at == 32 && urlsafe_b64(&out) == b64).then_some(out)
}

/// A file the install makes.
fn made(path: String, mode: u32, contents: Vec<u8>) -> PlannedFile {
    PlannedFile {
        path,
        mode,
        size: contents.len() as u64,
        sha256: Sha256::digest(&contents).into(),
        source: Source::Bytes(Arc::from(contents)),
    }
}

/// The files installed so far, by path.
struct InstalledTree<'a> {
    /// The wheel's filename, for errors.
    wheel: &'a str,
    files: BTreeMap<String, PlannedFile>,
}

impl<'a> InstalledTree<'a> {
    fn new(wheel: &'a str) -> Self {
        Self {
            wheel,
            files: BTreeMap::new(),
        }
    }

    /// Adds a file, refusing a second one at the same path.
    fn put(&mut self, file: PlannedFile) -> Result<(), WheelInstallError> {
        let path = file.path.clone();
        if self.files.insert(path.clone(), file).is_some() {
            return Err(WheelInstallError::Duplicate {
                wheel: self.wheel.to_string(),
                path,
            });
        }
        Ok(())
    }

    /// Writes `INSTALLER`, then `RECORD` over everything installed, into the
    /// `dist_info` directory under `root`; the files sorted by path.
    fn finish(
        mut self,
        root: &str,
        dist_info: &str,
    ) -> Result<Vec<PlannedFile>, WheelInstallError> {
        let dist_info_dir = join(root, dist_info);
        let installer = format!("{INSTALLER}\n").into_bytes();
        self.put(made(join(&dist_info_dir, "INSTALLER"), 0o644, installer))?;
        let record_installed = join(&dist_info_dir, "RECORD");
        let record_text = self.record(root, &record_installed);
        self.put(made(record_installed, 0o644, record_text.into_bytes()))?;
        Ok(self.files.into_values().collect())
    }

    /// The installed `RECORD` (at `record_installed`): one sorted line per file,
    /// paths relative to `root`, and its own line without hash or size.
    fn record(&self, root: &str, record_installed: &str) -> String {
        let mut lines: Vec<String> = self
            .files
            .values()
            .map(|f| {
                format!(
                    "{},sha256={},{}",
                    csv_field(&relative(root, &f.path)),
                    urlsafe_b64(&f.sha256),
                    f.size
                )
            })
            .collect();
        lines.push(format!(
            "{},,",
            csv_field(&relative(root, record_installed))
        ));
        lines.sort();
        let mut record_text = lines.join("\n");
        record_text.push('\n');
        record_text
    }
}

/// The name of one archive entry, if the install may use it: UTF-8, relative, no
/// empty, `.` or `..` component, no backslash, drive colon or NUL, and not a symbolic
/// link. The one rule both [`install_wheel`] and [`check_wheel_entries`] apply.
fn checked_entry(wheel: &str, name: &[u8], is_symlink: bool) -> Result<String, WheelInstallError> {
    let path = std::str::from_utf8(name)
        .ok()
        .filter(|p| is_safe_relative(p.trim_end_matches('/')))
        .ok_or_else(|| WheelInstallError::UnsafePath {
            wheel: wheel.to_string(),
            path: String::from_utf8_lossy(name).into_owned(),
        })?;
    if is_symlink {
        return Err(WheelInstallError::Symlink {
            wheel: wheel.to_string(),
            path: path.to_string(),
        });
    }
    Ok(path.to_string())
}

/// Checks every entry of the wheel `filename` with the install's own rule, reading
/// only the zip's central directory: what `airlock lock` runs so that a lock never
/// pins a wheel the install would refuse for its paths.
pub(crate) fn check_wheel_entries(
    wheel: impl Read + std::io::Seek,
    filename: &str,
) -> Result<(), WheelInstallError> {
    let zip_err = |source| WheelInstallError::Zip {
        wheel: filename.to_string(),
        source,
    };
    let mut archive = ZipArchive::new(wheel).map_err(zip_err)?;
    for i in 0..archive.len() {
        let file = archive.by_index_raw(i).map_err(zip_err)?;
        checked_entry(filename, file.name_raw(), file.is_symlink())?;
    }
    Ok(())
}

/// `NAME-VERSION.dist-info` whose name normalises to the wheel's.
fn dist_info_matches(dir: &str, name: &WheelName) -> bool {
    dir.trim_end_matches(".dist-info")
        .rsplit_once('-')
        .is_some_and(|(n, v)| {
            normalize_name(n) == name.name.as_ref()
                && v.parse::<pep440_rs::Version>()
                    .is_ok_and(|v| v == name.version)
        })
}

/// A relative `/`-separated path with no empty, `.` or `..` component, no
/// backslash, colon-drive or NUL.
fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains(['\\', '\0'])
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains(':'))
}

fn join(base: &str, rel: &str) -> String {
    match (base.trim_end_matches('/'), rel) {
        ("", r) => r.to_string(),
        (b, "") => b.to_string(),
        (b, r) => format!("{b}/{r}"),
    }
}

/// `path` relative to the directory `base`, both relative to the image root.
fn relative(base: &str, path: &str) -> String {
    let b: Vec<&str> = base.split('/').filter(|c| !c.is_empty()).collect();
    let p: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let common = b.iter().zip(&p).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<&str> = vec![".."; b.len() - common];
    parts.extend(&p[common..]);
    parts.join("/")
}

/// Quotes a RECORD path if CSV needs it.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Splits one CSV line (RFC 4180 quoting).
fn csv_split(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if at_start && !quoted => quoted = true,
            '"' if quoted => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            }
            ',' if !quoted => {
                fields.push(std::mem::take(&mut cur));
                at_start = true;
                continue;
            }
            c => cur.push(c),
        }
        at_start = false;
    }
    if quoted {
        return None;
    }
    fields.push(cur);
    Some(fields)
}

fn parse_record(text: &str, wheel: &str) -> Result<BTreeMap<String, RecordRow>, WheelInstallError> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || WheelInstallError::Record {
            wheel: wheel.to_string(),
            line: i + 1,
        };
        let fields = csv_split(line).ok_or_else(bad)?;
        let [path, hash, size] = fields.as_slice() else {
            return Err(bad());
        };
        let hash = match hash.as_str() {
            "" => None,
            h => {
                let (a, d) = h.split_once('=').ok_or_else(bad)?;
                Some((a.to_ascii_lowercase(), d.to_string()))
            }
        };
        let size = match size.as_str() {
            "" => None,
            s => Some(s.parse::<u64>().map_err(|_| bad())?),
        };
        out.insert(path.clone(), RecordRow { hash, size });
    }
    Ok(out)
}

/// How many leading bytes of a script are a `#!python` or `#!pythonw` first line's
/// start, which the target interpreter's `#!` line replaces (its arguments kept); 0
/// for anything else. Decided on the first [`SHEBANG_HEAD`] bytes (or all of a
/// shorter file).
fn shebang_len(head: &[u8]) -> usize {
    let Some(rest) = head.strip_prefix(b"#!python") else {
        return 0;
    };
    let (len, rest) = match rest.strip_prefix(b"w") {
        Some(rest) => (9, rest),
        None => (8, rest),
    };
    // Only `#!python` itself, not e.g. `#!python3-something`.
    if matches!(rest.first(), None | Some(b' ' | b'\t' | b'\n' | b'\r')) {
        len
    } else {
        0
    }
}

/// `(script name, module, attribute path)` for every console and GUI script.
fn parse_entry_points(
    text: &str,
    wheel: &str,
) -> Result<Vec<(String, String, String)>, WheelInstallError> {
    let mut out = Vec::new();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.trim().to_string();
            continue;
        }
        if section != "console_scripts" && section != "gui_scripts" {
            continue;
        }
        let bad = |reason| WheelInstallError::EntryPoint {
            wheel: wheel.to_string(),
            entry: line.to_string(),
            reason,
        };
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| bad("expected `name = module:attr`"))?;
        let name = name.trim();
        if !is_safe_relative(name) || name.contains('/') {
            return Err(bad("the script name is not a plain file name"));
        }
        // Drop `[extras]`, which do not change the launcher.
        let value = value.split('[').next().unwrap_or(value).trim();
        let (module, attr) = value
            .split_once(':')
            .ok_or_else(|| bad("expected `module:attr`"))?;
        let (module, attr) = (module.trim(), attr.trim());
        if !is_dotted_identifier(module) || !is_dotted_identifier(attr) {
            return Err(bad(
                "module and attribute must be dotted Python identifiers",
            ));
        }
        out.push((name.to_string(), module.to_string(), attr.to_string()));
    }
    Ok(out)
}

fn is_dotted_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
                && chars.all(|c| c == '_' || c.is_alphanumeric())
        })
}

/// A launcher that imports the entry point's object and exits with its result.
fn launcher(interpreter: &str, module: &str, attr: &str) -> String {
    let head = attr.split('.').next().unwrap_or(attr);
    format!(
        "#!{interpreter}\n\
         import sys\n\
         from {module} import {head}\n\
         if __name__ == \"__main__\":\n    \
         sys.exit({attr}())\n"
    )
}

/// URL-safe base64 without padding, as RECORD hashes are written.
fn urlsafe_b64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

impl crate::hint::Hint for WheelInstallError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Filename(error) => error.hints(),
            Self::Zip { .. }
            | Self::Read { .. }
            | Self::UnsafePath { .. }
            | Self::Symlink { .. }
            | Self::DistInfo { .. }
            | Self::MissingMetadata { .. }
            | Self::WheelVersion { .. }
            | Self::Record { .. }
            | Self::NotInRecord { .. }
            | Self::MissingFromArchive { .. }
            | Self::HashAlgorithm { .. }
            | Self::Mismatch { .. }
            | Self::DataKey { .. }
            | Self::EntryPoint { .. }
            | Self::Duplicate { .. }
            | Self::Utf8 { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, ZipWriter};

    const FILENAME: &str = "demo_pkg-1.0-py3-none-any.whl";
    const DI: &str = "demo_pkg-1.0.dist-info";

    fn target() -> InstallTarget {
        InstallTarget {
            purelib: "usr/local/lib/python3.12/site-packages".into(),
            platlib: "usr/local/lib/python3.12/site-packages".into(),
            scripts: "usr/local/bin".into(),
            data: "usr/local".into(),
            headers: "usr/local/include/python3.12".into(),
            interpreter: "/usr/local/bin/python3.12".into(),
        }
    }

    fn record_line(path: &str, contents: &[u8]) -> String {
        format!(
            "{},sha256={},{}",
            csv_field(path),
            urlsafe_b64(&Sha256::digest(contents)),
            contents.len()
        )
    }

    /// Builds a wheel from `(path, contents, mode)`; WHEEL and RECORD are added
    /// unless given, and `tamper` may edit the RECORD text.
    fn build(files: &[(&str, &[u8], u32)], tamper: impl Fn(String) -> String) -> Vec<u8> {
        let mut all: Vec<(String, Vec<u8>, u32)> = files
            .iter()
            .map(|(p, c, m)| (p.to_string(), c.to_vec(), *m))
            .collect();
        if !files.iter().any(|(p, _, _)| p.ends_with("/WHEEL")) {
            all.push((
                format!("{DI}/WHEEL"),
                b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                    .to_vec(),
                0o644,
            ));
        }
        let mut record: Vec<String> = all.iter().map(|(p, c, _)| record_line(p, c)).collect();
        record.push(format!("{DI}/RECORD,,"));
        let record = tamper(record.join("\n") + "\n");
        all.push((format!("{DI}/RECORD"), record.into_bytes(), 0o644));
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        for (path, contents, mode) in all {
            let opts = SimpleFileOptions::default()
                .compression_method(CompressionMethod::Deflated)
                .unix_permissions(mode);
            zip.start_file(path, opts).unwrap();
            zip.write_all(&contents).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    fn basic() -> Vec<(&'static str, &'static [u8], u32)> {
        vec![
            ("demo_pkg/__init__.py", b"VALUE = 1\n", 0o644),
            ("demo_pkg/native.so", b"\x7fELF", 0o755),
            (
                "demo_pkg-1.0.data/scripts/demo-tool",
                b"#!python -u\nprint('hi')\n",
                0o644,
            ),
            ("demo_pkg-1.0.data/scripts/plain.sh", b"#!/bin/sh\necho\n", 0o644),
            ("demo_pkg-1.0.data/data/share/demo/x.txt", b"data", 0o644),
            ("demo_pkg-1.0.data/headers/demo.h", b"int x;", 0o644),
            (
                "demo_pkg-1.0.data/purelib/demo_extra.py",
                b"",
                0o644,
            ),
            ("demo_pkg-1.0.dist-info/METADATA", b"Name: demo-pkg\nVersion: 1.0\n", 0o644),
            (
                "demo_pkg-1.0.dist-info/entry_points.txt",
                b"[console_scripts]\ndemo = demo_pkg.cli:main.run [extra]\n\n[gui_scripts]\ndemo-gui=demo_pkg:gui\n\n[other.group]\nx = y:z\n",
                0o644,
            ),
        ]
    }

    fn find<'a>(files: &'a [InstalledFile], path: &str) -> &'a InstalledFile {
        files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("{path} not installed"))
    }

    #[test]
    fn installs_every_scheme() {
        let files = install_wheel(&build(&basic(), |r| r), FILENAME, &target()).unwrap();
        let sp = "usr/local/lib/python3.12/site-packages";
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted);
        assert_eq!(
            find(&files, &format!("{sp}/demo_pkg/__init__.py")).mode,
            0o644
        );
        assert_eq!(
            find(&files, &format!("{sp}/demo_pkg/native.so")).mode,
            0o755
        );
        assert!(paths.contains(&"usr/local/lib/python3.12/site-packages/demo_extra.py"));
        assert_eq!(find(&files, "usr/local/share/demo/x.txt").contents, b"data");
        assert_eq!(
            find(&files, "usr/local/include/python3.12/demo_pkg/demo.h").contents,
            b"int x;"
        );
        let tool = find(&files, "usr/local/bin/demo-tool");
        assert_eq!(tool.mode, 0o755);
        assert_eq!(
            tool.contents,
            b"#!/usr/local/bin/python3.12 -u\nprint('hi')\n"
        );
        assert_eq!(
            find(&files, "usr/local/bin/plain.sh").contents,
            b"#!/bin/sh\necho\n"
        );
        assert_eq!(
            find(&files, &format!("{sp}/{DI}/INSTALLER")).contents,
            b"airlock\n"
        );
        assert!(!paths.iter().any(|p| p.contains(".data/")));
    }

    #[test]
    fn entry_points_become_launchers() {
        let files = install_wheel(&build(&basic(), |r| r), FILENAME, &target()).unwrap();
        let demo = find(&files, "usr/local/bin/demo");
        assert_eq!(demo.mode, 0o755);
        let text = String::from_utf8(demo.contents.clone()).unwrap();
        assert!(text.starts_with("#!/usr/local/bin/python3.12\n"), "{text}");
        assert!(text.contains("from demo_pkg.cli import main\n"), "{text}");
        assert!(text.contains("sys.exit(main.run())"), "{text}");
        let gui =
            String::from_utf8(find(&files, "usr/local/bin/demo-gui").contents.clone()).unwrap();
        assert!(gui.contains("from demo_pkg import gui\n"));
        assert!(!files.iter().any(|f| f.path.ends_with("/x")));
    }

    #[test]
    fn record_is_rewritten_for_installed_paths() {
        let files = install_wheel(&build(&basic(), |r| r), FILENAME, &target()).unwrap();
        let sp = "usr/local/lib/python3.12/site-packages";
        let record =
            String::from_utf8(find(&files, &format!("{sp}/{DI}/RECORD")).contents.clone()).unwrap();
        let lines: Vec<&str> = record.lines().collect();
        assert_eq!(lines.len(), files.len());
        let mut sorted = lines.clone();
        sorted.sort();
        assert_eq!(lines, sorted);
        assert!(lines.contains(&"demo_pkg-1.0.dist-info/RECORD,,"));
        assert!(lines.contains(&record_line("demo_pkg/__init__.py", b"VALUE = 1\n").as_str()));
        assert!(
            lines.contains(&record_line("demo_pkg-1.0.dist-info/INSTALLER", b"airlock\n").as_str())
        );
        let tool = find(&files, "usr/local/bin/demo-tool");
        assert!(lines.contains(&record_line("../../../bin/demo-tool", &tool.contents).as_str()));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("../../../bin/demo,sha256="))
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("../../../share/demo/x.txt,"))
        );
    }

    #[test]
    fn is_deterministic() {
        let a = install_wheel(&build(&basic(), |r| r), FILENAME, &target()).unwrap();
        let b = install_wheel(&build(&basic(), |r| r), FILENAME, &target()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn platlib_root_when_not_purelib() {
        let mut t = target();
        t.platlib = "usr/lib/python3/dist-packages".into();
        let mut files = basic();
        files.push((
            "demo_pkg-1.0.dist-info/WHEEL",
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\n",
            0o644,
        ));
        let out = install_wheel(&build(&files, |r| r), FILENAME, &t).unwrap();
        assert!(
            out.iter()
                .any(|f| f.path == "usr/lib/python3/dist-packages/demo_pkg/__init__.py")
        );
        assert!(
            out.iter()
                .any(|f| f.path == format!("usr/lib/python3/dist-packages/{DI}/RECORD"))
        );
    }

    /// Member names that would land outside the install target.
    const TRAVERSAL: [&str; 6] = [
        "../evil.py",
        "demo_pkg/../../evil.py",
        "/etc/passwd",
        "demo_pkg-1.0.data/data/../../../etc/x",
        "demo_pkg\\..\\evil.py",
        "C:/evil.py",
    ];

    #[test]
    fn refuses_path_traversal() {
        for evil in TRAVERSAL {
            let mut files = basic();
            files.push((evil, b"boom", 0o644));
            let e = install_wheel(&build(&files, |r| r), FILENAME, &target()).unwrap_err();
            assert!(
                matches!(e, WheelInstallError::UnsafePath { .. }),
                "{evil}: {e}"
            );
        }
    }

    #[test]
    fn refuses_symlinks() {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        zip.add_symlink("demo_pkg/link", "/etc/passwd", SimpleFileOptions::default())
            .unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let e = install_wheel(&bytes, FILENAME, &target()).unwrap_err();
        assert!(matches!(e, WheelInstallError::Symlink { .. }), "{e}");
    }

    #[test]
    fn refuses_records_that_disagree() {
        // A bad hash.
        let wheel = build(&basic(), |r| {
            r.replace(
                &record_line("demo_pkg/__init__.py", b"VALUE = 1\n"),
                &record_line("demo_pkg/__init__.py", b"VALUE = 2\n"),
            )
        });
        let e = install_wheel(&wheel, FILENAME, &target()).unwrap_err();
        assert!(
            matches!(e, WheelInstallError::Mismatch { what: "hash", .. }),
            "{e}"
        );
        assert!(e.to_string().contains("demo_pkg/__init__.py"));

        // A bad size.
        let init = record_line("demo_pkg/__init__.py", b"VALUE = 1\n");
        let wheel = build(&basic(), |r| r.replace(&init, &init.replace(",10", ",11")));
        let e = install_wheel(&wheel, FILENAME, &target()).unwrap_err();
        assert!(
            matches!(e, WheelInstallError::Mismatch { what: "size", .. }),
            "{e}"
        );

        // A file missing from RECORD.
        let wheel = build(&basic(), |r| {
            r.lines()
                .filter(|l| !l.starts_with("demo_pkg/native.so"))
                .collect::<Vec<_>>()
                .join("\n")
        });
        let e = install_wheel(&wheel, FILENAME, &target()).unwrap_err();
        assert!(matches!(e, WheelInstallError::NotInRecord { .. }), "{e}");

        // A file listed but absent.
        let wheel = build(&basic(), |r| r + "demo_pkg/ghost.py,sha256=AAAA,3\n");
        let e = install_wheel(&wheel, FILENAME, &target()).unwrap_err();
        assert!(
            matches!(e, WheelInstallError::MissingFromArchive { .. }),
            "{e}"
        );

        // A weak algorithm.
        let wheel = build(&basic(), |r| {
            r.replace("demo_pkg/__init__.py,sha256=", "demo_pkg/__init__.py,md5=")
        });
        let e = install_wheel(&wheel, FILENAME, &target()).unwrap_err();
        assert!(matches!(e, WheelInstallError::HashAlgorithm { .. }), "{e}");

        // Garbage.
        let wheel = build(&basic(), |r| r + "\"unterminated,,\n");
        assert!(matches!(
            install_wheel(&wheel, FILENAME, &target()),
            Err(WheelInstallError::Record { .. })
        ));
    }

    #[test]
    fn refuses_bad_layouts() {
        let e = install_wheel(
            &build(&basic(), |r| r),
            "other-1.0-py3-none-any.whl",
            &target(),
        )
        .unwrap_err();
        assert!(matches!(e, WheelInstallError::DistInfo { .. }), "{e}");
        let mut files = basic();
        files.push(("demo_pkg-1.0.data/weird/x", b"", 0o644));
        let e = install_wheel(&build(&files, |r| r), FILENAME, &target()).unwrap_err();
        assert!(matches!(e, WheelInstallError::DataKey { .. }), "{e}");
        let mut files = basic();
        files.push((
            "demo_pkg-1.0.dist-info/WHEEL",
            b"Wheel-Version: 2.0\n",
            0o644,
        ));
        let e = install_wheel(&build(&files, |r| r), FILENAME, &target()).unwrap_err();
        assert!(matches!(e, WheelInstallError::WheelVersion { .. }), "{e}");
        let e = install_wheel(b"not a zip", FILENAME, &target()).unwrap_err();
        assert!(matches!(e, WheelInstallError::Zip { .. }), "{e}");
        assert!(matches!(
            install_wheel(b"", "nope.tar.gz", &target()),
            Err(WheelInstallError::Filename(_))
        ));
        // A script colliding with an entry point.
        let mut files = basic();
        files.push(("demo_pkg-1.0.data/scripts/demo", b"#!/bin/sh\n", 0o644));
        let e = install_wheel(&build(&files, |r| r), FILENAME, &target()).unwrap_err();
        assert!(matches!(e, WheelInstallError::Duplicate { .. }), "{e}");
    }

    #[test]
    fn refuses_code_in_entry_points() {
        for bad in [
            "x = os:system('rm -rf /')",
            "x = a;import os:b",
            "../x = a:b",
            "x = a",
            "x",
        ] {
            let mut files = basic();
            files.retain(|(p, _, _)| !p.ends_with("entry_points.txt"));
            let ep = format!("[console_scripts]\n{bad}\n");
            files.push((
                "demo_pkg-1.0.dist-info/entry_points.txt",
                ep.as_bytes().to_vec().leak(),
                0o644,
            ));
            let e = install_wheel(&build(&files, |r| r), FILENAME, &target()).unwrap_err();
            assert!(
                matches!(e, WheelInstallError::EntryPoint { .. }),
                "{bad}: {e}"
            );
        }
    }

    /// Counts the bytes read through it.
    struct Counting<R> {
        inner: R,
        read: std::rc::Rc<std::cell::Cell<u64>>,
    }

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read.set(self.read.get() + n as u64);
            Ok(n)
        }
    }

    impl<R: Seek> Seek for Counting<R> {
        fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
            self.inner.seek(to)
        }
    }

    fn plan(wheel: &[u8]) -> Result<WheelPlan, WheelInstallError> {
        let mut archive = open_wheel(Cursor::new(wheel), FILENAME)?;
        plan_wheel(&mut archive, FILENAME, &target())
    }

    /// #15 (wheels streamed) item 1: the plan's paths, modes, sizes and SHA-256 are
    /// those of the installed files, every kind of file included.
    #[test]
    fn item15_planned_paths_are_the_installed_paths() {
        let wheel = build(&basic(), |r| r);
        let planned = plan(&wheel).unwrap();
        let installed = install_wheel(&wheel, FILENAME, &target()).unwrap();
        let sp = "usr/local/lib/python3.12/site-packages";
        let expected = [
            "usr/local/bin/demo".to_string(),
            "usr/local/bin/demo-gui".into(),
            "usr/local/bin/demo-tool".into(),
            "usr/local/bin/plain.sh".into(),
            "usr/local/include/python3.12/demo_pkg/demo.h".into(),
            format!("{sp}/demo_extra.py"),
            format!("{sp}/{DI}/INSTALLER"),
            format!("{sp}/{DI}/METADATA"),
            format!("{sp}/{DI}/RECORD"),
            format!("{sp}/{DI}/WHEEL"),
            format!("{sp}/{DI}/entry_points.txt"),
            format!("{sp}/demo_pkg/__init__.py"),
            format!("{sp}/demo_pkg/native.so"),
            "usr/local/share/demo/x.txt".into(),
        ];
        let paths: Vec<&String> = planned.files().iter().map(|f| &f.path).collect();
        assert_eq!(paths, expected.iter().collect::<Vec<_>>());
        assert_eq!(planned.files().len(), installed.len());
        for (plan, file) in planned.files().iter().zip(&installed) {
            assert_eq!(plan.path, file.path);
            assert_eq!(plan.mode, file.mode, "{}", file.path);
            assert_eq!(plan.size, file.contents.len() as u64, "{}", file.path);
            let sha256: [u8; 32] = Sha256::digest(&file.contents).into();
            assert_eq!(plan.sha256, sha256, "{}", file.path);
        }
    }

    /// Item 1: planning reads the central directory and the small metadata files,
    /// never a package file (here 4 MiB that does not compress).
    #[test]
    fn item15_planning_reads_no_package_file() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..4 << 20)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let mut files: Vec<(&str, &[u8], u32)> = basic();
        files.push(("demo_pkg/noise.bin", &noise, 0o644));
        let wheel = build(&files, |r| r);
        assert!(wheel.len() > 4 << 20);
        let read = std::rc::Rc::new(std::cell::Cell::new(0));
        let reader = Counting {
            inner: Cursor::new(&wheel[..]),
            read: read.clone(),
        };
        let mut archive = open_wheel(reader, FILENAME).unwrap();
        let planned = plan_wheel(&mut archive, FILENAME, &target()).unwrap();
        assert!(read.get() < 64 << 10, "{} bytes read", read.get());
        let sp = "usr/local/lib/python3.12/site-packages";
        let file = planned
            .files()
            .iter()
            .find(|f| f.path == format!("{sp}/demo_pkg/noise.bin"))
            .unwrap();
        let sha256: [u8; 32] = Sha256::digest(&noise).into();
        assert_eq!((file.size, file.sha256), (noise.len() as u64, sha256));
    }

    /// Item 1: a crafted wheel is refused by planning as by the install, with the same
    /// error.
    #[test]
    fn item15_planning_refuses_what_the_install_refuses() {
        for evil in TRAVERSAL.into_iter().chain(["demo_pkg-1.0.data/scripts"]) {
            let mut files = basic();
            files.push((evil, b"boom", 0o644));
            let wheel = build(&files, |r| r);
            let installed = install_wheel(&wheel, FILENAME, &target()).unwrap_err();
            let planned = plan(&wheel).unwrap_err();
            assert!(
                matches!(planned, WheelInstallError::UnsafePath { .. }),
                "{evil}: {planned}"
            );
            assert_eq!(planned.to_string(), installed.to_string());
        }
        let mut files = basic();
        files.retain(|(p, _, _)| !p.ends_with("entry_points.txt"));
        files.push((
            "demo_pkg-1.0.dist-info/entry_points.txt",
            b"[console_scripts]\n../x = a:b\n",
            0o644,
        ));
        let wheel = build(&files, |r| r);
        let planned = plan(&wheel).unwrap_err();
        assert!(matches!(planned, WheelInstallError::EntryPoint { .. }));
    }

    /// Item 2: a file whose bytes disagree with `RECORD` is planned (its bytes are
    /// not read), and its reader fails at its end with the mismatch.
    #[test]
    fn item15_a_mismatch_fails_the_reader_at_its_end() {
        let wheel = build(&basic(), |r| {
            r.replace(
                &record_line("demo_pkg/__init__.py", b"VALUE = 1\n"),
                &record_line("demo_pkg/__init__.py", b"VALUE = 2\n"),
            )
        });
        let mut archive = open_wheel(Cursor::new(&wheel[..]), FILENAME).unwrap();
        let planned = plan_wheel(&mut archive, FILENAME, &target()).unwrap();
        let file = planned
            .files()
            .iter()
            .find(|f| f.path.ends_with("demo_pkg/__init__.py"))
            .unwrap();
        let mut given = Vec::new();
        let e = read_planned(&mut archive, &planned, file, |reader| {
            reader.read_to_end(&mut given).map(drop)
        })
        .unwrap_err();
        assert!(
            matches!(e, WheelInstallError::Mismatch { what: "hash", .. }),
            "{e}"
        );
        // The reader gave the bytes, then refused to end.
        assert_eq!(given, b"VALUE = 1\n");
    }

    /// A file `RECORD` hashes with SHA-512 is read while planning to learn the
    /// SHA-256 the installed `RECORD` lists.
    #[test]
    fn item15_other_record_algorithms_are_hashed_while_planning() {
        let contents = b"VALUE = 1\n";
        let sha512 = format!(
            "demo_pkg/__init__.py,sha512={},10",
            urlsafe_b64(&Sha512::digest(contents))
        );
        let wheel = build(&basic(), |r| {
            r.replace(&record_line("demo_pkg/__init__.py", contents), &sha512)
        });
        let files = install_wheel(&wheel, FILENAME, &target()).unwrap();
        let sp = "usr/local/lib/python3.12/site-packages";
        assert_eq!(
            find(&files, &format!("{sp}/demo_pkg/__init__.py")).contents,
            contents
        );
        let record =
            String::from_utf8(find(&files, &format!("{sp}/{DI}/RECORD")).contents.clone()).unwrap();
        assert!(
            record.contains(&record_line("demo_pkg/__init__.py", contents)),
            "{record}"
        );
        // A wrong SHA-512 is found while planning.
        let wheel = build(&basic(), |r| {
            r.replace(
                &record_line("demo_pkg/__init__.py", contents),
                &sha512.replace("sha512=", "sha512=AA"),
            )
        });
        assert!(matches!(
            plan(&wheel),
            Err(WheelInstallError::Mismatch { what: "hash", .. })
        ));
    }

    /// A script as installed: its `#!python` line rewritten.
    fn rewrite_shebang(contents: &[u8], interpreter: &str) -> Vec<u8> {
        let strip = shebang_len(&contents[..contents.len().min(SHEBANG_HEAD)]);
        if strip == 0 {
            return contents.to_vec();
        }
        let mut out = format!("#!{interpreter}").into_bytes();
        out.extend_from_slice(&contents[strip..]);
        out
    }

    #[test]
    fn helpers() {
        assert_eq!(urlsafe_b64(b""), "");
        assert_eq!(urlsafe_b64(b"f"), "Zg");
        assert_eq!(urlsafe_b64(b"fo"), "Zm8");
        assert_eq!(urlsafe_b64(b"foo"), "Zm9v");
        assert_eq!(urlsafe_b64(&[0xfb, 0xff]), "-_8");
        assert_eq!(relative("a/b/c", "a/b/c/d/e"), "d/e");
        assert_eq!(
            relative("usr/local/lib/py/sp", "usr/local/bin/x"),
            "../../../bin/x"
        );
        assert_eq!(
            csv_split("\"a,b\",\"c\"\"d\",").unwrap(),
            ["a,b", "c\"d", ""]
        );
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(rewrite_shebang(b"#!pythonw\nx", "/py"), b"#!/py\nx");
        assert_eq!(
            rewrite_shebang(b"#!python3.12\nx", "/py"),
            b"#!python3.12\nx"
        );
        assert_eq!(rewrite_shebang(b"#!python", "/py"), b"#!/py");
    }
}
