//! OCI 1.1 artifacts attached to an image (SBOMs, provenance): an artifact manifest
//! whose `subject` is the image manifest, and, for registries without the referrers
//! API, the referrers tag schema: an image index tagged `sha256-<hex of the
//! subject digest>` that lists the artifact manifests. The index is always kept up
//! to date (registries with the API ignore it), and listing reads it.

use super::manifest::{parse_index, sha256};
use super::{BlobSource, RegistryClient, RegistryError, Repository};
use crate::digest::Digest;
use crate::oci::{
    Descriptor, ImageIndex, IndexExt as _, MediaType, descriptor, empty_descriptor, index_json,
    manifest_json, media_types,
};

/// The referrers tag of `subject` (`sha256-<hex>`).
pub(super) fn referrers_tag(subject: &Digest) -> String {
    format!("{}-{}", subject.algorithm(), subject.hex())
}

/// The artifact manifest for one blob of `artifact_type` attached to `subject`.
pub(super) fn artifact_manifest(
    artifact_type: &str,
    blob: &BlobSource,
    subject: &Descriptor,
) -> Result<Vec<u8>, RegistryError> {
    let mut manifest = crate::oci::artifact_manifest(
        artifact_type,
        empty_descriptor(),
        vec![descriptor(artifact_type, blob.digest.clone(), blob.size)],
    );
    manifest.set_subject(Some(Descriptor::new(
        subject.media_type().clone(),
        subject.size(),
        subject.digest().clone(),
    )));
    manifest_json(&manifest).map_err(|source| RegistryError::InvalidManifest {
        reference: format!("artifact for {}", subject.digest()),
        source,
    })
}

fn is_not_found(error: &RegistryError) -> bool {
    matches!(error, RegistryError::Api { status: 404, .. })
}

impl RegistryClient {
    /// Pushes one artifact (`blob`, of `artifact_type`) attached to `subject`: the
    /// empty config and the blob, then the manifest by digest, then the referrers
    /// tag index. Returns the artifact manifest's descriptor.
    pub async fn attach(
        &self,
        repository: &Repository,
        subject: &Descriptor,
        artifact_type: &str,
        blob: &BlobSource,
        empty_config: &BlobSource,
    ) -> Result<Descriptor, RegistryError> {
        let manifest = artifact_manifest(artifact_type, blob, subject)?;
        let digest = Digest::of(&manifest);
        self.push_artifact(
            repository,
            &digest.to_string(),
            &manifest,
            &[empty_config.clone(), blob.clone()],
        )
        .await?;
        let mut descriptor = descriptor(media_types::OCI_MANIFEST, digest, manifest.len() as u64);
        descriptor.set_artifact_type(Some(MediaType::from(artifact_type)));
        self.add_referrers(
            repository,
            &sha256(subject, &format!("{repository}@{}", subject.digest()))?,
            std::slice::from_ref(&descriptor),
        )
        .await?;
        Ok(descriptor)
    }

    /// Adds `added` to the referrers tag index of `subject` (made when missing).
    pub async fn add_referrers(
        &self,
        repository: &Repository,
        subject: &Digest,
        added: &[Descriptor],
    ) -> Result<(), RegistryError> {
        let mut index = self.referrers_index(repository, subject).await?;
        let mut manifests = index.manifests().clone();
        for descriptor in added {
            manifests.retain(|d| d.digest() != descriptor.digest());
            manifests.push(descriptor.clone());
        }
        manifests.sort_by(|a, b| a.digest().as_ref().cmp(b.digest().as_ref()));
        index.set_manifests(manifests);
        let bytes = index_json(&index).map_err(|source| RegistryError::InvalidManifest {
            reference: referrers_tag(subject),
            source,
        })?;
        self.push_manifest(
            repository,
            &referrers_tag(subject),
            &bytes,
            media_types::OCI_INDEX,
        )
        .await?;
        Ok(())
    }

    /// The artifacts attached to `subject`, from its referrers tag index.
    pub async fn referrers(
        &self,
        repository: &Repository,
        subject: &Digest,
    ) -> Result<Vec<Descriptor>, RegistryError> {
        Ok(self
            .referrers_index(repository, subject)
            .await?
            .manifests()
            .clone())
    }

    async fn referrers_index(
        &self,
        repository: &Repository,
        subject: &Digest,
    ) -> Result<ImageIndex, RegistryError> {
        match self
            .fetch_manifest(repository, &referrers_tag(subject))
            .await
        {
            Ok(fetched) => Ok(parse_index(&fetched.bytes).unwrap_or_else(|_| ImageIndex::empty())),
            Err(error) if is_not_found(&error) => Ok(ImageIndex::empty()),
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN_ARTIFACT: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/spdx+json","digest":"sha256:98f3ae1ef67113d8140d4f6cb8d2830070e21ea48f091be519659846c771a374","size":4}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:6105d6cc76af400325e94d588ce511be5bfdbb73b437dc51eca43917d7a43e3d","size":5}}"#;

    /// The artifact manifest's bytes (its digest is what the referrers index lists).
    #[test]
    fn golden_artifact_manifest_bytes() {
        let blob = BlobSource {
            digest: Digest::of(b"sbom"),
            size: 4,
            path: "sbom.json".into(),
        };
        let subject = descriptor(media_types::OCI_MANIFEST, Digest::of(b"image"), 5);
        let bytes = artifact_manifest("application/spdx+json", &blob, &subject).expect("json");
        assert_eq!(String::from_utf8_lossy(&bytes), GOLDEN_ARTIFACT);
    }
}
