//! Wheel compatibility tags (`python-abi-platform`) and the ordered list of tags a
//! target environment accepts, best first, as packaging's `sys_tags()` orders them
//! for CPython on glibc Linux, and the PEP 508 marker environment of that target.
//!
//! The target is described, never probed: nothing here looks at the host.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use pep508_rs::{MarkerEnvironment, MarkerEnvironmentBuilder};

/// Why a tag could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TagError {
    /// Not three non-empty `-`-separated parts.
    #[error("Invalid wheel tag `{0}`: expected `python-abi-platform`")]
    Malformed(String),
    /// A full Python version that does not match the target's `major.minor`.
    #[error("Python version `{full}` is not a {major}.{minor} release")]
    PythonVersion {
        /// The full version given.
        full: String,
        /// Target major.
        major: u8,
        /// Target minor.
        minor: u8,
    },
}

/// One compatibility tag, e.g. `cp312-abi3-manylinux_2_17_x86_64`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Tag {
    /// Interpreter tag: `cp312`, `py3`, `py312`.
    pub interpreter: String,
    /// ABI tag: `cp312`, `abi3`, `none`.
    pub abi: String,
    /// Platform tag: `manylinux_2_17_x86_64`, `linux_x86_64`, `any`.
    pub platform: String,
}

impl Tag {
    /// A tag from its three parts.
    pub(crate) fn new(
        interpreter: impl Into<String>,
        abi: impl Into<String>,
        platform: impl Into<String>,
    ) -> Self {
        Self {
            interpreter: interpreter.into(),
            abi: abi.into(),
            platform: platform.into(),
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.interpreter, self.abi, self.platform)
    }
}

impl FromStr for Tag {
    type Err = TagError;

    /// Parses a single (uncompressed) tag; tag parts are case-insensitive, so they
    /// are lowercased as packaging does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('-').collect();
        match parts.as_slice() {
            [i, a, p] if !i.is_empty() && !a.is_empty() && !p.is_empty() => Ok(Self::new(
                i.to_ascii_lowercase(),
                a.to_ascii_lowercase(),
                p.to_ascii_lowercase(),
            )),
            _ => Err(TagError::Malformed(s.to_string())),
        }
    }
}

/// The Python implementation of the target. Only CPython is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Implementation {
    /// CPython (`cp` interpreter tags).
    CPython,
}

/// The target CPU architecture, spelled as manylinux platform tags spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Arch {
    /// `x86_64` (linux/amd64).
    X86_64,
    /// `aarch64` (linux/arm64): only the tests build for it so far.
    #[cfg(test)]
    Aarch64,
}

impl Arch {
    /// The architecture suffix used in platform tags.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            #[cfg(test)]
            Self::Aarch64 => "aarch64",
        }
    }

    /// The oldest glibc minor (of glibc 2) that manylinux tags exist for on this
    /// architecture: manylinux1 (glibc 2.5) for x86, manylinux2014 (2.17) elsewhere.
    fn oldest_glibc_minor(self) -> u16 {
        match self {
            Self::X86_64 => 5,
            #[cfg(test)]
            Self::Aarch64 => 17,
        }
    }
}

/// The environment wheels are chosen for: read from the base image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    /// `(major, minor)` of the interpreter, e.g. `(3, 12)`.
    pub python: (u8, u8),
    /// The interpreter implementation.
    pub implementation: Implementation,
    /// `(major, minor)` of the C library, e.g. `(2, 36)`.
    pub glibc: (u16, u16),
    /// The CPU architecture.
    pub arch: Arch,
}

/// packaging's assumption for the last minor of an older glibc major when a newer
/// major is present (only glibc 2 has ever shipped, so this is hypothetical).
const ASSUMED_LAST_GLIBC_MINOR: u16 = 50;

impl Target {
    /// The platform tags this target accepts, best first: every `manylinux_2_N`
    /// from the target's glibc down to the oldest for the architecture, each
    /// legacy alias (`manylinux2014`, `manylinux2010`, `manylinux1`) right after
    /// the `manylinux_2_N` it stands for, then the plain `linux_ARCH` tag.
    pub(crate) fn platform_tags(&self) -> Vec<String> {
        let arch = self.arch.as_str();
        let (major, minor) = self.glibc;
        let mut ranges = vec![(major, minor)];
        for older in (2..major).rev() {
            ranges.push((older, ASSUMED_LAST_GLIBC_MINOR));
        }
        let mut out = Vec::new();
        for (maj, max_minor) in ranges {
            // Below glibc 2 nothing is manylinux; in glibc 2, stop at the oldest
            // minor the architecture has tags for.
            let lowest = match maj {
                0 | 1 => continue,
                2 => self.arch.oldest_glibc_minor(),
                _ => 0,
            };
            if max_minor < lowest {
                continue;
            }
            for m in (lowest..=max_minor).rev() {
                out.push(format!("manylinux_{maj}_{m}_{arch}"));
                let legacy = match (maj, m, self.arch) {
                    (2, 17, _) => Some("manylinux2014"),
                    (2, 12, Arch::X86_64) => Some("manylinux2010"),
                    (2, 5, Arch::X86_64) => Some("manylinux1"),
                    _ => None,
                };
                if let Some(legacy) = legacy {
                    out.push(format!("{legacy}_{arch}"));
                }
            }
        }
        out.push(format!("linux_{arch}"));
        out
    }

    /// Every tag this target accepts, best first, with its priority.
    pub(crate) fn compatible_tags(&self) -> CompatibleTags {
        let (major, minor) = self.python;
        let platforms = self.platform_tags();
        let Implementation::CPython = self.implementation;
        let interpreter = format!("cp{major}{minor}");
        let mut tags = Vec::new();

        // CPython-specific tags: the interpreter's own ABI, the stable ABI, no ABI.
        for abi in [interpreter.as_str(), "abi3", "none"] {
            if abi == "abi3" && !abi3_applies(self.python) {
                continue;
            }
            for p in &platforms {
                tags.push(Tag::new(&interpreter, abi, p));
            }
        }
        // The stable ABI of every older CPython 3 down to 3.2.
        if abi3_applies(self.python) {
            for older in (2..minor).rev() {
                for p in &platforms {
                    tags.push(Tag::new(format!("cp{major}{older}"), "abi3", p));
                }
            }
        }

        // Generic tags: pure Python for this and older versions, then `any`.
        let generic = py_interpreter_range(major, minor);
        for py in &generic {
            for p in &platforms {
                tags.push(Tag::new(py, "none", p));
            }
        }
        tags.push(Tag::new(&interpreter, "none", "any"));
        for py in &generic {
            tags.push(Tag::new(py, "none", "any"));
        }
        CompatibleTags::new(tags)
    }
}

impl Target {
    /// The PEP 508 marker environment of the target, given the interpreter's full
    /// version (e.g. `3.12.7`, read from the base). Fields the base cannot tell
    /// (`platform_release`, `platform_version`) are empty.
    pub(crate) fn marker_environment(
        &self,
        python_full_version: &str,
    ) -> Result<MarkerEnvironment, TagError> {
        let (major, minor) = self.python;
        let bad = || TagError::PythonVersion {
            full: python_full_version.to_string(),
            major,
            minor,
        };
        let mut parts = python_full_version.split('.');
        if parts.next() != Some(major.to_string().as_str())
            || parts.next() != Some(minor.to_string().as_str())
        {
            return Err(bad());
        }
        let python_version = format!("{major}.{minor}");
        let Implementation::CPython = self.implementation;
        MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: "cpython",
            implementation_version: python_full_version,
            os_name: "posix",
            platform_machine: self.arch.as_str(),
            platform_python_implementation: "CPython",
            platform_release: "",
            platform_system: "Linux",
            platform_version: "",
            python_full_version,
            python_version: &python_version,
            sys_platform: "linux",
        })
        .map_err(|_| bad())
    }
}

fn abi3_applies((major, minor): (u8, u8)) -> bool {
    major > 3 || (major == 3 && minor >= 2)
}

/// `py312`, `py3`, `py311`, …, `py30`: the generic interpreter tags, best first.
fn py_interpreter_range(major: u8, minor: u8) -> Vec<String> {
    let mut out = vec![format!("py{major}{minor}"), format!("py{major}")];
    for older in (0..minor).rev() {
        out.push(format!("py{major}{older}"));
    }
    out
}

/// The ordered set of tags a target accepts. Lower priority numbers are better, so a
/// resolver picks, among a release's wheels, the one whose best tag has the lowest.
#[derive(Debug, Clone)]
pub(crate) struct CompatibleTags {
    /// The tags, best first (the tests compare it with packaging's order).
    #[cfg(test)]
    ordered: Vec<Tag>,
    priority: HashMap<Tag, usize>,
}

impl CompatibleTags {
    fn new(ordered: Vec<Tag>) -> Self {
        let mut priority = HashMap::with_capacity(ordered.len());
        for (i, tag) in ordered.iter().enumerate() {
            priority.entry(tag.clone()).or_insert(i);
        }
        Self {
            #[cfg(test)]
            ordered,
            priority,
        }
    }

    /// The tags, best first.
    #[cfg(test)]
    fn iter(&self) -> impl Iterator<Item = &Tag> {
        self.ordered.iter()
    }

    /// Whether no tag is accepted.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }

    /// The priority of a tag (0 is best), or `None` if the target cannot use it.
    pub(crate) fn priority(&self, tag: &Tag) -> Option<usize> {
        self.priority.get(tag).copied()
    }

    /// The best priority among a wheel's expanded tags, or `None` if none fits.
    pub(crate) fn best_priority<'a>(
        &self,
        tags: impl IntoIterator<Item = &'a Tag>,
    ) -> Option<usize> {
        tags.into_iter().filter_map(|t| self.priority(t)).min()
    }
}

impl crate::hint::Hint for TagError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Malformed(..) | Self::PythonVersion { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(python: (u8, u8), glibc: (u16, u16), arch: Arch) -> Target {
        Target {
            python,
            implementation: Implementation::CPython,
            glibc,
            arch,
        }
    }

    fn cp312() -> Target {
        target((3, 12), (2, 36), Arch::X86_64)
    }

    #[test]
    fn matches_packaging_order_for_cp312_glibc_2_36_x86_64() {
        // Produced by packaging's cpython_tags + compatible_tags with glibc pinned to 2.36.
        let expected: Vec<&str> = include_str!("testdata/tags_cp312_glibc2_36_x86_64.txt")
            .lines()
            .collect();
        let got: Vec<String> = cp312()
            .compatible_tags()
            .iter()
            .map(Tag::to_string)
            .collect();
        assert_eq!(got.len(), expected.len());
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g, e, "tag #{i}");
        }
    }

    #[test]
    fn matches_packaging_order_for_cp311_glibc_2_31_aarch64() {
        let expected: Vec<&str> = include_str!("testdata/tags_cp311_glibc2_31_aarch64.txt")
            .lines()
            .collect();
        let got: Vec<String> = target((3, 11), (2, 31), Arch::Aarch64)
            .compatible_tags()
            .iter()
            .map(Tag::to_string)
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn platform_tags_interleave_legacy_aliases() {
        let p = cp312().platform_tags();
        assert_eq!(p[0], "manylinux_2_36_x86_64");
        let pos = |s: &str| p.iter().position(|x| x == s).unwrap();
        assert_eq!(
            pos("manylinux2014_x86_64"),
            pos("manylinux_2_17_x86_64") + 1
        );
        assert_eq!(
            pos("manylinux2010_x86_64"),
            pos("manylinux_2_12_x86_64") + 1
        );
        assert_eq!(pos("manylinux1_x86_64"), pos("manylinux_2_5_x86_64") + 1);
        assert_eq!(p.last().map(String::as_str), Some("linux_x86_64"));
        assert_eq!(p.len(), 36);
    }

    #[test]
    fn aarch64_starts_at_manylinux2014() {
        let p = target((3, 11), (2, 31), Arch::Aarch64).platform_tags();
        assert_eq!(p[0], "manylinux_2_31_aarch64");
        assert_eq!(
            &p[p.len() - 3..],
            [
                "manylinux_2_17_aarch64",
                "manylinux2014_aarch64",
                "linux_aarch64"
            ]
        );
        assert!(
            !p.iter()
                .any(|t| t.contains("manylinux2010") || t.contains("manylinux1_"))
        );
    }

    #[test]
    fn old_glibc_has_no_newer_tags() {
        let p = target((3, 8), (2, 12), Arch::X86_64).platform_tags();
        assert_eq!(p[0], "manylinux_2_12_x86_64");
        assert_eq!(p[1], "manylinux2010_x86_64");
        assert!(!p.iter().any(|t| t.contains("2014")));
    }

    #[test]
    fn priorities_prefer_specific_over_generic() {
        let tags = cp312().compatible_tags();
        let pr = |s: &str| tags.priority(&s.parse().unwrap());
        let native = pr("cp312-cp312-manylinux_2_17_x86_64").unwrap();
        let abi3 = pr("cp38-abi3-manylinux_2_28_x86_64").unwrap();
        let pure = pr("py3-none-any").unwrap();
        assert_eq!(pr("cp312-cp312-manylinux_2_36_x86_64"), Some(0));
        assert!(native < abi3 && abi3 < pure);
        assert!(pr("cp312-none-any").unwrap() < pure);
        assert_eq!(pr("cp311-cp311-manylinux_2_17_x86_64"), None);
        assert_eq!(pr("cp313-cp313-manylinux_2_17_x86_64"), None);
        assert_eq!(pr("cp312-cp312-manylinux_2_37_x86_64"), None);
        assert_eq!(pr("cp312-cp312-win_amd64"), None);
        assert_eq!(pr("cp312-cp312-musllinux_1_2_x86_64"), None);
        assert_eq!(pr("cp312-cp312-manylinux_2_17_aarch64"), None);
        assert!(pr("cp32-abi3-linux_x86_64").is_some());
        assert_eq!(pr("cp31-abi3-linux_x86_64"), None);
        assert!(pr("py30-none-any").is_some());
        assert_eq!(pr("py2-none-any"), None);
        assert_eq!(
            tags.iter().last().map(Tag::to_string).as_deref(),
            Some("py30-none-any")
        );
    }

    #[test]
    fn best_priority_takes_the_best_of_a_wheels_tags() {
        let tags = cp312().compatible_tags();
        let wheel = [
            "py2-none-any".parse::<Tag>().unwrap(),
            "py3-none-any".parse().unwrap(),
        ];
        assert_eq!(tags.best_priority(&wheel), tags.priority(&wheel[1]));
        assert_eq!(
            tags.best_priority(&["cp27-cp27mu-linux_x86_64".parse::<Tag>().unwrap()]),
            None
        );
    }

    #[test]
    fn marker_environment_of_the_target() {
        let env = cp312().marker_environment("3.12.7").unwrap();
        let req = |s: &str| s.parse::<pep508_rs::Requirement>().unwrap();
        assert!(
            req("a ; python_version >= '3.12' and sys_platform == 'linux'")
                .evaluate_markers(&env, &[])
        );
        assert!(
            req("a ; platform_machine == 'x86_64' and implementation_name == 'cpython'")
                .evaluate_markers(&env, &[])
        );
        assert!(
            req("a ; python_full_version >= '3.12.7' and platform_system == 'Linux'")
                .evaluate_markers(&env, &[])
        );
        assert!(!req("a ; python_version < '3.12'").evaluate_markers(&env, &[]));
        assert!(!req("a ; sys_platform == 'win32'").evaluate_markers(&env, &[]));
        assert!(cp312().marker_environment("3.11.2").is_err());
        assert!(cp312().marker_environment("3.12.x").is_err());
        assert!(cp312().marker_environment("3").is_err());
    }

    #[test]
    fn tag_parse_and_display() {
        let t: Tag = "CP312-Abi3-Any".parse().unwrap();
        assert_eq!(t.to_string(), "cp312-abi3-any");
        assert!("cp312-abi3".parse::<Tag>().is_err());
        assert!("a--b".parse::<Tag>().is_err());
        assert!("a-b-c-d".parse::<Tag>().is_err());
        assert!(!cp312().compatible_tags().is_empty());
    }
}
