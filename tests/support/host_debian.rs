//! The host's Debian archive for end-to-end tests: its address read from the host's
//! apt sources at run time (none is written in the repo), a reachability check, and a
//! minbase root filesystem made by `mmdebstrap` as a cached OCI layout.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The host's first `deb` URI, from its deb822 or one-line apt sources.
pub fn host_archive_uri() -> Option<String> {
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
pub fn unreachable(uri: &str) -> Option<String> {
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

pub fn tool(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn run(command: &mut Command) -> std::process::Output {
    let out = command.output().expect("run");
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Whether the minbase layout is already made (then no network is needed for it).
pub fn minbase_cached() -> bool {
    super::rootfs::persistent_cache("minbase")
        .join("minbase-layout/index.json")
        .is_file()
}

/// The minbase root filesystem as an OCI layout, made once under the test target
/// directory (by `rootfs::debian_rootfs`) and shared by every test.
pub fn minbase_layout() -> PathBuf {
    let work = super::rootfs::persistent_cache("minbase");
    let _lock = super::rootfs::FileLock::acquire(&work.join("layout.lock"));
    let layout = work.join("minbase-layout");
    if layout.join("index.json").is_file() {
        return layout;
    }
    let tar = super::rootfs::debian_rootfs("bookworm", &[])
        .expect("mmdebstrap made the minbase root filesystem");
    super::rootfs::layout_from_rootfs(
        &tar,
        &layout,
        "bookworm",
        &["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "/",
    );
    layout
}
