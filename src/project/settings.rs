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
"#,
        )
        .expect("valid settings");
        assert_eq!(
            settings.base.layouts["example/runtime"],
            PathBuf::from("../base")
        );
        assert_eq!(settings.dags.ignore_syntax, IgnoreSyntax::Regexp);
        assert_eq!(settings.build.args["RUNTIME"], "1.0");
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_line() {
        let err = Settings::parse("[dags]\nignore-syntax = \"regex\"\n").expect_err("bad value");
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = Settings::parse("[bild]\n").expect_err("unknown table");
        assert!(err.to_string().contains("bild"), "{err}");
    }
}
