//! `deploy --dags` end to end (process start to record written) for a project with
//! 1,000 DAG files, against a real registry on loopback: after one DAG changed (a new
//! bundle of all 1,000 files is built, pushed and recorded; goal < 0.5 s) and with
//! nothing changed (a no-op; goal < 0.2 s).
//!
//! Run: `cargo bench --bench deploy` (needs `docker-registry`, as `scripts/test`
//! installs it).

#[allow(unused_imports)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::Instant;

use support::registry::Registry;

fn airlock(project: &std::path::Path, cache: &std::path::Path, args: &[&str]) -> f64 {
    let start = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .arg("--cache-dir")
        .arg(cache)
        .arg("-q")
        .current_dir(project)
        .output()
        .expect("airlock");
    let elapsed = start.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

fn summary(name: &str, mut times: Vec<f64>) {
    times.sort_by(f64::total_cmp);
    println!(
        "{name}: median {:.3} s (min {:.3}, max {:.3}, {} runs)",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        times.len()
    );
}

fn main() {
    let registry = Registry::plain();
    let sandbox = support::Sandbox::quickstart();
    let project = &sandbox.project;
    std::fs::write(
        project.join("airlock.toml"),
        format!(
            "[base.layouts]\n\"astro-runtime\" = \"{}\"\n\n[deployments.bench]\nimage = \"{}/bench/airflow\"\n",
            sandbox.base_layout.display(),
            registry.address()
        ),
    )
    .expect("write");
    for i in 0..1000 {
        let text = format!(
            "from datetime import datetime\nfrom airflow.sdk import dag, task\n\n@dag(schedule=None, start_date=datetime(2025, 1, 1), tags=['bench'])\ndef generated_{i}():\n    @task\n    def work():\n        return {i}\n    work()\n\ngenerated_{i}()\n"
        );
        std::fs::write(project.join(format!("dags/generated_{i:04}.py")), text).expect("write");
    }
    let cache = sandbox.cache.clone();
    // A deploy uses the lock as it is; make it first.
    airlock(project, &cache, &["lock"]);
    let first = airlock(project, &cache, &["deploy", "bench"]);
    println!("first deploy (image + bundle of 1,000 DAGs): {first:.3} s");

    let mut changed = Vec::new();
    for round in 0..7 {
        std::fs::write(
            project.join("dags/generated_0500.py"),
            format!("# round {round}\nx = {round}\n"),
        )
        .expect("write");
        changed.push(airlock(project, &cache, &["deploy", "bench", "--dags"]));
    }
    summary("deploy --dags, one of 1,000 DAGs changed", changed);

    let noop = (0..7)
        .map(|_| airlock(project, &cache, &["deploy", "bench", "--dags"]))
        .collect();
    summary("deploy --dags, nothing changed (no-op)", noop);
}
