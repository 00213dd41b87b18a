//! The package universe: every candidate version from one or more `Packages`
//! indices, indexed by name and by what they provide, and the installed set read
//! from a dpkg `status` database. Pure: it is handed texts and never fetches,
//! opens or verifies anything; choosing versions is the resolver's job.

use std::collections::HashMap;

use super::control::{ControlError, Paragraph, paragraphs};
use super::relation::{Dependency, Provide, RelationError, parse_provides, parse_relations};
use super::version::{Version, VersionError};

/// Why an index or a status database was refused. `source` names the text (an
/// index label, or `status`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UniverseError {
    #[error("`{source_name}` is not a valid control file")]
    Control {
        source_name: String,
        #[source]
        source: ControlError,
    },
    #[error("`{source_name}` line {line}: the paragraph has no `{field}` field")]
    MissingField {
        source_name: String,
        line: usize,
        field: &'static str,
    },
    #[error("`{source_name}` line {line}: package `{package}` has an invalid version")]
    BadVersion {
        source_name: String,
        line: usize,
        package: String,
        #[source]
        source: VersionError,
    },
    #[error("`{source_name}` line {line}: package `{package}` has an invalid `{field}` field")]
    BadRelation {
        source_name: String,
        line: usize,
        package: String,
        field: &'static str,
        #[source]
        source: Box<RelationError>,
    },
    #[error("`{source_name}` line {line}: package `{package}` has an invalid `Size` `{value}`")]
    BadSize {
        source_name: String,
        line: usize,
        package: String,
        value: String,
    },
}

/// The `Multi-Arch` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) enum MultiArch {
    #[default]
    No,
    Same,
    Foreign,
    Allowed,
}

impl MultiArch {
    fn parse(value: Option<&str>) -> MultiArch {
        match value.map(str::trim) {
            Some("same") => MultiArch::Same,
            Some("foreign") => MultiArch::Foreign,
            Some("allowed") => MultiArch::Allowed,
            _ => MultiArch::No,
        }
    }
}

/// One version of one package, as an index (or the status database) describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackageVersion {
    pub name: String,
    pub version: Version,
    pub architecture: String,
    pub multi_arch: MultiArch,
    pub depends: Vec<Dependency>,
    pub pre_depends: Vec<Dependency>,
    pub provides: Vec<Provide>,
    pub conflicts: Vec<Dependency>,
    pub breaks: Vec<Dependency>,
    pub essential: bool,
    pub priority: Option<String>,
    /// The source package (the `Source` field, or the package's own name).
    pub source_name: String,
    /// The source version (from `Source: name (version)`, or the package's own).
    pub source_version: Version,
    /// Path in the pool, relative to the repository root; empty for installed packages.
    pub filename: String,
    /// Size of the `.deb` in bytes; 0 for installed packages.
    pub size: u64,
    /// Lower-case hex SHA-256 of the `.deb`; empty for installed packages.
    pub sha256: String,
    /// The index it came from (as returned by [`Universe::add_index`]); `None` for
    /// an installed package.
    pub index: Option<usize>,
}

impl PackageVersion {
    /// Rank of the `Priority` field, most important first (unknown sorts last).
    pub(crate) fn priority_rank(&self) -> u8 {
        match self.priority.as_deref() {
            Some("required") => 0,
            Some("important") => 1,
            Some("standard") => 2,
            Some("optional") => 3,
            Some("extra") => 4,
            _ => 5,
        }
    }
}

/// Every package version available for one architecture (plus `all`).
#[derive(Debug, Clone)]
pub(crate) struct Universe {
    arch: String,
    labels: Vec<String>,
    packages: Vec<PackageVersion>,
    /// Name → indices into `packages`, highest version first, then index order.
    by_name: HashMap<String, Vec<usize>>,
    /// Provided name → indices into `packages` of every version providing it.
    provides: HashMap<String, Vec<usize>>,
}

impl Universe {
    /// An empty universe for `arch` (e.g. `amd64`); indices add `arch` and `all`
    /// packages, and skip the others.
    pub(crate) fn new(arch: &str) -> Self {
        Universe {
            arch: arch.to_owned(),
            labels: Vec::new(),
            packages: Vec::new(),
            by_name: HashMap::new(),
            provides: HashMap::new(),
        }
    }

    /// The native architecture.
    pub(crate) fn arch(&self) -> &str {
        &self.arch
    }

    /// Adds a `Packages` index and returns its id. `label` names it in errors.
    /// Indices added earlier win when two carry the same name, version and
    /// architecture.
    pub(crate) fn add_index(&mut self, label: &str, text: &str) -> Result<usize, UniverseError> {
        let id = self.labels.len();
        self.labels.push(label.to_owned());
        let mut touched = Vec::new();
        for paragraph in paragraphs(text) {
            let paragraph = paragraph.map_err(|source| UniverseError::Control {
                source_name: label.to_owned(),
                source,
            })?;
            let pv = parse_package(&paragraph, label, Some(id))?;
            if pv.architecture != self.arch && pv.architecture != "all" {
                continue;
            }
            let list = self.by_name.entry(pv.name.clone()).or_default();
            let duplicate = list.iter().any(|&i| {
                let o = &self.packages[i];
                o.version.as_str() == pv.version.as_str() && o.architecture == pv.architecture
            });
            if duplicate {
                continue;
            }
            let at = self.packages.len();
            list.push(at);
            touched.push(pv.name.clone());
            for p in &pv.provides {
                self.provides.entry(p.name.clone()).or_default().push(at);
            }
            self.packages.push(pv);
        }
        touched.sort_unstable();
        touched.dedup();
        for name in touched {
            if let Some(list) = self.by_name.get_mut(&name) {
                let packages = &self.packages;
                // Stable: equal versions keep index order.
                list.sort_by(|&a, &b| packages[b].version.cmp(&packages[a].version));
            }
        }
        Ok(id)
    }

    /// The label an index was added with.
    #[cfg(test)]
    fn index_label(&self, id: usize) -> Option<&str> {
        self.labels.get(id).map(String::as_str)
    }

    /// Every version of `name`, highest first.
    pub(crate) fn versions<'a>(
        &'a self,
        name: &str,
    ) -> impl Iterator<Item = &'a PackageVersion> + 'a {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| &self.packages[i])
    }

    /// The highest version of `name` (apt's candidate without pinning).
    pub(crate) fn candidate(&self, name: &str) -> Option<&PackageVersion> {
        self.versions(name).next()
    }

    /// Every version (of any package) whose `Provides` names `name`.
    pub(crate) fn providers<'a>(
        &'a self,
        name: &str,
    ) -> impl Iterator<Item = &'a PackageVersion> + 'a {
        self.provides
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| &self.packages[i])
    }

    /// Whether `name` is a real package here.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Every real package name, unordered.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Number of package versions held.
    #[cfg(test)]
    pub(crate) fn version_count(&self) -> usize {
        self.packages.len()
    }
}

/// The packages a dpkg database says are installed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Installed {
    packages: Vec<PackageVersion>,
    by_name: HashMap<String, Vec<usize>>,
    provides: HashMap<String, Vec<usize>>,
}

impl Installed {
    /// Reads `status` and the paragraphs of `status.d/*` files (distroless-style
    /// bases). Only entries whose `Status` is `install ok installed` count (and
    /// `hold ok installed`: a held package is installed too); removed packages
    /// with leftover conffiles, half-installed ones and the like are ignored.
    pub(crate) fn parse(status: &str, status_d: &[&str]) -> Result<Installed, UniverseError> {
        let mut out = Installed::default();
        let texts = std::iter::once(("status".to_owned(), status)).chain(
            status_d
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("status.d entry {}", i + 1), *t)),
        );
        for (label, text) in texts {
            for paragraph in paragraphs(text) {
                let paragraph = paragraph.map_err(|source| UniverseError::Control {
                    source_name: label.clone(),
                    source,
                })?;
                // `status.d` files have no `Status` field: being there means installed.
                let installed = match paragraph.get("Status") {
                    None => label != "status",
                    Some(s) => is_installed_status(s),
                };
                if !installed {
                    continue;
                }
                let pv = parse_package(&paragraph, &label, None)?;
                let at = out.packages.len();
                out.by_name.entry(pv.name.clone()).or_default().push(at);
                for p in &pv.provides {
                    out.provides.entry(p.name.clone()).or_default().push(at);
                }
                out.packages.push(pv);
            }
        }
        Ok(out)
    }

    /// The installed instances of `name` (several only for `Multi-Arch: same`).
    pub(crate) fn get<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a PackageVersion> + 'a {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| &self.packages[i])
    }

    /// Installed packages whose `Provides` names `name`.
    pub(crate) fn providers<'a>(
        &'a self,
        name: &str,
    ) -> impl Iterator<Item = &'a PackageVersion> + 'a {
        self.provides
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| &self.packages[i])
    }

    /// Every installed package, in database order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &PackageVersion> {
        self.packages.iter()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }
}

/// `want flag status` with status `installed`, flag `ok` and want `install`/`hold`.
fn is_installed_status(value: &str) -> bool {
    let words: Vec<&str> = value.split_whitespace().collect();
    matches!(words.as_slice(), ["install" | "hold", "ok", "installed"])
}

fn parse_package(
    p: &Paragraph<'_>,
    label: &str,
    index: Option<usize>,
) -> Result<PackageVersion, UniverseError> {
    let line = p.line();
    let missing = |field| UniverseError::MissingField {
        source_name: label.to_owned(),
        line,
        field,
    };
    let name = p.get("Package").ok_or_else(|| missing("Package"))?.trim();
    let version_text = p.get("Version").ok_or_else(|| missing("Version"))?;
    let version = Version::parse(version_text).map_err(|source| UniverseError::BadVersion {
        source_name: label.to_owned(),
        line,
        package: name.to_owned(),
        source,
    })?;
    let architecture = p
        .get("Architecture")
        .ok_or_else(|| missing("Architecture"))?
        .trim()
        .to_owned();
    let relations = |field: &'static str| -> Result<Vec<Dependency>, UniverseError> {
        match p.get(field) {
            None => Ok(Vec::new()),
            Some(v) => parse_relations(v).map_err(|source| UniverseError::BadRelation {
                source_name: label.to_owned(),
                line,
                package: name.to_owned(),
                field,
                source: Box::new(source),
            }),
        }
    };
    let provides = match p.get("Provides") {
        None => Vec::new(),
        Some(v) => parse_provides(v).map_err(|source| UniverseError::BadRelation {
            source_name: label.to_owned(),
            line,
            package: name.to_owned(),
            field: "Provides",
            source: Box::new(source),
        })?,
    };
    let (filename, size, sha256) = if index.is_some() {
        let size_text = p.get("Size").ok_or_else(|| missing("Size"))?.trim();
        let size = size_text.parse().map_err(|_| UniverseError::BadSize {
            source_name: label.to_owned(),
            line,
            package: name.to_owned(),
            value: size_text.to_owned(),
        })?;
        (
            p.get("Filename")
                .ok_or_else(|| missing("Filename"))?
                .trim()
                .to_owned(),
            size,
            p.get("SHA256")
                .ok_or_else(|| missing("SHA256"))?
                .trim()
                .to_ascii_lowercase(),
        )
    } else {
        (String::new(), 0, String::new())
    };
    let (source_name, source_version) = match p.get("Source").map(str::trim) {
        None | Some("") => (name.to_owned(), version.clone()),
        Some(src) => match src.split_once('(') {
            Some((n, v)) => (
                n.trim().to_owned(),
                Version::parse(v.trim_end_matches(')')).map_err(|source| {
                    UniverseError::BadVersion {
                        source_name: label.to_owned(),
                        line,
                        package: name.to_owned(),
                        source,
                    }
                })?,
            ),
            None => (src.to_owned(), version.clone()),
        },
    };
    Ok(PackageVersion {
        name: name.to_owned(),
        source_name,
        source_version,
        version,
        architecture,
        multi_arch: MultiArch::parse(p.get("Multi-Arch")),
        depends: relations("Depends")?,
        pre_depends: relations("Pre-Depends")?,
        provides,
        conflicts: relations("Conflicts")?,
        breaks: relations("Breaks")?,
        essential: p
            .get("Essential")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("yes")),
        priority: p.get("Priority").map(|v| v.trim().to_owned()),
        filename,
        size,
        sha256,
        index,
    })
}

impl crate::hint::Hint for UniverseError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Control { source, .. } => source.hints(),
            Self::BadVersion { source, .. } => source.hints(),
            Self::BadRelation { source, .. } => source.hints(),
            Self::MissingField { .. } | Self::BadSize { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: &str = "\
Package: foo
Version: 1.0-1
Architecture: amd64
Multi-Arch: same
Depends: libc6 (>= 2.34), bar | baz
Pre-Depends: dpkg (>= 1.15)
Provides: foo-api (= 1), virt
Source: foosrc (0.9)
Conflicts: oldfoo
Breaks: bar (<< 0.5)
Priority: optional
Filename: pool/main/f/foo/foo_1.0-1_amd64.deb
Size: 1234
SHA256: ABCDEF

Package: foo
Version: 2.0-1
Architecture: amd64
Filename: pool/main/f/foo/foo_2.0-1_amd64.deb
Size: 99
SHA256: 00

Package: foo
Version: 3.0-1
Architecture: i386
Filename: pool/main/f/foo/foo_3.0-1_i386.deb
Size: 99
SHA256: 00

Package: base
Version: 1
Architecture: all
Essential: yes
Priority: required
Provides: virt
Filename: pool/main/b/base/base_1_all.deb
Size: 1
SHA256: 11
";

    const UPDATES: &str = "\
Package: foo
Version: 2.0-1
Architecture: amd64
Filename: pool/updates/foo_2.0-1_amd64.deb
Size: 5
SHA256: 22

Package: foo
Version: 1:0.1
Architecture: amd64
Filename: pool/updates/foo_0.1_amd64.deb
Size: 5
SHA256: 33
";

    #[test]
    fn indexes_versions_and_provides() {
        let mut u = Universe::new("amd64");
        assert_eq!(u.add_index("main", MAIN).unwrap(), 0);
        assert_eq!(u.add_index("updates", UPDATES).unwrap(), 1);
        assert_eq!(u.index_label(1), Some("updates"));
        let versions: Vec<(&str, Option<usize>)> = u
            .versions("foo")
            .map(|p| (p.version.as_str(), p.index))
            .collect();
        // i386 skipped; the duplicate 2.0-1 keeps the first index; epoch wins.
        assert_eq!(
            versions,
            [("1:0.1", Some(1)), ("2.0-1", Some(0)), ("1.0-1", Some(0))]
        );
        assert_eq!(u.candidate("foo").unwrap().sha256, "33");
        let old = u.versions("foo").nth(2).unwrap();
        assert_eq!(old.multi_arch, MultiArch::Same);
        assert_eq!(
            (old.source_name.as_str(), old.source_version.as_str()),
            ("foosrc", "0.9")
        );
        let base = u.candidate("base").unwrap();
        assert_eq!(
            (base.source_name.as_str(), base.source_version.as_str()),
            ("base", "1")
        );
        assert_eq!(old.sha256, "abcdef");
        assert_eq!(old.size, 1234);
        assert_eq!(old.depends.len(), 2);
        assert_eq!(old.depends[1].alternatives.len(), 2);
        assert_eq!(old.pre_depends[0].alternatives[0].name, "dpkg");
        assert_eq!(old.conflicts[0].alternatives[0].name, "oldfoo");
        assert_eq!(old.breaks[0].alternatives[0].name, "bar");
        assert_eq!(old.provides[0].version.as_ref().unwrap().as_str(), "1");
        let mut virt: Vec<&str> = u.providers("virt").map(|p| p.name.as_str()).collect();
        virt.sort_unstable();
        assert_eq!(virt, ["base", "foo"]);
        let base = u.candidate("base").unwrap();
        assert!(base.essential);
        assert_eq!(base.priority_rank(), 0);
        assert!(u.contains("base") && !u.contains("virt"));
        assert_eq!(u.version_count(), 4);
    }

    #[test]
    fn index_errors_name_the_line() {
        let mut u = Universe::new("amd64");
        let err = u
            .add_index("main", "Package: a\nVersion: 1\nArchitecture: all\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`main` line 1: the paragraph has no `Size` field"
        );
        let err = u
            .add_index(
                "main",
                "Package: a\nVersion: 1\nArchitecture: all\nSize: x\nFilename: f\nSHA256: 0\n",
            )
            .unwrap_err();
        assert!(matches!(err, UniverseError::BadSize { .. }));
        let err = u
            .add_index(
                "main",
                "\nPackage: a\nVersion: 1\nArchitecture: all\nDepends: (x\nSize: 1\nFilename: f\nSHA256: 0\n",
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                UniverseError::BadRelation {
                    line: 2,
                    field: "Depends",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn installed_set_counts_only_installed() {
        let status = "\
Package: a
Status: install ok installed
Version: 1
Architecture: amd64
Provides: va

Package: b
Status: deinstall ok config-files
Version: 1
Architecture: amd64

Package: c
Status: hold ok installed
Version: 2
Architecture: all

Package: d
Status: install reinstreq half-installed
Version: 2
Architecture: all

Package: a
Status: install ok installed
Version: 1
Architecture: i386
Multi-Arch: same
";
        let extra = "Package: e\nVersion: 3\nArchitecture: amd64\n";
        let i = Installed::parse(status, &[extra]).unwrap();
        let names: Vec<&str> = i.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "c", "a", "e"]);
        assert_eq!(i.get("a").count(), 2);
        assert_eq!(i.get("b").count(), 0);
        assert_eq!(i.providers("va").next().unwrap().name, "a");
        assert_eq!(i.get("e").next().unwrap().index, None);
    }
}
