//! The registry output (`--push REF`): the image pushed from the store, blobs first,
//! then the manifest and its tag.

use super::{Output, Written};
use crate::pipeline::BuildError;
use crate::pipeline::assemble::Image;
use crate::pipeline::options::Reporter;
use crate::pipeline::push::{LocalImage, push_image};
use crate::registry::BlobSource;
use crate::registry::RemoteOptions;

/// A registry reference (`registry/repo[:tag]`) to push to.
pub(in crate::pipeline) struct RegistryPush<'a> {
    pub target: String,
    pub remote: &'a RemoteOptions,
    pub runtime: &'a tokio::runtime::Handle,
    /// Layer blobs a registry layer cache holds, mounted from there when it is on
    /// the registry pushed to.
    pub blob_mounts:
        &'a std::collections::HashMap<crate::digest::Digest, crate::registry::Repository>,
}

impl Output for RegistryPush<'_> {
    fn describe(&self) -> String {
        self.target.clone()
    }

    fn write(&self, image: &Image, reporter: &dyn Reporter) -> Result<Written, BuildError> {
        reporter.step(&format!("pushing to {}", self.target));
        let config = BlobSource {
            digest: image.config_digest.clone(),
            size: image.config.len() as u64,
            path: image.config_path.clone(),
        };
        let layers = image
            .layers
            .iter()
            .map(|(descriptor, digest, path)| BlobSource {
                digest: digest.clone(),
                size: descriptor.size(),
                path: path.clone(),
            });
        let blobs = std::iter::once(config).chain(layers).collect();
        let mut local = LocalImage::new(image.manifest.clone(), blobs)?;
        local.blob_mounts = self.blob_mounts.clone();
        let summary = push_image(self.remote, self.runtime, &self.target, &local)?;
        Ok(Written::Pushed(summary))
    }
}
