//! Installs a wheel into an in-memory file tree, following the binary distribution
//! format: root files to purelib or platlib, `.data/*` to their schemes, `#!python`
//! scripts rewritten for the target interpreter, console and GUI entry points turned
//! into launchers, `INSTALLER` written and `RECORD` rewritten.
//!
//! Every file is checked against the wheel's `RECORD` before it is used, and no path
//! may leave its destination. No byte-compilation, no I/O: the caller turns the
//! returned files into a layer.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};

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

/// Installs `wheel` (the bytes of the file named `filename`) for `target`. The
/// result is sorted by path.
pub fn install_wheel(
    wheel: &[u8],
    filename: &str,
    target: &InstallTarget,
) -> Result<Vec<InstalledFile>, WheelInstallError> {
    let name: WheelName = filename.parse()?;
    let entries = read_entries(wheel, filename)?;
    let unpacked = Unpacked::new(filename, &name, entries)?;
    let root = if unpacked.root_is_purelib()? {
        &target.purelib
    } else {
        &target.platlib
    };
    unpacked.verify_record()?;
    let mut tree = InstalledTree::new(filename);
    unpacked.place_files(target, root, &mut tree)?;
    unpacked.add_launchers(target, &mut tree)?;
    tree.finish(root, &unpacked.dist_info)
}

/// One archive entry: its bytes and whether its zip mode marks it executable.
struct Entry {
    contents: Vec<u8>,
    executable: bool,
}

/// Reads every file entry of the wheel `w`, checking names as it goes (directories
/// are checked, then skipped).
fn read_entries(wheel: &[u8], w: &str) -> Result<BTreeMap<String, Entry>, WheelInstallError> {
    let zip_err = |source| WheelInstallError::Zip {
        wheel: w.to_string(),
        source,
    };
    let mut archive = ZipArchive::new(Cursor::new(wheel)).map_err(zip_err)?;
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(zip_err)?;
        let path = checked_entry(w, file.name_raw(), file.is_symlink())?;
        if file.is_dir() {
            continue;
        }
        let executable = file.unix_mode().is_some_and(|m| m & 0o111 != 0);
        let contents = read_declared(&mut file, w, &path)?;
        let entry = Entry {
            contents,
            executable,
        };
        if entries.insert(path.clone(), entry).is_some() {
            return Err(WheelInstallError::Duplicate {
                wheel: w.to_string(),
                path,
            });
        }
    }
    Ok(entries)
}

/// The bytes of one entry, never reading past the size the central directory
/// declares.
fn read_declared(
    file: &mut zip::read::ZipFile<'_, Cursor<&[u8]>>,
    w: &str,
    path: &str,
) -> Result<Vec<u8>, WheelInstallError> {
    let declared = file.size();
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
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "entry is larger than its declared size",
            ),
        });
    }
    Ok(contents)
}

/// A wheel's checked entries and its one `.dist-info` directory.
struct Unpacked<'a> {
    /// The wheel's filename, for errors.
    wheel: &'a str,
    entries: BTreeMap<String, Entry>,
    /// `NAME-VERSION.dist-info`, named for this project.
    dist_info: String,
}

impl<'a> Unpacked<'a> {
    /// Finds the one `.dist-info` directory, named for this project.
    fn new(
        wheel: &'a str,
        name: &WheelName,
        entries: BTreeMap<String, Entry>,
    ) -> Result<Self, WheelInstallError> {
        let dist_infos: BTreeSet<&str> = entries
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
            entries,
            dist_info,
        })
    }

    /// A UTF-8 metadata file of the `.dist-info` directory.
    fn text(&self, file: &str) -> Result<String, WheelInstallError> {
        let path = format!("{}/{file}", self.dist_info);
        let entry = self
            .entries
            .get(&path)
            .ok_or_else(|| WheelInstallError::MissingMetadata {
                wheel: self.wheel.to_string(),
                file: path.clone(),
            })?;
        String::from_utf8(entry.contents.clone()).map_err(|_| WheelInstallError::Utf8 {
            wheel: self.wheel.to_string(),
            path,
        })
    }

    /// Reads `WHEEL`: refuses a `Wheel-Version` other than 1.x, and tells whether
    /// the root goes to purelib.
    fn root_is_purelib(&self) -> Result<bool, WheelInstallError> {
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

    /// Every other file must be listed in `RECORD` with a matching hash and size,
    /// and every file `RECORD` lists must be in the archive.
    fn verify_record(&self) -> Result<(), WheelInstallError> {
        let record = parse_record(&self.text("RECORD")?, self.wheel)?;
        for (path, entry) in &self.entries {
            if !self.is_record(path) {
                self.verify_entry(path, &entry.contents, record.get(path))?;
            }
        }
        if let Some(path) = record
            .keys()
            .find(|p| !self.is_record(p) && !self.entries.contains_key(*p))
        {
            return Err(WheelInstallError::MissingFromArchive {
                wheel: self.wheel.to_string(),
                path: path.clone(),
            });
        }
        Ok(())
    }

    /// Checks one file against its `RECORD` row.
    fn verify_entry(
        &self,
        path: &str,
        contents: &[u8],
        row: Option<&RecordRow>,
    ) -> Result<(), WheelInstallError> {
        let wheel = self.wheel.to_string();
        let path = path.to_string();
        let Some(RecordRow {
            hash: Some((algorithm, expected)),
            size,
        }) = row
        else {
            return Err(WheelInstallError::NotInRecord { wheel, path });
        };
        let actual = match algorithm.as_str() {
            "sha256" => urlsafe_b64(&Sha256::digest(contents)),
            "sha384" => urlsafe_b64(&Sha384::digest(contents)),
            "sha512" => urlsafe_b64(&Sha512::digest(contents)),
            _ => {
                return Err(WheelInstallError::HashAlgorithm {
                    wheel,
                    path,
                    algorithm: algorithm.clone(),
                });
            }
        };
        if actual != expected.trim_end_matches('=') {
            return Err(WheelInstallError::Mismatch {
                wheel,
                path,
                what: "hash",
            });
        }
        if size.is_some_and(|s| s != contents.len() as u64) {
            return Err(WheelInstallError::Mismatch {
                wheel,
                path,
                what: "size",
            });
        }
        Ok(())
    }

    /// Places every file but `RECORD` (and its signatures): root files under `root`,
    /// `.data/KEY/` files in their schemes.
    fn place_files(
        &self,
        target: &InstallTarget,
        root: &str,
        tree: &mut InstalledTree<'_>,
    ) -> Result<(), WheelInstallError> {
        let data_prefix = format!("{}.data/", self.dist_info.trim_end_matches(".dist-info"));
        for (path, entry) in &self.entries {
            if self.is_record(path) {
                continue;
            }
            let mode = if entry.executable { 0o755 } else { 0o644 };
            let file = match path.strip_prefix(&data_prefix) {
                None => InstalledFile {
                    path: join(root, path),
                    mode,
                    contents: entry.contents.clone(),
                },
                Some(rest) => self.data_file(target, path, rest, mode, &entry.contents)?,
            };
            tree.put(file)?;
        }
        Ok(())
    }

    /// The installed form of `NAME.data/KEY/REL` (`rest` is `KEY/REL`): scripts
    /// become executable with their `#!python` shebang rewritten.
    fn data_file(
        &self,
        target: &InstallTarget,
        path: &str,
        rest: &str,
        mode: u32,
        contents: &[u8],
    ) -> Result<InstalledFile, WheelInstallError> {
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
        let (mode, contents) = if key == "scripts" {
            (0o755, rewrite_shebang(contents, &target.interpreter))
        } else {
            (mode, contents.to_vec())
        };
        Ok(InstalledFile {
            path: installed,
            mode,
            contents,
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
        &self,
        target: &InstallTarget,
        tree: &mut InstalledTree<'_>,
    ) -> Result<(), WheelInstallError> {
        if !self
            .entries
            .contains_key(&format!("{}/entry_points.txt", self.dist_info))
        {
            return Ok(());
        }
        for (script, module, attr) in
            parse_entry_points(&self.text("entry_points.txt")?, self.wheel)?
        {
            tree.put(InstalledFile {
                path: join(&target.scripts, &script),
                mode: 0o755,
                contents: launcher(&target.interpreter, &module, &attr).into_bytes(),
            })?;
        }
        Ok(())
    }
}

/// The files installed so far, by path.
struct InstalledTree<'a> {
    /// The wheel's filename, for errors.
    wheel: &'a str,
    files: BTreeMap<String, InstalledFile>,
}

impl<'a> InstalledTree<'a> {
    fn new(wheel: &'a str) -> Self {
        Self {
            wheel,
            files: BTreeMap::new(),
        }
    }

    /// Adds a file, refusing a second one at the same path.
    fn put(&mut self, file: InstalledFile) -> Result<(), WheelInstallError> {
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
    ) -> Result<Vec<InstalledFile>, WheelInstallError> {
        let dist_info_dir = join(root, dist_info);
        self.put(InstalledFile {
            path: join(&dist_info_dir, "INSTALLER"),
            mode: 0o644,
            contents: format!("{INSTALLER}\n").into_bytes(),
        })?;
        let record_installed = join(&dist_info_dir, "RECORD");
        let record_text = self.record(root, &record_installed);
        self.put(InstalledFile {
            path: record_installed,
            mode: 0o644,
            contents: record_text.into_bytes(),
        })?;
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
                    urlsafe_b64(&Sha256::digest(&f.contents)),
                    f.contents.len()
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

/// Replaces a `#!python` / `#!pythonw` first line with the target interpreter,
/// keeping any arguments; anything else is left alone.
fn rewrite_shebang(contents: &[u8], interpreter: &str) -> Vec<u8> {
    let Some(rest) = contents.strip_prefix(b"#!python") else {
        return contents.to_vec();
    };
    let rest = rest.strip_prefix(b"w").unwrap_or(rest);
    // Only `#!python` itself, not e.g. `#!python3-something`.
    if !matches!(rest.first(), None | Some(b' ' | b'\t' | b'\n' | b'\r')) {
        return contents.to_vec();
    }
    let mut out = format!("#!{interpreter}").into_bytes();
    out.extend_from_slice(rest);
    out
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

    #[test]
    fn refuses_path_traversal() {
        for evil in [
            "../evil.py",
            "demo_pkg/../../evil.py",
            "/etc/passwd",
            "demo_pkg-1.0.data/data/../../../etc/x",
            "demo_pkg\\..\\evil.py",
            "C:/evil.py",
        ] {
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
