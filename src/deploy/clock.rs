//! Deploy time: the one place a deploy reads the wall clock, and its UTC renderings.
//!
//! Builds never read the clock; deploy records may, because "when was this deployed"
//! is part of what they record. `AIRLOCK_DEPLOY_TIME` pins it for tests.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::env_vars;

/// An instant in UTC with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Timestamp {
    millis: u64,
}

impl Timestamp {
    /// Now, or `AIRLOCK_DEPLOY_TIME` (Unix seconds, fractions allowed) when set.
    pub(super) fn now() -> Self {
        if let Ok(text) = std::env::var(env_vars::AIRLOCK_DEPLOY_TIME)
            && let Ok(seconds) = text.trim().parse::<f64>()
            && seconds >= 0.0
        {
            return Self {
                millis: (seconds * 1000.0).round() as u64,
            };
        }
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Self { millis }
    }

    #[cfg(test)]
    pub(crate) fn from_millis(millis: u64) -> Self {
        Self { millis }
    }

    fn parts(&self) -> (i64, u32, u32, u64, u64, u64, u64) {
        let seconds = self.millis / 1000;
        let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
        let rest = seconds % 86_400;
        (
            year,
            month,
            day,
            rest / 3600,
            rest % 3600 / 60,
            rest % 60,
            self.millis % 1000,
        )
    }

    /// RFC 3339, e.g. `2025-06-01T12:30:05.042Z`.
    pub(super) fn rfc3339(&self) -> String {
        let (y, mo, d, h, mi, s, ms) = self.parts();
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
    }

    /// A compact form usable in tags and directory names, sorted like time:
    /// `20250601T123005.042Z`.
    pub(super) fn compact(&self) -> String {
        let (y, mo, d, h, mi, s, ms) = self.parts();
        format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}.{ms:03}Z")
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_utc() {
        let t = Timestamp::from_millis(0);
        assert_eq!(t.rfc3339(), "1970-01-01T00:00:00.000Z");
        // 2024-02-29T23:59:58.5Z, a leap day.
        let t = Timestamp::from_millis(1_709_251_198_500);
        assert_eq!(t.rfc3339(), "2024-02-29T23:59:58.500Z");
        assert_eq!(t.compact(), "20240229T235958.500Z");
    }
}
