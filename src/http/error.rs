use std::error::Error as _;
use std::io;
use std::path::PathBuf;

use crate::env_vars;

/// Errors from the shared HTTP client. URLs in messages are redacted.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(
        "No trusted CA certificates found in the system store; set `{}` or `{}`, or pass `--ca-file`",
        env_vars::SSL_CERT_FILE,
        env_vars::SSL_CERT_DIR
    )]
    NoTrustRoots,
    #[error("Cannot read CA file `{}`", path.display())]
    CaFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("CA file `{}` holds no PEM certificate", path.display())]
    CaFileEmpty { path: PathBuf },
    #[error("CA file `{}` holds a certificate that cannot be used", path.display())]
    CaCertificate {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("Cannot set up TLS")]
    TlsSetup(#[source] rustls::Error),
    #[error("Cannot build the HTTP client")]
    Build(#[source] reqwest::Error),
    #[error("Cannot build a request")]
    InvalidRequest(#[source] reqwest::Error),
    #[error("{method} `{url}` failed: {reason}")]
    Request {
        method: String,
        /// Redacted.
        url: String,
        reason: String,
        failure: Failure,
        #[source]
        source: reqwest::Error,
    },
}

/// What kind of failure a request met, which decides whether it is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Connection reset or refused, timeout, truncated body: may heal.
    Transient,
    /// The server's certificate was not accepted: never heals by retrying.
    Certificate,
    /// The server answered a TLS handshake in plain text (an HTTP-only endpoint).
    PlainTextServer,
    /// Anything else: not retried.
    Fatal,
}

impl HttpError {
    pub(crate) fn request(method: &str, url: String, source: reqwest::Error) -> Self {
        let failure = classify(&source);
        let reason = match failure {
            Failure::Certificate => format!(
                "the server's TLS certificate is not trusted ({})",
                innermost(&source)
            ),
            Failure::PlainTextServer => {
                "the server does not speak TLS (it answered in plain text)".to_string()
            }
            _ if source.is_timeout() => "timed out".to_string(),
            _ => innermost(&source),
        };
        Self::Request {
            method: method.to_string(),
            url,
            reason,
            failure,
            source: source.without_url(),
        }
    }

    /// Whether sending the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Request {
                failure: Failure::Transient,
                ..
            }
        )
    }

    /// Whether the server turned out to be plain HTTP behind an `https` URL.
    pub fn is_plain_text_server(&self) -> bool {
        matches!(
            self,
            Self::Request {
                failure: Failure::PlainTextServer,
                ..
            }
        )
    }

    /// Whether the server's TLS certificate was not accepted (so it speaks TLS).
    pub fn is_certificate(&self) -> bool {
        matches!(
            self,
            Self::Request {
                failure: Failure::Certificate,
                ..
            }
        )
    }
}

fn classify(error: &reqwest::Error) -> Failure {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = error.source();
    while let Some(current) = cause {
        match find_tls_error(current) {
            Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)) => {
                return Failure::PlainTextServer;
            }
            Some(rustls::Error::InvalidCertificate(_)) => return Failure::Certificate,
            Some(_) => return Failure::Fatal,
            None => {}
        }
        cause = current.source();
    }
    if error.is_builder() || error.is_redirect() || error.is_status() {
        Failure::Fatal
    } else if error.is_timeout()
        || error.is_connect()
        || error.is_request()
        || error.is_body()
        || error.is_decode()
    {
        Failure::Transient
    } else {
        Failure::Fatal
    }
}

/// A rustls error at `error` or wrapped in it by `io::Error`s (whose `source()`
/// skips the wrapped error itself).
fn find_tls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = error;
    loop {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        current = current.downcast_ref::<io::Error>()?.get_ref()?;
    }
}

/// The deepest cause's message: the one that says what really happened.
fn innermost(error: &reqwest::Error) -> String {
    let mut last: &(dyn std::error::Error + 'static) = error;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

impl crate::hint::Hint for HttpError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::NoTrustRoots => vec!["install the `ca-certificates` package".into()],
            Self::Request {
                failure: Failure::Certificate,
                ..
            } => vec![format!(
                "add the CA that signed the server's certificate with `--ca-file`, or to the system trust store (`{}` / `{}`)",
                env_vars::SSL_CERT_FILE,
                env_vars::SSL_CERT_DIR
            )],
            Self::Request {
                failure: Failure::Transient | Failure::PlainTextServer | Failure::Fatal,
                ..
            } => Vec::new(),
            Self::CaFile { .. }
            | Self::CaFileEmpty { .. }
            | Self::CaCertificate { .. }
            | Self::TlsSetup(..)
            | Self::Build(..)
            | Self::InvalidRequest(..) => Vec::new(),
        }
    }
}
