//! apt sources as the base image declares them: one-line `sources.list` files and
//! deb822 `.sources` files, reduced to the binary (`deb`) repositories that apply to
//! amd64. Pure: it reads text and names keyrings, it never fetches or reads them.

use super::control::{ControlError, Paragraph, paragraphs};

/// Why an apt sources file was refused. Line numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourcesError {
    #[error("Line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("Malformed deb822 sources file")]
    Control(#[from] ControlError),
}

/// A key named by `signed-by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyRef {
    /// A keyring file, as written (usually absolute, inside the image).
    Path(String),
    /// A key fingerprint (hex, optionally ending in `!` for an exact subkey).
    Fingerprint(String),
}

/// How a source's `InRelease` must be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignedBy {
    Keys(Vec<KeyRef>),
    /// An ASCII-armored public key block written inline in a `.sources` file.
    Inline(String),
}

/// One binary repository: a URI and suite with its components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AptSource {
    pub uri: String,
    /// The suite or codename, or a flat-repository path ending in `/`.
    pub suite: String,
    /// Empty for a flat repository.
    pub components: Vec<String>,
    pub signed_by: Option<SignedBy>,
    /// `trusted=yes`: the user accepts an unsigned or unverifiable repository.
    pub trusted: bool,
}

const ARCH: &str = "amd64";

/// Parses one-line `sources.list` text. `deb-src` lines and `deb` lines whose
/// `arch=` excludes amd64 are left out.
pub(crate) fn parse_sources_list(text: &str) -> Result<Vec<AptSource>, SourcesError> {
    let mut out = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let err = |reason: String| SourcesError::Line { line, reason };
        let content = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
        if content.is_empty() {
            continue;
        }
        let (kind, rest) = content
            .split_once(char::is_whitespace)
            .unwrap_or((content, ""));
        match kind {
            "deb" => {}
            "deb-src" => continue,
            other => {
                return Err(err(format!(
                    "unknown source type `{other}`; expected `deb` or `deb-src`"
                )));
            }
        }
        let mut rest = rest.trim_start();
        let mut options = Options::default();
        if let Some(after) = rest.strip_prefix('[') {
            let (opts, tail) = after
                .split_once(']')
                .ok_or_else(|| err("`[` options are not closed with `]`".to_owned()))?;
            for opt in opts.split_whitespace() {
                let (key, value) = opt
                    .split_once('=')
                    .ok_or_else(|| err(format!("option `{opt}` has no `=`")))?;
                // `key+=value` adds, `key-=value` removes; both act on the default
                // here, which is all this file can know.
                if key.ends_with('-') {
                    continue;
                }
                let key = key.strip_suffix('+').unwrap_or(key);
                options.set(key, value).map_err(err)?;
            }
            rest = tail;
        }
        let mut words = rest.split_whitespace();
        let uri = words
            .next()
            .ok_or_else(|| err("the URI is missing".to_owned()))?;
        let suite = words
            .next()
            .ok_or_else(|| err("the suite is missing".to_owned()))?;
        let components: Vec<String> = words.map(str::to_owned).collect();
        check_source(uri, suite, &components).map_err(err)?;
        if !options.applies_to_amd64() {
            continue;
        }
        out.push(AptSource {
            uri: uri.to_owned(),
            suite: suite.to_owned(),
            components,
            signed_by: options.signed_by,
            trusted: options.trusted,
        });
    }
    Ok(out)
}

/// Parses a deb822 `.sources` file. Paragraphs with `Enabled: no`, without the
/// `deb` type, or whose `Architectures` exclude amd64 are left out; every URI and
/// suite pair of a paragraph becomes one source.
pub(crate) fn parse_deb822_sources(text: &str) -> Result<Vec<AptSource>, SourcesError> {
    let mut out = Vec::new();
    for paragraph in paragraphs(text) {
        let p = paragraph?;
        let err = |reason: String| SourcesError::Line {
            line: p.line(),
            reason,
        };
        let words = |name: &str| -> Vec<&str> {
            p.get(name)
                .map_or(Vec::new(), |v| v.split_whitespace().collect())
        };
        if let Some(enabled) = p.get("enabled")
            && !parse_bool(enabled).map_err(|r| err(format!("`Enabled`: {r}")))?
        {
            continue;
        }
        let types = words("types");
        if types.is_empty() {
            return Err(err("the `Types` field is missing".to_owned()));
        }
        if let Some(t) = types.iter().find(|t| !matches!(**t, "deb" | "deb-src")) {
            return Err(err(format!(
                "unknown source type `{t}`; expected `deb` or `deb-src`"
            )));
        }
        if !types.contains(&"deb") {
            continue;
        }
        let arches = words("architectures");
        if !arches.is_empty() && !arches.contains(&ARCH) {
            continue;
        }
        let uris = words("uris");
        if uris.is_empty() {
            return Err(err("the `URIs` field is missing".to_owned()));
        }
        let suites = words("suites");
        if suites.is_empty() {
            return Err(err("the `Suites` field is missing".to_owned()));
        }
        let components: Vec<String> = words("components").into_iter().map(str::to_owned).collect();
        let trusted = match p.get("trusted") {
            Some(v) => parse_bool(v).map_err(|r| err(format!("`Trusted`: {r}")))?,
            None => false,
        };
        let signed_by = deb822_signed_by(&p).map_err(err)?;
        for uri in &uris {
            for suite in &suites {
                check_source(uri, suite, &components).map_err(err)?;
                out.push(AptSource {
                    uri: (*uri).to_owned(),
                    suite: (*suite).to_owned(),
                    components: components.clone(),
                    signed_by: signed_by.clone(),
                    trusted,
                });
            }
        }
    }
    Ok(out)
}

#[derive(Default)]
struct Options {
    arches: Option<Vec<String>>,
    signed_by: Option<SignedBy>,
    trusted: bool,
}

impl Options {
    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "arch" => {
                self.arches = Some(value.split(',').map(str::to_owned).collect());
            }
            "signed-by" => self.signed_by = Some(SignedBy::Keys(key_refs(value)?)),
            "trusted" => {
                self.trusted = parse_bool(value).map_err(|r| format!("`trusted`: {r}"))?;
            }
            // lang, target, pdiffs, by-hash, check-valid-until, ... do not change
            // which files are trusted or fetched for a lock.
            _ => {}
        }
        Ok(())
    }

    fn applies_to_amd64(&self) -> bool {
        self.arches
            .as_ref()
            .is_none_or(|a| a.iter().any(|x| x == ARCH))
    }
}

fn deb822_signed_by(p: &Paragraph<'_>) -> Result<Option<SignedBy>, String> {
    let Some(field) = p.field("signed-by") else {
        return Ok(None);
    };
    let value = field.value();
    if value
        .trim_start()
        .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    {
        let first = value.lines().next().unwrap_or("").trim();
        let mut key = String::new();
        if !first.is_empty() {
            key.push_str(first);
            key.push('\n');
        }
        for l in field.continuation_lines() {
            key.push_str(l);
            key.push('\n');
        }
        if !key.contains("-----END PGP PUBLIC KEY BLOCK-----") {
            return Err("the inline `Signed-By` key block has no END line".to_owned());
        }
        return Ok(Some(SignedBy::Inline(key)));
    }
    Ok(Some(SignedBy::Keys(key_refs(value)?)))
}

fn key_refs(value: &str) -> Result<Vec<KeyRef>, String> {
    let refs: Vec<KeyRef> = value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| {
            let hex = s.strip_suffix('!').unwrap_or(s);
            if !s.contains('/') && hex.len() >= 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                KeyRef::Fingerprint(s.to_owned())
            } else {
                KeyRef::Path(s.to_owned())
            }
        })
        .collect();
    if refs.is_empty() {
        return Err("`signed-by` is empty".to_owned());
    }
    Ok(refs)
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "on" | "enable" => Ok(true),
        "no" | "false" | "0" | "off" | "disable" => Ok(false),
        other => Err(format!("`{other}` is not `yes` or `no`")),
    }
}

fn check_source(uri: &str, suite: &str, components: &[String]) -> Result<(), String> {
    if !uri.contains(':') {
        return Err(format!("`{uri}` is not a URI"));
    }
    if suite.ends_with('/') {
        if !components.is_empty() {
            return Err(format!(
                "suite `{suite}` is a flat repository path (ends in `/`), which takes no components"
            ));
        }
    } else if components.is_empty() {
        return Err(format!("suite `{suite}` needs at least one component"));
    }
    Ok(())
}

impl crate::hint::Hint for SourcesError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Control(error) => error.hints(),
            Self::Line { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(uri: &str, suite: &str, comps: &[&str]) -> AptSource {
        AptSource {
            uri: uri.into(),
            suite: suite.into(),
            components: comps.iter().map(|s| (*s).to_owned()).collect(),
            signed_by: None,
            trusted: false,
        }
    }

    #[test]
    fn one_line_format() {
        let text = "# comment\n\ndeb http://127.0.0.1:8080/debian bookworm main contrib\r\ndeb-src http://127.0.0.1:8080/debian bookworm main\n deb http://127.0.0.1:8080/debian-security bookworm-security main # trailing\n";
        let got = parse_sources_list(text).unwrap();
        assert_eq!(
            got,
            [
                src(
                    "http://127.0.0.1:8080/debian",
                    "bookworm",
                    &["main", "contrib"]
                ),
                src(
                    "http://127.0.0.1:8080/debian-security",
                    "bookworm-security",
                    &["main"]
                ),
            ]
        );
    }

    #[test]
    fn one_line_options() {
        let text = "deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/test.gpg] http://127.0.0.1/a stable main\n\
                    deb [ trusted=yes ] http://127.0.0.1/b ./\n\
                    deb [arch=i386] http://127.0.0.1/c stable main\n\
                    deb [signed-by=0123456789ABCDEF0123456789ABCDEF01234567,/etc/apt/k.asc lang=none] http://127.0.0.1/d stable main\n\
                    deb [arch+=amd64 arch-=i386] http://127.0.0.1/e stable main\n";
        let got = parse_sources_list(text).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(
            got[0].signed_by,
            Some(SignedBy::Keys(vec![KeyRef::Path(
                "/usr/share/keyrings/test.gpg".into()
            )]))
        );
        assert!(!got[0].trusted);
        assert_eq!(
            got[1],
            AptSource {
                trusted: true,
                ..src("http://127.0.0.1/b", "./", &[])
            }
        );
        assert_eq!(got[2].uri, "http://127.0.0.1/d");
        assert_eq!(
            got[2].signed_by,
            Some(SignedBy::Keys(vec![
                KeyRef::Fingerprint("0123456789ABCDEF0123456789ABCDEF01234567".into()),
                KeyRef::Path("/etc/apt/k.asc".into()),
            ]))
        );
        assert_eq!(got[3].uri, "http://127.0.0.1/e");
    }

    #[test]
    fn one_line_errors() {
        let reason = |t: &str| match parse_sources_list(t) {
            Err(SourcesError::Line { line, reason }) => (line, reason),
            other => panic!("{t}: {other:?}"),
        };
        assert_eq!(reason("\nrpm http://127.0.0.1/ x main").0, 2);
        assert!(
            reason("deb [arch=amd64 http://127.0.0.1/ x main")
                .1
                .contains("not closed")
        );
        assert!(
            reason("deb [trusted] http://127.0.0.1/ x main")
                .1
                .contains("no `=`")
        );
        assert!(
            reason("deb [trusted=maybe] http://127.0.0.1/ x main")
                .1
                .contains("`maybe`")
        );
        assert!(reason("deb").1.contains("URI is missing"));
        assert!(
            reason("deb http://127.0.0.1/")
                .1
                .contains("suite is missing")
        );
        assert!(
            reason("deb http://127.0.0.1/ stable")
                .1
                .contains("at least one component")
        );
        assert!(reason("deb http://127.0.0.1/ ./ main").1.contains("flat"));
        assert!(reason("deb nonsense stable main").1.contains("not a URI"));
        assert!(
            reason("deb [signed-by=] http://127.0.0.1/ x main")
                .1
                .contains("empty")
        );
    }

    const KEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZRandomBase64Data\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n";

    #[test]
    fn deb822_format() {
        let text = "# managed by hand\nTypes: deb deb-src\nURIs: http://127.0.0.1:8080/debian http://127.0.0.1:8081/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/test-archive-keyring.gpg\n\n\
Types: deb-src\nURIs: http://127.0.0.1/src\nSuites: bookworm\nComponents: main\n\n\
Types: deb\nURIs: http://127.0.0.1/off\nSuites: bookworm\nComponents: main\nEnabled: no\n\n\
Types: deb\nURIs: http://127.0.0.1/arm\nSuites: bookworm\nComponents: main\nArchitectures: arm64\n\n\
Types: deb\nURIs: http://127.0.0.1/flat\nSuites: ./\nTrusted: yes\n\n\
Types: deb\nURIs: http://127.0.0.1/inline\nSuites: stable\nComponents: main non-free-firmware\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mDMEZRandomBase64Data\n =abcd\n -----END PGP PUBLIC KEY BLOCK-----\n\n\
Types: deb\nURIs: http://127.0.0.1/inline2\nSuites: stable\nComponents: main\nsigned-by: -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mDMEZRandomBase64Data\n =abcd\n -----END PGP PUBLIC KEY BLOCK-----\n";
        let got = parse_deb822_sources(text).unwrap();
        let pairs: Vec<(&str, &str)> = got
            .iter()
            .map(|s| (s.uri.as_str(), s.suite.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("http://127.0.0.1:8080/debian", "bookworm"),
                ("http://127.0.0.1:8080/debian", "bookworm-updates"),
                ("http://127.0.0.1:8081/debian", "bookworm"),
                ("http://127.0.0.1:8081/debian", "bookworm-updates"),
                ("http://127.0.0.1/flat", "./"),
                ("http://127.0.0.1/inline", "stable"),
                ("http://127.0.0.1/inline2", "stable"),
            ]
        );
        assert_eq!(
            got[0].signed_by,
            Some(SignedBy::Keys(vec![KeyRef::Path(
                "/usr/share/keyrings/test-archive-keyring.gpg".into()
            )]))
        );
        assert_eq!(got[0].components, ["main"]);
        assert!(got[4].trusted && got[4].components.is_empty() && got[4].signed_by.is_none());
        assert_eq!(got[5].components, ["main", "non-free-firmware"]);
        assert_eq!(got[5].signed_by, Some(SignedBy::Inline(KEY.into())));
        assert_eq!(got[6].signed_by, Some(SignedBy::Inline(KEY.into())));
    }

    #[test]
    fn deb822_errors() {
        let reason = |t: &str| match parse_deb822_sources(t) {
            Err(SourcesError::Line { line, reason }) => (line, reason),
            other => panic!("{t}: {other:?}"),
        };
        assert!(
            reason("URIs: http://127.0.0.1/\nSuites: x\nComponents: main\n")
                .1
                .contains("`Types`")
        );
        assert!(
            reason("Types: deb\nSuites: x\nComponents: main\n")
                .1
                .contains("`URIs`")
        );
        assert!(
            reason("Types: deb\nURIs: http://127.0.0.1/\nComponents: main\n")
                .1
                .contains("`Suites`")
        );
        assert!(
            reason("Types: rpm\nURIs: http://127.0.0.1/\nSuites: x\nComponents: main\n")
                .1
                .contains("`rpm`")
        );
        assert!(
            reason("Types: deb\nURIs: http://127.0.0.1/\nSuites: x\n")
                .1
                .contains("component")
        );
        let (line, r) = reason(
            "Types: deb\nURIs: http://127.0.0.1/\nSuites: x\nComponents: main\n\n\nTypes: deb\nURIs: http://127.0.0.1/\nSuites: x\nComponents: main\nEnabled: perhaps\n",
        );
        assert_eq!(line, 7);
        assert!(r.contains("`Enabled`"));
        assert!(reason("Types: deb\nURIs: http://127.0.0.1/\nSuites: x\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n abc\n").1.contains("END"));
        assert!(matches!(
            parse_deb822_sources("Types deb\n"),
            Err(SourcesError::Control(_))
        ));
        assert_eq!(
            parse_deb822_sources("# all commented\n#Types: deb\n").unwrap(),
            []
        );
    }
}
