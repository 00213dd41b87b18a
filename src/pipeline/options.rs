//! What a build is asked to do, and how it reports progress.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::OutputSpec;
use super::cache::CacheOptions;
use super::python_stage::PythonOptions;
use crate::http::{NoProgress, Progress};
use crate::registry::RemoteOptions;

/// How the build treats `airlock.lock` (Cargo's conventions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum LockMode {
    /// Update the lock when inputs changed.
    #[default]
    Update,
    /// Fail when the lock is missing or stale (`--locked`, and `--frozen`).
    Locked,
}

#[derive(Debug, Clone)]
pub(crate) struct BuildOptions {
    pub project_dir: PathBuf,
    pub store_dir: PathBuf,
    /// `--base-layout`: a local OCI layout for the `FROM` image, overriding `airlock.toml`.
    pub base_layout: Option<PathBuf>,
    pub build_args: BTreeMap<String, String>,
    pub exclude_dags: bool,
    /// `None` means the project's default output.
    pub output: Option<OutputSpec>,
    /// Unix seconds for every timestamp (`SOURCE_DATE_EPOCH`, or 0).
    pub source_date_epoch: u64,
    pub lock_mode: LockMode,
    /// Registry settings (from flags; `airlock.toml` is merged in by the build).
    pub remote: RemoteOptions,
    /// The process's async runtime (made by the CLI): pulls, pushes, index requests
    /// and downloads run on it.
    pub runtime: tokio::runtime::Handle,
    /// Re-resolve a registry base's tag instead of taking the locked digest.
    pub upgrade_base: bool,
    /// `--push REF`: push the image after writing the output.
    pub push: Option<String>,
    /// Resolution settings for `requirements.txt`.
    pub python: PythonOptions,
    /// The registry layer cache (`--cache-from`, `--cache-to`).
    pub cache: CacheOptions,
    /// `--secret id=ID,src=FILE`: files a `RUN --mount=type=secret` reads, by id.
    pub secrets: BTreeMap<String, PathBuf>,
    /// `--compression`: how new layers are compressed; `None` takes `[build]
    /// compression` from `airlock.toml` (gzip when unset).
    pub compression: Option<crate::layer::Compression>,
}

impl BuildOptions {
    /// A plain build of `project_dir`: its default output, the lock updated when
    /// stale, timestamps at `source_date_epoch`, no push, network work on `runtime`.
    /// Callers change what differs with struct update syntax.
    pub(crate) fn new(
        project_dir: PathBuf,
        store_dir: PathBuf,
        remote: RemoteOptions,
        runtime: tokio::runtime::Handle,
        source_date_epoch: u64,
    ) -> Self {
        Self {
            project_dir,
            store_dir,
            base_layout: None,
            build_args: BTreeMap::new(),
            exclude_dags: false,
            output: None,
            source_date_epoch,
            lock_mode: LockMode::Update,
            remote,
            runtime,
            upgrade_base: false,
            push: None,
            python: PythonOptions::default(),
            cache: CacheOptions::default(),
            secrets: BTreeMap::new(),
            compression: None,
        }
    }
}

/// Progress notes for long work; the CLI draws them, tests ignore them.
pub trait Reporter {
    fn step(&self, message: &str);

    /// Where byte progress of the build's downloads goes (wheels, `.deb`s); registry
    /// transfers report to `RemoteOptions::progress`. Nowhere by default.
    fn transfers(&self) -> Arc<dyn Progress> {
        Arc::new(NoProgress)
    }

    /// Something the user should know that does not stop the run, with what to do
    /// about it. Logged by default; the CLI shows it as a warning.
    fn warn(&self, message: &str, hint: Option<&str>) {
        match hint {
            Some(hint) => tracing::warn!("{message} (hint: {hint})"),
            None => tracing::warn!("{message}"),
        }
    }
}

impl Reporter for () {
    fn step(&self, _message: &str) {}
}
