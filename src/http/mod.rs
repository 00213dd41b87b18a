//! The one HTTP client setup shared by the registry, the Python index and the Debian
//! archive: the system trust store plus extra CA files, proxies from the environment,
//! timeouts, the retry policy and secret redaction.
//!
//! It must not know any protocol above HTTP (no registry, index or archive logic).

mod client;
mod error;
mod progress;
mod redact;
mod retry;

pub use client::{HttpClient, HttpSettings};
pub(crate) use error::HttpError;
pub use progress::{BlobOutcome, NoProgress, Progress};
pub(crate) use redact::redact_url;
pub use retry::RetryPolicy;
