//! The Python layer: the locked wheels, fetched into the store by hash, installed
//! into one root-owned tree on top of the base (and Debian) layers.
//!
//! The layer's derivation key is made of the locked wheel hashes, the install target
//! and the base, so a rebuild with the same lock finds the layer in the store without
//! opening a wheel. Nothing is byte-compiled: Python writes `__pycache__` at run time
//! (or not at all on a read-only filesystem), which keeps the layer deterministic.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use pep508_rs::PackageName;
use sha2::{Digest as _, Sha256};

use super::layers::PythonStep;
use super::options::Reporter;
use super::python_stage::{DOWNLOADS_AT_ONCE, PythonError, PythonOptions, PythonPlan, http};
use crate::digest::Digest;
use crate::image::BaseFacts;
use crate::layer::{Compression, Entry, EntryKind, FileSource, FileTree, Owner, build_layer_with};
use crate::lock::{LockedWheel, Lockfile};
use crate::python::{
    HashSource, IndexUrl, PythonEnvironment, WheelFetch, fetch_wheels, install_wheel,
    with_index_credentials,
};
use crate::store::{LayerRecord, Store, StoreError};

/// Bumped when the installed bytes for the same wheels change on purpose.
const INSTALL_FORMAT: u32 = 1;

/// The derivation key of the Python layer: what decides its bytes, known without
/// opening a wheel.
pub(super) fn layer_key(
    lock: &Lockfile,
    environment: &PythonEnvironment,
    mtime: u64,
    compression: Compression,
) -> Digest {
    let install = &environment.install;
    let mut h = Sha256::new();
    h.update(format!(
        "airlock-python-layer\0v{INSTALL_FORMAT}\0layer-v{}\0{mtime}\0{}\0{}",
        crate::layer::FORMAT_VERSION,
        lock.base.manifest,
        compression.key_part()
    ));
    for part in [
        &install.purelib,
        &install.platlib,
        &install.scripts,
        &install.data,
        &install.headers,
        &install.interpreter,
    ] {
        h.update(part.as_bytes());
        h.update(b"\0");
    }
    for wheel in &lock.wheels {
        h.update(format!("{}\0{}\0", wheel.filename, wheel.sha256));
    }
    Digest::from_sha256(h.finalize().into())
}

/// Makes the Python layer for the locked wheels: downloaded (by hash, on the step's
/// runtime) unless the store has them, installed and written. The record is not
/// stored under [`layer_key`]: `realise.rs` does that.
pub(super) fn python_layer(
    step: &PythonStep<'_>,
    store: &Store,
    reporter: &dyn Reporter,
) -> Result<LayerRecord, PythonError> {
    let PythonStep {
        lock,
        plan,
        facts,
        mtime,
        compression,
        ..
    } = *step;
    fetch_locked_wheels(step, store, reporter)?;
    reporter.step("installing wheels");
    // The installed files live in `_spill` until the layer is written.
    let (tree, _spill) = install_tree(lock, plan, facts, store)?;
    let (record, _) = build_layer_with(store, &tree, "python", mtime, compression)?;
    Ok(record)
}

/// Downloads the locked wheels the store lacks (by hash, on the step's runtime).
pub(super) fn fetch_locked_wheels(
    step: &PythonStep<'_>,
    store: &Store,
    reporter: &dyn Reporter,
) -> Result<(), PythonError> {
    let PythonStep {
        lock,
        plan,
        options,
        runtime,
        ..
    } = *step;
    download_wheels(
        &lock.wheels,
        &plan.indexes,
        options,
        runtime,
        store,
        reporter,
    )?;
    for wheel in lock.wheels.iter().filter(|w| w.sdist.is_some()) {
        if !store.has_blob(&wheel.sha256) {
            reporter.step(&format!(
                "building {} {} from its sdist",
                wheel.name, wheel.version
            ));
            plan.sdist
                .rebuild_locked(wheel)
                .map_err(|e| PythonError::Sdist(Box::new(e)))?;
        }
    }
    Ok(())
}

/// Downloads the pinned `wheels` the store lacks, by hash, from `indexes` (with their
/// credentials); a wheel built from an sdist is built, not downloaded.
pub(super) fn download_wheels(
    wheels: &[LockedWheel],
    indexes: &[IndexUrl],
    options: &PythonOptions,
    runtime: &tokio::runtime::Handle,
    store: &Store,
    reporter: &dyn Reporter,
) -> Result<(), PythonError> {
    let fetches: Vec<WheelFetch> = wheels
        .iter()
        .filter(|w| w.sdist.is_none())
        .filter_map(|w| {
            Some(WheelFetch {
                filename: w.filename.clone(),
                url: with_index_credentials(&w.url, indexes)?,
                sha256: w.sha256.clone(),
                pinned_by: HashSource::Lock,
            })
        })
        .collect();
    if wheels.iter().any(|w| !store.has_blob(&w.sha256)) {
        reporter.step("downloading wheels");
        let http = http(options)?;
        runtime.block_on(fetch_wheels(
            &http,
            store,
            &fetches,
            options.offline,
            DOWNLOADS_AT_ONCE,
            reporter.transfers().as_ref(),
        ))?;
    }
    Ok(())
}

/// Installs every locked wheel into one tree, root-owned, with the parents' metadata
/// copied from the base. A path two wheels both install goes to the later one by
/// name (as pip would overwrite it), with a warning. Installed files are written to
/// a directory of the store's temp area (returned: it must outlive the layer's
/// writing), one wheel at a time, so memory holds one wheel, never the layer.
pub(super) fn install_tree(
    lock: &Lockfile,
    plan: &PythonPlan,
    facts: &BaseFacts,
    store: &Store,
) -> Result<(FileTree, tempfile::TempDir), PythonError> {
    let parent = store.root().join("tmp");
    let spill = tempfile::Builder::new()
        .prefix("python-")
        .tempdir_in(&parent)
        .map_err(|e| StoreError::io("create a directory in", &parent, e))?;
    let mut count = 0u64;
    let mut files: BTreeMap<String, (u32, PathBuf, u64, Digest)> = BTreeMap::new();
    for wheel in &lock.wheels {
        let bytes = store.read_blob(&wheel.sha256)?;
        // Never trust the store without the hash.
        if Digest::of(&bytes) != wheel.sha256 {
            return Err(PythonError::Corrupt {
                filename: wheel.filename.clone(),
                expected: wheel.sha256.clone(),
            });
        }
        let installed = install_wheel(&bytes, &wheel.filename, &plan.environment.install).map_err(
            |source| PythonError::Install {
                filename: wheel.filename.clone(),
                source,
            },
        )?;
        drop(bytes);
        for file in installed {
            let host = spill.path().join(count.to_string());
            count += 1;
            std::fs::write(&host, &file.contents).map_err(|e| StoreError::io("write", &host, e))?;
            let entry = (
                file.mode,
                host,
                file.contents.len() as u64,
                Digest::of(&file.contents),
            );
            if files.insert(file.path.clone(), entry).is_some() {
                tracing::warn!(
                    path = file.path,
                    wheel = wheel.filename,
                    "two wheels install the same file; the later one wins"
                );
            }
        }
    }
    let mut tree = FileTree::new();
    for (path, (mode, host, size, sha256)) in files {
        tree.insert(
            &path,
            Entry {
                kind: EntryKind::File {
                    size,
                    sha256,
                    source: FileSource::Host(host),
                },
                mode,
                owner: Owner::ROOT,
            },
        )?;
    }
    whiteout_replaced(&mut tree, lock, plan, facts)?;
    tree.add_parents(|path| facts.parent_dir(path));
    Ok((tree, spill))
}

/// With `--allow-base-upgrades`, the base's own copy of a replaced distribution is
/// hidden: its `.dist-info` directory and every file its RECORD lists that the new
/// version does not install again get an OCI whiteout.
fn whiteout_replaced(
    tree: &mut FileTree,
    lock: &Lockfile,
    plan: &PythonPlan,
    facts: &BaseFacts,
) -> Result<(), PythonError> {
    let empty: Arc<[u8]> = Arc::from(&b""[..]);
    let whiteout = |path: &str| {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        }
    };
    let mut hidden = BTreeSet::new();
    for wheel in &lock.wheels {
        let Ok(name) = PackageName::from_str(&wheel.name) else {
            continue;
        };
        let Some(old) = plan.environment.installed.get(&name) else {
            continue;
        };
        if old.metadata.version.to_string() == wheel.version {
            continue;
        }
        hidden.insert(old.dist_info.clone());
        let site = old.dist_info.rsplit_once('/').map_or("", |(dir, _)| dir);
        // Files listed by the old RECORD (captured with the facts), resolved lexically.
        let record = facts
            .files
            .get(&format!("{}/RECORD", old.dist_info))
            .map(String::as_str)
            .unwrap_or("");
        for line in record.lines() {
            let rel = line.split(',').next().unwrap_or("").trim_matches('"');
            let Some(path) = join_lexically(site, rel) else {
                continue;
            };
            if !path.starts_with(&format!("{}/", old.dist_info)) && !tree.contains(&path) {
                hidden.insert(path);
            }
        }
    }
    for path in hidden {
        let name = whiteout(&path);
        if !tree.contains(&name) {
            tree.insert(
                &name,
                Entry {
                    kind: EntryKind::File {
                        size: 0,
                        sha256: Digest::of(b""),
                        source: FileSource::Bytes(empty.clone()),
                    },
                    mode: 0o644,
                    owner: Owner::ROOT,
                },
            )?;
        }
    }
    Ok(())
}

/// `base/rel` with `.` and `..` resolved; `None` when it climbs above the root.
fn join_lexically(base: &str, rel: &str) -> Option<String> {
    if rel.is_empty() || rel.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}
