//! `FROM scratch`: an empty base, no layers, a config with nothing but the platform.

use serde_json::json;

use super::{BaseImage, ImageError};
use crate::digest::Digest;
use crate::oci::{descriptor, image_manifest, manifest_json, media_types};
use crate::store::Store;

/// The name `FROM` uses for the empty image.
pub(crate) const SCRATCH: &str = "scratch";

/// The empty base. Its config is written to the store (the build's config starts
/// from it); its manifest digest names the empty image in the lock.
pub(crate) fn scratch_base(store: &Store) -> Result<BaseImage, ImageError> {
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    });
    let bytes = serde_json::to_vec(&config).map_err(ImageError::Json)?;
    let config_digest = store.put_bytes(&bytes)?;
    let manifest = image_manifest(
        descriptor(
            media_types::OCI_CONFIG,
            config_digest.clone(),
            bytes.len() as u64,
        ),
        Vec::new(),
    );
    let manifest_bytes = manifest_json(&manifest).map_err(ImageError::Json)?;
    Ok(BaseImage {
        reference: SCRATCH.to_string(),
        manifest_digest: Digest::of(&manifest_bytes),
        manifest,
        config_digest,
        config,
        layers: Vec::new(),
    })
}
