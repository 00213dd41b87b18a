//! Test images: blobs of seeded random bytes, written to files, and an OCI manifest.

use std::path::Path;

use airlock::digest::Digest;
use airlock::registry::{BlobSource, ImagePush, OCI_MANIFEST};

/// Deterministic pseudo-random bytes (xorshift64*), the same for the same seed.
pub fn random_bytes(seed: u64, length: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(length + 8);
    while out.len() < length {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(length);
    out
}

/// Writes `bytes` to `dir/<hex>` and describes it.
pub fn write_blob(dir: &Path, bytes: &[u8]) -> BlobSource {
    let digest = Digest::of(bytes);
    let path = dir.join(digest.hex());
    std::fs::write(&path, bytes).expect("write blob");
    BlobSource {
        digest,
        size: bytes.len() as u64,
        path,
    }
}

/// A test image of uncompressed layers of the given sizes (layer `i` from seed
/// `seed + i`), with a config a registry tool can read.
pub struct TestImage {
    pub config: BlobSource,
    pub layers: Vec<BlobSource>,
    pub manifest: Vec<u8>,
}

impl TestImage {
    pub fn new(dir: &Path, seed: u64, layer_sizes: &[usize]) -> Self {
        std::fs::create_dir_all(dir).expect("mkdir");
        let layers: Vec<BlobSource> = layer_sizes
            .iter()
            .enumerate()
            .map(|(i, size)| write_blob(dir, &random_bytes(seed + i as u64, *size)))
            .collect();
        Self::from_layers(dir, seed, layers)
    }

    pub fn from_layers(dir: &Path, seed: u64, layers: Vec<BlobSource>) -> Self {
        let diff_ids: Vec<String> = layers.iter().map(|l| l.digest.to_string()).collect();
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": { "Env": [format!("SEED={seed}")] },
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
        });
        let config = write_blob(dir, config.to_string().as_bytes());
        let layer_descriptors: Vec<serde_json::Value> = layers
            .iter()
            .map(|l| {
                serde_json::json!({
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": l.digest.to_string(),
                    "size": l.size,
                })
            })
            .collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config.digest.to_string(),
                "size": config.size,
            },
            "layers": layer_descriptors,
        });
        Self {
            config,
            layers,
            manifest: serde_json::to_vec_pretty(&manifest).expect("json"),
        }
    }

    pub fn digest(&self) -> Digest {
        Digest::of(&self.manifest)
    }

    pub fn push(&self, tags: &[&str]) -> ImagePush {
        let mut blobs = vec![self.config.clone()];
        blobs.extend(self.layers.iter().cloned());
        ImagePush {
            blobs,
            manifest: self.manifest.clone(),
            manifest_media_type: OCI_MANIFEST.to_string(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            mount_from: None,
            blob_mounts: std::collections::HashMap::new(),
        }
    }
}
