//! The Python layer: the locked wheels, fetched into the store by hash, installed
//! into one root-owned tree on top of the base (and Debian) layers.
//!
//! The layer's derivation key is made of the locked wheel hashes, the install target
//! and the base, so a rebuild with the same lock finds the layer in the store without
//! opening a wheel. Nothing is byte-compiled: Python writes `__pycache__` at run time
//! (or not at all on a read-only filesystem), which keeps the layer deterministic.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use pep508_rs::PackageName;
use sha2::{Digest as _, Sha256};
use zip::ZipArchive;

use super::layers::PythonStep;
use super::options::Reporter;
use super::python_stage::{DOWNLOADS_AT_ONCE, PythonError, PythonOptions, PythonPlan, http};
use crate::digest::Digest;
use crate::image::BaseFacts;
use crate::layer::segments::{
    Entries, Make, SEGMENTS_NOTE, SegmentPlan, Segmented, SegmentsNote, entries_key, read_note,
    write_note, write_segmented,
};
use crate::layer::{
    Compression, Entry, EntryKind, FileSource, FileTree, LazyFile, Owner, check_path,
};
use crate::lock::{LockedWheel, Lockfile};
use crate::python::{
    HashSource, IndexUrl, InstallTarget, PythonEnvironment, WheelFetch, WheelPlan, fetch_wheels,
    open_wheel, plan_wheel, read_planned, with_index_credentials,
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
    for part in install_parts(install) {
        h.update(part.as_bytes());
        h.update(b"\0");
    }
    for wheel in &lock.wheels {
        // The size decides the order of the layer's segments.
        h.update(format!(
            "{}\0{}\0{}\0",
            wheel.filename, wheel.sha256, wheel.size
        ));
    }
    Digest::from_sha256(h.finalize().into())
}

/// Makes the Python layer for the locked wheels: downloaded (by hash, on the step's
/// runtime) unless the store has them, installed and written (see
/// [`write_python_layer`]). The record is not stored under `key` (the
/// [`layer_key`]): `realise.rs` does that; the runs it is made of are noted beside it.
pub(super) fn python_layer(
    step: &PythonStep<'_>,
    key: &Digest,
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
    let layer = write_python_layer(lock, plan, facts, store, mtime, compression)?;
    tracing::debug!(
        reused = layer.reused,
        made = layer.made,
        prefix = layer.prefix,
        decompressed = layer.decompressed,
        "python layer written from segments"
    );
    // What `cache gc` keeps with this layer: its runs, the wheels' paths notes and
    // the prefix states along it.
    let note = SegmentsNote {
        runs: layer.runs,
        notes: lock
            .wheels
            .iter()
            .map(|wheel| wheel_key(wheel, &plan.environment.install))
            .chain(layer.states)
            .collect(),
    };
    let bytes = serde_json::to_vec(&note).map_err(|source| StoreError::Record {
        path: store.layer_record_path(key),
        source,
    })?;
    store.put_layer_note(key, SEGMENTS_NOTE, &bytes)?;
    Ok(layer.record)
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
        prefetch,
        ..
    } = *step;
    // The downloads started while the base was read (`prefetch.rs`), if any.
    prefetch.wheels(&wheel_fetches(&lock.wheels, &plan.indexes), reporter)?;
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

/// The downloads of the pinned `wheels` (not those built from an sdist), with the
/// credentials of `indexes`.
pub(super) fn wheel_fetches(wheels: &[LockedWheel], indexes: &[IndexUrl]) -> Vec<WheelFetch> {
    wheels
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
        .collect()
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
    let fetches = wheel_fetches(wheels, indexes);
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

/// The key of one wheel's installed files: the wheel, the install target and the
/// owner (root), known without opening the wheel.
fn wheel_key(wheel: &LockedWheel, install: &InstallTarget) -> Digest {
    let mut h = Sha256::new();
    h.update(format!(
        "airlock-python-wheel\0v{INSTALL_FORMAT}\0{}\0{}\0owner 0:0\0",
        wheel.filename, wheel.sha256
    ));
    for part in install_parts(install) {
        h.update(part.as_bytes());
        h.update(b"\0");
    }
    Digest::from_sha256(h.finalize().into())
}

/// The install target's parts, in key order.
fn install_parts(install: &InstallTarget) -> [&String; 6] {
    [
        &install.purelib,
        &install.platlib,
        &install.scripts,
        &install.data,
        &install.headers,
        &install.interpreter,
    ]
}

/// One wheel's segment: its key (the wheel's, plus the paths a later wheel installs
/// again, which the segment leaves out).
struct WheelSegment {
    key: Digest,
    overwritten: BTreeSet<String>,
}

/// The wheels planned while planning the layer (by lock index), kept for writing it:
/// a plan is the wheel's paths and checks, not its bytes.
type Kept = RefCell<HashMap<usize, WheelPlan>>;

/// Writes the Python layer as segments (see `layer::segments`), for each locked
/// wheel, the largest first (see [`tar_order`]): a segment of the directories its
/// files need that no earlier wheel's files needed (sorted by path; left out when
/// there are none), then the wheel's own segment, its files sorted by path, minus the
/// paths a later wheel installs again (the later one wins, as pip would overwrite it,
/// with a warning); last, one segment of the whiteouts and the directories only they
/// need. Parents precede children and no path appears twice; adding a wheel leaves
/// every segment before its own directories unchanged, so a rebuild resumes from a
/// saved prefix. Directories carry the base's metadata. A wheel's segment is a cached
/// run unless this is its first build with these install parameters, mtime and
/// compression: only then is it planned (unless the planning pass did) and its files
/// streamed from the wheel into the tar writer, one member at a time in bounded
/// buffers.
pub(super) fn write_python_layer(
    lock: &Lockfile,
    plan: &PythonPlan,
    facts: &BaseFacts,
    store: &Store,
    mtime: u64,
    compression: Compression,
) -> Result<Segmented, PythonError> {
    let install = &plan.environment.install;
    let kept = Kept::default();
    let (wheels, owners) = plan_wheels(lock, install, store, &kept)?;
    let hidden = whiteout_replaced(&owners, lock, plan, facts);
    let mut by_wheel: Vec<Vec<&str>> = vec![Vec::new(); lock.wheels.len()];
    for (path, &index) in &owners {
        if let Some(paths) = by_wheel.get_mut(index) {
            paths.push(path);
        }
    }
    let mut made_dirs = HashSet::new();
    let mut plans: Vec<SegmentPlan<'_, PythonError>> = Vec::new();
    let push_dirs = |plans: &mut Vec<SegmentPlan<'_, PythonError>>, dirs: Entries| {
        if !dirs.is_empty() {
            plans.push(SegmentPlan {
                key: Some(entries_key("python-dirs", &dirs)),
                make: Box::new(move || Ok(dirs)) as Make<'_, PythonError>,
            });
        }
    };
    for (index, (wheel, segment)) in tar_order(lock, wheels) {
        let paths = by_wheel.get(index).map(Vec::as_slice).unwrap_or_default();
        let dirs = dirs_segment(paths, &owners, &hidden, &mut made_dirs, facts)?;
        push_dirs(&mut plans, dirs);
        let kept = &kept;
        plans.push(SegmentPlan {
            key: Some(segment.key),
            make: Box::new(move || {
                let taken = kept.borrow_mut().remove(&index);
                let planned = match taken {
                    Some(planned) => planned,
                    None => plan_one(store, wheel, install)?,
                };
                wheel_entries(store, wheel, planned, &segment.overwritten)
            }),
        });
    }
    let hidden_paths: Vec<&str> = hidden.iter().map(String::as_str).collect();
    let mut last = dirs_segment(&hidden_paths, &owners, &hidden, &mut made_dirs, facts)?;
    last.extend(whiteouts(&hidden)?);
    last.sort_by(|(a, _), (b, _)| a.cmp(b));
    push_dirs(&mut plans, last);
    write_segmented(store, plans, mtime, compression)
}

/// The wheels (with their lock index and segment) in the layer's order: the largest
/// first (by the locked size; lock order among equals), so that adding a small
/// requirement, the common change, lands near the end and leaves the long prefix of
/// large wheels unchanged.
fn tar_order(
    lock: &Lockfile,
    segments: Vec<WheelSegment>,
) -> Vec<(usize, (&LockedWheel, WheelSegment))> {
    let mut order: Vec<_> = lock.wheels.iter().zip(segments).enumerate().collect();
    order.sort_by_key(|(index, (wheel, _))| (std::cmp::Reverse(wheel.size), *index));
    order
}

/// The segment of every wheel (lock order) and every path the wheels install, with
/// the (index of the) wheel whose copy the layer holds, learned from each wheel's
/// paths note, or from its plan (then noted, and the plan kept for writing), which
/// reads no more of the wheel than its metadata.
fn plan_wheels(
    lock: &Lockfile,
    install: &InstallTarget,
    store: &Store,
    kept: &Kept,
) -> Result<(Vec<WheelSegment>, HashMap<String, usize>), PythonError> {
    // Path → the latest wheel installing it, walking the lock backwards.
    let mut owner: HashMap<String, usize> = HashMap::new();
    let mut segments = Vec::with_capacity(lock.wheels.len());
    for (index, wheel) in lock.wheels.iter().enumerate().rev() {
        let key = wheel_key(wheel, install);
        let paths: Vec<String> = match read_note(store, &key, "paths") {
            Some(paths) => paths,
            None => {
                let planned = plan_one(store, wheel, install)?;
                let paths: Vec<String> = planned.files().iter().map(|f| f.path.clone()).collect();
                write_note(store, &key, "paths", &paths)?;
                kept.borrow_mut().insert(index, planned);
                paths
            }
        };
        let mut overwritten = BTreeSet::new();
        for path in paths {
            match owner.get(&path) {
                Some(&later) => {
                    tracing::warn!(
                        path,
                        wheel = wheel.filename,
                        later = lock.wheels[later].filename,
                        "two wheels install the same file; the later one wins"
                    );
                    overwritten.insert(path);
                }
                None => {
                    owner.insert(path, index);
                }
            }
        }
        let mut h = Sha256::new();
        h.update(format!("airlock-python-segment\0{key}\0"));
        for path in &overwritten {
            h.update(path.as_bytes());
            h.update(b"\0");
        }
        let key = Digest::from_sha256(h.finalize().into());
        segments.push(WheelSegment { key, overwritten });
    }
    segments.reverse();
    Ok((segments, owner))
}

/// Plans the install of one locked wheel from the store: the blob is hashed against
/// the lock first (never trusted without), then its central directory and metadata
/// read through the same open file.
fn plan_one(
    store: &Store,
    wheel: &LockedWheel,
    install: &InstallTarget,
) -> Result<WheelPlan, PythonError> {
    let path = store.blob_path(&wheel.sha256);
    let io = |e| StoreError::io("read", &path, e);
    let mut file = File::open(&path).map_err(io)?;
    let (digest, _) =
        Digest::of_reader(BufReader::with_capacity(1 << 20, &mut file)).map_err(io)?;
    if digest != wheel.sha256 {
        return Err(PythonError::Corrupt {
            filename: wheel.filename.clone(),
            expected: wheel.sha256.clone(),
        });
    }
    file.rewind().map_err(io)?;
    let failed = |source| PythonError::Install {
        filename: wheel.filename.clone(),
        source,
    };
    let mut archive = open_wheel(BufReader::new(file), &wheel.filename).map_err(failed)?;
    plan_wheel(&mut archive, &wheel.filename, install).map_err(failed)
}

/// A wheel being written into its segment: the plan and the archive its files are
/// read from, one at a time, as the tar writer reaches them.
struct WheelFiles {
    plan: WheelPlan,
    archive: Mutex<ZipArchive<BufReader<File>>>,
}

impl std::fmt::Debug for WheelFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WheelFiles")
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

/// One planned file of a wheel (by its index in the plan).
#[derive(Debug)]
struct WheelFile {
    wheel: Arc<WheelFiles>,
    index: usize,
}

impl LazyFile for WheelFile {
    fn read_with(&self, read: &mut dyn FnMut(&mut dyn Read) -> io::Result<()>) -> io::Result<()> {
        let file = self
            .wheel
            .plan
            .files()
            .get(self.index)
            .ok_or_else(|| io::Error::other("no such planned file"))?;
        let mut archive = self
            .wheel
            .archive
            .lock()
            .map_err(|_| io::Error::other("a wheel's archive was left in a bad state"))?;
        read_planned(&mut archive, &self.wheel.plan, file, read).map_err(io::Error::other)
    }
}

/// A wheel's files as its segment's entries: root-owned, sorted by path, without
/// `overwritten`, their bytes read from the wheel's blob (opened again: the plan was
/// made from its hashed bytes, and every member is checked against the plan's
/// `RECORD` digest as it is read) when the tar writer reaches them.
fn wheel_entries(
    store: &Store,
    wheel: &LockedWheel,
    planned: WheelPlan,
    overwritten: &BTreeSet<String>,
) -> Result<Entries, PythonError> {
    let path = store.blob_path(&wheel.sha256);
    let file = File::open(&path).map_err(|e| StoreError::io("read", &path, e))?;
    let archive = open_wheel(BufReader::new(file), &wheel.filename).map_err(|source| {
        PythonError::Install {
            filename: wheel.filename.clone(),
            source,
        }
    })?;
    let shared = Arc::new(WheelFiles {
        plan: planned,
        archive: Mutex::new(archive),
    });
    let mut entries = Vec::with_capacity(shared.plan.files().len());
    for (index, file) in shared.plan.files().iter().enumerate() {
        if overwritten.contains(&file.path) {
            continue;
        }
        check_path(&file.path)?;
        let source = WheelFile {
            wheel: Arc::clone(&shared),
            index,
        };
        let entry = Entry {
            kind: EntryKind::File {
                size: file.size,
                sha256: Digest::from_sha256(file.sha256),
                source: FileSource::Lazy(Arc::new(source)),
            },
            mode: file.mode,
            owner: Owner::ROOT,
        };
        entries.push((file.path.clone(), entry));
    }
    Ok(entries)
}

/// The directories `paths` need (with the base's metadata) that are not in `made`
/// (then added to it), sorted by path: not the paths the layer installs as files
/// (`installed`) or whiteouts (`hidden`).
fn dirs_segment<'p>(
    paths: &[&'p str],
    installed: &HashMap<String, usize>,
    hidden: &BTreeSet<String>,
    made: &mut HashSet<&'p str>,
    facts: &BaseFacts,
) -> Result<Entries, PythonError> {
    let mut tree = FileTree::new();
    for path in paths {
        let mut end = 0;
        while let Some(pos) = path[end..].find('/') {
            end += pos;
            let parent = &path[..end];
            if !installed.contains_key(parent) && !hidden.contains(parent) && made.insert(parent) {
                let (mode, owner) = facts.parent_dir(parent);
                let entry = Entry {
                    kind: EntryKind::Dir,
                    mode,
                    owner,
                };
                tree.insert(parent, entry)?;
            }
            end += 1;
        }
    }
    Ok(tree
        .iter()
        .map(|(path, entry)| (path.to_string(), entry.clone()))
        .collect())
}

/// The whiteouts' entries (empty root-owned files).
fn whiteouts(hidden: &BTreeSet<String>) -> Result<Entries, PythonError> {
    let empty: Arc<[u8]> = Arc::from(&b""[..]);
    let mut tree = FileTree::new();
    for name in hidden {
        let whiteout = Entry {
            kind: EntryKind::File {
                size: 0,
                sha256: Digest::of(b""),
                source: FileSource::Bytes(empty.clone()),
            },
            mode: 0o644,
            owner: Owner::ROOT,
        };
        tree.insert(name, whiteout)?;
    }
    Ok(tree
        .iter()
        .map(|(path, entry)| (path.to_string(), entry.clone()))
        .collect())
}

/// With `--allow-base-upgrades`, the base's own copy of a replaced distribution is
/// hidden: its `.dist-info` directory and every file its RECORD lists that the new
/// version does not install again get an OCI whiteout. Returns the whiteouts' paths.
fn whiteout_replaced(
    installed: &HashMap<String, usize>,
    lock: &Lockfile,
    plan: &PythonPlan,
    facts: &BaseFacts,
) -> BTreeSet<String> {
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
            if !path.starts_with(&format!("{}/", old.dist_info)) && !installed.contains_key(&path) {
                hidden.insert(path);
            }
        }
    }
    hidden
        .iter()
        .map(|path| whiteout(path))
        .filter(|name| !installed.contains_key(name))
        .collect()
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
