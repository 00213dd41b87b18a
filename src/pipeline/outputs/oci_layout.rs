//! The OCI image layout output (`oci:DIR[:TAG]`, and the default `.airlock/oci`).

use std::path::{Path, PathBuf};

use super::spec::{describe_oci, ensure_state_dir};
use super::{Output, Written};
use crate::digest::Digest;
use crate::oci::{media_types, write_layout};
use crate::pipeline::BuildError;
use crate::pipeline::assemble::Image;
use crate::pipeline::options::Reporter;
use crate::store::Store;

/// An OCI layout, the image tagged in its `index.json` beside the tags already there.
pub(in crate::pipeline) struct OciLayout<'a> {
    pub dir: PathBuf,
    pub tag: String,
    /// Where builds writing one layout take turns.
    pub store: &'a Store,
    /// The project whose `.airlock/` must be made first (see `ensure_state_dir`).
    pub state_dir: Option<PathBuf>,
}

impl Output for OciLayout<'_> {
    fn describe(&self) -> String {
        describe_oci(&self.dir, &self.tag)
    }

    /// Builds writing one OCI layout take turns under a store lock named after the
    /// layout's path: each reads, changes and writes back its `index.json`, and the
    /// first creates the layout.
    fn write(&self, image: &Image, reporter: &dyn Reporter) -> Result<Written, BuildError> {
        reporter.step("writing the output");
        if let Some(project) = &self.state_dir {
            ensure_state_dir(project)?;
        }
        let _turn = self.store.lock(&layout_lock_name(&self.dir))?;
        let mut all = image.layer_blobs();
        all.push(image.config_blob());
        write_layout(
            &self.dir,
            &self.tag,
            &all,
            &image.manifest,
            media_types::OCI_MANIFEST,
        )?;
        Ok(Written::Local)
    }
}

/// The store lock of the layout at `dir`: named after its absolute path with the
/// symlinks of the part that exists resolved, so every spelling of one layout (and
/// the layout before and after it is created) takes the same lock.
fn layout_lock_name(dir: &Path) -> String {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut missing = Vec::new();
    let mut existing = absolute.as_path();
    let resolved = loop {
        if let Ok(real) = existing.canonicalize() {
            break missing
                .iter()
                .rev()
                .fold(real, |path: PathBuf, name| path.join(name));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                existing = parent;
            }
            _ => break absolute.clone(),
        }
    };
    let digest = Digest::of(resolved.as_os_str().as_encoded_bytes());
    format!("layout-{}", digest.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layout_takes_one_lock_before_and_after_it_exists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = dir.path().join("out/layout");
        let before = layout_lock_name(&layout);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).expect("symlink");
        assert_eq!(layout_lock_name(&link.join("out/layout")), before);
        std::fs::create_dir_all(&layout).expect("mkdir");
        assert_eq!(layout_lock_name(&layout), before);
        assert_eq!(layout_lock_name(&link.join("out/../out/layout")), before);
        assert_ne!(layout_lock_name(&dir.path().join("other")), before);
    }
}
