//! A base image from a registry, pulled into the store (or found there by digest).

use super::{BaseImage, ImageError, base_from_store};
use crate::digest::Digest;
use crate::registry::{Platform, PlatformExt as _, Reference, RemoteOptions, Repository};
use crate::store::Store;

/// Where a base image came from, for cross-repository mounts on push.
#[derive(Debug, Clone)]
pub(crate) enum BaseOrigin {
    /// An OCI layout on disk, or `scratch`: nothing to mount from.
    Layout,
    Registry(Repository),
}

/// The base `text` names, from the store when `pinned` is there, else pulled (by
/// `pinned` when given, so a locked build gets exactly the locked image). The pull
/// runs on `runtime`.
pub(crate) fn pull_base(
    store: &Store,
    remote: &RemoteOptions,
    runtime: &tokio::runtime::Handle,
    text: &str,
    pinned: Option<&Digest>,
) -> Result<(BaseImage, Repository), ImageError> {
    let reference = remote.parse_reference(text)?;
    let repository = reference.repository().clone();
    let wanted = pinned.or(reference.digest());
    if let Some(digest) = wanted {
        match base_from_store(store, text, digest) {
            Ok(base) => return Ok((base, repository)),
            Err(ImageError::NotInStore { .. }) if !remote.offline => {}
            Err(err) => return Err(err),
        }
    }
    let client = remote.client(&format!("the base image `{text}`"))?;
    let target = match wanted {
        Some(digest) => Reference::with_digest(repository.clone(), digest.clone()),
        None => reference,
    };
    let image = runtime
        .block_on(client.pull_image(&target, &Platform::linux_amd64(), |d| store.blob_path(d)))?;
    let digest = store.put_bytes(&image.manifest.bytes)?;
    if let Some(index) = &image.index {
        store.put_bytes(&index.bytes)?;
    }
    Ok((base_from_store(store, text, &digest)?, repository))
}
