//! Images: the base an image starts from, the facts read from its layers, and the
//! config and manifest airlock writes on top of it.
//!
//! A base is loaded from a local OCI layout or pulled from a registry (`load_base`),
//! and its facts are read from its own bytes, never assumed.

mod base;
mod config;
#[cfg(test)]
pub(crate) use config::rfc3339;
mod facts;
mod load;
mod name;
mod onbuild;
mod pull;
mod scratch;
mod users;

#[cfg(test)]
pub(crate) use base::BaseLayer;
pub use base::load_base_from_layout;
pub(crate) use base::{
    BaseImage, ImportFacts, base_from_layout, base_from_store, load_pinned_base_from_layout,
    string_list,
};
pub(crate) use config::{
    BASE_DIGEST_ANNOTATION, BASE_NAME_ANNOTATION, ConfigInputs, HistoryEntry, assemble_config,
    build_manifest,
};
pub(crate) use facts::{BaseFacts, open_layer, read_facts};
pub(crate) use load::{load_base, load_image};
pub(crate) use name::ImageName;
pub(crate) use onbuild::{OnBuildPlan, OnBuildStep, airflow_pin, plan_onbuild};
pub(crate) use pull::{BaseOrigin, pull_base};
pub(crate) use scratch::{SCRATCH, scratch_base};
pub(crate) use users::{Accounts, resolve_owner};

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
    #[error("Invalid image name `{0}` after `FROM`")]
    BadImageName(String),
    #[error(
        "airlock.lock pins the base `{reference}` at `{digest}`, but neither the store nor the layout `{}` holds that image any more",
        layout.display()
    )]
    PinnedBaseMissing {
        reference: String,
        digest: crate::digest::Digest,
        layout: std::path::PathBuf,
    },
    #[error(transparent)]
    Registry(Box<crate::registry::RegistryError>),
    #[error(transparent)]
    Reference(#[from] crate::registry::ReferenceError),
}

impl From<crate::registry::RegistryError> for ImageError {
    fn from(error: crate::registry::RegistryError) -> Self {
        Self::Registry(Box::new(error))
    }
}

/// What to do when a base's registry name has no registry in it.
pub const NO_REGISTRY_HINT: &str = "write the full name (`registry/repository:tag`), set `[registry] default` in airlock.toml, or map the name to a local OCI layout with `--base-layout DIR` or `[base.layouts]`";

impl crate::hint::Hint for ImageError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Oci(error) => error.hints(),
            Self::Store(error) => error.hints(),
            Self::Reference(crate::registry::ReferenceError::NoRegistry(_)) => {
                vec![NO_REGISTRY_HINT.into()]
            }
            Self::Reference(error) => error.hints(),
            Self::Registry(error) => error.hints(),
            Self::PinnedBaseMissing { .. } => vec![
                "take the image the layout's tag names now with `--upgrade-base` (`airlock lock --upgrade-base` or `airlock build --upgrade-base`), or restore the locked image in the layout".into(),
            ],
            Self::BadImageName(..)
            | Self::Config { .. }
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
