//! The archive client: `InRelease` (signature verified), `Packages` indices (checked
//! against the verified `InRelease`) and `.deb` files (checked against the hash
//! the lock or the index gives), all kept in the store by hash.
//!
//! It speaks HTTP through the crate's shared client and never decides what to
//! install: the resolver and the lock do that. No archive address is known here;
//! every URI comes from the base image's apt sources or from `airlock.toml`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;

use super::keyring::{Keyring, KeyringError};
use super::release::{Release, ReleaseError, split_clearsigned};
use crate::digest::{Digest, HashingWriter};
use crate::http::{
    BlobOutcome, HttpClient, HttpError, HttpSettings, NoProgress, Progress, redact_url,
};
use crate::store::{Store, StoreError};

/// How many `.deb` downloads run at once.
const PARALLEL_DOWNLOADS: usize = 6;
/// The architecture whose indices are read.
pub(crate) const ARCH: &str = "amd64";

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("`{url}` answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("Reading `{url}` failed: {reason}")]
    Body { url: String, reason: String },
    #[error("The `InRelease` of `{repo}` is not signed by a trusted key")]
    Unverified {
        repo: String,
        #[source]
        source: KeyringError,
    },
    #[error("The `InRelease` of `{repo}` cannot be read")]
    BadRelease {
        repo: String,
        #[source]
        source: ReleaseError,
    },
    #[error("`{repo}` has no key to check its `InRelease` with")]
    NoKeyring { repo: String },
    #[error("`{repo}` lists no `Packages` index for `{component}` on {ARCH}")]
    NoIndex { repo: String, component: String },
    #[error(
        "`{url}` does not match the hash the signed `InRelease` gives (expected `{expected}`, got `{actual}`): the index was tampered with or the mirror is inconsistent"
    )]
    IndexMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("`{path}` cannot be decompressed: {reason}")]
    Decompress { path: String, reason: String },
    #[error(
        "`{url}` does not match its hash (expected `{expected}`, got `{actual}`, {size} bytes): the file was tampered with or the mirror is broken"
    )]
    DebMismatch {
        url: String,
        expected: Digest,
        actual: Digest,
        size: u64,
    },
    #[error("`{filename}` is not in the store and `--offline` forbids downloading it")]
    Offline { filename: String },
    #[error("`{filename}` could not be downloaded from any source")]
    NotFound {
        filename: String,
        #[source]
        last: Box<ArchiveError>,
    },
}

/// One binary repository, with what is needed to trust it.
#[derive(Debug, Clone)]
pub(crate) struct Repository {
    pub uri: String,
    pub suite: String,
    /// Empty for a flat repository (`suite` ends with `/`).
    pub components: Vec<String>,
    /// Keys its `InRelease` must be signed with.
    pub keyring: Keyring,
    /// Accept an unsigned or unverifiable `InRelease` (the user said so).
    pub trusted: bool,
}

impl Repository {
    fn base(&self) -> &str {
        self.uri.trim_end_matches('/')
    }

    fn is_flat(&self) -> bool {
        self.suite.ends_with('/')
    }

    /// `uri suite` as apt prints it.
    pub(crate) fn describe(&self) -> String {
        format!("{} {}", self.base(), self.suite)
    }

    /// The directory `InRelease` and the indices sit in.
    fn dist_url(&self) -> String {
        if self.is_flat() {
            format!("{}/{}", self.base(), self.suite.trim_start_matches("./"))
        } else {
            format!("{}/dists/{}/", self.base(), self.suite)
        }
    }
}

/// A verified `InRelease`: its parsed body and the digest of the file as fetched.
#[derive(Debug, Clone)]
pub(crate) struct FetchedRelease {
    pub release: Release,
    pub digest: Digest,
}

/// A `.deb` to fetch: where it sits in the pool and what it must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DebRequest {
    pub filename: String,
    pub sha256: Digest,
    pub size: u64,
    /// Repository roots to try, in order (the source's URI, then fallbacks).
    pub bases: Vec<String>,
}

/// The archive client. Blocking: its requests run on the runtime it is given.
pub(crate) struct ArchiveClient<'s> {
    store: &'s Store,
    http: Option<HttpClient>,
    runtime: tokio::runtime::Handle,
    /// Hears of each `.deb` download.
    progress: Arc<dyn Progress>,
}

impl<'s> ArchiveClient<'s> {
    /// `offline` forbids every request: only what the store holds can be used.
    /// Requests run on `runtime` (a multi-thread runtime's handle).
    pub(crate) fn new(
        store: &'s Store,
        offline: bool,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, ArchiveError> {
        let http = if offline {
            None
        } else {
            Some(HttpClient::new(&HttpSettings::default())?)
        };
        Ok(Self {
            store,
            http,
            runtime,
            progress: Arc::new(NoProgress),
        })
    }

    /// Reports each `.deb` download's bytes to `progress`.
    pub(crate) fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    fn http(&self, what: &str) -> Result<&HttpClient, ArchiveError> {
        self.http.as_ref().ok_or_else(|| ArchiveError::Offline {
            filename: what.to_string(),
        })
    }

    async fn get(http: &HttpClient, url: &str) -> Result<reqwest::Response, ArchiveError> {
        let response = http.send(|| http.reqwest().get(url)).await?;
        if !response.status().is_success() {
            return Err(ArchiveError::Status {
                url: redacted(url),
                status: response.status().as_u16(),
            });
        }
        Ok(response)
    }

    fn get_bytes(&self, url: &str) -> Result<Vec<u8>, ArchiveError> {
        let http = self.http(url)?;
        self.runtime.block_on(async {
            let response = Self::get(http, url).await?;
            let bytes = response.bytes().await.map_err(|e| ArchiveError::Body {
                url: redacted(url),
                reason: e.to_string(),
            })?;
            Ok(bytes.to_vec())
        })
    }

    /// Fetches and verifies the repository's `InRelease`, keeping it in the store.
    pub(crate) fn release(&self, repo: &Repository) -> Result<FetchedRelease, ArchiveError> {
        let url = format!("{}InRelease", repo.dist_url());
        let fetched = self.get_bytes(&url);
        let (bytes, body) = match fetched {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let body = if repo.trusted {
                    match split_clearsigned(&text) {
                        Ok((body, _)) => body,
                        Err(_) => text.clone(),
                    }
                } else {
                    if repo.keyring.is_empty() {
                        return Err(ArchiveError::NoKeyring {
                            repo: repo.describe(),
                        });
                    }
                    repo.keyring.verify_clearsigned(&text).map_err(|source| {
                        ArchiveError::Unverified {
                            repo: repo.describe(),
                            source,
                        }
                    })?
                };
                (bytes, body)
            }
            // An unsigned repository has only `Release`; accepted when trusted.
            Err(ArchiveError::Status { status: 404, .. }) if repo.trusted => {
                let bytes = self.get_bytes(&format!("{}Release", repo.dist_url()))?;
                let body = String::from_utf8_lossy(&bytes).into_owned();
                (bytes, body)
            }
            Err(e) => return Err(e),
        };
        let release = Release::parse(&body).map_err(|source| ArchiveError::BadRelease {
            repo: repo.describe(),
            source,
        })?;
        let digest = self.store.put_bytes(&bytes)?;
        tracing::info!(repo = %redacted(&repo.describe()), %digest, "InRelease verified");
        Ok(FetchedRelease { release, digest })
    }

    /// The uncompressed `Packages` text of one component, checked against the
    /// verified `InRelease`. Served from the store when it holds that hash.
    pub(crate) fn packages(
        &self,
        repo: &Repository,
        release: &Release,
        component: &str,
    ) -> Result<String, ArchiveError> {
        let dir = if repo.is_flat() {
            String::new()
        } else {
            format!("{component}/binary-{ARCH}/")
        };
        let plain = release.file(&format!("{dir}Packages"));
        if let Some(entry) = plain
            && let Ok(digest) = format!("sha256:{}", entry.sha256).parse::<Digest>()
            && self.store.has_blob(&digest)
        {
            let bytes = self.store.read_blob(&digest)?;
            return Ok(String::from_utf8_lossy(&bytes).into_owned());
        }
        let choice = ["Packages.xz", "Packages.gz", "Packages"]
            .iter()
            .find_map(|name| release.file(&format!("{dir}{name}")))
            .ok_or_else(|| ArchiveError::NoIndex {
                repo: repo.describe(),
                component: component.to_string(),
            })?;
        let url = if release.acquire_by_hash && !repo.is_flat() {
            format!("{}{dir}by-hash/SHA256/{}", repo.dist_url(), choice.sha256)
        } else {
            format!("{}{}", repo.dist_url(), choice.path)
        };
        let bytes = self.get_bytes(&url)?;
        let actual = Digest::of(&bytes);
        if actual.hex() != choice.sha256 || bytes.len() as u64 != choice.size {
            return Err(ArchiveError::IndexMismatch {
                url: redacted(&url),
                expected: choice.sha256.clone(),
                actual: actual.hex().to_string(),
            });
        }
        let text = decompress(&choice.path, &bytes)?;
        if let Some(entry) = plain {
            let digest = Digest::of(&text);
            if digest.hex() != entry.sha256 {
                return Err(ArchiveError::IndexMismatch {
                    url: redacted(&url),
                    expected: entry.sha256.clone(),
                    actual: digest.hex().to_string(),
                });
            }
        }
        self.store.put_bytes(&text)?;
        Ok(String::from_utf8_lossy(&text).into_owned())
    }

    /// Makes sure every `.deb` is in the store (downloading what is missing, several
    /// at once) and returns their store paths, in the order asked.
    pub(crate) fn debs(&self, requests: &[DebRequest]) -> Result<Vec<PathBuf>, ArchiveError> {
        self.runtime.block_on(self.download(requests))?;
        Ok(requests
            .iter()
            .map(|r| self.store.blob_path(&r.sha256))
            .collect())
    }

    /// Downloads the `.deb`s the store lacks, several at once ([`Self::debs`] without
    /// the paths, for a caller already on the runtime).
    pub(crate) async fn download(&self, requests: &[DebRequest]) -> Result<(), ArchiveError> {
        let missing: Vec<&DebRequest> = requests
            .iter()
            .filter(|r| !self.store.has_blob(&r.sha256))
            .collect();
        let Some(first) = missing.first() else {
            return Ok(());
        };
        let http = self.http(&first.filename)?;
        let store = self.store;
        let progress = self.progress.as_ref();
        let mut downloads = futures_util::stream::iter(
            missing
                .into_iter()
                .map(|request| async move { fetch_deb(http, store, request, progress).await }),
        )
        .buffer_unordered(PARALLEL_DOWNLOADS);
        while let Some(result) = downloads.next().await {
            result?;
        }
        Ok(())
    }
}

fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => redact_url(&parsed),
        Err(_) => url.to_string(),
    }
}

/// Tries each base in turn; the first complete, matching download wins.
async fn fetch_deb(
    http: &HttpClient,
    store: &Store,
    request: &DebRequest,
    progress: &dyn Progress,
) -> Result<(), ArchiveError> {
    let mut last = None;
    let name = request
        .filename
        .rsplit('/')
        .next()
        .unwrap_or(&request.filename);
    progress.blob_named(&request.sha256, name);
    progress.blob_started(&request.sha256, Some(request.size));
    for base in &request.bases {
        let url = format!("{}/{}", base.trim_end_matches('/'), request.filename);
        match fetch_deb_from(http, store, request, &url, progress).await {
            Ok(()) => {
                progress.blob_finished(&request.sha256, BlobOutcome::Downloaded);
                return Ok(());
            }
            // A wrong file is never papered over by another mirror.
            Err(e @ ArchiveError::DebMismatch { .. }) => return Err(e),
            Err(e) => {
                tracing::warn!(url = %redacted(&url), error = %e, "download failed");
                last = Some(e);
            }
        }
    }
    Err(ArchiveError::NotFound {
        filename: request.filename.clone(),
        last: Box::new(last.unwrap_or(ArchiveError::Status {
            url: request.filename.clone(),
            status: 404,
        })),
    })
}

async fn fetch_deb_from(
    http: &HttpClient,
    store: &Store,
    request: &DebRequest,
    url: &str,
    progress: &dyn Progress,
) -> Result<(), ArchiveError> {
    let response = ArchiveClient::get(http, url).await?;
    let temp = store.temp_file()?;
    let mut writer = HashingWriter::new(std::io::BufWriter::new(temp));
    let mut received = 0;
    progress.blob_position(&request.sha256, 0);
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ArchiveError::Body {
            url: redacted(url),
            reason: e.to_string(),
        })?;
        writer.write_all(&chunk).map_err(|e| ArchiveError::Body {
            url: redacted(url),
            reason: e.to_string(),
        })?;
        received += chunk.len() as u64;
        progress.blob_position(&request.sha256, received);
    }
    let (actual, size, buffered) = writer.finish();
    if actual != request.sha256 || size != request.size {
        return Err(ArchiveError::DebMismatch {
            url: redacted(url),
            expected: request.sha256.clone(),
            actual,
            size,
        });
    }
    let temp = buffered.into_inner().map_err(|e| ArchiveError::Body {
        url: redacted(url),
        reason: e.into_error().to_string(),
    })?;
    store.commit_blob(temp, &request.sha256)?;
    tracing::debug!(url = %redacted(url), "downloaded");
    Ok(())
}

/// Decompresses an index by its file name (`.xz`, `.gz` or none).
pub(super) fn decompress(path: &str, bytes: &[u8]) -> Result<Vec<u8>, ArchiveError> {
    let err = |e: std::io::Error| ArchiveError::Decompress {
        path: path.to_string(),
        reason: e.to_string(),
    };
    let mut out = Vec::new();
    if path.ends_with(".xz") {
        lzma_rust2::XzReader::new(bytes, true)
            .read_to_end(&mut out)
            .map_err(err)?;
    } else if path.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(err)?;
    } else {
        out = bytes.to_vec();
    }
    Ok(out)
}

impl crate::hint::Hint for ArchiveError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Http(error) => error.hints(),
            Self::Store(error) => error.hints(),
            Self::Unverified { .. } | Self::NoKeyring { .. } => vec![
                "name the repository's key in `airlock.toml` (`[[debian.repositories]]` with `key = \"path/to/key.asc\"`), or set `trusted = true` there if you accept an unverified repository on purpose".into(),
            ],
            Self::BadRelease { source, .. } => source.hints(),
            Self::DebMismatch { .. } | Self::IndexMismatch { .. } => {
                vec!["retry later or use another mirror; never mark such a source trusted".into()]
            }
            Self::Offline { .. } => vec![
                "run once without `--offline` (or `--frozen`) to fill the store".into(),
            ],
            Self::NotFound { .. } => vec![
                "old versions leave a live archive: add a snapshot mirror to `fallback-urls` in the `[debian]` section of `airlock.toml`, or re-lock with `airlock lock`".into(),
            ],
            Self::Status { .. }
            | Self::Body { .. }
            | Self::NoIndex { .. }
            | Self::Decompress { .. } => Vec::new(),
        }
    }
}
