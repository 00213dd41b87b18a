//! Facts read from a base image's layers: account files and directory metadata,
//! with whiteouts applied layer by layer. Cached in the store by manifest digest.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use super::{BaseImage, ImageError};
use crate::digest::Digest;
use crate::layer::{LayerChange, NamelessWhiteout, layer_change, layer_path};
use crate::store::Store;

/// Bumped when `BaseFacts` gains fields or its reader refuses more, so older cache
/// entries are re-read.
const FACTS_VERSION: u32 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DirMeta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// What later stages need to know about a base, read from its final filesystem.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct BaseFacts {
    pub version: u32,
    /// Small text files captured by path (see [`captured`]): account files,
    /// os-release, the dpkg database, apt sources, Python `*.dist-info` metadata,
    /// pip's configuration, `EXTERNALLY-MANAGED` marks.
    pub files: BTreeMap<String, String>,
    /// Every directory, by path without leading `/`.
    pub dirs: BTreeMap<String, DirMeta>,
    /// Every symlink and its target.
    pub symlinks: BTreeMap<String, String>,
    /// Regular files that look like Python interpreters (`usr/bin/python3.N`).
    pub interpreters: BTreeSet<String>,
    /// OpenPGP keyrings apt may use (see [`is_keyring`]), base64 of their bytes.
    #[serde(default)]
    pub keyrings: BTreeMap<String, String>,
}

/// Files whose bytes the facts keep for checking apt repositories' signatures:
/// `usr/share/keyrings/*`, `etc/apt/keyrings/*`, `etc/apt/trusted.gpg.d/*` and
/// `etc/apt/trusted.gpg`.
pub(super) fn is_keyring(path: &str) -> bool {
    path == "etc/apt/trusted.gpg"
        || [
            "usr/share/keyrings/",
            "etc/apt/keyrings/",
            "etc/apt/trusted.gpg.d/",
        ]
        .iter()
        .any(|dir| path.strip_prefix(dir).is_some_and(|n| !n.contains('/')))
}

/// The files whose text the facts keep.
pub(super) fn captured(path: &str) -> bool {
    const EXACT: [&str; 8] = [
        "etc/passwd",
        "etc/group",
        "etc/os-release",
        "usr/lib/os-release",
        "var/lib/dpkg/status",
        "etc/apt/sources.list",
        "etc/pip-constraints.txt",
        "etc/debian_version",
    ];
    if EXACT.contains(&path) {
        return true;
    }
    if path.starts_with("etc/apt/sources.list.d/") || path.starts_with("var/lib/dpkg/status.d/") {
        return true;
    }
    // pip's configuration files, wherever pip would look (`/etc/pip.conf`,
    // `/etc/xdg/pip/pip.conf`, `~/.config/pip/pip.conf`, `$VIRTUAL_ENV/pip.conf`, …).
    if path == "pip.conf" || path.ends_with("/pip.conf") {
        return true;
    }
    // The module of an installed pip that holds its built-in default index.
    if (path.contains("/site-packages/") || path.contains("/dist-packages/"))
        && path.ends_with("/pip/_internal/models/index.py")
    {
        return true;
    }
    // The mark of a Python whose packages another manager owns (PEP 668), beside
    // its standard library: `usr/lib/python3.11/EXTERNALLY-MANAGED`.
    if let Some(stdlib) = path.strip_suffix("/EXTERNALLY-MANAGED")
        && is_stdlib_dir(stdlib)
    {
        return true;
    }
    // Python distribution metadata.
    path.rsplit_once('/').is_some_and(|(dir, name)| {
        dir.ends_with(".dist-info")
            && (dir.contains("/site-packages/") || dir.contains("/dist-packages/"))
            && matches!(
                name,
                "METADATA" | "RECORD" | "top_level.txt" | "entry_points.txt"
            )
    })
}

/// `usr/lib/python3.N` or `usr/local/lib/python3.N`.
fn is_stdlib_dir(path: &str) -> bool {
    path.strip_prefix("usr/lib/python3.")
        .or_else(|| path.strip_prefix("usr/local/lib/python3."))
        .is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()))
}

fn is_interpreter(path: &str) -> bool {
    let Some(name) = path
        .strip_prefix("usr/local/bin/")
        .or_else(|| path.strip_prefix("usr/bin/"))
    else {
        return false;
    };
    name.strip_prefix("python3.")
        .is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes the keys starting with `prefix` (a contiguous range of the sorted keys),
/// found in O(log n) rather than by a walk over the whole map: a base layer removes
/// a path for every file it writes.
fn remove_prefixed<V>(map: &mut BTreeMap<String, V>, prefix: &str) {
    let keys: Vec<String> = map
        .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
        .map(|(k, _)| k)
        .take_while(|k| k.starts_with(prefix))
        .cloned()
        .collect();
    for key in keys {
        map.remove(&key);
    }
}

fn remove_prefixed_set(set: &mut BTreeSet<String>, prefix: &str) {
    let keys: Vec<String> = set
        .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
        .take_while(|k| k.starts_with(prefix))
        .cloned()
        .collect();
    for key in keys {
        set.remove(&key);
    }
}

fn remove_subtree<V>(map: &mut BTreeMap<String, V>, path: &str) {
    map.remove(path);
    remove_prefixed(map, &format!("{path}/"));
}

fn remove_subtree_set(set: &mut BTreeSet<String>, path: &str) {
    set.remove(path);
    remove_prefixed_set(set, &format!("{path}/"));
}

impl BaseFacts {
    /// The mode and owner a parent directory added by a new layer takes at `path`: the
    /// base's own (so unpacking the layer never changes it), else 0755 root.
    pub(crate) fn parent_dir(&self, path: &str) -> (u32, crate::layer::Owner) {
        match self.dirs.get(path) {
            Some(meta) => (
                meta.mode & 0o7777,
                crate::layer::Owner {
                    uid: meta.uid,
                    gid: meta.gid,
                },
            ),
            None => (0o755, crate::layer::Owner::ROOT),
        }
    }

    pub(crate) fn passwd(&self) -> Option<&str> {
        self.files.get("etc/passwd").map(String::as_str)
    }

    pub(crate) fn group(&self) -> Option<&str> {
        self.files.get("etc/group").map(String::as_str)
    }

    /// The bytes of a captured keyring file (path without leading `/`).
    pub(crate) fn keyring(&self, path: &str) -> Option<Vec<u8>> {
        use base64::Engine as _;
        let text = self.keyrings.get(path)?;
        base64::engine::general_purpose::STANDARD.decode(text).ok()
    }

    fn remove(&mut self, path: &str) {
        remove_subtree(&mut self.dirs, path);
        remove_subtree(&mut self.symlinks, path);
        remove_subtree(&mut self.files, path);
        remove_subtree(&mut self.keyrings, path);
        remove_subtree_set(&mut self.interpreters, path);
    }

    fn clear_children(&mut self, dir: &str) {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        remove_prefixed(&mut self.dirs, &prefix);
        remove_prefixed(&mut self.symlinks, &prefix);
        remove_prefixed(&mut self.files, &prefix);
        remove_prefixed(&mut self.keyrings, &prefix);
        remove_prefixed_set(&mut self.interpreters, &prefix);
    }

    /// No facts yet: what a base's first layer is applied to.
    pub(super) fn empty() -> Self {
        Self {
            version: FACTS_VERSION,
            ..Self::default()
        }
    }

    pub(super) fn apply_layer(
        &mut self,
        digest: &Digest,
        reader: impl Read,
    ) -> Result<(), ImageError> {
        let io = |source| ImageError::Layer {
            digest: digest.clone(),
            source,
        };
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(io)? {
            let mut entry = entry.map_err(io)?;
            let raw = entry.path().map_err(io)?.to_string_lossy().into_owned();
            let change = layer_change(&raw).map_err(|NamelessWhiteout| ImageError::LayerEntry {
                digest: digest.clone(),
                path: format!("/{}", layer_path(&raw)),
                rule: NamelessWhiteout::RULE,
            })?;
            let path = match change {
                LayerChange::Opaque { dir } => {
                    self.clear_children(&dir);
                    continue;
                }
                LayerChange::Hide { target } => {
                    self.remove(&target);
                    continue;
                }
                LayerChange::Write { path } if path.is_empty() => continue,
                LayerChange::Write { path } => path,
            };
            let header = entry.header();
            let kind = header.entry_type();
            // Some writers leave numeric fields blank; blank means 0, as tar readers do.
            let mode = header.mode().unwrap_or(0o755) & 0o7777;
            let uid = header
                .uid()
                .ok()
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0);
            let gid = header
                .gid()
                .ok()
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0);
            if kind.is_dir() {
                self.symlinks.remove(&path);
                self.files.remove(&path);
                self.interpreters.remove(&path);
                self.dirs.insert(path, DirMeta { mode, uid, gid });
                continue;
            }
            self.remove(&path);
            if kind.is_symlink() {
                let target = entry
                    .link_name()
                    .map_err(io)?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if is_interpreter(&path) {
                    self.interpreters.insert(path.clone());
                }
                self.symlinks.insert(path, target);
            } else if kind.is_file() || kind.is_hard_link() {
                if is_interpreter(&path) {
                    self.interpreters.insert(path.clone());
                }
                if kind.is_file() && captured(&path) {
                    let mut bytes = Vec::new();
                    entry.read_to_end(&mut bytes).map_err(io)?;
                    self.files
                        .insert(path, String::from_utf8_lossy(&bytes).into_owned());
                } else if kind.is_file() && is_keyring(&path) {
                    use base64::Engine as _;
                    let mut bytes = Vec::new();
                    entry.read_to_end(&mut bytes).map_err(io)?;
                    self.keyrings.insert(
                        path,
                        base64::engine::general_purpose::STANDARD.encode(&bytes),
                    );
                }
            }
        }
        Ok(())
    }
}

/// Opens a layer blob as an uncompressed tar stream, by its magic bytes: gzip (one or
/// more members), zstd (one or more frames: airlock's own zstd layers have one frame
/// per 4 MiB of tar, so libzstd's stream decoder reads them, which goes on across
/// frames), or plain tar.
pub(crate) fn open_layer(path: &std::path::Path) -> std::io::Result<Box<dyn Read>> {
    layer_stream(BufReader::new(File::open(path)?))
}

/// [`open_layer`] over the blob's bytes as they come.
pub(super) fn layer_stream<'a>(mut blob: impl Read + 'a) -> std::io::Result<Box<dyn Read + 'a>> {
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < magic.len() {
        match blob.read(&mut magic[n..])? {
            0 => break,
            read => n += read,
        }
    }
    let head = std::io::Cursor::new(magic[..n].to_vec());
    let stream = head.chain(blob);
    if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(stream)))
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Ok(Box::new(zstd::stream::read::Decoder::new(stream)?))
    } else {
        Ok(Box::new(stream))
    }
}

/// Reads (or loads from the store's cache) the facts of a base image.
pub(crate) fn read_facts(store: &Store, base: &BaseImage) -> Result<BaseFacts, ImageError> {
    if let Some(facts) = cached_facts(store, &base.manifest_digest) {
        return Ok(facts);
    }
    let mut facts = BaseFacts::empty();
    for layer in &base.layers {
        let digest = layer.digest.clone();
        let reader = open_layer(&layer.path).map_err(|source| ImageError::Layer {
            digest: digest.clone(),
            source,
        })?;
        facts.apply_layer(&digest, reader)?;
    }
    store_facts(store, &base.manifest_digest, &facts)?;
    Ok(facts)
}

/// The facts the store holds for the base of `manifest`, when they are of this
/// version.
pub(super) fn cached_facts(store: &Store, manifest: &Digest) -> Option<BaseFacts> {
    let bytes = std::fs::read(store.base_facts_path(manifest)).ok()?;
    serde_json::from_slice::<BaseFacts>(&bytes)
        .ok()
        .filter(|facts| facts.version == FACTS_VERSION)
}

/// Keeps the facts of the base of `manifest` in the store.
pub(super) fn store_facts(
    store: &Store,
    manifest: &Digest,
    facts: &BaseFacts,
) -> Result<(), ImageError> {
    let bytes = serde_json::to_vec(facts).map_err(ImageError::Json)?;
    store.write_atomic(&store.base_facts_path(manifest), &bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, content) in entries {
            let mut header = tar::Header::new_gnu();
            match content {
                Some(text) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(text.len() as u64);
                    header.set_mode(0o644);
                    builder
                        .append_data(&mut header, path, text.as_bytes())
                        .expect("append");
                }
                None => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    header.set_mode(0o750);
                    header.set_uid(7);
                    builder
                        .append_data(&mut header, path, std::io::empty())
                        .expect("append");
                }
            }
        }
        builder.into_inner().expect("finish")
    }

    /// PEP 668 marks are kept beside a standard library, nowhere else.
    #[test]
    fn externally_managed_marks_are_captured() {
        assert!(captured("usr/lib/python3.11/EXTERNALLY-MANAGED"));
        assert!(captured("usr/local/lib/python3.12/EXTERNALLY-MANAGED"));
        assert!(!captured("usr/lib/python3/EXTERNALLY-MANAGED"));
        assert!(!captured(
            "usr/lib/python3.11/site-packages/EXTERNALLY-MANAGED"
        ));
        assert!(!captured("opt/lib/python3.11/EXTERNALLY-MANAGED"));
    }

    #[test]
    fn later_layers_and_whiteouts_win() {
        let mut facts = BaseFacts::default();
        let first = layer(&[
            ("etc/", None),
            ("etc/passwd", Some("root:x:0:0::/root:/bin/sh\n")),
            ("usr/", None),
            ("usr/local/", None),
            ("opt/", None),
            ("opt/x/", None),
        ]);
        facts
            .apply_layer(&Digest::of(b"1"), &first[..])
            .expect("layer 1");
        assert_eq!(facts.dirs["usr/local"].mode, 0o750);
        assert_eq!(facts.dirs["usr/local"].uid, 7);
        let second = layer(&[
            (
                "etc/passwd",
                Some("astro:x:50000:0::/home/astro:/bin/bash\n"),
            ),
            ("opt/.wh.x", Some("")),
        ]);
        facts
            .apply_layer(&Digest::of(b"2"), &second[..])
            .expect("layer 2");
        assert!(facts.passwd().is_some_and(|p| p.starts_with("astro")));
        assert!(!facts.dirs.contains_key("opt/x"));
        let third = layer(&[("etc/.wh..wh..opq", Some(""))]);
        facts
            .apply_layer(&Digest::of(b"3"), &third[..])
            .expect("layer 3");
        assert_eq!(facts.passwd(), None);
    }

    /// Sweep item 5: whiteouts that name no file (`.wh.`, `.wh..`, `.wh...`) are
    /// refused, as the tier-2 unpack refuses them, not silently skipped.
    #[test]
    fn sweep5_whiteouts_naming_no_file_are_refused() {
        for bad in ["etc/.wh..", "etc/.wh...", ".wh."] {
            let mut facts = BaseFacts::default();
            let first = layer(&[("etc/passwd", Some("root:x:0:0::/root:/bin/sh\n"))]);
            facts
                .apply_layer(&Digest::of(b"1"), &first[..])
                .expect("layer 1");
            let second = layer(&[(bad, Some(""))]);
            let err = facts
                .apply_layer(&Digest::of(b"2"), &second[..])
                .expect_err(bad);
            let message = err.to_string();
            assert!(message.contains(&format!("`/{bad}`")), "{message}");
            assert!(
                message.contains("must name a file in its directory"),
                "{message}"
            );
        }
    }
}
