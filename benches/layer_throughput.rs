//! Layer writing throughput for a ~200 MB tree, side by side with `tar -c | gzip -6`
//! of the same tree in the same run.
//!
//! Run: `cargo bench --bench layer_throughput` (prints MB/s of input for both).

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use airlock::digest::Digest;
use airlock::layer::{Entry, EntryKind, FileSource, FileTree, Owner, build_layer};
use airlock::store::Store;

/// Deterministic pseudo-random bytes that compress roughly like source and data files.
fn content(seed: u64, len: usize) -> Vec<u8> {
    let words: [&[u8]; 8] = [
        b"airflow ",
        b"dag ",
        b"task_id=",
        b"0123456789",
        b"\n    ",
        b"import ",
        b"def ",
        b"return ",
    ];
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = (state >> 33) as usize;
        if r.is_multiple_of(5) {
            out.extend_from_slice(&state.to_le_bytes());
        } else {
            out.extend_from_slice(words[r % words.len()]);
        }
    }
    out.truncate(len);
    out
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tree_dir = dir.path().join("tree");
    let mut tree = FileTree::new();
    let mut total = 0u64;
    let mut i = 0u64;
    // 200 MB: many small files plus some large ones, like a site-packages.
    while total < 200_000_000 {
        let size = if i.is_multiple_of(50) {
            4_000_000
        } else {
            20_000 + (i as usize * 7919) % 60_000
        };
        let rel = format!("pkg{:03}/mod{:05}.py", i % 300, i);
        let path = tree_dir.join(&rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let bytes = content(i, size);
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(&bytes))
            .expect("write");
        tree.insert(
            &rel,
            Entry {
                kind: EntryKind::File {
                    source: FileSource::Host(path),
                    size: size as u64,
                    sha256: Digest::of(&bytes),
                },
                mode: 0o644,
                owner: Owner::ROOT,
            },
        )
        .expect("insert");
        total += size as u64;
        i += 1;
    }
    tree.add_parents(|_| (0o755, Owner::ROOT));
    let mb = total as f64 / 1e6;
    println!("tree: {i} files, {mb:.1} MB");

    let store = Store::open(dir.path().join("store")).expect("store");
    let start = Instant::now();
    let (record, _) = build_layer(&store, &tree, "bench", 0).expect("layer");
    let ours = start.elapsed().as_secs_f64();
    println!(
        "airlock layer: {ours:.2} s, {:.1} MB/s of input, {:.1} MB compressed",
        mb / ours,
        record.size as f64 / 1e6
    );

    let start = Instant::now();
    let status = Command::new("sh")
        .arg("-c")
        .arg("tar -c -C \"$0\" . | gzip -6 > \"$1\"")
        .arg(&tree_dir)
        .arg(dir.path().join("ref.tar.gz"))
        .status()
        .expect("tar | gzip");
    assert!(status.success());
    let theirs = start.elapsed().as_secs_f64();
    let size = std::fs::metadata(dir.path().join("ref.tar.gz"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "tar -c | gzip -6: {theirs:.2} s, {:.1} MB/s of input, {:.1} MB compressed",
        mb / theirs,
        size as f64 / 1e6
    );
}
