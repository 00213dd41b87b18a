//! Image layers unpacked into a root filesystem for the sandbox, cached in the store.
//!
//! Extraction goes through a confined directory handle (cap-std): no entry, `..` or
//! symlink can write outside the root. Whiteouts (`.wh.NAME`, `.wh..wh..opq`) are
//! applied layer by layer. Nothing privileged reaches the host: device nodes and FIFOs
//! are skipped, setuid and setgid bits are cleared, and owners are not set (the
//! sandbox reads the tree, it does not run services that depend on ownership). The
//! mount points the sandbox needs (`/proc`, `/dev`, `/tmp`) are made when the image
//! lacks them, since its root is mounted read-only.
//!
//! An entry that cannot be unpacked is named as the image would show it (`/etc/x`),
//! with the rule it broke.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, Permissions, PermissionsExt};

use super::bwrap::MOUNT_POINTS;
use crate::digest::Digest;
use crate::image::open_layer;
use crate::layer::{NamelessWhiteout, OPAQUE_WHITEOUT, whiteout_target};
use crate::store::Store;

/// Bumped when the unpacked tree for the same layers changes, so older caches are
/// not reused.
const ROOTFS_FORMAT: &str = "airlock-rootfs-v2";

/// Permission bits kept from a layer: setuid and setgid are dropped (the sticky bit
/// is harmless and kept).
const KEPT_MODE_BITS: u32 = 0o1777;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("Cannot read layer `{digest}`")]
    Open {
        digest: Digest,
        #[source]
        source: io::Error,
    },
    #[error("Cannot unpack the image's layers into `{}`", root.display())]
    Unpack {
        root: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("Layer `{digest}` is not a readable tar archive")]
    Corrupt {
        digest: Digest,
        #[source]
        source: io::Error,
    },
    /// One entry of a layer, shown as an absolute path inside the image.
    #[error("Layer `{digest}`: cannot unpack `{path}`: {rule}")]
    Entry {
        digest: Digest,
        path: String,
        rule: String,
        #[source]
        source: Option<io::Error>,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// A normalized relative path, or `None` when it would leave the root.
fn confined(raw: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// `path` (relative to the root) as the image shows it: `/etc/passwd`, `/` for the root.
fn shown(path: &Path) -> String {
    format!("/{}", path.display())
}

fn remove_any(root: &Dir, path: &Path) -> io::Result<()> {
    match root.symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => root.remove_dir_all(path),
        Ok(_) => root.remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Why writing `path` failed, in terms of the image: the first parent that is a
/// symbolic link leaving the root, or that is not a directory; else `doing`.
fn rule_for(root: &Dir, path: &Path, doing: &str) -> String {
    let mut prefix = PathBuf::new();
    let parents: Vec<_> = path.components().collect();
    for part in parents.iter().take(parents.len().saturating_sub(1)) {
        prefix.push(part);
        let Ok(meta) = root.symlink_metadata(&prefix) else {
            break;
        };
        if meta.is_symlink() {
            let target = root
                .read_link_contents(&prefix)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            return format!(
                "its parent `{}` is a symbolic link to `{target}`, which leads out of the layer's root; entries are never written through such a link",
                shown(&prefix)
            );
        }
        if !meta.is_dir() {
            return format!("`{}` is not a directory", shown(&prefix));
        }
    }
    doing.to_string()
}

/// Applies one layer (an uncompressed tar stream) onto `root`.
fn apply_layer(root: &Dir, digest: &Digest, reader: impl Read) -> Result<(), RootfsError> {
    let whole = |source: io::Error| RootfsError::Corrupt {
        digest: digest.clone(),
        source,
    };
    let mut created: BTreeSet<PathBuf> = BTreeSet::new();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(whole)? {
        let mut entry = entry.map_err(whole)?;
        let raw = entry.path().map_err(whole)?.into_owned();
        let refuse = |path: &Path, rule: String| RootfsError::Entry {
            digest: digest.clone(),
            path: shown(path),
            rule,
            source: None,
        };
        let path = confined(&raw).ok_or_else(|| RootfsError::Entry {
            digest: digest.clone(),
            path: raw.display().to_string(),
            rule: "the path leaves the layer's root (`..`)".into(),
            source: None,
        })?;
        if path.as_os_str().is_empty() {
            continue;
        }
        // Every failure below names the entry and the rule it broke.
        let fail = |doing: &str| {
            let path = path.clone();
            let doing = doing.to_string();
            move |source: io::Error| RootfsError::Entry {
                digest: digest.clone(),
                rule: rule_for(root, &path, &doing),
                path: shown(&path),
                source: Some(source),
            }
        };
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if name == OPAQUE_WHITEOUT {
            if let Ok(listing) = root.read_dir(if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                &parent
            }) {
                for child in listing.flatten() {
                    let child_path = parent.join(child.file_name());
                    if !created.contains(&child_path) {
                        remove_any(root, &child_path)
                            .map_err(fail("cannot remove what the opaque whiteout hides"))?;
                    }
                }
            }
            continue;
        }
        match whiteout_target(name) {
            Some(Ok(hidden)) => {
                remove_any(root, &parent.join(hidden))
                    .map_err(fail("cannot remove what the whiteout hides"))?;
                continue;
            }
            Some(Err(NamelessWhiteout)) => {
                return Err(refuse(&path, NamelessWhiteout::RULE.into()));
            }
            None => {}
        }
        let header = entry.header();
        let kind = header.entry_type();
        let is_special = !(kind.is_dir()
            || kind.is_symlink()
            || kind.is_hard_link()
            || kind.is_file()
            || kind == tar::EntryType::Continuous);
        if is_special {
            tracing::debug!(path = %path.display(), "skipping special file");
            continue;
        }
        if !parent.as_os_str().is_empty() {
            root.create_dir_all(&parent)
                .map_err(fail("cannot create its parent directories"))?;
        }
        let mode = header.mode().unwrap_or(0o755) & KEPT_MODE_BITS;
        if kind.is_dir() {
            match root.symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    root.remove_file(&path)
                        .map_err(fail("cannot replace the file with a directory"))?;
                    root.create_dir(&path)
                        .map_err(fail("cannot create the directory"))?;
                }
                Err(_) => root
                    .create_dir(&path)
                    .map_err(fail("cannot create the directory"))?,
            }
            root.set_permissions(&path, Permissions::from_mode(mode | 0o700))
                .map_err(fail("cannot set the directory's mode"))?;
        } else if kind.is_symlink() {
            let target = entry
                .link_name()
                .map_err(fail("cannot read the link target"))?
                .map(|t| t.into_owned())
                .unwrap_or_default();
            remove_any(root, &path).map_err(fail("cannot replace what is there"))?;
            // The target is interpreted inside the sandbox's root, never here.
            root.symlink_contents(&target, &path)
                .map_err(fail("cannot create the symbolic link"))?;
        } else if kind.is_hard_link() {
            let target_raw = entry
                .link_name()
                .map_err(fail("cannot read the link target"))?
                .map(|t| t.into_owned())
                .unwrap_or_default();
            let target = confined(&target_raw).ok_or_else(|| {
                refuse(
                    &path,
                    format!(
                        "it is a hard link to `{}`, which leaves the layer's root",
                        target_raw.display()
                    ),
                )
            })?;
            if matches!(root.symlink_metadata(&target), Err(e) if e.kind() == io::ErrorKind::NotFound)
            {
                return Err(refuse(
                    &path,
                    format!(
                        "it is a hard link to `{}`, which no layer so far has created",
                        shown(&target)
                    ),
                ));
            }
            remove_any(root, &path).map_err(fail("cannot replace what is there"))?;
            root.hard_link(&target, root, &path).map_err(fail(&format!(
                "cannot hard-link it to `{}`",
                shown(&target)
            )))?;
        } else {
            remove_any(root, &path).map_err(fail("cannot replace what is there"))?;
            let mut file = root.create(&path).map_err(fail("cannot create the file"))?;
            io::copy(&mut entry, &mut file).map_err(fail("cannot write the file"))?;
            root.set_permissions(&path, Permissions::from_mode(mode))
                .map_err(fail("cannot set the file's mode"))?;
        }
        created.insert(path);
    }
    Ok(())
}

/// Makes the directories bubblewrap mounts over, when the image has nothing there.
fn add_mount_points(root: &Dir) -> io::Result<()> {
    for (name, mode) in MOUNT_POINTS {
        match root.symlink_metadata(name) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                root.create_dir(name)?;
                root.set_permissions(name, Permissions::from_mode(mode))?;
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    Ok(())
}

/// The root filesystem of `layers` (bottom first), unpacked once and cached in the
/// store under a key made from their digests. Returns its path.
pub fn unpack_rootfs(store: &Store, layers: &[(Digest, PathBuf)]) -> Result<PathBuf, RootfsError> {
    let mut key_text = format!("{ROOTFS_FORMAT}\n");
    for (digest, _) in layers {
        key_text.push_str(&format!("{digest}\n"));
    }
    let key = Digest::of(key_text.as_bytes());
    let dir = store.root().join("rootfs");
    let dest = dir.join(key.hex());
    if dest.join(".airlock-complete").is_file() {
        return Ok(dest);
    }
    let _lock = store.lock(&format!("rootfs-{}", key.hex()))?;
    if dest.join(".airlock-complete").is_file() {
        return Ok(dest);
    }
    let io_err = |source: io::Error| RootfsError::Unpack {
        root: dest.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io_err)?;
    let staging = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(&dir)
        .map_err(io_err)?;
    let root = Dir::open_ambient_dir(staging.path(), ambient_authority()).map_err(io_err)?;
    for (digest, path) in layers {
        let reader = open_layer(path).map_err(|source| RootfsError::Open {
            digest: digest.clone(),
            source,
        })?;
        apply_layer(&root, digest, reader)?;
    }
    add_mount_points(&root).map_err(io_err)?;
    root.write(".airlock-complete", b"").map_err(io_err)?;
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, &dest) {
        let _ = std::fs::remove_dir_all(&staged);
        if !dest.join(".airlock-complete").is_file() {
            return Err(io_err(e));
        }
    }
    Ok(dest)
}

impl crate::hint::Hint for RootfsError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Store(error) => error.hints(),
            Self::Open { .. } | Self::Unpack { .. } | Self::Corrupt { .. } | Self::Entry { .. } => {
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, kind, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            match kind {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    header.set_size(0);
                    builder.append_link(&mut header, path, data).expect("link");
                }
                _ => {
                    header.set_size(data.len() as u64);
                    builder
                        .append_data(&mut header, path, data.as_bytes())
                        .expect("append");
                }
            }
        }
        builder.into_inner().expect("tar")
    }

    #[test]
    fn whiteouts_and_symlinks_stay_inside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = Dir::open_ambient_dir(dir.path(), ambient_authority()).expect("dir");
        let d = Digest::of(b"layer");
        let lower = tar_of(&[
            ("etc/", tar::EntryType::Directory, ""),
            ("etc/a", tar::EntryType::Regular, "a"),
            ("etc/b", tar::EntryType::Regular, "b"),
            ("opt/", tar::EntryType::Directory, ""),
            ("opt/old", tar::EntryType::Regular, "old"),
            ("escape", tar::EntryType::Symlink, "/"),
        ]);
        apply_layer(&root, &d, &lower[..]).expect("lower");
        let upper = tar_of(&[
            ("etc/.wh.a", tar::EntryType::Regular, ""),
            ("opt/.wh..wh..opq", tar::EntryType::Regular, ""),
            ("opt/new", tar::EntryType::Regular, "new"),
        ]);
        apply_layer(&root, &d, &upper[..]).expect("upper");
        assert!(!dir.path().join("etc/a").exists());
        assert!(dir.path().join("etc/b").exists());
        assert!(!dir.path().join("opt/old").exists());
        assert!(dir.path().join("opt/new").exists());
        // Writing through the absolute symlink stays in the root.
        let through = tar_of(&[("escape/tmp-file-from-layer", tar::EntryType::Regular, "x")]);
        let _ = apply_layer(&root, &d, &through[..]);
        assert!(!Path::new("/tmp-file-from-layer").exists());
        // The tar crate refuses to write `..`, so the hostile name goes in raw.
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..10].copy_from_slice(b"../outside");
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(1);
        header.set_cksum();
        let mut builder = tar::Builder::new(Vec::new());
        builder.append(&header, &b"x"[..]).expect("append");
        let escape = builder.into_inner().expect("tar");
        let err = apply_layer(&root, &d, &escape[..]).expect_err("`..` refused");
        assert!(err.to_string().contains("`../outside`"), "{err}");
    }

    /// A tar of raw headers: (path, type, link target or data, mode).
    fn raw_tar(entries: &[(&str, tar::EntryType, &str, u32)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, kind, data, mode) in entries {
            let mut header = tar::Header::new_gnu();
            // Written raw, so that names `tar` would refuse go in as they are.
            header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_entry_type(*kind);
            header.set_mode(*mode);
            let body: &[u8] = match kind {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    header.set_link_name_literal(data).expect("link");
                    b""
                }
                _ => data.as_bytes(),
            };
            header.set_size(body.len() as u64);
            header.set_cksum();
            builder.append(&header, body).expect("append");
        }
        builder.into_inner().expect("tar")
    }

    fn unpack_error(lower: &[u8], upper: &[u8]) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = Dir::open_ambient_dir(dir.path(), ambient_authority()).expect("dir");
        let d = Digest::of(b"layer");
        apply_layer(&root, &d, lower).expect("lower layer");
        let err = apply_layer(&root, &d, upper).expect_err("refused");
        eprintln!("{err}");
        (dir, err.to_string())
    }

    #[test]
    fn item7_setuid_setgid_bits_and_device_nodes_never_reach_the_host() {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let dir = tempfile::tempdir().expect("tempdir");
        let root = Dir::open_ambient_dir(dir.path(), ambient_authority()).expect("dir");
        let layer = raw_tar(&[
            ("usr/bin/", tar::EntryType::Directory, "", 0o755),
            ("usr/bin/su", tar::EntryType::Regular, "#!", 0o4755),
            ("usr/bin/chage", tar::EntryType::Regular, "#!", 0o2755),
            ("usr/bin/both", tar::EntryType::Regular, "#!", 0o6711),
            ("var/mail/", tar::EntryType::Directory, "", 0o2775),
            ("tmp/", tar::EntryType::Directory, "", 0o1777),
            ("dev/null", tar::EntryType::Char, "", 0o666),
            ("dev/sda", tar::EntryType::Block, "", 0o660),
            ("dev/fifo", tar::EntryType::Fifo, "", 0o644),
        ]);
        apply_layer(&root, &Digest::of(b"layer"), &layer[..]).expect("unpacks");
        let mode = |p: &str| {
            std::fs::symlink_metadata(dir.path().join(p))
                .expect(p)
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode("usr/bin/su"), 0o755);
        assert_eq!(mode("usr/bin/chage"), 0o755);
        assert_eq!(mode("usr/bin/both"), 0o711);
        assert_eq!(mode("var/mail"), 0o775);
        assert_eq!(mode("tmp"), 0o1777, "the sticky bit is harmless and kept");
        for special in ["dev/null", "dev/sda", "dev/fifo"] {
            let meta = std::fs::symlink_metadata(dir.path().join(special));
            assert!(
                meta.as_ref().map_or(true, |m| {
                    let t = m.file_type();
                    !t.is_char_device() && !t.is_block_device() && !t.is_fifo()
                }),
                "{special} was created: {meta:?}"
            );
        }
    }

    #[test]
    fn item11_unpack_errors_name_the_entry_and_the_rule() {
        // Writing through a symlink that leaves the root.
        let lower = raw_tar(&[("escape", tar::EntryType::Symlink, "/", 0o777)]);
        let upper = raw_tar(&[("escape/file", tar::EntryType::Regular, "x", 0o644)]);
        let (_dir, message) = unpack_error(&lower, &upper);
        assert!(message.contains("`/escape/file`"), "{message}");
        assert!(message.contains("`/escape`"), "{message}");
        assert!(message.contains("symbolic link"), "{message}");
        assert!(!message.contains("into `.`"), "{message}");

        // Whiteouts that name no file: `.wh..` and `.wh...`; the tree stays whole.
        for bad in ["etc/.wh..", "etc/.wh...", ".wh."] {
            let lower = raw_tar(&[
                ("etc/", tar::EntryType::Directory, "", 0o755),
                ("etc/keep", tar::EntryType::Regular, "k", 0o644),
            ]);
            let upper = raw_tar(&[(bad, tar::EntryType::Regular, "", 0o644)]);
            let (dir, message) = unpack_error(&lower, &upper);
            assert!(message.contains(&format!("`/{bad}`")), "{message}");
            assert!(message.contains("whiteout"), "{message}");
            assert!(dir.path().join("etc/keep").is_file(), "{bad} removed files");
        }

        // A parent that is a file, not a directory.
        let lower = raw_tar(&[("etc", tar::EntryType::Regular, "x", 0o644)]);
        let upper = raw_tar(&[("etc/passwd", tar::EntryType::Regular, "x", 0o644)]);
        let (_dir, message) = unpack_error(&lower, &upper);
        assert!(message.contains("`/etc/passwd`"), "{message}");
        assert!(message.contains("`/etc` is not a directory"), "{message}");

        // A hard link to nothing.
        let upper = raw_tar(&[("b", tar::EntryType::Link, "missing", 0o644)]);
        let (_dir, message) = unpack_error(&[], &upper);
        assert!(message.contains("`/b`"), "{message}");
        assert!(message.contains("`/missing`"), "{message}");
        assert!(message.contains("hard link"), "{message}");
    }
}
