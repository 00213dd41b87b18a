//! Where the `FROM` image comes from: a local OCI layout (`--base-layout`,
//! `[base.layouts]`, or BuildKit's `oci-layout://PATH[:TAG]` form) or a registry.

use std::path::{Path, PathBuf};

use super::pull::{BaseOrigin, pull_base};
use super::{
    BaseImage, ImageError, ImageName, ImportFacts, base_from_layout, load_pinned_base_from_layout,
};
use crate::digest::Digest;
use crate::project::Project;
use crate::registry::RemoteOptions;
use crate::store::Store;

/// BuildKit's prefix for a base read from a local OCI layout.
pub(super) const OCI_LAYOUT_PREFIX: &str = "oci-layout://";

/// A layout directory and the tag to select in it.
fn layout_of(
    project: &Project,
    base_layout: Option<&Path>,
    name: &ImageName,
    text: &str,
) -> Option<(PathBuf, Option<String>)> {
    let default_tag = || {
        name.tag.clone().or(if name.digest.is_some() {
            None
        } else {
            Some("latest".into())
        })
    };
    if let Some(dir) = base_layout {
        return Some((dir.to_path_buf(), default_tag()));
    }
    if let Some(rest) = text.strip_prefix(OCI_LAYOUT_PREFIX) {
        let rest = rest.split('@').next().unwrap_or(rest);
        let (path, tag) = match rest.rsplit_once(':') {
            Some((path, tag)) if !tag.contains('/') => (path, Some(tag.to_string())),
            _ => (rest, Some("latest".to_string())),
        };
        return Some((project.root.join(path), tag));
    }
    project
        .settings
        .base
        .layouts
        .get(&name.name)
        .map(|dir| (project.root.join(dir), default_tag()))
}

/// Loads the project's `FROM` image into the store. `pinned` is the manifest digest
/// the lock holds for the same `FROM` text: a registry base is then taken by digest
/// (from the store when it is there), so a locked build never follows a moved tag.
/// A registry base is pulled on `runtime`.
pub(crate) fn load_base(
    store: &Store,
    project: &Project,
    base_layout: Option<&Path>,
    remote: &RemoteOptions,
    runtime: &tokio::runtime::Handle,
    pinned: Option<&Digest>,
) -> Result<(BaseImage, BaseOrigin), ImageError> {
    let text = project.dockerfile.from.image.clone();
    let wanted = (text.as_str(), pinned, ImportFacts::Read);
    load(store, project, base_layout, remote, runtime, wanted)
}

/// Loads the image `text` names (a base, an earlier stage's `FROM`, a `COPY --from`
/// image) the way [`load_base`] loads the `FROM` image.
pub(crate) fn load_image(
    store: &Store,
    project: &Project,
    base_layout: Option<&Path>,
    remote: &RemoteOptions,
    runtime: &tokio::runtime::Handle,
    text: &str,
    pinned: Option<&Digest>,
) -> Result<(BaseImage, BaseOrigin), ImageError> {
    let wanted = (text, pinned, ImportFacts::Skip);
    load(store, project, base_layout, remote, runtime, wanted)
}

/// [`load_image`], the facts of a layout's image read while it is imported when
/// `facts` says so (a `FROM` image: the build reads them next).
fn load(
    store: &Store,
    project: &Project,
    base_layout: Option<&Path>,
    remote: &RemoteOptions,
    runtime: &tokio::runtime::Handle,
    (text, pinned, facts): (&str, Option<&Digest>, ImportFacts),
) -> Result<(BaseImage, BaseOrigin), ImageError> {
    let text = text.to_string();
    if text == super::SCRATCH {
        let base = super::scratch_base(store)?;
        return Ok((base, BaseOrigin::Layout));
    }
    let name = ImageName::parse(text.strip_prefix(OCI_LAYOUT_PREFIX).unwrap_or(&text))?;
    if let Some((layout, tag)) = layout_of(project, base_layout, &name, &text) {
        // As for a registry: the locked digest wins over where the tag points now.
        let base = match pinned {
            Some(digest) => load_pinned_base_from_layout(store, &text, &layout, (digest, facts))?
                .ok_or_else(|| ImageError::PinnedBaseMissing {
                reference: text.clone(),
                digest: digest.clone(),
                layout: layout.clone(),
            })?,
            None => base_from_layout(store, &text, &layout, tag.as_deref(), facts)?,
        };
        if let Some(wanted) = &name.digest
            && wanted != &base.manifest_digest
        {
            return Err(ImageError::Config {
                digest: base.manifest_digest,
                reason: format!("`FROM` pins `{wanted}`, the layout holds another manifest"),
            });
        }
        return Ok((base, BaseOrigin::Layout));
    }
    let (base, repository) = pull_base(store, remote, runtime, &text, pinned)?;
    Ok((base, BaseOrigin::Registry(repository)))
}
