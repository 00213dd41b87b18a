//! Manifests and indexes as the client reads them: `oci-spec`'s types, reached
//! through one edge ([`normalise`]) that accepts what registries really serve.

use serde_json::{Value, json};

use super::RegistryError;
use crate::digest::Digest;
pub(super) use crate::oci::Descriptor;
pub use crate::oci::media_types::{
    DOCKER_LIST as DOCKER_MANIFEST_LIST, DOCKER_MANIFEST, OCI_MANIFEST,
};
pub(super) use crate::oci::media_types::{is_index, is_manifest};
use crate::oci::{DescriptorExt as _, ImageIndex, ImageManifest, spec_platform_keys};
pub use crate::oci::{Platform, PlatformExt};

/// Every manifest media type the client accepts, for `Accept`.
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// The document `bytes` as `oci-spec` reads it. Registries serve documents its strict
/// types refuse or misread, all of which a pull accepts: Docker v2 schema-2
/// manifests and lists (Docker media types, which `oci-spec` keeps as they are), a
/// missing `schemaVersion` (2 is the only version either format has), a missing
/// `layers` or `manifests` list (empty), a platform's `os.version` and
/// `os.features` (which `oci-spec` 0.10 names `os_version` and `os_features`), and
/// extra fields (ignored). `list` names the document's list: `layers` for a
/// manifest, `manifests` for an index.
fn normalise(bytes: &[u8], list: &str) -> Result<Value, serde_json::Error> {
    let mut document: Value = serde_json::from_slice(bytes)?;
    if let Value::Object(fields) = &mut document {
        fields.entry("schemaVersion").or_insert(json!(2));
        fields.entry(list).or_insert(json!([]));
    }
    spec_platform_keys(&mut document);
    Ok(document)
}

/// A manifest (OCI or Docker v2 schema 2) as a registry sent it.
pub(crate) fn parse_manifest(bytes: &[u8]) -> Result<ImageManifest, serde_json::Error> {
    serde_json::from_value(normalise(bytes, "layers")?)
}

/// An index (OCI or Docker manifest list) as a registry sent it.
pub(super) fn parse_index(bytes: &[u8]) -> Result<ImageIndex, serde_json::Error> {
    serde_json::from_value(normalise(bytes, "manifests")?)
}

/// The `mediaType` a document declares, if any.
pub(crate) fn declared_media_type(bytes: &[u8]) -> Option<String> {
    let document: Value = serde_json::from_slice(bytes).ok()?;
    document.get("mediaType")?.as_str().map(str::to_string)
}

/// A descriptor's digest as airlock's. Any algorithm but sha256 makes the document
/// naming it (`reference`) invalid: airlock verifies every blob by its sha256.
pub(crate) fn sha256(
    descriptor: &Descriptor,
    reference: &dyn std::fmt::Display,
) -> Result<Digest, RegistryError> {
    descriptor
        .sha256()
        .map_err(|error| RegistryError::InvalidManifest {
            reference: reference.to_string(),
            source: serde::de::Error::custom(error),
        })
}

/// A manifest or index exactly as the registry sent it, with its verified digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// An image resolved for one platform: the index it came through (if any), its
/// manifest, and the blobs that manifest names.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    pub index: Option<FetchedManifest>,
    pub manifest: FetchedManifest,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(seed: &str) -> String {
        Digest::of(seed.as_bytes()).to_string()
    }

    /// A Docker v2 schema-2 manifest, with Docker's media types and a field the
    /// image spec does not have.
    #[test]
    fn docker_v2_manifest_is_read_with_its_media_types() {
        let bytes = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": digest("config"),
                "size": 7,
            },
            "layers": [{
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "digest": digest("layer"),
                "size": 9,
                "x-docker-extra": true,
            }],
            "x-docker-extra": {"anything": 1},
        }))
        .expect("json");
        let manifest = parse_manifest(&bytes).expect("a Docker v2 manifest");
        assert_eq!(
            manifest.media_type().as_ref().map(AsRef::as_ref),
            Some(DOCKER_MANIFEST)
        );
        assert_eq!(
            manifest.config().media_type().as_ref(),
            "application/vnd.docker.container.image.v1+json"
        );
        let [layer] = manifest.layers().as_slice() else {
            panic!("one layer");
        };
        assert_eq!(
            layer.media_type().as_ref(),
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        );
        assert_eq!(layer.sha256().expect("sha256"), Digest::of(b"layer"));
        assert_eq!(layer.size(), 9);
    }

    /// A manifest without `schemaVersion` (nor `layers`): `oci-spec` alone refuses it.
    #[test]
    fn manifest_without_schema_version_is_read() {
        let bytes = serde_json::to_vec(&json!({
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest("config"),
                "size": 7,
            },
        }))
        .expect("json");
        assert!(serde_json::from_slice::<ImageManifest>(&bytes).is_err());
        let manifest = parse_manifest(&bytes).expect("normalised");
        assert_eq!(manifest.schema_version(), 2);
        assert!(manifest.layers().is_empty());
        assert_eq!(
            manifest.config().sha256().expect("sha256"),
            Digest::of(b"config")
        );
    }

    /// A Docker manifest list without `schemaVersion`, whose entries name their
    /// platform with `os.version` and `os.features` as the spec spells them.
    #[test]
    fn docker_list_without_schema_version_keeps_os_version() {
        let bytes = serde_json::to_vec(&json!({
            "mediaType": DOCKER_MANIFEST_LIST,
            "manifests": [
                {
                    "mediaType": DOCKER_MANIFEST,
                    "digest": digest("windows"),
                    "size": 3,
                    "platform": {
                        "architecture": "amd64",
                        "os": "windows",
                        "os.version": "10.0.17763.1",
                        "os.features": ["win32k"],
                    },
                },
                {
                    "mediaType": DOCKER_MANIFEST,
                    "digest": digest("linux"),
                    "size": 4,
                    "platform": {"architecture": "amd64", "os": "linux"},
                },
            ],
        }))
        .expect("json");
        assert!(serde_json::from_slice::<ImageIndex>(&bytes).is_err());
        let index = parse_index(&bytes).expect("normalised");
        let [windows, linux] = index.manifests().as_slice() else {
            panic!("two entries");
        };
        let platform = windows.platform().as_ref().expect("platform");
        assert_eq!(platform.os_version().as_deref(), Some("10.0.17763.1"));
        assert_eq!(
            platform.os_features().as_deref(),
            Some(&["win32k".to_string()][..])
        );
        assert!(!platform.is_linux_amd64());
        let linux_platform = linux.platform().as_ref().expect("platform");
        assert!(linux_platform.matches(&Platform::linux_amd64()));
        assert_eq!(linux.sha256().expect("sha256"), Digest::of(b"linux"));
    }

    /// A descriptor with a digest airlock cannot verify makes the document invalid.
    #[test]
    fn a_sha512_descriptor_is_an_invalid_manifest() {
        let bytes = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": format!("sha512:{}", "ab".repeat(64)),
                "size": 7,
            },
            "layers": [],
        }))
        .expect("json");
        let manifest = parse_manifest(&bytes).expect("oci-spec reads any algorithm");
        let error = sha256(manifest.config(), &"repo:tag").expect_err("not sha256");
        assert!(
            matches!(error, RegistryError::InvalidManifest { .. }),
            "{error:?}"
        );
        assert!(
            format!("{:?}", error).contains("only `sha256` is supported"),
            "{error:?}"
        );
    }

    #[test]
    fn declared_media_type_reads_only_a_string() {
        assert_eq!(
            declared_media_type(br#"{"mediaType":"x/y","other":1}"#).as_deref(),
            Some("x/y")
        );
        assert_eq!(declared_media_type(br#"{"mediaType":3}"#), None);
        assert_eq!(declared_media_type(b"not json"), None);
    }
}
