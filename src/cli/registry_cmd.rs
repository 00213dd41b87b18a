//! `airlock pull`, `push`, `login` and `logout`.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::args::{GlobalArgs, LoginArgs, LogoutArgs, PullArgs, PushArgs};
use super::build_cmd::store_dir;
use super::reporter::TransferBar;
use crate::env_vars;
use crate::pipeline::{OutputSpec, RemoteOptions, pull_base, push_image, read_image};
use crate::registry::{CredentialEnv, CredentialStore, Secret};
use crate::store::Store;

/// Registry options from the global flags and, when present, the current directory's
/// `airlock.toml`.
pub fn remote_options(
    global: &GlobalArgs,
    offline: bool,
    bar: Option<Arc<TransferBar>>,
) -> RemoteOptions {
    let mut remote = RemoteOptions {
        insecure: global.insecure_registries.clone(),
        ca_files: global.ca_file.clone(),
        offline,
        ..RemoteOptions::default()
    };
    if let Some(bar) = bar {
        remote.progress = bar;
    }
    remote
}

fn settings_of_cwd() -> crate::project::Settings {
    std::fs::read_to_string("airlock.toml")
        .ok()
        .and_then(|text| crate::project::Settings::parse(&text).ok())
        .unwrap_or_default()
}

pub fn pull(global: &GlobalArgs, args: &PullArgs) -> anyhow::Result<()> {
    let store = Store::open(store_dir(global))?;
    let bar = TransferBar::new(global.quiet);
    let remote = remote_options(global, args.offline, Some(bar.clone()))
        .with_settings(&settings_of_cwd().registry, std::path::Path::new("."));
    let result = pull_base(&store, &remote, &args.reference, None);
    bar.finish();
    let (base, _) = result.with_context(|| format!("Cannot pull `{}`", args.reference))?;
    if !global.quiet {
        eprintln!(
            "Pulled {} ({} layers) into {}",
            args.reference,
            base.layers.len(),
            store.root().display()
        );
        // Attached SBOMs and provenance, from the referrers tag; a registry that
        // refuses the look-up only loses this listing.
        if !args.offline
            && let Ok(attached) =
                super::sbom_cmd::list_attached(&remote, &args.reference, &base.manifest_digest)
        {
            for artifact in attached {
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
    }
    println!("{}", base.manifest_digest);
    Ok(())
}

pub fn push(global: &GlobalArgs, args: &PushArgs) -> anyhow::Result<()> {
    let from = match &args.from {
        Some(spec) => OutputSpec::parse(spec)?,
        None => OutputSpec::default_for(std::path::Path::new(".")),
    };
    let image = read_image(&from)
        .with_context(|| format!("Cannot read the image `{}`", from.describe()))?;
    let bar = TransferBar::new(global.quiet || args.json);
    let remote = remote_options(global, false, Some(bar.clone()))
        .with_settings(&settings_of_cwd().registry, std::path::Path::new("."));
    let result = push_image(&remote, &args.reference, &image);
    bar.finish();
    let summary = result.with_context(|| format!("Cannot push to `{}`", args.reference))?;
    // SBOMs and provenance a `build --sbom/--provenance` wrote beside the image.
    let documents = super::sbom_cmd::documents_beside(from.path(), &summary.digest);
    let attached = super::sbom_cmd::attach(
        global,
        &remote,
        &args.reference,
        &image.manifest,
        &documents,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    if !global.quiet {
        eprintln!(
            "Pushed {}: {} blob(s) uploaded, {} already there, {} mounted",
            summary.reference, summary.uploaded, summary.existed, summary.mounted
        );
        for artifact in &attached {
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
    println!("{}", summary.digest);
    Ok(())
}

pub fn login(global: &GlobalArgs, args: &LoginArgs) -> anyhow::Result<()> {
    let env = CredentialEnv::from_process();
    let username = args
        .username
        .clone()
        .or_else(|| std::env::var(env_vars::AIRLOCK_REGISTRY_USER).ok())
        .context("No user name: pass `--username` or set `AIRLOCK_REGISTRY_USER`")?;
    let password = if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("Cannot read the password from standard input")?;
        text.trim_end_matches(['\r', '\n']).to_string()
    } else {
        std::env::var(env_vars::AIRLOCK_REGISTRY_PASSWORD)
            .context("No password: pass `--password-stdin` or set `AIRLOCK_REGISTRY_PASSWORD`")?
    };
    if password.is_empty() {
        anyhow::bail!("The password is empty");
    }
    let path: PathBuf = CredentialStore::new(env)
        .login(&args.registry, &username, &Secret::new(password))
        .with_context(|| format!("Cannot store credentials for `{}`", args.registry))?;
    if !global.quiet {
        eprintln!(
            "Stored credentials for {} in {}",
            args.registry,
            path.display()
        );
    }
    Ok(())
}

pub fn logout(global: &GlobalArgs, args: &LogoutArgs) -> anyhow::Result<()> {
    let removed = CredentialStore::new(CredentialEnv::from_process())
        .logout(&args.registry)
        .with_context(|| format!("Cannot remove credentials for `{}`", args.registry))?;
    if !global.quiet {
        if removed {
            eprintln!("Removed the credentials for {}", args.registry);
        } else {
            eprintln!("No credentials were stored for {}", args.registry);
        }
    }
    Ok(())
}
