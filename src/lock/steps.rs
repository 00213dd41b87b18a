//! The Dockerfile steps of `airlock.lock` (`[[steps]]`): one entry per filesystem
//! step whose result is pinned, like a fixed-output derivation. A sandboxed `RUN`
//! records its derivation key and the diff ID of the layer it produced (none when it
//! changed nothing); a later run of the same key must produce the same layer. An
//! `ADD --checksum <URL>` records the URL and the checksum. Keys never hold secret
//! values (only the secret ids), and do not depend on the layers' compression.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// One pinned Dockerfile step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedStep {
    /// The instruction's line in the Dockerfile.
    pub line: usize,
    /// The instruction as the image history shows it.
    pub instruction: String,
    /// `run`, `pip`, `venv`, `apt` or `add-url`.
    pub kind: String,
    /// The derivation key: the layers below, the instruction, its environment and
    /// the ids of what it mounts.
    pub key: Digest,
    /// For `run`: the diff ID of the layer it produced; none when it changed nothing
    /// (the image then has no layer for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<Digest>,
    /// For `run`: whether it ran with network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<bool>,
    /// For `pip` and `venv`: the wheels installed, sorted by name. Their `key` is a
    /// digest of what they were resolved from (the idiom, the target and indexes,
    /// what the layers below install): while it is unchanged the pins are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wheels: Vec<super::LockedWheel>,
    /// For `apt`: the packages installed, in installation order (the key as above).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub debs: Vec<super::LockedDeb>,
    /// For `add-url`: the URL downloaded (credentials and query values redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// For `add-url`: the `--checksum` the download is verified against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<Digest>,
}

/// The pin of the step at `line` whose instruction is `instruction`, if the lock
/// has one.
pub(crate) fn find_step<'a>(
    steps: &'a [LockedStep],
    line: usize,
    instruction: &str,
) -> Option<&'a LockedStep> {
    steps
        .iter()
        .find(|s| s.line == line && s.instruction == instruction)
}

/// Puts `step` in `steps` (replacing the entry of the same line), sorted by line.
pub(crate) fn record_step(steps: &mut Vec<LockedStep>, step: LockedStep) {
    steps.retain(|s| s.line != step.line);
    steps.push(step);
    steps.sort_by_key(|s| s.line);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::lock::{LockedBase, Lockfile};

    fn lock() -> Lockfile {
        Lockfile::new(
            LockedBase {
                reference: "example/runtime:1".into(),
                manifest: Digest::of(b"m"),
            },
            BTreeMap::new(),
        )
    }

    /// #13 item 3: without steps the lock's text is what it was; with them, each
    /// step is a `[[steps]]` table that reads back the same.
    #[test]
    fn item13_3_steps_in_the_lock_round_trip_and_leave_old_locks_alone() {
        let plain = lock();
        let text = plain.to_text();
        assert!(!text.contains("steps"), "{text}");
        assert_eq!(
            text,
            "# This file is written by airlock. Do not edit it by hand.\nversion = 1\n\n[base]\nreference = \"example/runtime:1\"\nmanifest = \"sha256:62c66a7a5dd70c3146618063c344e531e6d4b59e379808443ce962b3abd63c5a\"\n\n[inputs]\n"
        );
        let mut with = lock();
        record_step(
            &mut with.steps,
            LockedStep {
                line: 7,
                instruction: "RUN echo hi > /x".into(),
                kind: "run".into(),
                key: Digest::of(b"key"),
                layer: Some(Digest::of(b"layer")),
                network: Some(false),
                wheels: Vec::new(),
                debs: Vec::new(),
                url: None,
                checksum: None,
            },
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("airlock.lock");
        with.write(&path).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("[[steps]]\nline = 7\n"), "{text}");
        let read = Lockfile::read(&path).expect("read").expect("present");
        assert_eq!(read, with);
        let found = find_step(&read.steps, 7, "RUN echo hi > /x").expect("found");
        assert_eq!(found.layer, Some(Digest::of(b"layer")));
        assert!(find_step(&read.steps, 8, "RUN echo hi > /x").is_none());
    }
}
