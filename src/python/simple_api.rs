//! The simple repository API's project pages, parsed: the JSON form (PEP 691, with
//! PEP 658/714 core metadata, PEP 700 upload times and sizes) and the HTML form
//! (PEP 503 anchors with PEP 592/629/658/714 data attributes). Pure parsing: the
//! HTTP client hands in the body, its content type and the URL it came from.
//!
//! File URLs are resolved against the page URL and keep the page's credentials, so
//! they are [`IndexUrl`]s: usable, never shown.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use pep440_rs::VersionSpecifiers;
use serde::Deserialize;
use url::Url;

use super::index_url::{IndexUrl, IndexUrlError};

/// The content type of the JSON form, version 1.
pub(super) const JSON_CONTENT_TYPE: &str = "application/vnd.pypi.simple.v1+json";
/// The content type of the HTML form, version 1.
pub(super) const HTML_CONTENT_TYPE: &str = "application/vnd.pypi.simple.v1+html";
/// What a client should send as `Accept`: JSON preferred, HTML as fallback.
pub(super) const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, \
     application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// Why a project page could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SimpleApiError {
    /// The JSON form is malformed.
    #[error("Invalid simple API JSON response")]
    Json(#[from] serde_json::Error),
    /// The body of an HTML page is not UTF-8.
    #[error("Simple API HTML page is not UTF-8")]
    Utf8(#[from] std::str::Utf8Error),
    /// A content type this client does not speak.
    #[error("Unsupported simple API content type `{0}`")]
    ContentType(String),
    /// An API major version other than 1.
    #[error("Unsupported simple API version `{0}`: only version 1 is understood")]
    ApiVersion(String),
    /// A file URL that does not resolve.
    #[error("File `{filename}` has an invalid URL")]
    Url {
        /// The file.
        filename: String,
        /// The cause.
        #[source]
        source: url::ParseError,
    },
    /// A file URL with a scheme other than http(s) or file.
    #[error("File `{filename}` has an unsupported URL")]
    UrlScheme {
        /// The file.
        filename: String,
        /// The cause.
        #[source]
        source: IndexUrlError,
    },
    /// A remote page pointing at a local file.
    #[error("File `{0}` has a `file:` URL on a page that is not local")]
    LocalFileFromRemote(String),
    /// A filename that could be used to escape a directory.
    #[error("Invalid file name `{0}` in simple API response")]
    Filename(String),
    /// A timestamp that is neither a date nor RFC 3339 UTC.
    #[error("Invalid timestamp `{0}`: expected `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`")]
    Timestamp(String),
    /// A PEP 700 upload time that is not RFC 3339 UTC.
    #[error("File `{filename}` has an invalid upload time `{value}`")]
    UploadTime {
        /// The file.
        filename: String,
        /// The value.
        value: String,
    },
}

/// A point in time in UTC, as PEP 700 upload times and `--exclude-newer` give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Timestamp {
    /// Seconds since the Unix epoch.
    pub seconds: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

impl FromStr for Timestamp {
    type Err = SimpleApiError;

    /// `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_timestamp(s).ok_or_else(|| SimpleApiError::Timestamp(s.to_string()))
    }
}

fn parse_timestamp(s: &str) -> Option<Timestamp> {
    {
        let num = |t: &str| -> Option<i64> {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            t.parse().ok()
        };
        let (date, time) = match s.split_once(['T', 't', ' ']) {
            Some((d, t)) => (d, Some(t)),
            None => (s, None),
        };
        let mut d = date.split('-');
        let (Some(y), Some(mo), Some(da), None) = (d.next(), d.next(), d.next(), d.next()) else {
            return None;
        };
        let (y, mo, da) = (num(y)?, num(mo)?, num(da)?);
        if !(1..=12).contains(&mo) || da < 1 || da > days_in_month(y, mo) {
            return None;
        }
        let mut seconds = days_from_civil(y, mo, da) * 86_400;
        let mut nanos = 0;
        if let Some(t) = time {
            let t = t
                .strip_suffix(['Z', 'z'])
                .or_else(|| t.strip_suffix("+00:00"))?;
            let (hms, frac) = match t.split_once('.') {
                Some((a, b)) => (a, Some(b)),
                None => (t, None),
            };
            let mut p = hms.split(':');
            let (Some(h), Some(mi), Some(se), None) = (p.next(), p.next(), p.next(), p.next())
            else {
                return None;
            };
            let (h, mi, se) = (num(h)?, num(mi)?, num(se)?);
            if h > 23 || mi > 59 || se > 60 {
                return None;
            }
            seconds += h * 3600 + mi * 60 + se;
            if let Some(f) = frac {
                num(f)?;
                let digits: String = f.chars().chain(std::iter::repeat('0')).take(9).collect();
                nanos = digits.parse().ok()?;
            }
        }
        Some(Timestamp { seconds, nanos })
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Whether, and why, a file was yanked (PEP 592).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Yanked {
    /// Not yanked.
    #[default]
    No,
    /// Yanked, with the reason if the index gave one.
    Yes(Option<String>),
}

impl Yanked {
    /// Whether the file was yanked.
    pub(crate) fn is_yanked(&self) -> bool {
        matches!(self, Self::Yes(_))
    }
}

/// Whether the core metadata is served on its own at `{url}.metadata` (PEP 658/714).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum MetadataAvailability {
    /// Not served separately: read it from the wheel.
    #[default]
    Absent,
    /// Served, with hashes of the metadata file when given (algorithm → hex).
    Available(BTreeMap<String, String>),
}

/// One file on a project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DistFile {
    /// The file name (a wheel or sdist name; never a path).
    pub filename: String,
    /// Absolute URL, fragment removed; may carry the page's credentials.
    pub url: IndexUrl,
    /// Hashes of the file, algorithm (lowercase) → lowercase hex.
    pub hashes: BTreeMap<String, String>,
    /// The `Requires-Python` the index reports, as given.
    pub requires_python: Option<String>,
    /// PEP 592.
    pub yanked: Yanked,
    /// PEP 658/714.
    pub core_metadata: MetadataAvailability,
    /// PEP 700 upload time.
    pub upload_time: Option<Timestamp>,
    /// PEP 700 size in bytes.
    pub size: Option<u64>,
}

impl DistFile {
    /// The SHA-256 the index reports, if any.
    pub(crate) fn sha256(&self) -> Option<&str> {
        self.hashes.get("sha256").map(String::as_str)
    }

    /// `requires_python` parsed; `None` when absent or not valid PEP 440 (pip
    /// ignores invalid values, and so may the resolver).
    pub(crate) fn requires_python_specifiers(&self) -> Option<VersionSpecifiers> {
        self.requires_python
            .as_deref()
            .and_then(|s| VersionSpecifiers::from_str(s).ok())
    }

    /// Where the separate core metadata lives, if the index serves it.
    pub(crate) fn metadata_url(&self) -> Option<Url> {
        match self.core_metadata {
            MetadataAvailability::Absent => None,
            MetadataAvailability::Available(_) => {
                let mut url = self.url.url().clone();
                let path = format!("{}.metadata", url.path());
                url.set_path(&path);
                Some(url)
            }
        }
    }
}

/// A parsed project page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ProjectPage {
    /// The normalised project name (JSON form only).
    pub name: Option<String>,
    /// The files, in page order.
    pub files: Vec<DistFile>,
    /// PEP 700 versions list (JSON form, API 1.1+), empty otherwise.
    pub versions: Vec<String>,
}

impl fmt::Display for DistFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.filename, self.url)
    }
}

/// Parses a project page by its `Content-Type` (parameters such as `charset` are
/// ignored). `page_url` is the URL the page was fetched from, after redirects.
pub(super) fn parse_project_page(
    content_type: &str,
    body: &[u8],
    page_url: &Url,
) -> Result<ProjectPage, SimpleApiError> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        JSON_CONTENT_TYPE | "application/vnd.pypi.simple.latest+json" => parse_json(body, page_url),
        HTML_CONTENT_TYPE | "application/vnd.pypi.simple.latest+html" | "text/html" => {
            parse_html(std::str::from_utf8(body)?, page_url)
        }
        _ => Err(SimpleApiError::ContentType(media)),
    }
}

#[derive(Deserialize)]
struct JsonPage {
    meta: Option<JsonMeta>,
    name: Option<String>,
    #[serde(default)]
    files: Vec<JsonFile>,
    #[serde(default)]
    versions: Vec<String>,
}

#[derive(Deserialize)]
struct JsonMeta {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
}

#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
    #[serde(rename = "requires-python")]
    requires_python: Option<String>,
    yanked: Option<serde_json::Value>,
    #[serde(rename = "core-metadata")]
    core_metadata: Option<serde_json::Value>,
    #[serde(rename = "dist-info-metadata")]
    dist_info_metadata: Option<serde_json::Value>,
    #[serde(rename = "upload-time")]
    upload_time: Option<String>,
    size: Option<u64>,
}

/// Parses the JSON form (PEP 691).
pub(super) fn parse_json(body: &[u8], page_url: &Url) -> Result<ProjectPage, SimpleApiError> {
    let page: JsonPage = serde_json::from_slice(body)?;
    if let Some(v) = page.meta.and_then(|m| m.api_version) {
        check_api_version(&v)?;
    }
    let mut files = Vec::with_capacity(page.files.len());
    for f in page.files {
        let yanked = match f.yanked {
            Some(serde_json::Value::Bool(true)) => Yanked::Yes(None),
            Some(serde_json::Value::String(reason)) => Yanked::Yes(Some(reason)),
            _ => Yanked::No,
        };
        // PEP 714: `core-metadata` is the name; `dist-info-metadata` the old one.
        let core_metadata = match f.core_metadata.or(f.dist_info_metadata) {
            Some(serde_json::Value::Bool(true)) => MetadataAvailability::Available(BTreeMap::new()),
            Some(serde_json::Value::Object(map)) => MetadataAvailability::Available(
                map.into_iter()
                    .filter_map(|(k, v)| {
                        v.as_str()
                            .map(|v| (k.to_ascii_lowercase(), v.to_ascii_lowercase()))
                    })
                    .collect(),
            ),
            _ => MetadataAvailability::Absent,
        };
        let upload_time = match f.upload_time {
            None => None,
            Some(value) => Some(value.parse().map_err(|_| SimpleApiError::UploadTime {
                filename: f.filename.clone(),
                value,
            })?),
        };
        let hashes = f
            .hashes
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_ascii_lowercase()))
            .collect();
        files.push(make_file(
            f.filename,
            &f.url,
            page_url,
            hashes,
            f.requires_python,
            yanked,
            core_metadata,
            upload_time,
            f.size,
        )?);
    }
    Ok(ProjectPage {
        name: page.name,
        files,
        versions: page.versions,
    })
}

fn check_api_version(v: &str) -> Result<(), SimpleApiError> {
    match v.trim().split('.').next() {
        Some("1") => Ok(()),
        _ => Err(SimpleApiError::ApiVersion(v.to_string())),
    }
}

/// Resolves the URL, moves a `#algo=hex` fragment into the hashes (unless the
/// index already gave that algorithm), and checks the filename.
#[allow(clippy::too_many_arguments)]
fn make_file(
    filename: String,
    href: &str,
    base: &Url,
    mut hashes: BTreeMap<String, String>,
    requires_python: Option<String>,
    yanked: Yanked,
    core_metadata: MetadataAvailability,
    upload_time: Option<Timestamp>,
    size: Option<u64>,
) -> Result<DistFile, SimpleApiError> {
    let mut url = base.join(href).map_err(|source| SimpleApiError::Url {
        filename: filename.clone(),
        source,
    })?;
    if let Some(fragment) = url.fragment() {
        if let Some((algo, hex)) = fragment.split_once('=') {
            let (algo, hex) = (algo.to_ascii_lowercase(), hex.to_ascii_lowercase());
            let known = matches!(
                algo.as_str(),
                "md5" | "sha1" | "sha224" | "sha256" | "sha384" | "sha512"
            );
            if known && !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                hashes.entry(algo).or_insert(hex);
            }
        }
        url.set_fragment(None);
    }
    let filename = if filename.trim().is_empty() {
        url.path_segments()
            .and_then(|mut s| s.next_back())
            .map(percent_decode)
            .unwrap_or_default()
    } else {
        filename.trim().to_string()
    };
    if filename.is_empty()
        || filename.contains(['/', '\\', '\0'])
        || filename == "."
        || filename == ".."
    {
        return Err(SimpleApiError::Filename(filename));
    }
    if url.scheme() == "file" && base.scheme() != "file" {
        return Err(SimpleApiError::LocalFileFromRemote(filename));
    }
    let url = IndexUrl::from_url(url).map_err(|source| SimpleApiError::UrlScheme {
        filename: filename.clone(),
        source,
    })?;
    Ok(DistFile {
        filename,
        url,
        hashes,
        requires_python,
        yanked,
        core_metadata,
        upload_time,
        size,
    })
}

/// Parses the HTML form (PEP 503): every `<a href>` is a file, honouring
/// `<base href>` and the `pypi:repository-version` meta tag.
pub(super) fn parse_html(body: &str, page_url: &Url) -> Result<ProjectPage, SimpleApiError> {
    let mut base = page_url.clone();
    let mut files = Vec::new();
    let lower = body.to_ascii_lowercase();
    let mut pos = 0;
    while let Some(off) = lower[pos..].find('<') {
        let start = pos + off;
        if lower[start..].starts_with("<!--") {
            pos = match lower[start + 4..].find("-->") {
                Some(e) => start + 4 + e + 3,
                None => body.len(),
            };
            continue;
        }
        let Some((name, attrs, end)) = parse_tag(body, start) else {
            pos = start + 1;
            continue;
        };
        pos = end;
        match name.as_str() {
            "base" => {
                if let Some(u) = attr(&attrs, "href").and_then(|h| page_url.join(&h).ok()) {
                    base = u;
                }
            }
            "meta" if attr(&attrs, "name").as_deref() == Some("pypi:repository-version") => {
                if let Some(v) = attr(&attrs, "content") {
                    check_api_version(&v)?;
                }
            }
            "a" => {
                let Some(href) = attr(&attrs, "href") else {
                    continue;
                };
                let text_end = lower[end..].find("</a").map_or(body.len(), |e| end + e);
                let text = decode_entities(strip_tags(&body[end..text_end]).trim());
                pos = text_end;
                let yanked = match attr(&attrs, "data-yanked") {
                    None => Yanked::No,
                    Some(r) if r.is_empty() => Yanked::Yes(None),
                    Some(r) => Yanked::Yes(Some(r)),
                };
                let meta = attr(&attrs, "data-core-metadata")
                    .or_else(|| attr(&attrs, "data-dist-info-metadata"));
                let core_metadata = match meta.as_deref() {
                    None | Some("false") => MetadataAvailability::Absent,
                    Some(v) => MetadataAvailability::Available(
                        v.split_once('=')
                            .map(|(a, h)| (a.to_ascii_lowercase(), h.to_ascii_lowercase()))
                            .into_iter()
                            .collect(),
                    ),
                };
                let requires_python =
                    attr(&attrs, "data-requires-python").filter(|s| !s.is_empty());
                files.push(make_file(
                    text,
                    &href,
                    &base,
                    BTreeMap::new(),
                    requires_python,
                    yanked,
                    core_metadata,
                    None,
                    None,
                )?);
            }
            _ => {}
        }
    }
    Ok(ProjectPage {
        name: None,
        files,
        versions: Vec::new(),
    })
}

/// A tag's attributes: lowercase name, decoded value (`None` for a bare one).
type Attrs = Vec<(String, Option<String>)>;

/// Parses a start tag at `start` (`<name attr=...>`): lowercase name, attributes
/// (names lowercased, values entity-decoded), and the index just past `>`.
fn parse_tag(body: &str, start: usize) -> Option<(String, Attrs, usize)> {
    let bytes = body.as_bytes();
    let mut i = start + 1;
    let name_start = i;
    while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
        i += 1;
    }
    if i == name_start {
        return None;
    }
    let name = body[name_start..i].to_ascii_lowercase();
    let mut attrs = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            return Some((name, attrs, bytes.len()));
        }
        if bytes[i] == b'>' {
            return Some((name, attrs, i + 1));
        }
        let an_start = i;
        while i < bytes.len()
            && !bytes[i].is_ascii_whitespace()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
        {
            i += 1;
        }
        let attr_name = body[an_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let value = if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let q = bytes[i];
                let vs = i + 1;
                let ve = body[vs..].find(q as char).map_or(bytes.len(), |e| vs + e);
                i = (ve + 1).min(bytes.len());
                &body[vs..ve]
            } else {
                let vs = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                &body[vs..i]
            };
            attrs.push((attr_name, Some(decode_entities(value))));
        } else if !attr_name.is_empty() {
            attrs.push((attr_name, None));
        } else {
            i += 1;
        }
    }
}

/// An attribute's value; a bare attribute (`data-yanked`) has the empty value.
fn attr(attrs: &[(String, Option<String>)], name: &str) -> Option<String> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone().unwrap_or_default())
}

/// Drops any markup inside anchor text.
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Decodes the entities that appear in index pages: `&amp;` and friends and
/// numeric references. Unknown entities are kept as written.
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let decoded = rest[1..].find(';').filter(|&e| e <= 10).and_then(|e| {
            let entity = &rest[1..1 + e];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    let n = if let Some(h) = entity
                        .strip_prefix("#x")
                        .or_else(|| entity.strip_prefix("#X"))
                    {
                        u32::from_str_radix(h, 16).ok()
                    } else if let Some(d) = entity.strip_prefix('#') {
                        d.parse().ok()
                    } else {
                        None
                    };
                    n.and_then(char::from_u32)
                }
            };
            c.map(|c| (c, e + 2))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Percent-decodes a URL path segment (for a filename taken from a URL).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl crate::hint::Hint for SimpleApiError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::UrlScheme { source, .. } => source.hints(),
            Self::Json(..)
            | Self::Utf8(..)
            | Self::ContentType(..)
            | Self::ApiVersion(..)
            | Self::Url { .. }
            | Self::LocalFileFromRemote(..)
            | Self::Filename(..)
            | Self::Timestamp(..)
            | Self::UploadTime { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

    fn page_url() -> Url {
        Url::parse("http://127.0.0.1:8000/simple/demo/").unwrap()
    }

    #[test]
    fn parses_json_with_every_field() {
        let body = format!(
            r#"{{
              "meta": {{"api-version": "1.1"}},
              "name": "demo",
              "versions": ["1.0", "1.1"],
              "files": [
                {{"filename": "demo-1.0-py3-none-any.whl",
                  "url": "../../files/demo-1.0-py3-none-any.whl",
                  "hashes": {{"sha256": "{SHA}"}},
                  "requires-python": ">=3.8",
                  "core-metadata": {{"sha256": "{SHA}"}},
                  "upload-time": "2024-03-01T12:34:56.123456Z",
                  "size": 1234}},
                {{"filename": "demo-1.1-py3-none-any.whl",
                  "url": "http://127.0.0.1:9000/f/demo-1.1-py3-none-any.whl",
                  "hashes": {{}},
                  "yanked": "broken build",
                  "dist-info-metadata": true}},
                {{"filename": "demo-1.1.tar.gz",
                  "url": "demo-1.1.tar.gz#sha256={SHA}",
                  "yanked": true,
                  "core-metadata": false}}
              ]
            }}"#
        );
        let p = parse_project_page(JSON_CONTENT_TYPE, body.as_bytes(), &page_url()).unwrap();
        assert_eq!(p.name.as_deref(), Some("demo"));
        assert_eq!(p.versions, ["1.0", "1.1"]);
        let [a, b, c] = p.files.as_slice() else {
            panic!("three files")
        };
        assert_eq!(
            a.url.url().as_str(),
            "http://127.0.0.1:8000/files/demo-1.0-py3-none-any.whl"
        );
        assert_eq!(a.sha256(), Some(SHA));
        assert_eq!(a.requires_python_specifiers().unwrap().to_string(), ">=3.8");
        assert_eq!(a.size, Some(1234));
        assert_eq!(a.yanked, Yanked::No);
        assert_eq!(
            a.upload_time,
            Some(Timestamp {
                seconds: 1_709_296_496,
                nanos: 123_456_000
            })
        );
        assert_eq!(
            a.metadata_url().unwrap().as_str(),
            "http://127.0.0.1:8000/files/demo-1.0-py3-none-any.whl.metadata"
        );
        assert!(
            matches!(&a.core_metadata, MetadataAvailability::Available(h) if h["sha256"] == SHA)
        );
        assert_eq!(b.yanked, Yanked::Yes(Some("broken build".into())));
        assert_eq!(
            b.core_metadata,
            MetadataAvailability::Available(BTreeMap::new())
        );
        assert_eq!(c.yanked, Yanked::Yes(None));
        assert!(c.yanked.is_yanked());
        assert_eq!(c.core_metadata, MetadataAvailability::Absent);
        assert_eq!(c.sha256(), Some(SHA));
        assert_eq!(c.url.url().fragment(), None);
        assert_eq!(c.metadata_url(), None);
    }

    #[test]
    fn core_metadata_wins_over_the_old_name() {
        let body = br#"{"files":[{"filename":"d-1-py3-none-any.whl","url":"d.whl",
            "core-metadata":{"sha256":"aa"},"dist-info-metadata":{"sha256":"bb"}}]}"#;
        let p = parse_json(body, &page_url()).unwrap();
        assert!(
            matches!(&p.files[0].core_metadata, MetadataAvailability::Available(h) if h["sha256"] == "aa")
        );
    }

    #[test]
    fn rejects_unknown_major_versions_and_content_types() {
        let e =
            parse_json(br#"{"meta":{"api-version":"2.0"},"files":[]}"#, &page_url()).unwrap_err();
        assert!(matches!(e, SimpleApiError::ApiVersion(_)));
        let html =
            r#"<meta name="pypi:repository-version" content="2.0"><a href="x.whl">x.whl</a>"#;
        assert!(matches!(
            parse_html(html, &page_url()),
            Err(SimpleApiError::ApiVersion(_))
        ));
        let e = parse_project_page("application/xml", b"", &page_url()).unwrap_err();
        assert!(matches!(e, SimpleApiError::ContentType(_)));
        assert!(parse_json(b"{not json", &page_url()).is_err());
    }

    #[test]
    fn parses_html_anchors_with_data_attributes() {
        let html = format!(
            r#"<!DOCTYPE html>
            <html><head><meta name="pypi:repository-version" content="1.1"><title>Links</title></head>
            <body>
            <h1>Links for demo</h1>
            <!-- <a href="commented-out.whl">no</a> -->
            <a href="../../files/demo-1.0-py3-none-any.whl#sha256={SHA}" data-requires-python="&gt;=3.8,&lt;4" data-dist-info-metadata="sha256={SHA}">demo-1.0-py3-none-any.whl</a><br/>
            <A HREF='/other/demo-1.1-py3-none-any.whl' data-yanked data-core-metadata="true">demo-1.1-py3-none-any.whl</A>
            <a href="demo%2B-1.2.tar.gz?x=1&amp;y=2" data-yanked="bad &quot;release&quot;" data-core-metadata=false></a>
            </body></html>"#
        );
        let p =
            parse_project_page("text/html; charset=utf-8", html.as_bytes(), &page_url()).unwrap();
        assert_eq!(p.files.len(), 3);
        let a = &p.files[0];
        assert_eq!(a.filename, "demo-1.0-py3-none-any.whl");
        assert_eq!(
            a.url.url().as_str(),
            "http://127.0.0.1:8000/files/demo-1.0-py3-none-any.whl"
        );
        assert_eq!(a.sha256(), Some(SHA));
        assert_eq!(a.requires_python.as_deref(), Some(">=3.8,<4"));
        assert!(
            matches!(&a.core_metadata, MetadataAvailability::Available(h) if h["sha256"] == SHA)
        );
        let b = &p.files[1];
        assert_eq!(
            b.url.url().as_str(),
            "http://127.0.0.1:8000/other/demo-1.1-py3-none-any.whl"
        );
        assert_eq!(b.yanked, Yanked::Yes(None));
        assert_eq!(
            b.core_metadata,
            MetadataAvailability::Available(BTreeMap::new())
        );
        let c = &p.files[2];
        assert_eq!(c.filename, "demo+-1.2.tar.gz");
        assert_eq!(c.url.url().query(), Some("x=1&y=2"));
        assert_eq!(c.yanked, Yanked::Yes(Some("bad \"release\"".into())));
        assert_eq!(c.core_metadata, MetadataAvailability::Absent);
    }

    #[test]
    fn html_honours_base_href() {
        let html = r#"<base href="http://127.0.0.1:9000/mirror/"><a href="p-1-py3-none-any.whl">p-1-py3-none-any.whl</a>"#;
        let p = parse_html(html, &page_url()).unwrap();
        assert_eq!(
            p.files[0].url.url().as_str(),
            "http://127.0.0.1:9000/mirror/p-1-py3-none-any.whl"
        );
    }

    #[test]
    fn relative_urls_keep_page_credentials_but_never_show_them() {
        let page = Url::parse("https://user:s3cr3t@127.0.0.1/simple/demo/").unwrap();
        let p = parse_html(
            r#"<a href="demo-1-py3-none-any.whl">demo-1-py3-none-any.whl</a>"#,
            &page,
        )
        .unwrap();
        let f = &p.files[0];
        assert_eq!(f.url.url().password(), Some("s3cr3t"));
        assert!(!format!("{f} {f:?}").contains("s3cr3t"));
    }

    #[test]
    fn refuses_path_like_filenames() {
        for name in ["../evil.whl", "a/b.whl", ".."] {
            let body = format!(r#"{{"files":[{{"filename":"{name}","url":"x"}}]}}"#);
            let e = parse_json(body.as_bytes(), &page_url()).unwrap_err();
            assert!(matches!(e, SimpleApiError::Filename(_)), "{name}");
        }
        let e = parse_json(
            br#"{"files":[{"filename":"a.whl","url":"ftp://127.0.0.1/a.whl"}]}"#,
            &page_url(),
        )
        .unwrap_err();
        assert!(matches!(e, SimpleApiError::UrlScheme { .. }));
        let local = br#"{"files":[{"filename":"a.whl","url":"file:///etc/passwd"}]}"#;
        let e = parse_json(local, &page_url()).unwrap_err();
        assert!(matches!(e, SimpleApiError::LocalFileFromRemote(_)), "{e}");
        let dir = Url::parse("file:///srv/simple/demo/").unwrap();
        let p = parse_html(
            r#"<a href="a-1-py3-none-any.whl">a-1-py3-none-any.whl</a>"#,
            &dir,
        )
        .unwrap();
        assert_eq!(
            p.files[0].url.url().as_str(),
            "file:///srv/simple/demo/a-1-py3-none-any.whl"
        );
    }

    #[test]
    fn timestamps() {
        let t = |s: &str| s.parse::<Timestamp>();
        assert_eq!(
            t("1970-01-01T00:00:00Z").ok(),
            Some(Timestamp {
                seconds: 0,
                nanos: 0
            })
        );
        assert_eq!(
            t("1970-01-01").ok(),
            Some(Timestamp {
                seconds: 0,
                nanos: 0
            })
        );
        assert!(t("x").unwrap_err().to_string().contains("`x`"));
        assert_eq!(t("2000-03-01T00:00:00+00:00").unwrap().seconds, 951_868_800);
        assert_eq!(
            t("2024-02-29T23:59:59.5Z").unwrap(),
            Timestamp {
                seconds: 1_709_251_199,
                nanos: 500_000_000
            }
        );
        assert!(t("1969-12-31T23:59:59Z").unwrap().seconds == -1);
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-01-01T25:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00+01:00",
            "yesterday",
            "2024-1-1x",
        ] {
            assert!(t(bad).is_err(), "{bad}");
        }
        let e = parse_json(
            br#"{"files":[{"filename":"a.whl","url":"a.whl","upload-time":"soon"}]}"#,
            &page_url(),
        )
        .unwrap_err();
        assert!(matches!(e, SimpleApiError::UploadTime { .. }));
    }

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("a&amp;b&#62;&#x3C;&unknown;&"),
            "a&b><&unknown;&"
        );
        assert_eq!(percent_decode("a%2Bb%zz%2"), "a+b%zz%2");
        assert_eq!(percent_decode("%é%C3%A9"), "%é\u{e9}");
    }
}
