//! Confined extraction of a DAG bundle.
//!
//! Every path is checked (relative, no `.`, `..` or empty components), only
//! directories, regular files and symlinks are accepted, files are created new (never
//! through an existing entry), and all of it goes through a cap-std directory handle,
//! so even a check missed here cannot write outside. Once everything is written,
//! every symlink is resolved against the unpacked tree itself, the links on its way
//! followed ([`crate::confine`]): one that leads outside fails the whole bundle,
//! whose directory the caller then drops unseen.

use std::io::{self, Read};
use std::path::Path;

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt as _};

use super::DeployError;
use crate::confine::{Node, resolve_link};
use crate::printable::printable;

/// Largest bundle, uncompressed, accepted (a bomb guard).
pub(super) const MAX_UNPACKED: u64 = 8 * 1024 * 1024 * 1024;

fn unsafe_entry(path: &str, reason: &'static str) -> DeployError {
    DeployError::UnsafeEntry {
        path: printable(path).into_owned(),
        reason,
    }
}

/// What `path` is in the unpacked tree under `root`.
fn node(root: &Dir, path: &str) -> Node {
    match root.symlink_metadata(path) {
        Ok(meta) if meta.is_symlink() => match root.read_link_contents(path) {
            Ok(target) => target
                .to_str()
                .map_or(Node::Unreadable, |t| Node::Symlink(t.to_string())),
            Err(_) => Node::Unreadable,
        },
        Ok(meta) if meta.is_dir() => Node::Dir,
        Ok(_) => Node::File,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Node::Missing
        }
        Err(_) => Node::Unreadable,
    }
}

/// The entry's path, checked; directories lose their trailing `/`.
fn checked_path(raw: &[u8]) -> Result<String, DeployError> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| unsafe_entry(&String::from_utf8_lossy(raw), "the path is not UTF-8"))?;
    let path = text.strip_suffix('/').unwrap_or(text);
    if path.starts_with('/') {
        return Err(unsafe_entry(text, "absolute paths are refused"));
    }
    if path.is_empty()
        || path
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(unsafe_entry(
            text,
            "`..`, `.` and empty path components are refused",
        ));
    }
    Ok(path.to_string())
}

/// Unpacks the tar.gz `bundle` into the empty directory `dest`; returns the number
/// of regular files written.
pub(super) fn unpack_bundle(bundle: &Path, dest: &Path) -> Result<usize, DeployError> {
    let io_err = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| DeployError::Io {
            action,
            path,
            source,
        }
    };
    let root =
        Dir::open_ambient_dir(dest, cap_std::ambient_authority()).map_err(io_err("open", dest))?;
    let file = std::fs::File::open(bundle).map_err(io_err("open", bundle))?;
    let gz = flate2::read::GzDecoder::new(io::BufReader::new(file));
    let mut archive = tar::Archive::new(gz.take(MAX_UNPACKED));
    let mut files = 0;
    let mut links = Vec::new();
    for entry in archive.entries().map_err(io_err("read", bundle))? {
        let mut entry = entry.map_err(io_err("read", bundle))?;
        let raw = entry.path_bytes().into_owned();
        let path = checked_path(&raw)?;
        let write_err = |source| DeployError::Io {
            action: "unpack",
            path: dest.join(&path),
            source,
        };
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            root.create_dir_all(&path).map_err(write_err)?;
        } else if kind.is_file() {
            if let Some((parent, _)) = path.rsplit_once('/') {
                root.create_dir_all(parent).map_err(write_err)?;
            }
            let executable = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
            let mut options = OpenOptions::new();
            options
                .write(true)
                .create_new(true)
                .mode(if executable { 0o755 } else { 0o644 });
            let mut out = root.open_with(&path, &options).map_err(write_err)?;
            io::copy(&mut entry, &mut out).map_err(write_err)?;
            files += 1;
        } else if kind.is_symlink() {
            let target = entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default();
            if target.is_empty() || target.starts_with('/') {
                return Err(unsafe_entry(
                    &path,
                    "a symlink needs a relative target inside the bundle",
                ));
            }
            if let Some((parent, _)) = path.rsplit_once('/') {
                root.create_dir_all(parent).map_err(write_err)?;
            }
            root.symlink(&target, &path).map_err(write_err)?;
            links.push((path, target));
        } else {
            return Err(unsafe_entry(
                &path,
                "only directories, regular files and symlinks may be in a bundle",
            ));
        }
    }
    for (path, target) in links {
        if let Err(error) = resolve_link(&path, &target, |at: &str| node(&root, at)) {
            return Err(DeployError::UnsafeLink {
                path: printable(&path).into_owned(),
                target: printable(&target).into_owned(),
                reason: error.reason(),
            });
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar.gz with raw entries: (path bytes, type, link target, content).
    fn bundle(entries: &[(&[u8], tar::EntryType, &str, &[u8])]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp");
        let gz = crate::layer::ParallelGzip::new(file.reopen().expect("reopen"));
        let mut builder = tar::Builder::new(gz);
        for (path, kind, link, content) in entries {
            let mut header = tar::Header::new_gnu();
            // Written raw, so that the tests can build entries `tar` would refuse.
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path);
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            header.set_size(content.len() as u64);
            if !link.is_empty() {
                header.set_link_name(link).expect("link");
            }
            header.set_cksum();
            builder.append(&header, *content).expect("append");
        }
        builder.into_inner().expect("tar").finish().expect("gz");
        file
    }

    fn unpack(entries: &[(&[u8], tar::EntryType, &str, &[u8])]) -> Result<usize, DeployError> {
        let file = bundle(entries);
        let dir = tempfile::tempdir().expect("dir");
        let dest = dir.path().join("out");
        std::fs::create_dir(&dest).expect("mkdir");
        let result = unpack_bundle(file.path(), &dest);
        assert!(!dir.path().join("evil").exists(), "wrote outside");
        result
    }

    use tar::EntryType as T;

    #[test]
    fn unpacks_files_dirs_and_inner_links() {
        let count = unpack(&[
            (b"sub/", T::Directory, "", b""),
            (b"sub/a.py", T::Regular, "", b"print(1)\n"),
            (b"b.py", T::Symlink, "sub/a.py", b""),
        ])
        .expect("ok");
        assert_eq!(count, 1);
    }

    #[test]
    fn refuses_escapes() {
        for entries in [
            vec![(&b"../evil"[..], T::Regular, "", &b"x"[..])],
            vec![(&b"/tmp/evil"[..], T::Regular, "", &b"x"[..])],
            vec![(&b"a/../../evil"[..], T::Regular, "", &b"x"[..])],
            vec![(&b"link"[..], T::Symlink, "../evil", &b""[..])],
            vec![(&b"link"[..], T::Symlink, "/etc", &b""[..])],
            vec![(&b"dev"[..], T::Char, "", &b""[..])],
            vec![(&b"hard"[..], T::Link, "a", &b""[..])],
        ] {
            let err = unpack(&entries).expect_err("refused");
            assert!(
                matches!(
                    err,
                    DeployError::UnsafeEntry { .. } | DeployError::UnsafeLink { .. }
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn symlink_through_dot_link_is_refused() {
        let through = "s/s/s/s/../../../..";
        for entries in [
            // The link before the one it goes through, and after.
            vec![
                (&b"x"[..], T::Symlink, through, &b""[..]),
                (b"s", T::Symlink, ".", b""),
            ],
            vec![
                (&b"s"[..], T::Symlink, ".", &b""[..]),
                (b"x", T::Symlink, through, b""),
            ],
            // Written through a link: `d/x` really is `sub/x`, one level down only.
            vec![
                (&b"sub/"[..], T::Directory, "", &b""[..]),
                (b"d", T::Symlink, "sub", b""),
                (b"d/x", T::Symlink, "../..", b""),
            ],
        ] {
            let err = unpack(&entries).expect_err("refused");
            assert!(matches!(err, DeployError::UnsafeLink { .. }), "{err}");
        }
        // Through `s` and staying inside is fine.
        unpack(&[
            (b"s", T::Symlink, ".", b""),
            (b"x", T::Symlink, "s/s/a", b""),
        ])
        .expect("ok");
    }

    #[test]
    fn entry_names_are_escaped_in_errors() {
        let err = unpack(&[(b"a\x1b[2J/../b", T::Regular, "", b"x")]).expect_err("refused");
        assert!(!err.to_string().contains('\u{1b}'), "{err}");
        assert!(err.to_string().contains("\\u{1b}"), "{err}");
    }

    #[test]
    fn never_writes_through_an_existing_entry() {
        let err = unpack(&[
            (b"link", T::Symlink, "target", b""),
            (b"link", T::Regular, "", b"x"),
        ])
        .expect_err("refused");
        assert!(matches!(err, DeployError::Io { .. }), "{err}");
    }
}
