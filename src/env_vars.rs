//! Every environment variable airlock reads, named once with what it means.
//!
//! Code elsewhere refers to these constants, never to string literals, so that the
//! full list of environment inputs to a build is visible here.

/// Unix seconds used for every timestamp in an image (layer mtimes, `created`).
/// Unset means 0, the Unix epoch.
pub(crate) const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// Overrides the content-addressed store location (`--cache-dir` wins over it).
pub(crate) const AIRLOCK_CACHE_DIR: &str = "AIRLOCK_CACHE_DIR";

/// The XDG base directory for caches; the store defaults to `$XDG_CACHE_HOME/airlock`.
pub(crate) const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";

/// Home directory, for `~/.cache/airlock` when `XDG_CACHE_HOME` is unset.
pub(crate) const HOME: &str = "HOME";

/// Disables coloured output when set to any value (<https://no-color.org>).
pub(crate) const NO_COLOR: &str = "NO_COLOR";

/// `tracing` filter directives for `-v` logging (e.g. `airlock=debug`).
pub(crate) const AIRLOCK_LOG: &str = "AIRLOCK_LOG";

// Registry, TLS and credentials (the `http` and `registry` modules).

/// A PEM bundle replacing the system trust store's default file (read by
/// rustls-native-certs).
pub(crate) const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// Directories of PEM certificates replacing the system trust store's default
/// directory, `:`-separated (read by rustls-native-certs).
pub(crate) const SSL_CERT_DIR: &str = "SSL_CERT_DIR";

/// The directory holding Docker's `config.json` (default `~/.docker`).
pub(crate) const DOCKER_CONFIG: &str = "DOCKER_CONFIG";

/// Podman's credentials file, read before Docker's.
pub(crate) const REGISTRY_AUTH_FILE: &str = "REGISTRY_AUTH_FILE";

/// Podman's default credentials live in `$XDG_RUNTIME_DIR/containers/auth.json`.
pub(crate) const XDG_RUNTIME_DIR: &str = "XDG_RUNTIME_DIR";

/// Registry user name for CI; needs `AIRLOCK_REGISTRY_PASSWORD`.
pub(crate) const AIRLOCK_REGISTRY_USER: &str = "AIRLOCK_REGISTRY_USER";

/// Registry password for CI; needs `AIRLOCK_REGISTRY_USER`.
pub(crate) const AIRLOCK_REGISTRY_PASSWORD: &str = "AIRLOCK_REGISTRY_PASSWORD";

/// A registry bearer token for CI, sent as is (no token exchange).
pub(crate) const AIRLOCK_REGISTRY_TOKEN: &str = "AIRLOCK_REGISTRY_TOKEN";

// The registry layer cache (`build --cache-from` / `--cache-to`).

/// Registry repositories to read cached layers from, comma- or space-separated
/// (when no `--cache-from` is given; wins over `[cache] from`).
pub(crate) const AIRLOCK_CACHE_FROM: &str = "AIRLOCK_CACHE_FROM";

/// The registry repository to store the build's layers in (when no `--cache-to` is
/// given; wins over `[cache] to`).
pub(crate) const AIRLOCK_CACHE_TO: &str = "AIRLOCK_CACHE_TO";

// Deploys (the `deploy` module).

/// Pins the time a deploy records (Unix seconds, fractions allowed); for tests and
/// replays. Unset means the wall clock. Builds never read it.
pub(crate) const AIRLOCK_DEPLOY_TIME: &str = "AIRLOCK_DEPLOY_TIME";
// Python package indexes (the `python` module), read as pip reads them.

/// The primary package index for `requirements.txt` (after the file's own
/// `--index-url`, before `airlock.toml`).
pub(crate) const PIP_INDEX_URL: &str = "PIP_INDEX_URL";

/// More package indexes, whitespace-separated.
pub(crate) const PIP_EXTRA_INDEX_URL: &str = "PIP_EXTRA_INDEX_URL";

/// One more pip configuration file, read after the standard ones.
pub(crate) const PIP_CONFIG_FILE: &str = "PIP_CONFIG_FILE";

/// System configuration directories, `:`-separated (pip reads `DIR/pip/pip.conf`).
pub(crate) const XDG_CONFIG_DIRS: &str = "XDG_CONFIG_DIRS";

/// The user's configuration directory (pip reads `pip/pip.conf` in it).
pub(crate) const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";

/// An active virtual environment, whose `pip.conf` pip reads last but one.
pub(crate) const VIRTUAL_ENV: &str = "VIRTUAL_ENV";

/// The `.netrc` file with index credentials (default `~/.netrc`).
pub(crate) const NETRC: &str = "NETRC";
