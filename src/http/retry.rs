//! When and how long to wait before trying a request again.
//!
//! Retried: 408, 429 (honouring `Retry-After`), 5xx except those that cannot heal
//! (501, 505), connection resets, timeouts. Never retried: every other 4xx.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Exponential backoff with jitter, bounded in attempts and in wait.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Total tries of one request, the first included.
    pub max_attempts: u32,
    /// The wait before the first retry; doubles each time.
    pub base_delay: Duration,
    /// No wait is longer than this, whatever `Retry-After` asks for.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Whether a response with this status may succeed if sent again.
    pub fn is_retryable_status(status: StatusCode) -> bool {
        matches!(status.as_u16(), 408 | 429)
            || (status.is_server_error()
                && status != StatusCode::NOT_IMPLEMENTED
                && status != StatusCode::HTTP_VERSION_NOT_SUPPORTED)
    }

    /// Whether another attempt is allowed after `attempt` (1-based) failed.
    pub fn allows_another(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }

    /// The wait after failed attempt number `attempt` (1-based). A server's
    /// `Retry-After` wins over the backoff, capped at `max_delay`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(asked) = retry_after {
            let jitter = Duration::from_millis(fastrand::u64(0..=50));
            return asked.min(self.max_delay) + jitter;
        }
        let exponent = attempt.saturating_sub(1).min(16);
        let full = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        // "Equal jitter": half fixed, half random, so waits never collapse to zero.
        let half = full / 2;
        let random = half.mul_f64(fastrand::f64());
        half + random
    }

    /// Reads `Retry-After` as seconds or as an HTTP date.
    pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
        let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
        if let Ok(seconds) = text.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        let when = httpdate::parse_http_date(text).ok()?;
        Some(
            when.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn classifies_statuses() {
        for code in [408, 429, 500, 502, 503, 504] {
            let status = StatusCode::from_u16(code).expect("status");
            assert!(RetryPolicy::is_retryable_status(status), "{code}");
        }
        for code in [400, 401, 403, 404, 405, 409, 416, 501, 505] {
            let status = StatusCode::from_u16(code).expect("status");
            assert!(!RetryPolicy::is_retryable_status(status), "{code}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let first = policy.delay(1, None);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let late = policy.delay(9, None);
        assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1));
        let asked = policy.delay(1, Some(Duration::from_secs(60)));
        assert!(asked <= Duration::from_millis(1050));
    }

    #[test]
    fn parses_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(
            RetryPolicy::retry_after(&headers),
            Some(Duration::from_secs(2))
        );
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(RetryPolicy::retry_after(&headers), Some(Duration::ZERO));
    }
}
