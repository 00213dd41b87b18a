//! `packages.txt` timings against the archive this host's apt uses, side by side
//! with apt and an `mmdebstrap`-style extraction of the same `.deb`s:
//!
//! - `airlock lock` (indices cached in the store after the first run),
//! - `airlock build` with every `.deb` in the store but the Debian layer not built
//!   (install + dpkg database + deterministic tar + gzip), and fully reused,
//! - `apt-get install -s --no-install-recommends` of the same list against the
//!   base's dpkg status (the host's apt lists, same archive),
//! - `dpkg-deb -x` of every locked `.deb` into one directory.
//!
//! - peak RSS of the layer build (`/usr/bin/time -v`), and `dpkg-deb -x` followed by
//!   `tar -c | gzip -6` of the result (the layer's anchor).
//!
//! The base is the minbase root filesystem the end-to-end test makes (mmdebstrap).
//! `AIRLOCK_BENCH_PACKAGES` replaces the list (e.g. `openjdk-17-jre-headless`, whose
//! layer is about 300 MB of tar).
//! Run: `cargo bench --bench debian` (needs the archive once, then its cache).

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use airlock::digest::Digest;

/// A list that pulls about 60 packages onto a minbase bookworm.
const PACKAGES: &str = "git jq curl openssh-client krb5-user unixodbc libpq5 python3\n";

fn main() {
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debian-e2e");
    std::fs::create_dir_all(&work).expect("mkdir");
    let layout = support::host_debian::minbase_layout();
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("dags")).expect("mkdir");
    std::fs::write(project.join("Dockerfile"), "FROM e2e/minbase:bookworm\n").expect("write");
    let packages = std::env::var("AIRLOCK_BENCH_PACKAGES").unwrap_or_else(|_| PACKAGES.into());
    std::fs::write(project.join("packages.txt"), &packages).expect("write");
    let cache = work.join(if packages == PACKAGES {
        "bench-store".to_string()
    } else {
        format!("bench-store-{}", Digest::of(packages.as_bytes()).hex())
    });
    let (p, c, l) = (
        project.to_string_lossy().into_owned(),
        cache.to_string_lossy().into_owned(),
        layout.to_string_lossy().into_owned(),
    );
    let common = ["--cache-dir", &c, "--base-layout", &l, "-q"];
    let airlock = |command: &str, extra: &[&str]| {
        let mut args = vec![command, p.as_str()];
        args.extend_from_slice(&common);
        args.extend_from_slice(extra);
        let start = Instant::now();
        let out = support::airlock(&args, dir.path(), &[]);
        assert!(out.status.success(), "{}", support::stderr(&out));
        start.elapsed().as_secs_f64()
    };

    let first_lock = airlock("lock", &[]);
    let mut locks = Vec::new();
    for _ in 0..3 {
        locks.push(airlock("lock", &[]));
    }
    let lock = std::fs::read_to_string(project.join("airlock.lock")).expect("lock");
    let debs: Vec<(String, String)> = lock
        .split("[[debs]]")
        .skip(1)
        .filter_map(|block| {
            let field = |name: &str| {
                block.lines().find_map(|l| {
                    l.strip_prefix(&format!("{name} = \""))
                        .map(|v| v.trim_end_matches('"').to_string())
                })
            };
            Some((field("name")?, field("sha256")?))
        })
        .collect();

    airlock("build", &["--locked"]); // fills the store with the .debs
    let mut fresh_layer = Vec::new();
    for _ in 0..3 {
        for entry in std::fs::read_dir(cache.join("layers"))
            .expect("layers")
            .flatten()
        {
            let _ = std::fs::remove_file(entry.path());
        }
        fresh_layer.push(airlock("build", &["--locked"]));
    }
    // Once more under /usr/bin/time -v, for the peak RSS of a layer build.
    for entry in std::fs::read_dir(cache.join("layers"))
        .expect("layers")
        .flatten()
    {
        let _ = std::fs::remove_file(entry.path());
    }
    let timed = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_airlock"))
        .args(["build", p.as_str()])
        .args(common)
        .arg("--locked")
        .current_dir(dir.path())
        .output()
        .expect("/usr/bin/time");
    assert!(timed.status.success(), "{}", support::stderr(&timed));
    let peak_kb = String::from_utf8_lossy(&timed.stderr)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let mut reused = Vec::new();
    for _ in 0..3 {
        reused.push(airlock("build", &["--frozen"]));
    }

    // apt's resolution of the same list over the same base (its dpkg status).
    let status = dir.path().join("status");
    let tar = work.join("minbase.tar");
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(&tar)
        .arg("./var/lib/dpkg/status")
        .output()
        .expect("tar");
    std::fs::write(&status, &out.stdout).expect("status");
    let names: Vec<&str> = PACKAGES.split_whitespace().collect();
    let mut apt = Vec::new();
    let mut apt_count = 0;
    for _ in 0..3 {
        let start = Instant::now();
        let out = Command::new("apt-get")
            .args(["install", "-s", "--no-install-recommends", "-q"])
            .arg(format!("-oDir::State::status={}", status.display()))
            .args(&names)
            .output()
            .expect("apt-get");
        apt.push(start.elapsed().as_secs_f64());
        apt_count = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("Inst "))
            .count();
    }

    // mmdebstrap-style extraction: dpkg-deb -x of every locked .deb.
    let mut extract = Vec::new();
    for _ in 0..3 {
        let target = tempfile::tempdir().expect("tempdir");
        let start = Instant::now();
        for (_, sha) in &debs {
            let blob = cache
                .join("blobs/sha256")
                .join(sha.trim_start_matches("sha256:"));
            let ok = Command::new("dpkg-deb")
                .arg("-x")
                .arg(&blob)
                .arg(target.path())
                .status()
                .expect("dpkg-deb");
            assert!(ok.success());
        }
        extract.push(start.elapsed().as_secs_f64());
    }
    // The layer's anchor: dpkg-deb -x of every .deb, then tar -c | gzip -6.
    let mut extract_gzip = Vec::new();
    for _ in 0..3 {
        let target = tempfile::tempdir().expect("tempdir");
        let start = Instant::now();
        for (_, sha) in &debs {
            let blob = cache
                .join("blobs/sha256")
                .join(sha.trim_start_matches("sha256:"));
            let ok = Command::new("dpkg-deb")
                .arg("-x")
                .arg(&blob)
                .arg(target.path())
                .status()
                .expect("dpkg-deb");
            assert!(ok.success());
        }
        let ok = Command::new("sh")
            .arg("-c")
            .arg("tar -c -C \"$0\" . | gzip -6 > \"$0.tar.gz\"")
            .arg(target.path())
            .status()
            .expect("tar | gzip");
        assert!(ok.success());
        extract_gzip.push(start.elapsed().as_secs_f64());
        let _ = std::fs::remove_file(format!("{}.tar.gz", target.path().display()));
    }

    let best = |v: &[f64]| v.iter().cloned().fold(f64::INFINITY, f64::min);
    println!("packages.txt: {}", packages.trim());
    println!(
        "airlock resolved {} packages; apt-get -s installs {apt_count}",
        debs.len()
    );
    println!("airlock lock, first run (indices fetched): {first_lock:.3} s");
    println!(
        "airlock lock, indices cached:            {:.3} s (best of 3)",
        best(&locks)
    );
    println!(
        "apt-get install -s (same list, base's status): {:.3} s (best of 3)",
        best(&apt)
    );
    println!(
        "airlock build, .debs cached, layer built: {:.3} s (best of 3)",
        best(&fresh_layer)
    );
    println!(
        "airlock build, layer reused (--frozen):   {:.3} s (best of 3)",
        best(&reused)
    );
    println!(
        "dpkg-deb -x of the same {} .debs:        {:.3} s (best of 3)",
        debs.len(),
        best(&extract)
    );
    println!(
        "dpkg-deb -x + tar -c | gzip -6:            {:.3} s (best of 3)",
        best(&extract_gzip)
    );
    println!(
        "airlock build peak RSS (layer built):      {:.1} MB",
        peak_kb as f64 / 1024.0
    );
}
