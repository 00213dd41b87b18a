//! Deflate candidates for layer bytes, measured on real layer tar bytes in one run:
//! each compresses the same 4 MiB members (airlock's member size) at level 6 on one
//! core, then on every core; the figures are MB/s of tar per core, MB/s on all
//! cores and the compressed size. `gzip -6` of the whole tar is the anchor.
//!
//! Input: `AIRLOCK_BENCH_TAR` (a layer tar, e.g. a Python layer decompressed with
//! `zcat`), default `target/tmp/perf/python-layer.tar`; without it, 200 MB of
//! generated site-packages-like bytes.
//!
//! zlib-ng 2.3.3 (`libz-ng-sys` 1.1.33, which needs cmake to build) was measured
//! once in this bench too, in the run the README quotes: 12.6 MB/s per core with 11
//! other processes on 2 cores (miniz_oxide 6.3, zlib-rs 13.8, libdeflate 19.0),
//! 54.64 MB (the same bytes as zlib-rs, which ports its algorithms), so it is left
//! out to keep cmake out of the dev dependencies.
//!
//! Run: `cargo bench --bench compressors`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

const MEMBER: usize = 4 << 20;
const LEVEL: i32 = 6;

fn input() -> (String, Vec<u8>) {
    let path = std::env::var_os("AIRLOCK_BENCH_TAR").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("perf/python-layer.tar"),
        PathBuf::from,
    );
    match std::fs::read(&path) {
        Ok(bytes) => (path.display().to_string(), bytes),
        Err(_) => ("generated".into(), generated(200_000_000)),
    }
}

fn generated(len: usize) -> Vec<u8> {
    let words: [&[u8]; 6] = [
        b"airflow ",
        b"import ",
        b"def ",
        b"\n    ",
        b"task_id=",
        b"x",
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
        let r = (state >> 33) as usize;
        if r.is_multiple_of(4) {
            out.extend_from_slice(&state.to_le_bytes());
        } else {
            out.extend_from_slice(words[r % words.len()]);
        }
    }
    out.truncate(len);
    out
}

fn miniz(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec(data, LEVEL as u8)
}

fn zlib_rs(data: &[u8]) -> Vec<u8> {
    let config = zlib_rs::DeflateConfig {
        level: LEVEL,
        window_bits: -15,
        ..Default::default()
    };
    let mut out = vec![0u8; zlib_rs::compress_bound(data.len()) + 64];
    let (written, rc) = zlib_rs::compress_slice(&mut out, data, config);
    assert_eq!(rc, zlib_rs::ReturnCode::Ok);
    let n = written.len();
    out.truncate(n);
    out
}

fn libdeflate(data: &[u8]) -> Vec<u8> {
    let mut c =
        libdeflater::Compressor::new(libdeflater::CompressionLvl::new(LEVEL).expect("level"));
    let mut out = vec![0u8; c.deflate_compress_bound(data.len())];
    let n = c.deflate_compress(data, &mut out).expect("deflate");
    out.truncate(n);
    out
}

fn zstd3(data: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(data, 3).expect("zstd")
}

/// Decodes a raw deflate stream, to check every candidate round-trips.
fn check(name: &str, member: &[u8], original: &[u8]) {
    let mut out = Vec::new();
    if name.starts_with("zstd") {
        out = zstd::bulk::decompress(member, original.len()).expect("zstd decode");
    } else {
        let mut d = flate2::write::DeflateDecoder::new(&mut out);
        d.write_all(member).expect("inflate");
        d.finish().expect("inflate");
    }
    assert!(out == original, "{name} does not round-trip");
}

type Candidate = (&'static str, fn(&[u8]) -> Vec<u8>);

fn main() {
    let (source, data) = input();
    let mb = data.len() as f64 / 1e6;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("input: {source}, {mb:.1} MB, {cores} cores, members of 4 MiB, level {LEVEL}");
    let chunks: Vec<&[u8]> = data.chunks(MEMBER).collect();
    let candidates: [Candidate; 4] = [
        ("miniz_oxide 0.9.1 (before)", miniz),
        ("zlib-rs 0.6.8 (zlib-ng port)", zlib_rs),
        ("libdeflate 1.26.1 (chosen)", libdeflate),
        ("zstd -3 (reference)", zstd3),
    ];
    println!(
        "{:<36} {:>12} {:>14} {:>12}",
        "candidate", "MB/s/core", "MB/s all", "size MB"
    );
    for (name, f) in &candidates {
        check(name, &f(chunks[0]), chunks[0]);
        let start = Instant::now();
        let size: usize = chunks.iter().map(|c| f(c).len() + 18).sum();
        let one = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..cores {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(c) = chunks.get(i) else { break };
                        std::hint::black_box(f(c));
                    }
                });
            }
        });
        let all = start.elapsed().as_secs_f64();
        println!(
            "{name:<36} {:>12.1} {:>14.1} {:>12.2}",
            mb / one,
            mb / all,
            size as f64 / 1e6
        );
    }
    let start = Instant::now();
    let mut gzip = Command::new("gzip")
        .arg("-6")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    let mut stdin = gzip.stdin.take().expect("stdin");
    let feed = std::thread::spawn(move || stdin.write_all(&data));
    let out = gzip.wait_with_output().expect("gzip");
    feed.join().expect("feed").expect("feed");
    let t = start.elapsed().as_secs_f64();
    println!(
        "{:<36} {:>12.1} {:>14} {:>12.2}",
        "anchor: gzip -6 (whole tar)",
        mb / t,
        "-",
        out.stdout.len() as f64 / 1e6
    );
}
