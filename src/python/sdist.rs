//! Source distributions, for what needs no process: which requirements may be
//! built (`--only-binary`, `--no-binary`, `no-build`), the static metadata of an
//! sdist (`PKG-INFO` with `Metadata-Version` 2.2 or later and no dynamic
//! dependencies), its `[build-system]`, confined unpacking, the build's derivation
//! key and the text of the in-sandbox PEP 517 driver. The build itself runs through
//! the sandbox, two floors up (`pipeline/sdist_build.rs`), behind [`SdistHook`].

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use pep440_rs::Version;
use pep508_rs::{PackageName, Requirement};
use sha2::{Digest as _, Sha256};

use super::metadata::{CoreMetadata, MetadataError};
use super::resolver::{SourceError, WheelCandidate};
use crate::digest::Digest;

/// Bumped when the same inputs would build a different wheel on purpose.
const BUILD_FORMAT: &str = "airlock-sdist-build-v1";

/// The largest `PKG-INFO` or `METADATA` read.
const MAX_METADATA: u64 = 16 << 20;

/// The largest file unpacked from an sdist, and the most bytes in all.
const MAX_UNPACKED: u64 = 2 << 30;

/// The PEP 517 backend pip uses for a project without `[build-system]`.
pub(crate) const LEGACY_BACKEND: &str = "setuptools.build_meta:__legacy__";

/// Why an sdist could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SdistError {
    #[error("Cannot read the sdist `{filename}`: {reason}")]
    Archive { filename: String, reason: String },
    #[error("The sdist `{filename}` holds an unsafe path `{path}`")]
    UnsafePath { filename: String, path: String },
    #[error("The sdist `{filename}` has invalid `PKG-INFO`")]
    PkgInfo {
        filename: String,
        #[source]
        source: MetadataError,
    },
    #[error("The sdist `{filename}` has an invalid `pyproject.toml`: {reason}")]
    Pyproject { filename: String, reason: String },
    #[error("Cannot unpack the sdist `{filename}` into `{}`", dir.display())]
    Unpack {
        filename: String,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Which packages may be taken from an sdist, and which must be (pip's
/// `--only-binary` and `--no-binary`, `[python] no-build`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BinaryPolicy {
    /// `--only-binary :all:` or `no-build = true`: no package is built.
    pub only_binary_all: bool,
    /// `--only-binary NAME,...`.
    pub only_binary: BTreeSet<PackageName>,
    /// `--no-binary :all:`: every package is built from its sdist.
    pub no_binary_all: bool,
    /// `--no-binary NAME,...`.
    pub no_binary: BTreeSet<PackageName>,
}

impl BinaryPolicy {
    /// Only wheels (build requirements, `no-build`).
    pub(crate) fn wheels_only() -> Self {
        Self {
            only_binary_all: true,
            ..Self::default()
        }
    }

    /// Whether `name` may be built from an sdist.
    pub(crate) fn may_build(&self, name: &PackageName) -> bool {
        !(self.only_binary.contains(name) || self.only_binary_all && !self.no_binary.contains(name))
    }

    /// Whether a wheel of `name` may be installed as published.
    pub(crate) fn may_use_wheel(&self, name: &PackageName) -> bool {
        !(self.no_binary.contains(name) || self.no_binary_all && !self.only_binary.contains(name))
    }

    /// Applies one `--only-binary` (`no_binary` false) or `--no-binary` value as pip
    /// does: a comma-separated list of names, `:all:` or `:none:`; a name moves from
    /// the other list to this one.
    pub(crate) fn apply(&mut self, no_binary: bool, value: &str) {
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (all, names, other_all, other) = if no_binary {
                (
                    &mut self.no_binary_all,
                    &mut self.no_binary,
                    &mut self.only_binary_all,
                    &mut self.only_binary,
                )
            } else {
                (
                    &mut self.only_binary_all,
                    &mut self.only_binary,
                    &mut self.no_binary_all,
                    &mut self.no_binary,
                )
            };
            match item {
                ":all:" => {
                    *all = true;
                    names.clear();
                    *other_all = false;
                    other.clear();
                }
                ":none:" => {
                    *all = false;
                    names.clear();
                }
                name => {
                    if let Ok(name) = PackageName::from_str(name) {
                        other.remove(&name);
                        names.insert(name);
                    }
                }
            }
        }
    }
}

/// What the resolver asks of the build side when a version has only an sdist:
/// its core metadata (read statically, or from the backend in the sandbox).
/// Called from the resolver's blocking thread.
pub(crate) trait SdistHook: Send + Sync {
    /// The core metadata of `name` `version` from `sdist`.
    fn metadata(
        &self,
        name: &PackageName,
        version: &Version,
        sdist: &WheelCandidate,
    ) -> Result<CoreMetadata, SourceError>;
}

/// The archive kind of an sdist file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    TarGz,
    Zip,
}

fn kind(filename: &str) -> Option<Kind> {
    if filename.ends_with(".tar.gz") || filename.ends_with(".tgz") {
        Some(Kind::TarGz)
    } else if filename.ends_with(".zip") {
        Some(Kind::Zip)
    } else {
        None
    }
}

/// Whether `filename` is an sdist airlock can build (`.tar.gz` or `.zip`).
pub(crate) fn is_buildable(filename: &str) -> bool {
    kind(filename).is_some()
}

/// `path` as safe relative parts: no root, no `..`, no empty name.
fn safe_parts(path: &Path) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for part in path.components() {
        match part {
            Component::Normal(p) => out.push(p.to_str()?.to_string()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

/// One member's bytes, adding them to `total`: an archive that unpacks to
/// [`MAX_UNPACKED`] bytes or more is refused.
fn read_capped(member: impl Read, total: &mut u64, filename: &str) -> Result<Vec<u8>, SdistError> {
    let mut data = Vec::new();
    member
        .take(MAX_UNPACKED)
        .read_to_end(&mut data)
        .map_err(|e| archive_error(filename, e))?;
    *total += data.len() as u64;
    if *total >= MAX_UNPACKED {
        return Err(archive_error(filename, "it unpacks to more than 2 GiB"));
    }
    Ok(data)
}

fn archive_error(filename: &str, reason: impl ToString) -> SdistError {
    SdistError::Archive {
        filename: filename.to_string(),
        reason: reason.to_string(),
    }
}

/// Every member of the archive, in archive order: its safe path parts, whether it is
/// a regular file, its executable bit and (for files) its bytes. Links and special
/// files are skipped: an sdist needs none to build, and none may point outside.
fn members(
    bytes: &[u8],
    filename: &str,
    mut each: impl FnMut(Member) -> Result<(), SdistError>,
) -> Result<(), SdistError> {
    let unsafe_path = |path: String| SdistError::UnsafePath {
        filename: filename.to_string(),
        path,
    };
    let mut total = 0u64;
    match kind(filename) {
        Some(Kind::TarGz) => {
            let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
            let entries = archive.entries().map_err(|e| archive_error(filename, e))?;
            for entry in entries {
                let mut entry = entry.map_err(|e| archive_error(filename, e))?;
                let path = entry
                    .path()
                    .map_err(|e| archive_error(filename, e))?
                    .into_owned();
                let Some(parts) = safe_parts(&path) else {
                    return Err(unsafe_path(path.display().to_string()));
                };
                let header = entry.header();
                let kind = header.entry_type();
                let executable = header.mode().unwrap_or(0o644) & 0o111 != 0;
                if kind.is_dir() {
                    each(Member {
                        parts,
                        file: None,
                        executable,
                    })?;
                } else if kind.is_file() {
                    let data = read_capped(&mut entry, &mut total, filename)?;
                    each(Member {
                        parts,
                        file: Some(data),
                        executable,
                    })?;
                } else {
                    tracing::warn!(sdist = filename, path = %path.display(), "skipping a link or special file in an sdist");
                }
            }
        }
        Some(Kind::Zip) => {
            let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
                .map_err(|e| archive_error(filename, e))?;
            for i in 0..archive.len() {
                let mut file = archive
                    .by_index(i)
                    .map_err(|e| archive_error(filename, e))?;
                let name = String::from_utf8_lossy(file.name_raw()).into_owned();
                let Some(parts) = safe_parts(Path::new(&name)) else {
                    return Err(unsafe_path(name));
                };
                let mode = file.unix_mode().unwrap_or(0o644);
                let executable = mode & 0o111 != 0;
                if file.is_dir() {
                    each(Member {
                        parts,
                        file: None,
                        executable,
                    })?;
                } else if file.is_symlink() {
                    tracing::warn!(sdist = filename, path = name, "skipping a link in an sdist");
                } else {
                    let data = read_capped(&mut file, &mut total, filename)?;
                    each(Member {
                        parts,
                        file: Some(data),
                        executable,
                    })?;
                }
            }
        }
        None => return Err(archive_error(filename, "not a `.tar.gz` or `.zip` file")),
    }
    Ok(())
}

/// One archive member.
struct Member {
    parts: Vec<String>,
    /// The bytes of a regular file; `None` for a directory.
    file: Option<Vec<u8>>,
    executable: bool,
}

/// The sdist's top-level `NAME-VERSION/PKG-INFO`, if any.
pub(crate) fn pkg_info(bytes: &[u8], filename: &str) -> Result<Option<Vec<u8>>, SdistError> {
    let mut found = None;
    members(bytes, filename, |m| {
        if found.is_none()
            && m.parts.len() == 2
            && m.parts[1] == "PKG-INFO"
            && let Some(data) = m.file
            && (data.len() as u64) < MAX_METADATA
        {
            found = Some(data);
        }
        Ok(())
    })?;
    Ok(found)
}

/// The core metadata an sdist declares statically: `PKG-INFO` with
/// `Metadata-Version` 2.2 or later, where neither `Requires-Dist` nor
/// `Requires-Python` is `Dynamic`. `None` when the backend must be asked.
pub(crate) fn static_metadata(
    bytes: &[u8],
    filename: &str,
) -> Result<Option<CoreMetadata>, SdistError> {
    let Some(info) = pkg_info(bytes, filename)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&info);
    let headers = text.split("\n\n").next().unwrap_or("");
    let version = headers
        .lines()
        .find_map(|l| l.strip_prefix("Metadata-Version:"))
        .map(str::trim)
        .and_then(|v| {
            let (major, minor) = v.split_once('.').unwrap_or((v, "0"));
            Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?))
        });
    if version.is_none_or(|v| v < (2, 2)) {
        return Ok(None);
    }
    let dynamic = headers
        .lines()
        .filter_map(|l| l.strip_prefix("Dynamic:"))
        .any(|field| {
            let field = field.trim();
            field.eq_ignore_ascii_case("Requires-Dist")
                || field.eq_ignore_ascii_case("Requires-Python")
        });
    if dynamic {
        return Ok(None);
    }
    CoreMetadata::parse(&info)
        .map(Some)
        .map_err(|source| SdistError::PkgInfo {
            filename: filename.to_string(),
            source,
        })
}

/// Unpacks the sdist into `dest` (which must exist and be empty), with modes
/// normalised (0644/0755); returns its top-level directory's path when it has
/// exactly one (as sdists do), else `dest`.
pub(crate) fn unpack(bytes: &[u8], filename: &str, dest: &Path) -> Result<PathBuf, SdistError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |dir: &Path| {
        let dir = dir.to_path_buf();
        move |source| SdistError::Unpack {
            filename: filename.to_string(),
            dir,
            source,
        }
    };
    let mut tops = BTreeSet::new();
    members(bytes, filename, |m| {
        tops.insert(m.parts[0].clone());
        let path = m
            .parts
            .iter()
            .fold(dest.to_path_buf(), |p, part| p.join(part));
        match m.file {
            None => std::fs::create_dir_all(&path).map_err(io(&path))?,
            Some(data) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                }
                // A fresh tree without links: nothing on the way can lead outside.
                if path.symlink_metadata().is_ok_and(|m| !m.is_file()) {
                    return Err(SdistError::UnsafePath {
                        filename: filename.to_string(),
                        path: m.parts.join("/"),
                    });
                }
                std::fs::write(&path, data).map_err(io(&path))?;
                let mode = if m.executable { 0o755 } else { 0o644 };
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    .map_err(io(&path))?;
            }
        }
        Ok(())
    })?;
    match (tops.len(), tops.first()) {
        (1, Some(top)) if dest.join(top).is_dir() => Ok(dest.join(top)),
        _ => Ok(dest.to_path_buf()),
    }
}

/// A project's `[build-system]` (PEP 517/518), or setuptools' legacy default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BuildSystem {
    pub requires: Vec<Requirement>,
    /// `module:object`.
    pub backend: String,
    /// `backend-path`: directories of the source tree put first on `sys.path`.
    pub backend_path: Vec<String>,
}

/// The build system of a source tree from its `pyproject.toml` text (`None`: no
/// such file): what pip does for a missing table or key.
pub(crate) fn build_system(
    pyproject: Option<&str>,
    filename: &str,
) -> Result<BuildSystem, SdistError> {
    let bad = |reason: String| SdistError::Pyproject {
        filename: filename.to_string(),
        reason,
    };
    let legacy_requires = || -> Vec<Requirement> {
        ["setuptools>=40.8.0", "wheel"]
            .iter()
            .filter_map(|r| Requirement::from_str(r).ok())
            .collect()
    };
    let table = match pyproject {
        None => None,
        Some(text) => {
            let value: toml::Table =
                toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
            value.get("build-system").cloned()
        }
    };
    let Some(table) = table else {
        return Ok(BuildSystem {
            requires: legacy_requires(),
            backend: LEGACY_BACKEND.to_string(),
            backend_path: Vec::new(),
        });
    };
    let strings = |key: &str| -> Result<Option<Vec<String>>, SdistError> {
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad(format!("`build-system.{key}` holds a non-string")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(bad(format!("`build-system.{key}` is not a list"))),
        }
    };
    let requires = match strings("requires")? {
        None => legacy_requires(),
        Some(list) => list
            .iter()
            .map(|r| {
                Requirement::from_str(r).map_err(|e| bad(format!("build requirement `{r}`: {e}")))
            })
            .collect::<Result<_, _>>()?,
    };
    let backend = match table.get("build-backend") {
        None => LEGACY_BACKEND.to_string(),
        Some(toml::Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(_) => return Err(bad("`build-system.build-backend` is not a name".into())),
    };
    let backend_path = strings("backend-path")?.unwrap_or_default();
    for p in &backend_path {
        if safe_parts(Path::new(p)).is_none() && p != "." {
            return Err(bad(format!(
                "`backend-path` entry `{p}` leaves the source tree"
            )));
        }
    }
    Ok(BuildSystem {
        requires,
        backend,
        backend_path,
    })
}

/// What decides the bytes of a wheel built from an sdist.
pub(crate) struct BuildKeyInput<'a> {
    pub sdist_sha256: &'a Digest,
    /// The build requirements' wheels: (file name, sha256).
    pub requires: &'a [(String, Digest)],
    /// The base manifest and the keys of the layers below the build.
    pub below: &'a [Digest],
    /// The interpreter's path inside the image and its full version.
    pub interpreter: &'a str,
    pub python_version: &'a str,
    /// The fixed path the source is built at.
    pub build_path: &'a str,
    /// `SOURCE_DATE_EPOCH`.
    pub epoch: u64,
}

/// The build's derivation key: the built wheel is kept in the store under it.
pub(crate) fn build_key(input: &BuildKeyInput<'_>) -> Digest {
    let mut h = Sha256::new();
    h.update(format!(
        "{BUILD_FORMAT}\0{}\0{}\0{}\0{}\0{}\0",
        input.sdist_sha256, input.interpreter, input.python_version, input.build_path, input.epoch
    ));
    let mut requires: Vec<&(String, Digest)> = input.requires.iter().collect();
    requires.sort();
    for (filename, sha) in requires {
        h.update(format!("req\0{filename}\0{sha}\0"));
    }
    for digest in input.below {
        h.update(format!("below\0{digest}\0"));
    }
    Digest::from_sha256(h.finalize().into())
}

/// The `*.dist-info/METADATA` of a wheel's bytes.
pub(crate) fn wheel_metadata(bytes: &[u8], filename: &str) -> Result<CoreMetadata, SdistError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| archive_error(filename, e))?;
    let mut index = None;
    for i in 0..archive.len() {
        let file = archive
            .by_index_raw(i)
            .map_err(|e| archive_error(filename, e))?;
        let name = String::from_utf8_lossy(file.name_raw()).into_owned();
        let mut parts = name.split('/');
        if matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some(dir), Some("METADATA"), None) if dir.ends_with(".dist-info")
        ) {
            index = Some(i);
            break;
        }
    }
    let index = index.ok_or_else(|| archive_error(filename, "no `*.dist-info/METADATA`"))?;
    let mut data = Vec::new();
    archive
        .by_index(index)
        .map_err(|e| archive_error(filename, e))?
        .take(MAX_METADATA)
        .read_to_end(&mut data)
        .map_err(|e| archive_error(filename, e))?;
    CoreMetadata::parse(&data).map_err(|source| SdistError::PkgInfo {
        filename: filename.to_string(),
        source,
    })
}

/// The in-sandbox driver: `python -I -S driver.py ENV SRC OUT BACKEND [PATH...]`
/// adds the build environment as a site directory (its `.pth` files honoured, the
/// image's own site-packages left out, as an isolated build), imports the backend
/// (after `backend-path`), calls `build_wheel` and prints the wheel's name last.
pub(crate) const DRIVER: &str = r#"import importlib, os, site, sys
env, src, out, backend = sys.argv[1:5]
site.addsitedir(env)
os.chdir(src)
for path in reversed(sys.argv[5:]):
    sys.path.insert(0, os.path.normpath(os.path.join(src, path)))
module, _, attrs = backend.partition(":")
hooks = importlib.import_module(module.strip())
for attr in filter(None, attrs.strip().split(".")):
    hooks = getattr(hooks, attr)
name = hooks.build_wheel(out, {}, None)
print("airlock-built-wheel:" + name)
"#;

impl crate::hint::Hint for SdistError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Archive { .. } | Self::UnsafePath { .. } | Self::PkgInfo { .. } => vec![
                "the sdist is damaged or hostile; pin a wheel of the package into a `--find-links` directory instead".into(),
            ],
            Self::Pyproject { .. } | Self::Unpack { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            // `set_path` refuses `..`; write the raw name so hostile paths reach the reader.
            let name = header.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    fn name(s: &str) -> PackageName {
        PackageName::from_str(s).unwrap()
    }

    #[test]
    fn static_metadata_needs_version_2_2_and_no_dynamic_dependencies() {
        let info = |version: &str, extra: &str| {
            tar_gz(&[(
                "demo-1.0/PKG-INFO",
                format!("Metadata-Version: {version}\nName: demo\nVersion: 1.0\n{extra}Requires-Dist: six\n\nbody\n").as_bytes(),
            )])
        };
        let got = static_metadata(&info("2.2", ""), "demo-1.0.tar.gz")
            .unwrap()
            .unwrap();
        assert_eq!(got.requires_dist.len(), 1);
        assert!(
            static_metadata(&info("2.1", ""), "demo-1.0.tar.gz")
                .unwrap()
                .is_none()
        );
        assert!(
            static_metadata(&info("2.3", "Dynamic: Requires-Dist\n"), "demo-1.0.tar.gz")
                .unwrap()
                .is_none()
        );
        assert!(
            static_metadata(&info("2.10", "Dynamic: License\n"), "demo-1.0.tar.gz")
                .unwrap()
                .is_some()
        );
        let none = tar_gz(&[("demo-1.0/setup.py", b"")]);
        assert!(static_metadata(&none, "demo-1.0.tar.gz").unwrap().is_none());
    }

    #[test]
    fn hostile_sdist_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for path in ["../evil.py", "/etc/evil", "demo/../../evil"] {
            let bytes = tar_gz(&[(path, b"x")]);
            let err = unpack(&bytes, "demo-1.0.tar.gz", dir.path()).unwrap_err();
            assert!(
                matches!(err, SdistError::UnsafePath { .. }),
                "{path}: {err}"
            );
        }
        assert!(!dir.path().parent().unwrap().join("evil.py").exists());
        let ok = tar_gz(&[
            ("demo-1.0/setup.py", b"x"),
            ("demo-1.0/pkg/__init__.py", b""),
        ]);
        let top = unpack(&ok, "demo-1.0.tar.gz", dir.path()).unwrap();
        assert_eq!(top, dir.path().join("demo-1.0"));
        assert!(top.join("pkg/__init__.py").is_file());
    }

    #[test]
    fn hostile_zip_sdist_paths_are_refused() {
        let zip_of = |path: &str| {
            let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            w.start_file(path, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut w, b"x").unwrap();
            w.finish().unwrap().into_inner()
        };
        let dir = tempfile::tempdir().unwrap();
        let err = unpack(&zip_of("../evil.py"), "demo-1.0.zip", dir.path()).unwrap_err();
        assert!(matches!(err, SdistError::UnsafePath { .. }), "{err}");
        let top = unpack(&zip_of("demo-1.0/setup.py"), "demo-1.0.zip", dir.path()).unwrap();
        assert!(top.join("setup.py").is_file());
        // Only the top-level `PKG-INFO` counts (not one of a vendored project).
        let nested = tar_gz(&[(
            "demo-1.0/vendor/x/PKG-INFO",
            b"Metadata-Version: 2.2\nName: x\nVersion: 1\n",
        )]);
        assert!(pkg_info(&nested, "demo-1.0.tar.gz").unwrap().is_none());
        assert!(unpack(b"not an archive", "demo-1.0.tar.gz", dir.path()).is_err());
    }

    #[test]
    fn build_system_defaults_to_the_setuptools_legacy_backend() {
        let legacy = build_system(None, "x").unwrap();
        assert_eq!(legacy.backend, LEGACY_BACKEND);
        assert_eq!(legacy.requires.len(), 2);
        let flit = build_system(
            Some("[build-system]\nrequires = [\"flit_core>=3.2\"]\nbuild-backend = \"flit_core.buildapi\"\n"),
            "x",
        )
        .unwrap();
        assert_eq!(flit.backend, "flit_core.buildapi");
        assert_eq!(flit.requires[0].name, name("flit-core"));
        let no_table = build_system(Some("[project]\nname = \"x\"\n"), "x").unwrap();
        assert_eq!(no_table.backend, LEGACY_BACKEND);
        assert!(build_system(Some("[build-system]\nbackend-path = [\"../out\"]\n"), "x").is_err());
        assert!(build_system(Some("[build-system\n"), "x").is_err());
    }

    #[test]
    fn binary_policy_follows_pip() {
        let mut p = BinaryPolicy::default();
        assert!(p.may_build(&name("a")) && p.may_use_wheel(&name("a")));
        p.apply(false, ":all:");
        assert!(!p.may_build(&name("a")));
        p.apply(true, "a");
        assert!(p.may_build(&name("a")) && !p.may_use_wheel(&name("a")));
        assert!(!p.may_build(&name("b")));
        p.apply(false, ":none:");
        assert!(p.may_build(&name("b")));
        let mut q = BinaryPolicy::default();
        q.apply(true, ":all:");
        assert!(!q.may_use_wheel(&name("c")) && q.may_build(&name("c")));
    }

    #[test]
    fn build_key_changes_with_every_input() {
        let sha = Digest::of(b"sdist");
        let other = Digest::of(b"other");
        let reqs = vec![("w-1-py3-none-any.whl".to_string(), Digest::of(b"w"))];
        let input = BuildKeyInput {
            sdist_sha256: &sha,
            requires: &reqs,
            below: std::slice::from_ref(&other),
            interpreter: "/usr/bin/python3.11",
            python_version: "3.11.2",
            build_path: "/tmp/airlock-build/demo-1.0",
            epoch: 0,
        };
        let key = build_key(&input);
        assert_eq!(key, build_key(&input));
        assert_ne!(
            key,
            build_key(&BuildKeyInput {
                sdist_sha256: &other,
                ..input
            })
        );
        assert_ne!(
            key,
            build_key(&BuildKeyInput {
                requires: &[],
                ..input
            })
        );
        assert_ne!(
            key,
            build_key(&BuildKeyInput {
                below: &[],
                ..input
            })
        );
        assert_ne!(key, build_key(&BuildKeyInput { epoch: 1, ..input }));
    }
}
