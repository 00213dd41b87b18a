//! docker-archive output: the tarball `docker load` and `podman load` accept.
//!
//! Written in the layout current Docker itself saves: an OCI layout plus the legacy
//! `manifest.json`, whose paths point into `blobs/`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::OciError;
use super::canonical::index_json;
use super::types::{
    DescriptorExt, ImageIndex, IndexExt, descriptor as new_descriptor, media_types,
};
use crate::digest::Digest;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct LegacyManifest<'a> {
    config: String,
    repo_tags: Vec<&'a str>,
    layers: Vec<String>,
}

fn blob_name(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

fn append_bytes<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, path, bytes)
}

fn append_dir<W: Write>(builder: &mut tar::Builder<W>, path: &str) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(0);
    header.set_mode(0o755);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Directory);
    builder.append_data(&mut header, path, io::empty())
}

/// Writes `file` as a docker-archive holding one image. `config` and `layers` give
/// each blob's digest and a file that holds it. The archive is written to a temp file
/// beside `file` and renamed into place when complete.
pub(crate) fn write_docker_archive(
    file: &Path,
    repo_tag: Option<&str>,
    config: &(Digest, PathBuf),
    layers: &[(Digest, PathBuf)],
    manifest: &[u8],
) -> Result<Digest, OciError> {
    let err = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| OciError::Io {
            action,
            path,
            source,
        }
    };
    let manifest_digest = Digest::of(manifest);
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(err("create directory", &parent))?;
    let temp =
        tempfile::NamedTempFile::new_in(&parent).map_err(err("create temp file in", &parent))?;
    let mut builder = tar::Builder::new(BufWriter::new(temp));
    builder.mode(tar::HeaderMode::Deterministic);

    let mut descriptor = new_descriptor(
        media_types::OCI_MANIFEST,
        manifest_digest.clone(),
        manifest.len() as u64,
    );
    if let Some(tag) = repo_tag {
        descriptor.annotate(media_types::REF_NAME, tag);
    }
    let mut index = ImageIndex::empty();
    index.set_manifests(vec![descriptor]);
    let index_bytes = index_json(&index).map_err(|source| OciError::Json {
        path: file.to_path_buf(),
        source,
    })?;
    let legacy = [LegacyManifest {
        config: blob_name(&config.0),
        repo_tags: repo_tag.into_iter().collect(),
        layers: layers.iter().map(|(d, _)| blob_name(d)).collect(),
    }];
    let legacy_bytes = serde_json::to_vec(&legacy).map_err(|source| OciError::Json {
        path: file.to_path_buf(),
        source,
    })?;

    let write = |builder: &mut tar::Builder<BufWriter<tempfile::NamedTempFile>>| -> io::Result<()> {
        append_dir(builder, "blobs/")?;
        append_dir(builder, "blobs/sha256/")?;
        let mut written = std::collections::BTreeSet::new();
        for (digest, path) in std::iter::once(config).chain(layers.iter()) {
            if !written.insert(digest.clone()) {
                continue;
            }
            let mut input = File::open(path)?;
            let size = input.metadata()?.len();
            let mut header = tar::Header::new_ustar();
            header.set_size(size);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, blob_name(digest), &mut input)?;
        }
        if written.insert(manifest_digest.clone()) {
            append_bytes(builder, &blob_name(&manifest_digest), manifest)?;
        }
        append_bytes(builder, "index.json", &index_bytes)?;
        append_bytes(builder, "manifest.json", &legacy_bytes)?;
        append_bytes(builder, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        Ok(())
    };
    write(&mut builder).map_err(err("write archive", file))?;
    let buffered = builder.into_inner().map_err(err("write archive", file))?;
    let temp = buffered.into_inner().map_err(|e| OciError::Io {
        action: "write archive",
        path: file.to_path_buf(),
        source: e.into_error(),
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(err("set permissions of", file))?;
    }
    temp.persist(file).map_err(|e| OciError::Io {
        action: "rename temp file to",
        path: file.to_path_buf(),
        source: e.error,
    })?;
    Ok(manifest_digest)
}
