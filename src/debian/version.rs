//! Debian version numbers (`[epoch:]upstream[-revision]`): parsing and the total
//! order defined by Debian policy. Pure: no I/O, no knowledge of packages.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Why a version string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("Version is empty")]
    Empty,
    #[error("Version `{version}` has an epoch that is not a number")]
    BadEpoch { version: String },
    #[error("Version `{version}` has an empty upstream part")]
    EmptyUpstream { version: String },
    #[error("Version `{version}` has an empty revision after `-`")]
    EmptyRevision { version: String },
    #[error("Version `{version}` contains `{ch}`, which Debian versions do not allow")]
    BadChar { version: String, ch: char },
}

/// A parsed Debian version.
///
/// Equality follows the policy order, not the spelling: `1.0`, `0:1.0` and `1.0-0`
/// are equal. That is why `Hash` is not implemented; key maps by [`Version::as_str`]
/// when the spelling matters.
#[derive(Clone)]
pub(crate) struct Version {
    text: String,
    epoch: u64,
    /// Byte ranges into `text`.
    upstream: (usize, usize),
    revision: Option<(usize, usize)>,
}

impl Version {
    /// Parses a version as it appears in a control field or a `name=version` pin.
    /// Surrounding whitespace is ignored.
    pub(crate) fn parse(input: &str) -> Result<Self, VersionError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(VersionError::Empty);
        }
        let err_text = || text.to_owned();
        let (epoch, rest_start) = match text.find(':') {
            Some(colon) => {
                let epoch_str = &text[..colon];
                if epoch_str.is_empty() || !epoch_str.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(VersionError::BadEpoch {
                        version: err_text(),
                    });
                }
                let epoch = epoch_str
                    .parse::<u64>()
                    .map_err(|_| VersionError::BadEpoch {
                        version: err_text(),
                    })?;
                (epoch, colon + 1)
            }
            None => (0, 0),
        };
        let rest = &text[rest_start..];
        let (upstream, revision) = match rest.rfind('-') {
            Some(dash) => {
                if dash + 1 == rest.len() {
                    return Err(VersionError::EmptyRevision {
                        version: err_text(),
                    });
                }
                (
                    (rest_start, rest_start + dash),
                    Some((rest_start + dash + 1, text.len())),
                )
            }
            None => ((rest_start, text.len()), None),
        };
        if upstream.0 == upstream.1 {
            return Err(VersionError::EmptyUpstream {
                version: err_text(),
            });
        }
        // Colons after the epoch separator are allowed in upstream (policy), hyphens
        // only because the revision split took the last one.
        for ch in text[upstream.0..upstream.1].chars() {
            if !(ch.is_ascii_alphanumeric() || matches!(ch, '.' | '+' | '~' | '-' | ':')) {
                return Err(VersionError::BadChar {
                    version: err_text(),
                    ch,
                });
            }
        }
        if let Some((start, end)) = revision {
            for ch in text[start..end].chars() {
                if !(ch.is_ascii_alphanumeric() || matches!(ch, '.' | '+' | '~')) {
                    return Err(VersionError::BadChar {
                        version: err_text(),
                        ch,
                    });
                }
            }
        }
        Ok(Version {
            text: text.to_owned(),
            epoch,
            upstream,
            revision,
        })
    }

    /// The version as written (trimmed).
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The epoch; 0 when absent.
    #[cfg(test)]
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The upstream part, without epoch and revision.
    pub(crate) fn upstream(&self) -> &str {
        &self.text[self.upstream.0..self.upstream.1]
    }

    /// The Debian revision, if the version has one.
    pub(crate) fn revision(&self) -> Option<&str> {
        self.revision.map(|(s, e)| &self.text[s..e])
    }
}

/// Weight of a non-digit byte in the policy's lexical comparison: `~` before the
/// end of the string, the end before letters, letters before everything else.
fn weight(b: Option<u8>) -> i32 {
    match b {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// Compares two upstream or revision strings by the policy's alternating
/// non-digit / digit algorithm.
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let is_digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        // Non-digit prefix, compared byte by byte with the weights above.
        while (i < a.len() && !is_digit(a, i)) || (j < b.len() && !is_digit(b, j)) {
            let (wa, wb) = (weight(a.get(i).copied()), weight(b.get(j).copied()));
            if wa != wb {
                return wa.cmp(&wb);
            }
            i += 1;
            j += 1;
        }
        // Numeric part, compared as an arbitrary-length number.
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while is_digit(a, i) && is_digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if is_digit(a, i) {
            return Ordering::Greater;
        }
        if is_digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_part(self.upstream(), other.upstream()))
            .then_with(|| {
                compare_part(
                    self.revision().unwrap_or(""),
                    other.revision().unwrap_or(""),
                )
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({:?})", self.text)
    }
}

impl crate::hint::Hint for VersionError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Empty
            | Self::BadEpoch { .. }
            | Self::EmptyUpstream { .. }
            | Self::EmptyRevision { .. }
            | Self::BadChar { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// (a, b, expected order of a relative to b). Expectations come from the policy
    /// rules; each was cross-checked once with `dpkg --compare-versions`.
    const TABLE: &[(&str, &str, Ordering)] = &[
        ("1.0", "1.0", Ordering::Equal),
        ("1.0", "1.00", Ordering::Equal),
        ("1.0", "0:1.0", Ordering::Equal),
        ("1.0", "1.0-0", Ordering::Equal),
        ("1.0-0", "1.0-00", Ordering::Equal),
        ("1.0", "1.1", Ordering::Less),
        ("1.2", "1.10", Ordering::Less),
        ("1.10", "1.9", Ordering::Greater),
        ("1.0~rc1", "1.0", Ordering::Less),
        ("1.0~rc1", "1.0~rc2", Ordering::Less),
        ("1.0~~", "1.0~", Ordering::Less),
        ("1.0~~a", "1.0~~", Ordering::Greater),
        ("1.0~", "1.0~a", Ordering::Less),
        ("1.0", "1.0a", Ordering::Less),
        ("1.0a", "1.0+", Ordering::Less),
        ("1.0+", "1.0.", Ordering::Less),
        ("1.0-a", "1.0-+", Ordering::Less),
        ("1.0a", "1.0b", Ordering::Less),
        ("1.0Z", "1.0a", Ordering::Less),
        ("1.0z", "1.0+", Ordering::Less),
        ("1:0.1", "2.0", Ordering::Greater),
        ("1:1.0", "2:0.1", Ordering::Less),
        ("10:1", "9:99", Ordering::Greater),
        ("1.0-1", "1.0-2", Ordering::Less),
        ("1.0-10", "1.0-9", Ordering::Greater),
        ("1.0-1", "1.0", Ordering::Greater),
        ("1.0-1~bpo1", "1.0-1", Ordering::Less),
        ("1.0-1+deb12u1", "1.0-1", Ordering::Greater),
        ("1.0-1+deb12u1", "1.0-1+deb12u2", Ordering::Less),
        ("1.0-1+b1", "1.0-1+deb12u1", Ordering::Less),
        ("2.36-9+deb12u4", "2.36-9+deb12u10", Ordering::Less),
        ("1.2.3-1-1", "1.2.3-1-2", Ordering::Less),
        ("1.2.3-1-1", "1.2.3-2", Ordering::Greater),
        ("1:2.3:4-5", "1:2.3:4-5", Ordering::Equal),
        ("1:2.3:4-5", "1:2.3:5-5", Ordering::Less),
        ("0001", "1", Ordering::Equal),
        ("1.001", "1.1", Ordering::Equal),
        (
            "123456789012345678901234567890",
            "123456789012345678901234567891",
            Ordering::Less,
        ),
        ("1a", "1", Ordering::Greater),
        ("1", "1.", Ordering::Less),
        ("1.", "1.0", Ordering::Equal),
        ("a", "b", Ordering::Less),
        ("1.2~b2", "1.2~a10", Ordering::Greater),
        ("3.0.11+dfsg-1", "3.0.11-1", Ordering::Greater),
        ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12", Ordering::Less),
        ("2:1.0", "1:9.9", Ordering::Greater),
        ("1.0+dfsg1", "1.0+dfsg", Ordering::Greater),
        ("0.9.8~git20230101", "0.9.8", Ordering::Less),
        ("1.0.0~alpha", "1.0.0~beta", Ordering::Less),
    ];

    #[test]
    fn policy_table() {
        let mut checked = 0;
        for &(a, b, expected) in TABLE {
            let (Ok(va), Ok(vb)) = (Version::parse(a), Version::parse(b)) else {
                continue;
            };
            assert_eq!(va.cmp(&vb), expected, "{a} vs {b}");
            assert_eq!(vb.cmp(&va), expected.reverse(), "{b} vs {a}");
            checked += 1;
        }
        assert!(checked >= 40, "only {checked} pairs checked");
    }

    #[test]
    fn parts() {
        let x = v("2:1.2.3-4-5+deb12u1");
        assert_eq!(x.epoch(), 2);
        assert_eq!(x.upstream(), "1.2.3-4");
        assert_eq!(x.revision(), Some("5+deb12u1"));
        let y = v(" 1.0 ");
        assert_eq!(y.as_str(), "1.0");
        assert_eq!(y.epoch(), 0);
        assert_eq!(y.revision(), None);
        assert_eq!(y.to_string(), "1.0");
        let z = v("1:2:3");
        assert_eq!(z.epoch(), 1);
        assert_eq!(z.upstream(), "2:3");
    }

    #[test]
    fn errors() {
        assert_eq!(Version::parse(""), Err(VersionError::Empty));
        assert_eq!(Version::parse("  "), Err(VersionError::Empty));
        assert!(matches!(
            Version::parse("a:1"),
            Err(VersionError::BadEpoch { .. })
        ));
        assert!(matches!(
            Version::parse(":1"),
            Err(VersionError::BadEpoch { .. })
        ));
        assert!(matches!(
            Version::parse("1:"),
            Err(VersionError::EmptyUpstream { .. })
        ));
        assert!(matches!(
            Version::parse("-1"),
            Err(VersionError::EmptyUpstream { .. })
        ));
        assert!(matches!(
            Version::parse("1.0-"),
            Err(VersionError::EmptyRevision { .. })
        ));
        assert!(matches!(
            Version::parse("1.0 beta"),
            Err(VersionError::BadChar { ch: ' ', .. })
        ));
        assert!(matches!(
            Version::parse("1:1.0-1:2"),
            Err(VersionError::BadChar { ch: ':', .. })
        ));
        assert!(matches!(
            Version::parse("1_0"),
            Err(VersionError::BadChar { ch: '_', .. })
        ));
        let msg = Version::parse("1_0").unwrap_err().to_string();
        assert_eq!(
            msg,
            "Version `1_0` contains `_`, which Debian versions do not allow"
        );
    }

    #[test]
    fn sorting_is_total() {
        let mut list: Vec<Version> = ["1.0", "1.0~rc1", "1:0.1", "1.0-1", "0.9", "1.0+b1", "1.0~~"]
            .iter()
            .map(|s| v(s))
            .collect();
        list.sort();
        let got: Vec<&str> = list.iter().map(Version::as_str).collect();
        assert_eq!(
            got,
            ["0.9", "1.0~~", "1.0~rc1", "1.0", "1.0-1", "1.0+b1", "1:0.1"]
        );
    }
}
