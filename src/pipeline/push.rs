//! Pushing an image: from the store after a build, or from an OCI layout or a
//! docker-archive on disk. Blobs first, then the manifest (the exact bytes whose
//! digest was printed), then the tag.

use super::{BuildError, OutputSpec};
use crate::digest::Digest;
use crate::image::BASE_NAME_ANNOTATION;
use crate::oci::{
    DescriptorExt as _, ImageManifest, LayoutImage, OciError, annotation, media_types,
    read_docker_archive, select_image,
};
use crate::registry::{BlobOutcome, BlobSource, ImagePush, Reference, RemoteOptions, Repository};

/// An image on disk, ready to push.
#[derive(Debug)]
pub(crate) struct LocalImage {
    pub manifest: Vec<u8>,
    pub media_type: String,
    pub blobs: Vec<BlobSource>,
    /// The base image's reference, from the manifest's annotation.
    pub base_name: Option<String>,
    /// Blobs known to be in another repository (a registry layer cache), mounted
    /// from there when it is on the registry pushed to.
    pub blob_mounts: std::collections::HashMap<Digest, Repository>,
    /// Keeps an unpacked docker-archive alive while its blobs are pushed.
    _unpacked: Option<tempfile::TempDir>,
}

impl LocalImage {
    /// An image whose manifest and blobs are given directly (e.g. from the store).
    pub(crate) fn new(manifest: Vec<u8>, blobs: Vec<BlobSource>) -> Result<Self, BuildError> {
        let parsed: ImageManifest =
            serde_json::from_slice(&manifest).map_err(|source| OciError::Json {
                path: "manifest".into(),
                source,
            })?;
        Ok(Self {
            media_type: parsed.media_type().as_ref().map_or_else(
                || media_types::OCI_MANIFEST.to_string(),
                ToString::to_string,
            ),
            base_name: annotation(parsed.annotations(), BASE_NAME_ANNOTATION).map(str::to_string),
            manifest,
            blobs,
            blob_mounts: std::collections::HashMap::new(),
            _unpacked: None,
        })
    }

    pub(crate) fn digest(&self) -> Digest {
        Digest::of(&self.manifest)
    }
}

/// The image `image` of a layout on disk, with the temp directory holding it (an
/// unpacked docker-archive) kept alive while its blobs are pushed.
fn from_layout(
    image: LayoutImage,
    unpacked: Option<tempfile::TempDir>,
) -> Result<LocalImage, BuildError> {
    let mut blobs = Vec::new();
    for descriptor in std::iter::once(image.manifest.config()).chain(image.manifest.layers()) {
        let digest = descriptor.sha256()?;
        blobs.push(BlobSource {
            path: image.blob_path(&digest),
            size: descriptor.size(),
            digest,
        });
    }
    let mut local = LocalImage::new(image.manifest_bytes, blobs)?;
    local._unpacked = unpacked;
    Ok(local)
}

/// Reads the image an output spec names (what `--from` takes).
pub(crate) fn read_image(spec: &OutputSpec) -> Result<LocalImage, BuildError> {
    match spec {
        OutputSpec::Oci { dir, tag } => from_layout(select_image(dir, Some(tag))?, None),
        OutputSpec::DockerArchive { file, reference } => {
            let archive = read_docker_archive(file, reference.as_deref())?;
            from_layout(archive.image, Some(archive.unpacked))
        }
    }
}

/// What one push did.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct PushSummary {
    pub reference: String,
    pub digest: Digest,
    pub uploaded: usize,
    pub existed: usize,
    pub mounted: usize,
}

/// Pushes `image` to `target` (`registry/repo[:tag]`). A base that lives in another
/// repository of the same registry is mounted instead of uploaded. The push runs on
/// `runtime`.
pub(crate) fn push_image(
    remote: &RemoteOptions,
    runtime: &tokio::runtime::Handle,
    target: &str,
    image: &LocalImage,
) -> Result<PushSummary, BuildError> {
    let reference = remote.parse_reference(target)?;
    if let Some(digest) = reference.digest()
        && digest != &image.digest()
    {
        return Err(BuildError::PushDigest {
            target: target.to_string(),
            image: image.digest(),
        });
    }
    let mount_from = image
        .base_name
        .as_deref()
        .and_then(|name| {
            Reference::parse_with_default(name, remote.default_registry.as_deref()).ok()
        })
        .filter(|base| {
            base.registry() == reference.registry() && base.repository() != reference.repository()
        })
        .map(|base| base.repository().clone());
    let client = remote.client(&format!("pushing to `{target}`"))?;
    let push = ImagePush {
        blobs: image.blobs.clone(),
        manifest: image.manifest.clone(),
        manifest_media_type: image.media_type.clone(),
        tags: reference.tag().map(str::to_string).into_iter().collect(),
        mount_from,
        blob_mounts: image
            .blob_mounts
            .iter()
            .filter(|(_, from)| {
                from.registry() == reference.registry() && *from != reference.repository()
            })
            .map(|(digest, from)| (digest.clone(), from.clone()))
            .collect(),
    };
    let report = runtime.block_on(client.push_image(reference.repository(), &push))?;
    let count = |wanted: BlobOutcome| report.blobs.iter().filter(|(_, o)| *o == wanted).count();
    Ok(PushSummary {
        reference: reference.to_string(),
        digest: report.manifest_digest,
        uploaded: count(BlobOutcome::Uploaded),
        existed: count(BlobOutcome::Existed),
        mounted: count(BlobOutcome::Mounted),
    })
}
