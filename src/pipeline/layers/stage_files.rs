//! The files `COPY --from` reads: an earlier stage (its base image and its own steps'
//! layers) or an image, unpacked once into the store as a root filesystem (whiteouts
//! honoured) and read there, confined to it.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::copy_step::{SourceEntry, StageRoot, clean_source, glob_match, has_glob};
use super::{Below, CopyError, LayerStep, changes_nothing};
use crate::confine::{Node, resolve_in_root};
use crate::digest::Digest;
use crate::image::BaseImage;
use crate::layer::FileSource;
use crate::pipeline::BuildError;
use crate::pipeline::cache::LayerCache;
use crate::pipeline::options::Reporter;
use crate::pipeline::realise::realise_layer;
use crate::sandbox::unpack_rootfs;
use crate::store::Store;

/// An earlier stage or an image, as a source of files.
pub(in crate::pipeline) struct StageFiles<'a> {
    /// The `COPY` line that first needs it (for messages).
    pub line: usize,
    pub store: &'a Store,
    pub base: BaseImage,
    /// The stage's own filesystem steps (none for an image), in order.
    pub steps: Vec<Box<dyn LayerStep + 'a>>,
    pub root: OnceCell<PathBuf>,
}

impl StageFiles<'_> {
    /// The stage's root filesystem: its steps' layers realised (from the store by
    /// key, else produced), then everything unpacked.
    fn root(&self, reporter: &dyn Reporter) -> Result<&Path, BuildError> {
        if let Some(root) = self.root.get() {
            return Ok(root);
        }
        let mut layers: Vec<(Digest, PathBuf)> = self
            .base
            .layers
            .iter()
            .map(|l| (l.digest.clone(), l.path.clone()))
            .collect();
        // As the build realises its own layers: each step sees the stage's layers
        // below it (a `RUN` in a stage runs over them).
        let (mut keys, mut records) = (Vec::new(), Vec::new());
        for step in &self.steps {
            let below = Below {
                base: &self.base,
                keys: &keys,
                layers: &records,
            };
            let Some((key, layer)) = realise_layer(
                step.as_ref(),
                &below,
                self.store,
                &LayerCache::none(),
                reporter,
            )?
            else {
                continue;
            };
            keys.push(step.key_above(&key));
            if changes_nothing(&layer.record) {
                continue;
            }
            let digest = layer.record.digest.clone();
            records.push(layer.record);
            layers.push((digest.clone(), self.store.blob_path(&digest)));
        }
        reporter.step("unpacking a stage for `COPY --from`");
        let root = unpack_rootfs(self.store, &layers).map_err(CopyError::from)?;
        Ok(self.root.get_or_init(|| root))
    }
}

/// What `rel` is under `root` (not following a final link).
fn node(root: &Path, rel: &str) -> Node {
    let path = root.join(rel);
    match fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_symlink() => match fs::read_link(&path) {
            Ok(target) => Node::Symlink(target.to_string_lossy().into_owned()),
            Err(_) => Node::Unreadable,
        },
        Ok(meta) if meta.is_dir() => Node::Dir,
        Ok(_) => Node::File,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Node::Missing,
        Err(_) => Node::Unreadable,
    }
}

fn join(prefix: &str, name: &str) -> String {
    match prefix.is_empty() {
        true => name.to_string(),
        false => format!("{prefix}/{name}"),
    }
}

impl StageRoot for StageFiles<'_> {
    fn entries(
        &self,
        patterns: &[String],
        reporter: &dyn Reporter,
    ) -> Result<BTreeMap<String, SourceEntry>, BuildError> {
        let root = self.root(reporter)?;
        let resolve = |rel: &str| resolve_in_root(rel, |p: &str| node(root, p)).ok();
        let mut out = BTreeMap::new();
        for pattern in patterns {
            // An escaping source is the copy step's to report.
            let Some(clean) = clean_source(pattern) else {
                continue;
            };
            let mut matched = vec![String::new()];
            for component in clean.split('/').filter(|c| !c.is_empty()) {
                let mut next = Vec::new();
                for prefix in matched {
                    if !has_glob(component) {
                        next.push(join(&prefix, component));
                        continue;
                    }
                    let Some(dir) = resolve(&prefix) else {
                        continue;
                    };
                    let mut names: Vec<String> = fs::read_dir(root.join(&dir))
                        .map(|entries| {
                            entries
                                .filter_map(Result::ok)
                                .map(|e| e.file_name().to_string_lossy().into_owned())
                                .collect()
                        })
                        .unwrap_or_default();
                    names.sort();
                    next.extend(
                        names
                            .into_iter()
                            .filter(|n| glob_match(component.as_bytes(), n.as_bytes()))
                            .map(|n| join(&prefix, &n)),
                    );
                }
                matched = next;
            }
            for path in matched {
                let Some(real) = resolve(&path) else {
                    continue;
                };
                self.add(root, &real, &path, &mut out)?;
            }
        }
        Ok(out)
    }
}

impl StageFiles<'_> {
    /// The entry at `real` (a resolved path under `root`) under the name `path`, a
    /// directory with everything below it (links inside kept as links).
    fn add(
        &self,
        root: &Path,
        real: &str,
        path: &str,
        out: &mut BTreeMap<String, SourceEntry>,
    ) -> Result<(), BuildError> {
        let host = root.join(real);
        let read_error = |source: std::io::Error| CopyError::Read {
            line: self.line,
            instruction: "COPY".into(),
            path: format!("/{real}"),
            source,
        };
        let Ok(meta) = fs::symlink_metadata(&host) else {
            return Ok(());
        };
        let entry = if meta.file_type().is_symlink() {
            let target = fs::read_link(&host).map_err(read_error)?;
            SourceEntry::Symlink(target.to_string_lossy().into_owned())
        } else if meta.is_dir() {
            let mut names: Vec<String> = fs::read_dir(&host)
                .map_err(read_error)?
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for name in names {
                self.add(root, &join(real, &name), &join(path, &name), out)?;
            }
            SourceEntry::Dir
        } else if meta.is_file() {
            let mut bytes = Vec::new();
            fs::File::open(&host)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(read_error)?;
            use std::os::unix::fs::PermissionsExt as _;
            SourceEntry::File {
                size: bytes.len() as u64,
                sha256: Digest::of(&bytes),
                source: FileSource::Host(host.clone()),
                executable: meta.permissions().mode() & 0o111 != 0,
            }
        } else {
            // Devices, sockets and fifos are not copied.
            return Ok(());
        };
        if !path.is_empty() {
            out.insert(path.to_string(), entry);
        }
        Ok(())
    }
}
