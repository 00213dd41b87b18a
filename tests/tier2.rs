//! Tier 2 end to end: `airlock pytest` in a sandbox made from a built image.
//!
//! The base is the shared minbase root filesystem (made once by `mmdebstrap` from the
//! host's own archive, then cached); `packages.txt` adds Debian's `python3-pytest`
//! through airlock's own Debian layer. pytest's exit status passes through.

use crate::support;

use std::fs;
use std::path::Path;

use support::host_debian::{host_archive_uri, minbase_layout, tool, unreachable};
use support::{airlock, stderr, stdout};

/// `airlock pytest` of `project` on the base layout `layout` with the store `cache`,
/// `extra` arguments after those, run in `cwd` with `env` added.
fn pytest(
    project: &Path,
    cache: &Path,
    layout: &Path,
    extra: &[&str],
    cwd: &Path,
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut args = vec![
        "pytest",
        "--project-dir",
        project.to_str().expect("utf-8"),
        "--cache-dir",
        cache.to_str().expect("utf-8"),
        "--base-layout",
        layout.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    airlock(&args, cwd, env)
}

fn ready() -> bool {
    let cached = support::host_debian::minbase_cached()
        && Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("tier2/project/airlock.lock")
            .is_file();
    if !cached {
        let Some(uri) = host_archive_uri() else {
            eprintln!("SKIP: this host has no apt sources to read the archive address from");
            return false;
        };
        if let Some(reason) = unreachable(&uri) {
            eprintln!("SKIP: {reason}; the tier-2 test needs it once to fill its cache");
            return false;
        }
    }
    for needed in ["mmdebstrap", "bwrap"] {
        assert!(
            tool(needed),
            "`{needed}` is missing: run scripts/test, which installs it"
        );
    }
    true
}

/// #13 item 5: the DAG checks run on an image built with the Dockerfile's own steps:
/// a file `COPY` put outside the project (with its `--chmod`) is there for the tests,
/// on the `ENV` after it, in the `WORKDIR` the Dockerfile made.
#[test]
fn item13_5_pytest_runs_on_an_image_with_copy_steps() {
    if !ready() {
        return;
    }
    let layout = minbase_layout();
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tier2");
    let project = work.join("project-copy");
    fs::create_dir_all(project.join("dags")).expect("mkdir");
    fs::create_dir_all(project.join("tests")).expect("mkdir");
    fs::create_dir_all(project.join("scripts")).expect("mkdir");
    // The same packages as the first project: its lock serves when that test ran
    // first (no archive needed); otherwise this build locks them itself.
    let first_lock = work.join("project/airlock.lock");
    if first_lock.exists() {
        fs::copy(&first_lock, project.join("airlock.lock")).expect("lock");
    }
    fs::write(project.join("packages.txt"), "python3-pytest\n").expect("write");
    fs::write(
        project.join("Dockerfile"),
        "FROM e2e/minbase:bookworm\nWORKDIR /usr/local/airflow\nCOPY --chmod=755 scripts/ /opt/tools/\nENV PYTHONPATH=/opt/tools\n",
    )
    .expect("write");
    fs::write(
        project.join("scripts/tool.py"),
        "def triple(x):\n    return 3 * x\n",
    )
    .expect("write");
    fs::write(project.join("dags/dag.py"), "x = 1\n").expect("write");
    fs::write(
        project.join("tests/test_copy.py"),
        "import os, stat\nfrom tool import triple\n\n\
def test_copied_module_imports():\n    assert triple(2) == 6\n\n\
def test_copied_mode():\n    assert stat.S_IMODE(os.stat('/opt/tools/tool.py').st_mode) == 0o755\n\n\
def test_workdir():\n    assert os.getcwd() == '/usr/local/airflow'\n",
    )
    .expect("write");
    let cache = work.join("store");
    let output = pytest(&project, &cache, &layout, &["-a", "-q"], &work, &[]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(stdout(&output).contains("3 passed"), "{}", stdout(&output));
}

#[test]
fn pytest_runs_in_the_image_and_passes_its_status_through() {
    if !ready() {
        return;
    }
    let layout = minbase_layout();
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tier2");
    let project = work.join("project");
    fs::create_dir_all(project.join("dags")).expect("mkdir");
    fs::create_dir_all(project.join("tests")).expect("mkdir");
    fs::write(
        project.join("Dockerfile"),
        "FROM e2e/minbase:bookworm\nWORKDIR /usr/local/airflow\n",
    )
    .expect("write");
    fs::write(project.join("packages.txt"), "python3-pytest\n").expect("write");
    fs::write(
        project.join("dags/helpers.py"),
        "def double(x):\n    return 2 * x\n",
    )
    .expect("write");
    fs::write(
        project.join("tests/test_ok.py"),
        "import os, socket, sys\nsys.path.insert(0, 'dags')\nfrom helpers import double\n\n\
def test_double():\n    assert double(2) == 4\n\n\
def test_runs_at_the_workdir():\n    assert os.getcwd() == '/usr/local/airflow'\n\n\
def test_no_network():\n    s = socket.socket()\n    s.settimeout(1)\n    try:\n        s.connect(('1.1.1.1', 53))\n        connected = True\n    except OSError:\n        connected = False\n    assert not connected\n",
    )
    .expect("write");
    let _ = fs::remove_file(project.join("tests/test_fails.py"));
    let cache = work.join("store");
    let run = |extra: &[&str]| pytest(&project, &cache, &layout, extra, &work, &[]);
    let passing = run(&["-a", "-q"]);
    assert_eq!(
        passing.status.code(),
        Some(0),
        "{}{}",
        stdout(&passing),
        stderr(&passing)
    );
    assert!(
        stdout(&passing).contains("3 passed"),
        "{}",
        stdout(&passing)
    );

    fs::write(
        project.join("tests/test_fails.py"),
        "def test_fails():\n    assert 1 == 2\n",
    )
    .expect("write");
    let failing = run(&["tests/test_fails.py"]);
    assert_eq!(
        failing.status.code(),
        Some(1),
        "{}{}",
        stdout(&failing),
        stderr(&failing)
    );
    assert!(
        stdout(&failing).contains("1 failed"),
        "{}",
        stdout(&failing)
    );
    fs::remove_file(project.join("tests/test_fails.py")).expect("rm");
}

/// A Debian python3 root filesystem without `/proc`, `/dev` and `/tmp` (as the
/// quickstart's generated base lacks them), as a layout made once and cached; `None`
/// when mmdebstrap cannot make the root filesystem here.
fn base_without_mount_points() -> Option<std::path::PathBuf> {
    use support::rootfs::{
        FileLock, debian_rootfs, layout_from_rootfs, persistent_cache, rootfs_without,
    };
    let dir = persistent_cache("tier2-bare");
    let layout = dir.join("layout");
    let _lock = FileLock::acquire(&dir.join("layout.lock"));
    if layout.join("index.json").is_file() {
        return Some(layout);
    }
    let tar = debian_rootfs("bookworm", &["python3"])?;
    let bare = dir.join("bare.tar");
    rootfs_without(&tar, &bare, &["proc", "dev", "tmp"]);
    layout_from_rootfs(
        &bare,
        &layout,
        "bookworm",
        &["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "/usr/local/airflow",
    );
    Some(layout)
}

#[test]
fn item15_pytest_runs_on_a_base_without_proc_dev_or_tmp() {
    assert!(
        tool("bwrap"),
        "`bwrap` is missing: run scripts/test, which installs it"
    );
    let Some(layout) = base_without_mount_points() else {
        eprintln!("SKIP: no Debian root filesystem could be made here");
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let project = work.path().join("project");
    fs::create_dir_all(project.join("dags")).expect("mkdir");
    fs::create_dir_all(project.join("tests")).expect("mkdir");
    fs::write(project.join("Dockerfile"), "FROM e2e/bare:bookworm\n").expect("write");
    fs::write(project.join("dags/helpers.py"), "x = 1\n").expect("write");
    // `python3 -m pytest` finds this stand-in in the working directory (the base has
    // no pytest): it uses each mount point and says so.
    fs::write(
        project.join("pytest.py"),
        "import os, sys\n\
         assert os.listdir('/proc/self/fd')\n\
         open('/dev/null', 'w').write('x')\n\
         open('/tmp/probe', 'w').write('x')\n\
         print('stand-in pytest ran with', ' '.join(sys.argv[1:]))\n",
    )
    .expect("write");
    let cache = work.path().join("store");
    let output = pytest(&project, &cache, &layout, &[], work.path(), &[]);
    assert!(
        !stderr(&output).contains("Can't mkdir"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stdout(&output).contains("stand-in pytest ran with -p no:cacheprovider tests/"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn item7_the_rootfs_cache_holds_no_setuid_file_or_device_node() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if !ready() {
        return;
    }
    let layout = minbase_layout();
    let work = tempfile::tempdir().expect("tempdir");
    let store = airlock::store::Store::open(work.path().join("store")).expect("store");
    let base = airlock::image::load_base_from_layout(&store, "minbase", &layout, Some("bookworm"))
        .expect("base");
    let layers: Vec<_> = base
        .layers
        .iter()
        .map(|l| (l.digest.clone(), l.path.clone()))
        .collect();
    let rootfs = airlock::sandbox::unpack_rootfs(&store, &layers).expect("unpacks");
    // The image has them: the check below has something to find.
    let su = rootfs.join("usr/bin/su");
    assert!(su.is_file(), "minbase has /usr/bin/su");
    let mut privileged = Vec::new();
    let mut stack = vec![rootfs.clone()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&path).expect("metadata");
            let kind = meta.file_type();
            if kind.is_dir() {
                stack.push(path.clone());
            }
            let setid = !kind.is_symlink() && meta.permissions().mode() & 0o6000 != 0;
            if setid || kind.is_char_device() || kind.is_block_device() || kind.is_fifo() {
                privileged.push(path.display().to_string());
            }
        }
    }
    assert!(privileged.is_empty(), "{privileged:#?}");
}

/// The tests run in the image's own environment (its `AIRFLOW_HOME`, `PYTHONPATH`,
/// `WORKDIR`), with the project's `.env` (or `--env-file`) on top, and see `.astro/`
/// and `tests/` even when `.dockerignore` keeps them out of the image.
#[test]
fn astro_1_and_2_tests_run_in_the_images_environment_with_the_env_file() {
    if !ready() {
        return;
    }
    let layout = minbase_layout();
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tier2");
    let project = work.join("astro-env");
    let _ = fs::remove_dir_all(project.join(".astro"));
    fs::create_dir_all(project.join("tests")).expect("mkdir");
    fs::create_dir_all(project.join(".astro")).expect("mkdir");
    fs::create_dir_all(project.join("dags")).expect("mkdir");
    fs::write(
        project.join("Dockerfile"),
        "FROM e2e/minbase:bookworm\nENV AIRFLOW_HOME=/usr/local/airflow PYTHONPATH=/usr/local/airflow/include\nWORKDIR /usr/local/airflow\n",
    )
    .expect("write");
    fs::write(project.join("packages.txt"), "python3-pytest\n").expect("write");
    fs::write(project.join(".dockerignore"), ".astro\n.env\nother.env\n").expect("write");
    fs::write(
        project.join(".env"),
        "# for the tests\nGREETING=hello world\nSECRET_TOKEN=s3cr3t-t0ken\nQUOTED=\"kept as written\"\nFROM_HOST\nNOT_ON_HOST\n",
    )
    .expect("write");
    fs::write(project.join("other.env"), "OTHER=yes\n").expect("write");
    fs::write(
        project.join("tests/test_env.py"),
        "import os\n\n\
def test_the_images_environment():\n    assert os.environ['AIRFLOW_HOME'] == '/usr/local/airflow'\n    assert os.environ['PYTHONPATH'] == '/usr/local/airflow/include'\n    assert os.getcwd() == '/usr/local/airflow'\n\n\
def test_the_env_file():\n    if os.environ.get('OTHER') == 'yes':\n        assert 'GREETING' not in os.environ\n        return\n    assert os.environ['GREETING'] == 'hello world'\n    assert os.environ['SECRET_TOKEN'] == 's3cr3t-t0ken'\n    assert os.environ['QUOTED'] == '\"kept as written\"'\n    assert os.environ['FROM_HOST'] == 'from the host'\n    assert 'NOT_ON_HOST' not in os.environ\n",
    )
    .expect("write");
    fs::write(
        project.join(".astro/test_astro_dir.py"),
        "import os\n\ndef test_runs_from_the_astro_dir():\n    assert os.path.isfile('.astro/test_astro_dir.py')\n",
    )
    .expect("write");
    let cache = work.join("store");
    let run = |extra: &[&str]| {
        pytest(
            &project,
            &cache,
            &layout,
            extra,
            &work,
            &[("FROM_HOST", "from the host")],
        )
    };
    for (extra, passed) in [
        (&["-a", "-q"][..], "2 passed"),
        (&["--env-file", "other.env", "-a", "-q"][..], "2 passed"),
        (&[".astro/test_astro_dir.py", "-a", "-q"][..], "1 passed"),
    ] {
        let output = run(extra);
        let all = format!("{}{}", stdout(&output), stderr(&output));
        assert_eq!(output.status.code(), Some(0), "{extra:?}: {all}");
        assert!(stdout(&output).contains(passed), "{extra:?}: {all}");
        assert!(!all.contains("s3cr3t-t0ken"), "a value was printed: {all}");
    }

    fs::write(project.join("bad.env"), "OK=1\nBAD NAME=s3cr3t-t0ken\n").expect("write");
    let output = run(&["--env-file", "bad.env"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("bad.env:2:"), "{err}");
    assert!(!err.contains("s3cr3t-t0ken"), "{err}");
}

/// Sweep item 7: the quickstart's base has a stand-in `python3` (a `/bin/sh` script in
/// an image without `/bin/sh`): `parse --full` and `pytest` name the image and what is
/// missing before any sandbox runs, instead of bwrap's `execvp` message.
#[test]
fn sweep7_tier2_names_a_missing_python_before_the_sandbox() {
    let sandbox = support::Sandbox::quickstart();
    let parse = sandbox.run("parse", &["--full"]);
    let pytest = pytest(
        &sandbox.project,
        &sandbox.cache,
        &sandbox.base_layout,
        &[],
        sandbox.dir.path(),
        &[],
    );
    for output in [parse, pytest] {
        let err = stderr(&output);
        assert_ne!(output.status.code(), Some(0), "{err}");
        assert!(!err.contains("execvp"), "{err}");
        assert!(
            err.contains("astro-runtime:3.0-1"),
            "names the image: {err}"
        );
        assert!(err.contains("`python3`"), "{err}");
        assert!(err.contains("`/bin/sh`"), "names what is missing: {err}");
        assert!(
            err.contains("tier-2 checks need the image's Python"),
            "{err}"
        );
        assert!(err.contains("without `--full`"), "{err}");
    }
}
