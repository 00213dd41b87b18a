//! Every environment variable airlock reads, named once with what it means.
//!
//! Code elsewhere refers to these constants, never to string literals, so that the
//! full list of environment inputs to a build is visible here.

/// Unix seconds used for every timestamp in an image (layer mtimes, `created`).
/// Unset means 0, the Unix epoch.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// Overrides the content-addressed store location (`--cache-dir` wins over it).
pub const AIRLOCK_CACHE_DIR: &str = "AIRLOCK_CACHE_DIR";

/// The XDG base directory for caches; the store defaults to `$XDG_CACHE_HOME/airlock`.
pub const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";

/// Home directory, for `~/.cache/airlock` when `XDG_CACHE_HOME` is unset.
pub const HOME: &str = "HOME";

/// Disables coloured output when set to any value (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";

/// `tracing` filter directives for `-v` logging (e.g. `airlock=debug`).
pub const AIRLOCK_LOG: &str = "AIRLOCK_LOG";
