use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::layer::{FileSource, Owner};

fn file(bytes: &[u8], mode: u32) -> Entry {
    Entry {
        kind: EntryKind::File {
            source: FileSource::Bytes(Arc::from(bytes)),
            size: bytes.len() as u64,
            sha256: Digest::of(bytes),
        },
        mode,
        owner: Owner::ROOT,
    }
}

fn dir() -> Entry {
    Entry {
        kind: EntryKind::Dir,
        mode: 0o755,
        owner: Owner { uid: 50, gid: 50 },
    }
}

/// Three segments: directories (keyed by content), a package of two files (one
/// larger than a member, so it is several members), a small package.
fn inputs() -> Vec<(Option<Digest>, Entries)> {
    let dirs = vec![("opt".to_string(), dir()), ("opt/a".to_string(), dir())];
    let big: Vec<u8> = (0..(MEMBER_SIZE + 5000)).map(|i| (i % 253) as u8).collect();
    let first = vec![
        ("opt/a/big.bin".to_string(), file(&big, 0o644)),
        ("opt/a/run.sh".to_string(), file(b"#!/bin/sh\n", 0o755)),
    ];
    let second = vec![("opt/b.txt".to_string(), file(b"second package\n", 0o644))];
    vec![
        (Some(entries_key("dirs", &dirs)), dirs),
        (Some(Digest::of(b"package one")), first),
        (Some(Digest::of(b"package two")), second),
    ]
}

/// Builds the layer of `inputs`, counting the segments made.
fn build(
    store: &Store,
    inputs: &[(Option<Digest>, Entries)],
    compression: Compression,
    makes: &AtomicUsize,
) -> Segmented {
    let plans = inputs.iter().map(|(key, entries)| SegmentPlan {
        key: key.clone(),
        make: Box::new(move || {
            makes.fetch_add(1, Ordering::SeqCst);
            Ok::<_, LayerError>(entries.clone())
        }) as Make<'_, LayerError>,
    });
    write_segmented(store, plans, 1_700_000_000, compression).expect("segmented layer")
}

fn open_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("store")).expect("store");
    (dir, store)
}

fn tar_of(store: &Store, record: &LayerRecord) -> Vec<u8> {
    let blob = store.read_blob(&record.digest).expect("blob");
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(&blob[..])
        .read_to_end(&mut tar)
        .expect("gunzip");
    tar
}

/// Changes one byte in the middle of the cached run under `key` (same length) and
/// puts the store's "checked" date back, as a tampering that keeps the file's size.
/// Returns the run's record and its blob's path.
fn tamper_run(store: &Store, key: &Digest) -> (RunRecord, std::path::PathBuf) {
    let run = cached_run(store, key).expect("read").expect("cached");
    let path = store.blob_path(&run.digest);
    let mut bytes = fs::read(&path).expect("run");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    let time = fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("time");
    fs::write(&path, &bytes).expect("tamper");
    File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(time))
        .expect("date");
    (run, path)
}

#[test]
fn segments_a_layer_is_a_valid_tar_gz_with_entries_in_order() {
    let (_dir, store) = open_store();
    let layer = build(&store, &inputs(), Compression::Gzip, &AtomicUsize::new(0));
    let tar = tar_of(&store, &layer.record);
    assert_eq!(Digest::of(&tar), layer.record.diff_id);
    assert_eq!(
        Digest::of(&store.read_blob(&layer.record.digest).expect("blob")),
        layer.record.digest
    );
    let mut archive = tar::Archive::new(&tar[..]);
    let mut seen = Vec::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let header = entry.header();
        let (mode, mtime, uid) = (
            header.mode().expect("mode"),
            header.mtime().expect("mtime"),
            header.uid().expect("uid"),
        );
        let mut body = Vec::new();
        entry.read_to_end(&mut body).expect("body");
        seen.push((path, mode, mtime, uid, body.len()));
    }
    let paths: Vec<&str> = seen.iter().map(|(p, ..)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "opt/",
            "opt/a/",
            "opt/a/big.bin",
            "opt/a/run.sh",
            "opt/b.txt"
        ]
    );
    assert!(seen.iter().all(|(_, _, mtime, ..)| *mtime == 1_700_000_000));
    assert_eq!(seen[0].3, 50, "the directory keeps its owner");
    assert_eq!(seen[3].1, 0o755);
    assert_eq!(seen[2].4, MEMBER_SIZE + 5000);
    // The tar ends with exactly the end-of-archive after the last entry.
    assert!(tar.ends_with(&[0u8; 1024]));
    assert_eq!(tar.len() % 512, 0);
}

#[test]
fn segments_the_end_of_archive_is_its_own_member() {
    let (_dir, store) = open_store();
    let layer = build(&store, &inputs(), Compression::Gzip, &AtomicUsize::new(0));
    let blob = store.read_blob(&layer.record.digest).expect("blob");
    let end = crate::layer::gzip_member(&[0u8; 1024]);
    assert!(blob.ends_with(&end));
    // Every run is a whole number of members: the layer is the runs then the end.
    let mut runs = Vec::new();
    for key in &layer.runs {
        let record = cached_run(&store, key).expect("read").expect("cached");
        runs.extend(store.read_blob(&record.digest).expect("run"));
    }
    runs.extend(&end);
    assert_eq!(runs, blob);
    // A layer of no segments is just the end-of-archive.
    let empty = write_segmented::<LayerError>(
        &store,
        Vec::<SegmentPlan<'_, LayerError>>::new(),
        0,
        Compression::Gzip,
    )
    .expect("empty layer");
    assert_eq!(store.read_blob(&empty.record.digest).expect("blob"), end);
}

#[test]
fn segments_same_inputs_give_the_same_digest_from_two_empty_stores() {
    let (_a, one) = open_store();
    let (_b, two) = open_store();
    let first = build(&one, &inputs(), Compression::Gzip, &AtomicUsize::new(0));
    let second = build(&two, &inputs(), Compression::Gzip, &AtomicUsize::new(0));
    assert_eq!(first.record, second.record);
    assert_eq!(first.runs, second.runs);
    assert_eq!((first.made, first.reused), (3, 0));
}

#[test]
fn segments_a_cached_run_is_reused_and_gives_the_cold_bytes() {
    let (_dir, store) = open_store();
    let cold = build(&store, &inputs(), Compression::Gzip, &AtomicUsize::new(0));
    let run = cached_run(&store, &cold.runs[1])
        .expect("read")
        .expect("cached");
    let run_path = store.blob_path(&run.digest);
    let before = fs::metadata(&run_path).expect("run");
    let makes = AtomicUsize::new(0);
    let warm = build(&store, &inputs(), Compression::Gzip, &makes);
    assert_eq!(makes.load(Ordering::SeqCst), 0, "nothing was made again");
    assert_eq!((warm.made, warm.reused), (0, 3));
    assert_eq!(warm.record, cold.record);
    let after = fs::metadata(&run_path).expect("run");
    {
        use std::os::unix::fs::MetadataExt as _;
        assert_eq!(
            (before.ino(), before.mtime(), before.ctime()),
            (after.ino(), after.mtime(), after.ctime()),
            "the cached run was not written again"
        );
    }
    // Adding a package reuses the others: only it is made.
    let mut more = inputs();
    more.push((
        Some(Digest::of(b"package three")),
        vec![("opt/c.txt".to_string(), file(b"third\n", 0o644))],
    ));
    let makes = AtomicUsize::new(0);
    let added = build(&store, &more, Compression::Gzip, &makes);
    assert_eq!(
        (added.made, added.reused, makes.load(Ordering::SeqCst)),
        (1, 3, 1)
    );
    let (_other, empty) = open_store();
    let fresh = build(&empty, &more, Compression::Gzip, &AtomicUsize::new(0));
    assert_eq!(added.record, fresh.record, "same bytes as a cold build");
    // Another mtime or compression is another run.
    assert_ne!(
        run_key(&Digest::of(b"k"), 1, Compression::Gzip),
        run_key(&Digest::of(b"k"), 2, Compression::Gzip)
    );
    assert_ne!(
        run_key(&Digest::of(b"k"), 1, Compression::Gzip),
        run_key(&Digest::of(b"k"), 1, Compression::Zstd)
    );
}

#[test]
fn segments_a_tampered_run_is_made_again_never_shipped() {
    let (_dir, store) = open_store();
    let cold = build(&store, &inputs(), Compression::Gzip, &AtomicUsize::new(0));
    let (run, path) = tamper_run(&store, &cold.runs[2]);
    let makes = AtomicUsize::new(0);
    let again = build(&store, &inputs(), Compression::Gzip, &makes);
    assert_eq!((again.made, again.reused), (1, 2));
    assert_eq!(makes.load(Ordering::SeqCst), 1);
    assert_eq!(
        again.record, cold.record,
        "the tampered bytes were not shipped"
    );
    assert_eq!(
        fs::read(&path).expect("run made again"),
        store.read_blob(&run.digest).expect("blob")
    );
    assert_eq!(Digest::of(&fs::read(&path).expect("run")), run.digest);
}

#[test]
fn segments_a_run_whose_record_lies_about_its_members_is_refused() {
    let (_dir, store) = open_store();
    let cold = build(&store, &inputs(), Compression::Gzip, &AtomicUsize::new(0));
    // The blob hashes right but the record's member sizes are wrong: the layer is
    // refused (and the run forgotten), not written with wrong bytes.
    let key = &cold.runs[1];
    let mut record = cached_run(&store, key).expect("read").expect("cached");
    assert!(record.members.len() >= 2);
    record.members[0] -= 1;
    record.members[1] += 1;
    let path = store.segment_record_path(key, None);
    fs::write(&path, serde_json::to_vec(&record).expect("json")).expect("write");
    // With the saved prefix the members are not read (the bytes are checked whole):
    // the layer is right. Without it, the members are decompressed and the lie found.
    let resumed = build(&store, &inputs(), Compression::Gzip, &AtomicUsize::new(0));
    assert_eq!((resumed.prefix, resumed.record), (3, cold.record.clone()));
    forget_states(&store);
    let plans = inputs().into_iter().map(|(key, entries)| SegmentPlan {
        key,
        make: Box::new(move || Ok::<_, LayerError>(entries)) as Make<'_, LayerError>,
    });
    let error =
        write_segmented(&store, plans, 1_700_000_000, Compression::Gzip).expect_err("refused");
    assert!(matches!(error, LayerError::DamagedRun { .. }), "{error}");
    assert_eq!(cached_run(&store, key).expect("read"), None);
    let again = build(&store, &inputs(), Compression::Gzip, &AtomicUsize::new(0));
    assert_eq!(again.record, cold.record);
}

#[test]
fn segments_zstd_layers_are_frames_of_the_same_tar() {
    let (_dir, store) = open_store();
    let gzip = build(&store, &inputs(), Compression::Gzip, &AtomicUsize::new(0));
    let zstd = build(&store, &inputs(), Compression::Zstd, &AtomicUsize::new(0));
    assert_eq!(
        (zstd.made, zstd.reused),
        (3, 0),
        "gzip runs are not zstd runs"
    );
    assert_eq!(zstd.record.diff_id, gzip.record.diff_id);
    assert_eq!(zstd.record.media_type, crate::oci::ZSTD_LAYER_MEDIA_TYPE);
    let blob = store.read_blob(&zstd.record.digest).expect("blob");
    let mut tar = Vec::new();
    let mut rest = &blob[..];
    while !rest.is_empty() {
        let mut decoder = ruzstd::decoding::StreamingDecoder::new(&mut rest).expect("a zstd frame");
        decoder.read_to_end(&mut tar).expect("decode");
    }
    assert_eq!(Digest::of(&tar), zstd.record.diff_id);
    let warm = build(&store, &inputs(), Compression::Zstd, &AtomicUsize::new(0));
    assert_eq!((warm.made, warm.reused), (0, 3));
    assert_eq!(warm.record, zstd.record);
}

#[test]
fn segments_unkeyed_and_empty_segments() {
    let (_dir, store) = open_store();
    let mut unkeyed = inputs();
    unkeyed[0].0 = None;
    unkeyed.push((Some(Digest::of(b"nothing")), Vec::new()));
    let keyed = build(&store, &inputs(), Compression::Gzip, &AtomicUsize::new(0));
    let makes = AtomicUsize::new(0);
    let layer = build(&store, &unkeyed, Compression::Gzip, &makes);
    // The unkeyed segment is made every time; the empty one adds no bytes.
    assert_eq!(makes.load(Ordering::SeqCst), 2);
    assert_eq!(layer.record, keyed.record);
}

/// Removes every saved prefix state.
fn forget_states(store: &Store) {
    for entry in fs::read_dir(store.root().join("segments")).expect("segments") {
        let path = entry.expect("entry").path();
        if path.to_string_lossy().ends_with(".prefix.json") {
            fs::remove_file(&path).expect("remove");
        }
    }
}

/// The saved prefix states, by file name.
fn states(store: &Store) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(store.root().join("segments"))
        .expect("segments")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".prefix.json"))
        .collect();
    names.sort();
    names
}

/// A segment of one file of `size` bytes that deflate cannot shrink much.
fn big_segment(name: &str, size: usize) -> (Option<Digest>, Entries) {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64 ^ size as u64;
    let bytes: Vec<u8> = (0..size)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 7) as u8
        })
        .collect();
    (
        Some(Digest::of(name.as_bytes())),
        vec![(format!("opt/{name}"), file(&bytes, 0o644))],
    )
}

fn small_segment(name: &str) -> (Option<Digest>, Entries) {
    (
        Some(Digest::of(name.as_bytes())),
        vec![(format!("opt/{name}"), file(name.as_bytes(), 0o644))],
    )
}

/// The layer's bytes, digest, diff ID and size equal those of a cold build of the
/// same inputs in an empty store.
fn assert_cold_equal(layer: &Segmented, store: &Store, inputs: &[(Option<Digest>, Entries)]) {
    let (_dir, empty) = open_store();
    let cold = build(&empty, inputs, Compression::Gzip, &AtomicUsize::new(0));
    assert_eq!(layer.record, cold.record);
    assert_eq!(
        store.read_blob(&layer.record.digest).expect("blob"),
        empty.read_blob(&cold.record.digest).expect("blob")
    );
    assert_eq!(
        Digest::of(&tar_of(store, &layer.record)),
        cold.record.diff_id
    );
}

#[test]
fn prefix_a_layer_resumed_from_a_saved_prefix_equals_a_cold_build() {
    let (_dir, store) = open_store();
    let cold = build(&store, &inputs(), Compression::Gzip, &AtomicUsize::new(0));
    assert_eq!((cold.prefix, cold.decompressed), (0, 0));
    assert_eq!(states(&store).len(), 1, "one state, at the layer's end");
    let makes = AtomicUsize::new(0);
    let warm = build(&store, &inputs(), Compression::Gzip, &makes);
    assert_eq!(
        (warm.prefix, warm.decompressed, warm.reused, warm.made),
        (3, 0, 3, 0)
    );
    assert_eq!(makes.load(Ordering::SeqCst), 0);
    assert_eq!(warm.runs, cold.runs);
    assert_eq!(warm.states.len(), 1);
    assert_cold_equal(&warm, &store, &inputs());
    // A segment added at the end: the rest is the saved prefix, nothing decompressed.
    let mut more = inputs();
    more.push(small_segment("added.txt"));
    let added = build(&store, &more, Compression::Gzip, &AtomicUsize::new(0));
    assert_eq!((added.prefix, added.decompressed, added.made), (3, 0, 1));
    assert_cold_equal(&added, &store, &more);
    // And zstd layers resume the same way.
    let zstd = build(&store, &inputs(), Compression::Zstd, &AtomicUsize::new(0));
    let again = build(&store, &inputs(), Compression::Zstd, &AtomicUsize::new(0));
    assert_eq!((again.prefix, again.decompressed), (3, 0));
    assert_eq!(again.record, zstd.record);
}

#[test]
fn prefix_inserting_a_segment_resumes_the_prefix_before_it() {
    let (_dir, store) = open_store();
    // A state is saved after the big segment (over 8 MiB of tar) and at the end.
    let big = big_segment("big.bin", 9 << 20);
    let layer = vec![
        small_segment("a.txt"),
        big.clone(),
        small_segment("c.txt"),
        small_segment("d.txt"),
    ];
    let cold = build(&store, &layer, Compression::Gzip, &AtomicUsize::new(0));
    assert_eq!(states(&store).len(), 2, "{:?}", states(&store));
    let mut inserted = layer.clone();
    inserted.insert(2, small_segment("b.txt"));
    let makes = AtomicUsize::new(0);
    let added = build(&store, &inserted, Compression::Gzip, &makes);
    assert_eq!(
        (added.prefix, added.decompressed, added.made),
        (2, 2, 1),
        "a and big from the prefix; c and d decompressed; b made"
    );
    assert_eq!(makes.load(Ordering::SeqCst), 1);
    assert_ne!(added.record, cold.record);
    assert_cold_equal(&added, &store, &inserted);
    // Inserting before the big segment leaves no saved prefix to resume.
    let mut first = layer.clone();
    first.insert(0, small_segment("0.txt"));
    let early = build(&store, &first, Compression::Gzip, &AtomicUsize::new(0));
    assert_eq!((early.prefix, early.decompressed, early.made), (0, 4, 1));
    assert_cold_equal(&early, &store, &first);
}

#[test]
fn prefix_a_damaged_state_is_ignored() {
    let (_dir, store) = open_store();
    let cold = build(&store, &inputs(), Compression::Gzip, &AtomicUsize::new(0));
    let [name] = states(&store).try_into().expect("one state");
    let path = store.root().join("segments").join(name);
    let good = fs::read(&path).expect("state");
    let state: PrefixState = serde_json::from_slice(&good).expect("json");
    let mut damaged = vec![
        b"{not json".to_vec(),
        Vec::new(),
        serde_json::to_vec(&PrefixState {
            segments: 2,
            ..state.clone()
        })
        .expect("json"),
        serde_json::to_vec(&PrefixState {
            layer_len: state.layer_len + 1,
            ..state.clone()
        })
        .expect("json"),
        serde_json::to_vec(&PrefixState {
            diff_len: state.diff_len + 512,
            ..state.clone()
        })
        .expect("json"),
        serde_json::to_vec(&PrefixState {
            layer_words: "00".repeat(31),
            ..state.clone()
        })
        .expect("json"),
    ];
    for bytes in damaged.drain(..) {
        fs::write(&path, &bytes).expect("damage");
        let warm = build(&store, &inputs(), Compression::Gzip, &AtomicUsize::new(0));
        assert_eq!((warm.prefix, warm.decompressed), (0, 3));
        assert_eq!(
            warm.record,
            cold.record,
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        assert_eq!(fs::read(&path).expect("state"), good, "saved again");
    }
    // An unreadable state (a directory in its place) is ignored too.
    fs::remove_file(&path).expect("remove");
    fs::create_dir(&path).expect("dir");
    let warm = build(&store, &inputs(), Compression::Gzip, &AtomicUsize::new(0));
    assert_eq!((warm.prefix, warm.record), (0, cold.record.clone()));
    // What cannot be checked is trusted like a layer record: the state words. Forged
    // words give a digest that does not match the bytes (documented on
    // `PrefixState`); here the words of another prefix are refused by their lengths.
    fs::remove_dir(&path).expect("remove");
    let other = build(
        &store,
        &inputs()[..2],
        Compression::Gzip,
        &AtomicUsize::new(0),
    );
    assert_ne!(other.record, cold.record);
    let other_state = states(&store)
        .into_iter()
        .map(|name| store.root().join("segments").join(name))
        .find(|p| p != &path)
        .expect("the shorter layer's state");
    fs::copy(&other_state, &path).expect("copy");
    let warm = build(&store, &inputs(), Compression::Gzip, &AtomicUsize::new(0));
    // The copy under the longer chain is ignored; the shorter layer's own state is
    // a true prefix of this layer and is resumed.
    assert_eq!((warm.prefix, warm.decompressed), (2, 1));
    assert_eq!(warm.record, cold.record);
}

#[test]
fn prefix_a_tampered_run_in_the_prefix_is_caught() {
    let (_dir, store) = open_store();
    let cold = build(&store, &inputs(), Compression::Gzip, &AtomicUsize::new(0));
    let (run, path) = tamper_run(&store, &cold.runs[1]);
    let makes = AtomicUsize::new(0);
    let again = build(&store, &inputs(), Compression::Gzip, &makes);
    assert_eq!(again.prefix, 0, "the prefix was given up");
    assert_eq!((again.made, makes.load(Ordering::SeqCst)), (1, 1));
    assert_eq!(
        again.record, cold.record,
        "the tampered bytes were not shipped"
    );
    assert_cold_equal(&again, &store, &inputs());
    assert_eq!(Digest::of(&fs::read(&path).expect("run")), run.digest);
    let warm = build(&store, &inputs(), Compression::Gzip, &AtomicUsize::new(0));
    assert_eq!((warm.prefix, warm.record), (3, cold.record));
}
