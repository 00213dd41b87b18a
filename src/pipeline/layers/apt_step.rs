//! A `RUN apt-get update && apt-get install --no-install-recommends …` carried out
//! natively: the `.deb`s its `[[steps]]` entry pins, unpacked like the Debian layer's
//! over the dpkg status of the layers below it (the topmost one that has
//! `var/lib/dpkg/status`, else the base's).

use std::path::PathBuf;

use sha2::{Digest as _, Sha256};

use super::{AboveKeys, Below, LayerStep, StoredLayer};
use crate::digest::Digest;
use crate::image::BaseFacts;
use crate::lock::{LockedDeb, LockedSource};
use crate::pipeline::BuildError;
use crate::pipeline::SkippedScript;
use crate::pipeline::debian::{DebFetch, DebianError, debs_layer, keep_skipped, kept_skipped};
use crate::pipeline::idioms::files_in_layers;
use crate::pipeline::options::Reporter;
use crate::store::Store;

/// Bumped when the bytes made for the same pins change on purpose.
const APT_STEP_FORMAT: u32 = 1;

const STATUS: &str = "var/lib/dpkg/status";

/// A native `apt-get install` step.
pub(in crate::pipeline) struct AptStep<'a> {
    pub created_by: String,
    /// The packages the step's lock entry pins, in installation order.
    pub debs: Vec<LockedDeb>,
    /// The lock's `[debian]` sources the pins point into.
    pub sources: Vec<LockedSource>,
    pub facts: &'a BaseFacts,
    pub fallback_urls: &'a [String],
    pub offline: bool,
    pub mtime: u64,
    pub compression: crate::layer::Compression,
    /// The keys given, each with the key without the compression.
    pub keys: AboveKeys,
    pub runtime: &'a tokio::runtime::Handle,
}

impl LayerStep for AptStep<'_> {
    fn kind(&self) -> &'static str {
        "apt"
    }

    fn created_by(&self) -> String {
        self.created_by.clone()
    }

    fn key(
        &self,
        below: &Below<'_>,
        reporter: &dyn Reporter,
    ) -> Result<Option<Digest>, BuildError> {
        if self.debs.is_empty() {
            return Ok(None);
        }
        reporter.step("installing Debian packages");
        let mut h = Sha256::new();
        h.update(format!(
            "airlock-apt-step\0v{APT_STEP_FORMAT}\0layer-v{}\0{}\0{}\0",
            crate::layer::FORMAT_VERSION,
            self.mtime,
            below.base.manifest_digest
        ));
        for deb in &self.debs {
            h.update(format!("{}\0{}\0", deb.name, deb.sha256));
        }
        // The dpkg status below is a function of the base and the keys below.
        for key in below.keys {
            h.update(format!("below\0{key}\0"));
        }
        let above = Digest::from_sha256(h.finalize().into());
        Ok(Some(self.keys.key(above, self.compression)))
    }

    fn key_above(&self, key: &Digest) -> Digest {
        self.keys.above(key)
    }

    fn produce(
        &self,
        key: &Digest,
        below: &Below<'_>,
        store: &Store,
        reporter: &dyn Reporter,
    ) -> Result<StoredLayer, BuildError> {
        let status = status_below(below, store, self.facts)?;
        let fetch = DebFetch {
            fallback_urls: self.fallback_urls,
            offline: self.offline,
            runtime: self.runtime,
            progress: reporter.transfers(),
        };
        let layer = debs_layer(
            store,
            (&self.debs, &self.sources),
            &status,
            self.facts,
            &fetch,
            (self.mtime, self.compression),
            "apt",
        )?;
        keep_skipped(store, key, &layer.skipped)?;
        Ok(StoredLayer {
            record: layer.record,
            reused: layer.reused,
            skipped_scripts: layer.skipped,
        })
    }

    fn skipped_scripts(&self, store: &Store, key: &Digest) -> Option<Vec<SkippedScript>> {
        kept_skipped(store, key)
    }
}

/// The dpkg status as the layers below leave it.
fn status_below(
    below: &Below<'_>,
    store: &Store,
    facts: &BaseFacts,
) -> Result<String, DebianError> {
    // The base's is in its facts; only the new layers are read.
    let blobs: Vec<PathBuf> = below
        .layers
        .iter()
        .map(|l| store.blob_path(&l.digest))
        .collect();
    let files = files_in_layers(&blobs, &|path| path == STATUS, 64 << 20).map_err(|source| {
        DebianError::OpenDeb {
            filename: STATUS.to_string(),
            source,
        }
    })?;
    Ok(match files.get(STATUS) {
        Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        None => facts.files.get(STATUS).cloned().unwrap_or_default(),
    })
}
