//! Segmented layers: a layer's tar as a concatenation of segments, each compressed on
//! its own and cached in the store, so that a layer which differs from an earlier one
//! by one package is mostly a copy of cached compressed bytes.
//!
//! A **segment** is a run of whole tar entries (never the end-of-archive), compressed
//! into its own members of at most [`MEMBER_SIZE`] uncompressed bytes (gzip members or
//! zstd frames; a segment never shares a member with another). Tar entries are
//! self-contained and members concatenate, so a segment's compressed bytes (its
//! **run**) depend only on its entries, the mtime, and the compression: a run can be
//! cached by a key that names those. The layer is, in order:
//!
//! 1. the segments the producer gives, in its order (an empty segment adds nothing);
//! 2. the end-of-archive (two zero blocks) as its own member.
//!
//! The producers fix their segments' order (the Python layer: per wheel, the largest
//! first, a segment of the directories it needs first, then its files sorted by path,
//! minus the paths a later wheel installs again; last the whiteouts), so that adding
//! a package leaves the segments before it unchanged.
//!
//! A keyed segment's run is a store blob; its record (`segments/<run-key>.json`: the
//! blob's digest and size, the tar length, each member's compressed size and the
//! entries' paths) is written after it. The run key mixes the producer's key with
//! [`super::FORMAT_VERSION`], [`MEMBER_SIZE`], the mtime and the compression. A cached
//! run is never trusted unchecked: its bytes are hashed against the record before any
//! of them is used (a mismatch removes the run and the segment is made again), and its
//! members are decompressed (libdeflate / libzstd, checking their CRCs or checksums
//! and lengths) to hash the diff ID, in parallel with the hashing, in order.
//!
//! **Prefix states.** After a run is written whole, once at least
//! [`PREFIX_STATE_EVERY`] of tar came since the last one and at the layer's end, the
//! state of both hashers (layer digest over the compressed bytes, diff ID over the
//! tar) is saved under a chain key of the runs so far (their digests and tar
//! lengths: the content, not the keys). A write first walks its segments while they
//! are cached runs and takes the longest such prefix with a saved state: those runs
//! are copied into the layer, each checked against its record in the same read, and
//! neither decompressed nor hashed into the layer's digests, which resume from the
//! state. See [`PrefixState`] for what is trusted.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tempfile::NamedTempFile;

use super::build::append_entry;
use super::compress::MEMBER_SIZE;
use super::{Compression, Entry, EntryKind, LayerError};
use crate::digest::{Digest, HashingWriter, ResumableSha256, Sha256State};
use crate::store::{LayerRecord, Store, StoreError};
pub(crate) use crate::store::{SEGMENTS_NOTE, SegmentsNote};

/// A segment's entries, in tar order: paths relative to the root.
pub(crate) type Entries = Vec<(String, Entry)>;

/// Makes a segment's entries on a cache miss.
pub(crate) type Make<'a, E> = Box<dyn FnOnce() -> Result<Entries, E> + 'a>;

/// One segment of a layer.
pub(crate) struct SegmentPlan<'a, E> {
    /// What the segment's entries depend on (the producer's part: content hashes,
    /// install parameters, owners); `None` = never cached. The run key adds the
    /// format version, member size, mtime and compression.
    pub key: Option<Digest>,
    /// Produces the entries (in tar order) when there is no valid cached run.
    pub make: Make<'a, E>,
}

/// What the store keeps about a cached run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunRecord {
    /// Digest of the run's compressed bytes (a store blob).
    pub digest: Digest,
    /// Compressed size.
    pub size: u64,
    /// Uncompressed (tar) length.
    pub tar_len: u64,
    /// Compressed size of each member, in order.
    pub members: Vec<u64>,
    /// The entries' paths, in tar order.
    pub paths: Vec<String>,
}

/// A written segmented layer.
#[derive(Debug, Clone)]
pub(crate) struct Segmented {
    pub record: LayerRecord,
    /// Segments taken from cached runs.
    pub reused: usize,
    /// Segments made (and compressed) by this write.
    pub made: usize,
    /// The run keys of the layer's keyed segments, in order.
    pub runs: Vec<Digest>,
    /// Of the reused segments, those of the saved prefix this write resumed from
    /// (copied, not decompressed).
    pub prefix: usize,
    /// Cached runs decompressed (to hash the diff ID).
    pub decompressed: usize,
    /// The chain keys of the prefix states along this layer (saved or read), so
    /// `cache gc` can keep them with it.
    pub states: Vec<Digest>,
}

/// The name of a prefix state beside its chain key in `segments/`.
const PREFIX_NOTE: &str = "prefix";

/// A prefix state is saved once at least this much tar was written since the last
/// one (and at the layer's end), to keep the file count low.
const PREFIX_STATE_EVERY: u64 = 8 << 20;

/// Runs up to this size are read once: into memory, hashed, then decompressed from
/// there; larger ones are read twice (hashed, then decompressed) to bound memory.
const SINGLE_READ: u64 = 8 << 20;

/// The saved state of both hashers after the first `segments` segments of a layer
/// (`segments/<chain-key>.prefix.json`). Trusted like a layer record: its lengths are
/// checked against the run records of the chain and the layer hasher's pending bytes
/// are taken from the runs themselves, but the state words cannot be checked without
/// hashing the prefix again, so a store whose records are forged yields a layer
/// whose digest does not match its bytes, exactly as a forged layer record would.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PrefixState {
    /// Segments (runs) in the prefix.
    segments: usize,
    /// The layer hasher's state words (hex) and the compressed length.
    layer_words: String,
    layer_len: u64,
    /// The diff-ID hasher's state words (hex) and the tar length (a multiple of
    /// 512, so it has no pending bytes).
    diff_words: String,
    diff_len: u64,
}

/// The chain key before any segment.
fn chain_start() -> Digest {
    Digest::of(format!("airlock-prefix\0v{}", super::FORMAT_VERSION).as_bytes())
}

/// The chain key after one more run: what the layer's bytes so far are made of (the
/// runs' content, not their keys).
fn chain_key(previous: &Digest, run: &Digest, tar_len: u64) -> Digest {
    Digest::of(format!("airlock-prefix\0{previous}\0{run}\0{tar_len}").as_bytes())
}

fn words_of(hex_words: &str) -> Option<[u8; 32]> {
    hex::decode(hex_words).ok()?.try_into().ok()
}

/// The prefix state saved under `chain` when it is readable and agrees with the
/// chain's run records (`expected`: their count, compressed and tar lengths);
/// `None` (with a warning for a damaged one) otherwise.
fn prefix_state(store: &Store, chain: &Digest, expected: (usize, u64, u64)) -> Option<PrefixState> {
    let path = store.segment_record_path(chain, Some(PREFIX_NOTE));
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "ignoring an unreadable prefix state");
            return None;
        }
    };
    let state = serde_json::from_slice::<PrefixState>(&bytes)
        .ok()
        .filter(|state| {
            (state.segments, state.layer_len, state.diff_len) == expected
                && state.diff_len % 64 == 0
                && words_of(&state.layer_words).is_some()
                && words_of(&state.diff_words).is_some()
        });
    if state.is_none() {
        tracing::warn!(path = %path.display(), "ignoring a damaged prefix state");
    }
    state
}

/// The store key of a segment's run.
pub(crate) fn run_key(key: &Digest, mtime: u64, compression: Compression) -> Digest {
    let mut h = Sha256::new();
    h.update(format!(
        "airlock-run\0v{}\0{MEMBER_SIZE}\0{mtime}\0{}\0{key}",
        super::FORMAT_VERSION,
        compression.key_part()
    ));
    Digest::from_sha256(h.finalize().into())
}

/// A key for entries known up front (a small segment such as the directories): their
/// paths, types, modes, owners and content hashes.
pub(crate) fn entries_key(kind: &str, entries: &[(String, Entry)]) -> Digest {
    let mut h = Sha256::new();
    h.update(format!("airlock-entries\0{kind}\0"));
    for (path, entry) in entries {
        let detail = match &entry.kind {
            EntryKind::Dir => "d".to_string(),
            EntryKind::File { sha256, size, .. } => format!("f{sha256}:{size}"),
            EntryKind::Symlink { target } => format!("l{target}"),
            EntryKind::Hardlink { target } => format!("h{target}"),
        };
        h.update(format!(
            "{path}\0{detail}\0{:o}\0{}\0{}\0",
            entry.mode, entry.owner.uid, entry.owner.gid
        ));
    }
    Digest::from_sha256(h.finalize().into())
}

/// The record of the run of `run_key` when the store holds it whole (the blob is
/// present with the recorded size; its bytes are checked when used). A record that
/// does not parse or does not add up is taken as absent.
pub(crate) fn cached_run(store: &Store, run_key: &Digest) -> Result<Option<RunRecord>, StoreError> {
    let path = store.segment_record_path(run_key, None);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("read", &path, e)),
    };
    let Ok(record) = serde_json::from_slice::<RunRecord>(&bytes) else {
        tracing::warn!(path = %path.display(), "ignoring a corrupt run record");
        return Ok(None);
    };
    let consistent = record.members.len() as u64 == record.tar_len.div_ceil(MEMBER_SIZE as u64)
        && record.members.iter().sum::<u64>() == record.size;
    let present = fs::metadata(store.blob_path(&record.digest))
        .is_ok_and(|meta| meta.is_file() && meta.len() == record.size);
    Ok((consistent && present).then_some(record))
}

/// A note beside the run record of `key` (e.g. the paths a package installs, keyed
/// by what they depend on), or `None`.
pub(crate) fn read_note<T: for<'de> Deserialize<'de>>(
    store: &Store,
    key: &Digest,
    name: &str,
) -> Option<T> {
    let bytes = fs::read(store.segment_record_path(key, Some(name))).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes a note beside the run record of `key`.
pub(crate) fn write_note<T: Serialize>(
    store: &Store,
    key: &Digest,
    name: &str,
    value: &T,
) -> Result<(), StoreError> {
    let path = store.segment_record_path(key, Some(name));
    let bytes = serde_json::to_vec(value).map_err(|source| StoreError::Record {
        path: path.clone(),
        source,
    })?;
    store.write_atomic(&path, &bytes)
}

/// Writes the layer made of `segments` into the store: cached runs copied (checked,
/// and decompressed only to hash the diff ID), the others made, compressed and cached.
pub(crate) fn write_segmented<'a, E: From<LayerError>>(
    store: &Store,
    segments: impl IntoIterator<Item = SegmentPlan<'a, E>>,
    mtime: u64,
    compression: Compression,
) -> Result<Segmented, E> {
    let mut pipe = Pipeline::<'_, 'a, E>::new(store, mtime, compression)?;
    let plans: Vec<(Option<Digest>, Make<'a, E>)> = segments
        .into_iter()
        .map(|plan| {
            let key = plan.key.as_ref().map(|k| run_key(k, mtime, compression));
            (key, plan.make)
        })
        .collect();
    let (resumed, read) = pipe.resume_prefix(&plans)?;
    // The records `resume_prefix` read for the cached segments after the prefix.
    let mut read = read.into_iter();
    for (key, make) in plans.into_iter().skip(resumed) {
        if let Some(key) = &key {
            pipe.runs.push(key.clone());
            let record = match read.next() {
                Some(record) => Some(record),
                None => cached_run(store, key).map_err(LayerError::from)?,
            };
            if let Some(record) = record {
                pipe.push_cached(key.clone(), record, make)?;
                continue;
            }
        }
        let entries = make()?;
        pipe.push_fresh(key, &entries)?;
    }
    pipe.finish()
}

/// One compressed member with the bytes it holds.
type Member = (Vec<u8>, Vec<u8>);

/// What a cached run's reader sends: members in order, or why it stopped.
type Chunk = Result<Member, RunFault>;

#[derive(Debug)]
enum RunFault {
    /// Found before any member was sent: the run is made again.
    Mismatch(String),
    /// Found after members were sent: the layer is refused.
    Broken(String),
}

enum Job<'a, E> {
    /// A member of a segment being made, compressing on its own thread.
    Member(JoinHandle<io::Result<Member>>),
    /// The start of a made segment (its run is cached when keyed).
    Start(Option<Digest>),
    /// The end of a made segment.
    End { tar_len: u64, paths: Vec<String> },
    /// A cached run, read and checked on its own thread.
    Cached {
        key: Digest,
        record: RunRecord,
        members: Receiver<Chunk>,
        reader: JoinHandle<()>,
        make: Make<'a, E>,
    },
}

/// The run being written beside the layer.
struct RunOut {
    key: Digest,
    file: HashingWriter<BufWriter<NamedTempFile>>,
    members: Vec<u64>,
}

/// The layer being written: jobs in order, at most `max_in_flight` of them working.
struct Pipeline<'s, 'a, E> {
    store: &'s Store,
    mtime: u64,
    compression: Compression,
    jobs: VecDeque<Job<'a, E>>,
    working: usize,
    max_in_flight: usize,
    layer: BufWriter<NamedTempFile>,
    layer_hash: ResumableSha256,
    diff: ResumableSha256,
    run: Option<RunOut>,
    runs: Vec<Digest>,
    reused: usize,
    made: usize,
    prefix: usize,
    decompressed: usize,
    /// The chain key of the segments written so far and how many they are; `None`
    /// once an unkeyed segment was written (no state is saved after it).
    chain: Option<(Digest, usize)>,
    /// Tar bytes written since the last saved prefix state.
    since_saved: u64,
    states: Vec<Digest>,
    /// An error met while the tar writer was writing (it only carries `io::Error`).
    failed: Option<E>,
}

impl<'s, 'a, E: From<LayerError>> Pipeline<'s, 'a, E> {
    fn new(store: &'s Store, mtime: u64, compression: Compression) -> Result<Self, E> {
        let temp = store.temp_file().map_err(LayerError::from)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Self {
            store,
            mtime,
            compression,
            jobs: VecDeque::new(),
            working: 0,
            max_in_flight: cores + 1,
            layer: BufWriter::with_capacity(1 << 20, temp),
            layer_hash: ResumableSha256::new(),
            diff: ResumableSha256::new(),
            run: None,
            runs: Vec::new(),
            reused: 0,
            made: 0,
            prefix: 0,
            decompressed: 0,
            chain: Some((chain_start(), 0)),
            since_saved: 0,
            states: Vec::new(),
            failed: None,
        })
    }

    fn push(&mut self, job: Job<'a, E>) -> Result<(), E> {
        if matches!(job, Job::Member(_) | Job::Cached { .. }) {
            self.working += 1;
        }
        self.jobs.push_back(job);
        while self.working > self.max_in_flight {
            self.consume_oldest()?;
        }
        Ok(())
    }

    fn push_cached(&mut self, key: Digest, record: RunRecord, make: Make<'a, E>) -> Result<(), E> {
        let (sender, members) = sync_channel(2);
        let path = self.store.blob_path(&record.digest);
        let (for_reader, compression) = (record.clone(), self.compression);
        let reader = std::thread::spawn(move || read_run(&path, &for_reader, compression, &sender));
        self.push(Job::Cached {
            key,
            record,
            members,
            reader,
            make,
        })
    }

    /// Queues a made segment's members (compressed on other threads).
    fn push_fresh(&mut self, key: Option<Digest>, entries: &[(String, Entry)]) -> Result<(), E> {
        if entries.is_empty() {
            return Ok(());
        }
        self.push(Job::Start(key))?;
        let (mtime, compression) = (self.mtime, self.compression);
        let tar_len = {
            let mut submit = |data: Vec<u8>| {
                let job = Job::Member(std::thread::spawn(move || {
                    let compressed = compression.member(&data)?;
                    Ok((compressed, data))
                }));
                self.push(job).map_err(|error| {
                    self.failed = Some(error);
                    io::Error::other("a segment's member could not be written")
                })
            };
            tar_segment(entries, mtime, &mut submit)
        };
        let tar_len = match (tar_len, self.failed.take()) {
            (_, Some(error)) => return Err(error),
            (result, None) => result?,
        };
        let paths = entries.iter().map(|(path, _)| path.clone()).collect();
        self.push(Job::End { tar_len, paths })
    }

    fn consume_oldest(&mut self) -> Result<(), E> {
        let Some(job) = self.jobs.pop_front() else {
            return Ok(());
        };
        match job {
            Job::Member(handle) => {
                self.working -= 1;
                let member = handle
                    .join()
                    .map_err(|_| io::Error::other("a compression thread panicked"))
                    .and_then(|result| result)
                    .map_err(LayerError::Write)?;
                self.write_member(&member)?;
            }
            Job::Start(key) => self.start_run(key)?,
            Job::End { tar_len, paths } => self.end_run(tar_len, paths)?,
            Job::Cached {
                key,
                record,
                members,
                reader,
                make,
            } => {
                self.working -= 1;
                self.copy_cached(&key, &record, &members, make)?;
                drop(members);
                // The reader has sent everything or stops at its next send.
                let _ = reader.join();
            }
        }
        Ok(())
    }

    fn start_run(&mut self, key: Option<Digest>) -> Result<(), E> {
        self.made += 1;
        self.run = match key {
            Some(key) => {
                let temp = self.store.temp_file().map_err(LayerError::from)?;
                Some(RunOut {
                    key,
                    file: HashingWriter::new(BufWriter::new(temp)),
                    members: Vec::new(),
                })
            }
            None => None,
        };
        Ok(())
    }

    fn write_member(&mut self, (compressed, data): &Member) -> Result<(), E> {
        self.layer
            .write_all(compressed)
            .map_err(LayerError::Write)?;
        self.layer_hash.update(compressed);
        self.diff.update(data);
        if let Some(run) = &mut self.run {
            run.file.write_all(compressed).map_err(LayerError::Write)?;
            run.members.push(compressed.len() as u64);
        }
        Ok(())
    }

    /// Stores the run just written under its key (the blob first, then the record).
    fn end_run(&mut self, tar_len: u64, paths: Vec<String>) -> Result<(), E> {
        let Some(run) = self.run.take() else {
            self.chain = None;
            return Ok(());
        };
        let (digest, size, buffered) = run.file.finish();
        let temp = buffered
            .into_inner()
            .map_err(|e| LayerError::Write(e.into_error()))?;
        self.store
            .commit_blob(temp, &digest)
            .map_err(LayerError::from)?;
        let record = RunRecord {
            digest,
            size,
            tar_len,
            members: run.members,
            paths,
        };
        let path = self.store.segment_record_path(&run.key, None);
        let bytes = serde_json::to_vec(&record).map_err(|source| StoreError::Record {
            path: path.clone(),
            source,
        });
        let bytes = bytes.map_err(LayerError::from)?;
        self.store
            .write_atomic(&path, &bytes)
            .map_err(LayerError::from)?;
        tracing::debug!(key = %run.key, digest = %record.digest, "run cached");
        self.segment_done(&record.digest, tar_len);
        Ok(())
    }

    /// Extends the chain by a run just written whole; saves the hashers' state when
    /// enough was written since the last one.
    fn segment_done(&mut self, run: &Digest, tar_len: u64) {
        let Some((chain, segments)) = &self.chain else {
            return;
        };
        let chain = chain_key(chain, run, tar_len);
        let segments = segments + 1;
        self.since_saved += tar_len;
        if self.since_saved >= PREFIX_STATE_EVERY {
            self.save_state(&chain, segments);
        }
        self.chain = Some((chain, segments));
    }

    /// Saves both hashers' state under `chain` (best effort: a speed cache).
    fn save_state(&mut self, chain: &Digest, segments: usize) {
        let (layer, diff) = (self.layer_hash.save(), self.diff.save());
        let state = PrefixState {
            segments,
            layer_words: hex::encode(layer.words),
            layer_len: layer.len,
            diff_words: hex::encode(diff.words),
            diff_len: diff.len,
        };
        let path = self.store.segment_record_path(chain, Some(PREFIX_NOTE));
        let written = serde_json::to_vec(&state)
            .map_err(io::Error::other)
            .and_then(|bytes| crate::atomic_file::write(&path, &bytes));
        match written {
            Ok(()) => {
                self.since_saved = 0;
                self.states.push(chain.clone());
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot save a prefix state");
            }
        }
    }

    /// Takes the longest leading run of cached segments that has a saved prefix
    /// state: checks each run's bytes against its record while copying them into
    /// the layer (one read, no decompression) and resumes both hashers from the
    /// state. Returns how many segments it took (0: none, or a run was damaged: it
    /// is forgotten, so that it is made again, and the layer starts over) and the
    /// records it read of the cached segments right after them.
    fn resume_prefix(
        &mut self,
        plans: &[(Option<Digest>, Make<'a, E>)],
    ) -> Result<(usize, Vec<RunRecord>), E> {
        let mut chain = chain_start();
        let mut records = Vec::new();
        let mut best = None;
        let (mut layer_len, mut diff_len) = (0, 0);
        for (key, _) in plans {
            let Some(key) = key else { break };
            let Some(record) = cached_run(self.store, key).map_err(LayerError::from)? else {
                break;
            };
            chain = chain_key(&chain, &record.digest, record.tar_len);
            (layer_len, diff_len) = (layer_len + record.size, diff_len + record.tar_len);
            records.push((key.clone(), record));
            let expected = (records.len(), layer_len, diff_len);
            if let Some(state) = prefix_state(self.store, &chain, expected) {
                self.states.push(chain.clone());
                best = Some((records.len(), chain.clone(), state));
            }
        }
        let Some((taken, chain, state)) = best else {
            return Ok((0, records.into_iter().map(|(_, r)| r).collect()));
        };
        let mut tail = Vec::with_capacity(128);
        for (key, record) in &records[..taken] {
            if let Err(reason) = self.copy_checked(record, &mut tail) {
                let path = self.store.blob_path(&record.digest);
                tracing::warn!(path = %path.display(), reason, "a cached run is damaged; making it again");
                self.forget_run(key, record);
                return self.start_over();
            }
        }
        let held = (state.layer_len % 64) as usize;
        let pending = tail
            .get(tail.len().saturating_sub(held)..)
            .unwrap_or_default()
            .to_vec();
        let resume = |words: &str, len: u64, pending: Vec<u8>| {
            let words = words_of(words)?;
            ResumableSha256::resume(&Sha256State {
                words,
                len,
                pending,
            })
        };
        let (Some(layer), Some(diff)) = (
            resume(&state.layer_words, state.layer_len, pending),
            resume(&state.diff_words, state.diff_len, Vec::new()),
        ) else {
            tracing::warn!(%chain, "ignoring a prefix state that does not resume");
            return self.start_over();
        };
        (self.layer_hash, self.diff) = (layer, diff);
        for (key, record) in &records[..taken] {
            self.runs.push(key.clone());
            self.store.mark_used(&record.digest);
        }
        (self.reused, self.prefix) = (taken, taken);
        self.chain = Some((chain, taken));
        tracing::debug!(segments = taken, "resumed from a saved prefix");
        let rest = records.into_iter().skip(taken).map(|(_, r)| r).collect();
        Ok((taken, rest))
    }

    /// Drops what `resume_prefix` copied: the layer starts again from nothing.
    fn start_over(&mut self) -> Result<(usize, Vec<RunRecord>), E> {
        let temp = self.store.temp_file().map_err(LayerError::from)?;
        self.layer = BufWriter::with_capacity(1 << 20, temp);
        Ok((0, Vec::new()))
    }

    /// Copies a cached run into the layer (not hashed into it), checking its bytes
    /// against the record in the same read; keeps the last 64 bytes written in `tail`.
    fn copy_checked(&mut self, record: &RunRecord, tail: &mut Vec<u8>) -> Result<(), String> {
        let path = self.store.blob_path(&record.digest);
        let mut file = File::open(&path).map_err(|e| format!("cannot open it: {e}"))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let read = match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("cannot read it: {e}")),
            };
            let chunk = &buffer[..read];
            hasher.update(chunk);
            size += read as u64;
            self.layer
                .write_all(chunk)
                .map_err(|e| format!("cannot write the layer: {e}"))?;
            tail.extend_from_slice(&chunk[chunk.len().saturating_sub(64)..]);
            let excess = tail.len().saturating_sub(64);
            tail.drain(..excess);
        }
        let actual = Digest::from_sha256(hasher.finalize().into());
        if actual != record.digest || size != record.size {
            return Err(format!(
                "its content hashes to `{actual}`, not `{}`",
                record.digest
            ));
        }
        Ok(())
    }

    /// Copies a cached run into the layer; one whose bytes do not match its record is
    /// removed and its segment made again here (before the jobs queued after it).
    fn copy_cached(
        &mut self,
        key: &Digest,
        record: &RunRecord,
        members: &Receiver<Chunk>,
        make: Make<'a, E>,
    ) -> Result<(), E> {
        let blob = self.store.blob_path(&record.digest);
        let mut first = true;
        loop {
            let chunk = members
                .recv()
                .unwrap_or_else(|_| Err(RunFault::Broken("its reader stopped early".to_string())));
            match chunk {
                Ok(member) => {
                    first = false;
                    if member.0.is_empty() {
                        break;
                    }
                    self.write_member(&member)?;
                }
                Err(RunFault::Mismatch(reason)) if first => {
                    tracing::warn!(path = %blob.display(), reason, "a cached run is damaged; making it again");
                    self.forget_run(key, record);
                    return self.make_now(key.clone(), make);
                }
                Err(RunFault::Mismatch(reason) | RunFault::Broken(reason)) => {
                    self.forget_run(key, record);
                    return Err(LayerError::DamagedRun { path: blob, reason }.into());
                }
            }
        }
        self.reused += 1;
        self.decompressed += 1;
        self.store.mark_used(&record.digest);
        self.segment_done(&record.digest, record.tar_len);
        Ok(())
    }

    /// Removes a damaged run's record and blob (the record first).
    fn forget_run(&self, key: &Digest, record: &RunRecord) {
        for path in [
            self.store.segment_record_path(key, None),
            self.store.blob_path(&record.digest),
        ] {
            if let Err(error) = fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), %error, "cannot remove a damaged run");
            }
        }
    }

    /// Makes a segment and writes it at once (members compressed here, in order).
    fn make_now(&mut self, key: Digest, make: Make<'a, E>) -> Result<(), E> {
        let entries = make()?;
        if entries.is_empty() {
            return Ok(());
        }
        self.start_run(Some(key))?;
        let (compression, mtime) = (self.compression, self.mtime);
        let tar_len = {
            let mut write = |data: Vec<u8>| {
                let compressed = compression.member(&data)?;
                self.write_member(&(compressed, data)).map_err(|error| {
                    self.failed = Some(error);
                    io::Error::other("a segment's member could not be written")
                })
            };
            tar_segment(&entries, mtime, &mut write)
        };
        let tar_len = match (tar_len, self.failed.take()) {
            (_, Some(error)) => return Err(error),
            (result, None) => result?,
        };
        let paths = entries.into_iter().map(|(path, _)| path).collect();
        self.end_run(tar_len, paths)
    }

    /// Writes what is queued, the end-of-archive, and commits the layer.
    fn finish(mut self) -> Result<Segmented, E> {
        while !self.jobs.is_empty() {
            self.consume_oldest()?;
        }
        if let Some((chain, segments)) = self.chain.clone()
            && self.since_saved > 0
        {
            self.save_state(&chain, segments);
        }
        let end = vec![0u8; 1024];
        let member = (
            self.compression.member(&end).map_err(LayerError::Write)?,
            end,
        );
        self.write_member(&member)?;
        let diff_id = self.diff.finish();
        let size = self.layer_hash.len();
        let digest = self.layer_hash.finish();
        let temp = self
            .layer
            .into_inner()
            .map_err(|e| LayerError::Write(e.into_error()))?;
        self.store
            .commit_blob(temp, &digest)
            .map_err(LayerError::from)?;
        let record = LayerRecord {
            digest,
            diff_id,
            size,
            media_type: self.compression.media_type().to_string(),
        };
        Ok(Segmented {
            record,
            reused: self.reused,
            made: self.made,
            runs: self.runs,
            prefix: self.prefix,
            decompressed: self.decompressed,
            states: self.states,
        })
    }
}

/// Writes `entries` as tar (without the end-of-archive), handing it to `member` in
/// pieces of [`MEMBER_SIZE`] (the last one shorter); returns the tar's length.
fn tar_segment(
    entries: &[(String, Entry)],
    mtime: u64,
    member: &mut dyn FnMut(Vec<u8>) -> io::Result<()>,
) -> Result<u64, LayerError> {
    let mut builder = tar::Builder::new(Cutter {
        member,
        buffer: Vec::with_capacity(MEMBER_SIZE),
        length: 0,
        closed: false,
    });
    builder.mode(tar::HeaderMode::Deterministic);
    for (path, entry) in entries {
        append_entry(&mut builder, path, entry, mtime)?;
    }
    // The end-of-archive `into_inner` writes is not part of a segment.
    builder.get_mut().closed = true;
    let mut cutter = builder.into_inner().map_err(LayerError::Write)?;
    if !cutter.buffer.is_empty() {
        let rest = std::mem::take(&mut cutter.buffer);
        (cutter.member)(rest).map_err(LayerError::Write)?;
    }
    Ok(cutter.length)
}

/// Cuts what is written into members of [`MEMBER_SIZE`] bytes.
struct Cutter<'m> {
    member: &'m mut dyn FnMut(Vec<u8>) -> io::Result<()>,
    buffer: Vec<u8>,
    length: u64,
    closed: bool,
}

impl Write for Cutter<'_> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(data.len());
        }
        let total = data.len();
        self.length += total as u64;
        while !data.is_empty() {
            let take = (MEMBER_SIZE - self.buffer.len()).min(data.len());
            self.buffer.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buffer.len() == MEMBER_SIZE {
                let full = std::mem::replace(&mut self.buffer, Vec::with_capacity(MEMBER_SIZE));
                (self.member)(full)?;
            }
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads a cached run on its own thread: checks its bytes against the record, then
/// sends its members, each with the bytes it decompresses to, and an empty member at
/// the end. A run of at most [`SINGLE_READ`] bytes is read once, into memory; a
/// larger one is read twice (hashed, then decompressed) so memory stays bounded.
fn read_run(
    path: &std::path::Path,
    record: &RunRecord,
    compression: Compression,
    out: &SyncSender<Chunk>,
) {
    let sent = if record.size <= SINGLE_READ {
        fs::read(path)
            .map_err(|e| RunFault::Mismatch(format!("cannot read it: {e}")))
            .and_then(|bytes| {
                let size = bytes.len() as u64;
                check_run(Digest::of(&bytes), size, record).map_err(RunFault::Mismatch)?;
                send_members(&bytes[..], record, compression, out).map_err(RunFault::Broken)
            })
    } else {
        File::open(path)
            .and_then(|file| Digest::of_reader(BufReader::with_capacity(1 << 20, file)))
            .map_err(|e| format!("cannot read it: {e}"))
            .and_then(|(actual, size)| check_run(actual, size, record))
            .map_err(RunFault::Mismatch)
            .and_then(|()| {
                let file = File::open(path).map_err(|e| format!("cannot open it: {e}"));
                file.and_then(|file| {
                    let reader = BufReader::with_capacity(1 << 20, file);
                    send_members(reader, record, compression, out)
                })
                .map_err(RunFault::Broken)
            })
    };
    if let Err(fault) = sent {
        let _ = out.send(Err(fault));
    }
}

/// Whether the run's bytes (hashing to `actual`, `size` long) are the recorded ones.
fn check_run(actual: Digest, size: u64, record: &RunRecord) -> Result<(), String> {
    if actual != record.digest || size != record.size {
        return Err(format!(
            "its content hashes to `{actual}`, not `{}`",
            record.digest
        ));
    }
    Ok(())
}

fn send_members(
    mut reader: impl Read,
    record: &RunRecord,
    compression: Compression,
    out: &SyncSender<Chunk>,
) -> Result<(), String> {
    let mut left = record.tar_len;
    let mut decompressor = Decompressor::new(compression)?;
    for &size in &record.members {
        let mut compressed = vec![0u8; usize::try_from(size).map_err(|e| e.to_string())?];
        reader
            .read_exact(&mut compressed)
            .map_err(|e| format!("cannot read it: {e}"))?;
        let expected = left.min(MEMBER_SIZE as u64) as usize;
        let data = decompressor.decompress(&compressed, expected)?;
        left -= expected as u64;
        if out.send(Ok((compressed, data))).is_err() {
            return Ok(());
        }
    }
    if left != 0 {
        return Err("its members are shorter than recorded".to_string());
    }
    let _ = out.send(Ok((Vec::new(), Vec::new())));
    Ok(())
}

/// A decompressor for one compression, checking each member's length and check sum.
enum Decompressor {
    Gzip(Box<libdeflater::Decompressor>),
    Zstd(Box<zstd::bulk::Decompressor<'static>>),
}

impl Decompressor {
    fn new(compression: Compression) -> Result<Self, String> {
        Ok(match compression {
            Compression::Gzip => Self::Gzip(Box::new(libdeflater::Decompressor::new())),
            Compression::Zstd => Self::Zstd(Box::new(
                zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?,
            )),
        })
    }

    /// The bytes of one member, which must be `expected` long.
    fn decompress(&mut self, member: &[u8], expected: usize) -> Result<Vec<u8>, String> {
        let mut data = vec![0u8; expected];
        let written = match self {
            Self::Gzip(d) => d
                .gzip_decompress(member, &mut data)
                .map_err(|e| format!("a member does not decompress: {e}"))?,
            Self::Zstd(d) => d
                .decompress_to_buffer(member, data.as_mut_slice())
                .map_err(|e| format!("a member does not decompress: {e}"))?,
        };
        if written != expected {
            return Err(format!("a member holds {written} bytes, not {expected}"));
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests;
