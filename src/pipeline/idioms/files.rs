//! Small files read from the layers under a step (the base's, then the new ones),
//! whiteouts applied: the dpkg status an `apt-get install` step extends, the wheels
//! `ensurepip` would seed a virtual environment with.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use crate::image::open_layer;
use crate::layer::{LayerChange, layer_change};

/// The regular files `wanted` selects in the layers `blobs` (bottom first), as the
/// top of the stack shows them. A file larger than `limit` bytes is skipped.
pub(crate) fn files_in_layers(
    blobs: &[PathBuf],
    wanted: &dyn Fn(&str) -> bool,
    limit: u64,
) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let mut found: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for blob in blobs {
        let mut archive = tar::Archive::new(open_layer(blob)?);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Ok(change) = layer_change(&raw) else {
                continue;
            };
            match change {
                LayerChange::Opaque { dir } if dir.is_empty() => found.clear(),
                LayerChange::Opaque { dir } => {
                    let prefix = format!("{dir}/");
                    found.retain(|p, _| !p.starts_with(&prefix));
                }
                LayerChange::Hide { target } => {
                    let prefix = format!("{target}/");
                    found.retain(|p, _| p != &target && !p.starts_with(&prefix));
                }
                LayerChange::Write { path } => {
                    let regular = entry.header().entry_type().is_file();
                    if !regular || !wanted(&path) {
                        // Anything else written over a wanted path hides it.
                        found.remove(&path);
                        continue;
                    }
                    if entry.size() > limit {
                        found.remove(&path);
                        continue;
                    }
                    let mut bytes = Vec::new();
                    entry.read_to_end(&mut bytes)?;
                    found.insert(path, bytes);
                }
            }
        }
    }
    Ok(found)
}
