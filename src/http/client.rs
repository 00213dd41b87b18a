use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Request, RequestBuilder, Response};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::error::HttpError;
use super::redact::redact_url;
use super::retry::RetryPolicy;

/// How the shared client is set up. Proxies come from the environment
/// (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`), as reqwest reads them.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub user_agent: String,
    /// PEM files whose certificates are trusted on top of the system store (`--ca-file`).
    pub ca_files: Vec<PathBuf>,
    pub connect_timeout: Duration,
    /// Longest silence while reading or waiting for a response; a stalled peer fails.
    pub read_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            user_agent: concat!("airlock/", env!("CARGO_PKG_VERSION")).to_string(),
            ca_files: Vec::new(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

/// The HTTP client every network-facing module uses. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    retry: RetryPolicy,
}

impl HttpClient {
    pub fn new(settings: &HttpSettings) -> Result<Self, HttpError> {
        let tls = tls_config(settings)?;
        let inner = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .user_agent(settings.user_agent.clone())
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout)
            .build()
            .map_err(HttpError::Build)?;
        Ok(Self {
            inner,
            retry: settings.retry.clone(),
        })
    }

    /// The underlying client, to build requests with.
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.inner
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Sends one request once. Errors carry a redacted URL.
    pub async fn execute(&self, request: Request) -> Result<Response, HttpError> {
        let method = request.method().to_string();
        let url = redact_url(request.url());
        tracing::debug!(%method, %url, "HTTP request");
        self.inner
            .execute(request)
            .await
            .map_err(|error| HttpError::request(&method, url, error))
    }

    /// Sends a request built by `make`, building it again for each retry: transport
    /// failures and retryable statuses are retried by the policy. A final retryable
    /// status is returned as the response, for the caller to report.
    pub async fn send(
        &self,
        mut make: impl FnMut() -> RequestBuilder,
    ) -> Result<Response, HttpError> {
        let mut attempt = 1;
        loop {
            let request = make()
                .build()
                .map_err(|error| HttpError::InvalidRequest(error.without_url()))?;
            let method = request.method().to_string();
            let url = redact_url(request.url());
            match self.execute(request).await {
                Ok(response)
                    if RetryPolicy::is_retryable_status(response.status())
                        && self.retry.allows_another(attempt) =>
                {
                    let wait = self
                        .retry
                        .delay(attempt, RetryPolicy::retry_after(response.headers()));
                    tracing::warn!(%method, %url, status = %response.status(), ?wait, attempt, "retrying");
                    tokio::time::sleep(wait).await;
                }
                Ok(response) => return Ok(response),
                Err(error) if error.is_retryable() && self.retry.allows_another(attempt) => {
                    let wait = self.retry.delay(attempt, None);
                    tracing::warn!(%error, ?wait, attempt, "retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(error) => return Err(error),
            }
            attempt += 1;
        }
    }
}

/// rustls on the ring provider, trusting the system store (rustls-native-certs reads
/// `SSL_CERT_FILE` / `SSL_CERT_DIR` when set, else the platform's locations) plus the
/// configured CA files. No bundled roots: a machine behind a TLS-inspecting proxy
/// trusts that proxy's CA only through its system store.
fn tls_config(settings: &HttpSettings) -> Result<rustls::ClientConfig, HttpError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::warn!(%error, "skipping part of the system trust store");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "system trust store loaded");
    for path in &settings.ca_files {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|error| HttpError::CaFile {
                path: path.clone(),
                source: std::io::Error::other(error.to_string()),
            })?
            .collect::<Result<_, _>>()
            .map_err(|error| HttpError::CaFile {
                path: path.clone(),
                source: std::io::Error::other(error.to_string()),
            })?;
        if certs.is_empty() {
            return Err(HttpError::CaFileEmpty { path: path.clone() });
        }
        for cert in certs {
            roots.add(cert).map_err(|source| HttpError::CaCertificate {
                path: path.clone(),
                source,
            })?;
        }
    }
    if roots.is_empty() {
        return Err(HttpError::NoTrustRoots);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(HttpError::TlsSetup)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
