//! The registry layer cache's format: one small OCI artifact per built layer, under
//! the tag `airlock-layer-<derivation key hex>` of the cache repository (tags work
//! on every registry, with or without the referrers API).
//!
//! ```text
//! manifest  artifactType application/vnd.airlock.layer-cache.v1
//!   config  application/vnd.airlock.layer-cache.config.v1+json: a CacheEntry
//!           (key, kind, the layer record, the kind's note)
//!   layers  [the layer blob itself, with its own media type]
//!   annotations dev.airlock.layer.key, dev.airlock.layer.kind
//! ```
//!
//! The layer blob is the image layer byte for byte, so an image pushed to the same
//! registry mounts it from the cache repository instead of uploading it.

use std::collections::HashMap;

use futures_util::StreamExt as _;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use super::auth::Scopes;
use super::client::{RegistryClient, endpoint};
use super::{BlobSource, RegistryError, Repository, parse_manifest};
use crate::digest::Digest;
use crate::http::HttpError;
use crate::oci::{DescriptorExt as _, descriptor, manifest_json, media_types};
use crate::store::LayerRecord;

/// `artifactType` of a cached layer's manifest.
pub(crate) const LAYER_CACHE_ARTIFACT_TYPE: &str = "application/vnd.airlock.layer-cache.v1";
/// Media type of its config, a [`CacheEntry`] as JSON.
pub(crate) const LAYER_CACHE_CONFIG: &str = "application/vnd.airlock.layer-cache.config.v1+json";
/// Annotations naming the key and the kind on the manifest (for people browsing).
const KEY_ANNOTATION: &str = "dev.airlock.layer.key";
const KIND_ANNOTATION: &str = "dev.airlock.layer.kind";
/// Largest cache entry (config) read.
const MAX_ENTRY_SIZE: usize = 1024 * 1024;

/// The tag of the cached layer of derivation key `key`.
pub(crate) fn cache_tag(key: &Digest) -> String {
    format!("airlock-layer-{}", key.hex())
}

/// What a cached layer's config says: the derivation key it was built under, its
/// kind, its record, and what the kind keeps beside it (the Debian layer's skipped
/// maintainer scripts; `null` for the others). Holds no URL and no credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CacheEntry {
    pub key: Digest,
    pub kind: String,
    pub record: LayerRecord,
    #[serde(default)]
    pub note: serde_json::Value,
}

impl CacheEntry {
    /// The config bytes and the artifact manifest bytes of this entry.
    pub(crate) fn artifact(&self) -> Result<(Vec<u8>, Vec<u8>), serde_json::Error> {
        let config = serde_json::to_vec(self)?;
        let mut manifest = crate::oci::artifact_manifest(
            LAYER_CACHE_ARTIFACT_TYPE,
            descriptor(LAYER_CACHE_CONFIG, Digest::of(&config), config.len() as u64),
            vec![descriptor(
                &self.record.media_type,
                self.record.digest.clone(),
                self.record.size,
            )],
        );
        manifest.set_annotations(Some(HashMap::from([
            (KEY_ANNOTATION.to_string(), self.key.to_string()),
            (KIND_ANNOTATION.to_string(), self.kind.clone()),
        ])));
        Ok((config, manifest_json(&manifest)?))
    }
}

impl RegistryClient {
    /// The cached layer of `key` in `repository`, or `None` when the repository has
    /// none. The entry must be a layer-cache artifact whose config names `key` and
    /// whose one layer is the blob its record names.
    pub(crate) async fn cached_layer(
        &self,
        repository: &Repository,
        key: &Digest,
    ) -> Result<Option<CacheEntry>, RegistryError> {
        let tag = cache_tag(key);
        let manifest = match self.fetch_manifest(repository, &tag).await {
            Ok(manifest) => manifest,
            Err(RegistryError::Api { status: 404, .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        let what = format!("{repository}:{tag}");
        let invalid = |detail: &str| RegistryError::Protocol {
            action: format!("cached layer `{what}`"),
            detail: detail.to_string(),
        };
        let parsed =
            parse_manifest(&manifest.bytes).map_err(|source| RegistryError::InvalidManifest {
                reference: what.clone(),
                source,
            })?;
        if parsed.artifact_type().as_ref().map(|t| t.to_string())
            != Some(LAYER_CACHE_ARTIFACT_TYPE.to_string())
        {
            return Err(invalid("not an airlock layer-cache artifact"));
        }
        let config = parsed.config();
        let [layer] = parsed.layers().as_slice() else {
            return Err(invalid("not exactly one layer"));
        };
        let config_digest = config
            .sha256()
            .map_err(|_| invalid("a config digest that is not sha256"))?;
        let bytes = self
            .small_blob(repository, &config_digest, config.size())
            .await?;
        let entry: CacheEntry =
            serde_json::from_slice(&bytes).map_err(|source| RegistryError::InvalidManifest {
                reference: format!("{what} (config)"),
                source,
            })?;
        let layer_digest = layer
            .sha256()
            .map_err(|_| invalid("a layer digest that is not sha256"))?;
        if &entry.key != key
            || entry.record.digest != layer_digest
            || entry.record.size != layer.size()
            || entry.record.media_type != layer.media_type().to_string()
        {
            return Err(invalid(
                "the entry does not match its key or its layer descriptor",
            ));
        }
        Ok(Some(entry))
    }

    /// Stores `entry` in `repository` under its tag: the layer blob (from `layer`,
    /// mounted from `mount_from` when that repository of the same registry has it),
    /// the config (from `config`), then the manifest. Returns false, doing nothing,
    /// when the tag is already there.
    pub(crate) async fn push_cached_layer(
        &self,
        repository: &Repository,
        entry: &CacheEntry,
        layer: &BlobSource,
        config: &BlobSource,
        mount_from: Option<&Repository>,
    ) -> Result<bool, RegistryError> {
        let tag = cache_tag(&entry.key);
        match self.fetch_manifest(repository, &tag).await {
            Ok(_) => return Ok(false),
            Err(RegistryError::Api { status: 404, .. }) => {}
            Err(error) => return Err(error),
        }
        let (config_bytes, manifest) =
            entry
                .artifact()
                .map_err(|source| RegistryError::InvalidManifest {
                    reference: format!("{repository}:{tag}"),
                    source,
                })?;
        if Digest::of(&config_bytes) != config.digest {
            return Err(RegistryError::DigestMismatch {
                what: format!("cache entry of `{}`", entry.key),
                expected: Digest::of(&config_bytes),
                actual: config.digest.clone(),
            });
        }
        self.push_blob(
            repository,
            &layer.digest,
            layer.size,
            &layer.path,
            mount_from,
        )
        .await?;
        self.push_blob(repository, &config.digest, config.size, &config.path, None)
            .await?;
        self.push_manifest(repository, &tag, &manifest, media_types::OCI_MANIFEST)
            .await?;
        Ok(true)
    }

    /// A small blob (at most [`MAX_ENTRY_SIZE`] and `size` bytes) in memory,
    /// verified against its digest.
    async fn small_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        size: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let action = format!("download blob `{digest}` from `{repository}`");
        let limit = (MAX_ENTRY_SIZE as u64).min(size);
        let client = self.http.reqwest();
        let response = self
            .send(
                repository.registry(),
                &Scopes::pull(repository),
                &action,
                true,
                |base| client.get(endpoint(base, repository, &format!("blobs/{digest}"))),
            )
            .await?;
        if response.status() != StatusCode::OK {
            return Err(Self::api_error(response, &action).await);
        }
        let url = crate::http::redact_url(response.url());
        let mut stream = response.bytes_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| RegistryError::Http {
                action: action.clone(),
                source: HttpError::request("GET", url.clone(), error),
            })?;
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > limit {
                return Err(RegistryError::Protocol {
                    action,
                    detail: format!("more than the {limit} bytes expected"),
                });
            }
        }
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(RegistryError::DigestMismatch {
                what: format!("blob from `{repository}`"),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> CacheEntry {
        CacheEntry {
            key: Digest::of(b"key"),
            kind: "python".into(),
            record: LayerRecord {
                digest: Digest::of(b"blob"),
                diff_id: Digest::of(b"tar"),
                size: 4,
                media_type: media_types::OCI_LAYER_GZIP.into(),
            },
            note: serde_json::Value::Null,
        }
    }

    #[test]
    fn the_cache_tag_is_the_key_hex_within_the_tag_grammar() {
        let tag = cache_tag(&Digest::of(b"key"));
        assert!(tag.starts_with("airlock-layer-"));
        assert!(tag.len() <= 128, "{tag}");
        assert!(
            tag.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        );
    }

    #[test]
    fn the_artifact_carries_the_layer_blob_and_the_entry() {
        let (config, manifest) = entry().artifact().expect("artifact");
        let back: CacheEntry = serde_json::from_slice(&config).expect("entry");
        assert_eq!(back, entry());
        let parsed = parse_manifest(&manifest).expect("manifest");
        assert_eq!(
            parsed.artifact_type().as_ref().map(ToString::to_string),
            Some(LAYER_CACHE_ARTIFACT_TYPE.to_string())
        );
        assert_eq!(parsed.layers().len(), 1);
        assert_eq!(
            parsed.layers()[0].sha256().expect("sha256"),
            Digest::of(b"blob")
        );
        assert_eq!(
            parsed.config().sha256().expect("sha256"),
            Digest::of(&config)
        );
        // Same entry, same bytes: a second runner's push finds the same manifest.
        assert_eq!(entry().artifact().expect("again").1, manifest);
    }
}
