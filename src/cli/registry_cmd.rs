//! `airlock pull`, `push`, `login` and `logout`.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio::runtime::Handle;

use super::args::{GlobalArgs, LoginArgs, LogoutArgs, PullArgs, PushArgs};
use super::reporter::Transfers;
use super::settings::Resolved;
use crate::env_vars;
use crate::image::pull_base;
use crate::pipeline::{OutputSpec, push_image, read_image};
use crate::registry::{CredentialEnv, CredentialStore, Secret};
use crate::store::Store;

pub(super) fn pull(global: &GlobalArgs, args: &PullArgs, runtime: &Handle) -> anyhow::Result<()> {
    // The working directory's `airlock.toml` gives the `[registry]` settings.
    let settings = Resolved::project(global, Path::new("."))?;
    let store = Store::open(&settings.store_dir)?;
    let bar = Transfers::standalone(global.quiet);
    let mut remote = settings.remote(args.offline);
    remote.progress = bar.clone();
    let result = pull_base(&store, &remote, runtime, &args.reference, None);
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
            && let Ok(attached) = super::sbom_cmd::list_attached(
                &remote,
                runtime,
                &args.reference,
                &base.manifest_digest,
            )
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

pub(super) fn push(global: &GlobalArgs, args: &PushArgs, runtime: &Handle) -> anyhow::Result<()> {
    // The working directory's `airlock.toml` gives the `[registry]` settings.
    let settings = Resolved::project(global, Path::new("."))?;
    let from = match &args.from {
        Some(spec) => OutputSpec::parse(spec)?,
        None => OutputSpec::default_for(Path::new(".")),
    };
    let image = read_image(&from)
        .with_context(|| format!("Cannot read the image `{}`", from.describe()))?;
    let bar = Transfers::standalone(global.quiet || args.json);
    let mut remote = settings.remote(false);
    remote.progress = bar.clone();
    let result = push_image(&remote, runtime, &args.reference, &image);
    bar.finish();
    let summary = result.with_context(|| format!("Cannot push to `{}`", args.reference))?;
    // SBOMs and provenance a `build --sbom/--provenance` wrote beside the image.
    let documents = super::sbom_cmd::documents_beside(from.path(), &summary.digest);
    let attached = super::sbom_cmd::attach(
        &settings,
        &remote,
        runtime,
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

pub(super) fn login(global: &GlobalArgs, args: &LoginArgs) -> anyhow::Result<()> {
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

pub(super) fn logout(global: &GlobalArgs, args: &LogoutArgs) -> anyhow::Result<()> {
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
