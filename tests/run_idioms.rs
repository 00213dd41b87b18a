//! #13 item 2: `RUN` idioms carried out natively, on a Debian base with a real
//! CPython (made by mmdebstrap from the host's apt sources, cached), run in the image
//! under bubblewrap:
//! - `python3 -m venv DIR && . DIR/bin/activate && pip install …`: the console script
//!   in the environment works and imports only from it;
//! - `pip install …`: the package imports with the system's interpreter;
//! - `apt-get update && apt-get install --no-install-recommends jq`: `jq --version`;
//! - each gives the same image digest from two stores.
//!
//! The wheels come from a tiny index on 127.0.0.1; `jq` from the real Debian archive
//! the base's own apt sources name. Skipped, with a message, without mmdebstrap,
//! umoci or bwrap (or, for `jq`, without the archive).

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::host_debian::{host_archive_uri, unreachable};
use support::pyindex::{Form, PyIndex, Served, WheelSpec, sdist_archive};
use support::rootfs::{FileLock, debian_rootfs, layout_from_rootfs, persistent_cache};
use support::{airlock, stderr, stdout};

const TAG: &str = "idioms";
const INCLUDE: [&str; 4] = ["python3", "python3-venv", "python3-pip", "python3-six"];

/// The Debian base with python3, venv, pip and (system-wide) six, as a layout.
fn base() -> Option<PathBuf> {
    let dir = persistent_cache("run-idioms");
    let layout = dir.join("base-layout");
    let _lock = FileLock::acquire(&dir.join("base-layout.lock"));
    if layout.join("index.json").is_file() {
        return Some(layout);
    }
    let tar = debian_rootfs("bookworm", &INCLUDE)?;
    layout_from_rootfs(
        &tar,
        &layout,
        TAG,
        &["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "/opt/project",
    );
    Some(layout)
}

fn tools() -> bool {
    ["umoci", "bwrap"].iter().all(|tool| {
        let found = Command::new(tool).arg("--version").output().is_ok();
        if !found {
            eprintln!("skipping: {tool} is not installed");
        }
        found
    })
}

/// The tiny wheels: a console script `hello-tool` and a library `tiny-lib`.
fn index() -> PyIndex {
    let mut tool = WheelSpec::pure("hello-tool", "1.0");
    tool.files = vec![(
        "hello_tool/__init__.py".into(),
        b"import sys\n\ndef main():\n    import hello_tool\n    print('hello-tool 1.0', hello_tool.__file__)\n    try:\n        import six\n        print('six', six.__file__)\n    except ImportError:\n        print('no six')\n    return 0\n".to_vec(),
        false,
    )];
    let tool = tool.entry_points("[console_scripts]\nhello-tool = hello_tool:main\n");
    let lib = WheelSpec::pure("tiny-lib", "2.0");
    PyIndex::start(
        vec![Served::wheel(&tool), Served::wheel(&lib)],
        Form::Json,
        None,
    )
}

/// A project whose Dockerfile is the base plus `steps`.
fn project(name: &str, steps: &str, index: Option<&PyIndex>) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(name)
        .tempdir()
        .expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("dags")).expect("mkdir");
    std::fs::write(root.join("dags/dag.py"), "x = 1\n").expect("write");
    std::fs::write(
        root.join("Dockerfile"),
        format!("FROM debian-python:{TAG}\n{steps}"),
    )
    .expect("write");
    if let Some(index) = index {
        std::fs::write(
            root.join("airlock.toml"),
            format!("[python]\nindex-url = \"{}\"\n", index.url()),
        )
        .expect("write");
    }
    dir
}

/// `airlock build [extra]` into an OCI layout with the store `store`.
fn build_with(
    project: &Path,
    base: &Path,
    store: &Path,
    out: &Path,
    extra: &[&str],
) -> std::process::Output {
    let output = format!("oci:{}:latest", out.display());
    let (project_arg, base_arg, store_arg) = (
        project.to_string_lossy(),
        base.to_string_lossy(),
        store.to_string_lossy(),
    );
    let mut args = vec![
        "build",
        &project_arg,
        "--base-layout",
        &base_arg,
        "--cache-dir",
        &store_arg,
        "--output",
        &output,
    ];
    args.extend_from_slice(extra);
    airlock(&args, project, &[])
}

/// `airlock build` of `project` with the store and output under `work`, which must
/// fail; its stderr.
fn build_fails(project: &Path, base: &Path, work: &Path) -> String {
    let result = build_with(project, base, &work.join("store"), &work.join("out"), &[]);
    let err = stderr(&result);
    assert!(!result.status.success(), "{err}");
    err
}

/// `airlock build` into an OCI layout with its own store; the image's digest.
fn build(project: &Path, base: &Path, store: &Path, out: &Path) -> String {
    let result = build_with(project, base, store, out, &[]);
    assert!(
        result.status.success(),
        "{}{}",
        stdout(&result),
        stderr(&result)
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).expect("index"))
            .expect("json");
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Runs `args` inside the unpacked image `out`, offline.
fn inside(out: &Path, args: &[&str]) -> std::process::Output {
    let bundle = out.with_extension("bundle");
    if !bundle.join("rootfs").is_dir() {
        let unpack = Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:latest", out.display()))
            .arg(&bundle)
            .output()
            .expect("umoci");
        assert!(unpack.status.success(), "{}", stderr(&unpack));
    }
    Command::new("bwrap")
        .arg("--bind")
        .arg(bundle.join("rootfs"))
        .args(["/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"])
        .args(["--unshare-net", "--setenv", "HOME", "/tmp"])
        .args(args)
        .output()
        .expect("run bwrap")
}

/// Builds `project` from two stores: both give `digest`; returns it and the layout.
fn build_twice(project: &Path, base: &Path) -> (String, PathBuf, tempfile::TempDir) {
    let work = tempfile::tempdir().expect("tempdir");
    let first = build(
        project,
        base,
        &work.path().join("store-a"),
        &work.path().join("a"),
    );
    let second = build(
        project,
        base,
        &work.path().join("store-b"),
        &work.path().join("b"),
    );
    assert_eq!(first, second, "two stores gave two images");
    let out = work.path().join("a");
    (first, out, work)
}

/// A `--locked` build on the warm first store succeeds and leaves `lock` as it is.
fn rebuild_locked_keeps_the_lock(project: &Path, base: &Path, work: &Path, lock: &str) {
    let again = build_with(
        project,
        base,
        &work.join("store-a"),
        &work.join("c"),
        &["--locked"],
    );
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        std::fs::read_to_string(project.join("airlock.lock")).expect("lock"),
        lock
    );
}

#[test]
fn item13_2_venv_and_pip_install_run_in_the_image() {
    if !tools() {
        return;
    }
    let Some(base) = base() else { return };
    let index = index();
    let project = project(
        "idioms-pip",
        "RUN python3 -m venv tool_venv && . tool_venv/bin/activate && \\\n    pip install --no-cache-dir hello-tool==1.0 && deactivate\n\
         RUN pip install --break-system-packages tiny-lib\n",
        Some(&index),
    );
    let (digest, out, work) = build_twice(project.path(), &base);
    let lock = std::fs::read_to_string(project.path().join("airlock.lock")).expect("lock");
    assert!(lock.contains("kind = \"venv\""), "{lock}");
    // `--locked` keeps the pins (and the image); a changed step is refused.
    rebuild_locked_keeps_the_lock(project.path(), &base, work.path(), &lock);
    let dockerfile = project.path().join("Dockerfile");
    let text = std::fs::read_to_string(&dockerfile).expect("read");
    std::fs::write(&dockerfile, text.replace("tiny-lib\n", "tiny-lib==2.0\n")).expect("write");
    let changed = build_with(
        project.path(),
        &base,
        &work.path().join("store-a"),
        &work.path().join("d"),
        &["--locked"],
    );
    assert!(!changed.status.success());
    assert!(
        stderr(&changed).contains("RUN pip install"),
        "{}",
        stderr(&changed)
    );
    std::fs::write(&dockerfile, text).expect("write");
    assert!(!digest.is_empty());
    // The wheels the steps installed carry their locked hashes in the SBOM.
    step_wheels_have_their_locked_hashes(&out, &lock);
    assert!(lock.contains("kind = \"pip\""), "{lock}");
    assert!(lock.contains("hello_tool-1.0-py3-none-any.whl"), "{lock}");

    // The console script of the environment, with its interpreter, importing from it.
    let tool = inside(
        &out,
        &["/opt/project/tool_venv/bin/hello-tool", "--version"],
    );
    assert!(tool.status.success(), "{}{}", stdout(&tool), stderr(&tool));
    let text = stdout(&tool);
    assert!(
        text.starts_with(
            "hello-tool 1.0 /opt/project/tool_venv/lib/python3.11/site-packages/hello_tool/__init__.py\n"
        ),
        "{text}"
    );
    // The system's `six` is not visible inside the environment.
    assert!(text.contains("no six"), "{text}");
    let shebang = inside(
        &out,
        &[
            "/usr/bin/head",
            "-1",
            "/opt/project/tool_venv/bin/hello-tool",
        ],
    );
    assert_eq!(stdout(&shebang), "#!/opt/project/tool_venv/bin/python3\n");
    let cfg = inside(&out, &["/usr/bin/cat", "/opt/project/tool_venv/pyvenv.cfg"]);
    assert!(
        stdout(&cfg).starts_with("home = /usr/bin\ninclude-system-site-packages = false\n"),
        "{}",
        stdout(&cfg)
    );
    // The environment's own pip, seeded as ensurepip would.
    let pip = inside(
        &out,
        &[
            "/opt/project/tool_venv/bin/python",
            "-m",
            "pip",
            "--version",
        ],
    );
    assert!(
        stdout(&pip).contains("/opt/project/tool_venv/lib/python3.11/site-packages/pip"),
        "{}{}",
        stdout(&pip),
        stderr(&pip)
    );

    // The plain `pip install`: the system interpreter imports it.
    let lib = inside(
        &out,
        &[
            "/usr/bin/python3",
            "-c",
            "import tiny_lib; print(tiny_lib.VERSION, tiny_lib.__file__)",
        ],
    );
    assert_eq!(
        stdout(&lib),
        "2.0 /usr/local/lib/python3.11/dist-packages/tiny_lib/__init__.py\n",
        "{}",
        stderr(&lib)
    );
}

/// The SBOM of the image in `out` gives every wheel a `[[steps]]` entry of `lock`
/// pins that wheel's sha256.
fn step_wheels_have_their_locked_hashes(out: &Path, lock: &str) {
    let lock: toml::Value = toml::from_str(lock).expect("toml");
    let image = format!("oci:{}:latest", out.display());
    let output = airlock(&["sbom", &image, "--format", "cyclonedx"], out, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let sbom: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("json");
    let components = sbom["components"].as_array().expect("components");
    let steps = lock["steps"].as_array().expect("steps");
    let wheels: Vec<&toml::Value> = steps
        .iter()
        .filter_map(|step| step.get("wheels").and_then(toml::Value::as_array))
        .flatten()
        .collect();
    assert!(wheels.len() >= 2, "{lock}");
    for wheel in wheels {
        let name = wheel["name"].as_str().expect("name");
        let sha = wheel["sha256"].as_str().expect("sha256");
        let component = components
            .iter()
            .find(|c| c["name"] == name && c["type"] == "library")
            .unwrap_or_else(|| panic!("{name} is no component: {sbom}"));
        assert_eq!(
            component["hashes"][0]["content"],
            sha.trim_start_matches("sha256:"),
            "{component}"
        );
    }
}

/// The media types of the layers of the one image in the OCI layout `layout`.
fn layer_media_types(layout: &Path) -> Vec<String> {
    let json = |digest: &str| -> serde_json::Value {
        let path = layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        serde_json::from_slice(&std::fs::read(path).expect("blob")).expect("json")
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    let manifest = json(index["manifests"][0]["digest"].as_str().expect("digest"));
    manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["mediaType"].as_str().expect("media type").to_string())
        .collect()
}

/// #13 leftover (a): the native `pip`/`venv` steps' layers follow `--compression zstd`
/// like every new layer (the base's keep theirs), and their pins stay as the gzip
/// build left them.
#[test]
fn item13_a_native_pip_and_venv_steps_honour_zstd() {
    if !tools() {
        return;
    }
    let Some(base) = base() else { return };
    let index = index();
    let project = project(
        "idioms-zstd",
        "RUN python3 -m venv tool_venv && . tool_venv/bin/activate && \\\n    pip install --no-cache-dir hello-tool==1.0 && deactivate\n\
         RUN pip install --break-system-packages tiny-lib\n",
        Some(&index),
    );
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("store");
    build(project.path(), &base, &store, &work.path().join("gz"));
    let lock = std::fs::read_to_string(project.path().join("airlock.lock")).expect("lock");
    let zstd = build_with(
        project.path(),
        &base,
        &store,
        &work.path().join("zst"),
        &["--compression", "zstd", "--locked"],
    );
    assert!(zstd.status.success(), "{}", stderr(&zstd));
    assert_eq!(
        std::fs::read_to_string(project.path().join("airlock.lock")).expect("lock"),
        lock
    );
    let gzip = layer_media_types(&work.path().join("gz"));
    let zstd = layer_media_types(&work.path().join("zst"));
    let base_layers = layer_media_types(&base).len();
    assert_eq!(gzip.len(), zstd.len());
    // The project layer, the venv and pip steps, the DAGs.
    assert!(zstd.len() >= base_layers + 4, "{zstd:?}");
    assert_eq!(zstd[..base_layers], gzip[..base_layers]);
    for media in &zstd[base_layers..] {
        assert_eq!(
            media, "application/vnd.oci.image.layer.v1.tar+zstd",
            "{zstd:?}"
        );
    }
    for media in &gzip[base_layers..] {
        assert_eq!(
            media, "application/vnd.oci.image.layer.v1.tar+gzip",
            "{gzip:?}"
        );
    }
}

#[test]
fn item13_2_apt_get_install_jq_runs_in_the_image() {
    if !tools() {
        return;
    }
    let Some(uri) = host_archive_uri() else {
        eprintln!("skipping: this host has no apt sources to read the archive address from");
        return;
    };
    if let Some(reason) = unreachable(&uri) {
        eprintln!("skipping: {reason}");
        return;
    }
    let Some(base) = base() else { return };
    let project = project(
        "idioms-apt",
        "RUN apt-get update && apt-get install -y --no-install-recommends jq && rm -rf /var/lib/apt/lists/*\n",
        None,
    );
    let (_, out, work) = build_twice(project.path(), &base);
    let lock = std::fs::read_to_string(project.path().join("airlock.lock")).expect("lock");
    assert!(lock.contains("kind = \"apt\""), "{lock}");
    // `--locked` keeps the pins: no resolution, the lock unchanged.
    rebuild_locked_keeps_the_lock(project.path(), &base, work.path(), &lock);
    assert!(lock.contains("name = \"jq\""), "{lock}");
    let jq = inside(&out, &["/usr/bin/jq", "--version"]);
    assert!(jq.status.success(), "{}{}", stdout(&jq), stderr(&jq));
    assert!(stdout(&jq).starts_with("jq-1.6"), "{}", stdout(&jq));
    // dpkg knows it, over the base's own database.
    let status = inside(&out, &["/usr/bin/dpkg-query", "-W", "jq", "python3"]);
    assert!(status.status.success(), "{}", stderr(&status));
}

/// A `RUN pip install` of a package the index has only as an sdist fails saying that
/// such a step installs wheels only, not that the user turned building off (they did
/// not: `no-build` is not set).
#[test]
fn item13_2_run_pip_of_an_sdist_only_package_names_the_step() {
    let Some(base) = base() else { return };
    let body = sdist_archive(
        "only_sdist-1.0",
        &[
            (
                "PKG-INFO",
                "Metadata-Version: 2.2\nName: only-sdist\nVersion: 1.0\n",
            ),
            (
                "pyproject.toml",
                "[build-system]\nrequires = [\"flit_core>=3.2\"]\nbuild-backend = \"flit_core.buildapi\"\n",
            ),
        ],
    );
    let served = Served::with_body("only-sdist", "only_sdist-1.0.tar.gz", body);
    let index = PyIndex::start(vec![served], Form::Json, None);
    let project = project(
        "idioms-sdist",
        "RUN pip install --break-system-packages only-sdist==1.0\n",
        Some(&index),
    );
    let work = tempfile::tempdir().expect("tempdir");
    let err = build_fails(project.path(), &base, work.path());
    assert!(err.contains("`only-sdist` 1.0"), "{err}");
    assert!(err.contains("Dockerfile:2"), "{err}");
    assert!(err.contains("wheels only"), "{err}");
    assert!(!err.contains("no-build = true"), "{err}");
}

/// Debian's Python is marked externally managed (PEP 668): `pip install` into it
/// without `--break-system-packages` fails as it does under `docker build`, with
/// pip's own message (airlock leaves the step to the real pip, in the sandbox); with
/// the flag, or `PIP_BREAK_SYSTEM_PACKAGES=1` in the environment, airlock installs it
/// natively.
#[test]
fn a_pip_install_into_an_externally_managed_python_fails_as_pip_does() {
    if !tools() {
        return;
    }
    let Some(base) = base() else { return };
    let index = index();
    let work = tempfile::tempdir().expect("tempdir");
    let refused = project("idioms-pep668", "RUN pip install tiny-lib\n", Some(&index));
    let err = build_fails(refused.path(), &base, work.path());
    assert!(err.contains("externally-managed-environment"), "{err}");
    assert!(err.contains("Dockerfile:2"), "{err}");
    for steps in [
        "ENV PIP_BREAK_SYSTEM_PACKAGES=1\nRUN pip install tiny-lib\n",
        "RUN pip install --break-system-packages tiny-lib\n",
    ] {
        let allowed = project("idioms-pep668", steps, Some(&index));
        let out = work.path().join("allowed");
        let digest = build(allowed.path(), &base, &work.path().join("store"), &out);
        assert!(!digest.is_empty());
        let lock = std::fs::read_to_string(allowed.path().join("airlock.lock")).expect("lock");
        assert!(lock.contains("kind = \"pip\""), "{steps}: {lock}");
    }
}
