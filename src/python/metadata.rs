//! Core metadata (`METADATA` / `PKG-INFO`, the email-header format): the fields
//! resolution needs — name, version, `Requires-Dist`, `Requires-Python`,
//! `Provides-Extra`. Everything else, and the description body, is skipped.

use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{ExtraName, MarkerEnvironment, PackageName, Requirement};

use super::index_url::redact_credentials;

/// Why a metadata file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// Not UTF-8.
    #[error("Core metadata is not UTF-8")]
    Utf8(#[from] std::str::Utf8Error),
    /// A header line without a colon.
    #[error("Core metadata line {line} is not a `Name: value` header")]
    Header {
        /// 1-based line number.
        line: usize,
    },
    /// A required field is absent.
    #[error("Core metadata has no `{0}` field")]
    Missing(&'static str),
    /// A `Metadata-Version` this parser does not understand.
    #[error("Unsupported core metadata version `{0}`")]
    MetadataVersion(String),
    /// Invalid `Name`.
    #[error("Invalid `Name` `{value}` in core metadata")]
    Name {
        /// The value.
        value: String,
        /// The cause.
        #[source]
        source: pep508_rs::InvalidNameError,
    },
    /// Invalid `Version`.
    #[error("Invalid `Version` `{value}` in core metadata")]
    Version {
        /// The value.
        value: String,
        /// The cause.
        #[source]
        source: pep440_rs::VersionParseError,
    },
    /// Invalid `Requires-Dist`.
    #[error("Invalid `Requires-Dist` `{value}` in core metadata: {message}")]
    RequiresDist {
        /// The value, credentials masked.
        value: String,
        /// The parser's message, credentials masked.
        message: String,
    },
    /// Invalid `Requires-Python`.
    #[error("Invalid `Requires-Python` `{value}` in core metadata")]
    RequiresPython {
        /// The value.
        value: String,
        /// The cause.
        #[source]
        source: pep440_rs::VersionSpecifiersParseError,
    },
    /// Invalid `Provides-Extra`.
    #[error("Invalid `Provides-Extra` `{value}` in core metadata")]
    ProvidesExtra {
        /// The value.
        value: String,
        /// The cause.
        #[source]
        source: pep508_rs::InvalidNameError,
    },
}

/// The resolution-relevant part of a distribution's core metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CoreMetadata {
    /// `Metadata-Version`, if given.
    pub metadata_version: Option<String>,
    /// `Name`, normalised.
    pub name: PackageName,
    /// `Version`.
    pub version: Version,
    /// Every `Requires-Dist`, in order, with markers (including `extra == ...`).
    pub requires_dist: Vec<Requirement>,
    /// `Requires-Python`.
    pub requires_python: Option<VersionSpecifiers>,
    /// Every `Provides-Extra`, normalised.
    pub provides_extra: Vec<ExtraName>,
}

impl CoreMetadata {
    /// Parses the bytes of a `METADATA` file.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        let text = std::str::from_utf8(bytes)?;
        let headers = headers(text)?;
        let get = |key: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
        };
        let all = |key: &'static str| {
            headers
                .iter()
                .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
        };

        let metadata_version = get("Metadata-Version").map(str::to_string);
        if let Some(v) = &metadata_version {
            let major = v.split('.').next().unwrap_or("");
            if !matches!(major, "1" | "2") {
                return Err(MetadataError::MetadataVersion(v.clone()));
            }
        }
        let name_value = get("Name").ok_or(MetadataError::Missing("Name"))?;
        let name = PackageName::from_str(name_value).map_err(|source| MetadataError::Name {
            value: name_value.to_string(),
            source,
        })?;
        let version_value = get("Version").ok_or(MetadataError::Missing("Version"))?;
        let version =
            Version::from_str(version_value).map_err(|source| MetadataError::Version {
                value: version_value.to_string(),
                source,
            })?;
        let requires_dist = all("Requires-Dist")
            .map(|value| {
                Requirement::from_str(value).map_err(|e| MetadataError::RequiresDist {
                    value: redact_credentials(value),
                    message: redact_credentials(&e.to_string()),
                })
            })
            .collect::<Result<_, _>>()?;
        let requires_python = match get("Requires-Python") {
            None => None,
            Some(value) => Some(VersionSpecifiers::from_str(value).map_err(|source| {
                MetadataError::RequiresPython {
                    value: value.to_string(),
                    source,
                }
            })?),
        };
        let mut provides_extra = Vec::new();
        for value in all("Provides-Extra") {
            let extra =
                ExtraName::from_str(value).map_err(|source| MetadataError::ProvidesExtra {
                    value: value.to_string(),
                    source,
                })?;
            if !provides_extra.contains(&extra) {
                provides_extra.push(extra);
            }
        }
        Ok(Self {
            metadata_version,
            name,
            version,
            requires_dist,
            requires_python,
            provides_extra,
        })
    }

    /// The dependencies that apply in `env` when the distribution is installed with
    /// `extras`.
    pub(crate) fn requires_dist_for<'a>(
        &'a self,
        env: &'a MarkerEnvironment,
        extras: &'a [ExtraName],
    ) -> impl Iterator<Item = &'a Requirement> + 'a {
        self.requires_dist
            .iter()
            .filter(move |r| r.evaluate_markers(env, extras))
    }
}

/// The header block as `(name, value)` pairs; continuation lines (starting with a
/// space or tab) are joined to the previous value with a newline. Stops at the
/// first blank line, where the description body begins.
fn headers(text: &str) -> Result<Vec<(String, String)>, MetadataError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        // Only a truly empty line ends the headers: a line of spaces is a folded
        // continuation (long `License:` texts contain them, as the email parser
        // pip uses agrees).
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            match out.last_mut() {
                Some((_, v)) => {
                    v.push('\n');
                    v.push_str(line.trim());
                }
                None => return Err(MetadataError::Header { line: i + 1 }),
            }
            continue;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or(MetadataError::Header { line: i + 1 })?;
        out.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(out)
}

impl crate::hint::Hint for MetadataError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Utf8(..)
            | Self::Header { .. }
            | Self::Missing(..)
            | Self::MetadataVersion(..)
            | Self::Name { .. }
            | Self::Version { .. }
            | Self::RequiresDist { .. }
            | Self::RequiresPython { .. }
            | Self::ProvidesExtra { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_only_lines_continue_a_header() {
        let text = "Metadata-Version: 2.1\nName: p\nVersion: 1\nLicense: a\n        \n        b\nRequires-Dist: q\n\nBody\nRequires-Dist: not-a-header\n";
        let m = CoreMetadata::parse(text.as_bytes()).expect("parses");
        assert_eq!(m.requires_dist.len(), 1);
        assert_eq!(m.requires_dist[0].name.as_ref(), "q");
    }
    use pep508_rs::MarkerEnvironmentBuilder;

    const METADATA: &str = "Metadata-Version: 2.1\n\
Name: Requests\n\
Version: 2.32.3\n\
Summary: Python HTTP for Humans.\n\
License: Apache-2.0\n\
Classifier: Programming Language :: Python :: 3\n\
Requires-Python: >=3.8\n\
Description-Content-Type: text/markdown\n\
Requires-Dist: charset-normalizer<4,>=2\n\
Requires-Dist: idna<4,>=2.5\n\
Requires-Dist: urllib3<3,>=1.21.1\n\
Requires-Dist: certifi>=2017.4.17\n\
Provides-Extra: socks\n\
Requires-Dist: PySocks!=1.5.7,>=1.5.6; extra == \"socks\"\n\
Provides-Extra: use_chardet_on_py3\n\
Requires-Dist: chardet<6,>=3.0.2; extra == \"use-chardet-on-py3\"\n\
Requires-Dist: pywin32>=300; sys_platform == \"win32\"\n\
\n\
# Requests\n\
Name: not-a-header\n";

    fn env() -> MarkerEnvironment {
        MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: "cpython",
            implementation_version: "3.12.7",
            os_name: "posix",
            platform_machine: "x86_64",
            platform_python_implementation: "CPython",
            platform_release: "",
            platform_system: "Linux",
            platform_version: "",
            python_full_version: "3.12.7",
            python_version: "3.12",
            sys_platform: "linux",
        })
        .unwrap()
    }

    #[test]
    fn parses_the_fields_resolution_needs() {
        let m = CoreMetadata::parse(METADATA.as_bytes()).unwrap();
        assert_eq!(m.metadata_version.as_deref(), Some("2.1"));
        assert_eq!(m.name.as_ref(), "requests");
        assert_eq!(m.version.to_string(), "2.32.3");
        assert_eq!(m.requires_python.unwrap().to_string(), ">=3.8");
        assert_eq!(m.requires_dist.len(), 7);
        assert_eq!(m.requires_dist[4].name.as_ref(), "pysocks");
        let extras: Vec<&str> = m.provides_extra.iter().map(AsRef::as_ref).collect();
        assert_eq!(extras, ["socks", "use-chardet-on-py3"]);
    }

    #[test]
    fn evaluates_markers_and_extras() {
        let m = CoreMetadata::parse(METADATA.as_bytes()).unwrap();
        let env = env();
        let names = |extras: &[ExtraName]| -> Vec<String> {
            m.requires_dist_for(&env, extras)
                .map(|r| r.name.to_string())
                .collect()
        };
        assert_eq!(
            names(&[]),
            ["charset-normalizer", "idna", "urllib3", "certifi"]
        );
        let socks = [ExtraName::from_str("socks").unwrap()];
        assert_eq!(names(&socks).len(), 5);
        let chardet = [ExtraName::from_str("use_chardet_on_py3").unwrap()];
        assert!(names(&chardet).contains(&"chardet".to_string()));
    }

    #[test]
    fn folds_continuation_lines_and_ignores_the_body() {
        let m = CoreMetadata::parse(
            b"Name: demo\nVersion: 1.0\nDescription: first\n        second\nRequires-Dist: six\n\nRequires-Dist: not-read\n",
        )
        .unwrap();
        assert_eq!(m.requires_dist.len(), 1);
        assert_eq!(m.metadata_version, None);
        assert_eq!(m.requires_python, None);
    }

    #[test]
    fn errors() {
        let e = CoreMetadata::parse(b"Version: 1.0\n").unwrap_err();
        assert_eq!(e.to_string(), "Core metadata has no `Name` field");
        assert!(matches!(
            CoreMetadata::parse(b"Name: a\n"),
            Err(MetadataError::Missing("Version"))
        ));
        assert!(matches!(
            CoreMetadata::parse(b"Name: a\nVersion: one\n"),
            Err(MetadataError::Version { .. })
        ));
        assert!(matches!(
            CoreMetadata::parse(b"Name: a\nVersion: 1\nRequires-Dist: b >=< 2\n"),
            Err(MetadataError::RequiresDist { .. })
        ));
        assert!(matches!(
            CoreMetadata::parse(b"Name: a\nVersion: 1\nRequires-Python: >=>3\n"),
            Err(MetadataError::RequiresPython { .. })
        ));
        assert!(matches!(
            CoreMetadata::parse(b"Metadata-Version: 3.0\nName: a\nVersion: 1\n"),
            Err(MetadataError::MetadataVersion(_))
        ));
        assert!(matches!(
            CoreMetadata::parse(b"Name: a\nnot a header\n"),
            Err(MetadataError::Header { line: 2 })
        ));
        assert!(matches!(
            CoreMetadata::parse(b"\xff\xfe"),
            Err(MetadataError::Utf8(_))
        ));
        let e = CoreMetadata::parse(
            b"Name: a\nVersion: 1\nRequires-Dist: b @ https://u:s3cr3t@127.0.0.1/b.whl ; ;\n",
        )
        .unwrap_err();
        assert!(!format!("{e} {e:?}").contains("s3cr3t"), "{e}");
    }
}
