//! The time of a rebuild, output written, after one DAG file changed in a project
//! with 1,000 DAG files. Only the DAG layer, the config and the manifest may be
//! redone; no unchanged blob is copied or recompressed.
//!
//! Run: `cargo bench --bench rebuild`.

use std::process::Command;
use std::time::Instant;

fn airlock(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .output()
        .expect("airlock")
}

fn main() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("project");
    let status = Command::new("cp")
        .args(["-r"])
        .arg(root.join("examples/quickstart"))
        .arg(&project)
        .status()
        .expect("cp");
    assert!(status.success());
    let _ = std::fs::remove_dir_all(project.join(".airlock"));
    for i in 0..1000 {
        let text = format!(
            "from datetime import datetime\nfrom airflow.sdk import dag, task\n\n@dag(schedule=None, start_date=datetime(2025, 1, 1), tags=['bench'])\ndef generated_{i}():\n    @task\n    def work():\n        return {i}\n    work()\n\ngenerated_{i}()\n"
        );
        std::fs::write(project.join(format!("dags/generated_{i:04}.py")), text).expect("write");
    }
    let cache = dir.path().join("cache");
    let base = root.join("fixtures/runtime-base");
    let (p, c, b) = (
        project.to_string_lossy(),
        cache.to_string_lossy(),
        base.to_string_lossy(),
    );
    let args = ["build", &p, "--cache-dir", &c, "--base-layout", &b, "-q"];
    let start = Instant::now();
    assert!(airlock(&args).status.success());
    println!(
        "first build (1,000 DAGs): {:.3} s",
        start.elapsed().as_secs_f64()
    );

    let mut times = Vec::new();
    for round in 0..7 {
        std::fs::write(
            project.join("dags/generated_0500.py"),
            format!("# round {round}\n"),
        )
        .expect("write");
        let start = Instant::now();
        let output = airlock(&args);
        assert!(output.status.success());
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "rebuild after one DAG change, output written: median {:.3} s (min {:.3}, max {:.3}, 7 runs)",
        times[3], times[0], times[6]
    );
    let start = Instant::now();
    assert!(airlock(&args).status.success());
    println!("no-change rebuild: {:.3} s", start.elapsed().as_secs_f64());
}
