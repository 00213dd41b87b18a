//! ONBUILD triggers of a base image, recognised and carried out natively.
//!
//! An Astro Runtime base asks every child build to copy `packages.txt` and install
//! it, copy `requirements.txt` and install it, and copy the project (`COPY --chown=…
//! . .`), switching `USER` around the installs. airlock performs those steps itself;
//! any trigger outside that vocabulary is refused rather than silently skipped.

use std::collections::BTreeMap;

use super::ImageError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnBuildStep {
    CopyPackagesTxt,
    InstallSystemPackages,
    CopyRequirementsTxt,
    InstallPythonDependencies,
    /// `COPY [--chown=SPEC] . .`
    CopyProject {
        chown: Option<String>,
    },
    User(String),
    Label(String, String),
}

/// What the triggers of a base mean for the child image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnBuildPlan {
    pub steps: Vec<OnBuildStep>,
    /// `--chown` of the project copy, when the triggers copy the project.
    pub project_chown: Option<String>,
    /// The `USER` in force after the triggers ran, when they set one.
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
}

fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

fn is_here(dest: &str) -> bool {
    matches!(dest, "." | "./")
}

fn parse_step(trigger: &str) -> Option<OnBuildStep> {
    let trimmed = trigger.trim();
    let (keyword, rest) = trimmed.split_once(char::is_whitespace)?;
    let rest = rest.trim();
    match keyword.to_ascii_uppercase().as_str() {
        "COPY" => {
            let parts = words(rest);
            let (chown, args): (Option<String>, &[&str]) = match parts.split_first() {
                Some((flag, tail)) if flag.starts_with("--chown=") => {
                    (Some(flag.trim_start_matches("--chown=").to_string()), tail)
                }
                _ => (None, &parts[..]),
            };
            match args {
                ["packages.txt", dest] if is_here(dest) && chown.is_none() => {
                    Some(OnBuildStep::CopyPackagesTxt)
                }
                ["requirements.txt", dest] if is_here(dest) && chown.is_none() => {
                    Some(OnBuildStep::CopyRequirementsTxt)
                }
                [src, dest] if is_here(src) && is_here(dest) => {
                    Some(OnBuildStep::CopyProject { chown })
                }
                _ => None,
            }
        }
        "RUN" => {
            if rest.contains("install-system-packages")
                || (rest.contains("packages.txt") && rest.contains("apt-get"))
            {
                Some(OnBuildStep::InstallSystemPackages)
            } else if rest.contains("install-python-dependencies")
                || (rest.contains("pip install") && rest.contains("requirements.txt"))
            {
                Some(OnBuildStep::InstallPythonDependencies)
            } else {
                None
            }
        }
        "USER" if !rest.is_empty() && !rest.contains(char::is_whitespace) => {
            Some(OnBuildStep::User(rest.to_string()))
        }
        "LABEL" => {
            let (key, value) = rest.split_once('=')?;
            Some(OnBuildStep::Label(
                key.trim().to_string(),
                value.trim().trim_matches('"').to_string(),
            ))
        }
        _ => None,
    }
}

/// Recognises every trigger or fails on the first unknown one.
pub fn plan_onbuild(triggers: &[String]) -> Result<OnBuildPlan, ImageError> {
    let mut plan = OnBuildPlan::default();
    for trigger in triggers {
        let step = parse_step(trigger).ok_or_else(|| ImageError::UnknownTrigger {
            trigger: trigger.clone(),
        })?;
        match &step {
            OnBuildStep::CopyProject { chown } => plan.project_chown = chown.clone(),
            OnBuildStep::User(user) => plan.user = Some(user.clone()),
            OnBuildStep::Label(k, v) => {
                plan.labels.insert(k.clone(), v.clone());
            }
            _ => {}
        }
        plan.steps.push(step);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn astro_triggers() -> Vec<String> {
        [
            "COPY packages.txt .",
            "USER root",
            "RUN /usr/local/bin/install-system-packages",
            "USER astro",
            "COPY requirements.txt .",
            "RUN /usr/local/bin/install-python-dependencies",
            "COPY --chown=astro:0 . .",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn recognises_the_astro_sequence() {
        let plan = plan_onbuild(&astro_triggers()).expect("known triggers");
        assert_eq!(plan.project_chown.as_deref(), Some("astro:0"));
        assert_eq!(plan.user.as_deref(), Some("astro"));
        assert_eq!(plan.steps.len(), 7);
        assert_eq!(plan.steps[2], OnBuildStep::InstallSystemPackages);
        assert_eq!(plan.steps[5], OnBuildStep::InstallPythonDependencies);
    }

    #[test]
    fn refuses_unknown_triggers() {
        let mut triggers = astro_triggers();
        triggers.push("RUN curl something | sh".into());
        let err = plan_onbuild(&triggers).expect_err("unknown");
        assert!(err.to_string().contains("curl something"));
        assert!(plan_onbuild(&["COPY secrets /etc/".to_string()]).is_err());
        assert!(plan_onbuild(&["HEALTHCHECK NONE".to_string()]).is_err());
    }

    #[test]
    fn no_triggers_is_an_empty_plan() {
        assert_eq!(plan_onbuild(&[]).expect("empty"), OnBuildPlan::default());
    }
}
