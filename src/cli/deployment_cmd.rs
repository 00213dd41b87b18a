//! `airlock deployment inspect|history|update` and `airlock dags sync`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::time::Duration;

use anyhow::Context;
use tokio::runtime::Handle;

use super::args::{
    DagsSyncArgs, DeploymentCommand, DeploymentHistoryArgs, DeploymentInspectArgs,
    DeploymentUpdateArgs, GlobalArgs, Toggle,
};
use super::settings::Resolved;
use crate::deploy::{
    DeployError, Deployment, DeploymentRemote, Record, StoredRecord, SyncOutcome, history,
    set_dag_deploy, sync_once,
};
use crate::printable::printable;
use crate::project::Settings;
use crate::project::settings::DeploymentSettings;
use crate::store::Store;

/// The deployment `name` (from `airlock.toml`, or a `registry/repository`) and its
/// registry side (its requests on `runtime`).
pub(super) fn open(
    settings: &Resolved,
    name: &str,
    runtime: &Handle,
) -> anyhow::Result<DeploymentRemote> {
    let deployments = &settings.file.deployments;
    let deployment = if name.contains('/') && !deployments.contains_key(name) {
        Deployment::from_settings(
            name,
            &DeploymentSettings {
                image: name.to_string(),
                ..DeploymentSettings::default()
            },
        )?
    } else {
        Deployment::find(deployments, name)?
    };
    let store = Store::open(&settings.store_dir)?;
    Ok(DeploymentRemote::new(
        deployment,
        &settings.remote(false),
        store,
        runtime.clone(),
    )?)
}

/// Asks `question` on stderr and reads one line of standard input (empty at EOF).
pub(super) fn ask(question: &str) -> anyhow::Result<String> {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("Cannot read the answer from standard input")?;
    Ok(line.trim().to_string())
}

/// The deployment a command acts on: the one `named`, the only one in `airlock.toml`,
/// or the user's choice (asked on a terminal, or always with `prompt`).
pub(super) fn choose(
    settings: &Settings,
    named: Option<&str>,
    prompt: bool,
) -> anyhow::Result<String> {
    let names: Vec<String> = settings.deployments.keys().cloned().collect();
    if !prompt {
        if let Some(name) = named {
            return Ok(name.to_string());
        }
        match names.as_slice() {
            [] => return Err(DeployError::NoDeployments.into()),
            [only] => return Ok(only.clone()),
            _ if !interactive() => {
                return Err(DeployError::ChooseDeployment {
                    names: crate::deploy::deployment_names(&settings.deployments),
                }
                .into());
            }
            _ => {}
        }
    }
    if names.is_empty() {
        return Err(DeployError::NoDeployments.into());
    }
    eprintln!("Deployments:");
    for (i, name) in names.iter().enumerate() {
        eprintln!("  {}) {name}", i + 1);
    }
    let answer = ask(&format!("Which deployment? [1-{}] ", names.len()))?;
    let chosen = answer
        .parse::<usize>()
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| names.get(i))
        .or_else(|| names.iter().find(|n| **n == answer));
    match chosen {
        Some(name) => Ok(name.clone()),
        None if answer.is_empty() => Err(DeployError::Cancelled.into()),
        None => Err(DeployError::UnknownDeployment {
            name: answer,
            known: crate::deploy::deployment_names(&settings.deployments),
        }
        .into()),
    }
}

pub(super) fn run(
    global: &GlobalArgs,
    command: &DeploymentCommand,
    runtime: &Handle,
) -> anyhow::Result<bool> {
    match command {
        DeploymentCommand::Inspect(args) => inspect(global, args, runtime),
        DeploymentCommand::History(args) => show_history(global, args, runtime),
        DeploymentCommand::Update(args) => update(global, args, runtime),
    }
    .map(|()| true)
}

/// The record's fields, one per line, as `inspect` and `deploy` print them; every
/// value is registry text, escaped.
pub(super) fn describe(record: &Record, digest: Option<&crate::digest::Digest>) -> String {
    let mut lines: Vec<(&str, String)> = vec![("Deployment", record.deployment.clone())];
    if let Some(digest) = digest {
        lines.push(("Record", digest.to_string()));
    }
    match &record.image {
        Some(image) => {
            lines.push(("Docker Image", image.reference()));
            lines.push((
                "Runtime Version",
                image
                    .runtime_version
                    .clone()
                    .unwrap_or_else(|| "unknown".into()),
            ));
        }
        None => lines.push(("Docker Image", "none deployed yet".into())),
    }
    match &record.dag_bundle {
        Some(bundle) => {
            lines.push(("DAG Bundle Version", bundle.version.clone()));
            lines.push((
                "DAG Bundle",
                format!("{}@{}", bundle.repository, bundle.digest),
            ));
        }
        None => lines.push((
            "DAG Bundle Version",
            if record.image.as_ref().is_some_and(|i| i.includes_dags) {
                "none (the DAGs are in the image)".into()
            } else {
                "none".into()
            },
        )),
    }
    lines.push((
        "DAG Deploy Enabled",
        if record.dag_deploy_enabled {
            "true"
        } else {
            "false"
        }
        .into(),
    ));
    lines.push(("Last Action", record.action.as_str().into()));
    if let Some(description) = &record.description {
        lines.push(("Description", description.clone()));
    }
    lines.push(("Deployed At", record.deployed_at.clone()));
    if let Some(git) = &record.git {
        let mut commit = git.commit.clone();
        if let Some(branch) = &git.branch {
            commit.push_str(&format!(" ({branch})"));
        }
        if git.dirty {
            commit.push_str(" with uncommitted changes");
        }
        lines.push(("Git Commit", commit));
        if let Some(author) = &git.author {
            lines.push(("Git Author", author.clone()));
        }
        if let Some(remote) = &git.remote {
            lines.push(("Git Remote", remote.clone()));
        }
    }
    lines
        .iter()
        .map(|(k, v)| format!("{:<20}{}\n", format!("{k}:"), printable(v)))
        .collect()
}

fn record_json(stored: &StoredRecord) -> serde_json::Value {
    serde_json::json!({"record_digest": stored.digest, "record": stored.record})
}

fn inspect(
    global: &GlobalArgs,
    args: &DeploymentInspectArgs,
    runtime: &Handle,
) -> anyhow::Result<()> {
    let settings = Resolved::project(global, &args.project_dir)?;
    let remote = open(&settings, &args.deployment, runtime)?;
    let stored = remote
        .read_record()
        .with_context(|| format!("Cannot read the record of `{}`", args.deployment))?
        .ok_or_else(|| DeployError::NoRecord {
            name: remote.deployment.name.clone(),
        })?;
    // The SBOMs and provenance attached to the current image (issue 17); a registry
    // that cannot say is reported, not fatal: the record is what inspect is for.
    let attached = match &stored.record.image {
        Some(image) => match remote.attached(&image.digest) {
            Ok(list) => Some(list),
            Err(error) => {
                tracing::warn!(%error, "cannot list the artifacts attached to the image");
                None
            }
        },
        None => Some(Vec::new()),
    };
    if args.json {
        let mut value = record_json(&stored);
        value["artifacts"] = match &attached {
            Some(list) => list.iter().map(artifact_json).collect(),
            None => serde_json::Value::Null,
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", describe(&stored.record, Some(&stored.digest)));
        match &attached {
            Some(list) if list.is_empty() => println!("{:<20}none", "Attached:"),
            Some(list) => {
                for (i, artifact) in list.iter().enumerate() {
                    println!(
                        "{:<20}{} {}",
                        if i == 0 { "Attached:" } else { "" },
                        printable(
                            artifact
                                .artifact_type()
                                .as_ref()
                                .map_or("artifact", AsRef::as_ref)
                        ),
                        artifact.digest()
                    );
                }
            }
            None => println!("{:<20}cannot be listed", "Attached:"),
        }
    }
    Ok(())
}

/// An attached artifact as `deploy --json` and `deployment inspect --json` show it.
pub(super) fn artifact_json(artifact: &crate::oci::Descriptor) -> serde_json::Value {
    serde_json::json!({
        "artifact_type": artifact.artifact_type(),
        "digest": artifact.digest(),
        "size": artifact.size(),
    })
}

fn show_history(
    global: &GlobalArgs,
    args: &DeploymentHistoryArgs,
    runtime: &Handle,
) -> anyhow::Result<()> {
    let settings = Resolved::project(global, &args.project_dir)?;
    let remote = open(&settings, &args.deployment, runtime)?;
    let records = history(&remote, args.limit)
        .with_context(|| format!("Cannot read the history of `{}`", args.deployment))?;
    if records.is_empty() {
        return Err(DeployError::NoRecord {
            name: remote.deployment.name.clone(),
        }
        .into());
    }
    if args.json {
        let all: Vec<_> = records.iter().map(record_json).collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    for stored in &records {
        let r = &stored.record;
        let image = r
            .image
            .as_ref()
            .map_or("-".to_string(), |i| i.digest.hex()[..12].to_string());
        let dags = r.dag_bundle.as_ref().map_or("-", |b| b.version.as_str());
        let commit: String = r
            .git
            .as_ref()
            .map_or("-".into(), |g| g.commit.chars().take(12).collect());
        println!(
            "{}  {}  {:<12}  image {image}  dags {}  commit {}  {}",
            &stored.digest.hex()[..12],
            printable(&r.deployed_at),
            r.action.as_str(),
            printable(dags),
            printable(&commit),
            printable(r.description.as_deref().unwrap_or(""))
        );
    }
    Ok(())
}

/// The lines of `describe`: `Key:` padded to 20 columns, then the value.
fn lines(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{:<20}{v}\n", format!("{k}:")))
        .collect()
}

/// A deployment's settings: from `airlock.toml`, and DAG-only deploys from its record.
fn settings_text(deployment: &Deployment, record: Option<&Record>) -> String {
    let enabled = record.is_none_or(|r| r.dag_deploy_enabled);
    lines(&[
        ("Deployment", deployment.name.clone()),
        ("Image Repository", deployment.images.to_string()),
        ("DAG Bundles", deployment.bundles.to_string()),
        ("DAG Deploy Enabled", enabled.to_string()),
        ("Runtime Label", deployment.runtime_label.clone()),
        (
            "Non-Runtime Images",
            if deployment.allow_non_runtime_images {
                "allowed"
            } else {
                "refused"
            }
            .into(),
        ),
        (
            "DAG Check",
            if deployment.skip_parse {
                "skipped (skip-parse)"
            } else {
                "on"
            }
            .into(),
        ),
    ])
}

fn update(
    global: &GlobalArgs,
    args: &DeploymentUpdateArgs,
    runtime: &Handle,
) -> anyhow::Result<()> {
    let settings = Resolved::project(global, &args.project_dir)?;
    let named = args
        .deployment
        .as_deref()
        .or(args.deployment_name.as_deref());
    let name = choose(&settings.file, named, false)?;
    let remote = open(&settings, &name, runtime)?;
    let name = remote.deployment.name.clone();
    let parent = remote.read_record()?;
    let Some(toggle) = args.dag_deploy else {
        // Nothing to change: the current settings.
        print!(
            "{}",
            settings_text(&remote.deployment, parent.as_ref().map(|p| &p.record))
        );
        return Ok(());
    };
    let enabled = parent.as_ref().is_none_or(|p| p.record.dag_deploy_enabled);
    let want = toggle == Toggle::Enable;
    if enabled == want {
        if !global.quiet {
            eprintln!(
                "DAG-only deploys are already {} for `{name}`; nothing changed",
                if want { "enabled" } else { "disabled" }
            );
        }
        return Ok(());
    }
    if !want {
        eprintln!(
            "warning: with DAG-only deploys disabled, the DAGs leave the bundle: the next image deploy (`airlock deploy {name}`) builds them into the image, and `airlock deploy {name} --dags` is refused."
        );
        if !args.force {
            let answer = ask("Disable DAG-only deploys? [y/N] ")?;
            if !matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes") {
                // Declined: not an error, as with the Astro CLI.
                eprintln!(
                    "Cancelled: DAG-only deploys stay enabled for `{name}`; nothing was changed"
                );
                return Ok(());
            }
        }
    }
    let stored = set_dag_deploy(&remote, parent.as_ref(), want, &args.project_dir)
        .with_context(|| format!("Cannot update `{name}`"))?;
    if !global.quiet {
        if want {
            eprintln!(
                "DAG-only deploys are enabled for `{name}`. New DAGs appear only after the next `airlock deploy {name} --dags`; until then the deployment keeps the DAGs it has."
            );
        } else {
            eprintln!(
                "DAG-only deploys are disabled for `{name}`. Run `airlock deploy {name}` to ship the DAGs in the image."
            );
        }
    }
    println!("{}", stored.digest);
    Ok(())
}

pub(super) fn sync(
    global: &GlobalArgs,
    args: &DagsSyncArgs,
    runtime: &Handle,
) -> anyhow::Result<()> {
    let settings = Resolved::project(global, &args.project_dir)?;
    let remote = open(&settings, &args.deployment, runtime)?;
    let grace = Duration::from_secs(args.grace_period);
    loop {
        match sync_once(&remote, &args.dest, grace) {
            Ok(outcome) => {
                if !global.quiet {
                    match &outcome {
                        SyncOutcome::Switched {
                            version,
                            path,
                            files,
                        } => eprintln!(
                            "{} now holds DAG bundle version {} ({files} files, in {})",
                            args.dest.display(),
                            printable(version),
                            printable(&path.display().to_string())
                        ),
                        SyncOutcome::Current { version } => eprintln!(
                            "{} already holds DAG bundle version {}",
                            args.dest.display(),
                            printable(version)
                        ),
                        SyncOutcome::NoBundle => eprintln!(
                            "`{}` has no DAG bundle (DAG-only deploys are off, or none was pushed); {} is left as it is",
                            printable(&remote.deployment.name),
                            args.dest.display()
                        ),
                    }
                }
            }
            Err(error) if !args.once => {
                // A loop keeps the current DAGs and tries again next time.
                super::render::print_error(&anyhow::Error::from(error));
            }
            Err(error) => {
                return Err(anyhow::Error::from(error).context(format!(
                    "Cannot sync the DAGs of `{}`; {} is unchanged",
                    remote.deployment.name,
                    args.dest.display()
                )));
            }
        }
        if args.once {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(args.interval.max(1)));
    }
}

/// Whether standard input can answer questions.
pub(super) fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::{Action, BundleRef, GitInfo};
    use crate::digest::Digest;

    /// A record built in code skips the checks on read: the printing escapes anyway.
    #[test]
    fn registry_text_is_escaped_on_output() {
        let evil = "\u{1b}]0;owned\u{7}\u{1b}[2J";
        let record = Record {
            schema_version: 1,
            deployment: format!("dev{evil}"),
            image: None,
            dag_bundle: Some(BundleRef {
                repository: "127.0.0.1:5000/team/airflow".into(),
                digest: Digest::of(b"m"),
                version: format!("v{evil}"),
                blob: Digest::of(b"b"),
                size: 1,
            }),
            dag_deploy_enabled: true,
            action: Action::Deploy,
            description: Some(format!("line\n{evil}")),
            deployed_at: evil.into(),
            git: Some(GitInfo {
                commit: "0123".into(),
                branch: Some(evil.into()),
                author: Some(evil.into()),
                remote: Some(evil.into()),
                dirty: false,
                subject: None,
            }),
            parent: None,
        };
        let text = describe(&record, None);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
        assert!(text.contains("line\\n\\u{1b}]0;owned"), "{text}");
        assert_eq!(text.lines().count(), 11, "one line per field:\n{text}");
    }
}
