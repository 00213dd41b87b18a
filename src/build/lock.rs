//! `airlock lock`: resolve the project's inputs now and write `airlock.lock`,
//! without building an image.

use std::collections::BTreeMap;

use serde::Serialize;

use super::run::{BuildOptions, Reporter};
use super::{BuildError, load_base};
use crate::digest::Digest;
use crate::image::read_facts;
use crate::lock::{LOCK_FILE, LockedBase, Lockfile};
use crate::project::Project;
use crate::store::Store;

#[derive(Debug, Clone, Serialize)]
pub struct LockResult {
    pub path: String,
    pub base_manifest_digest: Digest,
    /// Locked Debian packages, `name=version`.
    pub debs: Vec<String>,
    pub updated: bool,
}

/// Resolves `packages.txt` against the archive as it is now (like `cargo update`)
/// and writes the lock. Uses the same base selection as `build`.
pub fn lock(options: &BuildOptions, reporter: &dyn Reporter) -> Result<LockResult, BuildError> {
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
    reporter.step("resolving Debian packages");
    // No lock on disk is consulted: this is the explicit re-resolution.
    super::debian::fill_lock(
        &mut wanted,
        None,
        true,
        &store,
        &project,
        &facts,
        remote.offline,
    )?;
    let updated = wanted.write(&lock_path)?;
    Ok(LockResult {
        path: lock_path.display().to_string(),
        base_manifest_digest: base.manifest_digest,
        debs: wanted
            .debs
            .iter()
            .map(|d| format!("{}={}", d.name, d.version))
            .collect(),
        updated,
    })
}
