//! Index and find-links URLs that may carry credentials. The credentials are kept for
//! use by the HTTP client but never shown: `Display`, `Debug` and every error render
//! the URL with its user info replaced by `****`.

use std::fmt;
use std::str::FromStr;

use url::Url;

/// What is shown instead of user info.
const MASK: &str = "****";

/// Why an index URL was rejected. Never contains the URL itself.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IndexUrlError {
    /// Not a URL at all.
    #[error("Invalid index URL: {0}")]
    Parse(#[from] url::ParseError),
    /// A scheme other than `http`, `https` or `file`.
    #[error("Unsupported index URL scheme `{0}`: use `https://`, `http://` or `file://`")]
    Scheme(String),
}

/// A URL of a package index (or a find-links page) whose credentials are secret.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct IndexUrl(Url);

impl IndexUrl {
    /// Parses and checks the scheme.
    pub(crate) fn parse(s: &str) -> Result<Self, IndexUrlError> {
        Self::from_url(Url::parse(s.trim())?)
    }

    /// Wraps an already parsed URL, checking the scheme.
    pub(crate) fn from_url(url: Url) -> Result<Self, IndexUrlError> {
        match url.scheme() {
            "http" | "https" | "file" => Ok(Self(url)),
            other => Err(IndexUrlError::Scheme(other.to_string())),
        }
    }

    /// The URL with credentials, for the HTTP client only.
    pub(crate) fn url(&self) -> &Url {
        &self.0
    }

    /// Whether the URL carries a user name or password.
    pub(crate) fn has_credentials(&self) -> bool {
        !self.0.username().is_empty() || self.0.password().is_some()
    }

    /// The URL without any user info: what may be written to a lock or a log.
    pub(crate) fn without_credentials(&self) -> Url {
        let mut url = self.0.clone();
        // Only fails for URLs that cannot have credentials, which have none to remove.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url
    }

    /// The URL as shown to people: user info, if any, replaced by `****`.
    pub(crate) fn redacted(&self) -> String {
        if !self.has_credentials() {
            return self.0.to_string();
        }
        let mut url = self.without_credentials();
        if url.set_username(MASK).is_err() {
            return self.without_credentials().to_string();
        }
        url.to_string()
    }
}

impl FromStr for IndexUrl {
    type Err = IndexUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for IndexUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for IndexUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IndexUrl").field(&self.redacted()).finish()
    }
}

/// The user info (`user[:password]`) of every `scheme://user[:password]@host` in free
/// text, as written.
pub(super) fn user_infos(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let tail = &rest[i + 3..];
        let end = authority_end(tail);
        if let Some(at) = tail[..end].rfind('@') {
            out.push(&tail[..at]);
        }
        rest = &tail[end..];
    }
    out
}

/// The authority ends at the first `/`, `?`, `#` or whitespace.
fn authority_end(tail: &str) -> usize {
    tail.find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
        .unwrap_or(tail.len())
}

/// Masks the user info of every `scheme://user[:pass]@host` in free text, for
/// messages that must quote input which may contain a URL.
pub(super) fn redact_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = authority_end(tail);
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(MASK);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

impl crate::hint::Hint for IndexUrlError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Parse(..) | Self::Scheme(..) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t";

    #[test]
    fn keeps_credentials_for_use_but_never_shows_them() {
        let u = IndexUrl::parse("https://user:s3cr3t@127.0.0.1:8080/simple/").unwrap();
        assert!(u.has_credentials());
        assert_eq!(u.url().password(), Some(SECRET));
        assert_eq!(u.to_string(), "https://****@127.0.0.1:8080/simple/");
        assert!(!format!("{u:?}").contains(SECRET));
        assert!(!format!("{u:?}").contains("user"));
        assert_eq!(
            u.without_credentials().as_str(),
            "https://127.0.0.1:8080/simple/"
        );
    }

    #[test]
    fn token_only_user_is_masked_too() {
        let u = IndexUrl::parse("https://s3cr3t@127.0.0.1/simple").unwrap();
        assert!(!u.to_string().contains(SECRET));
    }

    #[test]
    fn plain_urls_are_shown_as_is() {
        let u = IndexUrl::parse("http://127.0.0.1/simple/").unwrap();
        assert!(!u.has_credentials());
        assert_eq!(u.to_string(), "http://127.0.0.1/simple/");
        assert!(IndexUrl::parse("file:///srv/wheels/").is_ok());
    }

    #[test]
    fn rejects_other_schemes_without_echoing() {
        let e = IndexUrl::parse("ftp://user:s3cr3t@127.0.0.1/").unwrap_err();
        assert_eq!(e, IndexUrlError::Scheme("ftp".into()));
        let e = IndexUrl::parse("not a url s3cr3t").unwrap_err();
        assert!(!e.to_string().contains(SECRET));
    }

    #[test]
    fn redacts_free_text() {
        assert_eq!(
            redact_credentials("pkg @ https://u:s3cr3t@127.0.0.1/p.whl and http://127.0.0.1/x"),
            "pkg @ https://****@127.0.0.1/p.whl and http://127.0.0.1/x"
        );
        assert_eq!(redact_credentials("no url"), "no url");
        assert_eq!(
            redact_credentials("git+https://t@127.0.0.1"),
            "git+https://****@127.0.0.1"
        );
    }
}
