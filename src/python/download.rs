//! Wheels into the store, by hash: a wheel is fetched only when the store has no
//! blob of its sha256, streamed to a temp file while hashed, and committed under its
//! digest only when its hash matches the lock. Credentials for a locked URL
//! (which has none) come from the configured index on the same host.

use std::sync::Arc;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use url::Url;

use super::index_client::split_credentials;
use super::index_url::IndexUrl;
use crate::digest::{Digest, HashingWriter};
use crate::http::{BlobOutcome, HttpClient, HttpError, Progress};
use crate::store::{Store, StoreError};

/// One wheel to have in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WheelFetch {
    pub filename: String,
    /// Where to get it (may carry credentials).
    pub url: IndexUrl,
    pub sha256: Digest,
    /// Who vouches for `sha256` (named when the bytes differ).
    pub pinned_by: HashSource,
}

/// Where an expected wheel hash comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashSource {
    /// `airlock.lock` (a build from the lock).
    Lock,
    /// The index's listing (while locking: no lock is written yet).
    Index,
}

impl std::fmt::Display for HashSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Lock => "airlock.lock pins",
            Self::Index => "the index lists",
        })
    }
}

/// Why a wheel could not be put in the store.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error(
        "`{filename}` from `{url}` has sha256 `{actual}` ({size} bytes), but {pinned_by} `{expected}`"
    )]
    Hash {
        filename: String,
        /// Redacted.
        url: String,
        expected: Digest,
        actual: Digest,
        size: u64,
        pinned_by: HashSource,
    },
    #[error("`{filename}` is not in the store and `--offline` forbids downloading it")]
    Offline { filename: String },
    #[error("Downloading `{filename}` failed: `{url}` answered HTTP {status}")]
    Status {
        filename: String,
        url: String,
        status: u16,
    },
    #[error("Downloading `{filename}` failed")]
    Http {
        filename: String,
        #[source]
        source: HttpError,
    },
    #[error("Downloading `{filename}` from `{url}` failed while reading the answer")]
    Body {
        filename: String,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Cannot write the download of `{filename}`")]
    Write {
        filename: String,
        #[source]
        source: std::io::Error,
    },
}

/// The locked URL with the credentials of the configured index on the same origin,
/// if one has any.
pub(crate) fn with_index_credentials(url: &str, indexes: &[IndexUrl]) -> Option<IndexUrl> {
    let mut url = Url::parse(url).ok()?;
    if let Some(index) = indexes.iter().find(|i| {
        i.has_credentials()
            && i.url().scheme() == url.scheme()
            && i.url().host_str() == url.host_str()
            && i.url().port_or_known_default() == url.port_or_known_default()
    }) {
        let _ = url.set_username(index.url().username());
        let _ = url.set_password(index.url().password());
    }
    IndexUrl::from_url(url).ok()
}

/// Makes sure the store has every wheel, `concurrency` downloads at a time.
pub(crate) async fn fetch_wheels(
    http: &HttpClient,
    store: &Store,
    wheels: &[WheelFetch],
    offline: bool,
    concurrency: usize,
    progress: &dyn Progress,
) -> Result<(), DownloadError> {
    let store = Arc::new(store.clone());
    stream::iter(wheels.iter().filter(|w| !store.has_blob(&w.sha256)))
        .map(|wheel| {
            let store = store.clone();
            async move {
                if offline {
                    return Err(DownloadError::Offline {
                        filename: wheel.filename.clone(),
                    });
                }
                fetch_one(http, &store, wheel, progress).await
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

async fn fetch_one(
    http: &HttpClient,
    store: &Store,
    wheel: &WheelFetch,
    progress: &dyn Progress,
) -> Result<(), DownloadError> {
    if wheel.url.url().scheme() == "file"
        && let Ok(path) = wheel.url.url().to_file_path()
    {
        return match store.import_file(&path, &wheel.sha256) {
            Ok(_) => Ok(()),
            Err(StoreError::DigestMismatch { actual, .. }) => Err(DownloadError::Hash {
                filename: wheel.filename.clone(),
                url: wheel.url.redacted(),
                expected: wheel.sha256.clone(),
                actual,
                size: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
                pinned_by: wheel.pinned_by,
            }),
            Err(error) => Err(error.into()),
        };
    }
    tracing::info!(wheel = %wheel.filename, "downloading");
    let (plain, auth) = split_credentials(&wheel.url);
    let response = http
        .send(|| {
            let request = http.reqwest().get(plain.clone());
            match &auth {
                Some((user, password)) => request.basic_auth(user, password.as_ref()),
                None => request,
            }
        })
        .await
        .map_err(|source| DownloadError::Http {
            filename: wheel.filename.clone(),
            source,
        })?;
    if !response.status().is_success() {
        return Err(DownloadError::Status {
            filename: wheel.filename.clone(),
            url: wheel.url.redacted(),
            status: response.status().as_u16(),
        });
    }
    let write_err = |source| DownloadError::Write {
        filename: wheel.filename.clone(),
        source,
    };
    let temp = store.temp_file()?;
    let mut writer = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, temp));
    progress.blob_named(&wheel.sha256, &wheel.filename);
    progress.blob_started(&wheel.sha256, response.content_length());
    let mut received = 0;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|source| DownloadError::Body {
            filename: wheel.filename.clone(),
            url: wheel.url.redacted(),
            source: source.without_url(),
        })?;
        std::io::Write::write_all(&mut writer, &chunk).map_err(write_err)?;
        received += chunk.len() as u64;
        progress.blob_position(&wheel.sha256, received);
    }
    let (actual, size, buffered) = writer.finish();
    let temp = buffered
        .into_inner()
        .map_err(|e| write_err(e.into_error()))?;
    if actual != wheel.sha256 {
        return Err(DownloadError::Hash {
            filename: wheel.filename.clone(),
            url: wheel.url.redacted(),
            expected: wheel.sha256.clone(),
            actual,
            size,
            pinned_by: wheel.pinned_by,
        });
    }
    store.commit_blob(temp, &wheel.sha256)?;
    progress.blob_finished(&wheel.sha256, BlobOutcome::Downloaded);
    Ok(())
}

impl crate::hint::Hint for DownloadError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Hash {
                pinned_by: HashSource::Index,
                ..
            } => vec![
                "The index serves other bytes than the hash it lists (a broken or tampered \
                 mirror); nothing was locked: fix the index, then run `airlock lock` again"
                    .into(),
            ],
            Self::Hash {
                pinned_by: HashSource::Lock,
                ..
            } => vec![
                "The file on the index is not the one that was locked: check the index (a mirror \
                 may serve other bytes), then re-lock on purpose with `airlock lock --upgrade-package NAME`"
                    .into(),
            ],
            Self::Offline { .. } => {
                vec!["Run once without `--offline` (or `--frozen`) to fill the store".into()]
            }
            Self::Http { source, .. } => source.hints(),
            Self::Store(error) => error.hints(),
            Self::Status { .. } | Self::Body { .. } | Self::Write { .. } => Vec::new(),
        }
    }
}
