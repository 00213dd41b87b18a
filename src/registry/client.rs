//! The registry client: configuration, request sending with authentication and
//! scheme choice, and reading the registry's error answers. Pull and push live in
//! their own modules as further `impl RegistryClient` blocks.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};

use bytes::Bytes;
use futures_util::TryStreamExt as _;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Body, RequestBuilder, Response, StatusCode};
use tokio::io::AsyncReadExt as _;
use tokio::sync::OnceCell;
use url::Url;

use super::auth::{Authenticator, Scopes};
use super::credentials::CredentialSource;
use super::error::{RegistryError, parse_api_errors};
use super::reference::Repository;
use super::{NoProgress, Progress};
use crate::digest::Digest;
use crate::http::{HttpClient, HttpError};

/// Longest error body read from a registry.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Longest wait for one attempt of the plain-HTTP probe of a loopback registry (a
/// TLS server may wait for a handshake instead of answering).
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How the client talks to registries.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Registries (`host[:port]`, or `host` for every port) spoken to in plain HTTP.
    pub insecure: Vec<String>,
    /// Loopback registries may be plain HTTP without being listed: an anonymous
    /// `GET /v2/` in plain HTTP, once per process and retried, tells; TLS is used
    /// only when a TLS server answers.
    pub allow_loopback_http: bool,
    /// Blobs up to this size go up in one `PUT`; bigger ones in chunks.
    pub monolithic_limit: u64,
    /// Chunk size of chunked uploads; raised to the registry's `OCI-Chunk-Min-Length`.
    pub chunk_size: u64,
    /// Blobs transferred at once.
    pub parallelism: usize,
    /// Largest manifest or index accepted.
    pub max_manifest_size: usize,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            insecure: Vec::new(),
            allow_loopback_http: true,
            monolithic_limit: 32 * 1024 * 1024,
            chunk_size: 16 * 1024 * 1024,
            parallelism: 4,
            max_manifest_size: 4 * 1024 * 1024,
        }
    }
}

/// A client for the OCI distribution API of any number of registries.
pub struct RegistryClient {
    pub(crate) http: HttpClient,
    pub(crate) auth: Authenticator,
    pub(crate) config: RegistryConfig,
    pub(crate) progress: Arc<dyn Progress>,
}

/// Whether each loopback registry (`host:port`) speaks plain HTTP, decided once per
/// process whichever client asks first.
static LOOPBACK_PLAIN_HTTP: LazyLock<Mutex<HashMap<String, Arc<OnceCell<bool>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    pub fn new(
        http: HttpClient,
        credentials: Arc<dyn CredentialSource>,
        config: RegistryConfig,
    ) -> Self {
        Self {
            auth: Authenticator::new(http.clone(), credentials),
            http,
            config,
            progress: Arc::new(NoProgress),
        }
    }

    /// Reports byte progress of every blob transfer to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// `http` for registries listed as insecure, and for loopback registries that
    /// turn out not to speak TLS; `https` for every other. A loopback registry is
    /// probed once per process (see [`Self::probe_plain_http`]); every request to it
    /// then uses the same scheme.
    async fn scheme(&self, registry: &str) -> Result<&'static str, RegistryError> {
        let host = host_of(registry);
        if self
            .config
            .insecure
            .iter()
            .any(|entry| entry == registry || entry == host)
        {
            return Ok("http");
        }
        if !(self.config.allow_loopback_http && is_loopback(host)) {
            return Ok("https");
        }
        let decision = {
            let mut known = LOOPBACK_PLAIN_HTTP
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(known.entry(registry.to_string()).or_default())
        };
        // Concurrent requests wait for the one probe; a probe that fails decides
        // nothing, so the next request asks again.
        let plain = decision
            .get_or_try_init(|| self.probe_plain_http(registry))
            .await?;
        Ok(if *plain { "http" } else { "https" })
    }

    /// Asks a loopback registry `GET /v2/` in plain HTTP, anonymously, retried by the
    /// HTTP policy like every request. Any HTTP answer but 400 (what TLS servers send
    /// back to plain HTTP) means plain HTTP. Only when plain HTTP gets no answer at
    /// all within the policy is TLS tried, and only a TLS answer (or a certificate to
    /// judge) means TLS: a transient failure never turns a plain registry into https.
    async fn probe_plain_http(&self, registry: &str) -> Result<bool, RegistryError> {
        let url = |scheme: &str| {
            Url::parse(&format!("{scheme}://{registry}/v2/")).map_err(|error| {
                RegistryError::Protocol {
                    action: format!("registry `{registry}`"),
                    detail: error.to_string(),
                }
            })
        };
        let client = self.http.reqwest();
        let plain_url = url("http")?;
        let plain_failure = match self
            .http
            .send(|| client.get(plain_url.clone()).timeout(PROBE_TIMEOUT))
            .await
        {
            Ok(response) => {
                let plain = response.status() != StatusCode::BAD_REQUEST;
                tracing::debug!(registry, plain, status = %response.status(), "probed loopback registry in plain HTTP");
                return Ok(plain);
            }
            Err(error) if error.is_retryable() => error,
            Err(source) => {
                return Err(RegistryError::SchemeUnknown {
                    registry: registry.to_string(),
                    source: Box::new(source),
                });
            }
        };
        let tls_url = url("https")?;
        match self
            .http
            .send(|| client.get(tls_url.clone()).timeout(PROBE_TIMEOUT))
            .await
        {
            Ok(_) => {
                tracing::debug!(registry, "loopback registry answers in TLS only");
                Ok(false)
            }
            Err(error) if error.is_plain_text_server() => Ok(true),
            Err(error) if error.is_certificate() => Ok(false),
            Err(error) => {
                tracing::debug!(registry, %error, "loopback registry answers TLS neither");
                Err(RegistryError::SchemeUnknown {
                    registry: registry.to_string(),
                    source: Box::new(plain_failure),
                })
            }
        }
    }

    pub(crate) async fn base_url(&self, registry: &str) -> Result<Url, RegistryError> {
        let scheme = self.scheme(registry).await?;
        Url::parse(&format!("{scheme}://{registry}/")).map_err(|error| RegistryError::Protocol {
            action: format!("registry `{registry}`"),
            detail: error.to_string(),
        })
    }

    /// Sends a request built by `make` (given the registry's base URL), authorizing it
    /// for `scopes`. With `retry`, transport failures and retryable statuses are
    /// retried by the HTTP policy (the request must then be rebuildable). A 401 leads
    /// to one new attempt with fresh authorization; a second is an error.
    pub(crate) async fn send(
        &self,
        registry: &str,
        scopes: &Scopes,
        action: &str,
        retry: bool,
        mut make: impl FnMut(&Url) -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let mut reauthorized = false;
        loop {
            let base = self.base_url(registry).await?;
            let authorization = self.auth.authorization(registry, scopes).await?;
            let mut build = || {
                let request = make(&base);
                match &authorization {
                    Some(value) => request.header(AUTHORIZATION, value.clone()),
                    None => request,
                }
            };
            let result = if retry {
                self.http.send(&mut build).await
            } else {
                match build().build() {
                    Ok(request) => self.http.execute(request).await,
                    Err(error) => Err(HttpError::InvalidRequest(error.without_url())),
                }
            };
            let response = match result {
                Ok(response) => response,
                Err(source) => {
                    return Err(RegistryError::Http {
                        action: action.to_string(),
                        source,
                    });
                }
            };
            if response.status() == StatusCode::UNAUTHORIZED {
                let challenge = response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_string);
                if !reauthorized {
                    reauthorized = true;
                    self.auth.unauthorized(
                        registry,
                        scopes,
                        challenge.as_deref(),
                        authorization.is_some(),
                    )?;
                    continue;
                }
                return Err(self
                    .auth
                    .still_unauthorized(registry, scopes, challenge.as_deref())
                    .into());
            }
            return Ok(response);
        }
    }

    /// The error for an unexpected answer, with the registry's error entries.
    pub(crate) async fn api_error(response: Response, action: &str) -> RegistryError {
        let status = response.status().as_u16();
        let mut body = Vec::new();
        let mut response = response;
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ERROR_BODY {
                break;
            }
        }
        RegistryError::Api {
            action: action.to_string(),
            status,
            errors: parse_api_errors(&body),
        }
    }

    /// A body streaming `length` bytes of `path` from `offset`, reporting progress
    /// as bytes go out. An unreadable file fails the request, not the process.
    pub(crate) fn file_body(&self, path: &Path, offset: u64, length: u64, digest: &Digest) -> Body {
        use std::io::{Seek as _, SeekFrom};
        let opened = std::fs::File::open(path).and_then(|mut file| {
            file.seek(SeekFrom::Start(offset))?;
            Ok(file)
        });
        match opened {
            Ok(file) => {
                let reader = tokio::fs::File::from_std(file).take(length);
                let progress = Arc::clone(&self.progress);
                let digest = digest.clone();
                let mut position = offset;
                let stream = tokio_util::io::ReaderStream::with_capacity(reader, 256 * 1024)
                    .inspect_ok(move |chunk| {
                        position += chunk.len() as u64;
                        progress.blob_position(&digest, position);
                    });
                Body::wrap_stream(stream)
            }
            Err(error) => Body::wrap_stream(futures_util::stream::once(async move {
                Err::<Bytes, std::io::Error>(error)
            })),
        }
    }
}

/// `/v2/<name>/<rest>` on the registry's base URL.
pub(crate) fn endpoint(base: &Url, repository: &Repository, rest: &str) -> Url {
    let mut url = base.clone();
    url.set_path(&format!("/v2/{}/{rest}", repository.name()));
    url
}

/// A `Location` header, resolved against the request URL (it may be relative).
pub(crate) fn location(response: &Response, action: &str) -> Result<Url, RegistryError> {
    let missing = || RegistryError::Protocol {
        action: action.to_string(),
        detail: "no usable `Location` header".to_string(),
    };
    let value = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(missing)?;
    response.url().join(value).map_err(|_| missing())
}

fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split_once(']').map_or(registry, |(host, _)| host);
    }
    registry.rsplit_once(':').map_or(registry, |(host, _)| host)
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_loopback() {
        assert!(is_loopback(host_of("127.0.0.1:5000")));
        assert!(is_loopback(host_of("localhost")));
        assert!(is_loopback(host_of("[::1]:5000")));
        assert!(!is_loopback(host_of("10.0.0.1:5000")));
        assert!(!is_loopback(host_of("registry.internal")));
    }
}
