//! The image named after `FROM`, split into name, tag and digest.

use super::ImageError;
use crate::digest::Digest;

/// `name[:tag][@sha256:…]`, as written (no registry normalisation here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageName {
    pub name: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl ImageName {
    pub(crate) fn parse(text: &str) -> Result<Self, ImageError> {
        let bad = || ImageError::BadImageName(text.to_string());
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest.parse::<Digest>().map_err(|_| bad())?)),
            None => (text, None),
        };
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(rest[slash + i + 1..].to_string())),
            None => (rest, None),
        };
        let valid = !name.is_empty()
            && !name.contains(char::is_whitespace)
            && tag.as_deref().is_none_or(|t| {
                !t.is_empty()
                    && t.len() <= 128
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            });
        if !valid {
            return Err(bad());
        }
        Ok(Self {
            name: name.to_string(),
            tag,
            digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_name_tag_and_digest() {
        let n = ImageName::parse("example/runtime:3.0-1").expect("valid");
        assert_eq!(
            (n.name.as_str(), n.tag.as_deref()),
            ("example/runtime", Some("3.0-1"))
        );
        let n = ImageName::parse("localhost:5000/runtime").expect("valid");
        assert_eq!((n.name.as_str(), n.tag), ("localhost:5000/runtime", None));
        let d = format!("runtime@sha256:{}", "a".repeat(64));
        assert!(ImageName::parse(&d).expect("valid").digest.is_some());
        assert!(ImageName::parse("runtime:bad tag").is_err());
        assert!(ImageName::parse("runtime@sha256:short").is_err());
    }
}
