//! A deployment's registry side: reading and writing records, pushing and fetching
//! DAG bundles. Everything that talks to the registry for deploys goes through here.

use std::path::PathBuf;

use super::bundle::{BUNDLE_ARTIFACT_TYPE, BUNDLE_MEDIA_TYPE, Bundle};
use super::record::{
    RECORD_ARTIFACT_TYPE, RECORD_MEDIA_TYPE, RECORD_TAG, Record, StoredRecord, artifact_manifest,
    record_config,
};
use super::{DeployError, Deployment};
use crate::digest::Digest;
use crate::oci::EMPTY_CONFIG;
use crate::oci::{Descriptor, DescriptorExt as _, ImageManifest, descriptor, media_types};
use crate::registry::{
    BlobSource, RegistryClient, RegistryError, RemoteOptions, Repository, attach_documents,
    stored_blob,
};
use crate::store::Store;

/// The registry client of one deployment, and the runtime its requests run on.
pub struct DeploymentRemote {
    pub deployment: Deployment,
    pub store: Store,
    client: RegistryClient,
    runtime: tokio::runtime::Handle,
}

fn is_not_found(error: &RegistryError) -> bool {
    matches!(error, RegistryError::Api { status: 404, .. })
}

impl DeploymentRemote {
    /// The deployment's registry side; its requests run on `runtime` (the process's
    /// one runtime, made by the CLI).
    pub fn new(
        deployment: Deployment,
        remote: &RemoteOptions,
        store: Store,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, DeployError> {
        let client = remote.client(&format!("deployment `{}`", deployment.name))?;
        Ok(Self {
            deployment,
            store,
            client,
            runtime,
        })
    }

    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    /// The digest the record tag points at now, or `None` before the first deploy.
    pub fn record_digest(&self) -> Result<Option<Digest>, DeployError> {
        let repo = &self.deployment.images;
        match self.block_on(self.client.fetch_manifest(repo, RECORD_TAG)) {
            Ok(fetched) => Ok(Some(fetched.digest)),
            Err(error) if is_not_found(&error) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// The current record, or `None` before the first deploy.
    pub fn read_record(&self) -> Result<Option<StoredRecord>, DeployError> {
        self.read_record_at(RECORD_TAG)
    }

    /// The record stored under `reference` (the tag or a digest).
    pub fn read_record_at(&self, reference: &str) -> Result<Option<StoredRecord>, DeployError> {
        let repo = &self.deployment.images;
        let fetched = match self.block_on(self.client.fetch_manifest(repo, reference)) {
            Ok(fetched) => fetched,
            Err(error) if is_not_found(&error) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let name = format!("{repo}@{}", fetched.digest);
        let config = record_config(&fetched.bytes, &name)?;
        let bytes = self.fetch_small_blob(repo, &config.sha256()?, config.size())?;
        Ok(Some(StoredRecord {
            digest: fetched.digest,
            record: Record::from_json(&bytes, &name)?,
        }))
    }

    /// A blob, verified, through the store.
    fn fetch_small_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
    ) -> Result<Vec<u8>, DeployError> {
        let path = self.fetch_blob(repo, digest, Some(size))?;
        std::fs::read(&path).map_err(|source| DeployError::Io {
            action: "read",
            path,
            source,
        })
    }

    fn fetch_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<PathBuf, DeployError> {
        let path = self.store.blob_path(digest);
        if !self.store.has_blob(digest) {
            self.block_on(self.client.fetch_blob_sized(repo, digest, size, &path))?;
        }
        Ok(path)
    }

    /// Writes `record` as the deployment's current record, last step of every
    /// change. `parent` is the record digest the change started from: when the tag
    /// points elsewhere by now, another deploy won and this one fails, unwritten.
    pub fn write_record(
        &self,
        record: &Record,
        parent: Option<&Digest>,
        version: &str,
    ) -> Result<Digest, DeployError> {
        let repo = &self.deployment.images;
        record.validate(&format!("to write to `{repo}`"))?;
        let config = stored_blob(&self.store, &record.to_json())?;
        let descriptor = descriptor(RECORD_MEDIA_TYPE, config.digest.clone(), config.size);
        let manifest = artifact_manifest(RECORD_ARTIFACT_TYPE, descriptor, Vec::new());
        let history_tag = format!("{RECORD_TAG}-{version}");
        let digest =
            self.block_on(
                self.client
                    .push_artifact(repo, &history_tag, &manifest, &[config]),
            )?;
        let now = self.record_digest()?;
        if now.as_ref() != parent {
            let show = |d: Option<&Digest>| d.map_or("no record".to_string(), Digest::to_string);
            return Err(DeployError::RaceLost {
                name: self.deployment.name.clone(),
                expected: show(parent),
                found: show(now.as_ref()),
            });
        }
        self.block_on(self.client.push_manifest(
            repo,
            RECORD_TAG,
            &manifest,
            media_types::OCI_MANIFEST,
        ))?;
        tracing::info!(%digest, "deployment record written");
        Ok(digest)
    }

    /// Attaches each `(artifact type, bytes)` document to the image `manifest` in the
    /// deployment's image repository: an OCI 1.1 artifact whose `subject` is the
    /// image, listed under the referrers tag `sha256-<hex>`.
    pub fn attach(
        &self,
        manifest: &[u8],
        documents: &[(&'static str, Vec<u8>)],
    ) -> Result<Vec<Descriptor>, DeployError> {
        let documents: Vec<(&str, &[u8])> = documents
            .iter()
            .map(|(artifact_type, bytes)| (*artifact_type, bytes.as_slice()))
            .collect();
        let attached = self.block_on(attach_documents(
            &self.client,
            &self.store,
            &self.deployment.images,
            manifest,
            &documents,
        ))?;
        Ok(attached)
    }

    /// The artifacts attached to the image `digest` in the deployment's image
    /// repository (from the referrers tag).
    pub fn attached(&self, digest: &Digest) -> Result<Vec<Descriptor>, DeployError> {
        Ok(self.block_on(self.client.referrers(&self.deployment.images, digest))?)
    }

    /// Pushes a DAG bundle: blobs, then the manifest under `dags-<version>`.
    pub fn push_bundle(&self, bundle: &Bundle, version: &str) -> Result<(), DeployError> {
        let repo = &self.deployment.bundles;
        let blobs = [
            stored_blob(&self.store, EMPTY_CONFIG)?,
            BlobSource {
                digest: bundle.blob.clone(),
                size: bundle.size,
                path: self.store.blob_path(&bundle.blob),
            },
        ];
        self.block_on(self.client.push_artifact(
            repo,
            &format!("dags-{version}"),
            &bundle.manifest,
            &blobs,
        ))?;
        Ok(())
    }

    /// The tar.gz layer of the bundle artifact `digest`, from its manifest (verified
    /// against the digest).
    pub fn bundle_layer(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<Descriptor, DeployError> {
        let fetched = self.block_on(self.client.fetch_manifest(repo, &digest.to_string()))?;
        let bad = |detail: &str| DeployError::BadBundle {
            digest: digest.clone(),
            detail: detail.to_string(),
        };
        let manifest: ImageManifest =
            serde_json::from_slice(&fetched.bytes).map_err(|e| bad(&e.to_string()))?;
        if manifest.artifact_type().as_ref().map(AsRef::as_ref) != Some(BUNDLE_ARTIFACT_TYPE) {
            return Err(bad("it is not a DAG bundle artifact"));
        }
        let [layer] = manifest.layers().as_slice() else {
            return Err(bad("a bundle has exactly one layer"));
        };
        if layer.media_type().as_ref() != BUNDLE_MEDIA_TYPE {
            return Err(bad("its layer is not a DAG bundle tar.gz"));
        }
        layer.sha256().map_err(|e| bad(&e.to_string()))?;
        Ok(layer.clone())
    }

    /// Downloads a bundle's tar.gz (verified against its digest and size); returns its
    /// path in the store.
    pub fn fetch_bundle_blob(
        &self,
        repo: &Repository,
        layer: &Descriptor,
    ) -> Result<PathBuf, DeployError> {
        self.fetch_blob(repo, &layer.sha256()?, Some(layer.size()))
    }
}
