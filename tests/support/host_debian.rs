//! The host's Debian archive for end-to-end tests: its address read from the host's
//! apt sources at run time (none is written in the repo), a reachability check, and a
//! minbase root filesystem made by `mmdebstrap` as a cached OCI layout.

use std::path::{Path, PathBuf};
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

/// The minbase root filesystem as an OCI layout (made once, then cached).
pub fn minbase_layout(work: &Path) -> PathBuf {
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
    super::debian::write_layout_of(&layout, "bookworm", &store, &[record], &Default::default());
    layout
}
