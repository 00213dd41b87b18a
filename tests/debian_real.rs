//! End to end against the real archive this host's apt uses (read from the host's
//! apt sources at run time; no archive address is written here): a minbase root
//! filesystem made by `mmdebstrap` becomes the base, `packages.txt` asks for
//! `git jq`, and the built image runs both under `bwrap` with no network.
//!
//! Everything is cached under the test target directory, so reruns are offline:
//! the root filesystem, the project with its `airlock.lock`, and the store.

use crate::support;

use std::path::Path;
use std::process::Command;

use support::host_debian::{host_archive_uri, minbase_layout, run, tool, unreachable};
use support::{airlock, stderr, stdout};

#[test]
fn git_and_jq_from_the_real_archive_run_in_the_image() {
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debian-e2e");
    std::fs::create_dir_all(&work).expect("mkdir");
    let project = work.join("project");
    let cached = project.join("airlock.lock").is_file() && support::host_debian::minbase_cached();
    if !cached {
        let Some(uri) = host_archive_uri() else {
            eprintln!("SKIP: this host has no apt sources to read the archive address from");
            return;
        };
        if let Some(reason) = unreachable(&uri) {
            eprintln!("SKIP: {reason}; the end-to-end Debian test needs it once to fill its cache");
            return;
        }
    }
    for needed in ["mmdebstrap", "umoci", "bwrap"] {
        assert!(
            tool(needed),
            "`{needed}` is missing: run scripts/test, which installs it"
        );
    }
    let layout = minbase_layout();
    std::fs::create_dir_all(project.join("dags")).expect("mkdir");
    std::fs::write(project.join("Dockerfile"), "FROM e2e/minbase:bookworm\n").expect("write");
    std::fs::write(project.join("packages.txt"), "git jq\n").expect("write");
    let cache = work.join("store");
    let args = |extra: &[&str]| {
        let mut args = vec![
            "build".to_string(),
            project.to_string_lossy().into_owned(),
            "--cache-dir".into(),
            cache.to_string_lossy().into_owned(),
            "--base-layout".into(),
            layout.to_string_lossy().into_owned(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let build_args = args(if cached { &["--frozen"] } else { &[] });
    let build_args: Vec<&str> = build_args.iter().map(String::as_str).collect();
    let out = airlock(&build_args, &work, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let digest = stdout(&out).trim().to_string();
    let lock = std::fs::read_to_string(project.join("airlock.lock")).expect("lock");
    assert!(lock.contains("name = \"git\"") && lock.contains("name = \"jq\""));

    let bundle = work.join("bundle");
    let _ = std::fs::remove_dir_all(&bundle);
    let image = format!("{}:latest", project.join(".airlock/oci").display());
    run(Command::new("umoci")
        .args(["unpack", "--rootless", "--image", &image])
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    let sandbox = |command: &[&str]| {
        let mut c = Command::new("bwrap");
        c.arg("--bind")
            .arg(&rootfs)
            .arg("/")
            .args(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"])
            .args(["--unshare-net", "--unshare-pid", "--die-with-parent"])
            .args(["--setenv", "PATH", "/usr/sbin:/usr/bin:/sbin:/bin"])
            .args(command);
        String::from_utf8_lossy(&run(&mut c).stdout).into_owned()
    };
    assert!(sandbox(&["git", "--version"]).starts_with("git version"));
    assert!(sandbox(&["jq", "--version"]).starts_with("jq-"));
    let listed = sandbox(&["dpkg", "-l", "git", "jq"]);
    assert!(
        listed.lines().any(|l| l.starts_with("ii  git ")),
        "{listed}"
    );
    assert!(listed.lines().any(|l| l.starts_with("ii  jq ")), "{listed}");
    let audit = sandbox(&["dpkg", "--audit"]);
    assert!(audit.trim().is_empty(), "dpkg --audit: {audit}");
    eprintln!("image {digest}");
}
