//! Software bills of materials and provenance for an image airlock built.
//!
//! The SBOM is a function of the image: its packages are read from the image's own
//! dpkg database and `*.dist-info` directories (what the running image has, no
//! more, no fewer), attributed to the layer that installed them, and the hashes of
//! what airlock fetched come from the lock the image carries in its project layer
//! (checked against the config's `airlock.lock.sha256` label). `airlock build
//! --sbom` and `airlock sbom IMAGE` run the same code on the same image, so they
//! print the same bytes; the project's git commit is added when the project
//! directory is given.
//!
//! - [`image`]: reading an image's layers for the files that name packages
//! - [`model`]: the packages, gathered and sorted
//! - [`purl`]: package URLs
//! - [`spdx`], [`cyclonedx`]: the two writers
//! - [`provenance`]: the in-toto / SLSA v1 statement

pub(crate) mod cyclonedx;
mod error;
pub(crate) mod image;
pub(crate) mod model;
pub(crate) mod provenance;
pub(crate) mod purl;
pub(crate) mod spdx;

pub(crate) use error::SbomError;
pub(crate) use image::ImageInput;
pub(crate) use model::{ProjectInfo, Sbom, gather};

/// JSON with sorted keys and a two-space indent, newline-terminated.
pub(crate) fn canonical(value: &serde_json::Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(&sort(value.clone())).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn sort(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let sorted: std::collections::BTreeMap<String, Value> =
                map.into_iter().map(|(k, v)| (k, sort(v))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort).collect()),
        other => other,
    }
}

/// The SBOM formats airlock writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Format {
    Spdx,
    CycloneDx,
}

impl Format {
    /// The file name suffix written beside a build's output.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Format::Spdx => "spdx.json",
            Format::CycloneDx => "cdx.json",
        }
    }

    /// The media type, also the artifact type when attached to an image.
    pub(crate) fn media_type(self) -> &'static str {
        match self {
            Format::Spdx => "application/spdx+json",
            Format::CycloneDx => "application/vnd.cyclonedx+json",
        }
    }

    pub(crate) fn write(self, sbom: &Sbom) -> Vec<u8> {
        match self {
            Format::Spdx => spdx::write(sbom),
            Format::CycloneDx => cyclonedx::write(sbom),
        }
    }
}
