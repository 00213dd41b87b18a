//! Pushing an image: from the store after a build, or from an OCI layout or a
//! docker-archive on disk. Blobs first, then the manifest (the exact bytes whose
//! digest was printed), then the tag.

use std::path::Path;

use super::remote::{RemoteOptions, runtime};
use super::{BuildError, OutputSpec};
use crate::digest::Digest;
use crate::oci::{
    DescriptorExt as _, ImageManifest, OciError, annotation, media_types, select_image,
};
use crate::registry::{BlobOutcome, BlobSource, ImagePush, Reference};

/// The standard annotation naming the base image of a manifest.
pub const BASE_NAME_ANNOTATION: &str = "org.opencontainers.image.base.name";
/// The standard annotation holding the base image's manifest digest.
pub const BASE_DIGEST_ANNOTATION: &str = "org.opencontainers.image.base.digest";

/// An image on disk, ready to push.
#[derive(Debug)]
pub struct LocalImage {
    pub manifest: Vec<u8>,
    pub media_type: String,
    pub blobs: Vec<BlobSource>,
    /// The base image's reference, from the manifest's annotation.
    pub base_name: Option<String>,
    /// Keeps an unpacked docker-archive alive while its blobs are pushed.
    _unpacked: Option<tempfile::TempDir>,
}

impl LocalImage {
    /// An image whose manifest and blobs are given directly (e.g. from the store).
    pub fn new(manifest: Vec<u8>, blobs: Vec<BlobSource>) -> Result<Self, BuildError> {
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
            _unpacked: None,
        })
    }

    pub fn digest(&self) -> Digest {
        Digest::of(&self.manifest)
    }
}

fn from_layout(
    dir: &Path,
    tag: &str,
    unpacked: Option<tempfile::TempDir>,
) -> Result<LocalImage, BuildError> {
    let image = select_image(dir, Some(tag)).or_else(|err| match err {
        OciError::TagNotFound { .. } if unpacked.is_some() => select_image(dir, None),
        other => Err(other),
    })?;
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

/// Unpacks a docker-archive (as airlock and current Docker write it: an OCI layout
/// inside a tar) into a temp directory, refusing entries that would escape it.
fn unpack_archive(file: &Path) -> Result<tempfile::TempDir, BuildError> {
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| OciError::Io {
            action,
            path,
            source,
        }
    };
    let dir = tempfile::tempdir().map_err(io("create temp directory for", file))?;
    let input = std::fs::File::open(file).map_err(io("open", file))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(input));
    for entry in archive.entries().map_err(io("read", file))? {
        let mut entry = entry.map_err(io("read", file))?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            continue;
        }
        // `unpack_in` refuses `..` and absolute paths.
        entry.unpack_in(dir.path()).map_err(io("unpack", file))?;
    }
    if !dir.path().join("index.json").is_file() {
        return Err(OciError::NotALayout {
            path: file.to_path_buf(),
        }
        .into());
    }
    Ok(dir)
}

/// Reads the image an output spec names (what `--from` takes).
pub fn read_image(spec: &OutputSpec) -> Result<LocalImage, BuildError> {
    match spec {
        OutputSpec::Oci { dir, tag } => from_layout(dir, tag, None),
        OutputSpec::DockerArchive { file, reference } => {
            let unpacked = unpack_archive(file)?;
            let tag = reference.clone().unwrap_or_default();
            let path = unpacked.path().to_path_buf();
            from_layout(&path, &tag, Some(unpacked))
        }
    }
}

/// What one push did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushSummary {
    pub reference: String,
    pub digest: Digest,
    pub uploaded: usize,
    pub existed: usize,
    pub mounted: usize,
}

/// Pushes `image` to `target` (`registry/repo[:tag]`). A base that lives in another
/// repository of the same registry is mounted instead of uploaded.
pub fn push_image(
    remote: &RemoteOptions,
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
    };
    let report = runtime()?.block_on(client.push_image(reference.repository(), &push))?;
    let count = |wanted: BlobOutcome| report.blobs.iter().filter(|(_, o)| *o == wanted).count();
    Ok(PushSummary {
        reference: reference.to_string(),
        digest: report.manifest_digest,
        uploaded: count(BlobOutcome::Uploaded),
        existed: count(BlobOutcome::Existed),
        mounted: count(BlobOutcome::Mounted),
    })
}

/// Attaches each `(artifact type, bytes)` document to the image `manifest` in
/// `repository`: the bytes go into `store`, then each is pushed as an OCI 1.1
/// artifact whose `subject` is the image, listed under the referrers tag. The one
/// path `build --push`, `push` and `deploy` share.
pub async fn attach_documents(
    client: &crate::registry::RegistryClient,
    store: &crate::store::Store,
    repository: &crate::registry::Repository,
    manifest: &[u8],
    documents: &[(&str, &[u8])],
) -> Result<Vec<crate::oci::Descriptor>, BuildError> {
    let subject = crate::oci::descriptor(
        media_types::OCI_MANIFEST,
        Digest::of(manifest),
        manifest.len() as u64,
    );
    let source = |bytes: &[u8]| -> Result<BlobSource, BuildError> {
        let digest = store.put_bytes(bytes)?;
        Ok(BlobSource {
            path: store.blob_path(&digest),
            digest,
            size: bytes.len() as u64,
        })
    };
    let empty = source(crate::registry::EMPTY_CONFIG)?;
    let mut attached = Vec::new();
    for (artifact_type, bytes) in documents {
        let blob = source(bytes)?;
        attached.push(
            client
                .attach(repository, &subject, artifact_type, &blob, &empty)
                .await?,
        );
    }
    Ok(attached)
}
