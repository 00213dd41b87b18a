//! End to end against the real archive this host's apt uses (read from the host's
//! apt sources at run time; no archive address is written here): a minbase root
//! filesystem made by `mmdebstrap` becomes the base, `packages.txt` asks for
//! `git jq`, and the built image runs both under `bwrap` with no network.
//!
//! Everything is cached under the test target directory, so reruns are offline:
//! the root filesystem, the project with its `airlock.lock`, and the store.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{airlock, stderr, stdout};

/// The host's first `deb` URI, from its deb822 or one-line apt sources.
fn host_archive_uri() -> Option<String> {
    let mut texts = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/etc/apt/sources.list") {
        texts.push(text);
    }
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = dir.filter_map(Result::ok).map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let name = path.to_string_lossy().into_owned();
            if name.ends_with(".sources") || name.ends_with(".list") {
                texts.push(std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    for text in texts {
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("URIs:") {
                return rest.split_whitespace().next().map(str::to_string);
            }
            if let Some(rest) = line.strip_prefix("deb ") {
                return rest
                    .split_whitespace()
                    .find(|w| w.contains("://"))
                    .map(str::to_string);
            }
        }
    }
    None
}

/// Why the archive cannot be used, if it cannot.
fn unreachable(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    let host = url.host_str()?.to_string();
    let port = url.port_or_known_default()?;
    let addrs = match std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)) {
        Ok(a) => a.collect::<Vec<_>>(),
        Err(e) => return Some(format!("cannot resolve the host's archive: {e}")),
    };
    for addr in &addrs {
        if std::net::TcpStream::connect_timeout(addr, Duration::from_secs(5)).is_ok() {
            return None;
        }
    }
    Some("the host's archive does not answer".into())
}

fn tool(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(command: &mut Command) -> std::process::Output {
    let out = command.output().expect("run");
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The minbase root filesystem as an OCI layout (made once, then cached).
fn minbase_layout(work: &Path) -> PathBuf {
    let layout = work.join("minbase-layout");
    if layout.join("index.json").is_file() {
        return layout;
    }
    let tarball = work.join("minbase.tar");
    if !tarball.is_file() {
        let partial = work.join("minbase.partial.tar");
        run(Command::new("mmdebstrap")
            .args(["--variant=minbase", "--quiet", "bookworm"])
            .arg(&partial)
            .env("SOURCE_DATE_EPOCH", "0"));
        std::fs::rename(&partial, &tarball).expect("rename");
    }
    let gz = work.join("minbase.tar.gz");
    let out = run(Command::new("sh")
        .arg("-c")
        .arg("gzip -1 -n -c \"$1\" > \"$2\" && sha256sum < \"$1\"")
        .arg("sh")
        .arg(&tarball)
        .arg(&gz));
    let diff_id = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("sha256")
        .to_string();
    let store_dir = work.join("fixture-store");
    let store = airlock::store::Store::open(&store_dir).expect("store");
    let bytes = std::fs::read(&gz).expect("read");
    let digest = store.put_bytes(&bytes).expect("blob");
    let record = airlock::store::LayerRecord {
        digest,
        diff_id: format!("sha256:{diff_id}").parse().expect("digest"),
        size: bytes.len() as u64,
        media_type: airlock::layer::LAYER_MEDIA_TYPE.to_string(),
    };
    support::debian::write_layout_of(&layout, "bookworm", &store, &[record], &Default::default());
    layout
}

#[test]
fn git_and_jq_from_the_real_archive_run_in_the_image() {
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debian-e2e");
    std::fs::create_dir_all(&work).expect("mkdir");
    let project = work.join("project");
    let cached = project.join("airlock.lock").is_file() && work.join("minbase.tar").is_file();
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
    let layout = minbase_layout(&work);
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
