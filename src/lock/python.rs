//! The Python part of `airlock.lock`: the target environment and settings a
//! resolution was made for, and every wheel, pinned by hash.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// What the wheels were resolved for and from. A change to any of it makes the
/// Python part of the lock stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PythonLock {
    /// The base's interpreter, full version (`3.12.7`).
    pub python: String,
    /// The base's glibc (`2.36`), which decides the manylinux tags accepted.
    pub glibc: String,
    /// `x86_64`.
    pub arch: String,
    /// Where the wheels are installed (no leading `/`).
    pub site_packages: String,
    /// The indexes read, primary first, without credentials.
    pub indexes: Vec<String>,
    /// `--find-links` locations read, without credentials.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub find_links: Vec<String>,
    /// Files uploaded after this time were ignored (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_newer: Option<String>,
    /// Whether the resolution could change what the base has installed.
    #[serde(default)]
    pub allow_base_upgrades: bool,
    /// The requirements were used as-is (pip's hash-checking mode).
    #[serde(default)]
    pub hashed_requirements: bool,
    /// sha256 of the base's installed distributions and constraints the
    /// resolution honoured.
    pub base_packages: Digest,
}

/// One wheel to install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedWheel {
    /// Normalized distribution name.
    pub name: String,
    pub version: String,
    pub filename: String,
    /// Where it was found, without credentials (they come from the configuration
    /// at download time).
    pub url: String,
    pub sha256: Digest,
    pub size: u64,
    /// Distributions it needs in this environment, by normalized name.
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// Set when the wheel is built from a source distribution: `filename`,
    /// `sha256` and `size` above are then the built wheel's, `url` the sdist's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdist: Option<LockedSdist>,
}

/// The source distribution a wheel is built from, and what the build used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedSdist {
    pub filename: String,
    /// Where it was found, without credentials.
    pub url: String,
    pub sha256: Digest,
    pub size: u64,
    /// The build's derivation key: the sdist, the build requirements, the layers
    /// below and the interpreter. The built wheel is kept in the store under it.
    pub build_key: Digest,
    /// The PEP 517 backend (`module:object`).
    pub backend: String,
    /// The build requirements, resolved as wheels and installed into the isolated
    /// build environment.
    #[serde(default)]
    pub build_requires: Vec<LockedWheel>,
}
