//! `airlock lock`: the lock made or checked without building an image (Debian
//! packages re-resolved, Python pins kept while they fit unless `--upgrade`).

use serde::Serialize;

use super::BuildError;
use super::load::load;
use super::options::{BuildOptions, Reporter};
use super::pin::{DebianPins, pin, write_lock};
use super::prefetch::Ahead;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct LockSummary {
    /// Whether `airlock.lock` was written.
    pub updated: bool,
    /// Whether a resolution ran (else the existing pins were kept).
    pub resolved: bool,
    pub wheels: usize,
    /// `name from → to` for each base distribution the lock replaces.
    pub base_upgrades: Vec<String>,
    /// Locked Debian packages, `name=version`.
    pub debs: Vec<String>,
}

/// Locks the project's inputs (the base digest, the input hashes and the Python
/// wheels), writing `airlock.lock` only when it changes. With `LockMode::Locked`,
/// only checks that the lock is up to date.
pub(crate) fn lock(
    options: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<LockSummary, BuildError> {
    let (session, wanted) = load(options, Ahead::Nothing, reporter)?;
    let pinned = pin(session, wanted, options, DebianPins::Relocked, reporter)?;
    // A Dockerfile `RUN` in the sandbox is pinned by running it (an `ADD <URL>` by
    // downloading it): the layers up to it are realised as a build would (the lock is
    // written on the way).
    let plan = super::plan::plan(&pinned, options)?;
    let updated = match plan.layers.iter().any(|step| step.pinned_when_realised()) {
        true => {
            let cache = super::cache::LayerCache::none();
            super::realise::realise(&plan, &cache, reporter)?.lock_updated
        }
        false => write_lock(
            options.lock_mode,
            pinned.session.on_disk.as_ref(),
            &pinned.lock,
            &pinned.session.lock_path,
        )?,
    };
    drop(plan);
    let (wanted, plan) = (pinned.lock, pinned.python);
    Ok(LockSummary {
        updated,
        resolved: plan.as_ref().is_some_and(|p| p.resolved),
        wheels: wanted.wheels.len(),
        base_upgrades: plan.map(|p| p.base_upgrades).unwrap_or_default(),
        debs: wanted
            .debs
            .iter()
            .map(|d| format!("{}={}", d.name, d.version))
            .collect(),
    })
}

/// Fails with `LockError::Stale` when `airlock.lock` is missing or was made from other
/// inputs (base, `packages.txt`, `requirements.txt`, `[debian]`) than the project has
/// now. Writes nothing and resolves nothing: a cheap check before work that needs the
/// lock as it is (a `--locked` build then checks the rest).
pub(crate) fn check_lock(
    options: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<(), BuildError> {
    let stale = |path, reason: &str| -> BuildError {
        crate::lock::LockError::Stale {
            path,
            reason: reason.to_string(),
        }
        .into()
    };
    let path = options.project_dir.join(crate::lock::LOCK_FILE);
    if !path.exists() {
        // Before the base is loaded: without a lock, loading it may ask a registry.
        return Err(stale(path, "it does not exist"));
    }
    let (session, mut wanted) = load(options, Ahead::Nothing, reporter)?;
    super::debian::fill_lock(&mut wanted, None, false, &session, true)?;
    // The other images the Dockerfile reads: the lock must pin each (nothing is
    // pulled to check their tags).
    if let Some(lock) = &session.on_disk {
        let used = super::images::used_images(&session.project.dockerfile);
        if let Some(reason) = crate::lock::images_drift(&used, &lock.images) {
            return Err(stale(session.lock_path, &reason));
        }
        wanted.images = lock.images.clone();
    }
    match &session.on_disk {
        None => Err(stale(session.lock_path, "it does not exist")),
        Some(lock) => match lock.staleness(&wanted) {
            Some(reason) => Err(stale(session.lock_path, &reason)),
            None => Ok(()),
        },
    }
}
