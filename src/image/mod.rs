//! Images: the base an image starts from, the facts read from its layers, and the
//! config and manifest airlock writes on top of it.
//!
//! Facts are read from the base's own bytes, never assumed. This module does not
//! know where a base came from (layout or registry) beyond the `BaseImage` it is given.

mod base;
mod config;
mod facts;
mod onbuild;
mod scratch;
mod users;

pub use base::{
    BaseImage, BaseLayer, base_from_store, load_base_from_layout, load_pinned_base_from_layout,
    string_list,
};
pub use config::{ConfigInputs, HistoryEntry, assemble_config, build_manifest, rfc3339};
pub use facts::{BaseFacts, DirMeta, open_layer, read_facts};
pub use onbuild::{OnBuildPlan, OnBuildStep, airflow_pin, plan_onbuild};
pub use scratch::{SCRATCH, scratch_base};
pub use users::{Accounts, resolve_owner};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Oci(#[from] crate::oci::OciError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("Invalid image config `{digest}`: {reason}")]
    Config {
        digest: crate::digest::Digest,
        reason: String,
    },
    #[error("The base image is {found}, but airlock builds linux/amd64 images only")]
    Platform { found: String },
    #[error("Cannot read base layer `{digest}`")]
    Layer {
        digest: crate::digest::Digest,
        #[source]
        source: std::io::Error,
    },
    /// One entry of a base layer breaks a rule (worded as the tier-2 unpack words it).
    #[error("Layer `{digest}`: cannot unpack `{path}`: {rule}")]
    LayerEntry {
        digest: crate::digest::Digest,
        path: String,
        rule: &'static str,
    },
    #[error("Base layer `{digest}` has media type `{media_type}`, which airlock cannot read yet")]
    LayerMediaType {
        digest: crate::digest::Digest,
        media_type: String,
    },
    #[error(
        "The store has no copy of `{digest}` of the base `{reference}`; run without `--offline` to pull it"
    )]
    NotInStore {
        reference: String,
        digest: crate::digest::Digest,
    },
    #[error("Unknown ONBUILD trigger `{trigger}` in the base image")]
    UnknownTrigger { trigger: String },
    #[error("The base image has no user or group `{name}` (looked in its `/etc/{file}`)")]
    UnknownAccount { name: String, file: &'static str },
    #[error("Cannot write image JSON")]
    Json(#[source] serde_json::Error),
}

impl crate::hint::Hint for ImageError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Oci(error) => error.hints(),
            Self::Store(error) => error.hints(),
            Self::Config { .. }
            | Self::Platform { .. }
            | Self::Layer { .. }
            | Self::LayerEntry { .. }
            | Self::LayerMediaType { .. }
            | Self::NotInStore { .. }
            | Self::UnknownTrigger { .. }
            | Self::UnknownAccount { .. }
            | Self::Json(..) => Vec::new(),
        }
    }
}
