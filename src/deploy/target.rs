//! A deployment as `airlock.toml` names it, resolved into registry repositories.

use std::collections::BTreeMap;

use super::DeployError;
use crate::project::settings::DeploymentSettings;
use crate::registry::{Reference, Repository};

/// The label of Astro Runtime images that holds the Runtime version.
pub(super) const DEFAULT_RUNTIME_LABEL: &str = "io.astronomer.docker.runtime.version";

/// One deployment, ready to talk to its registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub name: String,
    /// Images go here, tagged `deploy-<time>`; the record lives here too.
    pub images: Repository,
    /// DAG bundles go here, tagged `dags-<version>`.
    pub bundles: Repository,
    pub runtime_label: String,
    /// Images without `runtime_label` are deployed (else refused).
    pub allow_non_runtime_images: bool,
    /// Deploys skip the DAG check unless `--parse` asks for it.
    pub skip_parse: bool,
}

fn repository(name: &str, text: &str) -> Result<Repository, DeployError> {
    let bad = |source| DeployError::BadRepository {
        name: name.to_string(),
        text: text.to_string(),
        source,
    };
    let reference = Reference::parse_with_default(text, None).map_err(|e| bad(Some(e)))?;
    if reference.tag().is_some() || reference.digest().is_some() {
        return Err(bad(None));
    }
    Ok(reference.repository().clone())
}

impl Deployment {
    pub fn from_settings(name: &str, settings: &DeploymentSettings) -> Result<Self, DeployError> {
        let images = repository(name, &settings.image)?;
        let bundles = match &settings.dag_bundles {
            Some(text) => repository(name, text)?,
            None => images.clone(),
        };
        Ok(Self {
            name: name.to_string(),
            images,
            bundles,
            runtime_label: settings
                .runtime_label
                .clone()
                .unwrap_or_else(|| DEFAULT_RUNTIME_LABEL.to_string()),
            allow_non_runtime_images: settings.allow_non_runtime_images,
            skip_parse: settings.skip_parse,
        })
    }

    /// The deployment `name` of `all`, checking that no two share an image repository
    /// (the repository is where the record lives, so it is the deployment's identity).
    pub fn find(
        all: &BTreeMap<String, DeploymentSettings>,
        name: &str,
    ) -> Result<Self, DeployError> {
        if all.is_empty() {
            return Err(DeployError::NoDeployments);
        }
        let Some(settings) = all.get(name) else {
            return Err(DeployError::UnknownDeployment {
                name: name.to_string(),
                known: names(all),
            });
        };
        let wanted = Self::from_settings(name, settings)?;
        for (other, other_settings) in all {
            if other != name
                && let Ok(resolved) = Self::from_settings(other, other_settings)
                && resolved.images == wanted.images
            {
                return Err(DeployError::SharedRepository {
                    first: name.to_string(),
                    second: other.clone(),
                    repository: wanted.images.to_string(),
                });
            }
        }
        Ok(wanted)
    }
}

/// The deployment names, backquoted and comma-separated.
pub(crate) fn names(all: &BTreeMap<String, DeploymentSettings>) -> String {
    let names: Vec<String> = all.keys().map(|n| format!("`{n}`")).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(image: &str) -> DeploymentSettings {
        DeploymentSettings {
            image: image.into(),
            ..DeploymentSettings::default()
        }
    }

    #[test]
    fn resolves_and_checks() {
        let mut all = BTreeMap::new();
        all.insert("dev".to_string(), settings("127.0.0.1:5000/team/af"));
        let dev = Deployment::find(&all, "dev").expect("dev");
        assert_eq!(dev.images.to_string(), "127.0.0.1:5000/team/af");
        assert_eq!(dev.bundles, dev.images);
        assert_eq!(dev.runtime_label, DEFAULT_RUNTIME_LABEL);
        assert!(matches!(
            Deployment::find(&all, "prod"),
            Err(DeployError::UnknownDeployment { .. })
        ));
        all.insert("prod".to_string(), settings("127.0.0.1:5000/team/af"));
        assert!(matches!(
            Deployment::find(&all, "prod"),
            Err(DeployError::SharedRepository { .. })
        ));
        all.insert("bad".to_string(), settings("127.0.0.1:5000/team/af:v1"));
        assert!(matches!(
            Deployment::find(&all, "bad"),
            Err(DeployError::BadRepository { .. })
        ));
    }
}
