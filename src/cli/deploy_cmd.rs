//! `airlock deploy`.

use anyhow::Context;
use tokio::runtime::Handle;

use super::args::{DeployArgs, GlobalArgs};
use super::deployment_cmd::{choose, describe};
use super::reporter::Spinner;
use super::settings::Resolved;
use crate::deploy::{DeployMode, DeployOptions, deploy};

pub(super) fn run(global: &GlobalArgs, args: &DeployArgs, runtime: &Handle) -> anyhow::Result<()> {
    let settings = Resolved::project(global, &args.project_dir)?.with_source_date_epoch()?;
    let named = args
        .deployment
        .as_deref()
        .or(args.deployment_name.as_deref());
    let name = choose(&settings.file, named, args.prompt)?;
    let options = DeployOptions {
        project_dir: args.project_dir.clone(),
        store_dir: settings.store_dir.clone(),
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
        parse: args.parse,
        allow_runtime_downgrade: args.allow_runtime_downgrade,
        pytest: args.pytest,
        test_path: args.test.clone(),
        env_file: args.env.clone(),
        remote: settings.flags_remote(false),
        runtime: runtime.clone(),
        source_date_epoch: settings.source_date_epoch,
        secrets: args.secrets.iter().cloned().collect(),
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
            "attached": outcome.attached.iter().map(super::deployment_cmd::artifact_json).collect::<Vec<_>>(),
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
    if !global.quiet {
        for artifact in &outcome.attached {
            eprintln!(
                "Attached {} {}",
                artifact
                    .artifact_type()
                    .as_ref()
                    .map_or("artifact", AsRef::as_ref),
                artifact.digest()
            );
        }
    }
    print!("{}", describe(&written.record, Some(&written.digest)));
    Ok(())
}
