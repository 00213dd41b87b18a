//! The Debian layer as segments (`layer::segments`), so that adding one package to
//! `packages.txt` recompresses that package's files only.
//!
//! The layer's tar is, in this order:
//!
//! 1. every directory of the layer, sorted by path (never cached: it is small);
//! 2. per `.deb`, in lock order: its files and symlinks sorted by path, then its
//!    hardlinks sorted by path (so a link follows its target), minus the paths a later
//!    `.deb` or the installation itself (dpkg database, alternatives links) writes
//!    again (a hardlink to such a path is written as a copy of this `.deb`'s bytes,
//!    as dpkg's link would keep them). Its compressed run is cached by the `.deb`'s hash, the merged-/usr
//!    mapping, the owners (as the `.deb` gives them), the set of overwritten paths
//!    (usually empty), the mtime, the compression and the layer format;
//! 3. what the installation generates: the dpkg database (`status`, `info/*`),
//!    alternatives links and their database, and `/etc/passwd` and `/etc/group` from
//!    `base-passwd` on a base without them, sorted by path (never cached);
//! 4. the end-of-archive.
//!
//! What a `.deb` places (paths, kinds, modes, owners, content hashes, its `.list` and
//! conffile MD5s) is kept as a note in the store beside the runs, so a cached `.deb` is
//! never decompressed again: its control part (a few kilobytes) is all that is read.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{ACCOUNTS, DEBIAN_LAYER_VERSION, DebianError, DebianLayer, SkippedScript, SpillSink};
use crate::debian::{
    ContentSink, ControlInfo, Deb, InstallBase, LayerFile, LayerKind, Unpacked,
    add_missing_parents, assemble, unpack,
};
use crate::digest::Digest;
use crate::layer::segments::{Entries, SegmentPlan, read_note, write_note, write_segmented};
use crate::layer::{Compression, Entry, EntryKind, FileSource, LayerError, Owner};
use crate::lock::LockedDeb;
use crate::store::{SegmentsNote, Store};

/// Bumped when what [`UnpackedNote`] records of a `.deb` changes.
const UNPACKED_VERSION: u32 = 1;
/// The name of the note that keeps what a `.deb` places.
const UNPACKED_NOTE: &str = "debian-unpacked";

/// A regular file's contents while the layer is planned.
#[derive(Debug, Clone)]
enum Content {
    /// A file of the package that placed it, at `path` among the package's contents
    /// (its own path, or a hardlink's target); its bytes are unpacked when its
    /// segment is made.
    Package {
        path: String,
        size: u64,
        sha256: Digest,
    },
    /// A file the installation generated.
    Bytes(Arc<[u8]>),
}

/// One entry of [`UnpackedNote`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NoteEntry {
    path: String,
    kind: NoteKind,
    mode: u32,
    uid: u64,
    gid: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum NoteKind {
    Dir,
    File { size: u64, sha256: Digest },
    Symlink(String),
    Hardlink(String),
}

/// What one `.deb` places ([`Unpacked`] without the contents), kept in the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UnpackedNote {
    entries: Vec<NoteEntry>,
    list: String,
    conffile_md5: BTreeMap<String, String>,
}

impl UnpackedNote {
    fn of(unpacked: &Unpacked<SpillHandle>) -> Self {
        let entries = unpacked
            .entries
            .iter()
            .map(|f| NoteEntry {
                path: f.path.clone(),
                kind: match &f.kind {
                    LayerKind::Dir => NoteKind::Dir,
                    LayerKind::File((_, size, sha256)) => NoteKind::File {
                        size: *size,
                        sha256: sha256.clone(),
                    },
                    LayerKind::Symlink(target) => NoteKind::Symlink(target.clone()),
                    LayerKind::Hardlink(target) => NoteKind::Hardlink(target.clone()),
                },
                mode: f.mode,
                uid: f.uid,
                gid: f.gid,
            })
            .collect();
        Self {
            entries,
            list: unpacked.list.clone(),
            conffile_md5: unpacked.conffile_md5.clone(),
        }
    }

    fn into_unpacked(self) -> Unpacked<Content> {
        let entries = self
            .entries
            .into_iter()
            .map(|e| LayerFile {
                kind: match e.kind {
                    NoteKind::Dir => LayerKind::Dir,
                    NoteKind::File { size, sha256 } => LayerKind::File(Content::Package {
                        path: e.path.clone(),
                        size,
                        sha256,
                    }),
                    NoteKind::Symlink(target) => LayerKind::Symlink(target),
                    NoteKind::Hardlink(target) => LayerKind::Hardlink(target),
                },
                path: e.path,
                mode: e.mode,
                uid: e.uid,
                gid: e.gid,
                origin: None,
            })
            .collect();
        Unpacked {
            entries,
            list: self.list,
            conffile_md5: self.conffile_md5,
        }
    }
}

/// A spilled file: its path in the store's temp area, size and hash.
type SpillHandle = (PathBuf, u64, Digest);

/// Keeps generated files in memory (they are small: the dpkg database).
struct BytesSink;

impl ContentSink for BytesSink {
    type Handle = Content;
    fn store(&mut self, _path: &str, size: u64, reader: &mut dyn Read) -> std::io::Result<Content> {
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 24));
        reader.read_to_end(&mut bytes)?;
        Ok(Content::Bytes(Arc::from(bytes)))
    }
}

/// The `.deb`s of the layer, and the contents of those unpacked by this build
/// (spilled to the store's temp area), by lock index and path in the layer.
struct Packages<'a> {
    debs: &'a [LockedDeb],
    paths: &'a [PathBuf],
    merged: &'a BTreeMap<String, String>,
    sink: SpillSink,
    spilled: BTreeMap<usize, BTreeMap<String, PathBuf>>,
}

impl Packages<'_> {
    fn open(&self, index: usize) -> Result<Deb<BufReader<File>>, DebianError> {
        let (path, locked) = (&self.paths[index], &self.debs[index]);
        let file = File::open(path).map_err(|source| DebianError::OpenDeb {
            filename: locked.filename.clone(),
            source,
        })?;
        Deb::new(BufReader::new(file)).map_err(|source| DebianError::BadDeb {
            filename: locked.filename.clone(),
            source,
        })
    }

    /// Unpacks the `.deb` at `index`, spilling its contents.
    fn unpack(
        &mut self,
        index: usize,
        deb: Deb<BufReader<File>>,
    ) -> Result<(ControlInfo, Unpacked<SpillHandle>), DebianError> {
        let (control, unpacked) = unpack(self.merged, deb, &mut self.sink)?;
        let files = unpacked
            .entries
            .iter()
            .filter_map(|f| match &f.kind {
                LayerKind::File((host, _, _)) => Some((f.path.clone(), host.clone())),
                _ => None,
            })
            .collect();
        self.spilled.insert(index, files);
        Ok((control, unpacked))
    }

    /// The spilled contents of the `.deb` at `index` (unpacked now if needed).
    fn contents(&mut self, index: usize) -> Result<&BTreeMap<String, PathBuf>, DebianError> {
        if !self.spilled.contains_key(&index) {
            let deb = self.open(index)?;
            self.unpack(index, deb)?;
        }
        Ok(&self.spilled[&index])
    }
}

/// The key of the note of what `deb` places under the merged-/usr mapping `merged`.
fn unpacked_key(deb: &LockedDeb, merged: &BTreeMap<String, String>) -> Digest {
    let mut h = Sha256::new();
    h.update(format!(
        "airlock-debian-unpacked\0v{UNPACKED_VERSION}\0{}",
        deb.sha256
    ));
    for (from, to) in merged {
        h.update(format!("\0{from}\0{to}"));
    }
    Digest::from_sha256(h.finalize().into())
}

/// The key of the segment of `deb`'s files minus `overwritten` (sorted).
fn deb_segment_key(
    deb: &LockedDeb,
    merged: &BTreeMap<String, String>,
    overwritten: &[&str],
) -> Digest {
    let mut h = Sha256::new();
    h.update(format!(
        "airlock-debian-deb\0v{DEBIAN_LAYER_VERSION}\0v{UNPACKED_VERSION}\0owners-as-shipped\0{}",
        deb.sha256
    ));
    for (from, to) in merged {
        h.update(format!("\0usr\0{from}\0{to}"));
    }
    for path in overwritten {
        h.update(format!("\0over\0{path}"));
    }
    Digest::from_sha256(h.finalize().into())
}

/// What each `.deb` places, with its control part: from the store's note, or unpacked
/// now (and noted).
fn unpack_all(
    store: &Store,
    packages: &mut Packages<'_>,
) -> Result<Vec<(ControlInfo, Unpacked<Content>)>, DebianError> {
    let mut out = Vec::with_capacity(packages.debs.len());
    for index in 0..packages.debs.len() {
        let deb = packages.open(index)?;
        let key = unpacked_key(&packages.debs[index], packages.merged);
        if let Some(note) = read_note::<UnpackedNote>(store, &key, UNPACKED_NOTE) {
            out.push((deb.control().clone(), note.into_unpacked()));
            continue;
        }
        let (control, unpacked) = packages.unpack(index, deb)?;
        let note = UnpackedNote::of(&unpacked);
        write_note(store, &key, UNPACKED_NOTE, &note)?;
        out.push((control, note.into_unpacked()));
    }
    Ok(out)
}

fn invalid(error: impl std::fmt::Display) -> DebianError {
    DebianError::Layer(LayerError::Write(std::io::Error::other(error.to_string())))
}

/// `/etc/passwd` and `/etc/group` as `base-passwd`'s maintainer script would create
/// them on an empty root: copies of the master files the package ships.
fn add_accounts(
    tree: &mut BTreeMap<String, LayerFile<Content>>,
    packages: &mut Packages<'_>,
) -> Result<(), DebianError> {
    for (target, master) in ACCOUNTS {
        if tree.contains_key(target) {
            continue;
        }
        let Some(entry) = tree.get(master) else {
            continue;
        };
        let bytes = match (&entry.kind, entry.origin) {
            (LayerKind::File(Content::Bytes(bytes)), _) => bytes.clone(),
            (LayerKind::File(Content::Package { .. }), Some(index)) => {
                let host = packages.contents(index)?.get(master).cloned();
                let host = host.ok_or_else(|| invalid(format!("`{master}` was not unpacked")))?;
                let bytes = std::fs::read(&host).map_err(|source| LayerError::Read {
                    path: host.clone(),
                    source,
                })?;
                Arc::from(bytes)
            }
            _ => continue,
        };
        let copy = LayerFile {
            path: target.to_string(),
            kind: LayerKind::File(Content::Bytes(bytes)),
            mode: 0o644,
            origin: None,
            ..entry.clone()
        };
        tree.insert(target.to_string(), copy);
    }
    Ok(())
}

/// The layer entry of `file`; a package's file is read from `contents` (the package's
/// spilled files by path).
fn entry_of(
    file: &LayerFile<Content>,
    contents: Option<&BTreeMap<String, PathBuf>>,
) -> Result<Entry, DebianError> {
    let kind = match &file.kind {
        LayerKind::Dir => EntryKind::Dir,
        LayerKind::Symlink(target) => EntryKind::Symlink {
            target: target.clone(),
        },
        LayerKind::Hardlink(target) => EntryKind::Hardlink {
            target: target.clone(),
        },
        LayerKind::File(Content::Bytes(bytes)) => EntryKind::File {
            size: bytes.len() as u64,
            sha256: Digest::of(bytes),
            source: FileSource::Bytes(bytes.clone()),
        },
        LayerKind::File(Content::Package { path, size, sha256 }) => {
            let host = contents
                .and_then(|c| c.get(path))
                .ok_or_else(|| invalid(format!("`{path}` was not unpacked")))?;
            EntryKind::File {
                size: *size,
                sha256: sha256.clone(),
                source: FileSource::Host(host.clone()),
            }
        }
    };
    Ok(Entry {
        kind,
        mode: file.mode & 0o7777,
        owner: Owner {
            uid: u32::try_from(file.uid).unwrap_or(0),
            gid: u32::try_from(file.gid).unwrap_or(0),
        },
    })
}

/// A regular file at `path` with the bytes (and metadata) `package` shipped at
/// `target`.
fn copy_of(
    package: &Unpacked<Content>,
    target: &str,
    path: String,
) -> Result<LayerFile<Content>, DebianError> {
    let shipped = package
        .entries
        .iter()
        .rev()
        .find(|f| f.path == target && matches!(f.kind, LayerKind::File(_)))
        .ok_or_else(|| invalid(format!("`{path}` links to `{target}`, which is not a file")))?;
    Ok(LayerFile {
        path,
        ..shipped.clone()
    })
}

/// The layer split into its segments' entries (see the module docs).
struct Split {
    dirs: Vec<LayerFile<Content>>,
    /// Per `.deb`: its entries in segment order, and the paths it ships that are
    /// written again after it (sorted).
    debs: Vec<(Vec<LayerFile<Content>>, Vec<String>)>,
    generated: Vec<LayerFile<Content>>,
}

fn split(
    tree: BTreeMap<String, LayerFile<Content>>,
    unpacked: &[Unpacked<Content>],
) -> Result<Split, DebianError> {
    let mut out = Split {
        dirs: Vec::new(),
        debs: vec![(Vec::new(), Vec::new()); unpacked.len()],
        generated: Vec::new(),
    };
    for (index, package) in unpacked.iter().enumerate() {
        let mut over: Vec<String> = package
            .entries
            .iter()
            .filter(|f| !matches!(f.kind, LayerKind::Dir))
            .filter(|f| tree.get(&f.path).is_none_or(|t| t.origin != Some(index)))
            .map(|f| f.path.clone())
            .collect();
        over.sort();
        over.dedup();
        out.debs[index].1 = over;
    }
    let mut hardlinks: Vec<Vec<LayerFile<Content>>> = vec![Vec::new(); unpacked.len()];
    for (path, file) in tree {
        crate::layer::check_path(&path).map_err(invalid)?;
        match (&file.kind, file.origin) {
            (LayerKind::Dir, _) => out.dirs.push(file),
            (_, None) => out.generated.push(file),
            (LayerKind::Hardlink(target), Some(index)) => {
                if out.debs[index].1.binary_search(target).is_ok() {
                    // Its target is replaced later: dpkg's link keeps this package's
                    // bytes, so it is written as a copy of them.
                    let copy = copy_of(&unpacked[index], target, file.path.clone())?;
                    out.debs[index].0.push(copy);
                } else {
                    hardlinks[index].push(file);
                }
            }
            (_, Some(index)) => out.debs[index].0.push(file),
        }
    }
    for (segment, links) in out.debs.iter_mut().zip(hardlinks) {
        segment.0.extend(links);
    }
    Ok(out)
}

/// Makes the Debian layer of `debs` (at `paths` in the store, in lock order)
/// installed over the dpkg `status` of the base, as segments.
pub(super) fn segmented_layer(
    store: &Store,
    (debs, paths): (&[LockedDeb], &[PathBuf]),
    base: &InstallBase<'_>,
    accounts: bool,
    (mtime, compression): (u64, Compression),
) -> Result<DebianLayer, DebianError> {
    let mut packages = Packages {
        debs,
        paths,
        merged: &base.merged_usr,
        sink: SpillSink::new(store)?,
        spilled: BTreeMap::new(),
    };
    let unpacked = unpack_all(store, &mut packages)?;
    let lists: Vec<Unpacked<Content>> = unpacked.iter().map(|(_, u)| u.clone()).collect();
    let layer = assemble(base, unpacked, &mut BytesSink)?;
    let mut tree: BTreeMap<String, LayerFile<Content>> = layer
        .files
        .into_iter()
        .map(|f| (f.path.clone(), f))
        .collect();
    if accounts {
        add_accounts(&mut tree, &mut packages)?;
    }
    add_missing_parents(&mut tree, &BTreeMap::new());
    let Split {
        dirs,
        debs: per_deb,
        generated,
    } = split(tree, &lists)?;
    let packages = RefCell::new(packages);
    let mut plans: Vec<SegmentPlan<'_, DebianError>> = Vec::new();
    plans.push(SegmentPlan {
        key: None,
        make: Box::new(move || {
            dirs.iter()
                .map(|f| Ok((f.path.clone(), entry_of(f, None)?)))
                .collect()
        }),
    });
    for (index, (files, over)) in per_deb.into_iter().enumerate() {
        if files.is_empty() {
            // Nothing of it is left (only directories, or all overwritten).
            continue;
        }
        let over: Vec<&str> = over.iter().map(String::as_str).collect();
        let key = deb_segment_key(&debs[index], &base.merged_usr, &over);
        let packages = &packages;
        plans.push(SegmentPlan {
            key: Some(key),
            make: Box::new(move || {
                let mut packages = packages.borrow_mut();
                let contents = packages.contents(index)?;
                files
                    .iter()
                    .map(|f| Ok((f.path.clone(), entry_of(f, Some(contents))?)))
                    .collect::<Result<Entries, DebianError>>()
            }),
        });
    }
    plans.push(SegmentPlan {
        key: None,
        make: Box::new(move || {
            generated
                .iter()
                .map(|f| Ok((f.path.clone(), entry_of(f, None)?)))
                .collect()
        }),
    });
    let written = write_segmented(store, plans, mtime, compression)?;
    tracing::debug!(
        reused = written.reused,
        made = written.made,
        digest = %written.record.digest,
        "Debian layer written"
    );
    let skipped = layer.skipped.into_iter().map(SkippedScript::from).collect();
    let notes = debs
        .iter()
        .map(|deb| unpacked_key(deb, &base.merged_usr))
        .collect();
    Ok(DebianLayer {
        record: written.record,
        reused: false,
        skipped,
        segments: Some(SegmentsNote {
            runs: written.runs,
            notes,
        }),
    })
}
