//! Registry access for builds: the client set up from `airlock.toml` and flags, and
//! the base image pulled into the store.

use std::path::PathBuf;
use std::sync::Arc;

use super::BuildError;
use crate::digest::Digest;
use crate::http::{HttpClient, HttpSettings};
use crate::image::{BaseImage, base_from_store};
use crate::registry::{
    CredentialEnv, CredentialStore, NoProgress, Platform, PlatformExt as _, Progress, Reference,
    RegistryClient, RegistryConfig, Repository,
};
use crate::store::Store;

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

impl RemoteOptions {
    /// Adds what `airlock.toml` says to what the flags said (flags first).
    pub fn with_settings(
        mut self,
        settings: &crate::project::settings::RegistrySettings,
        root: &std::path::Path,
    ) -> Self {
        if self.default_registry.is_none() {
            self.default_registry = settings.default.clone();
        }
        self.insecure.extend(settings.insecure.iter().cloned());
        self.ca_files
            .extend(settings.ca_files.iter().map(|p| root.join(p)));
        self.chunk_size = self.chunk_size.or(settings.chunk_size);
        self.parallelism = self.parallelism.or(settings.parallelism);
        self
    }

    pub fn parse_reference(&self, text: &str) -> Result<Reference, BuildError> {
        Ok(Reference::parse_with_default(
            text,
            self.default_registry.as_deref(),
        )?)
    }

    /// The registry client, or an error when the options say offline.
    pub fn client(&self, what: &str) -> Result<RegistryClient, BuildError> {
        if self.offline {
            return Err(BuildError::Offline {
                what: what.to_string(),
            });
        }
        let http = HttpClient::new(&HttpSettings {
            ca_files: self.ca_files.clone(),
            ..HttpSettings::default()
        })?;
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

/// A runtime for the async registry client, driven from synchronous code.
pub fn runtime() -> Result<tokio::runtime::Runtime, BuildError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(BuildError::Runtime)
}

/// Where a base image came from, for cross-repository mounts on push.
#[derive(Debug, Clone)]
pub enum BaseOrigin {
    Layout(PathBuf),
    Registry(Repository),
}

/// The base `text` names, from the store when `pinned` is there, else pulled (by
/// `pinned` when given, so a locked build gets exactly the locked image).
pub fn pull_base(
    store: &Store,
    remote: &RemoteOptions,
    text: &str,
    pinned: Option<&Digest>,
) -> Result<(BaseImage, Repository), BuildError> {
    let reference = remote.parse_reference(text)?;
    let repository = reference.repository().clone();
    let wanted = pinned.or(reference.digest());
    if let Some(digest) = wanted {
        match base_from_store(store, text, digest) {
            Ok(base) => return Ok((base, repository)),
            Err(crate::image::ImageError::NotInStore { .. }) if !remote.offline => {}
            Err(err) => return Err(err.into()),
        }
    }
    let client = remote.client(&format!("the base image `{text}`"))?;
    let target = match wanted {
        Some(digest) => Reference::with_digest(repository.clone(), digest.clone()),
        None => reference,
    };
    let image = runtime()?
        .block_on(client.pull_image(&target, &Platform::linux_amd64(), |d| store.blob_path(d)))?;
    let digest = store.put_bytes(&image.manifest.bytes)?;
    if let Some(index) = &image.index {
        store.put_bytes(&index.bytes)?;
    }
    Ok((base_from_store(store, text, &digest)?, repository))
}
