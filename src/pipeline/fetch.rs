//! `airlock fetch`, and what a lock needs from the store (`cache export`, `cache gc
//! --keep-locks`): the build's first three stages (load, pin under `--locked`, plan)
//! without making a layer.
//!
//! `fetch` brings into the store the base and the other images the Dockerfile reads
//! (by the locked digests), every locked `.deb` and wheel, and the layers the registry
//! layer cache (`--cache-from`) holds, so that `build --frozen` then needs no network.

use std::path::Path;

use serde::Serialize;

use super::BuildError;
use super::cache::LayerCache;
use super::layers::Below;
use super::load::load;
use super::options::{BuildOptions, LockMode, Reporter};
use super::pin::{DebianPins, pin};
use super::plan::plan;
use super::prefetch::Ahead;
use crate::digest::Digest;
use crate::lock::{LOCK_FILE, Lockfile};
use crate::store::{LayerRecord, NeededKind, Needs, Store};

/// What `fetch` found and brought.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct FetchSummary {
    pub base_manifest_digest: Option<Digest>,
    pub debs: usize,
    pub wheels: usize,
    /// Layers the store held already.
    pub layers_present: usize,
    /// Layers the layer source gave.
    pub layers_fetched: usize,
    /// Layers neither had: `build --frozen` makes them from the fetched inputs.
    pub layers_to_build: usize,
}

/// Brings what the project's lock needs into the store (see the module's note). The
/// lock must exist and be fresh (as under `--locked`).
pub(crate) fn fetch(
    options: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<FetchSummary, BuildError> {
    let options = BuildOptions {
        lock_mode: LockMode::Locked,
        ..options.clone()
    };
    reporter.step("reading the project and its lock");
    let (session, wanted) = load(&options, Ahead::Downloads, reporter)?;
    let pinned = pin(session, wanted, &options, DebianPins::Kept, reporter)?;
    let plan = plan(&pinned, &options)?;
    let store = &pinned.session.store;
    let session = &pinned.session;
    let cache = LayerCache::new(&options.cache, &session.remote, &session.runtime, reporter);
    let mut summary = FetchSummary {
        base_manifest_digest: Some(pinned.session.base.manifest_digest.clone()),
        debs: pinned.lock.debs.len(),
        wheels: pinned.lock.wheels.len(),
        ..FetchSummary::default()
    };
    let base = &session.base;
    let mut keys = Vec::new();
    for step in &plan.layers {
        step.fetch_inputs(store, reporter)?;
        // A step's key takes the keys below it, as in a build (its records are
        // needed only to make a layer, which fetch never does).
        let below = Below {
            base,
            keys: &keys,
            layers: &[],
        };
        let Some(key) = step.key(&below, reporter)? else {
            continue;
        };
        keys.push(step.key_above(&key));
        if store.layer_record(&key)?.is_some() {
            summary.layers_present += 1;
        } else if let Some(layer) = cache.fetch(step.as_ref(), store, &key, reporter) {
            store.put_layer_record(&key, &layer.record)?;
            summary.layers_fetched += 1;
        } else {
            summary.layers_to_build += 1;
        }
    }
    Ok(summary)
}

/// What the project's lock needs from the store: the base's blobs, every locked
/// `.deb` and wheel, and the records (with blobs) of the layers a `--frozen` build
/// would look up. Offline: only the store is read. When the project cannot be
/// planned offline (its base not in the store, say), what the lock file names.
pub(crate) fn needs(options: &BuildOptions) -> Result<Needs, BuildError> {
    let lock_path = options.project_dir.join(LOCK_FILE);
    let Some(lock) = Lockfile::read(&lock_path)? else {
        return Err(crate::lock::LockError::Stale {
            path: lock_path,
            reason: "it does not exist".into(),
        }
        .into());
    };
    let store = Store::open(&options.store_dir)?;
    let mut needs = lock_needs(&store, &lock);
    let mut offline = BuildOptions {
        lock_mode: LockMode::Locked,
        ..options.clone()
    };
    offline.remote.offline = true;
    offline.python.offline = true;
    match planned_layers(&offline) {
        Ok(layers) => {
            for (key, record) in layers {
                needs.layer(key, record);
            }
        }
        Err(error) => {
            tracing::warn!(project = %options.project_dir.display(), %error, "cannot plan the project offline: keeping what its lock names");
        }
    }
    Ok(needs)
}

/// The stored records of the layers the project's plan looks up.
fn planned_layers(options: &BuildOptions) -> Result<Vec<(Digest, LayerRecord)>, BuildError> {
    let (session, wanted) = load(options, Ahead::Nothing, &())?;
    let pinned = pin(session, wanted, options, DebianPins::Kept, &())?;
    let plan = plan(&pinned, options)?;
    let store = &pinned.session.store;
    let base = &pinned.session.base;
    let (mut keys, mut layers) = (Vec::new(), Vec::new());
    for step in &plan.layers {
        let below = Below {
            base,
            keys: &keys,
            layers: &[],
        };
        let Some(key) = step.key(&below, &())? else {
            continue;
        };
        keys.push(step.key_above(&key));
        if let Some(record) = store.layer_record(&key)? {
            layers.push((key, record));
        }
    }
    Ok(layers)
}

/// What the lock file names: the base manifest (and, when the store has it, its
/// config and layers), the `.deb`s and the wheels.
fn lock_needs(store: &Store, lock: &Lockfile) -> Needs {
    let mut needs = Needs::default();
    // The base and the other images the Dockerfile reads (`[[images]]`).
    let manifests =
        std::iter::once(&lock.base.manifest).chain(lock.images.iter().map(|i| &i.manifest));
    for manifest in manifests {
        needs.bases.insert(manifest.clone());
        needs.blob(manifest.clone(), NeededKind::Base, None);
        let Some(value) = store
            .read_blob(manifest)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        else {
            continue;
        };
        let config = value.pointer("/config/digest").into_iter();
        let layers = value["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l.get("digest"));
        for digest in config.chain(layers) {
            if let Some(digest) = digest.as_str().and_then(|d| d.parse::<Digest>().ok()) {
                needs.blob(digest, NeededKind::Base, None);
            }
        }
    }
    for deb in &lock.debs {
        let name = Path::new(&deb.filename)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        needs.blob(deb.sha256.clone(), NeededKind::Deb, name);
    }
    for wheel in &lock.wheels {
        needs.blob(
            wheel.sha256.clone(),
            NeededKind::Wheel,
            Some(wheel.filename.clone()),
        );
    }
    needs
}
