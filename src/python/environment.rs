//! The Python environment of a base image, read from what its layers hold: the
//! CPython interpreter and its full version, where `pip install` would put files
//! (official `python` images and Debian's `python3` differ), the glibc version (→ the
//! manylinux tags it accepts), the distributions already installed and the base's
//! pip constraints file.
//!
//! Pure: the caller hands over the captured files, directories, symlinks and the
//! image's environment; nothing here reads the host.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use pep440_rs::Version;
use pep508_rs::PackageName;

use super::metadata::CoreMetadata;
use super::resolver::BaseDist;
use super::tags::{Arch, Implementation, Target};
use super::wheel_install::InstallTarget;

/// The constraints file an Astro Runtime base ships.
pub(super) const BASE_CONSTRAINTS: &str = "etc/pip-constraints.txt";

/// Why a base's Python environment could not be made out.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvironmentError {
    /// No `python3.N` interpreter in `/usr/local/bin` or `/usr/bin`.
    #[error(
        "The base image has no CPython interpreter (`/usr/local/bin/python3.N` or `/usr/bin/python3.N`), so `requirements.txt` cannot be installed"
    )]
    NoPython,
    /// No glibc found.
    #[error(
        "Cannot tell the base image's glibc version (no `libc6` in its dpkg status and no `libc-2.N.so`): wheels for Linux need glibc"
    )]
    NoGlibc,
}

/// What the layers of a base show, as the image facts capture it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BaseView<'a> {
    /// Captured small files by path (no leading `/`).
    pub files: &'a BTreeMap<String, String>,
    /// Every directory path.
    pub dirs: &'a BTreeSet<String>,
    /// Every symlink and its target.
    pub symlinks: &'a BTreeMap<String, String>,
    /// `python3.N` interpreter paths.
    pub interpreters: &'a BTreeSet<String>,
    /// The image config's `Env`, as `NAME=value` lines.
    pub env: &'a [String],
}

/// One distribution the base has installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InstalledDist {
    /// Its `*.dist-info` directory (no leading `/`).
    pub dist_info: String,
    /// Its parsed `METADATA`.
    pub metadata: CoreMetadata,
}

/// Everything about the base that decides what to install and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PythonEnvironment {
    /// The platform wheels must fit.
    pub target: Target,
    /// The interpreter's full version (`3.12.7`).
    pub full_version: String,
    /// Where the layer puts files.
    pub install: InstallTarget,
    /// Installed distributions on the interpreter's path, by name (first on
    /// `sys.path` wins, as Python's import system has it).
    pub installed: BTreeMap<PackageName, InstalledDist>,
    /// The text of the base's pip constraints file, if it has one.
    pub constraints: Option<String>,
}

impl PythonEnvironment {
    /// Reads the environment from a base image's view.
    pub(crate) fn from_base(view: BaseView<'_>) -> Result<Self, EnvironmentError> {
        let (interpreter, minor) = pick_interpreter(view.interpreters)?;
        let local = interpreter.starts_with("usr/local/");
        let py = format!("python3.{minor}");
        // Official images (built from source into /usr/local) use `site-packages`;
        // Debian's python3 gives pip the `posix_local` scheme: /usr/local with
        // `dist-packages`, next to the distribution's own /usr/lib/python3/dist-packages.
        let official = local
            && view
                .dirs
                .contains(&format!("usr/local/lib/{py}/site-packages"));
        let (purelib, path_dirs) = if official {
            let site = format!("usr/local/lib/{py}/site-packages");
            (site.clone(), vec![site])
        } else {
            let site = format!("usr/local/lib/{py}/dist-packages");
            (
                site.clone(),
                vec![
                    site,
                    "usr/lib/python3/dist-packages".to_string(),
                    format!("usr/lib/{py}/dist-packages"),
                ],
            )
        };
        let install = InstallTarget {
            purelib: purelib.clone(),
            platlib: purelib,
            scripts: "usr/local/bin".to_string(),
            data: "usr/local".to_string(),
            headers: format!("usr/local/include/{py}"),
            interpreter: format!("/{interpreter}"),
        };
        let target = Target {
            python: (3, minor),
            implementation: Implementation::CPython,
            glibc: glibc(view)?,
            arch: Arch::X86_64,
        };
        let full_version = full_version(view, minor);
        Ok(Self {
            target,
            full_version,
            install,
            installed: installed(view.files, &path_dirs),
            constraints: view.files.get(BASE_CONSTRAINTS).cloned(),
        })
    }

    /// The installed distributions as the resolver takes them.
    pub(crate) fn base_dists(&self) -> BTreeMap<PackageName, BaseDist> {
        self.installed
            .iter()
            .map(|(name, dist)| {
                (
                    name.clone(),
                    BaseDist {
                        version: dist.metadata.version.clone(),
                        requires_dist: Some(dist.metadata.requires_dist.clone()),
                    },
                )
            })
            .collect()
    }
}

/// The newest `python3.N`, preferring `/usr/local/bin` (where official images put
/// the interpreter `python3` runs) over `/usr/bin`.
fn pick_interpreter(interpreters: &BTreeSet<String>) -> Result<(String, u8), EnvironmentError> {
    interpreters
        .iter()
        .filter_map(|path| {
            let minor = path.rsplit_once("python3.")?.1.parse::<u8>().ok()?;
            Some((path.starts_with("usr/local/bin/"), minor, path.clone()))
        })
        .max()
        .map(|(_, minor, path)| (path, minor))
        .ok_or(EnvironmentError::NoPython)
}

/// `2.36` from the dpkg status's `libc6` version, or from a `libc-2.N.so` file name
/// (a symlink target in images with glibc before 2.34).
fn glibc(view: BaseView<'_>) -> Result<(u16, u16), EnvironmentError> {
    let from_dpkg = dpkg_version(view.files, "libc6").and_then(|v| major_minor(&v));
    let from_file = || {
        view.symlinks
            .iter()
            .flat_map(|(path, target)| [path.as_str(), target.as_str()])
            .filter_map(|p| p.rsplit('/').next())
            .filter_map(|name| name.strip_prefix("libc-")?.strip_suffix(".so"))
            .find_map(major_minor)
    };
    from_dpkg
        .or_else(from_file)
        .ok_or(EnvironmentError::NoGlibc)
}

/// `(major, minor)` from the start of `2.36-9+deb12u4`.
fn major_minor(version: &str) -> Option<(u16, u16)> {
    let upstream = version.split_once(':').map_or(version, |(_, v)| v);
    let mut parts = upstream.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The `Version:` of an installed package in the dpkg status database(s).
fn dpkg_version(files: &BTreeMap<String, String>, package: &str) -> Option<String> {
    files
        .iter()
        .filter(|(path, _)| {
            path.as_str() == "var/lib/dpkg/status" || path.starts_with("var/lib/dpkg/status.d/")
        })
        .flat_map(|(_, text)| text.split("\n\n"))
        .find_map(|paragraph| {
            let field = |key: &str| {
                paragraph.lines().find_map(|l| {
                    l.strip_prefix(key)
                        .and_then(|rest| rest.strip_prefix(':'))
                        .map(str::trim)
                })
            };
            let name = field("Package")?;
            let installed = field("Status").is_none_or(|s| s.ends_with(" installed"));
            (name == package && installed)
                .then(|| field("Version").map(str::to_string))
                .flatten()
        })
}

/// The full version: the official images' `PYTHON_VERSION`, Debian's
/// `libpython3.N-minimal` package, or `patchlevel.h`; else `3.N.0`.
fn full_version(view: BaseView<'_>, minor: u8) -> String {
    let prefix = format!("3.{minor}.");
    let accept = |v: &str| {
        let v = v.trim();
        (v.starts_with(&prefix) && Version::from_str(v).is_ok()).then(|| v.to_string())
    };
    let from_env = view
        .env
        .iter()
        .find_map(|line| line.strip_prefix("PYTHON_VERSION="))
        .and_then(accept);
    let from_dpkg = || {
        [
            format!("libpython3.{minor}-minimal"),
            format!("python3.{minor}-minimal"),
        ]
        .iter()
        .find_map(|p| dpkg_version(view.files, p))
        .and_then(|v| {
            let upstream = v.split_once(':').map_or(v.as_str(), |(_, v)| v);
            accept(upstream.split(['-', '~', '+']).next().unwrap_or(upstream))
        })
    };
    let from_header = || {
        view.files
            .iter()
            .filter(|(path, _)| path.ends_with(&format!("python3.{minor}/patchlevel.h")))
            .flat_map(|(_, text)| text.lines())
            .find_map(|l| l.trim().strip_prefix("#define PY_VERSION"))
            .and_then(|v| accept(v.trim().trim_matches('"').trim_end_matches('+')))
    };
    from_env
        .or_else(from_dpkg)
        .or_else(from_header)
        .unwrap_or_else(|| {
            tracing::warn!("cannot tell the base's full Python version; assuming 3.{minor}.0");
            format!("3.{minor}.0")
        })
}

/// Distributions installed in `path_dirs`, earlier directories winning.
fn installed(
    files: &BTreeMap<String, String>,
    path_dirs: &[String],
) -> BTreeMap<PackageName, InstalledDist> {
    let mut out = BTreeMap::new();
    for dir in path_dirs {
        let prefix = format!("{dir}/");
        for (path, text) in files.range(prefix.clone()..) {
            let Some(rest) = path.strip_prefix(&prefix) else {
                break;
            };
            let Some((dist_info, "METADATA")) = rest.split_once('/') else {
                continue;
            };
            if !dist_info.ends_with(".dist-info") {
                continue;
            }
            match CoreMetadata::parse(text.as_bytes()) {
                Ok(metadata) => {
                    out.entry(metadata.name.clone())
                        .or_insert_with(|| InstalledDist {
                            dist_info: format!("{dir}/{dist_info}"),
                            metadata,
                        });
                }
                Err(error) => {
                    tracing::warn!(%error, path, "skipping unreadable installed metadata");
                }
            }
        }
    }
    out
}

impl crate::hint::Hint for EnvironmentError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::NoPython => vec![
                "Use a base image with CPython (an Astro Runtime or `python` image), or empty `requirements.txt`".into(),
            ],
            Self::NoGlibc => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        files: BTreeMap<String, String>,
        dirs: BTreeSet<String>,
        symlinks: BTreeMap<String, String>,
        interpreters: BTreeSet<String>,
        env: Vec<String>,
    }

    impl Fixture {
        fn view(&self) -> BaseView<'_> {
            BaseView {
                files: &self.files,
                dirs: &self.dirs,
                symlinks: &self.symlinks,
                interpreters: &self.interpreters,
                env: &self.env,
            }
        }
    }

    fn strings<const N: usize>(items: [&str; N]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn metadata(name: &str, version: &str, requires: &[&str]) -> String {
        let mut text = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
        for r in requires {
            text.push_str(&format!("Requires-Dist: {r}\n"));
        }
        text
    }

    #[test]
    fn official_python_image() {
        let site = "usr/local/lib/python3.12/site-packages";
        let fixture = Fixture {
            files: BTreeMap::from([
                (
                    format!("{site}/apache_airflow-3.0.2.dist-info/METADATA"),
                    metadata("apache-airflow", "3.0.2", &["pendulum>=3"]),
                ),
                (
                    "var/lib/dpkg/status".to_string(),
                    "Package: base-files\nStatus: install ok installed\nVersion: 12.4\n\n\
                     Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u4\n"
                        .to_string(),
                ),
                (
                    BASE_CONSTRAINTS.to_string(),
                    "pendulum==3.0.0\n".to_string(),
                ),
            ]),
            dirs: strings([site, "usr/local/lib/python3.12"]),
            symlinks: BTreeMap::new(),
            interpreters: strings(["usr/bin/python3.11", "usr/local/bin/python3.12"]),
            env: vec!["PYTHON_VERSION=3.12.7".to_string()],
        };
        let env = PythonEnvironment::from_base(fixture.view()).expect("environment");
        assert_eq!(env.target.python, (3, 12));
        assert_eq!(env.target.glibc, (2, 36));
        assert_eq!(env.full_version, "3.12.7");
        assert_eq!(env.install.purelib, site);
        assert_eq!(env.install.interpreter, "/usr/local/bin/python3.12");
        assert_eq!(env.install.scripts, "usr/local/bin");
        let airflow = PackageName::from_str("apache-airflow").expect("name");
        assert_eq!(
            env.installed[&airflow].metadata.version.to_string(),
            "3.0.2"
        );
        assert_eq!(
            env.base_dists()[&airflow]
                .requires_dist
                .as_ref()
                .map(Vec::len),
            Some(1)
        );
        assert!(env.constraints.is_some());
    }

    #[test]
    fn debian_python3() {
        let fixture = Fixture {
            files: BTreeMap::from([
                (
                    "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA".to_string(),
                    metadata("six", "1.16.0", &[]),
                ),
                (
                    "var/lib/dpkg/status".to_string(),
                    "Package: libpython3.11-minimal\nStatus: install ok installed\nVersion: 3.11.2-6+deb12u6\n\n\
                     Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u10\n"
                        .to_string(),
                ),
            ]),
            dirs: strings(["usr/lib/python3/dist-packages", "usr/local/lib/python3.11"]),
            symlinks: BTreeMap::new(),
            interpreters: strings(["usr/bin/python3.11"]),
            env: vec![],
        };
        let env = PythonEnvironment::from_base(fixture.view()).expect("environment");
        assert_eq!(env.full_version, "3.11.2");
        assert_eq!(
            env.install.purelib,
            "usr/local/lib/python3.11/dist-packages"
        );
        assert_eq!(env.install.interpreter, "/usr/bin/python3.11");
        assert!(
            env.installed
                .contains_key(&PackageName::from_str("six").expect("name"))
        );
    }

    #[test]
    fn glibc_from_file_names_and_missing_parts() {
        let mut fixture = Fixture {
            files: BTreeMap::new(),
            dirs: BTreeSet::new(),
            symlinks: BTreeMap::from([(
                "lib/x86_64-linux-gnu/libc.so.6".to_string(),
                "libc-2.31.so".to_string(),
            )]),
            interpreters: strings(["usr/local/bin/python3.9"]),
            env: vec![],
        };
        let env = PythonEnvironment::from_base(fixture.view()).expect("environment");
        assert_eq!(env.target.glibc, (2, 31));
        assert_eq!(env.full_version, "3.9.0");
        fixture.symlinks.clear();
        assert_eq!(
            PythonEnvironment::from_base(fixture.view()),
            Err(EnvironmentError::NoGlibc)
        );
        fixture.interpreters.clear();
        assert_eq!(
            PythonEnvironment::from_base(fixture.view()),
            Err(EnvironmentError::NoPython)
        );
    }
}
