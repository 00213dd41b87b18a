//! The child image's config and manifest, serialized canonically.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{BaseImage, ImageError};
use crate::digest::Digest;
use crate::oci::{Descriptor, ImageManifest, media_types};

/// The standard annotation naming the base image of a manifest.
pub const BASE_NAME_ANNOTATION: &str = "org.opencontainers.image.base.name";
/// The standard annotation holding the base image's manifest digest.
pub const BASE_DIGEST_ANNOTATION: &str = "org.opencontainers.image.base.digest";

/// One history entry the build appends.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub created_by: String,
    pub comment: Option<String>,
    pub empty_layer: bool,
}

/// Everything that changes between the base config and ours.
#[derive(Debug, Clone)]
pub struct ConfigInputs {
    pub env: Vec<(String, String)>,
    /// Labels set by the build (merged over the base's labels).
    pub labels: BTreeMap<String, String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub new_diff_ids: Vec<Digest>,
    pub history: Vec<HistoryEntry>,
    /// Unix seconds (`SOURCE_DATE_EPOCH` or 0).
    pub created: u64,
}

/// Formats Unix seconds as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
pub fn rfc3339(seconds: u64) -> String {
    let days = seconds / 86_400;
    let rem = seconds % 86_400;
    let (hour, minute, second) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

fn object(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

/// The base config with our changes applied, as canonical JSON bytes (sorted keys,
/// no insignificant whitespace). ONBUILD triggers are consumed, as Docker does.
pub fn assemble_config(base: &BaseImage, inputs: &ConfigInputs) -> Result<Vec<u8>, ImageError> {
    let mut config = base.config.clone();
    let root = object(&mut config);
    let created = rfc3339(inputs.created);
    root.insert("created".into(), Value::String(created.clone()));
    root.insert("architecture".into(), json!("amd64"));
    root.insert("os".into(), json!("linux"));
    for docker_only in ["container", "container_config", "docker_version"] {
        root.remove(docker_only);
    }

    let cfg = object(root.entry("config").or_insert_with(|| json!({})));
    cfg.insert(
        "Env".into(),
        Value::Array(
            inputs
                .env
                .iter()
                .map(|(k, v)| Value::String(format!("{k}={v}")))
                .collect(),
        ),
    );
    let labels = object(cfg.entry("Labels").or_insert_with(|| json!({})));
    for (k, v) in &inputs.labels {
        labels.insert(k.clone(), Value::String(v.clone()));
    }
    if let Some(user) = &inputs.user {
        cfg.insert("User".into(), Value::String(user.clone()));
    }
    if let Some(dir) = &inputs.working_dir {
        cfg.insert("WorkingDir".into(), Value::String(dir.clone()));
    }
    cfg.remove("OnBuild");

    let rootfs = object(
        root.entry("rootfs")
            .or_insert_with(|| json!({"type": "layers"})),
    );
    rootfs.insert("type".into(), json!("layers"));
    let diff_ids = rootfs.entry("diff_ids").or_insert_with(|| json!([]));
    if let Value::Array(ids) = diff_ids {
        ids.extend(
            inputs
                .new_diff_ids
                .iter()
                .map(|d| Value::String(d.to_string())),
        );
    }

    let history = root.entry("history").or_insert_with(|| json!([]));
    if let Value::Array(items) = history {
        for entry in &inputs.history {
            let mut item = Map::new();
            item.insert("created".into(), Value::String(created.clone()));
            item.insert("created_by".into(), Value::String(entry.created_by.clone()));
            if let Some(comment) = &entry.comment {
                item.insert("comment".into(), Value::String(comment.clone()));
            }
            if entry.empty_layer {
                item.insert("empty_layer".into(), Value::Bool(true));
            }
            items.push(Value::Object(item));
        }
    }
    serde_json::to_vec(&config).map_err(ImageError::Json)
}

/// The manifest for a config and the full layer list, as canonical JSON bytes.
pub fn build_manifest(
    config: &[u8],
    layers: Vec<Descriptor>,
    annotations: BTreeMap<String, String>,
) -> Result<Vec<u8>, ImageError> {
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media_types::OCI_MANIFEST.to_string()),
        artifact_type: None,
        config: Descriptor::new(
            media_types::OCI_CONFIG,
            Digest::of(config),
            config.len() as u64,
        ),
        layers,
        subject: None,
        annotations,
    };
    serde_json::to_vec(&manifest).map_err(ImageError::Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
