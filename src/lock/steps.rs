//! `[[steps]]` of `airlock.lock`: one entry per Dockerfile filesystem step that needs
//! pinning, by its line and instruction text. A native `RUN` idiom (`pip`, `venv`,
//! `apt`) records the wheels or `.deb`s it installs, in the same shapes as the
//! top-level `[[wheels]]` and `[[debs]]`, and a digest of what they were resolved
//! from (`inputs`): while that is unchanged the pins are kept.

use serde::{Deserialize, Serialize};

use super::{LockedDeb, LockedWheel};
use crate::digest::Digest;

/// One pinned Dockerfile step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedStep {
    /// The step's 1-based Dockerfile line.
    pub line: usize,
    /// The instruction as the image history shows it.
    pub instruction: String,
    /// `run`, `pip`, `venv`, `apt` or `add-url`.
    pub kind: String,
    /// The step's derivation key, when the pin depends on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Digest>,
    /// For `run`: the diff ID of the output layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<Digest>,
    /// For `run`: whether the step ran with network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<bool>,
    /// For a native idiom: what its pins were resolved from (the idiom, the target, the
    /// indexes, what the layers below install).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Digest>,
    /// For `pip` and `venv`: the wheels installed, sorted by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wheels: Vec<LockedWheel>,
    /// For `apt`: the packages installed, in installation order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub debs: Vec<LockedDeb>,
}
