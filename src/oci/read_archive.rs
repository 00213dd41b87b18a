//! docker-archive input: the tarball [`write_docker_archive`](super::write_docker_archive)
//! writes (as current Docker saves it: an OCI layout inside a tar), unpacked and read
//! as a layout.

use std::path::Path;

use super::{LayoutImage, OciError, select_image};

/// The image of a docker-archive, unpacked into a temp directory that lives as long
/// as this value (the image's blobs are read from there).
#[derive(Debug)]
pub(crate) struct ArchiveImage {
    pub image: LayoutImage,
    pub unpacked: tempfile::TempDir,
}

/// Unpacks a docker-archive (as airlock and current Docker write it: an OCI layout
/// inside a tar) into a temp directory, refusing entries that would escape it.
fn unpack_archive(file: &Path) -> Result<tempfile::TempDir, OciError> {
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| OciError::Io {
            action,
            path,
            source,
        }
    };
    let dir = tempfile::tempdir().map_err(io("create temp directory for", file))?;
    let input = std::fs::File::open(file).map_err(io("open", file))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(input));
    for entry in archive.entries().map_err(io("read", file))? {
        let mut entry = entry.map_err(io("read", file))?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            continue;
        }
        // `unpack_in` refuses `..` and absolute paths.
        entry.unpack_in(dir.path()).map_err(io("unpack", file))?;
    }
    if !dir.path().join("index.json").is_file() {
        return Err(OciError::NotALayout {
            path: file.to_path_buf(),
        });
    }
    Ok(dir)
}

/// Reads the image tagged `reference` in the docker-archive `file`, or its only
/// image when no image carries that tag (or none is given).
pub(crate) fn read_docker_archive(
    file: &Path,
    reference: Option<&str>,
) -> Result<ArchiveImage, OciError> {
    let unpacked = unpack_archive(file)?;
    let dir = unpacked.path();
    let tag = reference.unwrap_or_default();
    let image = select_image(dir, Some(tag)).or_else(|err| match err {
        OciError::TagNotFound { .. } => select_image(dir, None),
        other => Err(other),
    })?;
    Ok(ArchiveImage { image, unpacked })
}
