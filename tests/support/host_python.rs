//! The host's Python package index for end-to-end tests (found at run time the way
//! pip finds it; no index address is written in the repo) and a Debian bookworm base
//! with python3, made once by `mmdebstrap` and cached.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::rootfs::{FileLock, debian_rootfs, layout_from_rootfs, persistent_cache};

/// The tag of the Debian python3 base.
pub const BASE_TAG: &str = "bookworm";

/// The index the host's pip uses: `PIP_INDEX_URL`, pip's configuration, or pip's
/// own default, asked of pip itself.
pub fn host_index() -> Option<String> {
    if let Ok(url) = std::env::var("PIP_INDEX_URL")
        && !url.trim().is_empty()
    {
        return Some(url.trim().to_string());
    }
    let run = |args: &[&str]| {
        Command::new("python3")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    if let Some(config) = run(&["-m", "pip", "config", "list"]) {
        for line in config.lines() {
            if let Some((key, value)) = line.split_once('=')
                && key.trim().ends_with(".index-url")
            {
                return Some(value.trim().trim_matches(['\'', '"']).to_string());
            }
        }
    }
    run(&[
        "-c",
        "from pip._internal.models.index import PyPI; print(PyPI.simple_url)",
    ])
    .map(|s| s.trim().to_string())
}

/// Whether the index answers a TCP connection within a few seconds.
pub fn reachable(index: &str) -> bool {
    let Ok(url) = url::Url::parse(index) else {
        return false;
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    use std::net::ToSocketAddrs;
    let Ok(mut addrs) = (host, port).to_socket_addrs() else {
        return false;
    };
    addrs.any(|a| {
        std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(5)).is_ok()
    })
}

/// The Debian base with python3, as an OCI layout (made once, cached).
pub fn debian_python_base() -> Option<PathBuf> {
    let dir = persistent_cache("python-real");
    let layout = dir.join("base-layout");
    let _lock = FileLock::acquire(&dir.join("base-layout.lock"));
    if layout.join("index.json").is_file() {
        return Some(layout);
    }
    let tar = debian_rootfs(BASE_TAG, &["python3"])?;
    layout_from_rootfs(
        &tar,
        &layout,
        BASE_TAG,
        &["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "/opt/project",
    );
    Some(layout)
}

/// A virtual environment at `venv` with `packages` installed from the index pip is
/// configured for; false when either step failed.
pub fn make_venv(venv: &Path, packages: &[&str]) -> bool {
    Command::new("python3")
        .args(["-m", "venv"])
        .arg(venv)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet"])
            .args(packages)
            .status()
            .is_ok_and(|s| s.success())
}

/// uv, installed from the index into a virtual environment kept between runs (shared
/// by the agreement test and the Python benchmark).
pub fn uv() -> Option<PathBuf> {
    let venv = persistent_cache("python-real").join("uv-venv");
    let uv = venv.join("bin/uv");
    if uv.is_file() {
        return Some(uv);
    }
    if !make_venv(&venv, &["uv"]) {
        eprintln!("skipping: cannot install uv into a virtual environment");
        return None;
    }
    Some(uv)
}

/// `name==version` of every wheel in a lock's text, sorted.
pub fn locked_pins(lock_text: &str) -> Vec<String> {
    let lock: toml::Value = toml::from_str(lock_text).expect("the lock is TOML");
    let mut pins: Vec<String> = lock
        .get("wheels")
        .and_then(|w| w.as_array())
        .map(|wheels| {
            wheels
                .iter()
                .map(|w| {
                    format!(
                        "{}=={}",
                        w["name"].as_str().unwrap_or(""),
                        w["version"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    pins.sort();
    pins
}

/// The pins `uv pip compile` printed (`name==version` lines), names normalised, sorted.
pub fn compiled_pins(stdout: &[u8]) -> Vec<String> {
    let mut pins: Vec<String> = String::from_utf8_lossy(stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, version) = l.split_once("==").expect("pinned line");
            let name = name.trim().to_ascii_lowercase().replace(['_', '.'], "-");
            format!("{name}=={}", version.trim())
        })
        .collect();
    pins.sort();
    pins
}
