//! `airlock sbom`, and the SBOM and provenance files `airlock build` writes beside
//! its output.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio::runtime::Handle;

use super::args::{GlobalArgs, SbomArgs, SbomChoice};
use super::settings::Resolved;
use crate::image::pull_base;
use crate::pipeline::{BuildResult, OutputSpec, read_image};
use crate::registry::{RemoteOptions, attach_documents};
use crate::sbom::{Format, ImageInput, ProjectInfo, Sbom, gather};
use crate::store::Store;

/// The formats a choice names.
pub(super) fn formats(choice: SbomChoice) -> Vec<Format> {
    match choice {
        SbomChoice::Spdx => vec![Format::Spdx],
        SbomChoice::Cyclonedx => vec![Format::CycloneDx],
        SbomChoice::Both => vec![Format::Spdx, Format::CycloneDx],
    }
}

/// The project's name (its directory's), git commit and remote.
pub(super) fn project_info(dir: &Path) -> ProjectInfo {
    let absolute = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let name = absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "project".to_string());
    let git = crate::deploy::GitInfo::read(dir);
    ProjectInfo {
        name,
        commit: git.as_ref().map(|g| g.commit.clone()),
        remote: git.and_then(|g| g.remote),
    }
}

/// An image named on the command line: `oci:DIR[:TAG]`, `docker-archive:FILE[:REF]`
/// or a registry reference (pulled into the store on `runtime`). The second value
/// keeps an unpacked archive alive.
pub(super) fn load_image(
    settings: &Resolved,
    text: &str,
    runtime: &Handle,
) -> anyhow::Result<(ImageInput, Option<crate::pipeline::LocalImage>)> {
    load_image_with(settings, &settings.remote(false), runtime, text)
}

/// [`load_image`], a registry reference pulled with `remote`.
pub(super) fn load_image_with(
    settings: &Resolved,
    remote: &RemoteOptions,
    runtime: &Handle,
    text: &str,
) -> anyhow::Result<(ImageInput, Option<crate::pipeline::LocalImage>)> {
    if text.starts_with("oci:") || text.starts_with("docker-archive:") {
        let spec = OutputSpec::parse(text)?;
        let local = read_image(&spec).with_context(|| format!("Cannot read the image `{text}`"))?;
        let input = ImageInput::from_blobs(local.manifest.clone(), &local.blobs)?;
        return Ok((input, Some(local)));
    }
    let store = Store::open(&settings.store_dir)?;
    let (image, _) = pull_base(&store, remote, runtime, text, None)
        .with_context(|| format!("Cannot pull `{text}`"))?;
    let input = ImageInput::from_store(&store, &image.manifest_digest)?;
    Ok((input, None))
}

/// The model of `image`, with the project's git facts when `project_dir` is given.
pub(super) fn model(image: &ImageInput, project_dir: Option<&Path>) -> anyhow::Result<Sbom> {
    let lock_text =
        project_dir.and_then(|d| std::fs::read_to_string(d.join(crate::lock::LOCK_FILE)).ok());
    gather(image, lock_text.as_deref(), project_dir.map(project_info))
        .context("Cannot read the image's packages")
}

pub(super) fn run(global: &GlobalArgs, args: &SbomArgs, runtime: &Handle) -> anyhow::Result<()> {
    let settings = Resolved::global(global);
    let format = match args.format {
        SbomChoice::Spdx => Format::Spdx,
        SbomChoice::Cyclonedx => Format::CycloneDx,
        SbomChoice::Both => {
            anyhow::bail!("`airlock sbom` prints one format: `spdx` or `cyclonedx`")
        }
    };
    let (image, _keep) = load_image(&settings, &args.image, runtime)?;
    let sbom = model(&image, args.project_dir.as_deref())?;
    std::io::stdout()
        .write_all(&format.write(&sbom))
        .context("Cannot write to standard output")?;
    Ok(())
}

/// A documents a build produces besides its image: SBOMs and provenance.
pub(super) struct SideDocument {
    pub media_type: &'static str,
    pub bytes: Vec<u8>,
    pub path: PathBuf,
}

/// Makes the SBOMs (and the provenance) of a build's image and writes each beside
/// the output as `OUTPUT.spdx.json`, `OUTPUT.cdx.json`, `OUTPUT.intoto.json`.
pub(super) fn write_beside(
    settings: &Resolved,
    result: &BuildResult,
    output: &Path,
    project_dir: &Path,
    sboms: &[Format],
    provenance: Option<&crate::sbom::provenance::Parameters>,
) -> anyhow::Result<Vec<SideDocument>> {
    if sboms.is_empty() && provenance.is_none() {
        return Ok(Vec::new());
    }
    let store = Store::open(&settings.store_dir)?;
    let image = ImageInput::from_store(&store, &result.manifest_digest)?;
    let sbom = model(&image, Some(project_dir))?;
    let beside = |suffix: &str| PathBuf::from(format!("{}.{suffix}", output.display()));
    let mut documents: Vec<SideDocument> = sboms
        .iter()
        .map(|f| SideDocument {
            media_type: f.media_type(),
            bytes: f.write(&sbom),
            path: beside(f.suffix()),
        })
        .collect();
    if let Some(parameters) = provenance {
        documents.push(SideDocument {
            media_type: crate::sbom::provenance::MEDIA_TYPE,
            bytes: crate::sbom::provenance::write(&sbom, parameters),
            path: beside("intoto.json"),
        });
    }
    for doc in &documents {
        crate::atomic_file::write(&doc.path, &doc.bytes)
            .with_context(|| format!("Cannot write `{}`", doc.path.display()))?;
    }
    Ok(documents)
}

/// The documents written beside `output` by an earlier `build --sbom/--provenance`
/// that describe the image `digest` (they name it).
pub(super) fn documents_beside(output: &Path, digest: &crate::digest::Digest) -> Vec<SideDocument> {
    let kinds = [
        (Format::Spdx.suffix(), Format::Spdx.media_type()),
        (Format::CycloneDx.suffix(), Format::CycloneDx.media_type()),
        ("intoto.json", crate::sbom::provenance::MEDIA_TYPE),
    ];
    let needle = digest.hex().to_string();
    kinds
        .iter()
        .filter_map(|(suffix, media_type)| {
            let path = PathBuf::from(format!("{}.{suffix}", output.display()));
            let bytes = std::fs::read(&path).ok()?;
            String::from_utf8_lossy(&bytes)
                .contains(&needle)
                .then_some(SideDocument {
                    media_type,
                    bytes,
                    path,
                })
        })
        .collect()
}

/// Pushes each document as an OCI artifact whose subject is the image `digest`
/// (`manifest`) just pushed to `reference`, listed under the referrers tag `sha256-<hex>`.
pub(super) fn attach(
    settings: &Resolved,
    remote: &RemoteOptions,
    runtime: &Handle,
    reference: &str,
    manifest: &[u8],
    documents: &[SideDocument],
) -> anyhow::Result<Vec<crate::oci::Descriptor>> {
    if documents.is_empty() {
        return Ok(Vec::new());
    }
    let store = Store::open(&settings.store_dir)?;
    let reference = remote.parse_reference(reference)?;
    let client = remote.client(&format!("the artifacts of `{reference}`"))?;
    let mut attached = Vec::new();
    for doc in documents {
        let descriptors = runtime
            .block_on(attach_documents(
                &client,
                &store,
                reference.repository(),
                manifest,
                &[(doc.media_type, doc.bytes.as_slice())],
            ))
            .with_context(|| format!("Cannot attach `{}` to `{reference}`", doc.path.display()))?;
        attached.extend(descriptors);
    }
    Ok(attached)
}

/// The artifacts attached to the image `digest` in `reference`'s repository.
pub(super) fn list_attached(
    remote: &RemoteOptions,
    runtime: &Handle,
    reference: &str,
    digest: &crate::digest::Digest,
) -> anyhow::Result<Vec<crate::oci::Descriptor>> {
    let reference = remote.parse_reference(reference)?;
    let client = remote.client(&format!("the artifacts of `{reference}`"))?;
    Ok(runtime.block_on(client.referrers(reference.repository(), digest))?)
}
