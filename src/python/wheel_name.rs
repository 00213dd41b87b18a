//! Wheel filenames (`{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`) and
//! PEP 503 name normalisation. Parsing only: no knowledge of which tags a target
//! accepts beyond expanding compressed tag sets.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use pep440_rs::Version;
use pep508_rs::PackageName;

use super::tags::Tag;

/// Why a wheel filename was rejected.
#[derive(Debug, thiserror::Error)]
pub enum WheelNameError {
    /// The name does not end in `.whl`.
    #[error("Wheel filename `{0}` does not end in `.whl`")]
    NotAWheel(String),
    /// Wrong number of `-`-separated parts.
    #[error("Wheel filename `{0}` must have 5 or 6 `-`-separated parts")]
    Parts(String),
    /// The distribution name part is empty.
    #[error("Wheel filename `{0}` has an empty distribution name")]
    EmptyName(String),
    /// The distribution name part is not a valid name.
    #[error("Wheel filename `{filename}` has an invalid distribution name")]
    Name {
        /// The whole filename.
        filename: String,
        /// The cause.
        #[source]
        source: pep508_rs::InvalidNameError,
    },
    /// The version part is not PEP 440.
    #[error("Wheel filename `{filename}` has an invalid version `{version}`")]
    Version {
        /// The whole filename.
        filename: String,
        /// The version part.
        version: String,
        /// The cause.
        #[source]
        source: pep440_rs::VersionParseError,
    },
    /// The build tag does not start with a digit.
    #[error(
        "Wheel filename `{filename}` has an invalid build tag `{build}`: it must start with a digit"
    )]
    BuildTag {
        /// The whole filename.
        filename: String,
        /// The build tag part.
        build: String,
    },
    /// A tag set part is empty.
    #[error("Wheel filename `{0}` has an empty tag")]
    EmptyTag(String),
}

/// PEP 503 normalisation: lowercase, and every run of `-`, `_`, `.` becomes one `-`.
pub(crate) fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_sep = false;
        }
    }
    out
}

/// A wheel build tag: a number and an optional suffix, compared as `(number, suffix)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct BuildTag {
    /// Leading digits.
    pub number: u64,
    /// The rest, possibly empty.
    pub suffix: String,
}

impl Ord for BuildTag {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.number, &self.suffix).cmp(&(other.number, &other.suffix))
    }
}

impl PartialOrd for BuildTag {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for BuildTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.number, self.suffix)
    }
}

/// A parsed wheel filename.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct WheelName {
    /// The distribution name, normalised.
    pub name: PackageName,
    /// The version.
    pub version: Version,
    /// The optional build tag (a tie-breaker between otherwise equal wheels).
    pub build: Option<BuildTag>,
    /// Python tags (`py2`, `py3`, `cp312`), in filename order.
    pub python_tags: Vec<String>,
    /// ABI tags (`none`, `abi3`, `cp312`).
    pub abi_tags: Vec<String>,
    /// Platform tags (`any`, `manylinux_2_17_x86_64`).
    pub platform_tags: Vec<String>,
}

impl WheelName {
    /// Every tag the filename stands for: the product of its compressed tag sets.
    pub(super) fn tags(&self) -> Vec<Tag> {
        let mut out = Vec::new();
        for py in &self.python_tags {
            for abi in &self.abi_tags {
                for plat in &self.platform_tags {
                    out.push(Tag::new(py, abi, plat));
                }
            }
        }
        out
    }
}

impl FromStr for WheelName {
    type Err = WheelNameError;

    fn from_str(filename: &str) -> Result<Self, Self::Err> {
        let stem = filename
            .strip_suffix(".whl")
            .ok_or_else(|| WheelNameError::NotAWheel(filename.to_string()))?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build, py, abi, plat) = match parts.as_slice() {
            [n, v, p, a, pl] => (*n, *v, None, *p, *a, *pl),
            [n, v, b, p, a, pl] => (*n, *v, Some(*b), *p, *a, *pl),
            _ => return Err(WheelNameError::Parts(filename.to_string())),
        };
        if name.is_empty() {
            return Err(WheelNameError::EmptyName(filename.to_string()));
        }
        let name = PackageName::from_str(name).map_err(|source| WheelNameError::Name {
            filename: filename.to_string(),
            source,
        })?;
        let version_parsed =
            Version::from_str(version).map_err(|source| WheelNameError::Version {
                filename: filename.to_string(),
                version: version.to_string(),
                source,
            })?;
        let build = match build {
            None => None,
            Some(b) => {
                let digits = b.len() - b.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let number = b[..digits]
                    .parse::<u64>()
                    .map_err(|_| WheelNameError::BuildTag {
                        filename: filename.to_string(),
                        build: b.to_string(),
                    })?;
                Some(BuildTag {
                    number,
                    suffix: b[digits..].to_string(),
                })
            }
        };
        let split = |s: &str| -> Result<Vec<String>, WheelNameError> {
            s.split('.')
                .map(|t| {
                    if t.is_empty() {
                        Err(WheelNameError::EmptyTag(filename.to_string()))
                    } else {
                        Ok(t.to_ascii_lowercase())
                    }
                })
                .collect()
        };
        Ok(Self {
            name,
            version: version_parsed,
            build,
            python_tags: split(py)?,
            abi_tags: split(abi)?,
            platform_tags: split(plat)?,
        })
    }
}

impl fmt::Display for WheelName {
    /// The canonical filename: name with `-` escaped as `_`, tag sets joined by `.`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.name.as_dist_info_name(), self.version)?;
        if let Some(b) = &self.build {
            write!(f, "-{b}")?;
        }
        write!(
            f,
            "-{}-{}-{}.whl",
            self.python_tags.join("."),
            self.abi_tags.join("."),
            self.platform_tags.join(".")
        )
    }
}

impl crate::hint::Hint for WheelNameError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::NotAWheel(..)
            | Self::Parts(..)
            | Self::EmptyName(..)
            | Self::Name { .. }
            | Self::Version { .. }
            | Self::BuildTag { .. }
            | Self::EmptyTag(..) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> WheelName {
        s.parse().unwrap()
    }

    #[test]
    fn normalises_names() {
        assert_eq!(normalize_name("Foo.Bar__baz-_-Qux"), "foo-bar-baz-qux");
        assert_eq!(normalize_name("zope.interface"), "zope-interface");
        assert_eq!(normalize_name("simple"), "simple");
    }

    #[test]
    fn parses_pure_wheel_with_compressed_tags() {
        let w = parse("six-1.16.0-py2.py3-none-any.whl");
        assert_eq!(w.name.as_ref(), "six");
        assert_eq!(w.version.to_string(), "1.16.0");
        assert_eq!(w.build, None);
        assert_eq!(w.python_tags, ["py2", "py3"]);
        let tags: Vec<String> = w.tags().iter().map(Tag::to_string).collect();
        assert_eq!(tags, ["py2-none-any", "py3-none-any"]);
    }

    #[test]
    fn parses_platform_wheel_with_multiple_platforms() {
        let w = parse("numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
        assert_eq!(w.platform_tags.len(), 2);
        assert_eq!(w.tags().len(), 2);
        assert_eq!(w.tags()[1].to_string(), "cp312-cp312-manylinux2014_x86_64");
    }

    #[test]
    fn parses_build_tag_and_orders_it() {
        let a = parse("pkg-1.0-1-py3-none-any.whl");
        let b = parse("pkg-1.0-2a-py3-none-any.whl");
        let c = parse("pkg-1.0-10-py3-none-any.whl");
        let (a, b, c) = (a.build.unwrap(), b.build.unwrap(), c.build.unwrap());
        assert_eq!(b.suffix, "a");
        assert!(a < b && b < c);
        assert!("pkg-1.0-x1-py3-none-any.whl".parse::<WheelName>().is_err());
    }

    #[test]
    fn normalises_the_name_from_the_filename() {
        let w = parse("Typing_Extensions-4.12.2-py3-none-any.whl");
        assert_eq!(w.name.as_ref(), "typing-extensions");
        assert_eq!(w.to_string(), "typing_extensions-4.12.2-py3-none-any.whl");
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "six-1.16.0-py2.py3-none-any.whl",
            "pkg-1.0-1-py3-none-any.whl",
            "cryptography-43.0.0-cp39-abi3-manylinux_2_28_x86_64.whl",
        ] {
            assert_eq!(parse(s).to_string(), s);
        }
    }

    #[test]
    fn rejects_bad_names() {
        for bad in [
            "six-1.16.0-py3-none-any.tar.gz",
            "six-1.16.0-none-any.whl",
            "a-b-c-d-e-f-g.whl",
            "six-notaversion!!-py3-none-any.whl",
            "-1.0-py3-none-any.whl",
            "six-1.0-py3..py2-none-any.whl",
        ] {
            assert!(bad.parse::<WheelName>().is_err(), "{bad}");
        }
        let e = "six-x.y.z-py3-none-any.whl"
            .parse::<WheelName>()
            .unwrap_err();
        assert!(e.to_string().contains("invalid version `x.y.z`"), "{e}");
    }
}
