//! Image references, `[registry[:port]/]repository[:tag][@sha256:…]`, validated by the
//! distribution reference grammar. A pure parser: no I/O, no network.
//!
//! Short names (`alpine`, `team/app`) take the default registry from configuration:
//! no registry host is built in. With a default, a one-component name gets the
//! `library/` prefix, as Docker does.

use std::fmt;
use std::str::FromStr;

use crate::digest::{Digest, DigestError};

const MAX_NAME_LENGTH: usize = 255;
const MAX_TAG_LENGTH: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("Image reference is empty")]
    Empty,
    #[error(
        "Image reference `{0}` names no registry and no default registry is configured; write it in full as `<registry>/{0}` or set `registry.default` in `airlock.toml`"
    )]
    NoRegistry(String),
    #[error("Invalid registry `{registry}` in image reference `{text}`")]
    Registry { text: String, registry: String },
    #[error(
        "Invalid repository name `{name}` in image reference `{text}`: components are lowercase letters and digits, separated by `.`, `_`, `__` or dashes, joined by `/`"
    )]
    Name { text: String, name: String },
    #[error(
        "Invalid tag `{tag}` in image reference `{text}`: up to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"
    )]
    Tag { text: String, tag: String },
    #[error("Invalid digest in image reference `{text}`")]
    Digest {
        text: String,
        #[source]
        source: DigestError,
    },
    #[error("Repository name in image reference `{0}` is longer than 255 characters")]
    TooLong(String),
}

/// A repository on a registry: where blobs and manifests live.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repository {
    registry: String,
    name: String,
}

impl Repository {
    /// A repository from its validated parts, e.g. (`127.0.0.1:5000`, `team/app`).
    pub fn new(registry: &str, name: &str) -> Result<Self, ReferenceError> {
        let text = format!("{registry}/{name}");
        if !is_valid_registry(registry) {
            return Err(ReferenceError::Registry {
                text,
                registry: registry.to_string(),
            });
        }
        if !is_valid_name(name) {
            return Err(ReferenceError::Name {
                text,
                name: name.to_string(),
            });
        }
        if name.len() + registry.len() + 1 > MAX_NAME_LENGTH {
            return Err(ReferenceError::TooLong(text));
        }
        Ok(Self {
            registry: registry.to_string(),
            name: name.to_string(),
        })
    }

    /// `host[:port]`, as used for credentials and URLs.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The path inside the registry, e.g. `team/app`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.name)
    }
}

/// A parsed image reference. Without tag and digest, the tag is `latest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    repository: Repository,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses `text`; a name without a registry uses `default_registry`, or is an error
    /// when none is configured.
    pub fn parse_with_default(
        text: &str,
        default_registry: Option<&str>,
    ) -> Result<Self, ReferenceError> {
        if text.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                let digest = digest.parse().map_err(|source| ReferenceError::Digest {
                    text: text.to_string(),
                    source,
                })?;
                (rest, Some(digest))
            }
            None => (text, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(colon) => {
                let split = last_slash + colon;
                (&rest[..split], Some(&rest[split + 1..]))
            }
            None => (rest, None),
        };
        if let Some(tag) = tag
            && !is_valid_tag(tag)
        {
            return Err(ReferenceError::Tag {
                text: text.to_string(),
                tag: tag.to_string(),
            });
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path)) if is_registry_component(first) => (first.to_string(), path),
            _ => {
                let Some(default) = default_registry else {
                    return Err(ReferenceError::NoRegistry(text.to_string()));
                };
                let path = if name.contains('/') {
                    name.to_string()
                } else {
                    format!("library/{name}")
                };
                let repository =
                    Repository::new(default, &path).map_err(|error| relabel(error, text))?;
                return Ok(Self {
                    repository,
                    tag: tag.map(str::to_string),
                    digest,
                });
            }
        };
        let repository = Repository::new(&registry, path).map_err(|error| relabel(error, text))?;
        Ok(Self {
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// A reference to `digest` in `repository`.
    pub fn with_digest(repository: Repository, digest: Digest) -> Self {
        Self {
            repository,
            tag: None,
            digest: Some(digest),
        }
    }

    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    pub fn registry(&self) -> &str {
        self.repository.registry()
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to put after `/manifests/`: the digest when there is one (it pins the
    /// content), else the tag, else `latest`.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_string(),
        }
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    /// Parses a fully qualified reference (no default registry).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse_with_default(text, None)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn relabel(error: ReferenceError, text: &str) -> ReferenceError {
    match error {
        ReferenceError::Registry { registry, .. } => ReferenceError::Registry {
            text: text.to_string(),
            registry,
        },
        ReferenceError::Name { name, .. } => ReferenceError::Name {
            text: text.to_string(),
            name,
        },
        ReferenceError::TooLong(_) => ReferenceError::TooLong(text.to_string()),
        other => other,
    }
}

/// Docker's rule: the first component is a registry when it holds a `.` or a `:`, is
/// `localhost`, or has an uppercase letter (repository names cannot).
fn is_registry_component(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

/// `host[:port]`, host a domain name, an IPv4 address or a bracketed IPv6 address.
fn is_valid_registry(registry: &str) -> bool {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        if inside.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match registry.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if host.is_empty() {
        // Only a bracketed IPv6 host leaves `host` empty here.
        return registry.starts_with('[');
    }
    host.split('.').all(|label| {
        let bytes = label.as_bytes();
        !bytes.is_empty()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-'
    })
}

/// path-component ('/' path-component)*, path-component = [a-z0-9]+ (separator [a-z0-9]+)*,
/// separator = `.` | `_` | `__` | `-`+.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.split('/').all(is_valid_path_component)
}

fn is_valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        // One run of [a-z0-9]+.
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        // One separator.
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[sep_start..i];
        let valid = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !valid {
            return false;
        }
    }
}

/// [\w][\w.-]{0,127}
fn is_valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_TAG_LENGTH
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

impl crate::hint::Hint for ReferenceError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Digest { source, .. } => source.hints(),
            Self::Empty
            | Self::NoRegistry(..)
            | Self::Registry { .. }
            | Self::Name { .. }
            | Self::Tag { .. }
            | Self::TooLong(..) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn parse(text: &str, default: Option<&str>) -> Result<Reference, ReferenceError> {
        Reference::parse_with_default(text, default)
    }

    #[test]
    fn fully_qualified_forms() {
        let r = parse("127.0.0.1:5000/team/app:1.2", None).expect("valid");
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository().name(), "team/app");
        assert_eq!(r.tag(), Some("1.2"));
        assert_eq!(r.manifest_reference(), "1.2");

        let r = parse(&format!("localhost/app@{DIGEST}"), None).expect("valid");
        assert_eq!(r.registry(), "localhost");
        assert_eq!(r.manifest_reference(), DIGEST);

        let r = parse(&format!("localhost:5000/a/b/c:t@{DIGEST}"), None).expect("valid");
        assert_eq!(r.tag(), Some("t"));
        assert_eq!(r.digest().map(ToString::to_string).as_deref(), Some(DIGEST));
        assert_eq!(r.to_string(), format!("localhost:5000/a/b/c:t@{DIGEST}"));

        let r = parse("[::1]:5000/app", None).expect("valid");
        assert_eq!(r.registry(), "[::1]:5000");
        assert_eq!(r.manifest_reference(), "latest");

        let r = parse("127.0.0.1/x_y__z.w-v--u", None).expect("valid");
        assert_eq!(r.repository().name(), "x_y__z.w-v--u");
    }

    #[test]
    fn short_names_need_a_default() {
        let error = parse("alpine", None).expect_err("no default");
        assert!(matches!(error, ReferenceError::NoRegistry(_)));
        assert!(error.to_string().contains("registry.default"));
        assert!(matches!(
            parse("team/app:1", None),
            Err(ReferenceError::NoRegistry(_))
        ));

        let r = parse("alpine:3", Some("127.0.0.1")).expect("valid");
        assert_eq!(r.to_string(), "127.0.0.1/library/alpine:3");
        let r = parse("team/app", Some("localhost:5000")).expect("valid");
        assert_eq!(r.to_string(), "localhost:5000/team/app");
        // A port-looking tag on a short name is a tag.
        let r = parse("app:5000", Some("127.0.0.1")).expect("valid");
        assert_eq!(r.tag(), Some("5000"));
    }

    #[test]
    fn rejects_invalid_references() {
        assert!(matches!(parse("", None), Err(ReferenceError::Empty)));
        assert!(matches!(
            parse("localhost/App", None),
            Err(ReferenceError::Name { .. })
        ));
        assert!(matches!(
            parse("localhost/a//b", None),
            Err(ReferenceError::Name { .. })
        ));
        assert!(matches!(
            parse("localhost/a..b", None),
            Err(ReferenceError::Name { .. })
        ));
        assert!(matches!(
            parse("localhost/a-", None),
            Err(ReferenceError::Name { .. })
        ));
        assert!(matches!(
            parse("localhost/a:.bad", None),
            Err(ReferenceError::Tag { .. })
        ));
        assert!(matches!(
            parse(&format!("localhost/a:{}", "t".repeat(129)), None),
            Err(ReferenceError::Tag { .. })
        ));
        assert!(matches!(
            parse("localhost/a@sha256:00", None),
            Err(ReferenceError::Digest { .. })
        ));
        assert!(matches!(
            parse("127.0.0.-1/a", None),
            Err(ReferenceError::Registry { .. })
        ));
        assert!(matches!(
            parse("host:port/a", None),
            Err(ReferenceError::Registry { .. })
        ));
        assert!(matches!(
            parse(&format!("localhost/{}", "a".repeat(260)), None),
            Err(ReferenceError::TooLong(_))
        ));
    }
}
