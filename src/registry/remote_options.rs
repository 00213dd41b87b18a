//! How to reach registries (flags merged with `airlock.toml`'s `[registry]`) and the
//! client set up from it. Synchronous callers drive the async client on the runtime
//! handle the CLI hands them (`cli` makes the process's one runtime).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    CredentialEnv, CredentialStore, NoProgress, Progress, Reference, ReferenceError,
    RegistryClient, RegistryConfig, RegistryError,
};
use crate::http::{HttpClient, HttpSettings};

/// How to reach registries: settings from `airlock.toml` merged with flags.
#[derive(Clone)]
pub struct RemoteOptions {
    /// The registry for short names (`[registry] default`).
    pub default_registry: Option<String>,
    pub insecure: Vec<String>,
    pub ca_files: Vec<PathBuf>,
    pub chunk_size: Option<u64>,
    pub parallelism: Option<usize>,
    /// Never touch the network: everything must already be in the store.
    pub offline: bool,
    pub progress: Arc<dyn Progress>,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        Self {
            default_registry: None,
            insecure: Vec::new(),
            ca_files: Vec::new(),
            chunk_size: None,
            parallelism: None,
            offline: false,
            progress: Arc::new(NoProgress),
        }
    }
}

impl std::fmt::Debug for RemoteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteOptions")
            .field("default_registry", &self.default_registry)
            .field("insecure", &self.insecure)
            .field("ca_files", &self.ca_files)
            .field("offline", &self.offline)
            .finish_non_exhaustive()
    }
}

/// What a project's `airlock.toml` says about registries (its `[registry]` table),
/// as [`RemoteOptions::with_settings`] takes it; `ca_files` are relative to the project.
#[derive(Debug, Clone, Default)]
pub struct RegistryDefaults {
    pub default: Option<String>,
    pub insecure: Vec<String>,
    pub ca_files: Vec<PathBuf>,
    pub chunk_size: Option<u64>,
    pub parallelism: Option<usize>,
}

impl RemoteOptions {
    /// Adds what `airlock.toml` says to what the flags said (flags first).
    pub fn with_settings(self, settings: impl Into<RegistryDefaults>, root: &Path) -> Self {
        self.with_defaults(settings.into(), root)
    }

    fn with_defaults(mut self, settings: RegistryDefaults, root: &Path) -> Self {
        if self.default_registry.is_none() {
            self.default_registry = settings.default;
        }
        self.insecure.extend(settings.insecure);
        self.ca_files
            .extend(settings.ca_files.iter().map(|p| root.join(p)));
        self.chunk_size = self.chunk_size.or(settings.chunk_size);
        self.parallelism = self.parallelism.or(settings.parallelism);
        self
    }

    pub fn parse_reference(&self, text: &str) -> Result<Reference, ReferenceError> {
        Reference::parse_with_default(text, self.default_registry.as_deref())
    }

    /// The registry client, or an error when the options say offline.
    pub fn client(&self, what: &str) -> Result<RegistryClient, RegistryError> {
        if self.offline {
            return Err(RegistryError::Offline {
                what: what.to_string(),
            });
        }
        let http = HttpClient::new(&HttpSettings {
            ca_files: self.ca_files.clone(),
            ..HttpSettings::default()
        })
        .map_err(RegistryError::Client)?;
        let mut config = RegistryConfig {
            insecure: self.insecure.clone(),
            ..RegistryConfig::default()
        };
        if let Some(size) = self.chunk_size {
            config.chunk_size = size;
        }
        if let Some(n) = self.parallelism {
            config.parallelism = n.max(1);
        }
        let credentials = Arc::new(CredentialStore::new(CredentialEnv::from_process()));
        Ok(RegistryClient::new(http, credentials, config).with_progress(self.progress.clone()))
    }
}
