//! The assemble stage: the image's config and manifest from the plan and its
//! realised layers, both stored, with the file of every blob they name.

use std::path::PathBuf;

use super::BuildError;
use super::plan::Plan;
use super::realise::Realised;
use crate::digest::Digest;
use crate::image::{HistoryEntry, assemble_config, build_manifest};
use crate::oci::{Descriptor, descriptor};

/// A built image: its config and manifest, each stored, and its layers' blobs.
pub(super) struct Image {
    pub config: Vec<u8>,
    pub config_digest: Digest,
    /// The store file holding the config.
    pub config_path: PathBuf,
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
    /// Every layer, the base's first: its descriptor, its digest and the store file
    /// holding it.
    pub layers: Vec<(Descriptor, Digest, PathBuf)>,
}

impl Image {
    /// The config's digest and file.
    pub(super) fn config_blob(&self) -> (Digest, PathBuf) {
        (self.config_digest.clone(), self.config_path.clone())
    }

    /// Each layer's digest and file, the base's first.
    pub(super) fn layer_blobs(&self) -> Vec<(Digest, PathBuf)> {
        self.layers
            .iter()
            .map(|(_, digest, path)| (digest.clone(), path.clone()))
            .collect()
    }
}

/// Assembles and stores the config and manifest of `plan` with `realised` on top.
pub(super) fn assemble(plan: Plan<'_>, realised: &Realised) -> Result<Image, BuildError> {
    let (store, base) = (&plan.pinned.session.store, &plan.pinned.session.base);
    let mut config = plan.config;
    let mut layers: Vec<(Descriptor, Digest, PathBuf)> = base
        .layers
        .iter()
        .map(|l| (l.descriptor.clone(), l.digest.clone(), l.path.clone()))
        .collect();
    // The instructions that make no layer go in Dockerfile order between the layers.
    let mut lines = plan.instructions.into_iter().peekable();
    let mut realised_layers = realised.layers.iter().peekable();
    for index in 0..plan.layers.len() {
        while let Some((_, line)) = lines.next_if(|(position, _)| *position <= index) {
            config.history.push(line);
        }
        let Some(layer) = realised_layers.next_if(|layer| layer.step == index) else {
            if plan.dockerfile_steps.contains(&index) {
                // A Dockerfile step that changed nothing keeps its history line.
                config.history.push(HistoryEntry {
                    created_by: plan.layers[index].created_by(),
                    comment: None,
                    empty_layer: true,
                });
            }
            continue;
        };
        config.history.push(HistoryEntry {
            created_by: layer.created_by.clone(),
            comment: Some(format!("airlock {} layer", layer.kind)),
            empty_layer: false,
        });
        config.new_diff_ids.push(layer.record.diff_id.clone());
        let digest = &layer.record.digest;
        layers.push((
            descriptor(&layer.record.media_type, digest.clone(), layer.record.size),
            digest.clone(),
            store.blob_path(digest),
        ));
    }
    config.history.extend(lines.map(|(_, line)| line));
    let config_bytes = assemble_config(base, &config)?;
    let config_digest = store.put_bytes(&config_bytes)?;
    let descriptors = layers.iter().map(|(d, ..)| d.clone()).collect();
    let manifest = build_manifest(&config_bytes, descriptors, plan.annotations)?;
    let manifest_digest = store.put_bytes(&manifest)?;
    Ok(Image {
        config_path: store.blob_path(&config_digest),
        config: config_bytes,
        config_digest,
        manifest,
        manifest_digest,
        layers,
    })
}
