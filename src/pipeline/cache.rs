//! The registry layer cache (`--cache-from` / `--cache-to`): between the store
//! lookup and `produce`, a layer the store lacks is looked up by its derivation key
//! in each `--cache-from` repository and, when found, its blob is downloaded
//! (verified against its digest) into the store and recorded under the key; every
//! layer the build has (built, reused or fetched) is then offered to the
//! `--cache-to` repository, which gets it only when its tag is missing. The format
//! is `registry::layer_cache`'s.
//!
//! A cache is optional: a repository that fails (down, refusing, damaged data) is
//! named in one warning and not asked again this build, and the layer is built. The
//! blobs known to be in a cache repository are mounted, not uploaded, by a `--push`
//! to the same registry.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use super::layers::{LayerStep, StoredLayer};
use super::options::Reporter;
use super::{BuildError, SkippedScript};
use crate::digest::Digest;
use crate::registry::{
    BlobSource, CacheEntry, RegistryClient, RegistryError, RemoteOptions, Repository, stored_blob,
};
use crate::store::Store;

/// The cache repositories a build reads and writes (references; a tag or digest in
/// them is ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CacheOptions {
    /// `--cache-from`: looked up in order.
    pub from: Vec<String>,
    /// `--cache-to`: where every layer of the build is stored.
    pub to: Option<String>,
}

impl CacheOptions {
    pub(crate) fn is_empty(&self) -> bool {
        self.from.is_empty() && self.to.is_none()
    }
}

/// Where a layer of the build came from (the build result's `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum LayerSource {
    /// The base image's own layer.
    Base,
    /// Made by this build.
    Built,
    /// Found in the local store.
    Store,
    /// Downloaded from a `--cache-from` repository.
    CachedFromRegistry,
}

/// The cache of one build.
pub(super) struct LayerCache {
    remote: Option<CacheRemote>,
    state: Mutex<CacheState>,
}

struct CacheRemote {
    client: RegistryClient,
    /// Hears of layer downloads (the client reports their bytes, this names them).
    progress: std::sync::Arc<dyn crate::http::Progress>,
    runtime: tokio::runtime::Handle,
    from: Vec<Repository>,
    to: Option<Repository>,
}

#[derive(Default)]
struct CacheState {
    /// Repositories that failed this build: not asked again.
    broken: HashSet<Repository>,
    /// Layer blobs known to be in a cache repository (for mounts).
    blobs: HashMap<Digest, Repository>,
    /// Layer blobs this build downloaded from a cache.
    fetched: HashSet<Digest>,
}

impl LayerCache {
    /// No cache: every lookup misses, nothing is stored.
    pub(super) fn none() -> Self {
        Self {
            remote: None,
            state: Mutex::default(),
        }
    }

    /// The cache `options` ask for, reached with `remote` on `runtime`. A reference
    /// that does not parse is a warning; offline, there is no cache.
    pub(super) fn new(
        options: &CacheOptions,
        remote: &RemoteOptions,
        runtime: &tokio::runtime::Handle,
        reporter: &dyn Reporter,
    ) -> Self {
        if options.is_empty() {
            return Self::none();
        }
        if remote.offline {
            // `[cache]` in `airlock.toml` must not make every `--frozen` build warn.
            tracing::info!("the registry layer cache is not used offline");
            return Self::none();
        }
        let repository = |text: &String| match remote.parse_reference(text) {
            Ok(reference) => Some(reference.repository().clone()),
            Err(error) => {
                reporter.warn(&format!("Ignoring the layer cache `{text}`: {error}"), None);
                None
            }
        };
        let from: Vec<Repository> = options.from.iter().filter_map(repository).collect();
        let to = options.to.as_ref().and_then(repository);
        let client = match remote.client("the registry layer cache") {
            Ok(client) => client,
            Err(error) => {
                reporter.warn(
                    &format!("The registry layer cache is off: {}", chain(&error)),
                    None,
                );
                return Self::none();
            }
        };
        Self {
            remote: Some(CacheRemote {
                client,
                progress: remote.progress.clone(),
                runtime: runtime.clone(),
                from,
                to,
            }),
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The layer of `key` from the first `--cache-from` repository that has it, its
    /// blob now in the store (the caller records it under `key`); `None` when none
    /// has it (or on errors, which are warnings).
    pub(super) fn fetch(
        &self,
        step: &dyn LayerStep,
        store: &Store,
        key: &Digest,
        reporter: &dyn Reporter,
    ) -> Option<StoredLayer> {
        let remote = self.remote.as_ref()?;
        for repository in &remote.from {
            if self.state().broken.contains(repository) {
                continue;
            }
            match self.fetch_from(remote, repository, step, store, key, reporter) {
                Ok(Some(layer)) => return Some(layer),
                Ok(None) => {}
                Err(error) => self.failed(repository, &error, reporter),
            }
        }
        None
    }

    fn fetch_from(
        &self,
        remote: &CacheRemote,
        repository: &Repository,
        step: &dyn LayerStep,
        store: &Store,
        key: &Digest,
        reporter: &dyn Reporter,
    ) -> Result<Option<StoredLayer>, BuildError> {
        let client = &remote.client;
        let Some(entry) = remote
            .runtime
            .block_on(client.cached_layer(repository, key))?
        else {
            tracing::debug!(%repository, %key, "not in the layer cache");
            return Ok(None);
        };
        if entry.kind != step.kind() {
            return Err(unusable(
                key,
                format!("a `{}` layer, not a `{}` one", entry.kind, step.kind()),
            ));
        }
        let skipped: Vec<SkippedScript> = if entry.note.is_null() {
            Vec::new()
        } else {
            serde_json::from_value(entry.note.clone()).map_err(|error| unusable(key, error))?
        };
        let record = entry.record;
        if !store.has_blob(&record.digest) {
            reporter.step(&format!(
                "fetching the cached {} layer from {repository}",
                step.kind()
            ));
            remote
                .progress
                .blob_named(&record.digest, &format!("cached {} layer", step.kind()));
            remote.runtime.block_on(client.fetch_blob_sized(
                repository,
                &record.digest,
                Some(record.size),
                &store.blob_path(&record.digest),
            ))?;
            // Checked once more by the store, which gives it the store's mode and
            // date (outputs link it: it must be readable by everyone).
            if !store.has_blob(&record.digest) {
                return Err(unusable(
                    key,
                    "the downloaded blob did not stay in the store",
                ));
            }
        }
        step.keep_skipped_scripts(store, key, &skipped)?;
        tracing::info!(kind = step.kind(), %key, %repository, "layer from the registry cache");
        let mut state = self.state();
        state.fetched.insert(record.digest.clone());
        state
            .blobs
            .insert(record.digest.clone(), repository.clone());
        drop(state);
        Ok(Some(StoredLayer {
            record,
            reused: true,
            skipped_scripts: skipped,
        }))
    }

    /// Stores `layer` (of `key`, in the store) in the `--cache-to` repository unless
    /// its tag is there already. Errors are warnings.
    pub(super) fn offer(
        &self,
        step: &dyn LayerStep,
        store: &Store,
        key: &Digest,
        layer: &StoredLayer,
        reporter: &dyn Reporter,
    ) {
        let Some(remote) = self.remote.as_ref() else {
            return;
        };
        let Some(to) = remote.to.as_ref() else {
            return;
        };
        let mount_from = {
            let state = self.state();
            if state.broken.contains(to) {
                return;
            }
            match state.blobs.get(&layer.record.digest) {
                // Fetched from there, or stored there already by this build.
                Some(known) if known == to => return,
                known => known.cloned(),
            }
        };
        let entry = CacheEntry {
            key: key.clone(),
            kind: step.kind().to_string(),
            record: layer.record.clone(),
            note: if layer.skipped_scripts.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::to_value(&layer.skipped_scripts).unwrap_or_default()
            },
        };
        let pushed = (|| -> Result<bool, BuildError> {
            let (config, _) = entry.artifact().map_err(|error| unusable(key, error))?;
            let config = stored_blob(store, &config)?;
            let kind = step.kind();
            remote
                .progress
                .blob_named(&layer.record.digest, &format!("{kind} layer"));
            remote
                .progress
                .blob_named(&config.digest, &format!("{kind} layer cache entry"));
            let blob = BlobSource {
                digest: layer.record.digest.clone(),
                size: layer.record.size,
                path: store.blob_path(&layer.record.digest),
            };
            Ok(remote.runtime.block_on(remote.client.push_cached_layer(
                to,
                &entry,
                &blob,
                &config,
                mount_from.as_ref(),
            ))?)
        })();
        match pushed {
            Ok(pushed) => {
                tracing::info!(kind = step.kind(), %key, %to, pushed, "layer in the registry cache");
                self.state()
                    .blobs
                    .insert(layer.record.digest.clone(), to.clone());
            }
            Err(error) => self.failed(to, &error, reporter),
        }
    }

    /// Whether this build downloaded the layer blob `digest` from a cache.
    pub(super) fn fetched(&self, digest: &Digest) -> bool {
        self.state().fetched.contains(digest)
    }

    /// The layer blobs known to be in a cache repository, and where.
    pub(super) fn blob_mounts(&self) -> HashMap<Digest, Repository> {
        self.state().blobs.clone()
    }

    /// Marks `repository` failed for this build, with one warning.
    fn failed(&self, repository: &Repository, error: &BuildError, reporter: &dyn Reporter) {
        if !self.state().broken.insert(repository.clone()) {
            return;
        }
        let auth = matches!(
            error,
            BuildError::Registry(RegistryError::Auth(_) | RegistryError::Credentials(_))
        );
        if auth {
            reporter.warn(
                &format!(
                    "The registry layer cache `{repository}` refused access, so it is not used: {}",
                    chain(error)
                ),
                Some(
                    "check the credentials for that registry (`docker login`, or `AIRLOCK_REGISTRY_USER` and `AIRLOCK_REGISTRY_PASSWORD`); the build goes on without the cache",
                ),
            );
        } else {
            reporter.warn(
                &format!(
                    "The registry layer cache `{repository}` is not used for the rest of this build: {}",
                    chain(error)
                ),
                None,
            );
        }
    }
}

/// An unusable cache entry, as an error of the build (warned about, never fatal).
fn unusable(key: &Digest, detail: impl std::fmt::Display) -> BuildError {
    BuildError::Registry(RegistryError::Protocol {
        action: format!("the cached layer of `{key}`"),
        detail: detail.to_string(),
    })
}

/// An error and its sources, `: `-joined, for a one-line warning.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(next) = source {
        let more = next.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = next.source();
    }
    text
}
