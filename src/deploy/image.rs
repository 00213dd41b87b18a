//! The image of a deploy: built from the project, or prebuilt (`--image-name`: an
//! OCI layout, a docker-archive or a registry reference), checked for linux/amd64,
//! with its Runtime version read from its config.

use std::cmp::Ordering;

use serde_json::Value;

use super::DeployError;
use crate::digest::Digest;
use crate::oci::{DescriptorExt as _, ImageManifest};
use crate::pipeline::{BuildError, LocalImage, OutputSpec, read_image};
use crate::registry::{BlobSource, Platform, PlatformExt as _, RegistryError, RemoteOptions};
use crate::store::Store;

/// An image ready to push, with its parsed config.
pub(super) struct DeployImage {
    pub local: LocalImage,
    pub config: Value,
}

impl DeployImage {
    /// The value of label `name`, if the image has it.
    pub(super) fn label(&self, name: &str) -> Option<String> {
        self.config["config"]["Labels"][name]
            .as_str()
            .map(str::to_string)
    }

    /// `os/architecture` as the config says.
    pub(super) fn platform(&self) -> String {
        format!(
            "{}/{}",
            self.config["os"].as_str().unwrap_or("unknown"),
            self.config["architecture"].as_str().unwrap_or("unknown")
        )
    }
}

fn read_config(local: &LocalImage, what: &str) -> Result<Value, DeployError> {
    let bad = |detail: String| DeployError::BadRecord {
        reference: what.to_string(),
        detail,
    };
    let manifest: ImageManifest =
        serde_json::from_slice(&local.manifest).map_err(|e| bad(e.to_string()))?;
    let blob = local
        .blobs
        .iter()
        .find(|b| b.digest.to_string() == manifest.config().digest().as_ref())
        .ok_or_else(|| bad("the config blob is missing".into()))?;
    let bytes = std::fs::read(&blob.path).map_err(|source| DeployError::Io {
        action: "read",
        path: blob.path.clone(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))
}

/// Wraps `local`, refusing anything but linux/amd64.
pub(super) fn checked(local: LocalImage, what: &str) -> Result<DeployImage, DeployError> {
    let config = read_config(&local, what)?;
    let image = DeployImage { local, config };
    if image.platform() != "linux/amd64" {
        return Err(DeployError::NotAmd64 {
            image: what.to_string(),
            platform: image.platform(),
        });
    }
    Ok(image)
}

/// The image in the store whose manifest is `manifest` (after a build).
pub(super) fn from_store(store: &Store, manifest: &Digest) -> Result<DeployImage, DeployError> {
    let bytes = store.read_blob(manifest)?;
    let parsed: ImageManifest =
        serde_json::from_slice(&bytes).map_err(|e| DeployError::BadRecord {
            reference: manifest.to_string(),
            detail: e.to_string(),
        })?;
    let blobs = blob_sources(
        store,
        std::iter::once(parsed.config()).chain(parsed.layers()),
    )?;
    checked(LocalImage::new(bytes, blobs)?, &manifest.to_string())
}

/// A prebuilt image: `oci:DIR[:TAG]`, `docker-archive:FILE[:REF]` or a registry
/// reference (pulled into the store on `runtime`, linux/amd64 chosen from an index).
pub(super) fn prebuilt(
    name: &str,
    remote: &RemoteOptions,
    runtime: &tokio::runtime::Handle,
    store: &Store,
) -> Result<DeployImage, DeployError> {
    if name.starts_with("oci:") || name.starts_with("docker-archive:") {
        let spec = OutputSpec::parse(name)?;
        return checked(read_image(&spec)?, name);
    }
    let reference = remote.parse_reference(name).map_err(BuildError::from)?;
    let client = remote.client(&format!("the image `{name}`"))?;
    let pulled = runtime
        .block_on(client.pull_image(&reference, &Platform::linux_amd64(), |d| store.blob_path(d)));
    let image = match pulled {
        Ok(image) => image,
        Err(RegistryError::NoPlatform { platform, .. }) => {
            return Err(DeployError::NotAmd64 {
                image: name.to_string(),
                platform: format!("an index without {platform}"),
            });
        }
        Err(other) => return Err(other.into()),
    };
    let blobs = blob_sources(store, std::iter::once(&image.config).chain(&image.layers))?;
    checked(LocalImage::new(image.manifest.bytes, blobs)?, name)
}

/// The store's copies of the blobs `descriptors` name.
fn blob_sources<'a>(
    store: &Store,
    descriptors: impl Iterator<Item = &'a crate::oci::Descriptor>,
) -> Result<Vec<BlobSource>, DeployError> {
    descriptors
        .map(|d| {
            let digest = d.sha256()?;
            Ok(BlobSource {
                path: store.blob_path(&digest),
                size: d.size(),
                digest,
            })
        })
        .collect()
}

/// Numeric parts of a Runtime version (`3.0-1` → 3, 0, 1); `None` when a part is
/// not a number, so unknown schemes are never compared.
fn version_parts(text: &str) -> Option<Vec<u64>> {
    text.trim_start_matches('v')
        .split(['.', '-', '+'])
        .map(|part| part.parse().ok())
        .collect()
}

/// Orders two Runtime versions, when both are numeric.
pub(super) fn compare_versions(a: &str, b: &str) -> Option<Ordering> {
    let (mut a, mut b) = (version_parts(a)?, version_parts(b)?);
    let len = a.len().max(b.len());
    a.resize(len, 0);
    b.resize(len, 0);
    Some(a.cmp(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_runtime_versions() {
        assert_eq!(compare_versions("3.0-1", "3.0-2"), Some(Ordering::Less));
        assert_eq!(compare_versions("12.1.0", "9.9.9"), Some(Ordering::Greater));
        assert_eq!(compare_versions("3.1", "3.1.0"), Some(Ordering::Equal));
        assert_eq!(compare_versions("3.1-rc1", "3.1"), None);
    }
}
