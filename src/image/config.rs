//! The child image's config and manifest, serialized canonically.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{BaseImage, ImageError};
use crate::digest::Digest;
use crate::oci::{Descriptor, descriptor, image_manifest, manifest_json, media_types};
use crate::project::dockerfile::{Change, ConfigChanges, HealthcheckSpec, RunCommand};

/// The standard annotation naming the base image of a manifest.
pub(crate) const BASE_NAME_ANNOTATION: &str = "org.opencontainers.image.base.name";
/// The standard annotation holding the base image's manifest digest.
pub(crate) const BASE_DIGEST_ANNOTATION: &str = "org.opencontainers.image.base.digest";

/// One history entry the build appends.
#[derive(Debug, Clone)]
pub(crate) struct HistoryEntry {
    pub created_by: String,
    pub comment: Option<String>,
    pub empty_layer: bool,
}

/// Everything that changes between the base config and ours.
#[derive(Debug, Clone)]
pub(crate) struct ConfigInputs {
    pub env: Vec<(String, String)>,
    /// Labels set by the build (merged over the base's labels).
    pub labels: BTreeMap<String, String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    /// The other config fields the Dockerfile changes.
    pub changes: ConfigChanges,
    pub new_diff_ids: Vec<Digest>,
    pub history: Vec<HistoryEntry>,
    /// Unix seconds (`SOURCE_DATE_EPOCH` or 0).
    pub created: u64,
}

impl ConfigChanges {
    /// Applies the changes to the config's `config` object and the root (`author`).
    fn apply(&self, root: &mut Map<String, Value>) {
        if let Some(author) = &self.author {
            root.insert("author".into(), Value::String(author.clone()));
        }
        let cfg = object(root.entry("config").or_insert_with(|| json!({})));
        for (key, change) in [("Cmd", &self.cmd), ("Entrypoint", &self.entrypoint)] {
            match change {
                Change::Keep => {}
                Change::Reset => {
                    cfg.remove(key);
                }
                Change::Set(words) => {
                    cfg.insert(key.into(), json!(words));
                }
            }
        }
        for (key, set) in [
            ("ExposedPorts", &self.exposed_ports),
            ("Volumes", &self.volumes),
        ] {
            if set.is_empty() {
                continue;
            }
            let map = object(cfg.entry(key).or_insert_with(|| json!({})));
            for item in set {
                map.insert(item.clone(), json!({}));
            }
        }
        if let Some(healthcheck) = &self.healthcheck {
            cfg.insert("Healthcheck".into(), healthcheck_json(healthcheck.as_ref()));
        }
        if let Some(signal) = &self.stop_signal {
            cfg.insert("StopSignal".into(), Value::String(signal.clone()));
        }
        if let Some(shell) = &self.shell {
            cfg.insert("Shell".into(), json!(shell));
        }
        // The base's triggers are consumed by this build, as Docker does.
        cfg.remove("OnBuild");
        if !self.onbuild.is_empty() {
            cfg.insert("OnBuild".into(), json!(self.onbuild));
        }
    }
}

/// A `HEALTHCHECK` as the config stores it (durations in nanoseconds, zero left out).
fn healthcheck_json(spec: Option<&HealthcheckSpec>) -> Value {
    let Some(spec) = spec else {
        return json!({"Test": ["NONE"]});
    };
    let test: Vec<String> = match &spec.test {
        RunCommand::Exec(words) => std::iter::once("CMD".to_string())
            .chain(words.iter().cloned())
            .collect(),
        RunCommand::Shell(text) => vec!["CMD-SHELL".into(), text.clone()],
    };
    let mut map = Map::new();
    map.insert("Test".into(), json!(test));
    for (key, value) in [
        ("Interval", spec.interval),
        ("Timeout", spec.timeout),
        ("StartPeriod", spec.start_period),
        ("StartInterval", spec.start_interval),
        ("Retries", spec.retries),
    ] {
        if let Some(value) = value.filter(|v| *v != 0) {
            map.insert(key.into(), json!(value));
        }
    }
    Value::Object(map)
}

/// Formats Unix seconds as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
pub(crate) fn rfc3339(seconds: u64) -> String {
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
pub(crate) fn assemble_config(
    base: &BaseImage,
    inputs: &ConfigInputs,
) -> Result<Vec<u8>, ImageError> {
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
    inputs.changes.apply(root);

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
pub(crate) fn build_manifest(
    config: &[u8],
    layers: Vec<Descriptor>,
    annotations: BTreeMap<String, String>,
) -> Result<Vec<u8>, ImageError> {
    let mut manifest = image_manifest(
        descriptor(
            media_types::OCI_CONFIG,
            Digest::of(config),
            config.len() as u64,
        ),
        layers,
    );
    if !annotations.is_empty() {
        manifest.set_annotations(Some(annotations.into_iter().collect()));
    }
    manifest_json(&manifest).map_err(ImageError::Json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::DescriptorExt as _;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    /// A Docker-built base config: fields the image spec does not name (`Healthcheck`,
    /// `OnBuild`, `container_config`...) and maps in no particular order.
    fn docker_base_config() -> Value {
        json!({
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-05-01T10:00:00.123456789Z",
            "docker_version": "24.0.7",
            "container": "0123abcd",
            "container_config": {"Hostname": "0123abcd"},
            "config": {
                "Hostname": "",
                "User": "astro",
                "Env": ["PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"],
                "Cmd": ["airflow", "standalone"],
                "Entrypoint": ["/entrypoint"],
                "ExposedPorts": {"8080/tcp": {}},
                "Volumes": {"/data": {}},
                "WorkingDir": "/usr/local/airflow",
                "Labels": {"z.vendor": "base", "a.version": "1"},
                "OnBuild": ["COPY . ./"],
                "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30000000000u64},
                "Shell": ["/bin/bash", "-c"],
                "ArgsEscaped": true,
                "StopSignal": "SIGTERM"
            },
            "rootfs": {"type": "layers", "diff_ids": [Digest::of(b"base layer").to_string()]},
            "history": [{"created": "2024-05-01T10:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file"}]
        })
    }

    fn golden_inputs() -> ConfigInputs {
        ConfigInputs {
            env: vec![
                ("PATH".into(), "/usr/local/bin:/usr/bin".into()),
                ("AIRFLOW_HOME".into(), "/usr/local/airflow".into()),
            ],
            labels: BTreeMap::from([
                ("io.airlock.project".to_string(), "quickstart".to_string()),
                ("a.version".to_string(), "2".to_string()),
            ]),
            user: Some("astro".into()),
            working_dir: Some("/usr/local/airflow".into()),
            changes: ConfigChanges::default(),
            new_diff_ids: vec![Digest::of(b"python"), Digest::of(b"dags")],
            history: vec![
                HistoryEntry {
                    created_by: "ONBUILD COPY . ./ # carried out by airlock".into(),
                    comment: None,
                    empty_layer: true,
                },
                HistoryEntry {
                    created_by: "COPY dags/ # airlock: DAGs layer".into(),
                    comment: Some("airlock dags layer".into()),
                    empty_layer: false,
                },
            ],
            created: 1_700_000_000,
        }
    }

    /// Why the config stays `serde_json::Value` instead of `oci-spec`'s
    /// `ImageConfiguration`: read through it, a Docker-built base loses what the image
    /// spec does not name, `OnBuild` (which airlock carries out) among them, so the
    /// child's config, and its digest, would change.
    #[test]
    fn image_config_stays_json_as_oci_spec_drops_base_fields() {
        let base = docker_base_config();
        let typed: oci_spec::image::ImageConfiguration =
            serde_json::from_value(base.clone()).expect("oci-spec reads the config");
        let round_trip = serde_json::to_value(&typed).expect("serialize");
        let lost: Vec<&str> = [
            "/config/OnBuild",
            "/config/Healthcheck",
            "/config/Shell",
            "/config/ArgsEscaped",
            "/config/Hostname",
            "/container_config",
            "/docker_version",
        ]
        .into_iter()
        .filter(|pointer| base.pointer(pointer).is_some() && round_trip.pointer(pointer).is_none())
        .collect();
        assert_eq!(lost.len(), 7, "lost only {lost:?}");
    }

    const GOLDEN_CONFIG: &str = r#"{"architecture":"amd64","config":{"ArgsEscaped":true,"Cmd":["airflow","standalone"],"Entrypoint":["/entrypoint"],"Env":["PATH=/usr/local/bin:/usr/bin","AIRFLOW_HOME=/usr/local/airflow"],"ExposedPorts":{"8080/tcp":{}},"Healthcheck":{"Interval":30000000000,"Test":["CMD","true"]},"Hostname":"","Labels":{"a.version":"2","io.airlock.project":"quickstart","z.vendor":"base"},"Shell":["/bin/bash","-c"],"StopSignal":"SIGTERM","User":"astro","Volumes":{"/data":{}},"WorkingDir":"/usr/local/airflow"},"created":"2023-11-14T22:13:20Z","history":[{"created":"2024-05-01T10:00:00Z","created_by":"/bin/sh -c #(nop) ADD file"},{"created":"2023-11-14T22:13:20Z","created_by":"ONBUILD COPY . ./ # carried out by airlock","empty_layer":true},{"comment":"airlock dags layer","created":"2023-11-14T22:13:20Z","created_by":"COPY dags/ # airlock: DAGs layer"}],"os":"linux","rootfs":{"diff_ids":["sha256:31b1bea262a65f3b89522e134cef5e65962a5c1727666859ef2448fd439ccccf","sha256:11a4a60b518bf24989d481468076e5d5982884626aed9faeb35b8576fcd223e1","sha256:286f37dea028b2fe180cc17fbb4362e8dd3a9afe513ca591f8e53100ef448814"],"type":"layers"}}"#;
    const GOLDEN_MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:27839e91f0a7b5912b67e98285be6787fc28b7a40d1dcd54d237cbed8580b235","size":1117},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:cf9be55ee0ee8ce920d97f72f479ff47d192b49b61e7bea857f6e19719ed9314","size":13,"annotations":{"a.layer":"first","z.layer":"base"}},{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:13da0c74937c3bc8f57d2f00d3fda25345ad6f93b5cef1f87f3983c266f3f2ec","size":9},{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:fae108e12a6d517e1b0692f142bb222ebaeea77c9c2210126f9f2eb17661598e","size":7}],"annotations":{"org.opencontainers.image.base.digest":"sha256:29de6ae7260ab17cda315946a9325c32bc6ded91129eef7f2d10a2781f5b9bcc","org.opencontainers.image.base.name":"127.0.0.1:5000/runtime:3.0"}}"#;

    /// The config and manifest bytes of a fixed build, byte for byte: every image
    /// digest airlock prints is the digest of these bytes.
    #[test]
    fn golden_config_and_manifest_bytes() {
        let temp = tempfile::tempdir().expect("tempdir");
        let store = crate::store::Store::open(temp.path()).expect("store");
        let mut base = super::super::scratch_base(&store).expect("scratch");
        base.config = docker_base_config();
        let config = assemble_config(&base, &golden_inputs()).expect("config");
        assert_eq!(String::from_utf8_lossy(&config), GOLDEN_CONFIG);
        let mut base_layer = descriptor(
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            Digest::of(b"base layer gz"),
            13,
        );
        base_layer.annotate("z.layer", "base");
        base_layer.annotate("a.layer", "first");
        let layers = vec![
            base_layer,
            descriptor(media_types::OCI_LAYER_GZIP, Digest::of(b"python gz"), 9),
            descriptor(media_types::OCI_LAYER_GZIP, Digest::of(b"dags gz"), 7),
        ];
        let annotations = BTreeMap::from([
            (
                "org.opencontainers.image.base.name".to_string(),
                "127.0.0.1:5000/runtime:3.0".to_string(),
            ),
            (
                "org.opencontainers.image.base.digest".to_string(),
                Digest::of(b"base manifest").to_string(),
            ),
        ]);
        let manifest = build_manifest(&config, layers, annotations).expect("manifest");
        assert_eq!(String::from_utf8_lossy(&manifest), GOLDEN_MANIFEST);
        assert_eq!(
            Digest::of(&config).to_string(),
            "sha256:27839e91f0a7b5912b67e98285be6787fc28b7a40d1dcd54d237cbed8580b235"
        );
        assert_eq!(
            Digest::of(&manifest).to_string(),
            "sha256:60655aea0b06fd96f4f423d2a39890a8dddab8f1e14ab41ce36d2780c5bf9c45"
        );
        // The scratch base's manifest names the empty image in lockfiles.
        assert_eq!(
            base.manifest_digest.to_string(),
            "sha256:2687cdd9eadcf77129a0507545a2699d7c1011759af22a3a729b0d522432d458"
        );
    }
}
