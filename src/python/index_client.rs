//! The simple repository API over HTTP: project pages (PEP 691 JSON by content
//! negotiation, PEP 503 HTML as fallback) and core metadata (PEP 658/714 `.metadata`
//! files when offered, otherwise `METADATA` read out of the remote wheel with HTTP
//! range requests, otherwise the whole wheel). Answers are cached on disk (pages
//! revalidated by ETag, metadata kept for good) and in memory, and requests run
//! concurrently under a bound.
//!
//! The caller builds the `reqwest::Client` (trust store, proxies, timeouts are the
//! `http` module's business). Index URLs carry credentials only inside [`IndexUrl`]:
//! errors name URLs redacted, and cache keys are hashes.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::hash::Hash;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::stream::{FuturesUnordered, StreamExt};
use pep440_rs::Version;
use pep508_rs::{ExtraName, PackageName, Requirement, VersionOrUrl};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use reqwest::{RequestBuilder, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{OnceCell, Semaphore};
use url::Url;

use super::index_url::IndexUrl;
use super::metadata::{CoreMetadata, MetadataError};
use super::resolver::{
    Candidate, DistributionSource, Resolution, ResolveError, ResolveInput, SourceError,
    VersionRanges, resolve,
};
use super::sdist::{BinaryPolicy, SdistHook};
use super::simple_api::{
    ACCEPT, DistFile, MetadataAvailability, ProjectPage, SimpleApiError, parse_project_page,
};
use super::tags::CompatibleTags;
use crate::http::{HttpClient, HttpError};

/// How much of a wheel's end is asked for first: enough for the central directory
/// of nearly every wheel.
const TAIL_BYTES: u64 = 64 * 1024;
/// The largest `METADATA` accepted (decompressed).
const MAX_METADATA_BYTES: u64 = 16 * 1024 * 1024;

/// Why an index request failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The request could not be made (after the shared client's retries).
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The response body could not be read.
    #[error("Reading the answer from `{url}` failed")]
    Body {
        /// The URL, redacted.
        url: String,
        /// The cause (without its URL, which may carry credentials).
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("`{url}` answered HTTP {status}")]
    Status {
        /// The URL, redacted.
        url: String,
        /// The status code.
        status: u16,
    },
    /// A project page did not parse.
    #[error("Invalid project page at `{url}`")]
    Page {
        /// The URL, redacted.
        url: String,
        /// The cause.
        #[source]
        source: SimpleApiError,
    },
    /// Core metadata did not parse.
    #[error("Invalid core metadata for `{file}`")]
    Metadata {
        /// The wheel.
        file: String,
        /// The cause.
        #[source]
        source: MetadataError,
    },
    /// A wheel's zip structure could not be read.
    #[error("Cannot read `{file}` as a wheel: {reason}")]
    Wheel {
        /// The wheel.
        file: String,
        /// What was wrong.
        reason: String,
    },
    /// A download does not match the hash the index gave.
    #[error("`{file}` has SHA-256 {actual}, but the index says {expected}")]
    Hash {
        /// The file.
        file: String,
        /// What the index said.
        expected: String,
        /// What arrived.
        actual: String,
    },
    /// The version asked for has no wheel the target can use.
    #[error("`{name}` {version} has no compatible wheel to read metadata from")]
    NoWheel {
        /// The project.
        name: String,
        /// The version.
        version: String,
    },
    /// Offline, and the answer is not in the cache.
    #[error("`{url}` is not in the cache and the network is off (`--offline`)")]
    Offline {
        /// The URL, redacted.
        url: String,
    },
    /// An index URL cannot be extended to a project URL.
    #[error("Cannot form a project URL from index `{0}`")]
    IndexUrl(String),
    /// A local (`file:`) wheel could not be read.
    #[error("Cannot read `{}`", path.display())]
    Local {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The cache directory could not be written.
    #[error("Cannot write the index cache at `{path}`")]
    Cache {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Resolution failed.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The resolver thread died.
    #[error("The resolver thread failed: {0}")]
    Join(String),
}

/// How the client behaves.
#[derive(Debug, Clone)]
pub(crate) struct IndexClientOptions {
    /// Where to keep response bodies between runs; `None` keeps nothing.
    pub cache_dir: Option<PathBuf>,
    /// How many requests may be in flight at once.
    pub concurrency: usize,
    /// Use only the cache (`--offline`).
    pub offline: bool,
}

impl Default for IndexClientOptions {
    fn default() -> Self {
        Self {
            cache_dir: None,
            concurrency: 16,
            offline: false,
        }
    }
}

/// A project as the first index that knows it lists it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Project {
    /// The parsed page (empty when no index has the project).
    pub page: ProjectPage,
    /// Its versions with the target's wheels, newest first.
    pub candidates: Vec<Candidate>,
}

type Memo<K, T> = Mutex<HashMap<K, Arc<OnceCell<Arc<T>>>>>;

/// A client for one or more simple-API indexes. The first index that has a
/// project is the only one asked about it, so a private index cannot be
/// overridden by a same-named public project.
pub(crate) struct IndexClient {
    http: HttpClient,
    indexes: Vec<IndexUrl>,
    tags: CompatibleTags,
    options: IndexClientOptions,
    limit: Semaphore,
    projects: Memo<PackageName, Project>,
    metadata: Memo<(PackageName, Version), CoreMetadata>,
    /// Wheels of `--find-links` directories, read before resolution.
    local_files: Vec<DistFile>,
    /// `--find-links` pages of links, fetched once.
    link_pages: Vec<IndexUrl>,
    linked: OnceCell<Vec<DistFile>>,
}

/// A cached page's validators.
#[derive(Debug, Serialize, Deserialize)]
struct CacheMeta {
    etag: Option<String>,
    content_type: String,
}

/// The answer to a range request.
enum RangeReply {
    /// 206: `bytes` start at `start` in a file of `total` bytes.
    Partial {
        start: u64,
        total: u64,
        bytes: Vec<u8>,
    },
    /// The server sent the whole file.
    Full(Vec<u8>),
}

impl IndexClient {
    /// A client over `indexes` (tried in order) choosing wheels by `tags`.
    pub(crate) fn new(
        http: HttpClient,
        indexes: Vec<IndexUrl>,
        tags: CompatibleTags,
        options: IndexClientOptions,
    ) -> Self {
        let limit = Semaphore::new(options.concurrency.max(1));
        Self {
            http,
            indexes,
            tags,
            options,
            limit,
            projects: Mutex::default(),
            metadata: Mutex::default(),
            local_files: Vec::new(),
            link_pages: Vec::new(),
            linked: OnceCell::new(),
        }
    }

    /// Adds `--find-links` locations: wheels already listed from directories, and
    /// pages of links. Their files are merged with the indexes' for every project.
    pub(crate) fn with_find_links(
        mut self,
        local_files: Vec<DistFile>,
        pages: Vec<IndexUrl>,
    ) -> Self {
        self.local_files = local_files;
        self.link_pages = pages;
        self
    }

    /// Every `--find-links` file whose name is a distribution of `name`.
    async fn linked_files(&self, name: &PackageName) -> Result<Vec<DistFile>, IndexError> {
        let pages = self
            .linked
            .get_or_try_init(|| async {
                let mut files = Vec::new();
                for page_url in &self.link_pages {
                    if let Some((content_type, body)) = self.get_page(page_url).await? {
                        let page = parse_project_page(&content_type, &body, page_url.url())
                            .map_err(|source| IndexError::Page {
                                url: page_url.redacted(),
                                source,
                            })?;
                        files.extend(page.files);
                    }
                }
                Ok::<_, IndexError>(files)
            })
            .await?;
        let wanted = name.to_string();
        Ok(self
            .local_files
            .iter()
            .chain(pages)
            .filter(|f| {
                f.filename
                    .split('-')
                    .next()
                    .is_some_and(|n| super::wheel_name::normalize_name(n) == wanted)
            })
            .cloned()
            .collect())
    }

    /// The project page of `name` from the first index that has it.
    pub(crate) async fn project(&self, name: &PackageName) -> Result<Arc<Project>, IndexError> {
        memo(&self.projects, name, || async {
            let linked = self.linked_files(name).await?;
            for index in &self.indexes {
                let url = project_url(index, name)?;
                if let Some((content_type, body)) = self.get_page(&url).await? {
                    let page =
                        parse_project_page(&content_type, &body, url.url()).map_err(|source| {
                            IndexError::Page {
                                url: url.redacted(),
                                source,
                            }
                        })?;
                    let mut page = page;
                    page.files.extend(linked);
                    let candidates = Candidate::from_files(&page.files, &self.tags);
                    return Ok(Project { page, candidates });
                }
            }
            let page = ProjectPage {
                files: linked,
                ..ProjectPage::default()
            };
            let candidates = Candidate::from_files(&page.files, &self.tags);
            Ok(Project { page, candidates })
        })
        .await
    }

    /// The core metadata of `name` at `version`, read from its best wheel.
    pub(crate) async fn metadata(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Arc<CoreMetadata>, IndexError> {
        let key = (name.clone(), version.clone());
        memo(&self.metadata, &key, || async {
            let project = self.project(name).await?;
            let no_wheel = || IndexError::NoWheel {
                name: name.to_string(),
                version: version.to_string(),
            };
            let wheel = project
                .candidates
                .iter()
                .find(|c| &c.version == version)
                .and_then(|c| c.wheels.first())
                .ok_or_else(no_wheel)?;
            let file = project
                .page
                .files
                .iter()
                .find(|f| f.filename == wheel.filename)
                .ok_or_else(no_wheel)?;
            self.wheel_metadata(file).await
        })
        .await
    }

    /// The core metadata of one wheel file.
    pub(crate) async fn wheel_metadata(&self, file: &DistFile) -> Result<CoreMetadata, IndexError> {
        let cache = self.cache_path("metadata", &file.url.without_credentials());
        let bytes = match cache.as_deref().and_then(|p| std::fs::read(p).ok()) {
            Some(bytes) => bytes,
            None => {
                if self.options.offline {
                    return Err(IndexError::Offline {
                        url: file.url.redacted(),
                    });
                }
                let bytes = match (file.metadata_url(), &file.core_metadata) {
                    (Some(url), MetadataAvailability::Available(hashes)) => {
                        let url = IndexUrl::from_url(url)
                            .map_err(|_| IndexError::IndexUrl(file.url.redacted()))?;
                        let bytes = self.get_bytes(&url).await?;
                        if let Some(expected) = hashes.get("sha256") {
                            check_sha256(&format!("{}.metadata", file.filename), expected, &bytes)?;
                        }
                        bytes
                    }
                    _ => self.metadata_from_remote_wheel(file).await?,
                };
                if let Some(path) = &cache {
                    write_atomic(path, &bytes)?;
                }
                bytes
            }
        };
        CoreMetadata::parse(&bytes).map_err(|source| IndexError::Metadata {
            file: file.filename.clone(),
            source,
        })
    }

    /// Fetches what the resolver will most likely ask for, concurrently: the pages
    /// of every requirement reachable through the newest usable versions, and their
    /// metadata. Failures are left for the resolver to meet and report.
    pub(crate) async fn prefetch(&self, input: &ResolveInput) {
        let Ok(env) = input.target.marker_environment(&input.python_full_version) else {
            return;
        };
        let python = Version::from_str(&input.python_full_version).ok();
        let mut extras: HashMap<PackageName, BTreeSet<Option<ExtraName>>> = HashMap::new();
        let mut known: HashMap<PackageName, Arc<CoreMetadata>> = HashMap::new();
        let mut pending = FuturesUnordered::new();
        let mut queue: Vec<Requirement> = input
            .requirements
            .iter()
            .filter(|r| r.evaluate_markers(&env, &[]))
            .cloned()
            .collect();
        loop {
            while let Some(req) = queue.pop() {
                let wanted = extras.entry(req.name.clone()).or_default();
                let first = wanted.is_empty();
                let mut new_extras = Vec::new();
                for extra in std::iter::once(None).chain(req.extras.iter().cloned().map(Some)) {
                    if wanted.insert(extra.clone()) {
                        new_extras.push(extra);
                    }
                }
                if let Some(metadata) = known.get(&req.name) {
                    queue.extend(deps_for(metadata, &env, &new_extras));
                }
                if !first {
                    continue;
                }
                let fixed = input.base.contains_key(&req.name);
                let range = match &req.version_or_url {
                    Some(VersionOrUrl::VersionSpecifier(s)) => VersionRanges::from(s.clone()),
                    _ => VersionRanges::full(),
                };
                let python = python.clone();
                pending.push(async move {
                    if fixed {
                        return (req.name, None);
                    }
                    let Ok(project) = self.project(&req.name).await else {
                        return (req.name, None);
                    };
                    let preferred = input.preferences.get(&req.name);
                    let usable = |c: &&Candidate| {
                        range.contains(&c.version)
                            && !c.version.any_prerelease()
                            && c.wheels.iter().any(|w| {
                                !w.yanked
                                    && input.exclude_newer.is_none_or(|limit| {
                                        w.upload_time.is_some_and(|t| t <= limit)
                                    })
                                    && match (&w.requires_python, &python) {
                                        (Some(spec), Some(py)) => spec.contains(py),
                                        _ => true,
                                    }
                            })
                    };
                    let choice = project
                        .candidates
                        .iter()
                        .filter(usable)
                        .find(|c| preferred.is_none_or(|p| p == &c.version))
                        .or_else(|| project.candidates.iter().find(usable));
                    let Some(choice) = choice else {
                        return (req.name, None);
                    };
                    let metadata = self.metadata(&req.name, &choice.version).await.ok();
                    (req.name, metadata)
                });
            }
            let Some((name, metadata)) = pending.next().await else {
                break;
            };
            if let Some(metadata) = metadata {
                let wanted: Vec<Option<ExtraName>> = extras
                    .get(&name)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default();
                queue.extend(deps_for(&metadata, &env, &wanted));
                known.insert(name, metadata);
            }
        }
    }

    /// GETs a project page, revalidating a cached copy. `None` means the index
    /// does not have the project.
    async fn get_page(&self, url: &IndexUrl) -> Result<Option<(String, Vec<u8>)>, IndexError> {
        let body_path = self.cache_path("pages", &url.without_credentials());
        let meta_path = body_path.as_ref().map(|p| p.with_extension("json"));
        let cached = match (&body_path, &meta_path) {
            (Some(body), Some(meta)) => read_cached(body, meta),
            _ => None,
        };
        if self.options.offline {
            return match cached {
                Some((meta, body)) => Ok(Some((meta.content_type, body))),
                None => Err(IndexError::Offline {
                    url: url.redacted(),
                }),
            };
        }
        let _permit = self.limit.acquire().await;
        let etag = cached.as_ref().and_then(|(m, _)| m.etag.clone());
        let response = self
            .send(url, |r| {
                let r = r.header(header::ACCEPT, ACCEPT);
                match &etag {
                    Some(etag) => r.header(header::IF_NONE_MATCH, etag),
                    None => r,
                }
            })
            .await?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED
            && let Some((meta, body)) = cached
        {
            return Ok(Some((meta.content_type, body)));
        }
        if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(IndexError::Status {
                url: url.redacted(),
                status: status.as_u16(),
            });
        }
        let meta = CacheMeta {
            etag: header_str(response.headers(), header::ETAG),
            content_type: header_str(response.headers(), header::CONTENT_TYPE)
                .unwrap_or_else(|| "text/html".to_string()),
        };
        let body = response.bytes().await.map_err(http_error(url))?.to_vec();
        if let (Some(body_path), Some(meta_path)) = (&body_path, &meta_path) {
            write_atomic(body_path, &body)?;
            let json = serde_json::to_vec(&meta).unwrap_or_default();
            write_atomic(meta_path, &json)?;
        }
        Ok(Some((meta.content_type, body)))
    }

    async fn get_bytes(&self, url: &IndexUrl) -> Result<Vec<u8>, IndexError> {
        if let Some(path) = local_path(url) {
            return std::fs::read(&path).map_err(|source| IndexError::Local { path, source });
        }
        let _permit = self.limit.acquire().await;
        let response = self.send(url, |r| r).await?;
        if !response.status().is_success() {
            return Err(IndexError::Status {
                url: url.redacted(),
                status: response.status().as_u16(),
            });
        }
        Ok(response.bytes().await.map_err(http_error(url))?.to_vec())
    }

    async fn get_range(&self, url: &IndexUrl, range: &str) -> Result<RangeReply, IndexError> {
        if local_path(url).is_some() {
            return self.get_bytes(url).await.map(RangeReply::Full);
        }
        let _permit = self.limit.acquire().await;
        let response = self.send(url, |r| r.header(header::RANGE, range)).await?;
        let status = response.status();
        if status == StatusCode::PARTIAL_CONTENT {
            let content_range = header_str(response.headers(), header::CONTENT_RANGE);
            let bytes = response.bytes().await.map_err(http_error(url))?.to_vec();
            if let Some((start, total)) = content_range.as_deref().and_then(parse_content_range) {
                return Ok(RangeReply::Partial {
                    start,
                    total,
                    bytes,
                });
            }
            drop(_permit);
            return self.get_bytes(url).await.map(RangeReply::Full);
        }
        if status == StatusCode::RANGE_NOT_SATISFIABLE {
            drop(_permit);
            return self.get_bytes(url).await.map(RangeReply::Full);
        }
        if !status.is_success() {
            return Err(IndexError::Status {
                url: url.redacted(),
                status: status.as_u16(),
            });
        }
        Ok(RangeReply::Full(
            response.bytes().await.map_err(http_error(url))?.to_vec(),
        ))
    }

    /// Reads `*.dist-info/METADATA` out of a remote wheel: the tail (end of
    /// central directory and usually the directory itself), then only the
    /// member's bytes. A server that ignores ranges costs one full download.
    async fn metadata_from_remote_wheel(&self, file: &DistFile) -> Result<Vec<u8>, IndexError> {
        let url = &file.url;
        let name = &file.filename;
        let bad = |reason: &str| IndexError::Wheel {
            file: name.clone(),
            reason: reason.to_string(),
        };
        let (start, total, tail) =
            match self.get_range(url, &format!("bytes=-{TAIL_BYTES}")).await? {
                RangeReply::Full(body) => return metadata_from_whole_wheel(file, &body),
                RangeReply::Partial {
                    start,
                    total,
                    bytes,
                } => (start, total, bytes),
            };
        let Some((cd_offset, cd_size)) = end_of_central_directory(&tail) else {
            // Zip64 or a comment longer than the tail: read it all.
            let body = self.get_bytes(url).await?;
            return metadata_from_whole_wheel(file, &body);
        };
        if cd_offset.saturating_add(cd_size) > total {
            return Err(bad("central directory beyond the end of the file"));
        }
        let directory = if cd_offset >= start {
            let from = usize::try_from(cd_offset - start).map_err(|_| bad("offset"))?;
            let to = from + usize::try_from(cd_size).map_err(|_| bad("size"))?;
            tail.get(from..to)
                .ok_or_else(|| bad("truncated central directory"))?
                .to_vec()
        } else {
            let range = format!(
                "bytes={cd_offset}-{}",
                (cd_offset + cd_size).saturating_sub(1)
            );
            match self.get_range(url, &range).await? {
                RangeReply::Partial { bytes, .. } => bytes,
                RangeReply::Full(body) => return metadata_from_whole_wheel(file, &body),
            }
        };
        let entry = find_metadata_entry(&directory)
            .ok_or_else(|| bad("no `*.dist-info/METADATA` in the central directory"))?;
        if entry.compressed_size > MAX_METADATA_BYTES {
            return Err(bad("METADATA is too large"));
        }
        // Local header (30 bytes + name + extra) then the data; the local extra
        // field usually matches the central one, so ask for that plus slack.
        let want = 30 + entry.name_len + entry.extra_len + entry.compressed_size + 256;
        let end = (entry.local_offset + want).min(total).saturating_sub(1);
        let local = match self
            .get_range(url, &format!("bytes={}-{end}", entry.local_offset))
            .await?
        {
            RangeReply::Partial { bytes, .. } => bytes,
            RangeReply::Full(body) => return metadata_from_whole_wheel(file, &body),
        };
        let data_start = local_data_offset(&local).ok_or_else(|| bad("bad local file header"))?;
        let data_end = data_start as u64 + entry.compressed_size;
        let local = if data_end as usize <= local.len() {
            local
        } else {
            let end = (entry.local_offset + data_end).min(total).saturating_sub(1);
            match self
                .get_range(url, &format!("bytes={}-{end}", entry.local_offset))
                .await?
            {
                RangeReply::Partial { bytes, .. } => bytes,
                RangeReply::Full(body) => return metadata_from_whole_wheel(file, &body),
            }
        };
        let data = local
            .get(data_start..data_end as usize)
            .ok_or_else(|| bad("truncated METADATA member"))?;
        inflate(entry.method, data).ok_or_else(|| bad("cannot decompress METADATA"))
    }

    /// GETs `url` through the shared client (retries, redacted errors), with the
    /// URL's user info sent as basic auth rather than left in the request line.
    async fn send(
        &self,
        url: &IndexUrl,
        extra: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, IndexError> {
        let (plain, auth) = split_credentials(url);
        Ok(self
            .http
            .send(|| {
                let request = self.http.reqwest().get(plain.clone());
                let request = match &auth {
                    Some((user, password)) => request.basic_auth(user, password.as_ref()),
                    None => request,
                };
                extra(request)
            })
            .await?)
    }

    fn cache_path(&self, kind: &str, url: &Url) -> Option<PathBuf> {
        let dir = self.options.cache_dir.as_ref()?;
        let digest = Sha256::digest(url.as_str().as_bytes());
        Some(dir.join(kind).join(hex(&digest)))
    }
}

/// Memoises one async computation per key; a failure leaves the key free to retry.
async fn memo<K, T, F, Fut>(map: &Memo<K, T>, key: &K, compute: F) -> Result<Arc<T>, IndexError>
where
    K: Clone + Eq + Hash,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, IndexError>>,
{
    let cell = map
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key.clone())
        .or_default()
        .clone();
    cell.get_or_try_init(|| async { compute().await.map(Arc::new) })
        .await
        .cloned()
}

/// The requirements of `metadata` that apply with any of `extras` (`None` being
/// the package itself).
fn deps_for(
    metadata: &CoreMetadata,
    env: &pep508_rs::MarkerEnvironment,
    extras: &[Option<ExtraName>],
) -> Vec<Requirement> {
    let mut out = Vec::new();
    for extra in extras {
        let list: &[ExtraName] = match extra {
            Some(e) => std::slice::from_ref(e),
            None => &[],
        };
        out.extend(
            metadata
                .requires_dist_for(env, list)
                .filter(|r| r.name != metadata.name || !r.extras.is_empty())
                .cloned(),
        );
    }
    out
}

fn project_url(index: &IndexUrl, name: &PackageName) -> Result<IndexUrl, IndexError> {
    let mut base = index.url().clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    let url = base
        .join(&format!("{name}/"))
        .map_err(|_| IndexError::IndexUrl(index.redacted()))?;
    IndexUrl::from_url(url).map_err(|_| IndexError::IndexUrl(index.redacted()))
}

fn http_error(url: &IndexUrl) -> impl Fn(reqwest::Error) -> IndexError + '_ {
    move |e| IndexError::Body {
        url: url.redacted(),
        source: e.without_url(),
    }
}

/// The path of a `file:` URL.
fn local_path(url: &IndexUrl) -> Option<PathBuf> {
    (url.url().scheme() == "file")
        .then(|| url.url().to_file_path().ok())
        .flatten()
}

/// The URL without user info, and the user info percent-decoded.
pub(crate) fn split_credentials(url: &IndexUrl) -> (Url, Option<(String, Option<String>)>) {
    if !url.has_credentials() {
        return (url.url().clone(), None);
    }
    let decode = |s: &str| percent_decode(s);
    let user = decode(url.url().username());
    let password = url.url().password().map(decode);
    (url.without_credentials(), Some((user, password)))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `bytes START-END/TOTAL` → (START, TOTAL).
fn parse_content_range(value: &str) -> Option<(u64, u64)> {
    let rest = value.trim().strip_prefix("bytes")?.trim();
    let (range, total) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()?))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_sha256(file: &str, expected: &str, bytes: &[u8]) -> Result<(), IndexError> {
    let actual = hex(&Sha256::digest(bytes));
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(IndexError::Hash {
            file: file.to_string(),
            expected: expected.to_string(),
            actual,
        })
    }
}

fn read_cached(body: &Path, meta: &Path) -> Option<(CacheMeta, Vec<u8>)> {
    let meta: CacheMeta = serde_json::from_slice(&std::fs::read(meta).ok()?).ok()?;
    Some((meta, std::fs::read(body).ok()?))
}

/// Writes through a temporary file and a rename, so a killed run leaves no
/// half-written entry under a real name.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    let err = |source| IndexError::Cache {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    crate::atomic_file::write(path, bytes).map_err(err)
}

fn le16(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u16::from_le_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn le32(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u32::from_le_bytes(
        b.get(at..at + 4)?.try_into().ok()?,
    )))
}

/// (offset, size) of the central directory from the end-of-central-directory
/// record in `tail`; `None` for zip64 archives or when the record is not there.
fn end_of_central_directory(tail: &[u8]) -> Option<(u64, u64)> {
    let at = (0..tail.len().checked_sub(21)?)
        .rev()
        .find(|&i| tail[i..].starts_with(&[0x50, 0x4b, 0x05, 0x06]))?;
    let size = le32(tail, at + 12)?;
    let offset = le32(tail, at + 16)?;
    if size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
        return None;
    }
    Some((offset, size))
}

struct MetadataEntry {
    method: u64,
    compressed_size: u64,
    name_len: u64,
    extra_len: u64,
    local_offset: u64,
}

/// The central-directory entry of the top-level `*.dist-info/METADATA`.
fn find_metadata_entry(directory: &[u8]) -> Option<MetadataEntry> {
    let mut at = 0;
    while directory.get(at..at + 4) == Some(&[0x50, 0x4b, 0x01, 0x02]) {
        let name_len = le16(directory, at + 28)?;
        let extra_len = le16(directory, at + 30)?;
        let comment_len = le16(directory, at + 32)?;
        let name_start = at + 46;
        let name = directory.get(name_start..name_start + name_len as usize)?;
        if is_metadata_path(name) {
            return Some(MetadataEntry {
                method: le16(directory, at + 10)?,
                compressed_size: le32(directory, at + 20)?,
                name_len,
                extra_len,
                local_offset: le32(directory, at + 42)?,
            });
        }
        at = name_start + (name_len + extra_len + comment_len) as usize;
    }
    None
}

fn is_metadata_path(name: &[u8]) -> bool {
    let Ok(name) = std::str::from_utf8(name) else {
        return false;
    };
    match name.split_once('/') {
        Some((dir, "METADATA")) => dir.ends_with(".dist-info") && !dir.contains('/'),
        _ => false,
    }
}

/// Where a member's data begins, from its local file header.
fn local_data_offset(local: &[u8]) -> Option<usize> {
    if local.get(0..4) != Some(&[0x50, 0x4b, 0x03, 0x04]) {
        return None;
    }
    Some(30 + le16(local, 26)? as usize + le16(local, 28)? as usize)
}

fn inflate(method: u64, data: &[u8]) -> Option<Vec<u8>> {
    match method {
        0 => Some(data.to_vec()),
        8 => {
            let mut out = Vec::new();
            flate2::read::DeflateDecoder::new(data)
                .take(MAX_METADATA_BYTES)
                .read_to_end(&mut out)
                .ok()?;
            Some(out)
        }
        _ => None,
    }
}

fn metadata_from_whole_wheel(file: &DistFile, body: &[u8]) -> Result<Vec<u8>, IndexError> {
    if let Some(expected) = file.sha256() {
        check_sha256(&file.filename, expected, body)?;
    }
    let bad = |reason: String| IndexError::Wheel {
        file: file.filename.clone(),
        reason,
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(body)).map_err(|e| bad(e.to_string()))?;
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).map_err(|e| bad(e.to_string()))?;
        if !is_metadata_path(member.name_raw()) {
            continue;
        }
        let mut out = Vec::new();
        (&mut member)
            .take(MAX_METADATA_BYTES)
            .read_to_end(&mut out)
            .map_err(|e| bad(e.to_string()))?;
        return Ok(out);
    }
    Err(bad("no `*.dist-info/METADATA`".to_string()))
}

/// A [`DistributionSource`] for the synchronous resolver, answering from the
/// client's memory and fetching what is missing on the given runtime. Use it
/// from a blocking thread (`spawn_blocking`), never from async code.
pub(super) struct BlockingSource {
    client: Arc<IndexClient>,
    runtime: tokio::runtime::Handle,
    /// Asked for the metadata of a version taken from its sdist.
    hook: Option<Arc<dyn SdistHook>>,
    binary: BinaryPolicy,
}

impl BlockingSource {
    /// A source over `client`, running requests on `runtime`.
    pub(super) fn new(client: Arc<IndexClient>, runtime: tokio::runtime::Handle) -> Self {
        Self {
            client,
            runtime,
            hook: None,
            binary: BinaryPolicy::default(),
        }
    }
}

fn source_error(e: IndexError) -> SourceError {
    SourceError::with_source(e.to_string(), e)
}

impl DistributionSource for BlockingSource {
    fn versions(&self, name: &PackageName) -> Result<Vec<Candidate>, SourceError> {
        self.runtime
            .block_on(self.client.project(name))
            .map(|p| p.candidates.clone())
            .map_err(source_error)
    }

    fn metadata(&self, name: &PackageName, version: &Version) -> Result<CoreMetadata, SourceError> {
        if let Some(hook) = &self.hook {
            let project = self
                .runtime
                .block_on(self.client.project(name))
                .map_err(source_error)?;
            if let Some(c) = project.candidates.iter().find(|c| &c.version == version)
                && (c.wheels.is_empty() || !self.binary.may_use_wheel(name))
                && let Some(sdist) = c.sdists.first()
            {
                return hook.metadata(name, version, sdist);
            }
        }
        self.runtime
            .block_on(self.client.metadata(name, version))
            .map(|m| (*m).clone())
            .map_err(source_error)
    }
}

/// Pre-fetches concurrently, then resolves on a blocking thread, fetching
/// whatever backtracking needs beyond the pre-fetch.
/// `hook` answers for versions that only an sdist provides (without one, such
/// versions fail as having no wheel).
pub(crate) async fn resolve_with_index(
    client: Arc<IndexClient>,
    input: ResolveInput,
    hook: Option<Arc<dyn SdistHook>>,
) -> Result<Resolution, IndexError> {
    client.prefetch(&input).await;
    let mut source = BlockingSource::new(client, tokio::runtime::Handle::current());
    source.hook = hook;
    source.binary = input.binary.clone();
    tokio::task::spawn_blocking(move || resolve(&input, &source))
        .await
        .map_err(|e| IndexError::Join(e.to_string()))?
        .map_err(IndexError::from)
}

impl crate::hint::Hint for IndexError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Http(error) => error.hints(),
            Self::Page { source, .. } => source.hints(),
            Self::Metadata { source, .. } => source.hints(),
            Self::Offline { .. } => {
                vec!["Run once without `--offline` (or `--frozen`) to fill the cache".into()]
            }
            Self::Resolve(error) => error.hints(),
            Self::Body { .. }
            | Self::Status { .. }
            | Self::Wheel { .. }
            | Self::Hash { .. }
            | Self::NoWheel { .. }
            | Self::IndexUrl(..)
            | Self::Local { .. }
            | Self::Cache { .. }
            | Self::Join(..) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::hint::Hint as _;
    use std::collections::BTreeMap;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};

    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, ZipWriter};

    use super::super::tags::{Arch, Implementation, Target};
    use super::*;

    fn target() -> Target {
        Target {
            python: (3, 11),
            implementation: Implementation::CPython,
            glibc: (2, 36),
            arch: Arch::X86_64,
        }
    }

    /// A wheel with `METADATA` first and `padding` bytes of incompressible data
    /// after it, so that large wheels need separate range requests.
    fn wheel(name: &str, version: &str, metadata: &str, padding: usize) -> Vec<u8> {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        let di = format!("{name}-{version}.dist-info");
        zip.start_file(format!("{di}/METADATA"), deflated)
            .expect("zip");
        zip.write_all(metadata.as_bytes()).expect("zip");
        zip.start_file(format!("{name}/__init__.py"), deflated)
            .expect("zip");
        zip.write_all(b"").expect("zip");
        zip.start_file(format!("{name}/blob.bin"), stored)
            .expect("zip");
        let mut x: u32 = 0x1234_5678;
        let blob: Vec<u8> = (0..padding)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        zip.write_all(&blob).expect("zip");
        zip.start_file(format!("{di}/RECORD"), deflated)
            .expect("zip");
        zip.finish().expect("zip").into_inner()
    }

    struct File {
        project: String,
        filename: String,
        body: Vec<u8>,
        metadata: Vec<u8>,
    }

    #[derive(Clone, Copy)]
    struct Mode {
        json: bool,
        pep658: bool,
        ranges: bool,
    }

    #[derive(Debug, Clone)]
    struct Hit {
        path: String,
        range: bool,
        status: u16,
    }

    struct Server {
        addr: SocketAddr,
        log: Arc<Mutex<Vec<Hit>>>,
        stop: Arc<AtomicBool>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.addr);
        }
    }

    impl Server {
        fn index(&self) -> IndexUrl {
            IndexUrl::parse(&format!("http://{}/simple/", self.addr)).expect("url")
        }
        fn hits(&self) -> Vec<Hit> {
            self.log.lock().expect("log").clone()
        }
        fn clear(&self) {
            self.log.lock().expect("log").clear();
        }
    }

    fn fixture() -> Vec<File> {
        let mut files = Vec::new();
        let mut add = |project: &str, version: &str, tag: &str, requires: &[&str], padding| {
            let module = project.replace('-', "_");
            let mut metadata = format!(
                "Metadata-Version: 2.1\nName: {project}\nVersion: {version}\nProvides-Extra: fast\n"
            );
            for r in requires {
                metadata.push_str(&format!("Requires-Dist: {r}\n"));
            }
            metadata.push_str("\nA description body.\n");
            let filename = format!("{module}-{version}-{tag}.whl");
            files.push(File {
                project: project.to_string(),
                body: wheel(&module, version, &metadata, padding),
                filename,
                metadata: metadata.into_bytes(),
            });
        };
        add(
            "app",
            "1.0",
            "py3-none-any",
            &["lib[fast]>=1", "never; python_version < '3.8'"],
            10,
        );
        add("app", "2.0", "py3-none-any", &["lib>=3"], 10);
        add("lib", "1.0", "py3-none-any", &[], 10);
        add(
            "lib",
            "2.0",
            "py3-none-any",
            &["speed; extra == 'fast'"],
            200_000,
        );
        add(
            "speed",
            "0.1",
            "cp311-cp311-manylinux_2_17_x86_64",
            &[],
            100,
        );
        add("speed", "0.1", "cp311-cp311-win_amd64", &[], 100);
        files
    }

    fn sha(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    fn page(files: &[File], project: &str, mode: Mode, json: bool) -> (String, Vec<u8>) {
        let mine: Vec<&File> = files.iter().filter(|f| f.project == project).collect();
        if json {
            let list: Vec<serde_json::Value> = mine
                .iter()
                .map(|f| {
                    let core = if mode.pep658 {
                        serde_json::json!({ "sha256": sha(&f.metadata) })
                    } else {
                        serde_json::json!(false)
                    };
                    serde_json::json!({
                        "filename": f.filename,
                        "url": format!("../../files/{}", f.filename),
                        "hashes": { "sha256": sha(&f.body) },
                        "requires-python": ">=3.8",
                        "core-metadata": core,
                        "upload-time": "2024-01-01T00:00:00Z",
                        "size": f.body.len(),
                        "yanked": false,
                    })
                })
                .collect();
            let body = serde_json::json!({
                "meta": { "api-version": "1.1" },
                "name": project,
                "files": list,
                "versions": [],
            });
            (
                super::super::simple_api::JSON_CONTENT_TYPE.to_string(),
                body.to_string().into_bytes(),
            )
        } else {
            let mut html = String::from("<!DOCTYPE html><html><body>\n");
            for f in mine {
                let core = if mode.pep658 {
                    format!(" data-core-metadata=\"sha256={}\"", sha(&f.metadata))
                } else {
                    String::new()
                };
                html.push_str(&format!(
                    "<a href=\"../../files/{0}#sha256={1}\" data-requires-python=\"&gt;=3.8\"{core}>{0}</a><br/>\n",
                    f.filename,
                    sha(&f.body)
                ));
            }
            html.push_str("</body></html>\n");
            ("text/html".to_string(), html.into_bytes())
        }
    }

    fn serve(files: Vec<File>, mode: Mode) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let files = Arc::new(files);
        let (log2, stop2) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (files, log) = (files.clone(), log2.clone());
                std::thread::spawn(move || handle(stream, &files, mode, &log));
            }
        });
        Server { addr, log, stop }
    }

    fn handle(stream: TcpStream, files: &[File], mode: Mode, log: &Mutex<Vec<Hit>>) {
        let mut reader = BufReader::new(match stream.try_clone() {
            Ok(s) => s,
            Err(_) => return,
        });
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let range = headers.get("range").cloned();
        let (status, content_type, body, extra) = respond(files, mode, &path, &headers);
        log.lock().expect("log").push(Hit {
            path,
            range: range.is_some(),
            status,
        });
        let reason = match status {
            200 => "OK",
            206 => "Partial Content",
            304 => "Not Modified",
            _ => "Not Found",
        };
        let mut out = stream;
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
            body.len()
        );
        let _ = out.write_all(head.as_bytes());
        let _ = out.write_all(&body);
    }

    fn respond(
        files: &[File],
        mode: Mode,
        path: &str,
        headers: &HashMap<String, String>,
    ) -> (u16, String, Vec<u8>, String) {
        let not_found = (
            404,
            "text/plain".to_string(),
            b"not found".to_vec(),
            String::new(),
        );
        if let Some(project) = path
            .strip_prefix("/simple/")
            .and_then(|p| p.strip_suffix('/'))
        {
            if !files.iter().any(|f| f.project == project) {
                return not_found;
            }
            let json = mode.json
                && headers
                    .get("accept")
                    .is_some_and(|a| a.contains("application/vnd.pypi.simple.v1+json"));
            let (content_type, body) = page(files, project, mode, json);
            let etag = format!("\"{}\"", &sha(&body)[..16]);
            if headers.get("if-none-match") == Some(&etag) {
                return (304, content_type, Vec::new(), format!("ETag: {etag}\r\n"));
            }
            return (200, content_type, body, format!("ETag: {etag}\r\n"));
        }
        let Some(name) = path.strip_prefix("/files/") else {
            return not_found;
        };
        if let Some(wheel) = name.strip_suffix(".metadata") {
            return match files.iter().find(|f| f.filename == wheel) {
                Some(f) if mode.pep658 => {
                    (200, "text/plain".into(), f.metadata.clone(), String::new())
                }
                _ => not_found,
            };
        }
        let Some(f) = files.iter().find(|f| f.filename == name) else {
            return not_found;
        };
        let len = f.body.len();
        let wanted = headers
            .get("range")
            .filter(|_| mode.ranges)
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| {
                let (a, b) = r.split_once('-')?;
                if a.is_empty() {
                    let n: usize = b.parse().ok()?;
                    Some((len.saturating_sub(n), len - 1))
                } else {
                    let a: usize = a.parse().ok()?;
                    let b: usize = if b.is_empty() {
                        len - 1
                    } else {
                        b.parse().ok()?
                    };
                    Some((a, b.min(len - 1)))
                }
            });
        match wanted {
            Some((a, b)) => (
                206,
                "application/octet-stream".into(),
                f.body[a..=b].to_vec(),
                format!("Content-Range: bytes {a}-{b}/{len}\r\n"),
            ),
            None => (
                200,
                "application/octet-stream".into(),
                f.body.clone(),
                String::new(),
            ),
        }
    }

    fn http() -> HttpClient {
        HttpClient::new(&crate::http::HttpSettings::default()).expect("client")
    }

    fn client(indexes: Vec<IndexUrl>, options: IndexClientOptions) -> Arc<IndexClient> {
        Arc::new(IndexClient::new(
            http(),
            indexes,
            target().compatible_tags(),
            options,
        ))
    }

    fn input(reqs: &[&str]) -> ResolveInput {
        let mut input = ResolveInput::new(target(), "3.11.7");
        input.requirements = reqs
            .iter()
            .map(|r| Requirement::from_str(r).expect("req"))
            .collect();
        input
    }

    fn pins(resolution: &Resolution) -> Vec<String> {
        resolution
            .packages
            .iter()
            .map(|p| format!("{}=={}", p.name, p.version))
            .collect()
    }

    const EXPECTED: [&str; 3] = ["app==1.0", "lib==2.0", "speed==0.1"];

    async fn check_resolution(server: &Server, options: IndexClientOptions) -> Resolution {
        let out = resolve_with_index(client(vec![server.index()], options), input(&["app"]), None)
            .await
            .expect("resolves");
        assert_eq!(pins(&out), EXPECTED);
        let speed = &out.packages[2];
        assert_eq!(
            speed.filename,
            "speed-0.1-cp311-cp311-manylinux_2_17_x86_64.whl"
        );
        assert_eq!(
            speed.url.url().as_str(),
            format!("http://{}/files/{}", server.addr, speed.filename)
        );
        let expected_sha = fixture()
            .into_iter()
            .find(|f| f.filename == speed.filename)
            .map(|f| sha(&f.body));
        assert_eq!(speed.sha256, expected_sha);
        assert_eq!(
            out.packages[1].dependencies,
            [PackageName::from_str("speed").expect("n")]
        );
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn json_index_with_separate_metadata_files() {
        let server = serve(
            fixture(),
            Mode {
                json: true,
                pep658: true,
                ranges: true,
            },
        );
        check_resolution(&server, IndexClientOptions::default()).await;
        let hits = server.hits();
        assert!(
            hits.iter().any(|h| h.path.ends_with(".whl.metadata")),
            "{hits:?}"
        );
        assert!(!hits.iter().any(|h| h.path.ends_with(".whl")), "{hits:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn html_index_read_with_range_requests() {
        let server = serve(
            fixture(),
            Mode {
                json: false,
                pep658: false,
                ranges: true,
            },
        );
        check_resolution(&server, IndexClientOptions::default()).await;
        let hits = server.hits();
        let wheel_hits: Vec<&Hit> = hits.iter().filter(|h| h.path.ends_with(".whl")).collect();
        assert!(!wheel_hits.is_empty());
        assert!(
            wheel_hits.iter().all(|h| h.range && h.status == 206),
            "{hits:?}"
        );
        // The big wheel's METADATA lies outside the tail: a second range request.
        let big = wheel_hits
            .iter()
            .filter(|h| h.path.contains("lib-2.0"))
            .count();
        assert!(big >= 2, "{hits:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn servers_that_ignore_ranges_cost_a_full_download() {
        let server = serve(
            fixture(),
            Mode {
                json: true,
                pep658: false,
                ranges: false,
            },
        );
        check_resolution(&server, IndexClientOptions::default()).await;
        assert!(server.hits().iter().all(|h| h.status != 206));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn disk_cache_revalidates_pages_and_keeps_metadata() {
        let server = serve(
            fixture(),
            Mode {
                json: true,
                pep658: false,
                ranges: true,
            },
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let options = IndexClientOptions {
            cache_dir: Some(dir.path().to_path_buf()),
            ..IndexClientOptions::default()
        };
        check_resolution(&server, options.clone()).await;
        server.clear();
        check_resolution(&server, options.clone()).await;
        let hits = server.hits();
        assert!(!hits.is_empty());
        assert!(hits.iter().all(|h| h.status == 304), "{hits:?}");

        server.clear();
        let offline = IndexClientOptions {
            offline: true,
            ..options
        };
        check_resolution(&server, offline).await;
        assert!(server.hits().is_empty());

        let empty = tempfile::tempdir().expect("tempdir");
        let err = resolve_with_index(
            client(
                vec![server.index()],
                IndexClientOptions {
                    cache_dir: Some(empty.path().to_path_buf()),
                    offline: true,
                    ..IndexClientOptions::default()
                },
            ),
            input(&["app"]),
            None,
        )
        .await
        .expect_err("nothing cached");
        let text = format!(
            "{err}: {:?}",
            std::error::Error::source(&err).map(|e| e.to_string())
        );
        assert!(text.contains("--offline"), "{text}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn first_index_with_the_project_wins_and_unknown_names_are_explained() {
        let empty = serve(
            Vec::new(),
            Mode {
                json: true,
                pep658: true,
                ranges: true,
            },
        );
        let server = serve(
            fixture(),
            Mode {
                json: true,
                pep658: true,
                ranges: true,
            },
        );
        let both = client(
            vec![empty.index(), server.index()],
            IndexClientOptions::default(),
        );
        let out = resolve_with_index(both.clone(), input(&["app"]), None)
            .await
            .expect("resolves");
        assert_eq!(pins(&out), EXPECTED);
        assert!(empty.hits().iter().all(|h| h.status == 404));

        let err = resolve_with_index(both, input(&["ap"]), None)
            .await
            .expect_err("unknown");
        let IndexError::Resolve(err) = err else {
            panic!("{err:?}");
        };
        assert!(
            err.hints()
                .iter()
                .any(|h| h.contains("No distribution named `ap`")),
            "{err}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn metadata_hash_mismatch_is_refused() {
        let mut files = fixture();
        files.retain(|f| f.project == "lib");
        let server = serve(
            files,
            Mode {
                json: true,
                pep658: true,
                ranges: true,
            },
        );
        let c = client(vec![server.index()], IndexClientOptions::default());
        let name = PackageName::from_str("lib").expect("name");
        let project = c.project(&name).await.expect("page");
        let mut file = project.page.files[0].clone();
        file.core_metadata =
            MetadataAvailability::Available(BTreeMap::from([("sha256".into(), "00".repeat(32))]));
        let err = c.wheel_metadata(&file).await.expect_err("mismatch");
        assert!(matches!(err, IndexError::Hash { .. }), "{err:?}");
    }

    #[test]
    fn content_range_and_zip_helpers() {
        assert_eq!(parse_content_range("bytes 10-19/100"), Some((10, 100)));
        assert_eq!(parse_content_range("bytes */100"), None);
        assert!(is_metadata_path(b"a-1.0.dist-info/METADATA"));
        assert!(!is_metadata_path(b"x/a-1.0.dist-info/METADATA"));
        assert!(!is_metadata_path(b"a-1.0.data/METADATA"));
        let body = wheel("w", "1.0", "Name: w\n", 0);
        let (offset, size) = end_of_central_directory(&body).expect("eocd");
        let entry =
            find_metadata_entry(&body[offset as usize..(offset + size) as usize]).expect("entry");
        assert_eq!(entry.local_offset, 0);
        let start = local_data_offset(&body).expect("local");
        let data = &body[start..start + entry.compressed_size as usize];
        assert_eq!(inflate(entry.method, data).expect("inflate"), b"Name: w\n");
    }
}
