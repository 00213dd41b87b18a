//! Third-party readers accept airlock's output: skopeo and umoci.

use crate::support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use support::{Sandbox, stderr};

fn tool(name: &str) -> Command {
    assert!(
        which(name),
        "`{name}` is not installed; run the test suite through `scripts/test`, which installs it"
    );
    Command::new(name)
}

fn which(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(name).is_file()))
        .unwrap_or(false)
}

#[test]
fn skopeo_inspect_agrees_with_the_printed_digest() {
    let sandbox = Sandbox::quickstart();
    let layout = sandbox.dir.path().join("oci");
    let spec = format!("oci:{}:v1", layout.display());
    let output = sandbox.build(&["--output", &spec]);
    assert!(output.status.success(), "{}", stderr(&output));
    let digest = support::stdout(&output).trim().to_string();
    let inspected = tool("skopeo")
        .args(["inspect", &format!("oci:{}:v1", layout.display())])
        .output()
        .expect("skopeo");
    assert!(inspected.status.success(), "{}", stderr(&inspected));
    let json: serde_json::Value = serde_json::from_slice(&inspected.stdout).expect("json");
    assert_eq!(json["Digest"], digest.as_str());
    assert_eq!(json["Architecture"], "amd64");
    assert_eq!(json["Os"], "linux");
    assert_eq!(
        json["Labels"]["org.opencontainers.image.title"],
        "quickstart"
    );
    let raw = tool("skopeo")
        .args(["inspect", "--raw", &format!("oci:{}:v1", layout.display())])
        .output()
        .expect("skopeo");
    assert_eq!(
        airlock::digest::Digest::of(&raw.stdout).to_string(),
        digest,
        "raw manifest bytes hash to the digest"
    );
}

#[test]
fn umoci_unpack_gives_the_expected_tree() {
    let sandbox = Sandbox::quickstart();
    let layout = sandbox.dir.path().join("oci");
    let spec = format!("oci:{}:v1", layout.display());
    assert!(sandbox.build(&["--output", &spec]).status.success());
    let bundle = sandbox.dir.path().join("bundle");
    let mut command = tool("umoci");
    command
        .args(["unpack", "--image", &format!("{}:v1", layout.display())])
        .arg(&bundle);
    // Unprivileged runs keep owners in umoci's metadata only; as root they are real.
    let rootless = nix_uid() != 0;
    if rootless {
        command.arg("--rootless");
    }
    let output = command.output().expect("umoci");
    assert!(output.status.success(), "{}", stderr(&output));
    let root = bundle.join("rootfs");
    let home = root.join("usr/local/airflow");
    for present in [
        "Dockerfile",
        "airlock.toml",
        "airlock.lock",
        "dags/example_dag.py",
        "dags/daily_report.py",
        "dags/.airflowignore",
        "include/helpers.py",
        "tests/dags/test_dag_integrity.py",
        ".placeholder",
    ] {
        assert!(home.join(present).exists(), "{present} missing");
    }
    for absent in ["README.md", "dags/scratch", ".airlock", ".git"] {
        assert!(!home.join(absent).exists(), "{absent} should be excluded");
    }
    // The base's own files are there, and the workdir keeps the base's mode.
    assert!(root.join("etc/passwd").is_file());
    let workdir = std::fs::metadata(&home).expect("workdir");
    assert_eq!(workdir.permissions().mode() & 0o7777, 0o775);
    let dag = std::fs::metadata(home.join("dags/example_dag.py")).expect("dag");
    assert_eq!(dag.permissions().mode() & 0o7777, 0o644);
    if !rootless {
        assert_eq!(
            (dag.uid(), dag.gid()),
            (support::ASTRO_UID, 0),
            "COPY --chown=astro:0"
        );
        assert_eq!(workdir.uid(), support::ASTRO_UID);
        let etc = std::fs::metadata(root.join("etc")).expect("etc");
        assert_eq!((etc.uid(), etc.gid()), (0, 0));
    }
    // The image config umoci wrote for the bundle carries our user and workdir.
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).expect("bundle config"))
            .expect("json");
    assert_eq!(config["process"]["cwd"], "/usr/local/airflow");
}

fn nix_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}
