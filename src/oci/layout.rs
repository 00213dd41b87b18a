//! OCI image layouts: select an image from one, write an image into one.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::canonical::index_json;
use super::types::{
    Descriptor, DescriptorExt, ImageIndex, ImageManifest, IndexExt, Platform, PlatformExt,
    descriptor as new_descriptor, media_types, spec_platform_keys,
};
use crate::digest::Digest;

const OCI_LAYOUT_FILE: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("Cannot {action} `{path}`")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{path}` is not an OCI image layout (no `oci-layout` file)")]
    NotALayout { path: PathBuf },
    #[error("Invalid JSON in `{path}`")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("No image tagged `{tag}` in the layout `{path}` (it has: {available})")]
    TagNotFound {
        tag: String,
        path: PathBuf,
        available: String,
    },
    #[error("The layout `{path}` holds {count} images; name one with a tag")]
    Ambiguous { path: PathBuf, count: usize },
    #[error("The image `{name}` has no linux/amd64 variant (it has: {available})")]
    NoAmd64 { name: String, available: String },
    #[error("Blob `{digest}` in `{path}` does not match its digest")]
    Corrupt { path: PathBuf, digest: Digest },
    #[error("Unsupported media type `{0}` where a manifest or an index was expected")]
    MediaType(String),
    #[error("`{path}` exists and is not an OCI image layout; choose another output or remove it")]
    OutputNotLayout { path: PathBuf },
    #[error(transparent)]
    Digest(#[from] crate::digest::DigestError),
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> OciError + 'a {
    move |source| OciError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// One image selected from a layout: its manifest (bytes as stored) and where its
/// blobs live.
#[derive(Debug, Clone)]
pub struct LayoutImage {
    pub dir: PathBuf,
    pub manifest_digest: Digest,
    pub manifest_bytes: Vec<u8>,
    pub manifest: ImageManifest,
}

impl LayoutImage {
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        blob_path(&self.dir, digest)
    }
}

fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs")
        .join(digest.algorithm())
        .join(digest.hex())
}

/// Reads a blob of the layout and checks it against its digest.
fn read_verified(dir: &Path, digest: &Digest) -> Result<Vec<u8>, OciError> {
    let path = blob_path(dir, digest);
    let bytes = fs::read(&path).map_err(io_err("read", &path))?;
    if &Digest::of(&bytes) != digest {
        return Err(OciError::Corrupt {
            path,
            digest: digest.clone(),
        });
    }
    Ok(bytes)
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], path: &Path) -> Result<T, OciError> {
    let error = |source| OciError::Json {
        path: path.to_path_buf(),
        source,
    };
    let mut document: serde_json::Value = serde_json::from_slice(bytes).map_err(error)?;
    spec_platform_keys(&mut document);
    serde_json::from_value(document).map_err(error)
}

/// Reads `index.json` of a layout.
pub fn read_layout(dir: &Path) -> Result<ImageIndex, OciError> {
    if !dir.join("oci-layout").is_file() {
        return Err(OciError::NotALayout {
            path: dir.to_path_buf(),
        });
    }
    let path = dir.join("index.json");
    let bytes = fs::read(&path).map_err(io_err("read", &path))?;
    parse_json(&bytes, &path)
}

fn platform_list(descriptors: &[Descriptor]) -> String {
    let names: Vec<String> = descriptors
        .iter()
        .map(|d| match d.platform() {
            Some(p) => format!("{}/{}", p.os(), p.architecture()),
            None => "unknown platform".to_string(),
        })
        .collect();
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

/// Selects the image tagged `tag` (matched against `org.opencontainers.image.ref.name`,
/// whole or after the last `:`), choosing linux/amd64 when the entry is an index.
pub fn select_image(dir: &Path, tag: Option<&str>) -> Result<LayoutImage, OciError> {
    let index = read_layout(dir)?;
    let descriptor = match tag {
        Some(tag) => index
            .manifests()
            .iter()
            .find(|d| d.ref_name() == Some(tag))
            .or_else(|| {
                index.manifests().iter().find(|d| {
                    d.ref_name()
                        .and_then(|name| name.rsplit_once(':'))
                        .is_some_and(|(_, t)| t == tag)
                })
            })
            .ok_or_else(|| {
                let names: Vec<&str> = index
                    .manifests()
                    .iter()
                    .filter_map(|d| d.ref_name())
                    .collect();
                OciError::TagNotFound {
                    tag: tag.to_string(),
                    path: dir.to_path_buf(),
                    available: if names.is_empty() {
                        "no tags".into()
                    } else {
                        names.join(", ")
                    },
                }
            })?,
        None => match index.manifests().as_slice() {
            [only] => only,
            _ => {
                return Err(OciError::Ambiguous {
                    path: dir.to_path_buf(),
                    count: index.manifests().len(),
                });
            }
        },
    };
    let name = tag.unwrap_or("the only image").to_string();
    resolve_descriptor(dir, descriptor, &name)
}

/// The image manifest `digest` from the layout's blobs, tagged or not: a tag that
/// moved leaves the old manifest and its blobs behind. `None` when the layout does
/// not hold it.
pub(crate) fn image_by_digest(
    dir: &Path,
    digest: &Digest,
) -> Result<Option<LayoutImage>, OciError> {
    read_layout(dir)?;
    let path = blob_path(dir, digest);
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = read_verified(dir, digest)?;
    let manifest: ImageManifest = parse_json(&bytes, &path)?;
    Ok(Some(LayoutImage {
        dir: dir.to_path_buf(),
        manifest_digest: digest.clone(),
        manifest_bytes: bytes,
        manifest,
    }))
}

fn resolve_descriptor(
    dir: &Path,
    descriptor: &Descriptor,
    name: &str,
) -> Result<LayoutImage, OciError> {
    let digest = descriptor.sha256()?;
    let path = blob_path(dir, &digest);
    if media_types::is_index(descriptor.media_type().as_ref()) {
        let bytes = read_verified(dir, &digest)?;
        let nested: ImageIndex = parse_json(&bytes, &path)?;
        let chosen = nested
            .manifests()
            .iter()
            .find(|d| d.platform().as_ref().is_some_and(Platform::is_linux_amd64))
            .ok_or_else(|| OciError::NoAmd64 {
                name: name.to_string(),
                available: platform_list(nested.manifests()),
            })?;
        return resolve_descriptor(dir, chosen, name);
    }
    if !media_types::is_manifest(descriptor.media_type().as_ref()) {
        return Err(OciError::MediaType(descriptor.media_type().to_string()));
    }
    if let Some(platform) = descriptor.platform()
        && !platform.is_linux_amd64()
    {
        return Err(OciError::NoAmd64 {
            name: name.to_string(),
            available: platform_list(std::slice::from_ref(descriptor)),
        });
    }
    let bytes = read_verified(dir, &digest)?;
    let manifest: ImageManifest = parse_json(&bytes, &path)?;
    Ok(LayoutImage {
        dir: dir.to_path_buf(),
        manifest_digest: digest,
        manifest_bytes: bytes,
        manifest,
    })
}

/// Places a blob in a layout. A blob already there stays when it is `source` itself
/// (a hard link) or an untouched copy of it (same size and modification time);
/// anything else under its name (a copy edited or truncated by hand) is replaced.
/// A new blob is a reflink copy of `source` where the filesystem shares extents
/// (Btrfs, XFS), else a hard link (no bytes copied; the store checks a blob before
/// reusing it, so a write through the link is caught there), else a copy. Copies
/// are mode 0644 and carry the modification time of `source`.
fn place_blob(dir: &Path, digest: &Digest, source: &Path) -> Result<(), OciError> {
    let dest = blob_path(dir, digest);
    let source_metadata = fs::metadata(source).map_err(io_err("read", source))?;
    if let Ok(existing) = fs::symlink_metadata(&dest)
        && existing.is_file()
        && is_copy_of(&existing, &source_metadata)
    {
        return Ok(());
    }
    let parent = dest.parent().unwrap_or(dir);
    let temp =
        tempfile::NamedTempFile::new_in(parent).map_err(io_err("create temp file in", parent))?;
    if !reflink(source, &temp) {
        if let Ok(link) =
            tempfile::Builder::new().make_in(parent, |path| fs::hard_link(source, path))
        {
            return link.persist(&dest).map(drop).map_err(|e| OciError::Io {
                action: "rename hard link to",
                path: dest.clone(),
                source: e.error,
            });
        }
        let mut input = fs::File::open(source).map_err(io_err("open", source))?;
        io::copy(&mut input, &mut temp.as_file()).map_err(io_err("copy", source))?;
    }
    let file = temp.as_file();
    set_file_mode(file, temp.path())?;
    if let Ok(modified) = source_metadata.modified() {
        file.set_modified(modified)
            .map_err(io_err("set the time of", temp.path()))?;
    }
    temp.persist(&dest).map_err(|e| OciError::Io {
        action: "rename temp file to",
        path: dest.clone(),
        source: e.error,
    })?;
    Ok(())
}

/// Whether `existing` is the file `source` describes, or a copy of it nobody wrote to.
fn is_copy_of(existing: &fs::Metadata, source: &fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if existing.dev() == source.dev() && existing.ino() == source.ino() {
            return true;
        }
    }
    existing.len() == source.len()
        && matches!((existing.modified(), source.modified()), (Ok(a), Ok(b)) if a == b)
}

/// Makes `temp` a copy of `source` sharing its extents; false where the filesystem
/// cannot (ext4, tmpfs, another filesystem).
#[cfg(target_os = "linux")]
fn reflink(source: &Path, temp: &tempfile::NamedTempFile) -> bool {
    fs::File::open(source)
        .is_ok_and(|input| rustix::fs::ioctl_ficlone(temp.as_file(), &input).is_ok())
}

#[cfg(not(target_os = "linux"))]
fn reflink(_source: &Path, _temp: &tempfile::NamedTempFile) -> bool {
    false
}

fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<(), OciError> {
    crate::atomic_file::write_readable(path, bytes).map_err(io_err("write", path))
}

/// Writes an image into the layout at `dir` under `tag`.
///
/// `blobs` pairs every digest the manifest needs (config and layers) with a file that
/// holds it; `manifest` is written byte for byte. A new layout is assembled in a
/// sibling temp directory and renamed into place; an existing layout gets its blobs
/// first and its `index.json` replaced atomically last, so a failure never leaves a
/// tag pointing at a missing blob, and a failure never leaves the staging directory.
/// Files are mode 0644 and directories 0755, as other OCI tools write them.
///
/// Callers serialize writers of one layout (the build holds a store lock named
/// after it): `index.json` is read, changed and written back.
pub fn write_layout(
    dir: &Path,
    tag: &str,
    blobs: &[(Digest, PathBuf)],
    manifest: &[u8],
    manifest_media_type: &str,
) -> Result<Digest, OciError> {
    let manifest_digest = Digest::of(manifest);
    let exists = dir.exists();
    if exists && !dir.join("oci-layout").is_file() {
        let empty = fs::read_dir(dir)
            .map_err(io_err("read", dir))?
            .next()
            .is_none();
        if !empty {
            return Err(OciError::OutputNotLayout {
                path: dir.to_path_buf(),
            });
        }
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io_err("create directory", &parent))?;
    let staging = if exists && dir.join("oci-layout").is_file() {
        None
    } else {
        Some(
            tempfile::Builder::new()
                .prefix(".airlock-layout-")
                .tempdir_in(&parent)
                .map_err(io_err("create temp directory in", &parent))?,
        )
    };
    let work = staging.as_ref().map_or(dir, |t| t.path());
    let blob_dir = work.join("blobs/sha256");
    fs::create_dir_all(&blob_dir).map_err(io_err("create directory", &blob_dir))?;
    if staging.is_some() {
        for new_dir in [work, &work.join("blobs"), &blob_dir] {
            set_dir_mode(new_dir)?;
        }
    }
    for (digest, source) in blobs {
        place_blob(work, digest, source)?;
    }
    let manifest_path = blob_path(work, &manifest_digest);
    if fs::read(&manifest_path).ok().as_deref() != Some(manifest) {
        write_file_atomic(&manifest_path, manifest)?;
    }

    let mut index = if staging.is_none() {
        read_layout(work)?
    } else {
        ImageIndex::empty()
    };
    let mut manifests: Vec<Descriptor> = index
        .manifests()
        .iter()
        .filter(|d| d.ref_name() != Some(tag))
        .cloned()
        .collect();
    let mut descriptor = new_descriptor(
        manifest_media_type,
        manifest_digest.clone(),
        manifest.len() as u64,
    );
    descriptor.annotate(media_types::REF_NAME, tag);
    manifests.push(descriptor);
    manifests.sort_by(|a, b| {
        a.ref_name()
            .cmp(&b.ref_name())
            .then(a.digest().as_ref().cmp(b.digest().as_ref()))
    });
    index.set_manifests(manifests);
    let index_bytes = index_json(&index).map_err(|source| OciError::Json {
        path: work.join("index.json"),
        source,
    })?;
    write_file_atomic(&work.join("oci-layout"), OCI_LAYOUT_FILE.as_bytes())?;
    write_file_atomic(&work.join("index.json"), &index_bytes)?;

    if let Some(staging) = staging {
        if exists {
            fs::remove_dir(dir).map_err(io_err("replace empty directory", dir))?;
        }
        // On failure the staging directory is dropped, and removed, with the error.
        fs::rename(staging.path(), dir).map_err(io_err("rename layout into", dir))?;
        let _moved = staging.keep();
    }
    Ok(manifest_digest)
}

#[cfg(unix)]
fn set_dir_mode(dir: &Path) -> Result<(), OciError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
        .map_err(io_err("set permissions of", dir))
}

#[cfg(not(unix))]
fn set_dir_mode(_dir: &Path) -> Result<(), OciError> {
    Ok(())
}

#[cfg(unix)]
fn set_file_mode(file: &fs::File, path: &Path) -> Result<(), OciError> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(io_err("set permissions of", path))
}

#[cfg(not(unix))]
fn set_file_mode(_file: &fs::File, _path: &Path) -> Result<(), OciError> {
    Ok(())
}

impl crate::hint::Hint for OciError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Io { .. }
            | Self::NotALayout { .. }
            | Self::Json { .. }
            | Self::TagNotFound { .. }
            | Self::Ambiguous { .. }
            | Self::NoAmd64 { .. }
            | Self::Corrupt { .. }
            | Self::MediaType(..)
            | Self::OutputNotLayout { .. }
            | Self::Digest(..) => Vec::new(),
        }
    }
}
