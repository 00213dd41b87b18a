//! Package URLs: `pkg:deb/…`, `pkg:pypi/…`, `pkg:oci/…`.

/// Percent-encodes everything but the unreserved characters (and `/` when `slash`).
fn encode(text: &str, slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (slash && byte == b'/');
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `pkg:deb/<distro id>/<name>@<version>?arch=<arch>&distro=<release>`.
pub(crate) fn deb(
    distro: Option<&(String, String)>,
    name: &str,
    version: &str,
    arch: &str,
) -> String {
    let namespace = distro.map_or("debian", |(id, _)| id.as_str());
    let mut purl = format!(
        "pkg:deb/{}/{}@{}?arch={}",
        encode(namespace, false),
        encode(name, false),
        encode(version, false),
        encode(arch, false)
    );
    if let Some((_, release)) = distro {
        purl.push_str(&format!("&distro={}", encode(release, false)));
    }
    purl
}

/// `pkg:pypi/<normalized name>@<version>`.
pub(crate) fn pypi(name: &str, version: &str) -> String {
    format!(
        "pkg:pypi/{}@{}",
        encode(&name.to_ascii_lowercase().replace('_', "-"), false),
        encode(version, false)
    )
}

/// `pkg:oci/<last name segment>@<digest>?repository_url=<repository>&tag=<tag>` for
/// an image reference such as `host:port/team/app:tag` or `app@sha256:…`.
pub(crate) fn oci(reference: &str, digest: &crate::digest::Digest) -> String {
    let without_digest = reference.split_once('@').map_or(reference, |(r, _)| r);
    let (repository, tag) = match without_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
        _ => (without_digest, None),
    };
    let name = repository.rsplit('/').next().unwrap_or(repository);
    let mut purl = format!(
        "pkg:oci/{}@{}?repository_url={}",
        encode(&name.to_ascii_lowercase(), false),
        encode(&digest.to_string(), false),
        encode(repository, true)
    );
    if let Some(tag) = tag {
        purl.push_str(&format!("&tag={}", encode(tag, false)));
    }
    purl
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_encode_what_the_spec_reserves() {
        let distro = ("debian".to_string(), "bookworm".to_string());
        assert_eq!(
            deb(Some(&distro), "libc6", "2.36-9+deb12u4", "amd64"),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=bookworm"
        );
        assert_eq!(
            deb(None, "x", "1:2.0", "all"),
            "pkg:deb/debian/x@1%3A2.0?arch=all"
        );
        assert_eq!(pypi("Foo_Bar", "1.0"), "pkg:pypi/foo-bar@1.0");
        let digest = crate::digest::Digest::of(b"x");
        assert_eq!(
            oci("127.0.0.1:5000/team/app:1.2", &digest),
            format!(
                "pkg:oci/app@sha256%3A{}?repository_url=127.0.0.1%3A5000/team/app&tag=1.2",
                digest.hex()
            )
        );
    }
}
