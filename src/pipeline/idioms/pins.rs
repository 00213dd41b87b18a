//! The pins of the native `RUN` steps (`[[steps]]` entries of kind `pip`, `venv` and
//! `apt`): kept from the lock on disk while what they were resolved from is
//! unchanged (the entry's `key`), else resolved like `requirements.txt` and
//! `packages.txt` are, over what the layers below install; `--locked` refuses a step
//! that would change. The plan then makes each step's layer from its entry.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use pep508_rs::{PackageName, Requirement};
use sha2::{Digest as _, Sha256};

use super::native::{Base, Native, NativeKind, NativePip, understand};
use super::seeds::Seeds;
use crate::digest::Digest;
use crate::lock::{
    LockError, LockedDeb, LockedStep, LockedWheel, Lockfile, find_step, record_step,
};
use crate::pipeline::BuildError;
use crate::pipeline::debian::{DebianError, lock_requests, settings_digest};
use crate::pipeline::layers::{AboveKeys, AptStep, LayerStep, NewVenv, PipStep};
use crate::pipeline::load::Session;
use crate::pipeline::options::{LockMode, Reporter};
use crate::pipeline::pin::Pinned;
use crate::pipeline::python_stage::{Installed, PythonContext, PythonOptions, resolve_step};
use crate::project::dockerfile::{FsStep, FsStepKind};
use crate::python::{BaseDist, BaseView, IndexUrl, PythonEnvironment};

/// The kinds of `[[steps]]` entry the native idioms own.
pub(in crate::pipeline) const NATIVE_KINDS: [&str; 3] = ["pip", "venv", "apt"];

/// The native form of the Dockerfile step `index` of `steps`, if it has one.
pub(in crate::pipeline) fn native_of(
    session: &Session,
    steps: &[FsStep],
    index: usize,
    seeds: &Seeds<'_>,
) -> Option<Native> {
    let step = steps.get(index)?;
    let FsStepKind::Run(spec) = &step.kind else {
        return None;
    };
    let project_dir = session.base.working_dir().unwrap_or_else(|| "/".into());
    let get = || seeds.get();
    let base = Base {
        image: &session.base,
        facts: &session.facts,
        project_dir: &project_dir,
        project_root: &session.project.root,
        copied_before: steps[..index]
            .iter()
            .any(|s| matches!(s.kind, FsStepKind::Copy(_))),
        seeds: &get,
    };
    understand(step, spec, &base)
}

/// Fills `wanted.steps` with the pins of every native step of `steps`; returns the
/// indexes (with credentials) their wheels come from.
pub(in crate::pipeline) fn pin_native(
    session: &Session,
    wanted: &mut Lockfile,
    steps: &[FsStep],
    mode: LockMode,
    options: &PythonOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<IndexUrl>, BuildError> {
    let seeds = Seeds::new(session);
    let base_env = session.base.env();
    let mut pinned: Vec<LockedStep> = Vec::new();
    let mut indexes = Vec::new();
    for index in 0..steps.len() {
        let Some(native) = native_of(session, steps, index, &seeds) else {
            continue;
        };
        let kind = native.kind();
        let on_disk = session
            .on_disk
            .as_ref()
            .and_then(|lock| find_step(&lock.steps, native.line, &native.created_by))
            .filter(|entry| entry.kind == kind);
        let entry = match &native.what {
            NativeKind::Pip(pip) => {
                let ctx = python_context(session, &base_env, mode, options, reporter);
                let installed = installed_below(session, wanted, &pinned, pip);
                let previous = on_disk.map_or(&[][..], |e| &e.wheels[..]);
                let target = pip_target_text(pip);
                let kept = |inputs: &Digest| {
                    on_disk
                        .filter(|e| e.key == step_key(kind, &target, inputs))
                        .map(|e| e.wheels.clone())
                };
                let (wheels, step_indexes, key) = resolve_step(
                    &ctx,
                    &pip.requirements,
                    Installed {
                        dists: installed,
                        previous,
                    },
                    &kept,
                )
                .map_err(|e| BuildError::StepAt {
                    line: native.line,
                    source: Box::new(BuildError::Python(Box::new(e))),
                })?;
                indexes = step_indexes;
                LockedStep {
                    key: step_key(kind, &target, &key),
                    wheels,
                    ..entry(&native, kind)
                }
            }
            NativeKind::Apt(requests) => {
                pin_apt(session, wanted, &pinned, &native, requests, on_disk, mode)?
            }
        };
        pinned.push(entry);
    }
    wanted
        .steps
        .retain(|s| !NATIVE_KINDS.contains(&s.kind.as_str()));
    for entry in pinned {
        record_step(&mut wanted.steps, entry);
    }
    Ok(indexes)
}

fn entry(native: &Native, kind: &str) -> LockedStep {
    LockedStep {
        line: native.line,
        instruction: native.created_by.clone(),
        kind: kind.to_string(),
        key: Digest::of(b""),
        layer: None,
        network: None,
        wheels: Vec::new(),
        debs: Vec::new(),
        url: None,
        checksum: None,
    }
}

/// What decides a pip step's pins besides the resolution's inputs: where and as whom
/// it installs, and the environment it makes.
fn pip_target_text(pip: &NativePip) -> String {
    format!(
        "{:?}\0{}:{}\0{:?}",
        pip.target,
        pip.owner.uid,
        pip.owner.gid,
        pip.venv
            .as_ref()
            .map(|v| (&v.spec, v.seed.iter().map(|(n, _)| n).collect::<Vec<_>>()))
    )
}

fn step_key(kind: &str, text: &str, inputs: &Digest) -> Digest {
    let mut h = Sha256::new();
    h.update(format!("airlock-native-step\0{kind}\0{text}\0{inputs}"));
    Digest::from_sha256(h.finalize().into())
}

fn python_context<'a>(
    session: &'a Session,
    base_env: &'a [String],
    mode: LockMode,
    options: &'a PythonOptions,
    reporter: &'a dyn Reporter,
) -> PythonContext<'a> {
    PythonContext {
        project: &session.project,
        facts: &session.facts,
        base_env,
        base_home: None,
        on_disk: session.on_disk.as_ref(),
        lock_path: &session.lock_path,
        mode,
        options,
        store: &session.store,
        reporter,
        runtime: &session.runtime,
        base: &session.base,
    }
}

/// What pip sees installed under a step: in a virtual environment its seeded wheels
/// (and with `--system-site-packages` what the system has); else the base's
/// distributions, `requirements.txt`'s wheels and earlier `pip` steps' wheels.
fn installed_below(
    session: &Session,
    wanted: &Lockfile,
    pinned: &[LockedStep],
    pip: &NativePip,
) -> BTreeMap<PackageName, BaseDist> {
    let mut dists = BTreeMap::new();
    let system = match &pip.venv {
        Some(venv) => {
            for (file, _) in &venv.seed {
                let mut parts = file.split('-');
                if let (Some(name), Some(version)) = (parts.next(), parts.next())
                    && let (Ok(name), Ok(version)) = (
                        PackageName::from_str(name),
                        pep440_rs::Version::from_str(version),
                    )
                {
                    dists.insert(
                        name,
                        BaseDist {
                            version,
                            requires_dist: None,
                        },
                    );
                }
            }
            venv.spec.system_site_packages
        }
        None => true,
    };
    if !system {
        return dists;
    }
    let dirs: BTreeSet<String> = session.facts.dirs.keys().cloned().collect();
    let env = session.base.env();
    if let Ok(environment) = PythonEnvironment::from_base(BaseView {
        files: &session.facts.files,
        dirs: &dirs,
        symlinks: &session.facts.symlinks,
        interpreters: &session.facts.interpreters,
        env: &env,
    }) {
        dists.extend(environment.base_dists());
    }
    let earlier = pinned.iter().filter(|s| s.kind == "pip");
    for wheel in wanted.wheels.iter().chain(earlier.flat_map(|s| &s.wheels)) {
        if let Some((name, dist)) = as_dist(wheel) {
            dists.insert(name, dist);
        }
    }
    dists
}

fn as_dist(wheel: &LockedWheel) -> Option<(PackageName, BaseDist)> {
    let name = PackageName::from_str(&wheel.name).ok()?;
    let version = pep440_rs::Version::from_str(&wheel.version).ok()?;
    let requires: Vec<Requirement> = wheel
        .dependencies
        .iter()
        .filter_map(|d| Requirement::from_str(d).ok())
        .collect();
    Some((
        name,
        BaseDist {
            version,
            requires_dist: Some(requires),
        },
    ))
}

/// An `apt-get install` step's pins: resolved together with `packages.txt` and the
/// earlier steps' requests, less what those install.
fn pin_apt(
    session: &Session,
    wanted: &mut Lockfile,
    pinned: &[LockedStep],
    native: &Native,
    requests: &[crate::debian::PackageRequest],
    on_disk: Option<&LockedStep>,
    mode: LockMode,
) -> Result<LockedStep, BuildError> {
    let earlier: Vec<&LockedStep> = pinned.iter().filter(|s| s.kind == "apt").collect();
    let below: Vec<&LockedDeb> = wanted
        .debs
        .iter()
        .chain(earlier.iter().flat_map(|s| &s.debs))
        .collect();
    let mut h = Sha256::new();
    h.update("airlock-apt-step-pins\0v1\0");
    for request in requests {
        h.update(format!("{request:?}\0"));
    }
    h.update(
        session
            .facts
            .files
            .get("var/lib/dpkg/status")
            .map_or("", String::as_str),
    );
    if let Some(settings) = settings_digest(&session.project.settings.debian) {
        h.update(format!("\0settings\0{settings}"));
    }
    for deb in &below {
        h.update(format!("\0below\0{}\0{}", deb.name, deb.sha256));
    }
    let key = Digest::from_sha256(h.finalize().into());
    let sources = wanted
        .debian
        .clone()
        .or_else(|| session.on_disk.as_ref().and_then(|l| l.debian.clone()));
    if let Some(kept) = on_disk.filter(|e| e.key == key)
        && sources.is_some()
    {
        wanted.debian = sources;
        return Ok(kept.clone());
    }
    if mode == LockMode::Locked {
        return Err(LockError::Stale {
            path: session.lock_path.clone(),
            reason: format!(
                "the `RUN apt-get install` at Dockerfile:{} is not pinned for what it installs now",
                native.line
            ),
        }
        .into());
    }
    let text = session
        .project
        .inputs
        .get("packages.txt")
        .map_or("", String::as_str);
    let mut all = crate::debian::parse_packages_txt(text).map_err(DebianError::from)?;
    for step in &earlier {
        for deb in &step.debs {
            all.push(request(&deb.name));
        }
    }
    all.extend(requests.iter().cloned());
    let (debian, resolved) = lock_requests(
        &session.store,
        &session.project,
        &session.facts,
        session.remote.offline,
        &session.runtime,
        all,
    )?;
    if wanted.debian.is_none() {
        wanted.debian = Some(debian);
    }
    let known: BTreeSet<&str> = below.iter().map(|d| d.name.as_str()).collect();
    let debs = resolved
        .into_iter()
        .filter(|d| !known.contains(d.name.as_str()))
        .collect();
    Ok(LockedStep {
        key,
        debs,
        ..entry(native, "apt")
    })
}

fn request(name: &str) -> crate::debian::PackageRequest {
    crate::debian::PackageRequest {
        name: name.to_string(),
        version: None,
        arch: None,
        line: 0,
    }
}

/// The layer of the native step `index` of `steps`, made from its `[[steps]]` entry
/// (timestamps `mtime`, compressed as `compression`); `None` when the step is not one
/// airlock carries out itself.
pub(in crate::pipeline) fn native_layer<'a>(
    pinned: &'a Pinned,
    steps: &[FsStep],
    index: usize,
    seeds: &Seeds<'_>,
    (mtime, compression): (u64, crate::layer::Compression),
) -> Result<Option<Box<dyn LayerStep + 'a>>, BuildError> {
    let session = &pinned.session;
    let Some(native) = native_of(session, steps, index, seeds) else {
        return Ok(None);
    };
    let kind = native.kind();
    let entry = find_step(&pinned.lock.steps, native.line, &native.created_by)
        .filter(|e| e.kind == kind)
        .ok_or_else(|| LockError::Stale {
            path: session.lock_path.clone(),
            reason: format!("it has no pins for the step at Dockerfile:{}", native.line),
        })?;
    Ok(Some(match native.what {
        NativeKind::Pip(pip) => Box::new(PipStep {
            kind,
            created_by: native.created_by,
            wheels: entry.wheels.clone(),
            target: pip.target,
            venv: pip.venv.map(|v| NewVenv {
                spec: v.spec,
                seed: v.seed,
            }),
            owner: pip.owner,
            facts: &session.facts,
            indexes: pinned.native_indexes.clone(),
            options: &pinned.python_options,
            mtime,
            compression,
            keys: AboveKeys::default(),
            runtime: &session.runtime,
        }),
        NativeKind::Apt(_) => Box::new(AptStep {
            created_by: native.created_by,
            debs: entry.debs.clone(),
            sources: pinned
                .lock
                .debian
                .as_ref()
                .map(|d| d.sources.clone())
                .unwrap_or_default(),
            facts: &session.facts,
            fallback_urls: &session.project.settings.debian.fallback_urls,
            offline: session.remote.offline,
            mtime,
            compression,
            keys: AboveKeys::default(),
            runtime: &session.runtime,
        }),
    }))
}
