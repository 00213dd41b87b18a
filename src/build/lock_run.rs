//! `airlock lock`: the lock made or checked without building an image (Debian
//! packages re-resolved, Python pins kept while they fit unless `--upgrade`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::python_stage::{self, PythonContext, PythonOptions};
use super::run::{BuildOptions, LockMode, Reporter};
use super::{BuildError, load_base};
use crate::digest::Digest;
use crate::image::read_facts;
use crate::lock::{LOCK_FILE, LockError, LockedBase, Lockfile};
use crate::project::Project;
use crate::store::Store;

#[derive(Debug, Clone, Serialize)]
pub struct LockSummary {
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
pub fn lock(options: &BuildOptions, reporter: &dyn Reporter) -> Result<LockSummary, BuildError> {
    let project = Project::load(&options.project_dir, &options.build_args)?;
    let store = Store::open(&options.store_dir)?;
    let lock_path = project.root.join(LOCK_FILE);
    let on_disk = Lockfile::read(&lock_path)?;
    let pinned = on_disk
        .as_ref()
        .filter(|lock| {
            !options.upgrade_base && lock.base.reference == project.dockerfile.from.image
        })
        .map(|lock| lock.base.manifest.clone());
    let remote = options
        .remote
        .clone()
        .with_settings(&project.settings.registry, &project.root);
    reporter.step("reading the base image");
    let (base, _) = load_base(
        &store,
        &project,
        options.base_layout.as_deref(),
        &remote,
        pinned.as_ref(),
    )?;
    let facts = read_facts(&store, &base)?;
    let inputs: BTreeMap<String, Digest> = ["packages.txt", "requirements.txt"]
        .iter()
        .filter_map(|name| {
            project
                .inputs
                .get(*name)
                .map(|text| (name.to_string(), Digest::of(text.as_bytes())))
        })
        .collect();
    let mut wanted = Lockfile::new(
        LockedBase {
            reference: base.reference.clone(),
            manifest: base.manifest_digest.clone(),
        },
        inputs,
    );
    // Debian: `airlock lock` re-resolves `packages.txt` against the archive as it is
    // now (like `cargo update`); `build` keeps the locked set while inputs are unchanged.
    reporter.step("resolving Debian packages");
    super::debian::fill_lock(
        &mut wanted,
        None,
        options.lock_mode == LockMode::Update,
        &store,
        &project,
        &facts,
        remote.offline,
    )?;
    let python_options = PythonOptions {
        offline: options.python.offline || remote.offline,
        ca_files: remote.ca_files.clone(),
        ..options.python.clone()
    };
    let plan = python_stage::lock_python(
        &PythonContext {
            project: &project,
            facts: &facts,
            base_env: &base.env(),
            on_disk: on_disk.as_ref(),
            lock_path: &lock_path,
            mode: options.lock_mode,
            options: &python_options,
            store: &store,
            reporter,
        },
        &mut wanted,
    )?;
    if options.lock_mode == LockMode::Locked {
        let reason = match &on_disk {
            None => Some("it does not exist".to_string()),
            Some(lock) if lock != &wanted => Some(
                lock.staleness(&wanted)
                    .unwrap_or_else(|| "its pins differ".to_string()),
            ),
            Some(_) => None,
        };
        if let Some(reason) = reason {
            return Err(LockError::Stale {
                path: lock_path,
                reason,
            }
            .into());
        }
    }
    let updated = options.lock_mode == LockMode::Update
        && on_disk.as_ref() != Some(&wanted)
        && wanted.write(&lock_path)?;
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
