//! Pushing an artifact: any manifest and the blobs it names (an SBOM attached to an
//! image, a deployment record, a DAG bundle). Blobs first, one at a time, then the
//! manifest exactly as given: a manifest is never stored before its blobs.

use super::{BlobSource, RegistryClient, RegistryError, Repository};
use crate::digest::Digest;
use crate::oci::{Descriptor, descriptor, media_types};
use crate::store::{Store, StoreError};

/// `bytes` put into `store`, as a blob to push.
pub(crate) fn stored_blob(store: &Store, bytes: &[u8]) -> Result<BlobSource, StoreError> {
    let digest = store.put_bytes(bytes)?;
    Ok(BlobSource {
        path: store.blob_path(&digest),
        digest,
        size: bytes.len() as u64,
    })
}

impl RegistryClient {
    /// Pushes `blobs`, then the OCI manifest `manifest` under `reference` (a tag or
    /// the manifest's digest); returns the manifest's digest.
    pub async fn push_artifact(
        &self,
        repository: &Repository,
        reference: &str,
        manifest: &[u8],
        blobs: &[BlobSource],
    ) -> Result<Digest, RegistryError> {
        for blob in blobs {
            self.push_blob(repository, &blob.digest, blob.size, &blob.path, None)
                .await?;
        }
        self.push_manifest(repository, reference, manifest, media_types::OCI_MANIFEST)
            .await
    }
}

/// Attaches each `(artifact type, bytes)` document to the image `manifest` in
/// `repository`: the bytes go into `store`, then each is pushed as an OCI 1.1
/// artifact whose `subject` is the image, listed under the referrers tag. The one
/// path `build --push`, `push`, `sbom --attach` and `deploy` share.
pub(crate) async fn attach_documents(
    client: &RegistryClient,
    store: &Store,
    repository: &Repository,
    manifest: &[u8],
    documents: &[(&str, &[u8])],
) -> Result<Vec<Descriptor>, RegistryError> {
    let subject = descriptor(
        media_types::OCI_MANIFEST,
        Digest::of(manifest),
        manifest.len() as u64,
    );
    let empty = stored_blob(store, crate::oci::EMPTY_CONFIG)?;
    let mut attached = Vec::new();
    for (artifact_type, bytes) in documents {
        let blob = stored_blob(store, bytes)?;
        attached.push(
            client
                .attach(repository, &subject, artifact_type, &blob, &empty)
                .await?,
        );
    }
    Ok(attached)
}
