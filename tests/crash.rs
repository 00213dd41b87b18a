//! Crash safety (#16 item 6): a build killed with SIGKILL at any moment leaves a
//! project and a store from which the next build gives the same digest as a clean
//! build, and never takes a partial file for a complete one.
//!
//! Two ways to kill: before each rename or link the build makes (where every
//! atomic write commits; `strace` injects the signal at that syscall, so each point
//! is hit for certain), and at random moments (≥ 20 kills).

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::pyindex::{Form, PyIndex, Served, WheelSpec};
use support::{BaseSpec, copy_tree, repo_root, stderr, stdout, write_base};

/// A project (copied from a template, without its lock) and a store, in one temp dir.
struct Scene {
    dir: tempfile::TempDir,
    template: PathBuf,
    base_layout: PathBuf,
    env: Vec<(String, String)>,
}

impl Scene {
    /// The quickstart on the committed Runtime-like base.
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            template: repo_root().join("examples/quickstart"),
            base_layout: repo_root().join("fixtures/runtime-base"),
            env: Vec::new(),
        }
    }

    /// A project with wheels from `wheels` (its template and base layout, its index).
    fn with_wheels(wheels: &Wheels) -> Self {
        Self {
            template: wheels.template.clone(),
            base_layout: wheels.layout.clone(),
            env: vec![("PIP_INDEX_URL".into(), wheels.index.url())],
            ..Self::new()
        }
    }

    fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// A fresh copy of the quickstart, without its lock or state directory.
    fn reset_project(&self) {
        let project = self.project();
        let _ = std::fs::remove_dir_all(&project);
        copy_tree(&self.template, &project);
        let _ = std::fs::remove_dir_all(project.join(".airlock"));
        let _ = std::fs::remove_file(project.join("airlock.lock"));
    }

    fn args(&self) -> Vec<String> {
        vec![
            "build".into(),
            self.project().to_string_lossy().into_owned(),
            "--cache-dir".into(),
            self.store().to_string_lossy().into_owned(),
            "--base-layout".into(),
            self.base_layout.to_string_lossy().into_owned(),
            "-q".into(),
        ]
    }

    /// The build as a command (under `wrapper` when given), with a fixed environment.
    fn command(&self, wrapper: &[String]) -> Command {
        let binary = env!("CARGO_BIN_EXE_airlock").to_string();
        let mut all: Vec<String> = wrapper.to_vec();
        all.push(binary);
        all.extend(self.args());
        let mut command = Command::new(&all[0]);
        command
            .args(&all[1..])
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        command
    }

    /// A complete build: its digest.
    fn build(&self) -> String {
        let output = self.command(&[]).output().expect("run airlock");
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output).trim().to_string()
    }
}

/// A project asking for two wheels from an index on 127.0.0.1, on a generated base.
struct Wheels {
    _dir: tempfile::TempDir,
    template: PathBuf,
    layout: PathBuf,
    index: PyIndex,
}

impl Wheels {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let template = dir.path().join("template");
        std::fs::create_dir_all(template.join("dags")).expect("mkdir");
        std::fs::write(template.join("Dockerfile"), "FROM example/runtime:3.0-1\n").expect("write");
        std::fs::write(template.join("requirements.txt"), "alpha\n").expect("write");
        std::fs::write(template.join("dags/dag.py"), "x = 1\n").expect("write");
        let layout = dir.path().join("base");
        write_base(
            &layout,
            &BaseSpec {
                extra_files: vec![(
                    "var/lib/dpkg/status".into(),
                    "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\n".into(),
                )],
                ..BaseSpec::default()
            },
        );
        let index = PyIndex::start(
            vec![
                Served::wheel(&WheelSpec::pure("alpha", "1.0").requires("beta")),
                Served::wheel(&WheelSpec::pure("beta", "2.0").file("beta/b.py", b"b = 1\n", false)),
            ],
            Form::Json,
            None,
        );
        Self {
            _dir: dir,
            template,
            layout,
            index,
        }
    }
}

/// The digest of a clean build (fresh project, fresh store) and how long it took.
fn clean_build() -> (String, Duration) {
    clean_build_of(&Scene::new())
}

fn clean_build_of(scene: &Scene) -> (String, Duration) {
    scene.reset_project();
    let started = Instant::now();
    let digest = scene.build();
    (digest, started.elapsed())
}

fn strace_works() -> bool {
    Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

const COMMITS: &str = "rename,renameat,renameat2,link,linkat";

/// Kills the build just before its `n`th rename or link; true when the kill came
/// (false: the build made fewer than `n`).
fn build_killed_at_commit(scene: &Scene, n: usize) -> bool {
    let wrapper: Vec<String> = [
        "strace",
        "-f",
        "-qq",
        "-o",
        "/dev/null",
        "-e",
        &format!("trace={COMMITS}"),
        "-e",
        &format!("inject={COMMITS}:signal=KILL:when={n}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let output = scene.command(&wrapper).output().expect("run strace");
    !output.status.success()
}

fn assert_no_partial_named_file(store: &Path) {
    // Every blob under its real name is whole: the next build's `has_blob` would
    // take one dated as checked without hashing it.
    let blobs = store.join("blobs/sha256");
    for entry in std::fs::read_dir(&blobs).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let bytes = std::fs::read(entry.path()).expect("read blob");
        let actual = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&bytes));
        assert_eq!(actual, name, "a blob under its real name is not whole");
    }
}

/// Kills a build of the scene's project before each of its commits in turn (a fresh
/// project and store each time), rebuilds, and compares with a clean build.
fn kill_before_each_commit(new_scene: &dyn Fn() -> Scene) {
    let (clean, _) = clean_build_of(&new_scene());
    let mut kills = 0;
    for n in 1.. {
        let scene = new_scene();
        scene.reset_project();
        if !build_killed_at_commit(&scene, n) {
            // The build completed: it made fewer than `n` commits.
            assert_eq!(scene.build(), clean);
            break;
        }
        kills += 1;
        assert_no_partial_named_file(&scene.store());
        assert_eq!(
            scene.build(),
            clean,
            "the build after a kill before commit {n} gave another digest"
        );
        assert!(n < 500, "the build never completed under strace");
    }
    assert!(kills >= 5, "only {kills} commit points were hit");
}

#[test]
fn item6_a_build_killed_before_each_commit_then_rebuilt_gives_the_clean_digest() {
    if !strace_works() {
        eprintln!("SKIPPED: strace cannot trace here (ptrace not permitted)");
        return;
    }
    kill_before_each_commit(&Scene::new);
}

#[test]
fn item6_a_wheel_project_killed_before_each_commit_then_rebuilt_gives_the_clean_digest() {
    if !strace_works() {
        eprintln!("SKIPPED: strace cannot trace here (ptrace not permitted)");
        return;
    }
    let wheels = Wheels::new();
    kill_before_each_commit(&|| Scene::with_wheels(&wheels));
}

#[test]
fn item6_twenty_random_sigkills_then_rebuilds_give_the_clean_digest() {
    let (clean, took) = clean_build();
    let scene = Scene::new();
    let mut rng = fastrand::Rng::with_seed(16);
    let window = took.as_millis().max(50) as u64;
    // Only a build still running when the signal comes counts as a kill.
    let mut kills = 0;
    let mut round = 0;
    while kills < 20 {
        assert!(
            round < 200,
            "only {kills} of {round} builds were killed while running"
        );
        // A fresh project (so the lock is written) every other round, a fresh store
        // every third: kills land in first builds and in rebuilds.
        if round % 2 == 0 {
            scene.reset_project();
        }
        if round % 3 == 0 {
            let _ = std::fs::remove_dir_all(scene.store());
        }
        let mut child = scene
            .command(&[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn airlock");
        std::thread::sleep(Duration::from_millis(rng.u64(0..window)));
        if child.try_wait().ok().flatten().is_none() {
            kills += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_no_partial_named_file(&scene.store());
        assert_eq!(
            scene.build(),
            clean,
            "the build after the kill of round {round} gave another digest"
        );
        round += 1;
    }
}
