//! A Dockerfile `RUN` that is no idiom airlock carries out natively: run in the
//! sandbox over the layers below, its result pinned in `airlock.lock` like a
//! fixed-output derivation.
//!
//! The derivation key is a hash of the keys below (with the base's manifest digest),
//! the instruction, its environment, user, working directory and shell, the ids and
//! targets of its secret and cache mounts (never a secret's value) and whether it
//! has the network. The lock's `[[steps]]` entry records the key and the diff ID of
//! the layer the step made. A build reuses the stored layer of the key; when the
//! store lacks it, the step runs again and must give the pinned layer, else the
//! build fails naming the paths that differ, never making a new image silently.
//!
//! Compression: the pin is the diff ID (the uncompressed tar's digest) and the key
//! in the lock leaves the compression out (the keys below it do too), so one pin
//! holds for gzip and zstd builds alike; the store keeps each compression's layer
//! under its own key ([`super::compressed_key`]).
//!
//! A step that changes nothing has no layer in the image (its history line says
//! `empty_layer`, as BuildKit's does); its pin has no `layer`, and a run of it must
//! again change nothing.
//!
//! Network: as in BuildKit, a `RUN` has the network unless it says
//! `--network=none`; an offline (or `--frozen`) build runs no step with network and
//! fails instead, naming it (a stored layer is still reused).

use std::cell::RefCell;
use std::path::PathBuf;

use serde_json::json;

use super::{AboveKeys, Below, LayerStep, StoredLayer, changes_nothing, empty_diff_id};
use crate::digest::Digest;
use crate::layer::{Compression, FileTree, write_layer_with};
use crate::lock::{LockError, LockedStep, find_step, record_step};
use crate::pipeline::BuildError;
use crate::pipeline::options::{LockMode, Reporter};
use crate::pipeline::pin::Pinned;
use crate::project::dockerfile::{FsStep, RunCommand, RunMount, RunNetwork, RunSpec};
use crate::sandbox::{
    CacheDir, CaptureError, RunInSandbox, SecretFile, differing_paths, run_and_capture,
};
use crate::store::{LayerRecord, Store};

/// Bumped when what a `RUN` step's key covers changes.
const RUN_KEY_FORMAT: &str = "airlock-run-v1";

/// How many differing paths a "did not reproduce" error names.
const PATHS_SHOWN: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum RunStepError {
    #[error("RUN at Dockerfile:{line} failed")]
    Run {
        line: usize,
        #[source]
        source: CaptureError,
    },
    #[error(
        "RUN at Dockerfile:{line} did not reproduce: `airlock.lock` pins layer `{pinned}`, this run made `{made}`{}",
        paths_text(paths)
    )]
    NotReproduced {
        line: usize,
        pinned: Digest,
        made: Digest,
        /// The first paths two runs here differ at (empty when they agree).
        paths: Vec<String>,
    },
    #[error(
        "RUN at Dockerfile:{line} must run (the store lacks its layer) and may use the network, which this offline build does not allow"
    )]
    NeedsNetwork { line: usize },
    #[error(
        "RUN at Dockerfile:{line} mounts the secret `{id}`, which was not given (`--secret id={id},src=FILE`)"
    )]
    MissingSecret { line: usize, id: String },
    #[error("Cannot read the secret `{id}` from `{}`", path.display())]
    ReadSecret {
        id: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn paths_text(paths: &[String]) -> String {
    match paths.is_empty() {
        true => String::new(),
        false => format!("; two runs here differ at: {}", paths.join(", ")),
    }
}

impl crate::hint::Hint for RunStepError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Run { source, .. } => source.hints(),
            Self::NotReproduced { paths, .. } if paths.is_empty() => vec![
                "two runs here agree with each other, so the pinned layer was made in another environment (the layers below or the network's answers differed); if the new output is right, delete this step's `[[steps]]` entry from `airlock.lock` and build again".into(),
            ],
            Self::NotReproduced { .. } => vec![
                "the step writes something that changes between runs (a timestamp, random bytes, a download that moves); make it deterministic (use `$SOURCE_DATE_EPOCH`, remove the file in the same `RUN`) or delete the file in the same step".into(),
            ],
            Self::NeedsNetwork { .. } => vec![
                "build once with network (without `--frozen`/`--offline`) to store its layer, or add `--network=none` to the `RUN` if it needs none".into(),
            ],
            Self::MissingSecret { .. } => vec![
                "pass it with `--secret id=ID,src=FILE` (or `--build-secrets id=ID,src=FILE`), or mark the mount `required=false`".into(),
            ],
            Self::ReadSecret { .. } => Vec::new(),
        }
    }
}

impl From<RunStepError> for BuildError {
    fn from(error: RunStepError) -> Self {
        BuildError::RunStep(Box::new(error))
    }
}

/// The pins this run made for the Dockerfile's steps, written to `airlock.lock` once
/// the layers are realised.
#[derive(Debug, Default)]
pub(in crate::pipeline) struct StepPins {
    pins: RefCell<Vec<LockedStep>>,
}

impl StepPins {
    pub(in crate::pipeline) fn record(&self, step: LockedStep) {
        record_step(&mut self.pins.borrow_mut(), step);
    }

    /// The pins so far, by line.
    pub(in crate::pipeline) fn pins(&self) -> Vec<LockedStep> {
        self.pins.borrow().clone()
    }
}

/// A `RUN` in the sandbox.
pub(in crate::pipeline) struct RunStep<'a> {
    pinned: &'a Pinned,
    mtime: u64,
    line: usize,
    instruction: String,
    command: Vec<String>,
    env: Vec<(String, String)>,
    user: String,
    workdir: String,
    network: bool,
    /// (id, target, required, variable)
    secrets: Vec<(String, String, bool, Option<String>)>,
    caches: Vec<CacheDir>,
    compression: Compression,
    keys: AboveKeys,
}

impl<'a> RunStep<'a> {
    /// The step `step` (a `RUN` of `spec`) of the build `pinned`, timestamps `mtime`,
    /// its layer compressed as `compression`.
    pub(in crate::pipeline) fn new(
        step: &FsStep,
        spec: &RunSpec,
        pinned: &'a Pinned,
        (mtime, compression): (u64, Compression),
    ) -> Self {
        let command = match &spec.command {
            RunCommand::Shell(text) => {
                let mut argv = match step.state.shell.is_empty() {
                    true => vec!["/bin/sh".to_string(), "-c".to_string()],
                    false => step.state.shell.clone(),
                };
                argv.push(text.clone());
                argv
            }
            RunCommand::Exec(argv) => argv.clone(),
        };
        let mut env = step.state.env.clone();
        // The build args in scope reach the command as variables (never the image).
        for (name, value) in &step.state.args {
            if !env.iter().any(|(key, _)| key == name) {
                env.push((name.clone(), value.clone()));
            }
        }
        let mut secrets = Vec::new();
        let mut caches = Vec::new();
        for mount in &spec.mounts {
            match mount {
                RunMount::Secret {
                    id,
                    target,
                    required,
                    env,
                } => {
                    let target = match (target, env) {
                        (Some(target), _) => target.clone(),
                        (None, Some(_)) => String::new(),
                        (None, None) => format!("/run/secrets/{id}"),
                    };
                    secrets.push((id.clone(), target, *required, env.clone()));
                }
                RunMount::Cache { target, id, .. } => caches.push(CacheDir {
                    id: id.clone().unwrap_or_else(|| target.clone()),
                    target: target.clone(),
                }),
            }
        }
        Self {
            line: step.line,
            instruction: step.created_by.clone(),
            command,
            env,
            user: step.state.user.clone().unwrap_or_default(),
            workdir: step.state.workdir.clone(),
            network: spec.network == RunNetwork::Default,
            secrets,
            caches,
            pinned,
            mtime,
            compression,
            keys: AboveKeys::default(),
        }
    }

    /// The diff ID `airlock.lock` pins for this step and `key` (the layer's key, the
    /// lock's is without its compression): an empty tar's when it pins no layer.
    fn pinned(&self, key: &Digest) -> Option<Digest> {
        let key = self.keys.above(key);
        find_step(&self.pinned.lock.steps, self.line, &self.instruction)
            .filter(|s| s.key == key)
            .map(|s| s.layer.clone().unwrap_or_else(empty_diff_id))
    }

    /// Under `--locked`, a step the lock does not pin (for this key) makes the lock
    /// stale.
    fn check_locked(&self, pinned: Option<&Digest>) -> Result<(), BuildError> {
        if pinned.is_none() && self.pinned.mode == LockMode::Locked {
            return Err(LockError::Stale {
                path: self.pinned.session.lock_path.clone(),
                reason: format!("it has no pin for the RUN at Dockerfile:{}", self.line),
            }
            .into());
        }
        Ok(())
    }

    /// The sandbox run over `below`, secrets resolved.
    fn sandbox_run(&self, below: &Below<'_>, store: &Store) -> Result<RunInSandbox, BuildError> {
        let mut layers: Vec<(Digest, PathBuf)> = below
            .base
            .layers
            .iter()
            .map(|l| (l.digest.clone(), l.path.clone()))
            .collect();
        layers.extend(
            below
                .layers
                .iter()
                .map(|r| (r.digest.clone(), store.blob_path(&r.digest))),
        );
        let mut env = self.env.clone();
        let mut secrets = Vec::new();
        let mut hidden = Vec::new();
        for (id, target, required, variable) in &self.secrets {
            let Some(host) = self.pinned.session.secrets.get(id) else {
                if *required {
                    return Err(RunStepError::MissingSecret {
                        line: self.line,
                        id: id.clone(),
                    }
                    .into());
                }
                continue;
            };
            let value = std::fs::read(host).map_err(|source| RunStepError::ReadSecret {
                id: id.clone(),
                path: host.clone(),
                source,
            })?;
            let value = String::from_utf8_lossy(&value).into_owned();
            if let Some(variable) = variable {
                env.push((variable.clone(), value.clone()));
            }
            hidden.push(value);
            if !target.is_empty() {
                secrets.push(SecretFile {
                    host: host.clone(),
                    target: target.clone(),
                });
            }
        }
        Ok(RunInSandbox {
            layers,
            command: self.command.clone(),
            env,
            user: self.user.clone(),
            workdir: self.workdir.clone(),
            source_date_epoch: self.mtime,
            network: self.network,
            secrets,
            caches: self.caches.clone(),
            hidden,
            compression: self.compression,
        })
    }

    /// Runs the step and writes its layer (an empty one when it changed nothing).
    fn run_once(&self, spec: &RunInSandbox, store: &Store) -> Result<LayerRecord, BuildError> {
        let captured = run_and_capture(store, spec).map_err(|source| RunStepError::Run {
            line: self.line,
            source,
        })?;
        tracing::debug!(
            line = self.line,
            entries = captured.paths.len(),
            "RUN captured"
        );
        Ok(match captured.record {
            Some(record) => record,
            None => write_layer_with(store, &FileTree::new(), self.mtime, self.compression)?,
        })
    }
}

impl LayerStep for RunStep<'_> {
    fn kind(&self) -> &'static str {
        "run"
    }

    fn created_by(&self) -> String {
        self.instruction.clone()
    }

    fn key(
        &self,
        below: &Below<'_>,
        _reporter: &dyn Reporter,
    ) -> Result<Option<Digest>, BuildError> {
        let mut secrets: Vec<_> = self
            .secrets
            .iter()
            .map(|(id, target, _, variable)| json!([id, target, variable]))
            .collect();
        secrets.sort_by_key(|s| s.to_string());
        let text = json!({
            "format": RUN_KEY_FORMAT,
            "base": below.base.manifest_digest.to_string(),
            "below": below.keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "instruction": self.instruction,
            "command": self.command,
            "env": self.env,
            "user": self.user,
            "workdir": self.workdir,
            "network": self.network,
            "secrets": secrets,
            "caches": self.caches.iter().map(|c| json!([c.id, c.target])).collect::<Vec<_>>(),
            "source_date_epoch": self.mtime,
        });
        let above = Digest::of(text.to_string().as_bytes());
        Ok(Some(self.keys.key(above, self.compression)))
    }

    fn key_above(&self, key: &Digest) -> Digest {
        self.keys.above(key)
    }

    fn pinned_when_realised(&self) -> bool {
        true
    }

    fn produce(
        &self,
        key: &Digest,
        below: &Below<'_>,
        store: &Store,
        reporter: &dyn Reporter,
    ) -> Result<StoredLayer, BuildError> {
        let pinned = self.pinned(key);
        self.check_locked(pinned.as_ref())?;
        if self.network && self.pinned.session.remote.offline {
            return Err(RunStepError::NeedsNetwork { line: self.line }.into());
        }
        let spec = self.sandbox_run(below, store)?;
        reporter.step(&format!("running Dockerfile:{} in the sandbox", self.line));
        let record = self.run_once(&spec, store)?;
        if let Some(pinned) = pinned
            && pinned != record.diff_id
        {
            // A second run here tells a step that varies from one run to the next
            // (and names where) from one whose environment differed.
            let again = self.run_once(&spec, store)?;
            let paths = match again.diff_id == record.diff_id {
                true => Vec::new(),
                false => differing_paths(
                    &store.blob_path(&record.digest),
                    &store.blob_path(&again.digest),
                    PATHS_SHOWN,
                )
                .map_err(|source| RunStepError::Run {
                    line: self.line,
                    source,
                })?,
            };
            return Err(RunStepError::NotReproduced {
                line: self.line,
                pinned,
                made: record.diff_id,
                paths,
            }
            .into());
        }
        Ok(StoredLayer::made(record))
    }

    fn realised(
        &self,
        key: &Digest,
        record: &LayerRecord,
        _reused: bool,
    ) -> Result<(), BuildError> {
        let pin = self.pinned(key);
        self.check_locked(pin.as_ref())?;
        if let Some(pinned) = pin
            && pinned != record.diff_id
        {
            return Err(RunStepError::NotReproduced {
                line: self.line,
                pinned,
                made: record.diff_id.clone(),
                paths: Vec::new(),
            }
            .into());
        }
        self.pinned.step_pins.record(LockedStep {
            line: self.line,
            instruction: self.instruction.clone(),
            kind: "run".into(),
            key: self.keys.above(key),
            layer: (!changes_nothing(record)).then(|| record.diff_id.clone()),
            network: Some(self.network),
            wheels: Vec::new(),
            debs: Vec::new(),
            url: None,
            checksum: None,
        });
        Ok(())
    }
}
