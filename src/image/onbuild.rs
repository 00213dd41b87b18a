//! ONBUILD triggers of a base image, recognised and carried out natively.
//!
//! An Astro Runtime base asks every child build to copy `packages.txt` and install
//! it, copy `requirements.txt` and install it, and copy the project (`COPY --chown=…
//! . .`), switching `USER` around the installs. airlock performs those steps itself;
//! any trigger outside that vocabulary is refused rather than silently skipped.

use std::collections::BTreeMap;

use super::ImageError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OnBuildStep {
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
pub(crate) struct OnBuildPlan {
    pub steps: Vec<OnBuildStep>,
    /// `--chown` of the project copy, when the triggers copy the project.
    pub project_chown: Option<String>,
    /// The `USER` in force after the triggers ran, when they set one.
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// The Python install step refuses an `apache-airflow` pin in `requirements.txt`
    /// (the Runtime's rule, see [`airflow_pin`]): the script form always, the inline
    /// form when its text carries the check.
    pub airflow_guard: bool,
    /// The `USER` in force when the triggers install Python packages (what `~` means
    /// to the base's pip), when they say.
    pub python_user: Option<String>,
}

/// The line of `requirements` the Runtime's ONBUILD trigger refuses, if any: `grep -Eqx
/// 'apache-airflow\s*[=~>]{1,2}.*'`, i.e. a whole line starting with `apache-airflow`,
/// optional whitespace, then `=`, `~` or `>`. Returns the 1-based line number and the
/// line (without its end-of-line characters).
pub(crate) fn airflow_pin(requirements: &str) -> Option<(usize, String)> {
    const NAME: &str = "apache-airflow";
    // `\s` in a POSIX class: space, tab, newline, vertical tab, form feed, return.
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r');
    requirements
        .split('\n')
        .enumerate()
        .find_map(|(index, line)| {
            let rest = line.strip_prefix(NAME)?.trim_start_matches(is_space);
            rest.starts_with(['=', '~', '>'])
                .then(|| (index + 1, line.trim_end_matches('\r').to_string()))
        })
}

fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

fn is_here(dest: &str) -> bool {
    matches!(dest, "." | "./")
}

/// Whether the Python install trigger carries the Runtime's guard against pinning
/// Airflow: the script (`install-python-dependencies`) does; inline shell does when it
/// checks for `apache-airflow`.
fn guards_airflow(trigger: &str) -> bool {
    trigger.contains("install-python-dependencies") || trigger.contains("apache-airflow")
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
pub(crate) fn plan_onbuild(triggers: &[String]) -> Result<OnBuildPlan, ImageError> {
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
            OnBuildStep::InstallPythonDependencies => {
                plan.airflow_guard |= guards_airflow(trigger);
                plan.python_user = plan.user.clone();
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

    /// The Runtime's inline triggers, as its image config carries them.
    fn inline_triggers() -> Vec<String> {
        [
            "COPY packages.txt .",
            "USER root",
            "RUN if [[ -s packages.txt ]]; then     apt-get update && cat packages.txt | tr '\\r\\n' '\\n' | sed -e 's/#.*//' | xargs apt-get install -y --no-install-recommends     && apt-get clean     && rm -rf /var/lib/apt/lists/*;   fi",
            "COPY requirements.txt .",
            "RUN if grep -Eqx 'apache-airflow\\s*[=~>]{1,2}.*' requirements.txt; then     echo >&2 \"Do not upgrade by specifying 'apache-airflow' in your requirements.txt, change the base image instead!\";  exit 1;   fi;   pip install --no-cache-dir -r requirements.txt",
            "USER astro",
            "COPY --chown=astro:0 . .",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn astro_10_both_trigger_forms_are_recognised_and_guarded() {
        let script = plan_onbuild(&astro_triggers()).expect("script form");
        assert!(script.airflow_guard);
        assert_eq!(script.python_user.as_deref(), Some("astro"));
        let inline = plan_onbuild(&inline_triggers()).expect("inline form");
        assert_eq!(
            inline.steps,
            [
                OnBuildStep::CopyPackagesTxt,
                OnBuildStep::User("root".into()),
                OnBuildStep::InstallSystemPackages,
                OnBuildStep::CopyRequirementsTxt,
                OnBuildStep::InstallPythonDependencies,
                OnBuildStep::User("astro".into()),
                OnBuildStep::CopyProject {
                    chown: Some("astro:0".into())
                },
            ]
        );
        assert!(inline.airflow_guard);
        assert_eq!(inline.python_user.as_deref(), Some("root"));
        assert_eq!(inline.user.as_deref(), Some("astro"));
        // A plain `pip install` trigger is recognised but carries no guard.
        let plain =
            plan_onbuild(&["RUN pip install -r requirements.txt".to_string()]).expect("plain pip");
        assert!(!plain.airflow_guard);
        assert!(!plan_onbuild(&[]).expect("none").airflow_guard);
    }

    #[test]
    fn astro_3_the_runtime_rule_for_airflow_pins() {
        for refused in [
            "apache-airflow==2.10.5",
            "apache-airflow>=2.9",
            "apache-airflow~=2.10",
            "apache-airflow==2.9.0",
            "apache-airflow ==3.0.2",
            "apache-airflow\t>3",
            "apache-airflow===3.0.2",
            "apache-airflow==3.0.2  # pinned\r",
            "apache-airflow=3",
        ] {
            let text = format!("pandas\n# comment\n{refused}\nrequests\n");
            assert_eq!(
                airflow_pin(&text),
                Some((3, refused.trim_end_matches('\r').to_string())),
                "{refused:?}"
            );
        }
        for allowed in [
            "apache-airflow",
            "apache-airflow<3",
            "apache-airflow!=2.9",
            "apache-airflow[celery]==3.0.2",
            "apache-airflow-providers-http==4.0",
            "apache_airflow==3.0.2",
            "Apache-Airflow==3.0.2",
            " apache-airflow==3.0.2",
            "# apache-airflow==3.0.2",
            "pandas; apache-airflow==3",
            "",
        ] {
            assert_eq!(airflow_pin(allowed), None, "{allowed:?}");
        }
    }

    #[test]
    fn no_triggers_is_an_empty_plan() {
        assert_eq!(plan_onbuild(&[]).expect("empty"), OnBuildPlan::default());
    }
}
