//! `airlock deploy`.

use anyhow::Context;

use super::args::{DeployArgs, GlobalArgs};
use super::build_cmd::{source_date_epoch, store_dir};
use super::deployment_cmd::{ask, describe, interactive, settings_of};
use super::reporter::Spinner;
use crate::deploy::{DeployError, DeployMode, DeployOptions, deploy};

/// The deployment to deploy to: the one named, the only one, or the user's choice.
fn choose(args: &DeployArgs) -> anyhow::Result<String> {
    let settings = settings_of(&args.project_dir)?;
    let names: Vec<String> = settings.deployments.keys().cloned().collect();
    if !args.prompt {
        if let Some(name) = &args.deployment {
            return Ok(name.clone());
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

pub fn run(global: &GlobalArgs, args: &DeployArgs) -> anyhow::Result<()> {
    let name = choose(args)?;
    let options = DeployOptions {
        project_dir: args.project_dir.clone(),
        store_dir: store_dir(global),
        deployment: name.clone(),
        mode: if args.dags {
            DeployMode::DagsOnly
        } else if args.image {
            DeployMode::ImageOnly
        } else {
            DeployMode::Full
        },
        image_name: args.image_name.clone(),
        dags_path: args.dags_path.clone(),
        description: args.description.clone(),
        force: args.force,
        pytest: args.pytest,
        remote: super::registry_cmd::remote_options(global, false, None),
        source_date_epoch: source_date_epoch()?,
    };
    let spinner = Spinner::new(global.quiet || args.json);
    let result = deploy(&options, &spinner);
    spinner.finish();
    let outcome = result.with_context(|| format!("Cannot deploy to `{name}`"))?;
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    if args.json {
        let value = serde_json::json!({
            "record_digest": outcome.written.as_ref().map(|w| &w.digest),
            "changed": outcome.written.is_some(),
            "image_pushed": outcome.image_pushed,
            "bundle_pushed": outcome.bundle_pushed,
            "record": outcome.record,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let Some(written) = &outcome.written else {
        let version = outcome
            .record
            .dag_bundle
            .as_ref()
            .map_or("?", |b| b.version.as_str());
        println!(
            "The DAGs are unchanged since DAG bundle version {version}: nothing to deploy to `{name}`"
        );
        return Ok(());
    };
    if let Some(check) = &outcome.check
        && !global.quiet
    {
        eprintln!("Checked {} Python file(s): no errors", check.files);
    }
    let what = match (outcome.image_pushed, outcome.bundle_pushed) {
        (true, true) => "the image and the DAGs",
        (true, false) => "the image",
        (false, true) => "the DAGs",
        (false, false) => "nothing new",
    };
    println!("Deployed {what} to `{name}`");
    print!("{}", describe(&written.record, Some(&written.digest)));
    Ok(())
}
