//! The time of a cold build of the bundled quickstart (empty store), and of a rebuild,
//! output written, after one DAG file changed in a project with 1,000 DAG files. Only
//! the DAG layer, the config and the manifest may be redone on a rebuild; no unchanged
//! blob is copied or recompressed.
//!
//! Run: `cargo bench --bench rebuild`. To compare with another airlock binary (e.g. a
//! release build of an older commit) in the same run, set
//! `AIRLOCK_BENCH_BASELINE=/path/to/airlock`: both are measured, rounds interleaved.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const ROUNDS: usize = 21;

struct Figures {
    cold_quickstart: Vec<f64>,
    first_build: f64,
    rebuild: Vec<f64>,
    no_change: f64,
}

fn run(bin: &Path, args: &[&str]) -> f64 {
    let start = Instant::now();
    let output = Command::new(bin).args(args).output().expect("airlock");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    start.elapsed().as_secs_f64()
}

fn copy_quickstart(root: &Path, to: &Path) {
    let status = Command::new("cp")
        .args(["-r"])
        .arg(root.join("examples/quickstart"))
        .arg(to)
        .status()
        .expect("cp");
    assert!(status.success());
    let _ = std::fs::remove_dir_all(to.join(".airlock"));
}

/// One cold build of the quickstart: a fresh copy, an empty store.
fn cold_quickstart(bin: &Path, root: &Path, base: &str) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("project");
    copy_quickstart(root, &project);
    let cache = dir.path().join("cache");
    let (p, c) = (project.to_string_lossy(), cache.to_string_lossy());
    run(
        bin,
        &["build", &p, "--cache-dir", &c, "--base-layout", base, "-q"],
    )
}

/// A project of 1,000 DAGs, built once, then rebuilt after each one-DAG edit.
struct Thousand {
    _dir: tempfile::TempDir,
    project: PathBuf,
    args: Vec<String>,
}

impl Thousand {
    fn new(root: &Path, base: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = dir.path().join("project");
        copy_quickstart(root, &project);
        for i in 0..1000 {
            let text = format!(
                "from datetime import datetime\nfrom airflow.sdk import dag, task\n\n@dag(schedule=None, start_date=datetime(2025, 1, 1), tags=['bench'])\ndef generated_{i}():\n    @task\n    def work():\n        return {i}\n    work()\n\ngenerated_{i}()\n"
            );
            std::fs::write(project.join(format!("dags/generated_{i:04}.py")), text).expect("write");
        }
        let cache = dir.path().join("cache");
        let args = vec![
            "build".to_string(),
            project.to_string_lossy().into_owned(),
            "--cache-dir".into(),
            cache.to_string_lossy().into_owned(),
            "--base-layout".into(),
            base.to_string(),
            "-q".into(),
        ];
        Self {
            _dir: dir,
            project,
            args,
        }
    }

    fn build(&self, bin: &Path) -> f64 {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        run(bin, &args)
    }

    fn edit(&self, round: usize) {
        std::fs::write(
            self.project.join("dags/generated_0500.py"),
            format!("# round {round}\n"),
        )
        .expect("write");
    }
}

fn median(times: &[f64]) -> (f64, f64, f64) {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    (
        sorted[sorted.len() / 2],
        sorted[0],
        sorted[sorted.len() - 1],
    )
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let base = root.join("fixtures/runtime-base");
    let base = base.to_string_lossy();
    let mut bins = vec![("this build", PathBuf::from(env!("CARGO_BIN_EXE_airlock")))];
    if let Some(other) = std::env::var_os("AIRLOCK_BENCH_BASELINE") {
        bins.push(("baseline", PathBuf::from(other)));
    }
    let projects: Vec<Thousand> = bins.iter().map(|_| Thousand::new(&root, &base)).collect();
    let mut figures: Vec<Figures> = bins
        .iter()
        .zip(&projects)
        .map(|((_, bin), project)| Figures {
            cold_quickstart: Vec::new(),
            first_build: project.build(bin),
            rebuild: Vec::new(),
            no_change: 0.0,
        })
        .collect();
    for round in 0..ROUNDS {
        // Which binary goes first alternates, so neither always runs on a warmer cache.
        let mut order: Vec<usize> = (0..bins.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let bin = &bins[i].1;
            figures[i]
                .cold_quickstart
                .push(cold_quickstart(bin, &root, &base));
            projects[i].edit(round);
            figures[i].rebuild.push(projects[i].build(bin));
        }
    }
    for (((name, bin), project), figures) in bins.iter().zip(&projects).zip(&mut figures) {
        figures.no_change = project.build(bin);
        let (cold, cold_min, cold_max) = median(&figures.cold_quickstart);
        let (re, re_min, re_max) = median(&figures.rebuild);
        println!("{name} ({}):", bin.display());
        println!(
            "  cold build of the quickstart, empty store: median {cold:.3} s (min {cold_min:.3}, max {cold_max:.3}, {ROUNDS} runs)"
        );
        println!("  first build (1,000 DAGs): {:.3} s", figures.first_build);
        println!(
            "  rebuild after one DAG change, output written: median {re:.3} s (min {re_min:.3}, max {re_max:.3}, {ROUNDS} runs)"
        );
        println!("  no-change rebuild: {:.3} s", figures.no_change);
    }
}
