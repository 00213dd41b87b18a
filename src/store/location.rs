//! Where the store lives when the user does not say.

use std::path::PathBuf;

use crate::env_vars;

/// `AIRLOCK_CACHE_DIR`, else `$XDG_CACHE_HOME/airlock`, else `~/.cache/airlock`,
/// else `.airlock/cache` in the current directory.
pub(crate) fn default_cache_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let non_empty = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty(env_vars::AIRLOCK_CACHE_DIR) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = non_empty(env_vars::XDG_CACHE_HOME) {
        return PathBuf::from(dir).join("airlock");
    }
    if let Some(home) = non_empty(env_vars::HOME) {
        return PathBuf::from(home).join(".cache").join("airlock");
    }
    PathBuf::from(".airlock").join("cache")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_explicit_then_xdg_then_home() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let all = env(&[
            ("AIRLOCK_CACHE_DIR", "/a"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(default_cache_dir(&all), PathBuf::from("/a"));
        let xdg = env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(default_cache_dir(&xdg), PathBuf::from("/x/airlock"));
        let home = env(&[("HOME", "/h"), ("AIRLOCK_CACHE_DIR", "")]);
        assert_eq!(default_cache_dir(&home), PathBuf::from("/h/.cache/airlock"));
    }
}
