//! URLs as they may appear in logs and errors: no userinfo, no query values that could
//! carry a credential (pre-signed redirect URLs put signatures in the query).

use url::Url;

/// Query keys whose values are safe to show: the distribution API's own parameters.
const SHOWN_QUERY_KEYS: &[&str] = &["digest", "mount", "from", "service", "scope", "n", "last"];

/// A printable form of `url` with the username, password and every query value outside
/// a short allow-list replaced.
pub(crate) fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    if !shown.username().is_empty() || shown.password().is_some() {
        // Only fails for URLs that cannot carry userinfo, which then have none.
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
    }
    if shown.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if SHOWN_QUERY_KEYS.contains(&key.as_ref()) {
                    value.into_owned()
                } else {
                    "REDACTED".to_string()
                };
                (key.into_owned(), value)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_userinfo_and_unknown_query_values() {
        let url = Url::parse(
            "https://user:hunter2@127.0.0.1:5000/v2/a/blobs/uploads/x?_state=abc&digest=sha256%3A00&X-Signature=zzz",
        )
        .expect("valid url");
        let shown = redact_url(&url);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("user"), "{shown}");
        assert!(!shown.contains("abc"), "{shown}");
        assert!(!shown.contains("zzz"), "{shown}");
        assert!(shown.contains("digest=sha256%3A00"), "{shown}");
    }
}
