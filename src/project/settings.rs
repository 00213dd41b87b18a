//! `airlock.toml`: the project's own settings.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::airflowignore::IgnoreSyntax;

/// The parsed `airlock.toml`. Every section is optional; unknown keys are errors so a
/// typo never silently falls back to a default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    #[serde(default)]
    pub base: BaseSettings,
    #[serde(default)]
    pub dags: DagSettings,
    #[serde(default)]
    pub build: BuildSettings,
    #[serde(default)]
    pub registry: RegistrySettings,
    #[serde(default)]
    pub debian: DebianSettings,
    /// Named deployments (`[deployments.NAME]`), for `airlock deploy`.
    #[serde(default)]
    pub deployments: BTreeMap<String, DeploymentSettings>,
    #[serde(default)]
    pub python: PythonSettings,
    #[serde(default)]
    pub cache: CacheSettings,
}

/// `[cache]`: the registry layer cache of `build` (flags and `AIRLOCK_CACHE_FROM` /
/// `AIRLOCK_CACHE_TO` win over it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CacheSettings {
    /// Registry repositories looked up, in order, for a layer before it is built.
    #[serde(default)]
    pub from: Vec<String>,
    /// The registry repository every layer of a build is stored in.
    pub to: Option<String>,
}

/// One deployment: where its images, DAG bundles and record live, and what its
/// deploys check.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeploymentSettings {
    /// The image repository, `registry/repository` (no tag). The deployment record
    /// lives here too.
    pub image: String,
    /// The repository for DAG bundles (default: the image repository).
    pub dag_bundles: Option<String>,
    /// The image label holding the Runtime version, compared on every image deploy.
    pub runtime_label: Option<String>,
    /// This deployment runs images without the Runtime label, on purpose (else such
    /// an image is refused, whatever the flags).
    #[serde(default)]
    pub allow_non_runtime_images: bool,
    /// Deploys skip the DAG check (`deploy --parse` runs it anyway).
    #[serde(default)]
    pub skip_parse: bool,
}

/// `[python]`: where `requirements.txt` is resolved from. URLs may hold `${VAR}`
/// references (e.g. a token), expanded from the environment when used and never
/// written to the lock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PythonSettings {
    /// The primary index (PEP 503 / 691 simple API), as pip's `--index-url`.
    pub index_url: Option<String>,
    /// More indexes, as pip's `--extra-index-url`.
    #[serde(default)]
    pub extra_index_urls: Vec<String>,
    /// Directories of wheels (relative to the project) or pages of links.
    #[serde(default)]
    pub find_links: Vec<String>,
    /// Ignore files uploaded after this time (`2025-06-01` or RFC 3339).
    pub exclude_newer: Option<String>,
    /// Let the resolution change distributions the base image has installed.
    #[serde(default)]
    pub allow_base_upgrades: bool,
    /// Never build a wheel from an sdist (pip's `--only-binary :all:`).
    #[serde(default)]
    pub no_build: bool,
}

/// How airlock talks to registries.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegistrySettings {
    /// The registry for short image names (`runtime:1` → `<default>/library/runtime:1`,
    /// as Docker normalizes them). Without it, short names are an error.
    pub default: Option<String>,
    /// Registries (`host[:port]`) spoken to in plain HTTP. Loopback is allowed anyway.
    #[serde(default)]
    pub insecure: Vec<String>,
    /// PEM files trusted on top of the system trust store, relative to the project.
    #[serde(default)]
    pub ca_files: Vec<PathBuf>,
    /// Size of each chunk of a chunked blob upload, in bytes.
    pub chunk_size: Option<u64>,
    /// Blobs transferred at once.
    pub parallelism: Option<usize>,
}

/// `[debian]`: where `packages.txt` is resolved from. By default the base image's
/// own apt sources and keyrings are used, exactly as `apt-get` inside it would.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DebianSettings {
    /// The release codename (`bookworm`) when the base has no `/etc/os-release`,
    /// e.g. `FROM scratch`.
    pub release: Option<String>,
    /// Ignore the base's own apt sources and use only `repositories`.
    #[serde(default)]
    pub replace_sources: bool,
    /// Repositories read in addition to (or, with `replace-sources`, instead of) the
    /// base's own, in priority order before them.
    #[serde(default)]
    pub repositories: Vec<DebianRepository>,
    /// Repository roots tried, in order, for a `.deb` its own source no longer has
    /// (e.g. a snapshot mirror).
    #[serde(default)]
    pub fallback_urls: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DebianRepository {
    pub uri: String,
    /// Suite or codename; default: the release.
    pub suite: Option<String>,
    /// Default: `["main"]`.
    pub components: Option<Vec<String>>,
    /// An OpenPGP key file (armored or binary), relative to the project directory.
    pub key: Option<PathBuf>,
    /// Accept an unsigned or unverifiable repository on purpose.
    #[serde(default)]
    pub trusted: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BaseSettings {
    /// Maps an image name as written after `FROM` (without its tag) to a local OCI
    /// image layout, relative to the project directory. The `FROM` tag selects the
    /// manifest by its `org.opencontainers.image.ref.name`.
    #[serde(default)]
    pub layouts: BTreeMap<String, PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DagSettings {
    /// Syntax of `dags/.airflowignore`: `glob` (Airflow 3's default) or `regexp`.
    #[serde(default)]
    pub ignore_syntax: IgnoreSyntax,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BuildSettings {
    /// Default `--output` (e.g. `oci:.airlock/oci:latest`).
    pub output: Option<String>,
    /// Default `--build-arg` values.
    #[serde(default)]
    pub args: BTreeMap<String, String>,
    /// Layer compression, `gzip` (the default) or `zstd`; `--compression` overrides it.
    pub compression: Option<crate::oci::Compression>,
}

impl Settings {
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_sections() {
        let settings = Settings::parse(
            r#"
[base.layouts]
"example/runtime" = "../base"

[dags]
ignore-syntax = "regexp"

[build]
output = "oci:out:v1"
args = { RUNTIME = "1.0" }

[registry]
default = "127.0.0.1:5000"
insecure = ["127.0.0.1:5001"]
parallelism = 8

[deployments.dev]
image = "127.0.0.1:5000/team/airflow"
dag-bundles = "127.0.0.1:5000/team/dags"

[deployments.legacy]
image = "127.0.0.1:5000/team/legacy"
allow-non-runtime-images = true
skip-parse = true
"#,
        )
        .expect("valid settings");
        assert_eq!(
            settings.base.layouts["example/runtime"],
            PathBuf::from("../base")
        );
        assert_eq!(settings.dags.ignore_syntax, IgnoreSyntax::Regexp);
        assert_eq!(settings.build.args["RUNTIME"], "1.0");
        assert_eq!(settings.registry.default.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(settings.registry.parallelism, Some(8));
        let dev = &settings.deployments["dev"];
        assert_eq!(dev.image, "127.0.0.1:5000/team/airflow");
        assert_eq!(dev.dag_bundles.as_deref(), Some("127.0.0.1:5000/team/dags"));
        assert_eq!(dev.runtime_label, None);
        assert!(!dev.allow_non_runtime_images && !dev.skip_parse);
        let legacy = &settings.deployments["legacy"];
        assert!(legacy.allow_non_runtime_images && legacy.skip_parse);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_line() {
        let err = Settings::parse("[dags]\nignore-syntax = \"regex\"\n").expect_err("bad value");
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = Settings::parse("[bild]\n").expect_err("unknown table");
        assert!(err.to_string().contains("bild"), "{err}");
    }
}
