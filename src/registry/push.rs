//! Push: blobs first (skip what exists, mount across repositories, else upload in one
//! `PUT` or in resumable chunks), then the manifest, byte for byte, then tags.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE};
use url::Url;

use super::BlobOutcome;
use super::auth::Scopes;
use super::client::{RegistryClient, endpoint, location};
use super::error::RegistryError;
use super::pull::exhausted;
use super::reference::Repository;
use crate::digest::Digest;
use crate::http::RetryPolicy;

const OCTET_STREAM: &str = "application/octet-stream";

/// A blob to push: its digest, its size and the file holding its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobSource {
    pub digest: Digest,
    pub size: u64,
    pub path: PathBuf,
}

/// Everything one image push needs.
#[derive(Debug, Clone)]
pub struct ImagePush {
    /// The config and every layer (duplicates are pushed once).
    pub blobs: Vec<BlobSource>,
    /// The manifest exactly as it must be stored (its digest is the image digest).
    pub manifest: Vec<u8>,
    pub manifest_media_type: String,
    /// Tags to point at the manifest once it is stored; may be empty.
    pub tags: Vec<String>,
    /// Another repository of the same registry that may hold some blobs (the base).
    pub mount_from: Option<Repository>,
    /// Blobs another repository of the same registry is known to hold (layers of a
    /// registry layer cache): mounted from there rather than from `mount_from`.
    pub blob_mounts: std::collections::HashMap<Digest, Repository>,
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct PushReport {
    pub manifest_digest: Digest,
    pub blobs: Vec<(Digest, BlobOutcome)>,
}

impl RegistryClient {
    /// The size of blob `digest` in `repository`, or `None` when it is not there.
    pub async fn blob_exists(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        self.head_blob(repository, digest, &Scopes::pull(repository))
            .await
    }

    async fn head_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        scopes: &Scopes,
    ) -> Result<Option<u64>, RegistryError> {
        let action = format!("check blob `{digest}` in `{repository}`");
        let client = self.http.reqwest();
        let response = self
            .send(repository.registry(), scopes, &action, true, |base| {
                client.head(endpoint(base, repository, &format!("blobs/{digest}")))
            })
            .await?;
        match response.status() {
            StatusCode::OK => Ok(Some(
                response
                    .headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(Self::api_error(response, &action).await),
        }
    }

    /// Makes sure blob `digest` (`size` bytes, read from `source`) is in `repository`:
    /// nothing to do if it exists; mounted from `mount_from` when that repository of
    /// the same registry has it; else uploaded, in one `PUT` up to
    /// `monolithic_limit`, in chunks above. Broken chunked uploads resume from the
    /// range the registry reports; others restart, within the retry policy.
    pub async fn push_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        size: u64,
        source: &Path,
        mount_from: Option<&Repository>,
    ) -> Result<BlobOutcome, RegistryError> {
        let action = format!("upload blob `{digest}` to `{repository}`");
        let actual_size = tokio::fs::metadata(source)
            .await
            .map_err(|source_error| RegistryError::Io {
                action: "read",
                path: source.to_path_buf(),
                source: source_error,
            })?
            .len();
        if actual_size != size {
            return Err(RegistryError::Io {
                action: "upload",
                path: source.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("the file has {actual_size} bytes but blob `{digest}` has {size}"),
                ),
            });
        }
        let mount_from = mount_from
            .filter(|other| other.registry() == repository.registry() && *other != repository);
        let scopes = match mount_from {
            Some(other) => Scopes::push(repository).and_pull(other),
            None => Scopes::push(repository),
        };
        self.progress.blob_started(digest, Some(size));
        if self.head_blob(repository, digest, &scopes).await?.is_some() {
            self.progress.blob_finished(digest, BlobOutcome::Existed);
            return Ok(BlobOutcome::Existed);
        }
        let upload = Upload {
            repository,
            digest,
            size,
            source,
            mount_from,
            scopes: &scopes,
            action: &action,
        };
        let policy = self.http.retry_policy().clone();
        let mut attempt = 1;
        loop {
            match self.upload_once(&upload, &policy, &mut attempt).await {
                Ok(outcome) => {
                    self.progress.blob_finished(digest, outcome);
                    return Ok(outcome);
                }
                Err(error) if error.is_retryable() && policy.allows_another(attempt) => {
                    let wait = policy.delay(attempt, None);
                    tracing::warn!(%error, ?wait, attempt, "blob upload failed, starting again");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(error) => return Err(exhausted(error, &action, attempt)),
            }
        }
    }

    async fn upload_once(
        &self,
        upload: &Upload<'_>,
        policy: &RetryPolicy,
        attempt: &mut u32,
    ) -> Result<BlobOutcome, RegistryError> {
        let Upload {
            repository,
            digest,
            size,
            ..
        } = *upload;
        let client = self.http.reqwest();
        let response = self
            .send(
                repository.registry(),
                upload.scopes,
                upload.action,
                true,
                |base| {
                    let mut url = endpoint(base, repository, "blobs/uploads/");
                    if let Some(other) = upload.mount_from {
                        url.query_pairs_mut()
                            .append_pair("mount", &digest.to_string())
                            .append_pair("from", other.name());
                    }
                    client.post(url).header(CONTENT_LENGTH, 0)
                },
            )
            .await?;
        match response.status() {
            StatusCode::CREATED if upload.mount_from.is_some() => return Ok(BlobOutcome::Mounted),
            StatusCode::ACCEPTED => {}
            _ => return Err(Self::api_error(response, upload.action).await),
        }
        let session = location(&response, upload.action)?;
        let min_chunk = response
            .headers()
            .get("oci-chunk-min-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let session = if size <= self.config.monolithic_limit {
            session
        } else {
            let chunk = self.config.chunk_size.max(min_chunk).max(1);
            self.upload_chunks(upload, session, chunk, policy, attempt)
                .await?
        };
        // Monolithic: the whole body goes with the closing PUT. Chunked: an empty one.
        let monolithic = size <= self.config.monolithic_limit;
        let mut url = session;
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let response = self
            .send(
                repository.registry(),
                upload.scopes,
                upload.action,
                !monolithic,
                |_| {
                    let request = client.put(url.clone()).header(CONTENT_TYPE, OCTET_STREAM);
                    if monolithic {
                        request.header(CONTENT_LENGTH, size).body(self.file_body(
                            upload.source,
                            0,
                            size,
                            digest,
                        ))
                    } else {
                        request.header(CONTENT_LENGTH, 0)
                    }
                },
            )
            .await?;
        match response.status() {
            StatusCode::CREATED => Ok(BlobOutcome::Uploaded),
            // A lost answer to a PUT that succeeded leaves the session gone but the
            // blob there.
            StatusCode::NOT_FOUND
                if !monolithic
                    && self
                        .head_blob(repository, digest, upload.scopes)
                        .await?
                        .is_some() =>
            {
                Ok(BlobOutcome::Uploaded)
            }
            _ => Err(Self::api_error(response, upload.action).await),
        }
    }

    /// Sends the blob in `PATCH` chunks with `Content-Range`; returns the session URL
    /// to close with `PUT`. After a failed chunk, asks the registry (`GET` on the
    /// session) how much it has and goes on from there.
    async fn upload_chunks(
        &self,
        upload: &Upload<'_>,
        mut session: Url,
        chunk: u64,
        policy: &RetryPolicy,
        attempt: &mut u32,
    ) -> Result<Url, RegistryError> {
        let Upload {
            repository,
            digest,
            size,
            source,
            ..
        } = *upload;
        let registry = repository.registry();
        let client = self.http.reqwest();
        let mut offset = 0;
        while offset < size {
            let length = chunk.min(size - offset);
            let end = offset + length - 1;
            let result = self
                .send(registry, upload.scopes, upload.action, false, |_| {
                    client
                        .patch(session.clone())
                        .header(CONTENT_TYPE, OCTET_STREAM)
                        .header(CONTENT_RANGE, format!("{offset}-{end}"))
                        .header(CONTENT_LENGTH, length)
                        .body(self.file_body(source, offset, length, digest))
                })
                .await;
            let failure = match result {
                Ok(response) if response.status() == StatusCode::ACCEPTED => {
                    session = location(&response, upload.action)?;
                    offset = range_end(&response).map_or(end + 1, |last| last + 1);
                    continue;
                }
                Ok(response) if response.status() == StatusCode::RANGE_NOT_SATISFIABLE => {
                    return Err(RegistryError::Protocol {
                        action: upload.action.to_string(),
                        detail: "the registry's upload range is out of step".to_string(),
                    });
                }
                Ok(response) if RetryPolicy::is_retryable_status(response.status()) => {
                    let retry_after = RetryPolicy::retry_after(response.headers());
                    (Self::api_error(response, upload.action).await, retry_after)
                }
                Ok(response) => return Err(Self::api_error(response, upload.action).await),
                Err(error) if error.is_retryable() => (error, None),
                Err(error) => return Err(error),
            };
            if !policy.allows_another(*attempt) {
                return Err(failure.0);
            }
            let wait = policy.delay(*attempt, failure.1);
            tracing::warn!(error = %failure.0, ?wait, attempt = *attempt, offset, "chunk failed, resuming");
            tokio::time::sleep(wait).await;
            *attempt += 1;
            (session, offset) = self.upload_status(upload, &session).await?;
        }
        Ok(session)
    }

    /// Where an upload stands: its current URL and the next offset to send.
    async fn upload_status(
        &self,
        upload: &Upload<'_>,
        session: &Url,
    ) -> Result<(Url, u64), RegistryError> {
        let client = self.http.reqwest();
        let response = self
            .send(
                upload.repository.registry(),
                upload.scopes,
                upload.action,
                true,
                |_| client.get(session.clone()),
            )
            .await?;
        if response.status() != StatusCode::NO_CONTENT {
            // Typically BLOB_UPLOAD_UNKNOWN: the session is gone; start over.
            let error = Self::api_error(response, upload.action).await;
            return Err(RegistryError::Protocol {
                action: upload.action.to_string(),
                detail: format!("the upload session cannot be resumed ({error})"),
            });
        }
        let url = location(&response, upload.action).unwrap_or_else(|_| session.clone());
        // `0-0` means nothing or one byte; only nothing is safe to assume.
        let next = match range_end(&response) {
            Some(0) | None => 0,
            Some(last) => last + 1,
        };
        tracing::debug!(next, "resuming upload");
        Ok((url, next))
    }

    /// Stores `bytes` as a manifest under `reference` (a tag or the digest), exactly as
    /// given, and returns its digest.
    pub async fn push_manifest(
        &self,
        repository: &Repository,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest, RegistryError> {
        let digest = Digest::of(bytes);
        let action = format!("store manifest `{digest}` as `{repository}` `{reference}`");
        let body = Bytes::copy_from_slice(bytes);
        let client = self.http.reqwest();
        let response = self
            .send(
                repository.registry(),
                &Scopes::push(repository),
                &action,
                true,
                |base| {
                    client
                        .put(endpoint(
                            base,
                            repository,
                            &format!("manifests/{reference}"),
                        ))
                        .header(CONTENT_TYPE, media_type)
                        .body(body.clone())
                },
            )
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(Self::api_error(response, &action).await);
        }
        if let Some(stored) = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok())
            && stored != digest
        {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest stored as `{repository}` `{reference}`"),
                expected: digest,
                actual: stored,
            });
        }
        Ok(digest)
    }

    /// Pushes an image: every blob first (`parallelism` at once), then the manifest by
    /// digest, then each tag. A manifest is never stored before all its blobs are.
    pub async fn push_image(
        &self,
        repository: &Repository,
        image: &ImagePush,
    ) -> Result<PushReport, RegistryError> {
        let mut blobs: Vec<&BlobSource> = Vec::new();
        for blob in &image.blobs {
            if !blobs.iter().any(|b| b.digest == blob.digest) {
                blobs.push(blob);
            }
        }
        let mount_from = image.mount_from.as_ref();
        let outcomes = futures_util::stream::iter(blobs)
            .map(|blob| async move {
                let from = image.blob_mounts.get(&blob.digest).or(mount_from);
                self.push_blob(repository, &blob.digest, blob.size, &blob.path, from)
                    .await
                    .map(|outcome| (blob.digest.clone(), outcome))
            })
            .buffer_unordered(self.config.parallelism.max(1))
            .try_collect::<Vec<_>>()
            .await?;
        let digest = Digest::of(&image.manifest);
        self.push_manifest(
            repository,
            &digest.to_string(),
            &image.manifest,
            &image.manifest_media_type,
        )
        .await?;
        for tag in &image.tags {
            self.push_manifest(repository, tag, &image.manifest, &image.manifest_media_type)
                .await?;
        }
        Ok(PushReport {
            manifest_digest: digest,
            blobs: outcomes,
        })
    }
}

struct Upload<'a> {
    repository: &'a Repository,
    digest: &'a Digest,
    size: u64,
    source: &'a Path,
    mount_from: Option<&'a Repository>,
    scopes: &'a Scopes,
    action: &'a str,
}

/// The last byte offset of a `Range: 0-<last>` answer.
fn range_end(response: &reqwest::Response) -> Option<u64> {
    let value = response.headers().get("range")?.to_str().ok()?;
    let value = value.strip_prefix("bytes=").unwrap_or(value);
    value.split_once('-')?.1.trim().parse().ok()
}
