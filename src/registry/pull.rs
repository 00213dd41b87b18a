//! Pull: resolve a reference to a manifest (choosing a platform from an index), and
//! download blobs to files, streamed and verified, renamed into place only when whole.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use futures_util::{StreamExt as _, TryStreamExt as _};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};

use super::BlobOutcome;
use super::auth::Scopes;
use super::client::{RegistryClient, endpoint};
use super::error::RegistryError;
use super::manifest::{
    FetchedManifest, MANIFEST_ACCEPT, Platform, ResolvedImage, declared_media_type, is_index,
    is_manifest, parse_index, parse_manifest, sha256,
};
use super::reference::{Reference, Repository};
use crate::digest::Digest;
use crate::http::HttpError;
use crate::oci::PlatformExt as _;

impl RegistryClient {
    /// Fetches a manifest or index by tag or digest, exactly as stored. Its digest is
    /// computed from the bytes and checked against the reference (when a digest) and
    /// against the registry's `Docker-Content-Digest`.
    pub async fn fetch_manifest(
        &self,
        repository: &Repository,
        reference: &str,
    ) -> Result<FetchedManifest, RegistryError> {
        let action = format!("fetch manifest `{repository}` `{reference}`");
        let scopes = Scopes::pull(repository);
        let client = self.http.reqwest();
        let response = self
            .send(repository.registry(), &scopes, &action, true, |base| {
                client
                    .get(endpoint(
                        base,
                        repository,
                        &format!("manifests/{reference}"),
                    ))
                    .header(ACCEPT, MANIFEST_ACCEPT)
            })
            .await?;
        if response.status() != StatusCode::OK {
            return Err(Self::api_error(response, &action).await);
        }
        let limit = self.config.max_manifest_size;
        let too_large = || RegistryError::ManifestTooLarge {
            reference: format!("{repository}:{reference}"),
            limit,
        };
        if response
            .content_length()
            .is_some_and(|length| length > limit as u64)
        {
            return Err(too_large());
        }
        let header_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.split(';').next().unwrap_or(value).trim().to_string());
        let header_digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<Digest>().ok());
        let url = crate::http::redact_url(response.url());
        let mut stream = response.bytes_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| RegistryError::Http {
                action: action.clone(),
                source: HttpError::request("GET", url.clone(), error),
            })?;
            bytes.extend_from_slice(&chunk);
            if bytes.len() > limit {
                return Err(too_large());
            }
        }
        let digest = Digest::of(&bytes);
        let expected = reference.parse::<Digest>().ok().or(header_digest);
        if let Some(expected) = expected
            && expected != digest
        {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest `{repository}` `{reference}`"),
                expected,
                actual: digest,
            });
        }
        let media_type = match header_type.filter(|t| is_index(t) || is_manifest(t)) {
            Some(media_type) => media_type,
            None => declared_media_type(&bytes).unwrap_or_default(),
        };
        if !is_index(&media_type) && !is_manifest(&media_type) {
            return Err(RegistryError::UnsupportedMediaType {
                reference: format!("{repository}:{reference}"),
                media_type,
            });
        }
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Resolves `reference` to the manifest for `platform`, through an index when the
    /// reference names one.
    pub async fn resolve(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<ResolvedImage, RegistryError> {
        let repository = reference.repository();
        let top = self
            .fetch_manifest(repository, &reference.manifest_reference())
            .await?;
        let (index, manifest) = if is_index(&top.media_type) {
            let index =
                parse_index(&top.bytes).map_err(|source| RegistryError::InvalidManifest {
                    reference: reference.to_string(),
                    source,
                })?;
            let chosen = index
                .manifests()
                .iter()
                .find(|entry| {
                    is_manifest(entry.media_type().as_ref())
                        && entry
                            .platform()
                            .as_ref()
                            .is_some_and(|p| platform.matches(p))
                })
                .ok_or_else(|| RegistryError::NoPlatform {
                    reference: reference.to_string(),
                    platform: platform.name(),
                })?;
            let chosen = sha256(chosen, reference)?;
            let manifest = self.fetch_manifest(repository, &chosen.to_string()).await?;
            (Some(top), manifest)
        } else {
            (None, top)
        };
        if !is_manifest(&manifest.media_type) {
            return Err(RegistryError::UnsupportedMediaType {
                reference: reference.to_string(),
                media_type: manifest.media_type,
            });
        }
        let fields =
            parse_manifest(&manifest.bytes).map_err(|source| RegistryError::InvalidManifest {
                reference: reference.to_string(),
                source,
            })?;
        if let Some(inner) = fields.media_type()
            && inner.as_ref() != manifest.media_type
        {
            return Err(RegistryError::Protocol {
                action: format!("manifest `{reference}`"),
                detail: format!("served as `{}` but declares `{inner}`", manifest.media_type),
            });
        }
        for descriptor in std::iter::once(fields.config()).chain(fields.layers()) {
            sha256(descriptor, reference)?;
        }
        Ok(ResolvedImage {
            index,
            manifest,
            config: fields.config().clone(),
            layers: fields.layers().clone(),
        })
    }

    /// Resolves `reference` and downloads its config and layers to `blob_path(digest)`
    /// (skipping files already there), several at once.
    pub async fn pull_image(
        &self,
        reference: &Reference,
        platform: &Platform,
        blob_path: impl Fn(&Digest) -> PathBuf,
    ) -> Result<ResolvedImage, RegistryError> {
        let image = self.resolve(reference, platform).await?;
        let mut wanted: Vec<(Digest, u64, PathBuf)> = Vec::new();
        for descriptor in std::iter::once(&image.config).chain(&image.layers) {
            let digest = sha256(descriptor, reference)?;
            if !wanted.iter().any(|(wanted, ..)| wanted == &digest) {
                let path = blob_path(&digest);
                wanted.push((digest, descriptor.size(), path));
            }
        }
        let repository = reference.repository();
        futures_util::stream::iter(wanted)
            .map(|(digest, size, path)| async move {
                if path.exists() {
                    self.progress.blob_finished(&digest, BlobOutcome::Cached);
                    return Ok(());
                }
                self.fetch_blob_sized(repository, &digest, Some(size), &path)
                    .await
                    .map(|_| ())
            })
            .buffer_unordered(self.config.parallelism.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        Ok(image)
    }

    /// Downloads blob `digest` to `dest`: streamed to a temp file beside it, resumed
    /// with `Range` after a broken transfer, verified, then renamed into place. Returns
    /// the size. A blob never sits whole in memory.
    pub async fn fetch_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        dest: &Path,
    ) -> Result<u64, RegistryError> {
        self.fetch_blob_sized(repository, digest, None, dest).await
    }

    /// [`Self::fetch_blob`] for a blob whose size a descriptor gives: a registry
    /// sending more is cut off instead of filling the disk.
    pub async fn fetch_blob_sized(
        &self,
        repository: &Repository,
        digest: &Digest,
        size: Option<u64>,
        dest: &Path,
    ) -> Result<u64, RegistryError> {
        let action = format!("download blob `{digest}` from `{repository}`");
        let io_error = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| RegistryError::Io {
                action,
                path,
                source,
            }
        };
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(io_error("create directory", dir))?;
        let temp = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(dir)
            .map_err(io_error("create a temporary file in", dir))?;
        let handle = temp
            .as_file()
            .try_clone()
            .map_err(io_error("open", temp.path()))?;
        let mut download = Download {
            file: tokio::fs::File::from_std(handle),
            hasher: Sha256::new(),
            written: 0,
            limit: size,
        };
        self.progress.blob_started(digest, size);
        let policy = self.http.retry_policy().clone();
        let mut attempt = 1;
        loop {
            match self
                .download_once(repository, digest, &action, &mut download, temp.path())
                .await
            {
                Ok(()) => break,
                Err(error) if error.is_retryable() && policy.allows_another(attempt) => {
                    let wait = policy.delay(attempt, None);
                    tracing::warn!(%error, ?wait, attempt, "blob download interrupted, resuming");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(error) => return Err(exhausted(error, &action, attempt)),
            }
        }
        download
            .file
            .flush()
            .await
            .map_err(io_error("write", temp.path()))?;
        download
            .file
            .sync_all()
            .await
            .map_err(io_error("write", temp.path()))?;
        let actual = Digest::from_sha256(download.hasher.finalize().into());
        if &actual != digest {
            return Err(RegistryError::DigestMismatch {
                what: format!("blob from `{repository}`"),
                expected: digest.clone(),
                actual,
            });
        }
        temp.persist(dest).map_err(|error| RegistryError::Io {
            action: "move a downloaded blob to",
            path: dest.to_path_buf(),
            source: error.error,
        })?;
        self.progress.blob_finished(digest, BlobOutcome::Downloaded);
        Ok(download.written)
    }

    async fn download_once(
        &self,
        repository: &Repository,
        digest: &Digest,
        action: &str,
        download: &mut Download,
        temp_path: &Path,
    ) -> Result<(), RegistryError> {
        let client = self.http.reqwest();
        let offset = download.written;
        let mut response = self
            .send(
                repository.registry(),
                &Scopes::pull(repository),
                action,
                true,
                |base| {
                    let request =
                        client.get(endpoint(base, repository, &format!("blobs/{digest}")));
                    if offset > 0 {
                        request.header(RANGE, format!("bytes={offset}-"))
                    } else {
                        request
                    }
                },
            )
            .await?;
        let write_error = |source| RegistryError::Io {
            action: "write",
            path: temp_path.to_path_buf(),
            source,
        };
        match response.status() {
            StatusCode::OK => {
                if download.written > 0 {
                    download.restart().await.map_err(write_error)?;
                }
            }
            StatusCode::PARTIAL_CONTENT => {
                let start = response
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.strip_prefix("bytes "))
                    .and_then(|value| value.split('-').next())
                    .and_then(|value| value.parse::<u64>().ok());
                if start != Some(offset) {
                    download.restart().await.map_err(write_error)?;
                    return Err(RegistryError::Protocol {
                        action: action.to_string(),
                        detail: "a range answer that does not continue the download".to_string(),
                    });
                }
            }
            _ => return Err(Self::api_error(response, action).await),
        }
        let url = crate::http::redact_url(response.url());
        loop {
            let chunk = response
                .chunk()
                .await
                .map_err(|error| RegistryError::Http {
                    action: action.to_string(),
                    source: HttpError::request("GET", url.clone(), error),
                })?;
            let Some(chunk) = chunk else {
                return Ok(());
            };
            if let Some(limit) = download.limit
                && download.written + chunk.len() as u64 > limit
            {
                return Err(RegistryError::Protocol {
                    action: action.to_string(),
                    detail: format!("more than the {limit} bytes the descriptor gives"),
                });
            }
            download.file.write_all(&chunk).await.map_err(write_error)?;
            download.hasher.update(&chunk);
            download.written += chunk.len() as u64;
            self.progress.blob_position(digest, download.written);
        }
    }
}

struct Download {
    file: tokio::fs::File,
    hasher: Sha256,
    written: u64,
    limit: Option<u64>,
}

impl Download {
    async fn restart(&mut self) -> std::io::Result<()> {
        self.file.flush().await?;
        self.file.set_len(0).await?;
        self.file.seek(SeekFrom::Start(0)).await?;
        self.hasher = Sha256::new();
        self.written = 0;
        Ok(())
    }
}

/// After retries, say so; a first-attempt failure stays as it is.
pub(crate) fn exhausted(error: RegistryError, action: &str, attempts: u32) -> RegistryError {
    if attempts > 1 && error.is_retryable() {
        RegistryError::Exhausted {
            action: action.to_string(),
            attempts,
            last: Box::new(error),
        }
    } else {
        error
    }
}
