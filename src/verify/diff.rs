//! Two images compared: manifest digests, then layer by layer (by digest), then,
//! inside each differing layer, file by file (path, type, size, mode, owner and
//! content hash), the way diffoscope points at a difference.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::digest::Digest;
use crate::image::open_layer;

/// What a tar entry is, enough to tell two apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct FileFacts {
    pub kind: char,
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// sha256 of the content (regular files), or the link target.
    pub content: String,
}

/// One path that differs: its facts in the image and in the rebuild (`None` when
/// absent there).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FileDiff {
    pub path: String,
    pub image: Option<FileFacts>,
    pub rebuild: Option<FileFacts>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct LayerDiff {
    pub index: usize,
    pub image: Option<Digest>,
    pub rebuild: Option<Digest>,
    /// The first differing files, in path order.
    pub files: Vec<FileDiff>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ImageDiff {
    pub image: Digest,
    pub rebuild: Digest,
    pub layers: Vec<LayerDiff>,
}

impl ImageDiff {
    pub(crate) fn identical(&self) -> bool {
        self.image == self.rebuild
    }
}

fn entries(path: &Path) -> std::io::Result<BTreeMap<String, FileFacts>> {
    let mut archive = tar::Archive::new(open_layer(path)?);
    let mut out = BTreeMap::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let header = entry.header();
        let kind = header.entry_type();
        let (mode, uid, gid) = (
            header.mode().unwrap_or(0),
            header.uid().unwrap_or(0),
            header.gid().unwrap_or(0),
        );
        let size = header.size().unwrap_or(0);
        let content = if kind.is_file() {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            Digest::of(&bytes).to_string()
        } else {
            entry
                .link_name()?
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let kind = match kind {
            k if k.is_dir() => 'd',
            k if k.is_symlink() => 'l',
            k if k.is_hard_link() => 'h',
            k if k.is_file() => 'f',
            _ => '?',
        };
        out.insert(
            name,
            FileFacts {
                kind,
                size,
                mode,
                uid,
                gid,
                content,
            },
        );
    }
    Ok(out)
}

/// The first `limit` paths whose facts differ between two layer blobs (either may
/// be missing).
fn file_diffs(
    image: Option<&Path>,
    rebuild: Option<&Path>,
    limit: usize,
) -> std::io::Result<Vec<FileDiff>> {
    let a = image.map(entries).transpose()?.unwrap_or_default();
    let b = rebuild.map(entries).transpose()?.unwrap_or_default();
    let mut paths: Vec<&String> = a.keys().chain(b.keys()).collect();
    paths.sort();
    paths.dedup();
    Ok(paths
        .into_iter()
        .filter(|p| a.get(*p) != b.get(*p))
        .take(limit)
        .map(|p| FileDiff {
            path: p.clone(),
            image: a.get(p).cloned(),
            rebuild: b.get(p).cloned(),
        })
        .collect())
}

/// Compares two images given as (manifest digest, layers as (digest, blob path)).
pub(crate) fn compare(
    image: (&Digest, &[(Digest, std::path::PathBuf)]),
    rebuild: (&Digest, &[(Digest, std::path::PathBuf)]),
    files_per_layer: usize,
) -> std::io::Result<ImageDiff> {
    let mut layers = Vec::new();
    let count = image.1.len().max(rebuild.1.len());
    for index in 0..count {
        let a = image.1.get(index);
        let b = rebuild.1.get(index);
        if a.map(|l| &l.0) == b.map(|l| &l.0) {
            continue;
        }
        let files = file_diffs(
            a.map(|l| l.1.as_path()),
            b.map(|l| l.1.as_path()),
            files_per_layer,
        )?;
        layers.push(LayerDiff {
            index,
            image: a.map(|l| l.0.clone()),
            rebuild: b.map(|l| l.0.clone()),
            files,
        });
    }
    Ok(ImageDiff {
        image: image.0.clone(),
        rebuild: rebuild.0.clone(),
        layers,
    })
}
