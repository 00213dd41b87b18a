//! The registry layer cache on loopback (issue 16): for each project, runner A's
//! cold build (empty store, `--cache-to`), a warm local rebuild in A's store, and
//! runner B's build (another empty store, `--cache-from`), B's with `--push` to the
//! same registry too. Goal: B within 1.5x of the warm local rebuild.
//!
//! "Warm local" is a fresh checkout built on A's store (the same work as B's, the
//! registry aside); the no-change rebuild of A's own checkout is printed too.
//!
//! Projects: the bundled quickstart (project and DAG layers) and, when its files are
//! there, a project of ~135 wheels (Airflow providers and numpy, as the real-index
//! test `python_real` locks it): `project/` (with `airlock.lock`), `store/blobs/sha256/`
//! holding its wheels and `base-layout/` (that test's Debian + Python base) under
//! `target/tmp/bench-airflow` (copy them from `target/tmp/python-real`: `e2e`, the
//! wheels its lock names from `store`, `base-layout`). A's store is seeded with the
//! wheels, so A's cold build makes the layers but downloads nothing, and no run needs
//! the network.
//!
//! Run: `cargo bench --bench registry_cache`. A Debian `docker-registry` binary is
//! needed (`AIRLOCK_BENCH_REGISTRY` overrides `/usr/bin/docker-registry`);
//! `AIRLOCK_BENCH_BIN` measures another airlock binary; `AIRLOCK_BENCH_AIRFLOW` and
//! `AIRLOCK_BENCH_AIRFLOW_BASE` move the wheel project and its base.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 5;

struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .expect("config");
        let binary = std::env::var_os("AIRLOCK_BENCH_REGISTRY")
            .map_or_else(|| PathBuf::from("/usr/bin/docker-registry"), PathBuf::from);
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the registry does not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn run(bin: &Path, args: &[&str]) -> f64 {
    let start = Instant::now();
    let output = Command::new(bin).args(args).output().expect("airlock");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    start.elapsed().as_secs_f64()
}

fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(status.success());
    let _ = std::fs::remove_dir_all(to.join(".airlock"));
}

/// A project to measure: its sources (with or without a lock), its base layout, and
/// a store to seed each runner A's store from (wheels), if any.
struct Case {
    name: &'static str,
    project: PathBuf,
    base: PathBuf,
    seed: Option<(PathBuf, Vec<String>)>,
}

impl Case {
    /// A fresh copy of the project in `dir`, and a store there (seeded for A).
    fn checkout(&self, dir: &Path, seeded: bool) -> (PathBuf, PathBuf) {
        let project = dir.join("project");
        copy_tree(&self.project, &project);
        let store = dir.join("store");
        if let (true, Some((from, blobs))) = (seeded, &self.seed) {
            let target = store.join("blobs/sha256");
            std::fs::create_dir_all(&target).expect("mkdir");
            for hex in blobs {
                let source = from.join("blobs/sha256").join(hex);
                // Copied, not linked: the seed store's files stay untouched.
                std::fs::copy(&source, target.join(hex)).expect("seed a wheel");
            }
        }
        (project, store)
    }

    fn args<'a>(&'a self, project: &'a str, store: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "build",
            project,
            "--cache-dir",
            store,
            "--base-layout",
            self.base.to_str().expect("utf-8"),
            "-q",
        ];
        args.extend_from_slice(extra);
        args
    }
}

/// Gives runner B's store the base (its blobs linked from A's store, its facts
/// copied): what is left of B's build is the registry cache's part.
fn seed_base(case: &Case, store_a: &Path, store_b: &Path) {
    let target = store_b.join("blobs/sha256");
    std::fs::create_dir_all(&target).expect("mkdir");
    let layout_blobs = std::fs::read_dir(case.base.join("blobs/sha256")).expect("base blobs");
    for entry in layout_blobs {
        let name = entry.expect("entry").file_name();
        let source = store_a.join("blobs/sha256").join(&name);
        if source.exists() {
            std::fs::hard_link(&source, target.join(&name)).expect("link a base blob");
        }
    }
    copy_tree(&store_a.join("bases"), &store_b.join("bases"));
}

/// The wheels a lock pins, as store blob names.
fn locked_wheels(lock: &str) -> Vec<String> {
    let mut wheels = Vec::new();
    let mut in_wheel = false;
    for line in lock.lines() {
        if line.starts_with("[[") {
            in_wheel = line == "[[wheels]]";
        } else if in_wheel && let Some(value) = line.strip_prefix("sha256 = \"sha256:") {
            wheels.push(value.trim_end_matches('"').to_string());
        }
    }
    wheels
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn measure(bin: &Path, registry: &Registry, case: &Case) {
    let cache = format!("{}/cache-{}", registry.address(), case.name);
    let runner_a = tempfile::tempdir().expect("tempdir");
    let (project_a, store_a) = case.checkout(runner_a.path(), true);
    let (pa, sa) = (project_a.to_string_lossy(), store_a.to_string_lossy());
    let cold = run(bin, &case.args(&pa, &sa, &["--cache-to", &cache]));
    let mut no_change: Vec<f64> = (0..ROUNDS)
        .map(|_| run(bin, &case.args(&pa, &sa, &["--locked"])))
        .collect();
    // A fresh checkout on A's warm store: the same work as B's but the registry's.
    let mut warm: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let checkout = tempfile::tempdir().expect("tempdir");
            let (project, _) = case.checkout(checkout.path(), false);
            std::fs::copy(project_a.join("airlock.lock"), project.join("airlock.lock"))
                .expect("A's lock");
            run(
                bin,
                &case.args(&project.to_string_lossy(), &sa, &["--locked"]),
            )
        })
        .collect();
    let mut from_cache = Vec::new();
    let mut with_push = Vec::new();
    let mut base_kept = Vec::new();
    for round in 0..ROUNDS {
        for (push, keep_base) in [(false, false), (true, false), (false, true)] {
            let runner_b = tempfile::tempdir().expect("tempdir");
            let (project_b, store_b) = case.checkout(runner_b.path(), false);
            if keep_base {
                seed_base(case, &store_a, &store_b);
            }
            std::fs::copy(
                project_a.join("airlock.lock"),
                project_b.join("airlock.lock"),
            )
            .expect("A's lock");
            let (pb, sb) = (project_b.to_string_lossy(), store_b.to_string_lossy());
            let target = format!("{}/app-{}:{round}", registry.address(), case.name);
            let mut extra = vec!["--locked", "--cache-from", cache.as_str()];
            if push {
                extra.extend(["--push", target.as_str()]);
            }
            let time = run(bin, &case.args(&pb, &sb, &extra));
            match (push, keep_base) {
                (true, _) => with_push.push(time),
                (false, true) => base_kept.push(time),
                (false, false) => from_cache.push(time),
            }
        }
    }
    let (no_change, warm, b, b_push, b_base) = (
        median(&mut no_change),
        median(&mut warm),
        median(&mut from_cache),
        median(&mut with_push),
        median(&mut base_kept),
    );
    println!("{}:", case.name);
    println!("  runner A, cold (empty store, --cache-to):      {cold:.3} s");
    println!(
        "  no-change rebuild (A's checkout and store):    {no_change:.3} s (median of {ROUNDS})"
    );
    println!("  warm local (fresh checkout, A's store):        {warm:.3} s (median of {ROUNDS})");
    println!(
        "  runner B (empty store, --cache-from):          {b:.3} s (median of {ROUNDS}), {:.2}x warm local",
        b / warm
    );
    println!(
        "  runner B with --push to the same registry:     {b_push:.3} s (median of {ROUNDS}), {:.2}x warm local",
        b_push / warm
    );
    println!(
        "  runner B, the base already in its store:       {b_base:.3} s (median of {ROUNDS}), {:.2}x warm local",
        b_base / warm
    );
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = std::env::var_os("AIRLOCK_BENCH_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_airlock")),
        PathBuf::from,
    );
    println!("airlock: {}", bin.display());
    let registry = Registry::start();
    let quickstart = Case {
        name: "quickstart",
        project: root.join("examples/quickstart"),
        base: root.join("fixtures/runtime-base"),
        seed: None,
    };
    measure(&bin, &registry, &quickstart);

    let tmp = root.join("target/tmp");
    let airflow = std::env::var_os("AIRLOCK_BENCH_AIRFLOW")
        .map_or_else(|| tmp.join("bench-airflow"), PathBuf::from);
    let base = std::env::var_os("AIRLOCK_BENCH_AIRFLOW_BASE")
        .map_or_else(|| airflow.join("base-layout"), PathBuf::from);
    let lock = std::fs::read_to_string(airflow.join("project/airlock.lock"));
    match lock {
        Ok(lock) if base.is_dir() => {
            let wheels = locked_wheels(&lock);
            println!("(the wheel project: {} wheels)", wheels.len());
            let case = Case {
                name: "airflow",
                project: airflow.join("project"),
                base,
                seed: Some((airflow.join("store"), wheels)),
            };
            measure(&bin, &registry, &case);
        }
        _ => println!(
            "SKIP the Airflow project: no `{}` (see the bench's note)",
            airflow.join("project/airlock.lock").display()
        ),
    }
}
