//! Image layers unpacked into a root filesystem for the sandbox, cached in the store.
//!
//! Extraction goes through a confined directory handle (cap-std): no entry, `..` or
//! symlink can write outside the root. Whiteouts (`.wh.NAME`, `.wh..wh..opq`) are
//! applied layer by layer. Device nodes and FIFOs are skipped; owners are not set (the
//! sandbox reads the tree, it does not run services that depend on ownership).

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, Permissions, PermissionsExt};

use crate::digest::Digest;
use crate::image::open_layer;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("Cannot unpack layer `{digest}` into `{root}`")]
    Unpack {
        digest: Digest,
        root: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("Layer `{digest}` has an entry that escapes the root: `{path}`")]
    Escape { digest: Digest, path: String },
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

fn remove_any(root: &Dir, path: &Path) -> io::Result<()> {
    match root.symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => root.remove_dir_all(path),
        Ok(_) => root.remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Applies one layer (an uncompressed tar stream) onto `root`.
fn apply_layer(root: &Dir, digest: &Digest, reader: impl Read) -> Result<(), RootfsError> {
    let fail = |source: io::Error| RootfsError::Unpack {
        digest: digest.clone(),
        root: PathBuf::from("."),
        source,
    };
    let mut created: BTreeSet<PathBuf> = BTreeSet::new();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(fail)? {
        let mut entry = entry.map_err(fail)?;
        let raw = entry.path().map_err(fail)?.into_owned();
        let path = confined(&raw).ok_or_else(|| RootfsError::Escape {
            digest: digest.clone(),
            path: raw.display().to_string(),
        })?;
        if path.as_os_str().is_empty() {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if name == ".wh..wh..opq" {
            if let Ok(listing) = root.read_dir(if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                &parent
            }) {
                for child in listing.flatten() {
                    let child_path = parent.join(child.file_name());
                    if !created.contains(&child_path) {
                        remove_any(root, &child_path).map_err(fail)?;
                    }
                }
            }
            continue;
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            remove_any(root, &parent.join(hidden)).map_err(fail)?;
            continue;
        }
        if !parent.as_os_str().is_empty() {
            root.create_dir_all(&parent).map_err(fail)?;
        }
        let header = entry.header();
        let kind = header.entry_type();
        let mode = header.mode().unwrap_or(0o755) & 0o7777;
        if kind.is_dir() {
            match root.symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    root.remove_file(&path).map_err(fail)?;
                    root.create_dir(&path).map_err(fail)?;
                }
                Err(_) => root.create_dir(&path).map_err(fail)?,
            }
            root.set_permissions(&path, Permissions::from_mode(mode | 0o700))
                .map_err(fail)?;
        } else if kind.is_symlink() {
            let target = entry
                .link_name()
                .map_err(fail)?
                .map(|t| t.into_owned())
                .unwrap_or_default();
            remove_any(root, &path).map_err(fail)?;
            // The target is interpreted inside the sandbox's root, never here.
            root.symlink_contents(&target, &path).map_err(fail)?;
        } else if kind.is_hard_link() {
            let target_raw = entry
                .link_name()
                .map_err(fail)?
                .map(|t| t.into_owned())
                .unwrap_or_default();
            let target = confined(&target_raw).ok_or_else(|| RootfsError::Escape {
                digest: digest.clone(),
                path: target_raw.display().to_string(),
            })?;
            remove_any(root, &path).map_err(fail)?;
            root.hard_link(&target, root, &path).map_err(fail)?;
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            remove_any(root, &path).map_err(fail)?;
            let mut file = root.create(&path).map_err(fail)?;
            io::copy(&mut entry, &mut file).map_err(fail)?;
            root.set_permissions(&path, Permissions::from_mode(mode))
                .map_err(fail)?;
        } else {
            tracing::debug!(path = %path.display(), "skipping special file");
            continue;
        }
        created.insert(path);
    }
    Ok(())
}

/// The root filesystem of `layers` (bottom first), unpacked once and cached in the
/// store under a key made from their digests. Returns its path.
pub fn unpack_rootfs(store: &Store, layers: &[(Digest, PathBuf)]) -> Result<PathBuf, RootfsError> {
    let mut key_text = String::from("airlock-rootfs-v1\n");
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
        digest: key.clone(),
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
        let reader = open_layer(path).map_err(|source| RootfsError::Unpack {
            digest: digest.clone(),
            root: dest.clone(),
            source,
        })?;
        apply_layer(&root, digest, reader)?;
    }
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
        assert!(matches!(
            apply_layer(&root, &d, &escape[..]),
            Err(RootfsError::Escape { .. })
        ));
    }
}
