//! What the store holds, by kind (`cache info`), and how it is trimmed (`cache gc`).
//!
//! Collection is safe while builds run because it never overlaps one: `gc` takes
//! `locks/gc.lock` exclusively only once no other process holds a claim on the store
//! (`locks/run-*.lock`), and a process claims the store under that lock held shared.
//! So nothing a running build holds, or is about to reference, is removed: gc waits
//! for the builds that run, and builds that start meanwhile wait for gc (a few
//! milliseconds of unlinking). Records go before their blobs, so a record never
//! names a removed blob, and directories are renamed into `tmp/` before they are
//! deleted, so a killed gc leaves nothing half there.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::locks::{GC_LOCK, RunLock};
use super::{LayerRecord, SEGMENTS_NOTE, SegmentsNote, Store, StoreError, StoreLock};
use crate::digest::Digest;

/// What a set of locks needs from the store: what `cache gc --keep-locks` keeps and
/// `cache export` writes.
#[derive(Debug, Default, Clone)]
pub(crate) struct Needs {
    /// Blobs by digest, with what they are.
    pub blobs: BTreeMap<Digest, Needed>,
    /// Layer records by derivation key (those the store holds).
    pub layers: BTreeMap<Digest, LayerRecord>,
    /// Base images (manifest digests) whose facts the store keeps.
    pub bases: BTreeSet<Digest>,
}

/// One needed blob: its kind and, for wheels and `.deb`s, its file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Needed {
    pub kind: NeededKind,
    pub title: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum NeededKind {
    /// A base image's manifest, config or layer.
    Base,
    Deb,
    Wheel,
    /// The blob of a layer record.
    Layer,
}

impl NeededKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Base => "base",
            Self::Deb => "deb",
            Self::Wheel => "wheel",
            Self::Layer => "layer",
        }
    }
}

impl Needs {
    /// Adds a blob (the first kind given wins).
    pub(crate) fn blob(&mut self, digest: Digest, kind: NeededKind, title: Option<String>) {
        self.blobs.entry(digest).or_insert(Needed { kind, title });
    }

    /// Adds a layer record and its blob.
    pub(crate) fn layer(&mut self, key: Digest, record: LayerRecord) {
        self.blob(record.digest.clone(), NeededKind::Layer, None);
        self.layers.insert(key, record);
    }

    pub(crate) fn extend(&mut self, other: Self) {
        for (digest, needed) in other.blobs {
            self.blob(digest, needed.kind, needed.title);
        }
        self.layers.extend(other.layers);
        self.bases.extend(other.bases);
    }
}

/// A kind of thing in the store, as `cache info` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Kind {
    /// Compressed tar blobs: built layers and base layers.
    Layer,
    Wheel,
    Deb,
    /// JSON blobs: manifests, configs, indexes.
    Json,
    /// Other blobs (Debian indices, signatures, ...).
    OtherBlob,
    /// Layer records and the notes beside them.
    Record,
    /// Cached runs of segmented layers: their blobs, records and notes.
    Segment,
    /// Facts read from base images.
    BaseFacts,
    /// Root filesystems unpacked for the sandbox.
    Rootfs,
    /// Cached Python index pages and metadata.
    IndexCache,
    /// Temp files of running or killed processes.
    Temp,
}

/// One thing in the store.
#[derive(Debug, Clone)]
struct Item {
    kind: Kind,
    path: PathBuf,
    bytes: u64,
    last_used: SystemTime,
    what: What,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum What {
    Blob(Digest),
    /// A layer record (key) and the blob it names, with its notes.
    Record {
        key: Digest,
        blob: Option<Digest>,
        notes: Vec<PathBuf>,
    },
    Facts(Digest),
    /// The record of a cached run (`segments/<key>.json`) and the blob it names.
    Run {
        key: Digest,
        blob: Option<Digest>,
    },
    /// A note in `segments/` (`<key>.NAME.json`).
    SegmentNote(Digest),
    Other,
}

/// The part of a run record gc reads: the blob it names.
#[derive(serde::Deserialize)]
struct Run {
    digest: Digest,
}

/// What kept layers were made from: their cached runs (records and blobs) and the
/// notes their producers read (see `SegmentsNote`).
#[derive(Debug, Default)]
struct KeptSegments {
    runs: BTreeSet<Digest>,
    blobs: BTreeSet<Digest>,
    notes: BTreeSet<Digest>,
}

/// Count and size of one kind.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Tally {
    pub count: u64,
    pub bytes: u64,
}

/// `cache info`: the store's size by kind.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StoreInfo {
    pub root: PathBuf,
    pub total_bytes: u64,
    pub kinds: BTreeMap<Kind, Tally>,
}

/// What `cache gc` is asked to remove.
#[derive(Debug, Clone, Default)]
pub(crate) struct GcOptions {
    /// What the kept locks need; never removed.
    pub keep: Needs,
    /// Whether locks were named: then everything else may go.
    pub keep_given: bool,
    /// Remove what was not used for this long.
    pub older_than: Option<Duration>,
    /// Then remove the least recently used until the store is this small.
    pub max_size: Option<u64>,
}

/// What `cache gc` did.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct GcReport {
    pub removed: BTreeMap<Kind, Tally>,
    pub removed_bytes: u64,
    pub before_bytes: u64,
    pub after_bytes: u64,
    /// Bytes the kept locks hold (never removed, even over `--max-size`).
    pub kept_bytes: u64,
}

/// The exclusive hold `cache gc` has on the store while it removes things.
pub(crate) struct Exclusive {
    _lock: StoreLock,
}

impl Store {
    /// Waits until no other process uses the store, then holds it so that none can
    /// start (they wait in [`Store::open`]). `waiting` hears how many processes are
    /// waited for, each time that number changes.
    pub(crate) fn exclusive(&self, waiting: &dyn Fn(usize)) -> Result<Exclusive, StoreError> {
        let locks = self.root().join("locks");
        self.mark_collector()?;
        let own = self.claim_path();
        let mut told = None;
        loop {
            let others = RunLock::others_running(&locks, own.as_deref());
            if others == Some(0) {
                let lock = StoreLock::acquire(&locks.join(GC_LOCK))?;
                if RunLock::others_running(&locks, own.as_deref()) == Some(0) {
                    return Ok(Exclusive { _lock: lock });
                }
            }
            let count = others.unwrap_or(1);
            if told != Some(count) {
                waiting(count);
                told = Some(count);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sizes by kind.
    pub(crate) fn info(&self) -> StoreInfo {
        let mut kinds: BTreeMap<Kind, Tally> = BTreeMap::new();
        let mut total = 0;
        for item in self.inventory() {
            let tally = kinds.entry(item.kind).or_default();
            tally.count += 1;
            tally.bytes += item.bytes;
            total += item.bytes;
        }
        StoreInfo {
            root: self.root().to_path_buf(),
            total_bytes: total,
            kinds,
        }
    }

    /// Removes what `options` allow (see [`GcOptions`]); call under
    /// [`Store::exclusive`].
    pub(crate) fn collect_garbage(
        &self,
        options: &GcOptions,
        _exclusive: &Exclusive,
    ) -> Result<GcReport, StoreError> {
        let items = self.inventory();
        let before: u64 = items.iter().map(|i| i.bytes).sum();
        let segments = self.kept_segments(&options.keep);
        let kept = |item: &Item| is_kept(item, &options.keep, &segments);
        let now = SystemTime::now();
        let mut doomed: BTreeSet<usize> = BTreeSet::new();
        for (index, item) in items.iter().enumerate() {
            if kept(item) || item.kind == Kind::Temp {
                continue;
            }
            let old = options
                .older_than
                .is_some_and(|age| item.last_used + age < now);
            if old || (options.keep_given && options.older_than.is_none()) {
                doomed.insert(index);
            }
        }
        if let Some(max) = options.max_size {
            let mut size = before - doomed.iter().map(|&i| items[i].bytes).sum::<u64>();
            let mut lru: Vec<usize> = (0..items.len())
                .filter(|i| {
                    !doomed.contains(i) && !kept(&items[*i]) && items[*i].kind != Kind::Temp
                })
                .collect();
            lru.sort_by_key(|&i| items[i].last_used);
            for index in lru {
                if size <= max {
                    break;
                }
                size -= items[index].bytes;
                doomed.insert(index);
            }
        }
        // A record goes with its blob.
        let doomed_blobs: BTreeSet<&Digest> = doomed
            .iter()
            .filter_map(|&i| match &items[i].what {
                What::Blob(digest) => Some(digest),
                _ => None,
            })
            .collect();
        let with_blob: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, item)| {
                matches!(&item.what, What::Record { blob: Some(blob), .. } | What::Run { blob: Some(blob), .. } if doomed_blobs.contains(blob))
            })
            .map(|(index, _)| index)
            .collect();
        doomed.extend(with_blob);
        let mut report = GcReport {
            before_bytes: before,
            kept_bytes: items.iter().filter(|i| kept(i)).map(|i| i.bytes).sum(),
            ..GcReport::default()
        };
        // Records first, so that no record ever names a removed blob.
        let mut order: Vec<usize> = doomed.into_iter().collect();
        order.sort_by_key(|&i| !matches!(items[i].what, What::Record { .. } | What::Run { .. }));
        for index in order {
            let item = &items[index];
            self.remove_item(item)?;
            let tally = report.removed.entry(item.kind).or_default();
            tally.count += 1;
            tally.bytes += item.bytes;
            report.removed_bytes += item.bytes;
        }
        self.remove_orphan_marks();
        report.after_bytes = before - report.removed_bytes;
        Ok(report)
    }

    fn remove_item(&self, item: &Item) -> Result<(), StoreError> {
        let gone = |result: std::io::Result<()>, path: &Path| match result {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(StoreError::io("remove", path, error))
            }
            _ => Ok(()),
        };
        match &item.what {
            What::Record { notes, .. } => {
                gone(fs::remove_file(&item.path), &item.path)?;
                for note in notes {
                    gone(fs::remove_file(note), note)?;
                }
            }
            What::Blob(digest) => {
                gone(fs::remove_file(&item.path), &item.path)?;
                let mark = self.use_mark_path(digest);
                gone(fs::remove_file(&mark), &mark)?;
            }
            What::Facts(_) | What::Run { .. } | What::SegmentNote(_) => {
                gone(fs::remove_file(&item.path), &item.path)?
            }
            What::Other if item.path.is_dir() => {
                // Out of sight at once (a rename), then deleted.
                let temp = tempfile::Builder::new()
                    .prefix("gc-")
                    .tempdir_in(self.root().join("tmp"))
                    .map_err(|e| StoreError::io("create temp directory in", self.root(), e))?;
                let moved = temp.path().join("dir");
                gone(fs::rename(&item.path, &moved), &item.path)?;
                drop(temp);
            }
            What::Other => gone(fs::remove_file(&item.path), &item.path)?,
        }
        tracing::debug!(path = %item.path.display(), "removed by gc");
        Ok(())
    }

    /// Use marks of blobs that are gone.
    fn remove_orphan_marks(&self) {
        let Ok(entries) = fs::read_dir(self.root().join("used")) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !self.root().join("blobs/sha256").join(&name).exists() {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Everything in the store, with its kind, size and last use.
    fn inventory(&self) -> Vec<Item> {
        let mut items = Vec::new();
        let records = self.record_items();
        let layer_blobs: BTreeSet<Digest> = records
            .iter()
            .filter_map(|r| match &r.what {
                What::Record { blob, .. } => blob.clone(),
                _ => None,
            })
            .collect();
        let segments = self.segment_items();
        let run_blobs: BTreeSet<Digest> = segments
            .iter()
            .filter_map(|r| match &r.what {
                What::Run { blob, .. } => blob.clone(),
                _ => None,
            })
            .collect();
        for (path, meta) in files_in(&self.root().join("blobs/sha256")) {
            let name = file_name(&path);
            let Ok(digest) = format!("sha256:{name}").parse::<Digest>() else {
                continue;
            };
            let kind = if layer_blobs.contains(&digest) {
                Kind::Layer
            } else if run_blobs.contains(&digest) {
                Kind::Segment
            } else {
                sniff(&path)
            };
            // The use mark; a blob without one (older than marks) was last used
            // when it was written or checked.
            let used = fs::metadata(self.use_mark_path(&digest))
                .and_then(|m| m.modified())
                .unwrap_or_else(|_| changed(&meta).max(meta.modified().unwrap_or(UNIX_EPOCH)));
            items.push(Item {
                kind,
                path,
                bytes: meta.len(),
                last_used: used,
                what: What::Blob(digest),
            });
        }
        items.extend(records);
        items.extend(segments);
        for (path, meta) in files_in(&self.root().join("bases")) {
            let name = file_name(&path);
            let what = name
                .strip_suffix(".json")
                .and_then(|hex| format!("sha256:{hex}").parse::<Digest>().ok())
                .map_or(What::Other, What::Facts);
            items.push(Item {
                kind: Kind::BaseFacts,
                last_used: meta.modified().unwrap_or(UNIX_EPOCH),
                bytes: meta.len(),
                path,
                what,
            });
        }
        if let Ok(entries) = fs::read_dir(self.root().join("rootfs")) {
            for entry in entries.flatten() {
                let path = entry.path();
                let done = path.join(".airlock-complete");
                items.push(Item {
                    kind: Kind::Rootfs,
                    bytes: tree_size(&path),
                    last_used: mtime(&done).max(mtime(&path)),
                    path,
                    what: What::Other,
                });
            }
        }
        for (dir, kind) in [("python", Kind::IndexCache), ("tmp", Kind::Temp)] {
            for (path, meta) in files_under(&self.root().join(dir)) {
                items.push(Item {
                    kind,
                    bytes: meta.len(),
                    last_used: meta.modified().unwrap_or(UNIX_EPOCH),
                    path,
                    what: What::Other,
                });
            }
        }
        items
    }

    /// Layer records (`layers/<key>.json`) with their notes (`<key>.*.json`).
    fn record_items(&self) -> Vec<Item> {
        let files = files_in(&self.root().join("layers"));
        let mut notes: BTreeMap<String, Vec<(PathBuf, u64)>> = BTreeMap::new();
        let mut records = Vec::new();
        for (path, meta) in files {
            let name = file_name(&path);
            if name.starts_with('.') {
                continue;
            }
            match name.split_once('.') {
                Some((hex, "json")) => records.push((hex.to_string(), path, meta)),
                Some((hex, _)) => notes
                    .entry(hex.to_string())
                    .or_default()
                    .push((path, meta.len())),
                None => {}
            }
        }
        records
            .into_iter()
            .filter_map(|(hex, path, meta)| {
                let key = format!("sha256:{hex}").parse::<Digest>().ok()?;
                let blob = fs::read(&path)
                    .ok()
                    .and_then(|bytes| serde_json::from_slice::<LayerRecord>(&bytes).ok())
                    .map(|record| record.digest);
                let notes = notes.remove(&hex).unwrap_or_default();
                Some(Item {
                    kind: Kind::Record,
                    bytes: meta.len() + notes.iter().map(|(_, n)| n).sum::<u64>(),
                    last_used: meta.modified().unwrap_or(UNIX_EPOCH),
                    path,
                    what: What::Record {
                        key,
                        blob,
                        notes: notes.into_iter().map(|(p, _)| p).collect(),
                    },
                })
            })
            .collect()
    }

    /// Run records (`segments/<key>.json`, last used when their blob was) and the
    /// notes beside them (`segments/<key>.NAME.json`).
    fn segment_items(&self) -> Vec<Item> {
        let mut items = Vec::new();
        for (path, meta) in files_in(&self.root().join("segments")) {
            let name = file_name(&path);
            let Some((hex, rest)) = name.split_once('.') else {
                continue;
            };
            let Ok(key) = format!("sha256:{hex}").parse::<Digest>() else {
                continue;
            };
            let mut last_used = meta.modified().unwrap_or(UNIX_EPOCH);
            let what = if rest == "json" {
                let blob = fs::read(&path)
                    .ok()
                    .and_then(|bytes| serde_json::from_slice::<Run>(&bytes).ok())
                    .map(|run| run.digest);
                if let Some(used) = blob.as_ref().and_then(|blob| {
                    fs::metadata(self.use_mark_path(blob))
                        .and_then(|m| m.modified())
                        .ok()
                }) {
                    last_used = last_used.max(used);
                }
                What::Run { key, blob }
            } else {
                What::SegmentNote(key)
            };
            items.push(Item {
                kind: Kind::Segment,
                path,
                bytes: meta.len(),
                last_used,
                what,
            });
        }
        items
    }

    /// What the kept layers were made from, by their segments notes.
    fn kept_segments(&self, keep: &Needs) -> KeptSegments {
        let mut kept = KeptSegments::default();
        for key in keep.layers.keys() {
            let Some(note) = self
                .layer_notes(key)
                .remove(SEGMENTS_NOTE)
                .and_then(|bytes| serde_json::from_slice::<SegmentsNote>(&bytes).ok())
            else {
                continue;
            };
            for run in note.runs {
                let record = fs::read(self.segment_record_path(&run, None))
                    .ok()
                    .and_then(|bytes| serde_json::from_slice::<Run>(&bytes).ok());
                if let Some(record) = record {
                    kept.blobs.insert(record.digest);
                }
                kept.runs.insert(run);
            }
            kept.notes.extend(note.notes);
        }
        kept
    }

    /// The notes kept beside the layer record of `key` (`layers/<key>.NAME.json`), by
    /// NAME.
    pub(crate) fn layer_notes(&self, key: &Digest) -> BTreeMap<String, Vec<u8>> {
        let prefix = format!("{}.", key.hex());
        files_in(&self.root().join("layers"))
            .into_iter()
            .filter_map(|(path, _)| {
                let name = file_name(&path);
                let note = name.strip_prefix(&prefix)?.strip_suffix(".json")?;
                if note.is_empty() || note.contains('.') {
                    return None;
                }
                Some((note.to_string(), fs::read(&path).ok()?))
            })
            .collect()
    }

    /// Writes a note beside the layer record of `key` (before the record itself).
    pub(crate) fn put_layer_note(
        &self,
        key: &Digest,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let path = self
            .root()
            .join("layers")
            .join(format!("{}.{name}.json", key.hex()));
        self.write_atomic(&path, bytes)
    }
}

fn is_kept(item: &Item, keep: &Needs, segments: &KeptSegments) -> bool {
    match &item.what {
        What::Blob(digest) => keep.blobs.contains_key(digest) || segments.blobs.contains(digest),
        What::Run { key, .. } => segments.runs.contains(key),
        What::SegmentNote(key) => segments.notes.contains(key),
        What::Record { key, .. } => keep.layers.contains_key(key),
        What::Facts(digest) => keep.bases.contains(digest),
        What::Other => false,
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Regular files directly in `dir` (not dot files: temp files of running writes).
fn files_in(dir: &Path) -> Vec<(PathBuf, fs::Metadata)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(PathBuf, fs::Metadata)> = entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| {
            let meta = fs::symlink_metadata(e.path()).ok()?;
            meta.is_file().then(|| (e.path(), meta))
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// Every regular file under `dir`, at any depth.
fn files_under(dir: &Path) -> Vec<(PathBuf, fs::Metadata)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = fs::symlink_metadata(entry.path()) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                out.push((entry.path(), meta));
            }
        }
    }
    out
}

fn tree_size(dir: &Path) -> u64 {
    files_under(dir).iter().map(|(_, m)| m.len()).sum()
}

fn mtime(path: &Path) -> SystemTime {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(UNIX_EPOCH)
}

/// When the file's inode last changed (written, renamed into place, re-dated).
fn changed(meta: &fs::Metadata) -> SystemTime {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let secs = u64::try_from(meta.ctime()).unwrap_or(0);
        UNIX_EPOCH + Duration::from_secs(secs)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        UNIX_EPOCH
    }
}

/// What a blob is, from its first bytes.
fn sniff(path: &Path) -> Kind {
    let mut head = [0u8; 8];
    let read = File::open(path)
        .and_then(|mut file| file.read(&mut head))
        .unwrap_or(0);
    match &head[..read] {
        [0x50, 0x4b, 0x03, 0x04, ..] => Kind::Wheel,
        [b'!', b'<', b'a', b'r', b'c', b'h', b'>', b'\n'] => Kind::Deb,
        [0x1f, 0x8b, ..] | [0x28, 0xb5, 0x2f, 0xfd, ..] => Kind::Layer,
        [b'{', ..] => Kind::Json,
        _ => Kind::OtherBlob,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("store")).expect("store");
        (dir, store)
    }

    /// `gc` options that keep this one layer (as `--keep-lock` of a lock naming it).
    fn keeping_layer(key: Digest, layer: LayerRecord) -> GcOptions {
        let mut keep = Needs::default();
        keep.layer(key, layer);
        GcOptions {
            keep,
            keep_given: true,
            ..GcOptions::default()
        }
    }

    fn record(store: &Store, bytes: &[u8]) -> LayerRecord {
        LayerRecord {
            digest: store.put_bytes(bytes).expect("put"),
            diff_id: Digest::of(bytes),
            size: bytes.len() as u64,
            media_type: "m".into(),
        }
    }

    #[test]
    fn item4_gc_keeps_what_the_kept_locks_need_and_removes_the_rest() {
        let (_dir, store) = store();
        let kept_blob = store.put_bytes(b"PK\x03\x04 kept wheel").expect("put");
        let gone_blob = store.put_bytes(b"!<arch>\n gone deb").expect("put");
        let kept_key = Digest::of(b"kept key");
        let gone_key = Digest::of(b"gone key");
        let kept_record = record(&store, b"\x1f\x8b kept layer");
        store
            .put_layer_record(&kept_key, &kept_record)
            .expect("record");
        store
            .put_layer_note(&kept_key, "skipped", b"[]")
            .expect("note");
        let gone_record = record(&store, b"\x1f\x8b gone layer");
        store
            .put_layer_record(&gone_key, &gone_record)
            .expect("record");
        store
            .put_layer_note(&gone_key, "skipped", b"[]")
            .expect("note");
        let info = store.info();
        assert_eq!(info.kinds[&Kind::Wheel].count, 1);
        assert_eq!(info.kinds[&Kind::Deb].count, 1);
        assert_eq!(info.kinds[&Kind::Layer].count, 2);
        assert_eq!(info.kinds[&Kind::Record].count, 2);

        let mut keep = Needs::default();
        keep.blob(kept_blob.clone(), NeededKind::Wheel, None);
        keep.layer(kept_key.clone(), kept_record.clone());
        let options = GcOptions {
            keep,
            keep_given: true,
            ..GcOptions::default()
        };
        let exclusive = store.exclusive(&|_| {}).expect("exclusive");
        let report = store.collect_garbage(&options, &exclusive).expect("gc");
        assert!(report.after_bytes < report.before_bytes);
        assert!(store.has_blob(&kept_blob));
        assert!(!store.has_blob(&gone_blob));
        assert_eq!(
            store.layer_record(&kept_key).expect("read"),
            Some(kept_record)
        );
        assert_eq!(store.layer_record(&gone_key).expect("read"), None);
        assert!(!store.has_blob(&gone_record.digest));
        assert!(store.layer_notes(&kept_key).contains_key("skipped"));
        assert!(store.layer_notes(&gone_key).is_empty());
        assert!(!store.use_mark_path(&gone_blob).exists());
    }

    #[test]
    fn item4_gc_older_than_and_max_size_go_by_last_use() {
        let (_dir, store) = store();
        let old = store.put_bytes(b"old blob, used long ago").expect("put");
        let recent = store.put_bytes(b"recent blob").expect("put");
        let long_ago = SystemTime::now() - Duration::from_secs(10 * 86400);
        File::options()
            .write(true)
            .open(store.use_mark_path(&old))
            .and_then(|f| f.set_modified(long_ago))
            .expect("date mark");
        let exclusive = store.exclusive(&|_| {}).expect("exclusive");
        let options = GcOptions {
            older_than: Some(Duration::from_secs(86400)),
            ..GcOptions::default()
        };
        store.collect_garbage(&options, &exclusive).expect("gc");
        assert!(store.has_blob(&recent));
        assert!(!store.blob_path(&old).exists(), "an old blob was kept");

        let options = GcOptions {
            max_size: Some(0),
            ..GcOptions::default()
        };
        let report = store.collect_garbage(&options, &exclusive).expect("gc");
        assert!(!store.blob_path(&recent).exists());
        assert_eq!(
            report.after_bytes,
            report.before_bytes - report.removed_bytes
        );
    }

    #[test]
    fn item3_gc_keeps_the_runs_of_kept_layers_and_drops_the_others() {
        let (_dir, store) = store();
        let run = |name: &[u8]| {
            let key = Digest::of(name);
            let blob = store
                .put_bytes(&[b"\x1f\x8b run ", name].concat())
                .expect("put");
            let record = serde_json::json!({"digest": blob, "size": 1, "tar_len": 1,
                "members": [1], "paths": []});
            store
                .write_atomic(
                    &store.segment_record_path(&key, None),
                    record.to_string().as_bytes(),
                )
                .expect("record");
            let note =
                store.segment_record_path(&Digest::of(&[name, b" wheel"].concat()), Some("paths"));
            store.write_atomic(&note, b"[]").expect("note");
            (key, blob, note)
        };
        let (kept_run, kept_blob, kept_note) = run(b"kept");
        let (gone_run, gone_blob, gone_note) = run(b"gone");
        let layer_key = Digest::of(b"python layer");
        let layer = record(&store, b"\x1f\x8b layer");
        store.put_layer_record(&layer_key, &layer).expect("record");
        let note = SegmentsNote {
            runs: vec![kept_run.clone()],
            notes: vec![Digest::of(b"kept wheel")],
        };
        let bytes = serde_json::to_vec(&note).expect("json");
        store
            .put_layer_note(&layer_key, SEGMENTS_NOTE, &bytes)
            .expect("note");
        let info = store.info();
        // Two run blobs, two records, two notes.
        assert_eq!(info.kinds[&Kind::Segment].count, 6, "{:?}", info.kinds);

        let options = keeping_layer(layer_key.clone(), layer.clone());
        let exclusive = store.exclusive(&|_| {}).expect("exclusive");
        store.collect_garbage(&options, &exclusive).expect("gc");
        assert!(store.has_blob(&kept_blob));
        assert!(store.segment_record_path(&kept_run, None).exists());
        assert!(kept_note.exists());
        assert!(!store.blob_path(&gone_blob).exists());
        assert!(!store.segment_record_path(&gone_run, None).exists());
        assert!(!gone_note.exists());
        assert_eq!(store.layer_record(&layer_key).expect("read"), Some(layer));

        // Without kept locks, runs age like any cache entry: `--max-size 0` drops all.
        let options = GcOptions {
            max_size: Some(0),
            ..GcOptions::default()
        };
        store.collect_garbage(&options, &exclusive).expect("gc");
        assert!(!store.blob_path(&kept_blob).exists());
        assert!(!store.segment_record_path(&kept_run, None).exists());
    }

    /// Prefix states (`segments/<chain-key>.prefix.json`) are notes: kept with a kept
    /// layer whose `segments` note lists them, dropped otherwise.
    #[test]
    fn prefix_gc_keeps_the_prefix_states_of_kept_layers() {
        let (_dir, store) = store();
        let state = |name: &[u8]| {
            let path = store.segment_record_path(&Digest::of(name), Some("prefix"));
            store.write_atomic(&path, b"{}").expect("state");
            path
        };
        let (kept, gone) = (state(b"kept chain"), state(b"gone chain"));
        let layer_key = Digest::of(b"python layer");
        let layer = record(&store, b"\x1f\x8b layer");
        store.put_layer_record(&layer_key, &layer).expect("record");
        let note = SegmentsNote {
            runs: Vec::new(),
            notes: vec![Digest::of(b"kept chain")],
        };
        let bytes = serde_json::to_vec(&note).expect("json");
        store
            .put_layer_note(&layer_key, SEGMENTS_NOTE, &bytes)
            .expect("note");
        let options = keeping_layer(layer_key, layer);
        let exclusive = store.exclusive(&|_| {}).expect("exclusive");
        store.collect_garbage(&options, &exclusive).expect("gc");
        assert!(kept.exists());
        assert!(!gone.exists());
    }
}
