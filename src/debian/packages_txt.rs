//! Astro's `packages.txt`: the Debian packages a project asks for, one request per
//! whitespace-separated word. Pure: it checks syntax only and knows no archive, so
//! whether a name exists is the resolver's question.

use super::version::{Version, VersionError};

/// Why `packages.txt` was refused. Every variant names the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackagesTxtError {
    #[error("Line {line}: `{word}` is not a valid Debian package name: {reason}")]
    InvalidName {
        line: usize,
        word: String,
        reason: &'static str,
    },
    #[error(
        "Line {line}: `{word}` asks for architecture `{arch}`; only `amd64` and `all` are supported"
    )]
    UnsupportedArch {
        line: usize,
        word: String,
        arch: String,
    },
    #[error("Line {line}: `{word}` has an invalid version pin")]
    InvalidVersion {
        line: usize,
        word: String,
        #[source]
        source: VersionError,
    },
}

/// The architecture a request was qualified with (`name:amd64`, `name:all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum PackageArch {
    Amd64,
    All,
}

/// One requested package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackageRequest {
    pub name: String,
    /// The `=version` pin, if any.
    pub version: Option<Version>,
    pub arch: Option<PackageArch>,
    /// 1-based line number in `packages.txt`.
    pub line: usize,
}

/// Parses the text of `packages.txt`. Accepts blank lines, `#` comments (whole-line
/// or trailing), CRLF line endings, a leading byte-order mark, and several requests
/// on one line. A request is `name[:arch][=version]`.
pub(crate) fn parse_packages_txt(text: &str) -> Result<Vec<PackageRequest>, PackagesTxtError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        // `#` never occurs in a package name or version, so it always starts a comment.
        let content = raw.split_once('#').map_or(raw, |(before, _)| before);
        for word in content.split_whitespace() {
            out.push(parse_word(word, line)?);
        }
    }
    Ok(out)
}

fn parse_word(word: &str, line: usize) -> Result<PackageRequest, PackagesTxtError> {
    // apt's order is `name:arch=version`; the version may itself contain `:` (epoch),
    // so split at `=` first.
    let (name_arch, version) = match word.split_once('=') {
        Some((left, right)) => {
            let version =
                Version::parse(right).map_err(|source| PackagesTxtError::InvalidVersion {
                    line,
                    word: word.to_owned(),
                    source,
                })?;
            (left, Some(version))
        }
        None => (word, None),
    };
    let (name, arch) = match name_arch.split_once(':') {
        Some((name, arch)) => {
            let arch = match arch {
                "amd64" => PackageArch::Amd64,
                "all" => PackageArch::All,
                other => {
                    return Err(PackagesTxtError::UnsupportedArch {
                        line,
                        word: word.to_owned(),
                        arch: other.to_owned(),
                    });
                }
            };
            (name, Some(arch))
        }
        None => (name_arch, None),
    };
    check_name(name).map_err(|reason| PackagesTxtError::InvalidName {
        line,
        word: word.to_owned(),
        reason,
    })?;
    Ok(PackageRequest {
        name: name.to_owned(),
        version,
        arch,
        line,
    })
}

/// Debian policy: at least two characters, lowercase letters, digits, `+`, `-` and
/// `.`, starting with a letter or digit.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("the name is empty");
    }
    if name.contains('/') {
        return Err("selecting a release with `/` is not supported; pin a version with `=`");
    }
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("package names are lowercase");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'))
    {
        return Err("only lowercase letters, digits, `+`, `-` and `.` are allowed");
    }
    if name.len() < 2 {
        return Err("a name has at least two characters");
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return Err("a name starts with a letter or digit");
    }
    Ok(())
}

impl crate::hint::Hint for PackagesTxtError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::InvalidVersion { source, .. } => source.hints(),
            Self::InvalidName { .. } | Self::UnsupportedArch { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(reqs: &[PackageRequest]) -> Vec<(&str, usize)> {
        reqs.iter().map(|r| (r.name.as_str(), r.line)).collect()
    }

    #[test]
    fn empty_and_comments() {
        assert_eq!(parse_packages_txt(""), Ok(vec![]));
        assert_eq!(
            parse_packages_txt("\n\n  \t\n# only a comment\n"),
            Ok(vec![])
        );
    }

    #[test]
    fn lines_words_comments_crlf() {
        let text = "\u{feff}# system deps\r\nlibpq5\r\n\r\ngit jq   # trailing\r\n\tunixodbc\tkrb5-user#glued\nlibstdc++6 g++-12 python3.11\n";
        let reqs = parse_packages_txt(text).unwrap();
        assert_eq!(
            names(&reqs),
            [
                ("libpq5", 2),
                ("git", 4),
                ("jq", 4),
                ("unixodbc", 5),
                ("krb5-user", 5),
                ("libstdc++6", 6),
                ("g++-12", 6),
                ("python3.11", 6),
            ]
        );
        assert!(reqs.iter().all(|r| r.version.is_none() && r.arch.is_none()));
    }

    #[test]
    fn no_trailing_newline_and_cr_only_tail() {
        let reqs = parse_packages_txt("git\r\njq").unwrap();
        assert_eq!(names(&reqs), [("git", 1), ("jq", 2)]);
    }

    #[test]
    fn pins_and_arch() {
        let reqs =
            parse_packages_txt("git=1:2.39.5-0+deb12u1\nlibc6:amd64\ntzdata:all=2024a-0+deb12u1\n")
                .unwrap();
        assert_eq!(reqs[0].name, "git");
        let pin = reqs[0].version.as_ref().unwrap();
        assert_eq!(pin.as_str(), "1:2.39.5-0+deb12u1");
        assert_eq!(pin.epoch(), 1);
        assert_eq!(reqs[0].arch, None);
        assert_eq!(reqs[1].arch, Some(PackageArch::Amd64));
        assert_eq!(reqs[1].version, None);
        assert_eq!(reqs[2].arch, Some(PackageArch::All));
        assert_eq!(
            reqs[2].version.as_ref().unwrap().as_str(),
            "2024a-0+deb12u1"
        );
        assert_eq!(reqs[2].line, 3);
    }

    #[test]
    fn unsupported_arch_names_the_line() {
        let err = parse_packages_txt("git\n\nlibc6:i386\n").unwrap_err();
        assert_eq!(
            err,
            PackagesTxtError::UnsupportedArch {
                line: 3,
                word: "libc6:i386".into(),
                arch: "i386".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "Line 3: `libc6:i386` asks for architecture `i386`; only `amd64` and `all` are supported"
        );
        assert!(matches!(
            parse_packages_txt("libc6:any"),
            Err(PackagesTxtError::UnsupportedArch { line: 1, .. })
        ));
        assert!(matches!(
            parse_packages_txt("libc6:"),
            Err(PackagesTxtError::UnsupportedArch { line: 1, .. })
        ));
    }

    #[test]
    fn bad_names() {
        for (text, reason_part) in [
            ("Git", "lowercase"),
            ("g", "two characters"),
            ("-git", "starts with"),
            (".git", "starts with"),
            ("git_x", "only lowercase"),
            ("git/bookworm-backports", "`/`"),
            ("=1.0", "empty"),
            ("gït", "only lowercase"),
        ] {
            match parse_packages_txt(&format!("ok-1\n{text}\n")) {
                Err(PackagesTxtError::InvalidName { line, reason, .. }) => {
                    assert_eq!(line, 2, "{text}");
                    assert!(reason.contains(reason_part), "{text}: {reason}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn bad_version_pin() {
        let err = parse_packages_txt("jq\ngit=\n").unwrap_err();
        assert!(matches!(
            err,
            PackagesTxtError::InvalidVersion { line: 2, ref word, source: VersionError::Empty } if word == "git="
        ));
        assert!(matches!(
            parse_packages_txt("git=1.0_1"),
            Err(PackagesTxtError::InvalidVersion { line: 1, .. })
        ));
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn duplicates_are_kept_for_the_resolver() {
        let reqs = parse_packages_txt("git git=1:2.39.5-0+deb12u1").unwrap();
        assert_eq!(reqs.len(), 2);
    }
}
