//! Tier 2: the real thing. Takes the project's image (built by the caller), unpacks
//! its non-project layers into a cached root filesystem, copies the project to the
//! image's `WORKDIR`, and runs Airflow's `DagBag` (or pytest) inside bubblewrap.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use super::{Diagnostic, DiagnosticKind};
use crate::digest::Digest;
use crate::image::{Accounts, BaseFacts, resolve_owner, string_list};
use crate::project::{Project, WalkedKind, walk};
use crate::sandbox::{
    CommandLookup, SandboxError, SandboxSpec, bwrap_command, find_command, unpack_rootfs,
};
use crate::store::Store;

/// The integrity script shipped inside airlock.
const INTEGRITY_SCRIPT: &str = include_str!("scripts/dag_integrity.py");
const SCRIPT_INSIDE: &str = "/tmp/airlock/dag_integrity.py";
const RESULT_MARKER: &str = "AIRLOCK-RESULT: ";

#[derive(Debug, thiserror::Error)]
pub enum Tier2Error {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Rootfs(#[from] crate::sandbox::RootfsError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Project(#[from] crate::project::ProjectError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    EnvFile(#[from] super::EnvFileError),
    #[error("Cannot prepare the sandbox at `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "The image has no `WORKDIR` to mount the project at; set one in the Dockerfile (e.g. `WORKDIR /usr/local/airflow`)"
    )]
    NoWorkdir,
    #[error("The DAG-integrity script failed inside the image (exit status {status}):\n{output}")]
    Script { status: String, output: String },
    #[error(
        "The image built from `{image}` has no runnable `python3` on its PATH: {detail}; tier-2 checks need the image's Python"
    )]
    NoPython { image: String, detail: String },
}

/// Fails with `NoPython` unless `python3` on the image's `PATH` can run: checked in
/// the unpacked root before the sandbox starts, where bubblewrap would only say
/// `execvp python3: No such file or directory`.
fn require_python(rootfs: &Path, env: &[(String, String)], image: &str) -> Result<(), Tier2Error> {
    let detail = match find_command(rootfs, env, "python3") {
        CommandLookup::Found(_) => return Ok(()),
        CommandLookup::Missing { path } => format!("none in `PATH={path}`"),
        CommandLookup::NoInterpreter {
            command,
            interpreter,
        } => format!("`{command}` is a script for `{interpreter}`, which the image lacks"),
    };
    Err(Tier2Error::NoPython {
        image: image.to_string(),
        detail,
    })
}

/// A built image ready to run commands in.
pub(crate) struct Prepared {
    pub spec: SandboxSpec,
    /// Time spent building, unpacking and copying: airlock's own overhead.
    pub overhead: Duration,
    _project_copy: tempfile::TempDir,
    _files: tempfile::TempDir,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Tier2Error + '_ {
    move |source| Tier2Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Directories the tests see from the project even when `.dockerignore` keeps them
/// out of the image, as the Astro CLI mounts them for its tests.
const TEST_DIRS: [&str; 2] = [".astro", "tests"];

/// Copies the regular files and directories below `src` that `dest` lacks (no
/// symlinks, no `__pycache__`).
fn copy_missing(src: &Path, dest: &Path) -> Result<(), Tier2Error> {
    let mut entries: Vec<std::fs::DirEntry> = std::fs::read_dir(src)
        .map_err(io_err(src))?
        .collect::<Result<_, _>>()
        .map_err(io_err(src))?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let from = entry.path();
        let to = dest.join(entry.file_name());
        let kind = entry.file_type().map_err(io_err(&from))?;
        if kind.is_dir() && entry.file_name() != "__pycache__" {
            std::fs::create_dir_all(&to).map_err(io_err(&to))?;
            copy_missing(&from, &to)?;
        } else if kind.is_file() && !to.exists() {
            std::fs::copy(&from, &to).map_err(io_err(&to))?;
        }
    }
    Ok(())
}

/// What the layers under the project mount put in the workdir (a Dockerfile `RUN`'s
/// `dbt_venv/`, say) and the project copy lacks: each top-level entry mounted
/// read-only over the copy, (host path, path inside).
fn below_workdir(
    rootfs_workdir: &Path,
    project_copy: &Path,
    workdir: &str,
) -> Result<Vec<(PathBuf, String)>, Tier2Error> {
    let mut mounts = Vec::new();
    let entries = std::fs::read_dir(rootfs_workdir).map_err(io_err(rootfs_workdir))?;
    for entry in entries {
        let entry = entry.map_err(io_err(rootfs_workdir))?;
        let kind = entry.file_type().map_err(io_err(&entry.path()))?;
        let name = entry.file_name();
        let Some(text) = name.to_str() else {
            continue;
        };
        if (kind.is_dir() || kind.is_file())
            && std::fs::symlink_metadata(project_copy.join(&name)).is_err()
        {
            mounts.push((
                entry.path(),
                format!("{}/{text}", workdir.trim_end_matches('/')),
            ));
        }
    }
    mounts.sort();
    Ok(mounts)
}

/// Copies what the image would hold of the project (ignore files applied) to `dest`,
/// plus the test directories ([`TEST_DIRS`]) as they are.
fn copy_project(project: &Project, dest: &Path) -> Result<(), Tier2Error> {
    let walked = walk(
        &project.root,
        &project.dockerignore,
        project.settings.dags.ignore_syntax,
    )?;
    for entry in walked.project.iter().chain(&walked.dags) {
        let target = dest.join(&entry.rel);
        match &entry.kind {
            WalkedKind::Dir => std::fs::create_dir_all(&target).map_err(io_err(&target))?,
            WalkedKind::File { .. } => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
                }
                std::fs::copy(&entry.host, &target).map_err(io_err(&target))?;
            }
            WalkedKind::Symlink { target: link } => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
                }
                std::os::unix::fs::symlink(link, &target).map_err(io_err(&target))?;
            }
        }
    }
    for dir in TEST_DIRS {
        let src = project.root.join(dir);
        let is_dir = std::fs::symlink_metadata(&src).is_ok_and(|m| m.is_dir());
        if is_dir {
            let to = dest.join(dir);
            std::fs::create_dir_all(&to).map_err(io_err(&to))?;
            copy_missing(&src, &to)?;
        }
    }
    Ok(())
}

/// Whether the sandbox can write at `path`: its private `/tmp` and the project copy
/// mounted at `workdir` are the only writable places.
fn writable_in_sandbox(path: &str, workdir: &str) -> bool {
    let under = |dir: &str| {
        let dir = dir.trim_end_matches('/');
        path == dir || path.starts_with(&format!("{dir}/"))
    };
    under("/tmp") || under(workdir)
}

/// The image's environment, with only what Airflow needs to run in the sandbox added
/// through Airflow's own settings, and only when the image does not set it: when
/// Airflow's home (`AIRFLOW_HOME`, default `~/airflow`) is read-only here, its
/// configuration file, metadata database and logs go to `/tmp`. `AIRFLOW_HOME`
/// itself, and with it the DAG folder, stays the image's.
fn airflow_writable(env: &mut Vec<(String, String)>, workdir: &str, rootfs: &Path) {
    let get = |env: &[(String, String)], key: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let home = get(env, "AIRFLOW_HOME").unwrap_or_else(|| {
        let user_home = get(env, "HOME").unwrap_or_else(|| "/tmp".to_string());
        format!("{}/airflow", user_home.trim_end_matches('/'))
    });
    if writable_in_sandbox(&home, workdir) {
        return;
    }
    let has =
        |env: &[(String, String)], keys: &[&str]| keys.iter().any(|key| get(env, key).is_some());
    let config_in_image = rootfs
        .join(home.trim_start_matches('/'))
        .join("airflow.cfg")
        .is_file();
    if !config_in_image && !has(env, &["AIRFLOW_CONFIG"]) {
        env.push(("AIRFLOW_CONFIG".into(), "/tmp/airflow.cfg".into()));
    }
    let database = [
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_SECRET",
        "AIRFLOW__CORE__SQL_ALCHEMY_CONN",
    ];
    if !has(env, &database) {
        env.push((
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN".into(),
            "sqlite:////tmp/airflow.db".into(),
        ));
    }
    if !has(env, &["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]) {
        env.push((
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER".into(),
            "/tmp/airflow-logs".into(),
        ));
    }
}

/// `env` with `overrides` applied (an override replaces the image's value).
fn with_overrides(
    env: &[(String, String)],
    overrides: &[(String, String)],
) -> Vec<(String, String)> {
    let mut merged: Vec<(String, String)> = env
        .iter()
        .filter(|(key, _)| !overrides.iter().any(|(k, _)| k == key))
        .cloned()
        .collect();
    merged.extend(overrides.iter().cloned());
    merged
}

/// The project's image as the caller built it: what [`prepare`] runs in.
#[derive(Debug, Clone)]
pub(crate) struct BuiltImage {
    /// The project the image was built from, and the build arguments it was read with.
    pub project_dir: PathBuf,
    pub build_args: BTreeMap<String, String>,
    /// The store holding the image's blobs.
    pub store_dir: PathBuf,
    pub config_digest: Digest,
    /// The image's layers, bottom first, each with its kind (`debian`, `python`,
    /// `project`, `dags`...): the `project` and `dags` layers are not unpacked, the
    /// project is mounted in their place.
    pub layers: Vec<(String, Digest)>,
    /// The image's base (`FROM`), for messages.
    pub base: String,
    /// When the build started: the overhead reported counts from there.
    pub started: Instant,
}

/// Prepares the sandbox around `image`; `step` reports progress.
pub(crate) fn prepare(image: &BuiltImage, step: &dyn Fn(&str)) -> Result<Prepared, Tier2Error> {
    let started = image.started;
    let store = Store::open(&image.store_dir)?;
    let config: Value =
        serde_json::from_slice(&store.read_blob(&image.config_digest)?).map_err(|e| {
            crate::image::ImageError::Config {
                digest: image.config_digest.clone(),
                reason: e.to_string(),
            }
        })?;
    let layers: Vec<(Digest, PathBuf)> = image
        .layers
        .iter()
        .filter(|(kind, _)| kind != "project" && kind != "dags")
        .map(|(_, digest)| (digest.clone(), store.blob_path(digest)))
        .collect();
    step("unpacking the image");
    let rootfs = unpack_rootfs(&store, &layers)?;

    let workdir = config
        .pointer("/config/WorkingDir")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("/")
        .to_string();
    if workdir.trim_matches('/').is_empty() {
        return Err(Tier2Error::NoWorkdir);
    }
    // The project is mounted at the workdir, which must exist in the (read-only) root:
    // the project layer that would create it is not unpacked.
    let mount_point = rootfs.join(workdir.trim_start_matches('/'));
    std::fs::create_dir_all(&mount_point).map_err(io_err(&mount_point))?;
    let env: Vec<(String, String)> = string_list(config.pointer("/config/Env"))
        .iter()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    require_python(&rootfs, &env, &image.base)?;
    let user = config
        .pointer("/config/User")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("0");
    let mut facts = BaseFacts::default();
    for file in ["etc/passwd", "etc/group"] {
        if let Ok(text) = std::fs::read_to_string(rootfs.join(file)) {
            facts.files.insert(file.to_string(), text);
        }
    }
    let owner = resolve_owner(user, &Accounts::from_facts(&facts))?;

    let project = Project::load(&image.project_dir, &image.build_args)?;
    let project_copy = tempfile::tempdir().map_err(io_err(Path::new("temp dir")))?;
    copy_project(&project, project_copy.path())?;
    let below = below_workdir(&mount_point, project_copy.path(), &workdir)?;
    let files = tempfile::tempdir().map_err(io_err(Path::new("temp dir")))?;
    let script = files.path().join("dag_integrity.py");
    std::fs::write(&script, INTEGRITY_SCRIPT).map_err(io_err(&script))?;
    Ok(Prepared {
        spec: SandboxSpec {
            rootfs,
            project: project_copy.path().to_path_buf(),
            workdir,
            env,
            uid: owner.uid,
            gid: owner.gid,
            files: std::iter::once((script, SCRIPT_INSIDE.to_string()))
                .chain(below)
                .collect(),
            command: Vec::new(),
        },
        overhead: started.elapsed(),
        _project_copy: project_copy,
        _files: files,
    })
}

#[derive(Debug, Deserialize)]
struct ScriptError {
    file: String,
    message: String,
}

#[derive(Debug, Deserialize)]
struct ScriptResult {
    dags: Vec<String>,
    errors: Vec<ScriptError>,
    import_seconds: f64,
    parse_seconds: f64,
}

/// What Airflow said about the DAG folder.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct IntegrityReport {
    pub dags: Vec<String>,
    pub errors: Vec<Diagnostic>,
    /// airlock's overhead (build, unpack, copy, sandbox start) in seconds.
    pub overhead_seconds: f64,
    /// Airflow's import time and DagBag parse time, in seconds.
    pub airflow_import_seconds: f64,
    pub airflow_parse_seconds: f64,
}

/// The line a traceback names for `file`, if any.
fn line_in(message: &str, inside_path: &str) -> u32 {
    let needle = format!("File \"{inside_path}\", line ");
    message
        .rmatch_indices(&needle)
        .next()
        .and_then(|(at, _)| {
            message[at + needle.len()..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(1)
}

/// Runs the DAG-integrity script in the sandbox.
pub(crate) fn run_integrity(
    prepared: &Prepared,
    dags_dir: &str,
) -> Result<IntegrityReport, Tier2Error> {
    let started = Instant::now();
    let workdir = prepared.spec.workdir.trim_end_matches('/');
    let folder = format!("{workdir}/{dags_dir}");
    let mut spec = prepared.spec.clone();
    spec.command = vec!["python3".into(), SCRIPT_INSIDE.into(), folder];
    airflow_writable(&mut spec.env, &spec.workdir, &spec.rootfs);
    let output = bwrap_command(&spec)?
        .output()
        .map_err(io_err(Path::new("bwrap")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some(line) = stdout.lines().find_map(|l| l.strip_prefix(RESULT_MARKER)) else {
        return Err(Tier2Error::Script {
            status: output.status.to_string(),
            output: format!("{stdout}{}", String::from_utf8_lossy(&output.stderr)),
        });
    };
    let result: ScriptResult = serde_json::from_str(line).map_err(|e| Tier2Error::Script {
        status: output.status.to_string(),
        output: e.to_string(),
    })?;
    let wall = started.elapsed().as_secs_f64();
    let airflow = result.import_seconds + result.parse_seconds;
    let errors = result
        .errors
        .iter()
        .map(|e| {
            let file = e
                .file
                .strip_prefix(&format!("{workdir}/"))
                .unwrap_or(&e.file)
                .to_string();
            let summary = e
                .message
                .trim()
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .to_string();
            Diagnostic {
                line: line_in(&e.message, &e.file),
                column: 1,
                kind: DiagnosticKind::DagImportError,
                message: if summary.is_empty() {
                    e.message.clone()
                } else {
                    summary
                },
                hint: None,
                source_line: String::new(),
                file,
            }
        })
        .collect();
    Ok(IntegrityReport {
        dags: result.dags,
        errors,
        overhead_seconds: prepared.overhead.as_secs_f64() + (wall - airflow).max(0.0),
        airflow_import_seconds: result.import_seconds,
        airflow_parse_seconds: result.parse_seconds,
    })
}

/// Runs pytest on `target` (default `tests/`) in the sandbox with the image's
/// environment plus `env` (the project's `.env`, which wins); returns its exit code.
pub(crate) fn run_pytest(
    prepared: &Prepared,
    target: Option<&str>,
    args: &[String],
    env: &[(String, String)],
) -> Result<i32, Tier2Error> {
    let mut spec = prepared.spec.clone();
    spec.env = with_overrides(&spec.env, env);
    airflow_writable(&mut spec.env, &spec.workdir, &spec.rootfs);
    spec.command = vec![
        "python3".into(),
        "-m".into(),
        "pytest".into(),
        "-p".into(),
        "no:cacheprovider".into(),
        target.unwrap_or("tests/").to_string(),
    ];
    spec.command.extend(args.iter().cloned());
    let status = bwrap_command(&spec)?
        .status()
        .map_err(io_err(Path::new("bwrap")))?;
    Ok(status.code().unwrap_or(1))
}

impl crate::hint::Hint for Tier2Error {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Sandbox(error) => error.hints(),
            Self::Rootfs(error) => error.hints(),
            Self::Store(error) => error.hints(),
            Self::Project(error) => error.hints(),
            Self::Image(error) => error.hints(),
            Self::EnvFile(error) => error.hints(),
            Self::NoPython { .. } => vec![
                "`airlock parse` without `--full` checks the DAGs without it; for `--full` and `airlock pytest`, build on a base image with CPython (an Astro Runtime image)".into(),
            ],
            Self::Io { .. } | Self::NoWorkdir | Self::Script { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn keys(env: &[(String, String)]) -> Vec<&str> {
        env.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn astro_1_airflow_home_is_never_moved() {
        let rootfs = tempfile::tempdir().expect("tempdir");
        // The Runtime's layout: Airflow's home is the project mount, writable.
        let mut runtime = env(&[("AIRFLOW_HOME", "/usr/local/airflow")]);
        airflow_writable(&mut runtime, "/usr/local/airflow", rootfs.path());
        assert_eq!(keys(&runtime), ["AIRFLOW_HOME"]);
        // No AIRFLOW_HOME and no HOME: `~/airflow` is under the private /tmp.
        let mut bare: Vec<(String, String)> = Vec::new();
        airflow_writable(&mut bare, "/usr/local/airflow", rootfs.path());
        assert!(bare.is_empty());
        // A read-only home: config, database and logs go to /tmp, the home stays.
        let mut elsewhere = env(&[
            ("AIRFLOW_HOME", "/opt/airflow"),
            ("AIRFLOW__LOGGING__BASE_LOG_FOLDER", "/opt/logs"),
        ]);
        airflow_writable(&mut elsewhere, "/usr/local/airflow", rootfs.path());
        assert_eq!(
            keys(&elsewhere),
            [
                "AIRFLOW_HOME",
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER",
                "AIRFLOW_CONFIG",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
            ]
        );
        assert_eq!(elsewhere[0].1, "/opt/airflow");
        assert_eq!(elsewhere[1].1, "/opt/logs");
        // The image's own config file and database setting are kept.
        let cfg = rootfs.path().join("home/astro/airflow");
        std::fs::create_dir_all(&cfg).expect("mkdir");
        std::fs::write(cfg.join("airflow.cfg"), "[core]\n").expect("write");
        let mut home = env(&[
            ("HOME", "/home/astro"),
            ("AIRFLOW__CORE__SQL_ALCHEMY_CONN", "sqlite:////x.db"),
        ]);
        airflow_writable(&mut home, "/usr/local/airflow", rootfs.path());
        assert_eq!(
            keys(&home),
            [
                "HOME",
                "AIRFLOW__CORE__SQL_ALCHEMY_CONN",
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER"
            ]
        );
        assert!(!writable_in_sandbox(
            "/usr/local/airflowx",
            "/usr/local/airflow"
        ));
        assert!(writable_in_sandbox(
            "/usr/local/airflow/dags",
            "/usr/local/airflow/"
        ));
        assert!(writable_in_sandbox("/tmp", "/x"));
    }

    #[test]
    fn astro_2_env_file_values_win_over_the_images() {
        let merged = with_overrides(
            &env(&[("A", "image"), ("B", "image")]),
            &env(&[("B", "dotenv"), ("C", "dotenv")]),
        );
        assert_eq!(
            merged,
            env(&[("A", "image"), ("B", "dotenv"), ("C", "dotenv")])
        );
    }
}
