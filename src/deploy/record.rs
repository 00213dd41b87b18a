//! The deployment record: a small OCI artifact saying what a deployment runs.
//!
//! It lives in the deployment's image repository under the tag [`RECORD_TAG`] (and,
//! so that registry garbage collection of untagged manifests never breaks the
//! history, under `deployment-record-<time>` as well). The manifest's config blob is
//! the JSON [`Record`]; it has no layers. Each record names its parent by manifest
//! digest, so the history is a chain walked from the tag. Schema:
//! `schemas/deployment-record.schema.json`.

use serde::{Deserialize, Serialize};

use super::DeployError;
use super::git::GitInfo;
use super::unpack::MAX_UNPACKED;
use crate::digest::Digest;
use crate::oci::{Descriptor, DescriptorExt as _, ImageManifest, manifest_json};
use crate::printable::{has_control, printable};
use crate::registry::{Reference, Repository};

/// The tag of the current record in the image repository.
pub const RECORD_TAG: &str = "deployment-record";
/// `artifactType` of record manifests.
pub const RECORD_ARTIFACT_TYPE: &str = "application/vnd.airlock.deployment.record.v1";
/// Media type of the record's JSON (the manifest's config blob).
pub const RECORD_MEDIA_TYPE: &str = "application/vnd.airlock.deployment.record.v1+json";
/// Version of the record's JSON format.
pub(super) const RECORD_SCHEMA_VERSION: u32 = 1;

/// What changed the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// An image deploy (and, with DAG-only deploys on, its DAG bundle).
    Deploy,
    /// `deploy --image`: the image only.
    DeployImage,
    /// `deploy --dags`: the DAG bundle only.
    DeployDags,
    /// `deployment update`: settings only.
    Update,
}

impl Action {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::DeployImage => "deploy-image",
            Self::DeployDags => "deploy-dags",
            Self::Update => "update",
        }
    }
}

/// The image a deployment runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRef {
    pub repository: String,
    pub tag: String,
    pub digest: Digest,
    /// The Runtime version label of the image, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version: Option<String>,
    /// Whether the image carries the DAGs itself.
    pub includes_dags: bool,
}

impl ImageRef {
    /// `repository:tag@digest`, what `docker pull` takes.
    pub fn reference(&self) -> String {
        format!("{}:{}@{}", self.repository, self.tag, self.digest)
    }
}

/// The DAG bundle a deployment runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleRef {
    pub repository: String,
    /// The bundle artifact's manifest digest: its identity.
    pub digest: Digest,
    /// The UTC time of the deploy that first pushed it, as [`is_deploy_time`] checks:
    /// `dags sync` names a directory after it.
    pub version: String,
    /// The tar.gz blob inside the artifact.
    pub blob: Digest,
    pub size: u64,
}

/// One state of a deployment, and how it got there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub schema_version: u32,
    pub deployment: String,
    pub image: Option<ImageRef>,
    pub dag_bundle: Option<BundleRef>,
    pub dag_deploy_enabled: bool,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// RFC 3339, UTC.
    pub deployed_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitInfo>,
    /// The manifest digest of the record this one replaced.
    pub parent: Option<Digest>,
}

/// A record as read from the registry, with the digest of its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub digest: Digest,
    pub record: Record,
}

impl Record {
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain structs and enums cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8], reference: &str) -> Result<Self, DeployError> {
        let record: Self = serde_json::from_slice(bytes).map_err(|e| DeployError::BadRecord {
            reference: reference.to_string(),
            detail: e.to_string(),
        })?;
        if record.schema_version != RECORD_SCHEMA_VERSION {
            return Err(DeployError::BadRecord {
                reference: reference.to_string(),
                detail: format!(
                    "schema version {} (this airlock reads {RECORD_SCHEMA_VERSION}); upgrade airlock",
                    record.schema_version
                ),
            });
        }
        record.validate(reference)?;
        Ok(record)
    }

    /// Checks every field a record may carry: lengths, characters, names and
    /// digests. Records are read from a registry anyone with push access can write,
    /// and their text reaches terminals and directory names.
    pub fn validate(&self, reference: &str) -> Result<(), DeployError> {
        self.check_fields()
            .map_err(|detail| DeployError::BadRecord {
                reference: reference.to_string(),
                detail,
            })
    }

    fn check_fields(&self) -> Result<(), String> {
        text("deployment", &self.deployment, MAX_NAME)?;
        if self.deployment.is_empty() {
            return Err("`deployment` is empty".into());
        }
        if let Some(image) = &self.image {
            repository("image.repository", &image.repository)?;
            if !is_tag(&image.tag) {
                return Err(format!(
                    "`image.tag` is `{}`, not a tag (letters, digits, `_`, `.`, `-`; at most 128)",
                    shown(&image.tag)
                ));
            }
            if let Some(version) = &image.runtime_version {
                text("image.runtime_version", version, MAX_NAME)?;
            }
        }
        if let Some(bundle) = &self.dag_bundle {
            repository("dag_bundle.repository", &bundle.repository)?;
            if !is_deploy_time(&bundle.version) {
                return Err(format!(
                    "`dag_bundle.version` is `{}`, not a deploy time (`YYYYMMDDTHHMMSS.mmmZ`)",
                    shown(&bundle.version)
                ));
            }
            if bundle.size > MAX_UNPACKED {
                return Err(format!(
                    "`dag_bundle.size` is {} bytes, more than a bundle may hold ({MAX_UNPACKED})",
                    bundle.size
                ));
            }
        }
        if let Some(description) = &self.description {
            description_rule(description)?;
        }
        text("deployed_at", &self.deployed_at, MAX_NAME)?;
        if let Some(git) = &self.git {
            let hex = git.commit.len() <= 64
                && !git.commit.is_empty()
                && git.commit.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex {
                return Err(format!(
                    "`git.commit` is `{}`, not a commit hash",
                    shown(&git.commit)
                ));
            }
            for (field, value) in [
                ("git.branch", &git.branch),
                ("git.author", &git.author),
                ("git.remote", &git.remote),
                ("git.subject", &git.subject),
            ] {
                if let Some(value) = value {
                    text(field, value, MAX_TEXT)?;
                }
            }
        }
        Ok(())
    }
}

/// Checks a deploy's `--description` by the rule `Record::validate` applies, before
/// anything is built or pushed.
pub(super) fn check_description(description: &str) -> Result<(), DeployError> {
    description_rule(description).map_err(|detail| DeployError::BadDescription { detail })
}

fn description_rule(description: &str) -> Result<(), String> {
    text("description", description, MAX_TEXT)
}

/// Longest name-like field (deployment, tag, runtime version, time), in bytes.
const MAX_NAME: usize = 128;
/// Longest free text (description, git fields), in bytes.
pub(super) const MAX_TEXT: usize = 4096;

/// `value` for an error message: escaped, and cut short when long.
fn shown(value: &str) -> String {
    const LIMIT: usize = 64;
    match value.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}…", printable(&value[..end])),
        None => printable(value).into_owned(),
    }
}

/// A text field: at most `max` bytes, no control characters.
fn text(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        return Err(format!("`{field}` is longer than {max} bytes"));
    }
    if has_control(value) {
        return Err(format!(
            "`{field}` holds a control character: `{}`",
            shown(value)
        ));
    }
    Ok(())
}

/// A repository (`registry/name`, no tag or digest), parsed.
pub(super) fn repository(field: &str, value: &str) -> Result<Repository, String> {
    let bad = || {
        format!(
            "`{field}` is `{}`, not a `registry/repository`",
            shown(value)
        )
    };
    let reference = Reference::parse_with_default(value, None).map_err(|_| bad())?;
    if reference.tag().is_some() || reference.digest().is_some() {
        return Err(bad());
    }
    Ok(reference.repository().clone())
}

/// An OCI tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn is_tag(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Whether `text` is a deploy time as `Timestamp::compact` writes it,
/// `YYYYMMDDTHHMMSS.mmmZ` (a year past 9999 takes more digits): the only DAG bundle
/// versions airlock writes, and the only ones `dags sync` puts in a directory name.
pub(super) fn is_deploy_time(text: &str) -> bool {
    let Some(rest) = text.strip_suffix('Z') else {
        return false;
    };
    let Some((date, time)) = rest.split_once('T') else {
        return false;
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let Some((clock, millis)) = time.split_once('.') else {
        return false;
    };
    (8..=10).contains(&date.len())
        && digits(date)
        && clock.len() == 6
        && digits(clock)
        && millis.len() == 3
        && digits(millis)
}

/// The manifest of an artifact with `config` as config blob and `layers`.
pub(super) fn artifact_manifest(
    artifact_type: &str,
    config: Descriptor,
    layers: Vec<Descriptor>,
) -> Vec<u8> {
    manifest_json(&crate::oci::artifact_manifest(
        artifact_type,
        config,
        layers,
    ))
    .unwrap_or_default()
}

/// The record manifest's config descriptor, checked, from its manifest bytes.
pub(super) fn record_config(manifest: &[u8], reference: &str) -> Result<Descriptor, DeployError> {
    let bad = |detail: String| DeployError::BadRecord {
        reference: reference.to_string(),
        detail,
    };
    let parsed: ImageManifest = serde_json::from_slice(manifest).map_err(|e| bad(e.to_string()))?;
    let config = parsed.config();
    if config.media_type().as_ref() != RECORD_MEDIA_TYPE {
        return Err(bad(format!(
            "it is `{}`, not a deployment record (`{RECORD_MEDIA_TYPE}`); is the tag `{RECORD_TAG}` used by something else?",
            config.media_type()
        )));
    }
    if config.size() > 1024 * 1024 {
        return Err(bad("the record is larger than 1 MiB".into()));
    }
    config.sha256().map_err(|e| bad(e.to_string()))?;
    Ok(config.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let record = Record {
            schema_version: RECORD_SCHEMA_VERSION,
            deployment: "dev".into(),
            image: None,
            dag_bundle: None,
            dag_deploy_enabled: true,
            action: Action::Update,
            description: Some("first".into()),
            deployed_at: "2025-01-01T00:00:00.000Z".into(),
            git: None,
            parent: None,
        };
        let json = record.to_json();
        assert_eq!(Record::from_json(&json, "x").expect("parse"), record);
        let text = String::from_utf8(json).expect("utf8");
        assert!(text.contains("\"action\":\"update\""), "{text}");
        let manifest = artifact_manifest(
            RECORD_ARTIFACT_TYPE,
            crate::oci::descriptor(RECORD_MEDIA_TYPE, Digest::of(text.as_bytes()), 3),
            vec![],
        );
        assert!(record_config(&manifest, "x").is_ok());
    }

    const GOLDEN_RECORD_MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.airlock.deployment.record.v1","config":{"mediaType":"application/vnd.airlock.deployment.record.v1+json","digest":"sha256:70ce871f8a3d3fb449bc3c3ace6547cef02dfc74ffe48d912532a724bfdbe5b9","size":6},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:1e6ed65d77d6364eeaed5a745ba5c4985ae2b700dd85d7cf7f027bdf294a33fc","size":6}]}"#;

    /// A record manifest's bytes: its digest names the record in the history.
    #[test]
    fn golden_record_manifest_bytes() {
        let manifest = artifact_manifest(
            RECORD_ARTIFACT_TYPE,
            crate::oci::descriptor(RECORD_MEDIA_TYPE, Digest::of(b"record"), 6),
            vec![crate::oci::descriptor(
                crate::oci::media_types::OCI_LAYER_GZIP,
                Digest::of(b"bundle"),
                6,
            )],
        );
        assert_eq!(String::from_utf8_lossy(&manifest), GOLDEN_RECORD_MANIFEST);
    }

    #[test]
    fn deploy_times_only() {
        assert!(is_deploy_time("20250601T123005.042Z"));
        assert!(is_deploy_time(
            &super::super::clock::Timestamp::from_millis(0).compact()
        ));
        for bad in [
            "",
            ".",
            "..",
            "../../x",
            "/abs",
            "x.retired",
            "20250601T123005.042Z/..",
            "20250601T123005.042Z\n",
            "20250601T123005.042",
            "2025060xT123005.042Z",
            "20250601T123005.04Z",
            "20250601T12300.042Z",
            "2025060112345678901T123005.042Z",
        ] {
            assert!(!is_deploy_time(bad), "{bad:?}");
        }
    }
}
