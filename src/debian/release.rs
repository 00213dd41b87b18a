//! The body of an archive's `InRelease` / `Release` file (suite, codename,
//! architectures, components, and the SHA256 list of index files) and the
//! OpenPGP cleartext framework (RFC 4880 §7) around it. Pure: signature
//! verification belongs to the caller, which must verify before trusting a body.

use super::control::{ControlError, paragraphs};

const BEGIN_MESSAGE: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const BEGIN_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----";
const END_SIGNATURE: &str = "-----END PGP SIGNATURE-----";

/// Why a `Release` body or a clearsigned text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error("Malformed `Release` file")]
    Control(#[from] ControlError),
    #[error("The `Release` file is empty")]
    Empty,
    #[error("The `Release` file has more than one paragraph")]
    ExtraParagraph,
    #[error("The `Release` file has no `SHA256` list")]
    MissingSha256,
    #[error("`SHA256` line `{entry}` is malformed: {reason}")]
    BadHashLine { entry: String, reason: &'static str },
    #[error("Clearsigned text is malformed: {reason} (line {line})")]
    Clearsign { line: usize, reason: &'static str },
}

/// An index file listed in `Release` with its size and SHA256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileHash {
    /// Relative to the suite directory, e.g. `main/binary-amd64/Packages.xz`.
    pub path: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// The fields of a `Release` body that a resolver needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Release {
    pub origin: Option<String>,
    pub label: Option<String>,
    pub suite: Option<String>,
    pub codename: Option<String>,
    pub version: Option<String>,
    pub date: Option<String>,
    pub valid_until: Option<String>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    /// `Acquire-By-Hash: yes`: indices can be fetched under `by-hash/SHA256/<hex>`.
    pub acquire_by_hash: bool,
    pub sha256: Vec<FileHash>,
}

impl Release {
    /// Parses a `Release` body (the signed part of `InRelease`).
    pub(crate) fn parse(body: &str) -> Result<Release, ReleaseError> {
        let mut iter = paragraphs(body);
        let p = iter.next().ok_or(ReleaseError::Empty)??;
        if iter.next().transpose()?.is_some() {
            return Err(ReleaseError::ExtraParagraph);
        }
        let text = |name: &str| p.get(name).map(|v| v.trim().to_owned());
        let words = |name: &str| {
            p.get(name).map_or(Vec::new(), |v| {
                v.split_whitespace().map(str::to_owned).collect()
            })
        };
        let list = p.get("sha256").ok_or(ReleaseError::MissingSha256)?;
        let mut sha256 = Vec::new();
        for entry in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
            sha256.push(parse_hash_line(entry)?);
        }
        Ok(Release {
            origin: text("origin"),
            label: text("label"),
            suite: text("suite"),
            codename: text("codename"),
            version: text("version"),
            date: text("date"),
            valid_until: text("valid-until"),
            architectures: words("architectures"),
            components: words("components"),
            acquire_by_hash: p
                .get("acquire-by-hash")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("yes")),
            sha256,
        })
    }

    /// The listed entry for `path` (e.g. `main/binary-amd64/Packages.xz`).
    pub(crate) fn file(&self, path: &str) -> Option<&FileHash> {
        self.sha256.iter().find(|f| f.path == path)
    }
}

fn parse_hash_line(entry: &str) -> Result<FileHash, ReleaseError> {
    let bad = |reason| ReleaseError::BadHashLine {
        entry: entry.to_owned(),
        reason,
    };
    let mut parts = entry.split_whitespace();
    let (Some(hash), Some(size), Some(path), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("expected `<sha256> <size> <path>`"));
    };
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("the hash is not 64 hex digits"));
    }
    let size = size
        .parse::<u64>()
        .map_err(|_| bad("the size is not a number"))?;
    if path.starts_with('/') || path.split('/').any(|c| c == ".." || c.is_empty()) {
        return Err(bad("the path is not a plain relative path"));
    }
    Ok(FileHash {
        path: path.to_owned(),
        size,
        sha256: hash.to_ascii_lowercase(),
    })
}

/// Splits an OpenPGP clearsigned text into the signed body (dash-escaping undone,
/// lines joined with `\n`, without the line break that precedes the signature, as
/// RFC 4880 says) and the armored signature block (BEGIN to END lines, `\n`-ended).
/// Only blank lines may surround the message.
pub(super) fn split_clearsigned(text: &str) -> Result<(String, String), ReleaseError> {
    let err = |line: usize, reason| ReleaseError::Clearsign { line, reason };
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l));
    // Header line, after optional blank lines.
    loop {
        let (n, line) = lines
            .next()
            .ok_or_else(|| err(1, "no `BEGIN PGP SIGNED MESSAGE` line"))?;
        if line.trim().is_empty() {
            continue;
        }
        if line.trim_end() != BEGIN_MESSAGE {
            return Err(err(n, "text before `BEGIN PGP SIGNED MESSAGE`"));
        }
        break;
    }
    // Armor headers (`Hash: SHA512`) up to an empty line.
    loop {
        let (n, line) = lines
            .next()
            .ok_or_else(|| err(0, "the text ends inside the armor headers"))?;
        if line.trim().is_empty() {
            break;
        }
        if !line.contains(": ") {
            return Err(err(n, "bad armor header"));
        }
    }
    // Cleartext.
    let mut body: Vec<&str> = Vec::new();
    let mut last = 0;
    loop {
        let (n, line) = lines
            .next()
            .ok_or_else(|| err(last + 1, "no `BEGIN PGP SIGNATURE` line"))?;
        last = n;
        if line.trim_end() == BEGIN_SIGNATURE {
            break;
        }
        if let Some(unescaped) = line.strip_prefix("- ") {
            body.push(unescaped);
        } else if line.starts_with('-') {
            return Err(err(n, "a line starting with `-` is not dash-escaped"));
        } else {
            body.push(line);
        }
    }
    // Signature block.
    let mut signature = String::from(BEGIN_SIGNATURE);
    signature.push('\n');
    loop {
        let (n, line) = lines
            .next()
            .ok_or_else(|| err(last + 1, "no `END PGP SIGNATURE` line"))?;
        last = n;
        signature.push_str(line.trim_end());
        signature.push('\n');
        if line.trim_end() == END_SIGNATURE {
            break;
        }
        if line.starts_with("-----") {
            return Err(err(n, "unexpected armor line inside the signature"));
        }
    }
    for (n, line) in lines {
        if !line.trim().is_empty() {
            return Err(err(n, "text after `END PGP SIGNATURE`"));
        }
    }
    Ok((body.join("\n"), signature))
}

/// The bytes a cleartext signature is computed over: trailing spaces and tabs
/// removed from every line, lines joined with CRLF, no final line break.
pub(super) fn canonical_signed_text(body: &str) -> Vec<u8> {
    let lines: Vec<&str> = body
        .split('\n')
        .map(|l| l.trim_end_matches([' ', '\t', '\r']))
        .collect();
    lines.join("\r\n").into_bytes()
}

impl crate::hint::Hint for ReleaseError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Control(error) => error.hints(),
            Self::Empty
            | Self::ExtraParagraph
            | Self::MissingSha256
            | Self::BadHashLine { .. }
            | Self::Clearsign { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
    const H2: &str = "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789";

    fn body() -> String {
        format!(
            "Origin: Test\nLabel: Test\nSuite: stable\nVersion: 12.8\nCodename: bookworm\nDate: Sat, 09 Nov 2024 10:00:00 UTC\nAcquire-By-Hash: yes\nArchitectures: all amd64 arm64\nComponents: main contrib non-free-firmware\nDescription: Test archive\nMD5Sum:\n 0123456789abcdef0123456789abcdef 1234 main/binary-amd64/Packages\nSHA256:\n {H1}   123456 main/binary-amd64/Packages\n {H2}  7890 main/binary-amd64/Packages.xz\n"
        )
    }

    #[test]
    fn parses_fields() {
        let r = Release::parse(&body()).unwrap();
        assert_eq!(r.suite.as_deref(), Some("stable"));
        assert_eq!(r.codename.as_deref(), Some("bookworm"));
        assert_eq!(r.origin.as_deref(), Some("Test"));
        assert_eq!(r.version.as_deref(), Some("12.8"));
        assert_eq!(r.date.as_deref(), Some("Sat, 09 Nov 2024 10:00:00 UTC"));
        assert_eq!(r.valid_until, None);
        assert!(r.acquire_by_hash);
        assert_eq!(r.architectures, ["all", "amd64", "arm64"]);
        assert_eq!(r.components, ["main", "contrib", "non-free-firmware"]);
        assert_eq!(r.sha256.len(), 2);
        assert_eq!(
            r.file("main/binary-amd64/Packages.xz"),
            Some(&FileHash {
                path: "main/binary-amd64/Packages.xz".into(),
                size: 7890,
                sha256: H2.to_ascii_lowercase(),
            })
        );
        assert_eq!(
            r.file("main/binary-amd64/Packages").map(|f| f.size),
            Some(123456)
        );
        assert_eq!(r.file("missing"), None);
    }

    #[test]
    fn release_errors() {
        assert_eq!(Release::parse(""), Err(ReleaseError::Empty));
        assert_eq!(
            Release::parse("Suite: x\n"),
            Err(ReleaseError::MissingSha256)
        );
        assert_eq!(
            Release::parse("Suite: x\nSHA256:\n\nSuite: y\n"),
            Err(ReleaseError::ExtraParagraph)
        );
        let reason = |line: &str| match Release::parse(&format!("SHA256:\n {line}\n")) {
            Err(ReleaseError::BadHashLine { reason, .. }) => reason,
            other => panic!("{line}: {other:?}"),
        };
        assert_eq!(reason("abc 1 x"), "the hash is not 64 hex digits");
        assert_eq!(reason(&format!("{H1} big x")), "the size is not a number");
        assert_eq!(
            reason(&format!("{H1} 1")),
            "expected `<sha256> <size> <path>`"
        );
        assert_eq!(
            reason(&format!("{H1} 1 ../x")),
            "the path is not a plain relative path"
        );
        assert_eq!(
            reason(&format!("{H1} 1 /x")),
            "the path is not a plain relative path"
        );
        assert!(matches!(
            Release::parse("bad line\n"),
            Err(ReleaseError::Control(_))
        ));
    }

    fn signed(body: &str) -> String {
        format!(
            "{BEGIN_MESSAGE}\nHash: SHA512\n\n{body}\n{BEGIN_SIGNATURE}\n\niQIzBAEBCgAdFiEE\n=AbCd\n{END_SIGNATURE}\n"
        )
    }

    #[test]
    fn splits_and_unescapes() {
        let text = signed("Suite: stable\n- -----not a real armor line\n- - twice\nSHA256:\n x");
        let (b, sig) = split_clearsigned(&text).unwrap();
        assert_eq!(
            b,
            "Suite: stable\n-----not a real armor line\n- twice\nSHA256:\n x"
        );
        assert_eq!(
            sig,
            format!("{BEGIN_SIGNATURE}\n\niQIzBAEBCgAdFiEE\n=AbCd\n{END_SIGNATURE}\n")
        );
    }

    #[test]
    fn splits_crlf_and_feeds_the_release_parser() {
        let text = signed(&body()).replace('\n', "\r\n");
        let text = format!("\r\n{text}\r\n\r\n");
        let (b, _) = split_clearsigned(&text).unwrap();
        // The body keeps its own final line break only as the empty last line.
        assert_eq!(format!("{b}\n"), format!("{}\n", body()));
        let r = Release::parse(&b).unwrap();
        assert_eq!(r.codename.as_deref(), Some("bookworm"));
    }

    #[test]
    fn canonical_text() {
        assert_eq!(canonical_signed_text("a  \nb\t\n c"), b"a\r\nb\r\n c");
        assert_eq!(canonical_signed_text("a"), b"a");
    }

    #[test]
    fn clearsign_errors() {
        let reason = |t: &str| match split_clearsigned(t) {
            Err(ReleaseError::Clearsign { reason, line }) => (line, reason),
            other => panic!("{t}: {other:?}"),
        };
        assert_eq!(reason("").1, "no `BEGIN PGP SIGNED MESSAGE` line");
        assert_eq!(
            reason("Suite: x\n").1,
            "text before `BEGIN PGP SIGNED MESSAGE`"
        );
        let before = format!("junk\n{}", signed("A: b"));
        assert_eq!(
            reason(&before),
            (1, "text before `BEGIN PGP SIGNED MESSAGE`")
        );
        let after = format!("{}Suite: evil\n", signed("A: b"));
        assert_eq!(reason(&after).1, "text after `END PGP SIGNATURE`");
        assert_eq!(
            reason(&signed("A: b\n-unescaped")),
            (5, "a line starting with `-` is not dash-escaped")
        );
        assert_eq!(
            reason(&format!("{BEGIN_MESSAGE}\nHash: SHA256")).1,
            "the text ends inside the armor headers"
        );
        assert_eq!(
            reason(&format!("{BEGIN_MESSAGE}\nnot a header\n\nA: b\n")).1,
            "bad armor header"
        );
        assert_eq!(
            reason(&format!("{BEGIN_MESSAGE}\n\nA: b\n")).1,
            "no `BEGIN PGP SIGNATURE` line"
        );
        assert_eq!(
            reason(&format!(
                "{BEGIN_MESSAGE}\n\nA: b\n{BEGIN_SIGNATURE}\nabc\n"
            ))
            .1,
            "no `END PGP SIGNATURE` line"
        );
        let nested = format!(
            "{BEGIN_MESSAGE}\n\nA: b\n{BEGIN_SIGNATURE}\n{BEGIN_MESSAGE}\n{END_SIGNATURE}\n"
        );
        assert_eq!(
            reason(&nested).1,
            "unexpected armor line inside the signature"
        );
        // Message with no armor headers at all is still valid.
        let (b, _) = split_clearsigned(&format!(
            "{BEGIN_MESSAGE}\n\nA: b\n{BEGIN_SIGNATURE}\nx\n{END_SIGNATURE}"
        ))
        .unwrap();
        assert_eq!(b, "A: b");
    }
}
