//! pip's requirements-file syntax, as users write it: PEP 508 requirements with
//! per-line `--hash` options, `#` comments, `\` continuations, `${VAR}` expansion,
//! `-r`/`-c` includes and the index options. Also the `PIP_INDEX_URL` /
//! `PIP_EXTRA_INDEX_URL` environment variables.
//!
//! Files are read through [`RequirementsSource`] so parsing stays pure. Everything
//! that cannot be reproduced from a lock (URL, editable and local-path requirements)
//! is refused with the file, the line and what to do instead. Credentials in index
//! URLs are kept for use but never shown (see [`IndexUrl`]).

use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use pep440_rs::{Operator, Version};
use pep508_rs::{Requirement, VersionOrUrl};

use super::index_url::{IndexUrl, IndexUrlError, redact_credentials, user_infos};

pub(super) use crate::env_vars::{PIP_EXTRA_INDEX_URL, PIP_INDEX_URL};

const HINT_NOT_LOCKABLE: &str = "Build a wheel, then publish it to a package index or put it in a \
     directory named by `--find-links`, and require it by name and version (`name==1.2.3`)";

/// Reads requirements files; tests use an in-memory map, the build reads disk.
pub(crate) trait RequirementsSource {
    /// The whole text of the file at `path`.
    fn read(&self, path: &Path) -> io::Result<String>;
}

/// Reads requirements files from the file system.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FsSource;

impl RequirementsSource for FsSource {
    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// A line in a requirements file (the first physical line of a continued one).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file, as named by the caller or joined onto the including file's directory.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// Why a requirements file (or the pip environment) was rejected.
#[derive(Debug, thiserror::Error)]
pub enum RequirementsError {
    /// The file could not be read.
    #[error("Failed to read requirements file `{}`{}", file.display(), included_from.as_ref().map(|l| format!(" (included from {l})")).unwrap_or_default())]
    Read {
        /// The file.
        file: PathBuf,
        /// The `-r`/`-c` line that named it, if any.
        included_from: Option<Location>,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file includes itself, directly or not.
    #[error("{location}: `{}` is already being read: include cycle", file.display())]
    IncludeCycle {
        /// The including line.
        location: Location,
        /// The file included again.
        file: PathBuf,
    },
    /// `-r`/`-c` with a URL.
    #[error("{location}: Including a requirements file from a URL is not supported")]
    RemoteInclude {
        /// The including line.
        location: Location,
    },
    /// An option airlock does not know or support.
    #[error("{location}: Unsupported option `{option}`")]
    UnknownOption {
        /// Where.
        location: Location,
        /// The option as written.
        option: String,
    },
    /// An option that needs a value has none.
    #[error("{location}: Option `{option}` needs a value")]
    MissingValue {
        /// Where.
        location: Location,
        /// The option.
        option: String,
    },
    /// A flag was given a value.
    #[error("{location}: Option `{option}` takes no value")]
    UnexpectedValue {
        /// Where.
        location: Location,
        /// The option.
        option: String,
    },
    /// An option line with stray words after its options.
    #[error("{location}: Unexpected `{text}` after the options")]
    UnexpectedText {
        /// Where.
        location: Location,
        /// The stray words (credentials masked).
        text: String,
    },
    /// `-e`/`--editable`.
    #[error(
        "{location}: Editable requirements are not supported: a source tree is not reproducible from the lock"
    )]
    Editable {
        /// Where.
        location: Location,
    },
    /// `name @ URL` or a bare URL.
    #[error(
        "{location}: URL requirement `{requirement}` is not supported: a direct URL is not reproducible from the lock"
    )]
    UrlRequirement {
        /// Where.
        location: Location,
        /// The requirement, credentials masked.
        requirement: String,
    },
    /// A local directory or archive.
    #[error(
        "{location}: Local path requirement `{requirement}` is not supported: a local path is not reproducible from the lock"
    )]
    LocalPath {
        /// Where.
        location: Location,
        /// The requirement as written.
        requirement: String,
    },
    /// Not a valid PEP 508 requirement (or marker).
    #[error("{location}: Invalid requirement: {message}")]
    Requirement {
        /// Where.
        location: Location,
        /// The parser's message, credentials masked.
        message: String,
    },
    /// A bad `--hash` value.
    #[error("{location}: Invalid `--hash` value `{value}`: {reason}")]
    Hash {
        /// Where.
        location: Location,
        /// The value.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A bad index or find-links URL in a file.
    #[error("{location}: Invalid `{option}` URL")]
    IndexUrl {
        /// Where.
        location: Location,
        /// The option.
        option: String,
        /// The cause (never contains the URL).
        #[source]
        source: IndexUrlError,
    },
    /// A bad index URL in the environment.
    #[error("Invalid URL in environment variable `{var}`")]
    EnvIndexUrl {
        /// The variable.
        var: &'static str,
        /// The cause (never contains the URL).
        #[source]
        source: IndexUrlError,
    },
    /// `${NAME}` with `NAME` unset.
    #[error("{location}: Environment variable `{name}` is not set")]
    UndefinedVariable {
        /// Where.
        location: Location,
        /// The variable.
        name: String,
    },
    /// Hash-checking mode is on but a requirement is not pinned with hashes.
    #[error(
        "{location}: `{name}` must be pinned with `==` and have a `--hash` in hash-checking mode"
    )]
    HashModeIncomplete {
        /// Where.
        location: Location,
        /// The requirement's name.
        name: String,
    },
}

/// A hash algorithm pip accepts in `--hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum HashAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// The name used in `--hash=NAME:HEX`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha384 => 96,
            Self::Sha512 => 128,
        }
    }
}

/// One `--hash=ALGO:HEX`, hex in lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Hash {
    /// The algorithm.
    pub algorithm: HashAlgorithm,
    /// Lowercase hex digest.
    pub digest: String,
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.digest)
    }
}

impl FromStr for Hash {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (algo, hex) = s.split_once(':').ok_or("expected `ALGORITHM:HEX`")?;
        let algorithm = match algo.to_ascii_lowercase().as_str() {
            "sha256" => HashAlgorithm::Sha256,
            "sha384" => HashAlgorithm::Sha384,
            "sha512" => HashAlgorithm::Sha512,
            _ => return Err("the algorithm must be `sha256`, `sha384` or `sha512`"),
        };
        if hex.len() != algorithm.hex_len() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err("the digest has the wrong length or is not hexadecimal");
        }
        Ok(Self {
            algorithm,
            digest: hex.to_ascii_lowercase(),
        })
    }
}

/// One requirement (or constraint) line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequirementEntry {
    /// The PEP 508 requirement; never a URL requirement.
    pub requirement: Requirement,
    /// The `--hash` values on the line, in order.
    pub hashes: Vec<Hash>,
    /// Where it was written.
    pub location: Location,
}

impl RequirementEntry {
    /// The version if the requirement is pinned exactly (`==V` without a wildcard,
    /// or `===V`) and has no other specifier.
    pub(crate) fn pinned_version(&self) -> Option<&Version> {
        match &self.requirement.version_or_url {
            Some(VersionOrUrl::VersionSpecifier(specs)) => match specs.iter().as_slice() {
                [one] if matches!(one.operator(), Operator::Equal | Operator::ExactEqual) => {
                    Some(one.version())
                }
                _ => None,
            },
            _ => None,
        }
    }
}

/// A `--find-links` location: a local directory of wheels or a page of links.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum FindLinks {
    /// A directory, joined onto the directory of the file that named it.
    Path(PathBuf),
    /// An `http(s)` page listing wheels.
    Url(IndexUrl),
}

/// Index URLs from pip's environment variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EnvIndexes {
    /// `PIP_INDEX_URL`.
    pub index_url: Option<IndexUrl>,
    /// `PIP_EXTRA_INDEX_URL`, split on whitespace.
    pub extra_index_urls: Vec<IndexUrl>,
}

/// Reads `PIP_INDEX_URL` and `PIP_EXTRA_INDEX_URL` through `env` (empty = unset).
pub(crate) fn index_urls_from_env(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<EnvIndexes, RequirementsError> {
    let index_url = match env(PIP_INDEX_URL).filter(|v| !v.trim().is_empty()) {
        Some(v) => Some(
            IndexUrl::parse(&v).map_err(|source| RequirementsError::EnvIndexUrl {
                var: PIP_INDEX_URL,
                source,
            })?,
        ),
        None => None,
    };
    let extra_index_urls = env(PIP_EXTRA_INDEX_URL)
        .unwrap_or_default()
        .split_whitespace()
        .map(|v| {
            IndexUrl::parse(v).map_err(|source| RequirementsError::EnvIndexUrl {
                var: PIP_EXTRA_INDEX_URL,
                source,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(EnvIndexes {
        index_url,
        extra_index_urls,
    })
}

/// A requirements file with everything it includes, merged as pip merges them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RequirementsFile {
    /// Requirements, in file order (includes expanded in place).
    pub requirements: Vec<RequirementEntry>,
    /// Constraints from `-c` files, in file order.
    pub constraints: Vec<RequirementEntry>,
    /// The last `--index-url` given.
    pub index_url: Option<IndexUrl>,
    /// Every `--extra-index-url`, in order, without duplicates.
    pub extra_index_urls: Vec<IndexUrl>,
    /// Every `--find-links`, in order, without duplicates.
    pub find_links: Vec<FindLinks>,
    /// Whether `--no-index` was given.
    pub no_index: bool,
    /// Whether `--require-hashes` was given.
    pub require_hashes: bool,
    /// `--only-binary` and `--no-binary`, in file order.
    pub binary: super::sdist::BinaryPolicy,
    /// Every file read, in the order first read: the inputs a lock depends on.
    pub files: Vec<PathBuf>,
    /// Lines that write credentials into a URL literally (see
    /// [`has_literal_credentials`]): the file is copied into the image as written.
    pub literal_credentials: Vec<Location>,
}

impl RequirementsFile {
    /// Parses `path` and every file it includes, expanding `${NAME}` through `env`.
    pub(crate) fn parse(
        path: &Path,
        source: &dyn RequirementsSource,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, RequirementsError> {
        let mut parser = Parser {
            source,
            env,
            stack: Vec::new(),
            out: Self::default(),
        };
        parser.file(&normalize_path(path), false, None)?;
        Ok(parser.out)
    }

    /// pip's hash-checking mode, satisfied: there is at least one requirement, and
    /// every requirement is pinned with `==` and has at least one hash. Such a file
    /// can be used as-is, without resolution.
    pub(crate) fn is_fully_hashed(&self) -> bool {
        !self.requirements.is_empty()
            && self
                .requirements
                .iter()
                .all(|r| !r.hashes.is_empty() && r.pinned_version().is_some())
    }

    /// Whether pip would be in hash-checking mode: `--require-hashes`, or any hash.
    pub(crate) fn hash_checking_mode(&self) -> bool {
        self.require_hashes || self.requirements.iter().any(|r| !r.hashes.is_empty())
    }

    /// In hash-checking mode, fails on the first requirement that is not pinned
    /// with hashes, as pip would.
    pub(crate) fn check_hash_mode(&self) -> Result<(), RequirementsError> {
        if !self.hash_checking_mode() {
            return Ok(());
        }
        match self
            .requirements
            .iter()
            .find(|r| r.hashes.is_empty() || r.pinned_version().is_none())
        {
            Some(r) => Err(RequirementsError::HashModeIncomplete {
                location: r.location.clone(),
                name: r.requirement.name.to_string(),
            }),
            None => Ok(()),
        }
    }
}

struct Parser<'a> {
    source: &'a dyn RequirementsSource,
    env: &'a dyn Fn(&str) -> Option<String>,
    stack: Vec<PathBuf>,
    out: RequirementsFile,
}

/// Options that may start a line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LineOption {
    Requirement,
    Constraint,
    IndexUrl,
    ExtraIndexUrl,
    FindLinks,
    NoIndex,
    RequireHashes,
    Editable,
    OnlyBinary,
    NoBinary,
}

impl LineOption {
    fn lookup(name: &str) -> Option<(Self, &'static str)> {
        Some(match name {
            "-r" | "--requirement" => (Self::Requirement, "--requirement"),
            "-c" | "--constraint" => (Self::Constraint, "--constraint"),
            "-i" | "--index-url" => (Self::IndexUrl, "--index-url"),
            "--extra-index-url" => (Self::ExtraIndexUrl, "--extra-index-url"),
            "-f" | "--find-links" => (Self::FindLinks, "--find-links"),
            "--no-index" => (Self::NoIndex, "--no-index"),
            "--require-hashes" => (Self::RequireHashes, "--require-hashes"),
            "-e" | "--editable" => (Self::Editable, "--editable"),
            "--only-binary" => (Self::OnlyBinary, "--only-binary"),
            "--no-binary" => (Self::NoBinary, "--no-binary"),
            _ => return None,
        })
    }

    fn takes_value(self) -> bool {
        !matches!(self, Self::NoIndex | Self::RequireHashes)
    }
}

impl Parser<'_> {
    fn file(
        &mut self,
        path: &Path,
        constraint: bool,
        included_from: Option<Location>,
    ) -> Result<(), RequirementsError> {
        if self.stack.iter().any(|p| p == path) {
            // Only reachable through an include, which always has a location.
            let location = included_from.unwrap_or_else(|| Location {
                file: path.to_path_buf(),
                line: 0,
            });
            return Err(RequirementsError::IncludeCycle {
                location,
                file: path.to_path_buf(),
            });
        }
        let text = self
            .source
            .read(path)
            .map_err(|source| RequirementsError::Read {
                file: path.to_path_buf(),
                included_from,
                source,
            })?;
        if !self.out.files.iter().any(|p| p == path) {
            self.out.files.push(path.to_path_buf());
        }
        self.stack.push(path.to_path_buf());
        for (line, raw) in logical_lines(&text) {
            let location = Location {
                file: path.to_path_buf(),
                line,
            };
            let stripped = strip_comment(&raw);
            if has_literal_credentials(stripped) {
                self.out.literal_credentials.push(location.clone());
            }
            let expanded = expand_env(stripped, self.env, &location)?;
            let content = expanded.trim();
            if content.is_empty() {
                continue;
            }
            if content.starts_with('-') {
                self.option_line(content, constraint, location)?;
            } else {
                let entry = requirement_line(content, location)?;
                if constraint {
                    self.out.constraints.push(entry);
                } else {
                    self.out.requirements.push(entry);
                }
            }
        }
        self.stack.pop();
        Ok(())
    }

    fn option_line(
        &mut self,
        content: &str,
        constraint: bool,
        location: Location,
    ) -> Result<(), RequirementsError> {
        let tokens = split_words(content);
        let mut i = 0;
        while i < tokens.len() {
            let token = &tokens[i];
            i += 1;
            if !token.starts_with('-') {
                return Err(RequirementsError::UnexpectedText {
                    location,
                    text: redact_credentials(&tokens[i - 1..].join(" ")),
                });
            }
            let (name, inline) = split_option(token);
            let Some((option, long)) = LineOption::lookup(name) else {
                return Err(RequirementsError::UnknownOption {
                    location,
                    option: name.to_string(),
                });
            };
            if option == LineOption::Editable {
                return Err(RequirementsError::Editable { location });
            }
            let value = if option.takes_value() {
                match inline {
                    Some(v) => v,
                    None if i < tokens.len() => {
                        i += 1;
                        tokens[i - 1].clone()
                    }
                    None => {
                        return Err(RequirementsError::MissingValue {
                            location,
                            option: long.to_string(),
                        });
                    }
                }
            } else {
                if inline.is_some() {
                    return Err(RequirementsError::UnexpectedValue {
                        location,
                        option: long.to_string(),
                    });
                }
                String::new()
            };
            self.apply(option, long, &value, constraint, &location)?;
        }
        Ok(())
    }

    fn apply(
        &mut self,
        option: LineOption,
        long: &str,
        value: &str,
        _constraint: bool,
        location: &Location,
    ) -> Result<(), RequirementsError> {
        let index_url = |v: &str| {
            IndexUrl::parse(v).map_err(|source| RequirementsError::IndexUrl {
                location: location.clone(),
                option: long.to_string(),
                source,
            })
        };
        match option {
            LineOption::Requirement | LineOption::Constraint => {
                if value.contains("://") {
                    return Err(RequirementsError::RemoteInclude {
                        location: location.clone(),
                    });
                }
                let base = location.file.parent().unwrap_or(Path::new(""));
                let path = normalize_path(&base.join(value));
                // pip: `-r` inside a constraints file still names requirements.
                self.file(
                    &path,
                    option == LineOption::Constraint,
                    Some(location.clone()),
                )?;
            }
            LineOption::IndexUrl => self.out.index_url = Some(index_url(value)?),
            LineOption::ExtraIndexUrl => {
                let url = index_url(value)?;
                if !self.out.extra_index_urls.contains(&url) {
                    self.out.extra_index_urls.push(url);
                }
            }
            LineOption::FindLinks => {
                let link = if value.contains("://") || value.starts_with("file:") {
                    let url = index_url(value)?;
                    match url.url().scheme() {
                        "file" => match url.url().to_file_path() {
                            Ok(p) => FindLinks::Path(p),
                            Err(()) => FindLinks::Url(url),
                        },
                        _ => FindLinks::Url(url),
                    }
                } else {
                    let base = location.file.parent().unwrap_or(Path::new(""));
                    FindLinks::Path(normalize_path(&base.join(value)))
                };
                if !self.out.find_links.contains(&link) {
                    self.out.find_links.push(link);
                }
            }
            LineOption::NoIndex => self.out.no_index = true,
            LineOption::RequireHashes => self.out.require_hashes = true,
            LineOption::OnlyBinary => self.out.binary.apply(false, value),
            LineOption::NoBinary => self.out.binary.apply(true, value),
            LineOption::Editable => {
                return Err(RequirementsError::Editable {
                    location: location.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Parses a requirement line: the requirement, then per-requirement options.
fn requirement_line(
    content: &str,
    location: Location,
) -> Result<RequirementEntry, RequirementsError> {
    // As pip does: the requirement ends at the first word starting with `-`.
    let words: Vec<&str> = content.split_whitespace().collect();
    let split = words
        .iter()
        .position(|w| w.starts_with('-'))
        .unwrap_or(words.len());
    let spec = words[..split].join(" ");
    let mut hashes = Vec::new();
    let mut i = split;
    while i < words.len() {
        let (name, inline) = split_option(words[i]);
        i += 1;
        if name != "--hash" {
            if LineOption::lookup(name) == Some((LineOption::Editable, "--editable")) {
                return Err(RequirementsError::Editable { location });
            }
            return Err(RequirementsError::UnknownOption {
                location,
                option: name.to_string(),
            });
        }
        let value = match inline {
            Some(v) => v,
            None if i < words.len() => {
                i += 1;
                words[i - 1].to_string()
            }
            None => {
                return Err(RequirementsError::MissingValue {
                    location,
                    option: "--hash".into(),
                });
            }
        };
        let hash = value
            .parse::<Hash>()
            .map_err(|reason| RequirementsError::Hash {
                location: location.clone(),
                value: value.clone(),
                reason,
            })?;
        if !hashes.contains(&hash) {
            hashes.push(hash);
        }
    }
    check_lockable(&spec, &location)?;
    let requirement = Requirement::from_str(&spec).map_err(|e| RequirementsError::Requirement {
        location: location.clone(),
        message: redact_credentials(&e.to_string()),
    })?;
    if let Some(VersionOrUrl::Url(_)) = requirement.version_or_url {
        return Err(RequirementsError::UrlRequirement {
            location,
            requirement: redact_credentials(&spec),
        });
    }
    Ok(RequirementEntry {
        requirement,
        hashes,
        location,
    })
}

/// Refuses URL and path requirements before the PEP 508 parser sees them, so the
/// message says why rather than how the syntax failed.
fn check_lockable(spec: &str, location: &Location) -> Result<(), RequirementsError> {
    let before_marker = spec.split(';').next().unwrap_or(spec).trim();
    let target = match before_marker.split_once('@') {
        // `name @ target`; an `@` inside a URL's user info comes after `://`.
        Some((name, target)) if !name.contains("://") && !name.contains('/') => target.trim(),
        _ => before_marker,
    };
    let is_path = |s: &str| {
        s.starts_with("./")
            || s.starts_with("../")
            || s.starts_with('/')
            || s.starts_with('~')
            || s.starts_with("file:")
            || s == "."
            || s == ".."
            || s.contains('\\')
            || [".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"]
                .iter()
                .any(|ext| s.to_ascii_lowercase().ends_with(ext))
    };
    let remote = target.contains("://") && !target.starts_with("file:");
    if !remote && is_path(target) {
        return Err(RequirementsError::LocalPath {
            location: location.clone(),
            requirement: redact_credentials(spec),
        });
    }
    if remote || target.contains('/') {
        return Err(RequirementsError::UrlRequirement {
            location: location.clone(),
            requirement: redact_credentials(spec),
        });
    }
    Ok(())
}

/// `--name=value` → (`--name`, Some(value)); `-xVALUE` → (`-x`, Some(VALUE)).
fn split_option(token: &str) -> (&str, Option<String>) {
    if token.starts_with("--") {
        match token.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (token, None),
        }
    } else if token.len() > 2 && token.is_char_boundary(2) {
        let v = &token[2..];
        (
            &token[..2],
            Some(v.strip_prefix('=').unwrap_or(v).to_string()),
        )
    } else {
        (token, None)
    }
}

/// Joins `\`-continued lines, keeping the number of the first physical line. A
/// comment line never continues (pip's rule).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let is_comment = line.trim_start().starts_with('#');
        match line.strip_suffix('\\') {
            Some(head) if !is_comment => match &mut pending {
                Some((_, buf)) => buf.push_str(head),
                None => pending = Some((i + 1, head.to_string())),
            },
            _ => match pending.take() {
                // A comment line ends the continuation but is not part of it.
                Some((n, buf)) if is_comment => {
                    out.push((n, buf));
                    out.push((i + 1, line.to_string()));
                }
                Some((n, mut buf)) => {
                    buf.push_str(line);
                    out.push((n, buf));
                }
                None => out.push((i + 1, line.to_string())),
            },
        }
    }
    if let Some(p) = pending {
        out.push(p);
    }
    out
}

/// Cuts a `#` comment: a `#` at the start of the line or after whitespace, so the
/// `#` of a URL fragment is kept.
fn strip_comment(line: &str) -> &str {
    let mut prev_ws = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_ws {
            return &line[..i];
        }
        prev_ws = c.is_whitespace();
    }
    line
}

/// The length of the `${NAME}` reference at the start of `text`, if there is one.
fn reference_len(text: &str) -> Option<usize> {
    let after = text.strip_prefix("${")?;
    let name_len = after
        .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .unwrap_or(after.len());
    (name_len > 0 && after[name_len..].starts_with('}')).then_some(name_len + 3)
}

/// Whether `text` writes a secret into a URL as it is, rather than as `${VAR}`: a
/// password that is more than `${NAME}` references, or, without a password, a user
/// name that is (tokens are often passed as the user name). `user:${TOKEN}@` is fine.
pub(crate) fn has_literal_credentials(text: &str) -> bool {
    user_infos(text).into_iter().any(|info| {
        let secret = info.split_once(':').map_or(info, |(_, password)| password);
        let mut rest = secret;
        while !rest.is_empty() {
            match reference_len(rest) {
                Some(len) => rest = &rest[len..],
                None => return true,
            }
        }
        false
    })
}

/// Expands `${NAME}` where `NAME` is `[A-Z0-9_]+`, the only form pip expands.
fn expand_env(
    line: &str,
    env: &dyn Fn(&str) -> Option<String>,
    location: &Location,
) -> Result<String, RequirementsError> {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let at = &rest[start..];
        if let Some(len) = reference_len(at) {
            let name = &at[2..len - 1];
            let value = env(name).ok_or_else(|| RequirementsError::UndefinedVariable {
                location: location.clone(),
                name: name.to_string(),
            })?;
            out.push_str(&value);
            rest = &at[len..];
        } else {
            out.push_str("${");
            rest = &at[2..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Splits an option line into words, honouring single and double quotes.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// Removes `.` and resolves `..` lexically, so the same file has one name.
fn normalize_path(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

impl crate::hint::Hint for RequirementsError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::RemoteInclude { .. } => {
                vec!["Download the file and include it by a relative path".into()]
            }
            Self::UnknownOption { .. } => vec![
                "Supported options: `-r`, `-c`, `-i`/`--index-url`, `--extra-index-url`, \
                 `-f`/`--find-links`, `--no-index`, `--require-hashes` and `--hash` on a requirement line".into(),
            ],
            Self::Editable { .. } | Self::UrlRequirement { .. } | Self::LocalPath { .. } => {
                vec![HINT_NOT_LOCKABLE.into()]
            }
            Self::EnvIndexUrl { .. } | Self::IndexUrl { .. } => {
                vec!["An index URL looks like `https://host/simple/`".into()]
            }
            Self::UndefinedVariable { .. } => {
                vec!["Set the variable in the environment of airlock".into()]
            }
            Self::HashModeIncomplete { .. } => vec![
                "Once one requirement has a `--hash`, every requirement needs `==VERSION` and a `--hash`".into(),
            ],
            Self::Read { .. }
            | Self::IncludeCycle { .. }
            | Self::MissingValue { .. }
            | Self::UnexpectedValue { .. }
            | Self::UnexpectedText { .. }
            | Self::Requirement { .. }
            | Self::Hash { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hint::Hint as _;
    use std::collections::HashMap;

    struct Mem(HashMap<PathBuf, String>);

    impl RequirementsSource for Mem {
        fn read(&self, path: &Path) -> io::Result<String> {
            self.0
                .get(path)
                .cloned()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
        }
    }

    fn mem(files: &[(&str, &str)]) -> Mem {
        Mem(files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect())
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(text: &str) -> Result<RequirementsFile, RequirementsError> {
        RequirementsFile::parse(
            Path::new("proj/requirements.txt"),
            &mem(&[("proj/requirements.txt", text)]),
            &no_env,
        )
    }

    fn names(f: &RequirementsFile) -> Vec<String> {
        f.requirements
            .iter()
            .map(|r| r.requirement.to_string())
            .collect()
    }

    #[test]
    fn item8_literal_credentials_are_told_from_references() {
        for literal in [
            "--index-url https://user:s3cret@127.0.0.1/simple/",
            "--extra-index-url https://tok3n@127.0.0.1/simple/",
            "-f https://${USER}:pa${PASS}ss@127.0.0.1/wheels/",
            "--index-url=https://__token__:abc@127.0.0.1/simple/ # note",
        ] {
            assert!(has_literal_credentials(literal), "{literal}");
        }
        for fine in [
            "--index-url https://127.0.0.1/simple/",
            "--index-url https://user:${TOKEN}@127.0.0.1/simple/",
            "--index-url https://${USER}:${PASS}@127.0.0.1/simple/",
            "--index-url https://${TOKEN}@127.0.0.1/simple/",
            "alpha==1.0 # see https://127.0.0.1/docs@v1",
        ] {
            assert!(!has_literal_credentials(fine), "{fine}");
        }
        let f = parse(
            "alpha\n--extra-index-url https://u:p@127.0.0.1/simple/\n# https://u:p@127.0.0.1/ in a comment\n",
        )
        .unwrap();
        let lines: Vec<usize> = f.literal_credentials.iter().map(|l| l.line).collect();
        assert_eq!(lines, [2]);
    }

    const H1: &str = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
    const H2: &str = "sha256:fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9";

    #[test]
    fn parses_names_extras_specifiers_markers_and_comments() {
        let f = parse(
            "# a comment\n\
             \n\
             requests[socks,security] >=2.8.1, ==2.8.* ; python_version >= \"3.8\"  # trailing\n\
             Apache-Airflow-Providers-Amazon\n\
             \tpandas<3\n",
        )
        .unwrap();
        assert_eq!(f.requirements.len(), 3);
        let r = &f.requirements[0];
        assert_eq!(r.requirement.name.as_ref(), "requests");
        assert_eq!(r.requirement.extras.len(), 2);
        assert!(!r.requirement.marker.is_true());
        assert_eq!(r.location.line, 3);
        assert_eq!(
            f.requirements[1].requirement.name.as_ref(),
            "apache-airflow-providers-amazon"
        );
        assert_eq!(f.requirements[2].location.line, 5);
        assert_eq!(f.files, [PathBuf::from("proj/requirements.txt")]);
    }

    #[test]
    fn joins_continuations_and_reports_the_first_line() {
        let f = parse(&format!(
            "# intro\nflask==3.0.0 \\\n    --hash={H1} \\\n    --hash={H2}\nsix\n"
        ))
        .unwrap();
        let r = &f.requirements[0];
        assert_eq!(r.location.line, 2);
        assert_eq!(r.hashes.len(), 2);
        assert_eq!(r.hashes[1].to_string(), H2);
        assert_eq!(f.requirements[1].location.line, 5);
    }

    #[test]
    fn a_comment_line_ending_in_backslash_does_not_continue() {
        let f = parse("# note \\\nsix\n").unwrap();
        assert_eq!(names(&f), ["six"]);
        let f = parse("six \\\n# c\nattrs\n").unwrap();
        assert_eq!(names(&f), ["six", "attrs"]);
    }

    #[test]
    fn hash_in_url_fragment_is_not_a_comment() {
        let f = parse("--extra-index-url http://127.0.0.1/simple/#frag\n").unwrap();
        assert_eq!(
            f.extra_index_urls[0].to_string(),
            "http://127.0.0.1/simple/#frag"
        );
    }

    #[test]
    fn index_options_in_all_spellings() {
        let f = parse(
            "-i http://127.0.0.1/first/\n\
             --index-url=http://127.0.0.1/simple/\n\
             --extra-index-url http://127.0.0.1/extra/\n\
             --extra-index-url=http://127.0.0.1/extra/\n\
             -f ./wheels\n\
             --find-links=http://127.0.0.1/links/\n\
             -ffile:///srv/wheelhouse\n\
             --no-index\n",
        )
        .unwrap();
        assert_eq!(
            f.index_url.as_ref().map(ToString::to_string).as_deref(),
            Some("http://127.0.0.1/simple/")
        );
        assert_eq!(f.extra_index_urls.len(), 1);
        assert_eq!(
            f.find_links,
            [
                FindLinks::Path(PathBuf::from("proj/wheels")),
                FindLinks::Url(IndexUrl::parse("http://127.0.0.1/links/").unwrap()),
                FindLinks::Path(PathBuf::from("/srv/wheelhouse")),
            ]
        );
        assert!(f.no_index);
    }

    #[test]
    fn includes_resolve_relative_to_the_including_file() {
        let src = mem(&[
            (
                "proj/requirements.txt",
                "-r sub/base.txt\n-c constraints.txt\nflask\n",
            ),
            ("proj/sub/base.txt", "--requirement=../common.txt\nsix\n"),
            ("proj/common.txt", "attrs\n-i http://127.0.0.1/simple/\n"),
            ("proj/constraints.txt", "attrs==23.1.0\n-r more.txt\n"),
            ("proj/more.txt", "click\n"),
        ]);
        let f = RequirementsFile::parse(Path::new("proj/requirements.txt"), &src, &no_env).unwrap();
        assert_eq!(names(&f), ["attrs", "six", "click", "flask"]);
        assert_eq!(f.constraints.len(), 1);
        assert_eq!(f.constraints[0].requirement.to_string(), "attrs==23.1.0");
        assert_eq!(
            f.constraints[0].location.file,
            PathBuf::from("proj/constraints.txt")
        );
        assert!(f.index_url.is_some());
        assert_eq!(f.files.len(), 5);
        assert_eq!(f.files[2], PathBuf::from("proj/common.txt"));
    }

    #[test]
    fn include_errors_name_the_including_line() {
        let e = parse("six\n-r missing.txt\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("proj/missing.txt"), "{msg}");
        assert!(
            msg.contains("included from proj/requirements.txt:2"),
            "{msg}"
        );

        let src = mem(&[("a.txt", "-r b.txt\n"), ("b.txt", "-r ./a.txt\n")]);
        let e = RequirementsFile::parse(Path::new("a.txt"), &src, &no_env).unwrap_err();
        assert!(matches!(e, RequirementsError::IncludeCycle { .. }), "{e}");
        assert!(e.to_string().starts_with("b.txt:1:"), "{e}");

        let e = parse("-r http://127.0.0.1/reqs.txt\n").unwrap_err();
        assert!(matches!(e, RequirementsError::RemoteInclude { .. }));
    }

    #[test]
    fn expands_braced_env_vars_only() {
        let env = |k: &str| match k {
            "TOKEN" => Some("s3cr3t".to_string()),
            "PKG_VERSION" => Some("1.2".to_string()),
            _ => None,
        };
        let f = RequirementsFile::parse(
            Path::new("r.txt"),
            &mem(&[(
                "r.txt",
                "-i https://user:${TOKEN}@127.0.0.1/simple/\nfoo==${PKG_VERSION}\n",
            )]),
            &env,
        )
        .unwrap();
        assert!(!format!("{f:?}").contains("s3cr3t"));
        let url = f.index_url.clone().unwrap();
        assert_eq!(url.url().password(), Some("s3cr3t"));
        assert!(!format!("{url} {url:?}").contains("s3cr3t"));
        assert_eq!(names(&f.clone_requirements_only()), ["foo==1.2"]);

        // `$VAR` and lowercase names are left alone, as pip does.
        assert_eq!(
            expand_env("a $TOKEN ${lower} ${", &env, &loc()).unwrap(),
            "a $TOKEN ${lower} ${"
        );
        let e = parse("foo==${NOT_SET}\n").unwrap_err();
        assert!(
            matches!(e, RequirementsError::UndefinedVariable { ref name, .. } if name == "NOT_SET")
        );
        assert!(e.to_string().starts_with("proj/requirements.txt:1:"));
    }

    fn loc() -> Location {
        Location {
            file: "r.txt".into(),
            line: 1,
        }
    }

    impl RequirementsFile {
        fn clone_requirements_only(&self) -> Self {
            Self {
                requirements: self.requirements.clone(),
                ..Self::default()
            }
        }
    }

    #[test]
    fn pip_environment_variables() {
        let env = |k: &str| match k {
            PIP_INDEX_URL => Some("https://u:s3cr3t@127.0.0.1/simple/".to_string()),
            PIP_EXTRA_INDEX_URL => Some(" http://127.0.0.1/a/  http://127.0.0.1/b/\n".to_string()),
            _ => None,
        };
        let got = index_urls_from_env(&env).unwrap();
        assert_eq!(
            got.index_url.as_ref().unwrap().url().password(),
            Some("s3cr3t")
        );
        assert_eq!(got.extra_index_urls.len(), 2);
        assert!(!format!("{got:?}").contains("s3cr3t"));
        assert_eq!(index_urls_from_env(&no_env).unwrap(), EnvIndexes::default());
        let bad = |k: &str| (k == PIP_EXTRA_INDEX_URL).then(|| "ftp://u:s3cr3t@h/".to_string());
        let e = index_urls_from_env(&bad).unwrap_err();
        assert!(e.to_string().contains(PIP_EXTRA_INDEX_URL));
        assert!(!format!("{e} {e:?}").contains("s3cr3t"));
    }

    #[test]
    fn hash_checking_mode() {
        let f = parse(&format!(
            "a==1.0 --hash={H1}\nb===2 --hash {H2} --hash={H1}\n"
        ))
        .unwrap();
        assert!(f.is_fully_hashed());
        assert!(f.check_hash_mode().is_ok());

        let f = parse(&format!("a==1.0 --hash={H1}\nb>=2 --hash={H2}\n")).unwrap();
        assert!(!f.is_fully_hashed());
        let e = f.check_hash_mode().unwrap_err();
        assert!(e.to_string().contains("`b`"), "{e}");
        assert!(e.to_string().starts_with("proj/requirements.txt:2:"), "{e}");

        let f = parse(&format!("a==1.* --hash={H1}\n")).unwrap();
        assert!(!f.is_fully_hashed());
        let f = parse("a==1.0\n").unwrap();
        assert!(!f.is_fully_hashed() && !f.hash_checking_mode());
        assert!(f.check_hash_mode().is_ok());
        let f = parse("--require-hashes\na==1.0\n").unwrap();
        assert!(f.check_hash_mode().is_err());
        assert!(!parse("").unwrap().is_fully_hashed());
    }

    #[test]
    fn bad_hashes() {
        for bad in ["md5:abc", "sha256:xyz", "sha256", "sha256:abcd"] {
            let e = parse(&format!("a==1 --hash={bad}\n")).unwrap_err();
            assert!(matches!(e, RequirementsError::Hash { .. }), "{bad}: {e}");
        }
        let e = parse("a==1 --hash\n").unwrap_err();
        assert!(matches!(e, RequirementsError::MissingValue { .. }));
        let f = parse(&format!(
            "a==1 --hash={}\n",
            H1.to_uppercase().replace("SHA", "sha")
        ))
        .unwrap();
        assert_eq!(f.requirements[0].hashes[0].to_string(), H1);
    }

    #[test]
    fn refuses_url_requirements_without_showing_credentials() {
        for line in [
            "pkg @ https://user:s3cr3t@127.0.0.1/pkg-1.0-py3-none-any.whl",
            "https://user:s3cr3t@127.0.0.1/pkg-1.0.tar.gz#egg=pkg",
            "pkg[extra] @ git+https://s3cr3t@127.0.0.1/repo.git ; python_version > '3'",
            "http://127.0.0.1/pkg",
        ] {
            let e = parse(&format!("six\n{line}\n")).unwrap_err();
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("s3cr3t"), "{shown}");
            assert!(e.to_string().starts_with("proj/requirements.txt:2:"), "{e}");
            assert!(e.hints()[0].contains("--find-links"));
        }
        let e = parse("pkg @ https://127.0.0.1/pkg-1.0-py3-none-any.whl\n").unwrap_err();
        assert!(
            e.to_string().contains("not reproducible from the lock"),
            "{e}"
        );
    }

    #[test]
    fn refuses_local_paths_and_editables() {
        for line in [
            "./pkg",
            "../sibling",
            "/abs/pkg",
            ".",
            "file:///srv/pkg",
            "pkg @ file:///srv/pkg",
            "pkg @ ./pkg",
            "dist/pkg-1.0-py3-none-any.whl",
            "pkg-1.0.tar.gz",
        ] {
            let e = parse(&format!("{line}\n")).unwrap_err();
            assert!(
                matches!(e, RequirementsError::LocalPath { .. }),
                "{line}: {e}"
            );
            assert!(!e.hints().is_empty());
        }
        for line in [
            "-e ./pkg",
            "--editable=.",
            "-e git+https://127.0.0.1/r.git#egg=r",
        ] {
            let e = parse(&format!("{line}\n")).unwrap_err();
            assert!(
                matches!(e, RequirementsError::Editable { .. }),
                "{line}: {e}"
            );
            assert!(e.to_string().contains("not reproducible from the lock"));
        }
    }

    #[test]
    fn unknown_options_name_file_and_line() {
        let e = parse("six\n--pre\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "proj/requirements.txt:2: Unsupported option `--pre`"
        );
        assert!(!e.hints().is_empty());
        let e = parse("six --install-option=x\n").unwrap_err();
        assert!(
            matches!(e, RequirementsError::UnknownOption { ref option, .. } if option == "--install-option")
        );
        let e = parse("--trusted-host 127.0.0.1\n").unwrap_err();
        assert!(matches!(e, RequirementsError::UnknownOption { .. }));
        let e = parse("--index-url\n").unwrap_err();
        assert!(matches!(e, RequirementsError::MissingValue { .. }));
        let e = parse("--no-index=yes\n").unwrap_err();
        assert!(matches!(e, RequirementsError::UnexpectedValue { .. }));
        let e = parse("--no-index six\n").unwrap_err();
        assert!(matches!(e, RequirementsError::UnexpectedText { .. }));
    }

    #[test]
    fn invalid_requirements_and_markers() {
        let e = parse("six\nfoo >= 1.0 ; python_version >< '3'\n").unwrap_err();
        assert!(matches!(e, RequirementsError::Requirement { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with("proj/requirements.txt:2: Invalid requirement")
        );
        assert!(parse("foo ==\n").is_err());
        assert!(parse("foo[bar\n").is_err());
    }

    #[test]
    fn bad_index_urls_do_not_echo_secrets() {
        let e = parse("-i ftp://u:s3cr3t@127.0.0.1/\n").unwrap_err();
        assert!(matches!(e, RequirementsError::IndexUrl { .. }));
        assert!(!format!("{e} {e:?}").contains("s3cr3t"));
        let e = parse("--extra-index-url not-a-url\n").unwrap_err();
        assert!(e.to_string().contains("--extra-index-url"));
    }

    #[test]
    fn pinned_version() {
        let f = parse("a==1.0\nb===1.0\nc==1.*\nd>=1,<2\ne\n").unwrap();
        let pins: Vec<bool> = f
            .requirements
            .iter()
            .map(|r| r.pinned_version().is_some())
            .collect();
        assert_eq!(pins, [true, true, false, false, false]);
    }

    #[test]
    fn the_real_source_reads_disk() {
        let dir = std::env::temp_dir().join(format!("airlock-req-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("requirements.txt"), "-r other.txt\nsix\n").unwrap();
        std::fs::write(dir.join("other.txt"), "attrs\n").unwrap();
        let f = RequirementsFile::parse(&dir.join("requirements.txt"), &FsSource, &no_env);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(names(&f.unwrap()), ["attrs", "six"]);
    }

    #[test]
    fn helpers() {
        assert_eq!(strip_comment("a # b"), "a ");
        assert_eq!(strip_comment("#x"), "");
        assert_eq!(strip_comment("a#b"), "a#b");
        assert_eq!(split_words("-i 'a b' \"c\" d"), ["-i", "a b", "c", "d"]);
        assert_eq!(
            normalize_path(Path::new("a/./b/../c")),
            PathBuf::from("a/c")
        );
        assert_eq!(normalize_path(Path::new("../x")), PathBuf::from("../x"));
    }
}
