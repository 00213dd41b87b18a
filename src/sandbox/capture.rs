//! A Dockerfile `RUN` in the sandbox, its changes captured as one layer.
//!
//! The layers below are unpacked (the cached root filesystem of `rootfs.rs`), copied
//! into a writable root, and the command runs there under bubblewrap: as the step's
//! user, with its environment and working directory, `SOURCE_DATE_EPOCH` set, no
//! network unless the step may have it, secrets bind-mounted read-only (outside the
//! captured tree) and cache mounts from the store. The root is then compared with
//! the tree before (type, mode, owner, content, link target) and the difference
//! written as one normalised layer: sorted, every timestamp `SOURCE_DATE_EPOCH`,
//! deletions as whiteouts, caches and mount targets ([`DROPPED`]) left out.
//!
//! Owners: the sandbox maps one user (the step's), so a file the command creates or
//! changes is owned by the step's user, and a file it leaves alone keeps the owner
//! its layer gave it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use super::bwrap::{BWRAP, find_in_path};
use super::rootfs::{RootfsError, unpack_rootfs};
use crate::digest::Digest;
use crate::image::{Accounts, open_layer, resolve_owner};
use crate::layer::{
    Compression, Entry, EntryKind, FileSource, FileTree, LayerError, Owner, write_layer_with,
};
use crate::store::{LayerRecord, Store};

/// Paths whose changes never reach the layer: scratch space and caches.
pub(crate) const DROPPED: [&str; 6] = [
    "tmp",
    "var/tmp",
    "var/lib/apt/lists",
    "var/cache/apt",
    "root/.cache",
    "run",
];

/// How much of the command's output an error keeps (its last bytes).
const OUTPUT_KEPT: usize = 4000;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("`bwrap` (bubblewrap) is not installed, so a `RUN` step cannot run")]
    NoBwrap,
    #[error("Cannot {action} `{}`", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("The user `{user}` of the step is not in the image: {reason}")]
    User { user: String, reason: String },
    #[error("The command failed ({status}); its output ended with:\n{output}")]
    Failed { status: String, output: String },
    #[error("Cannot read layer `{}`", path.display())]
    ReadLayer {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> CaptureError + 'a {
    move |source| CaptureError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// A secret file: on the host, and where the command finds it.
#[derive(Debug, Clone)]
pub(crate) struct SecretFile {
    pub host: PathBuf,
    pub target: String,
}

/// A cache mount: a directory kept in the store under `id`, mounted at `target`.
#[derive(Debug, Clone)]
pub(crate) struct CacheDir {
    pub id: String,
    pub target: String,
}

/// One command to run over `layers` and capture.
#[derive(Debug, Clone)]
pub(crate) struct RunInSandbox {
    /// The layers below, bottom first: (digest, blob path).
    pub layers: Vec<(Digest, PathBuf)>,
    /// The argument vector (the shell form already wrapped in the `SHELL`).
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    /// `user[:group]`, names or numbers (`root` when empty).
    pub user: String,
    pub workdir: String,
    pub source_date_epoch: u64,
    pub network: bool,
    pub secrets: Vec<SecretFile>,
    pub caches: Vec<CacheDir>,
    /// Values never shown: the secrets' contents, replaced in the command's output
    /// by `***` when an error quotes it.
    pub hidden: Vec<String>,
    /// How the captured layer is compressed.
    pub compression: Compression,
}

/// What a run produced.
#[derive(Debug)]
pub(crate) struct Captured {
    /// The layer, `None` when the command changed nothing kept.
    pub record: Option<LayerRecord>,
    /// The paths of the layer's entries, sorted (whiteouts as `.wh.` names).
    pub paths: Vec<String>,
}

/// The state of one path: what the diff compares.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir,
    File {
        size: u64,
    },
    Symlink(String),
    /// Sockets, FIFOs, devices: never captured.
    Special,
}

#[derive(Debug, Clone)]
struct Meta {
    node: Node,
    mode: u32,
    ctime: (i64, i64),
}

/// Walks `root` into relative path → state, symbolic links not followed.
fn walk(root: &Path) -> Result<BTreeMap<String, Meta>, CaptureError> {
    let mut out = BTreeMap::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let dir = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&rel)
        };
        let entries = std::fs::read_dir(&dir).map_err(io_error("read the directory", &dir))?;
        for entry in entries {
            let entry = entry.map_err(io_error("read the directory", &dir))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                tracing::warn!(dir = %dir.display(), "skipping a name that is not UTF-8");
                continue;
            };
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let host = root.join(&path);
            let meta = std::fs::symlink_metadata(&host).map_err(io_error("read", &host))?;
            let kind = meta.file_type();
            let node = if kind.is_dir() {
                stack.push(path.clone());
                Node::Dir
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&host).map_err(io_error("read the link", &host))?;
                Node::Symlink(target.to_string_lossy().into_owned())
            } else if kind.is_file() {
                Node::File { size: meta.len() }
            } else {
                Node::Special
            };
            out.insert(
                path,
                Meta {
                    node,
                    mode: meta.permissions().mode() & 0o7777,
                    ctime: (meta.ctime(), meta.ctime_nsec()),
                },
            );
        }
    }
    Ok(out)
}

/// Whether `path` is `prefix` or under it.
fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || (path.len() > prefix.len()
            && path.starts_with(prefix)
            && path.as_bytes()[prefix.len()] == b'/')
}

fn file_digest(path: &Path) -> Result<Digest, CaptureError> {
    let file = std::fs::File::open(path).map_err(io_error("read", path))?;
    Digest::of_reader(file)
        .map(|(digest, _)| digest)
        .map_err(io_error("read", path))
}

/// Runs `spec` and writes its changes into the store as one layer.
pub(crate) fn run_and_capture(
    store: &Store,
    spec: &RunInSandbox,
) -> Result<Captured, CaptureError> {
    let rootfs = unpack_rootfs(store, &spec.layers)?;
    let runs = store.root().join("run");
    std::fs::create_dir_all(&runs).map_err(io_error("create", &runs))?;
    let scratch = tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(&runs)
        .map_err(io_error("create a directory in", &runs))?;
    let root = scratch.path().join("root");
    copy_tree(&rootfs, &root)?;
    let _ = std::fs::remove_file(root.join(".airlock-complete"));
    let owner = step_owner(&root, &spec.user)?;
    let workdir = spec.workdir.trim_start_matches('/');
    if !workdir.is_empty() {
        let dir = root.join(workdir);
        std::fs::create_dir_all(&dir).map_err(io_error("create the working directory", &dir))?;
    }
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    run_bwrap(store, spec, &root, owner)?;
    let mounts: Vec<String> = spec
        .secrets
        .iter()
        .map(|s| s.target.clone())
        .chain(spec.caches.iter().map(|c| c.target.clone()))
        .chain(spec.network.then(|| "/etc/resolv.conf".to_string()))
        .map(|t| t.trim_start_matches('/').to_string())
        .collect();
    let mut before = walk(&rootfs)?;
    before.remove(".airlock-complete");
    let after = walk(&root)?;
    let tree = diff_trees(&Trees {
        before: (&rootfs, &before),
        after: (&root, &after),
        started,
        owner,
        dropped: &mounts,
        layers: &spec.layers,
    })?;
    let paths = tree.iter().map(|(p, _)| p.to_string()).collect();
    let record = match tree.is_empty() {
        true => None,
        false => Some(write_layer_with(
            store,
            &tree,
            spec.source_date_epoch,
            spec.compression,
        )?),
    };
    Ok(Captured { record, paths })
}

/// Copies the cached root into a writable one (`cp -a`, reflinks where the
/// filesystem shares extents).
fn copy_tree(from: &Path, to: &Path) -> Result<(), CaptureError> {
    let output = Command::new("cp")
        .args(["-a", "--reflink=auto"])
        .arg(from)
        .arg(to)
        .output()
        .map_err(io_error("copy", from))?;
    if !output.status.success() {
        return Err(CaptureError::Io {
            action: "copy",
            path: from.to_path_buf(),
            source: io::Error::other(String::from_utf8_lossy(&output.stderr).into_owned()),
        });
    }
    Ok(())
}

/// The step's `user[:group]` in numbers, names looked up in the root's accounts.
fn step_owner(root: &Path, user: &str) -> Result<Owner, CaptureError> {
    if user.is_empty() {
        return Ok(Owner::ROOT);
    }
    let read = |name: &str| std::fs::read_to_string(root.join(name)).unwrap_or_default();
    let accounts = Accounts::from_text(&read("etc/passwd"), &read("etc/group"));
    resolve_owner(user, &accounts).map_err(|e| CaptureError::User {
        user: user.to_string(),
        reason: e.to_string(),
    })
}

/// Runs the command in `root` (mounted read-write as `/`).
fn run_bwrap(
    store: &Store,
    spec: &RunInSandbox,
    root: &Path,
    owner: Owner,
) -> Result<(), CaptureError> {
    let bwrap = find_in_path(BWRAP).ok_or(CaptureError::NoBwrap)?;
    let mut command = Command::new(bwrap);
    command
        .arg("--unshare-all")
        .arg("--die-with-parent")
        .arg("--new-session")
        .args(["--uid", &owner.uid.to_string()])
        .args(["--gid", &owner.gid.to_string()])
        .arg("--bind")
        .arg(root)
        .arg("/")
        .args(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]);
    if spec.network {
        command.arg("--share-net");
        if Path::new("/etc/resolv.conf").exists() {
            command.args(["--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf"]);
        }
    }
    for cache in &spec.caches {
        let dir = cache_dir(store, &cache.id);
        std::fs::create_dir_all(&dir).map_err(io_error("create the cache", &dir))?;
        command.arg("--bind").arg(&dir).arg(&cache.target);
    }
    for secret in &spec.secrets {
        command
            .arg("--ro-bind")
            .arg(&secret.host)
            .arg(&secret.target);
    }
    command.env_clear();
    if !spec.env.iter().any(|(key, _)| key == "PATH") {
        command.env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
    }
    if !spec.env.iter().any(|(key, _)| key == "HOME") {
        let home = if owner.uid == 0 { "/root" } else { "/tmp" };
        command.env("HOME", home);
    }
    command.envs(spec.env.iter().map(|(k, v)| (k, v)));
    command.env("SOURCE_DATE_EPOCH", spec.source_date_epoch.to_string());
    let workdir = if spec.workdir.is_empty() {
        "/"
    } else {
        &spec.workdir
    };
    command.args(["--chdir", workdir, "--"]).args(&spec.command);
    command.stdin(Stdio::null());
    tracing::debug!(command = ?spec.command, network = spec.network, "running a step in the sandbox");
    let output = command
        .output()
        .map_err(io_error("run", Path::new(BWRAP)))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    for value in spec
        .hidden
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        text = text.replace(value, "***");
    }
    if !output.status.success() {
        let start = text.len().saturating_sub(OUTPUT_KEPT);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        return Err(CaptureError::Failed {
            status: output.status.to_string(),
            output: text[start..].to_string(),
        });
    }
    Ok(())
}

/// The store's directory for the cache mount `id`.
pub(crate) fn cache_dir(store: &Store, id: &str) -> PathBuf {
    store
        .root()
        .join("run-cache")
        .join(Digest::of(id.as_bytes()).hex())
}

/// The two walks and what the diff needs besides.
struct Trees<'a> {
    before: (&'a Path, &'a BTreeMap<String, Meta>),
    after: (&'a Path, &'a BTreeMap<String, Meta>),
    /// When the command started (seconds): an untouched copy's `ctime` is older.
    started: i64,
    owner: Owner,
    /// Mount targets, relative.
    dropped: &'a [String],
    layers: &'a [(Digest, PathBuf)],
}

impl Trees<'_> {
    fn dropped(&self, path: &str) -> bool {
        DROPPED.iter().any(|d| under(path, d)) || self.dropped.iter().any(|d| under(path, d))
    }

    /// Whether `path` is a directory above a mount target: bubblewrap makes those
    /// when they are missing, the command did not.
    fn mount_parent(&self, path: &str) -> bool {
        self.dropped.iter().any(|d| under(d, path))
    }

    /// Whether `path` (in both trees) differs.
    fn changed(&self, path: &str, old: &Meta, new: &Meta) -> Result<bool, CaptureError> {
        if old.node != new.node || old.mode != new.mode {
            return Ok(true);
        }
        match new.node {
            Node::File { .. } if new.ctime.0 + 1 >= self.started => {
                Ok(file_digest(&self.before.0.join(path))?
                    != file_digest(&self.after.0.join(path))?)
            }
            _ => Ok(false),
        }
    }
}

/// The layer of what changed from `before` to `after`.
fn diff_trees(trees: &Trees<'_>) -> Result<FileTree, CaptureError> {
    let (before, after) = (trees.before.1, trees.after.1);
    let mut entries: BTreeMap<String, (Meta, bool)> = BTreeMap::new();
    for (path, new) in after {
        if trees.dropped(path) || new.node == Node::Special {
            continue;
        }
        match before.get(path) {
            None if new.node == Node::Dir && trees.mount_parent(path) => {}
            None => {
                entries.insert(path.clone(), (new.clone(), false));
            }
            Some(old) if trees.changed(path, old, new)? => {
                let same_kind =
                    std::mem::discriminant(&old.node) == std::mem::discriminant(&new.node);
                entries.insert(path.clone(), (new.clone(), same_kind));
            }
            Some(_) => {}
        }
    }
    let mut deleted = Vec::new();
    for path in before.keys() {
        if trees.dropped(path) || after.contains_key(path) {
            continue;
        }
        let parent_gone = path
            .rsplit_once('/')
            .is_some_and(|(parent, _)| !after.contains_key(parent));
        if !parent_gone {
            deleted.push(path.clone());
        }
    }
    // Owners from the layers below: for what the command changed in place, and for
    // the unchanged parents the layer must carry.
    let mut wanted: BTreeSet<String> = entries
        .iter()
        .filter(|(_, (_, kept))| *kept)
        .map(|(p, _)| p.clone())
        .collect();
    for path in entries.keys().chain(&deleted) {
        let mut end = 0;
        while let Some(pos) = path[end..].find('/') {
            end += pos;
            wanted.insert(path[..end].to_string());
            end += 1;
        }
    }
    let owners = layer_owners(trees.layers, &wanted)?;
    let mut tree = FileTree::new();
    for (path, (meta, kept)) in &entries {
        let owner = match kept {
            true => owners.get(path).copied().unwrap_or(trees.owner),
            false => trees.owner,
        };
        tree.insert(path, entry(trees.after.0, path, meta, owner)?)
            .map_err(|e| CaptureError::Io {
                action: "capture",
                path: PathBuf::from(path),
                source: io::Error::other(e.to_string()),
            })?;
    }
    for path in &deleted {
        let (parent, name) = match path.rsplit_once('/') {
            Some((parent, name)) => (format!("{parent}/"), name),
            None => (String::new(), path.as_str()),
        };
        let whiteout = format!("{parent}.wh.{name}");
        let empty: Arc<[u8]> = Arc::from(Vec::new());
        let _ = tree.insert(
            &whiteout,
            Entry {
                kind: EntryKind::File {
                    source: FileSource::Bytes(empty),
                    size: 0,
                    sha256: Digest::of(b""),
                },
                mode: 0o644,
                owner: Owner::ROOT,
            },
        );
    }
    tree.add_parents(|parent| {
        let mode = after.get(parent).map_or(0o755, |m| m.mode);
        (mode, owners.get(parent).copied().unwrap_or(Owner::ROOT))
    });
    Ok(tree)
}

/// The layer entry of `path` in `root`.
fn entry(root: &Path, path: &str, meta: &Meta, owner: Owner) -> Result<Entry, CaptureError> {
    let kind = match &meta.node {
        Node::Dir => EntryKind::Dir,
        Node::Symlink(target) => EntryKind::Symlink {
            target: target.clone(),
        },
        Node::File { size } => {
            let host = root.join(path);
            EntryKind::File {
                sha256: file_digest(&host)?,
                source: FileSource::Host(host),
                size: *size,
            }
        }
        Node::Special => {
            return Err(CaptureError::Io {
                action: "capture the special file",
                path: root.join(path),
                source: io::Error::other("sockets, FIFOs and devices are not captured"),
            });
        }
    };
    let mode = match kind {
        EntryKind::Symlink { .. } => 0o777,
        _ => meta.mode,
    };
    Ok(Entry { kind, mode, owner })
}

/// The owners the layers give the `wanted` paths (the last layer that has each).
fn layer_owners(
    layers: &[(Digest, PathBuf)],
    wanted: &BTreeSet<String>,
) -> Result<BTreeMap<String, Owner>, CaptureError> {
    let mut owners = BTreeMap::new();
    if wanted.is_empty() {
        return Ok(owners);
    }
    for (_, blob) in layers {
        for_each_header(blob, |path, header, _| {
            if wanted.contains(path) {
                let owner = Owner {
                    uid: header.uid().unwrap_or(0) as u32,
                    gid: header.gid().unwrap_or(0) as u32,
                };
                owners.insert(path.to_string(), owner);
            }
            Ok(())
        })?;
    }
    Ok(owners)
}

/// Calls `f` with each entry of the layer blob at `blob`: its normalised path (no
/// `./`, no trailing `/`), header and body.
fn for_each_header(
    blob: &Path,
    mut f: impl FnMut(&str, &tar::Header, &mut dyn Read) -> Result<(), CaptureError>,
) -> Result<(), CaptureError> {
    let layer_error = |source: io::Error| CaptureError::ReadLayer {
        path: blob.to_path_buf(),
        source,
    };
    let reader = open_layer(blob).map_err(layer_error)?;
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(layer_error)? {
        let mut entry = entry.map_err(layer_error)?;
        let raw = entry.path().map_err(layer_error)?.into_owned();
        let path = raw.to_string_lossy();
        let path = path
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        let header = entry.header().clone();
        f(&path, &header, &mut entry)?;
    }
    Ok(())
}

/// One entry of a layer, as two layers are compared.
fn layer_summary(blob: &Path) -> Result<BTreeMap<String, String>, CaptureError> {
    let mut out = BTreeMap::new();
    for_each_header(blob, |path, header, body| {
        let link = header
            .link_name()
            .ok()
            .flatten()
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (content, _) = Digest::of_reader(body).map_err(|source| CaptureError::ReadLayer {
            path: blob.to_path_buf(),
            source,
        })?;
        let summary = format!(
            "{:?} {:o} {}:{} {link} {content}",
            header.entry_type(),
            header.mode().unwrap_or(0),
            header.uid().unwrap_or(0),
            header.gid().unwrap_or(0),
        );
        out.insert(path.to_string(), summary);
        Ok(())
    })?;
    Ok(out)
}

/// The first (at most `limit`) paths, sorted, at which the layer blobs `a` and `b`
/// differ: present in one only, or with another type, mode, owner, link or content.
pub(crate) fn differing_paths(
    a: &Path,
    b: &Path,
    limit: usize,
) -> Result<Vec<String>, CaptureError> {
    let (a, b) = (layer_summary(a)?, layer_summary(b)?);
    let paths: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    Ok(paths
        .into_iter()
        .filter(|p| a.get(*p) != b.get(*p))
        .take(limit)
        .map(|p| format!("/{p}"))
        .collect())
}

impl crate::hint::Hint for CaptureError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Rootfs(e) => e.hints(),
            Self::Layer(e) => e.hints(),
            Self::Store(e) => e.hints(),
            Self::NoBwrap => vec![
                "install it: `apt-get install bubblewrap` (Debian/Ubuntu) or `dnf install bubblewrap`".into(),
            ],
            Self::Io { .. } | Self::User { .. } | Self::Failed { .. } | Self::ReadLayer { .. } => {
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny base made in code from the host's own `dash` and coreutils (with the
    /// libraries `ldd` names): one uncompressed layer in `store`, with `/etc/passwd`,
    /// a file to delete and a directory owned by a user.
    fn tiny_base(store: &Store) -> Option<Vec<(Digest, PathBuf)>> {
        let tools = [
            "dash", "mkdir", "rm", "cat", "head", "wc", "cp", "date", "ls",
        ];
        let mut files: BTreeSet<PathBuf> = BTreeSet::new();
        for tool in tools {
            let path = find_in_path(tool)?;
            let path = std::fs::canonicalize(path).ok()?;
            let ldd = Command::new("ldd").arg(&path).output().ok()?;
            for word in String::from_utf8_lossy(&ldd.stdout).split_whitespace() {
                if word.starts_with('/') {
                    files.insert(PathBuf::from(word));
                }
            }
            files.insert(path);
        }
        let mut builder = tar::Builder::new(Vec::new());
        let mut dirs = BTreeSet::new();
        let add_dir = |builder: &mut tar::Builder<Vec<u8>>, dir: &str, uid: u64| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_uid(uid);
            header.set_gid(uid);
            header.set_size(0);
            builder
                .append_data(&mut header, format!("{dir}/"), io::empty())
                .expect("dir");
        };
        for file in &files {
            let rel = file.to_string_lossy().trim_start_matches('/').to_string();
            let mut parent = String::new();
            for part in rel
                .split('/')
                .collect::<Vec<_>>()
                .iter()
                .rev()
                .skip(1)
                .rev()
            {
                parent = if parent.is_empty() {
                    part.to_string()
                } else {
                    format!("{parent}/{part}")
                };
                if dirs.insert(parent.clone()) {
                    add_dir(&mut builder, &parent, 0);
                }
            }
        }
        for dir in ["etc", "bin", "home", "home/astro", "opt"] {
            if dirs.insert(dir.to_string()) {
                add_dir(
                    &mut builder,
                    dir,
                    if dir == "home/astro" { 1000 } else { 0 },
                );
            }
        }
        let add_file = |builder: &mut tar::Builder<Vec<u8>>, rel: &str, data: &[u8], mode| {
            let mut header = tar::Header::new_gnu();
            header.set_mode(mode);
            header.set_size(data.len() as u64);
            builder.append_data(&mut header, rel, data).expect("file");
        };
        for file in &files {
            let rel = file.to_string_lossy().trim_start_matches('/').to_string();
            let data = std::fs::read(file).expect("read a host tool");
            add_file(&mut builder, &rel, &data, 0o755);
        }
        for tool in tools {
            let host = std::fs::canonicalize(find_in_path(tool)?).ok()?;
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            let name = if tool == "dash" { "sh" } else { tool };
            builder
                .append_link(&mut header, format!("bin/{name}"), &host)
                .expect("link");
        }
        add_file(
            &mut builder,
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nastro:x:1000:1000::/home/astro:/bin/sh\n",
            0o644,
        );
        add_file(
            &mut builder,
            "etc/group",
            b"root:x:0:\nastro:x:1000:\n",
            0o644,
        );
        add_file(&mut builder, "etc/gone", b"to be deleted", 0o644);
        let bytes = builder.into_inner().expect("tar");
        let digest = store.put_bytes(&bytes).expect("blob");
        Some(vec![(digest.clone(), store.blob_path(&digest))])
    }

    fn spec(layers: &[(Digest, PathBuf)], script: &str) -> RunInSandbox {
        RunInSandbox {
            layers: layers.to_vec(),
            command: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: vec![("PATH".into(), "/bin".into())],
            user: String::new(),
            workdir: "/".into(),
            source_date_epoch: 1_700_000_000,
            network: false,
            secrets: Vec::new(),
            caches: Vec::new(),
            hidden: Vec::new(),
            compression: Compression::Gzip,
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("store")).expect("store");
        (dir, store)
    }

    /// Runs `script` over the tiny base in a fresh store; `None` without bwrap.
    fn run(
        script: &str,
        edit: impl Fn(&mut RunInSandbox),
    ) -> Option<(tempfile::TempDir, Store, Captured)> {
        find_in_path(BWRAP)?;
        let (dir, store) = store();
        let layers = tiny_base(&store)?;
        let mut spec = spec(&layers, script);
        edit(&mut spec);
        let captured = run_and_capture(&store, &spec).expect("the step runs");
        Some((dir, store, captured))
    }

    fn layer_entries(store: &Store, record: &LayerRecord) -> BTreeMap<String, (Owner, Vec<u8>)> {
        let mut out = BTreeMap::new();
        for_each_header(&store.blob_path(&record.digest), |path, header, body| {
            let mut data = Vec::new();
            body.read_to_end(&mut data).expect("read");
            let owner = Owner {
                uid: header.uid().expect("uid") as u32,
                gid: header.gid().expect("gid") as u32,
            };
            assert_eq!(header.mtime().expect("mtime"), 1_700_000_000, "{path}");
            out.insert(path.to_string(), (owner, data));
            Ok(())
        })
        .expect("layer");
        out
    }

    /// #13 item 3: a deterministic RUN gives one layer: its files, a whiteout for
    /// what it deleted, the parents, nothing of `/tmp`, `/root/.cache` or `/run`,
    /// and the same digest from two stores.
    #[test]
    fn item13_3_run_is_captured_as_one_normalised_layer() {
        let script = "mkdir -p /opt/x && echo hi > /opt/x/y && rm /etc/gone \
            && echo t > /tmp/t && mkdir -p /root/.cache /var/tmp && echo c > /root/.cache/c \
            && echo v > /var/tmp/v && mkdir -p /run/x";
        let Some((_dir, store, first)) = run(script, |_| {}) else {
            eprintln!("skipping: no bwrap or ldd");
            return;
        };
        assert_eq!(
            first.paths,
            [
                "etc",
                "etc/.wh.gone",
                "opt",
                "opt/x",
                "opt/x/y",
                "root",
                "var"
            ],
            "{:?}",
            first.paths
        );
        let record = first.record.expect("a layer");
        let entries = layer_entries(&store, &record);
        assert_eq!(entries["opt/x/y"].1, b"hi\n");
        let (_dir2, _store2, second) = run(script, |_| {}).expect("runs again");
        assert_eq!(second.record.expect("a layer").diff_id, record.diff_id);

        // Nothing changed: no layer.
        let (_dir3, _store3, none) = run("echo nothing > /tmp/x", |_| {}).expect("runs");
        assert!(none.record.is_none(), "{:?}", none.paths);
    }

    /// #13 item 3: a RUN writing random bytes differs between two runs, and the
    /// comparison names the file.
    #[test]
    fn item13_3_nondeterministic_run_names_the_differing_file() {
        let script =
            "mkdir -p /opt && head -c 16 /dev/urandom > /opt/random && echo same > /opt/same";
        let Some((_dir, store, first)) = run(script, |_| {}) else {
            eprintln!("skipping: no bwrap or ldd");
            return;
        };
        let (_dir2, store2, second) = run(script, |_| {}).expect("runs again");
        let (a, b) = (first.record.expect("layer"), second.record.expect("layer"));
        assert_ne!(a.diff_id, b.diff_id);
        let paths = differing_paths(&store.blob_path(&a.digest), &store2.blob_path(&b.digest), 5)
            .expect("compared");
        assert_eq!(paths, ["/opt/random"]);
    }

    /// #13 item 3: the step's user owns what it makes; untouched parents keep the
    /// owner their layer gave them; a failing command's output is in the error.
    #[test]
    fn item13_3_run_as_the_step_user_and_failures_show_output() {
        let Some((_dir, store, captured)) = run("echo a > /home/astro/a", |s| {
            s.user = "astro".into();
        }) else {
            eprintln!("skipping: no bwrap or ldd");
            return;
        };
        let entries = layer_entries(&store, &captured.record.expect("layer"));
        let astro = Owner {
            uid: 1000,
            gid: 1000,
        };
        assert_eq!(entries["home/astro/a"].0, astro);
        assert_eq!(entries["home/astro"].0, astro, "kept from the base layer");
        assert_eq!(entries["home"].0, Owner::ROOT);

        let (_dir, store) = self::store();
        let layers = tiny_base(&store).expect("base");
        let mut failing = spec(&layers, "echo boom-output hush-value >&2; exit 3");
        failing.hidden = vec!["hush-value\n".into()];
        let err = run_and_capture(&store, &failing).expect_err("fails");
        assert!(err.to_string().contains("boom-output ***"), "{err}");
        assert!(!err.to_string().contains("hush-value"), "{err}");
    }

    /// #13 item 3: a secret is readable at its target, never in the layer; no
    /// network unless allowed; a cache mount persists in the store, outside the layer.
    #[test]
    fn item13_3_secrets_network_and_cache_mounts() {
        let secret_dir = tempfile::tempdir().expect("tempdir");
        let secret = secret_dir.path().join("token");
        std::fs::write(&secret, "s3cr3t-value").expect("write");
        let script = "mkdir -p /opt && cat /run/secrets/token > /dev/null \
            && wc -c < /run/secrets/token > /opt/length \
            && wc -l < /proc/net/dev > /opt/interfaces \
            && echo cached >> /cache/seen && cat /cache/seen | wc -l > /opt/runs";
        let Some((dir, store, captured)) = run(script, |s| {
            s.secrets = vec![SecretFile {
                host: secret.clone(),
                target: "/run/secrets/token".into(),
            }];
            s.caches = vec![CacheDir {
                id: "pip".into(),
                target: "/cache".into(),
            }];
        }) else {
            eprintln!("skipping: no bwrap or ldd");
            return;
        };
        let record = captured.record.expect("layer");
        let entries = layer_entries(&store, &record);
        assert_eq!(entries["opt/length"].1, b"12\n");
        // Only `lo`: two header lines and one interface.
        assert_eq!(entries["opt/interfaces"].1, b"3\n");
        assert!(
            !entries.keys().any(|p| p.starts_with("cache")),
            "{entries:?}"
        );
        let blob = std::fs::read(store.blob_path(&record.digest)).expect("blob");
        let raw = crate::image::open_layer(&store.blob_path(&record.digest))
            .and_then(|mut r| {
                let mut v = Vec::new();
                r.read_to_end(&mut v).map(|_| v)
            })
            .expect("tar");
        for bytes in [&blob, &raw] {
            assert!(
                !bytes.windows(12).any(|w| w == b"s3cr3t-value"),
                "the secret reached the layer"
            );
        }
        assert_eq!(
            std::fs::read_to_string(cache_dir(&store, "pip").join("seen")).expect("cache"),
            "cached\n"
        );
        drop(dir);
    }
}
