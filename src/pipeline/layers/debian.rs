//! The Debian layer: the locked `.deb`s installed into one tree (`debian.rs` makes it).

use super::{Below, LayerStep, StoredLayer};
use crate::digest::Digest;
use crate::image::BaseFacts;
use crate::lock::Lockfile;
use crate::pipeline::BuildError;
use crate::pipeline::DebianError;
use crate::pipeline::SkippedScript;
use crate::pipeline::debian::{
    debian_layer, fetch_debs, keep_skipped, kept_skipped, layer_key, locked_deb_requests,
};
use crate::pipeline::options::Reporter;
use crate::store::Store;

/// The layer of the `.deb`s the lock pins.
pub(in crate::pipeline) struct DebianStep<'a> {
    pub lock: &'a Lockfile,
    pub facts: &'a BaseFacts,
    /// `[debian] fallback-urls`: where else to look for a `.deb`.
    pub fallback_urls: &'a [String],
    pub offline: bool,
    pub mtime: u64,
    pub compression: crate::layer::Compression,
    /// Where the `.deb` downloads run.
    pub runtime: &'a tokio::runtime::Handle,
    /// The downloads started while the base was read.
    pub prefetch: &'a crate::pipeline::prefetch::Prefetch,
}

impl DebianStep<'_> {
    /// Waits for the `.deb` downloads started while the base was read, if any.
    fn downloaded_ahead(&self) -> Result<(), BuildError> {
        let requests = locked_deb_requests(self.lock, self.fallback_urls);
        Ok(self.prefetch.debs(&requests).map_err(DebianError::from)?)
    }
}

impl LayerStep for DebianStep<'_> {
    fn kind(&self) -> &'static str {
        "debian"
    }

    fn created_by(&self) -> String {
        let names: Vec<&str> = self.lock.debs.iter().map(|d| d.name.as_str()).collect();
        format!(
            "RUN apt-get install --no-install-recommends {} # airlock: Debian layer",
            names.join(" ")
        )
    }

    fn key(
        &self,
        _below: &Below<'_>,
        reporter: &dyn Reporter,
    ) -> Result<Option<Digest>, BuildError> {
        if self.lock.debian.is_none() || self.lock.debs.is_empty() {
            return Ok(None);
        }
        reporter.step("installing Debian packages");
        Ok(Some(layer_key(
            self.lock,
            self.facts,
            self.mtime,
            self.compression,
        )))
    }

    fn key_above(&self, _key: &Digest) -> Digest {
        // Without the compression: the keys above (and the lock's pins) are the same
        // for gzip and zstd builds.
        layer_key(
            self.lock,
            self.facts,
            self.mtime,
            crate::layer::Compression::Gzip,
        )
    }

    fn produce(
        &self,
        key: &Digest,
        _below: &Below<'_>,
        store: &Store,
        reporter: &dyn Reporter,
    ) -> Result<StoredLayer, BuildError> {
        self.downloaded_ahead()?;
        let layer = debian_layer(
            store,
            self.lock,
            self.facts,
            self.fallback_urls,
            self.offline,
            (self.mtime, self.compression),
            self.runtime,
            reporter.transfers(),
        )?;
        keep_skipped(store, key, &layer.skipped)?;
        if let Some(note) = &layer.segments {
            // What `cache gc` keeps with this layer: its runs and the `.deb`s' notes.
            let bytes = serde_json::to_vec(note).unwrap_or_default();
            store.put_layer_note(key, crate::store::SEGMENTS_NOTE, &bytes)?;
        }
        Ok(StoredLayer {
            record: layer.record,
            reused: layer.reused,
            skipped_scripts: layer.skipped,
        })
    }

    fn fetch_inputs(&self, store: &Store, reporter: &dyn Reporter) -> Result<(), BuildError> {
        if self.lock.debs.is_empty() {
            return Ok(());
        }
        reporter.step("downloading Debian packages");
        self.downloaded_ahead()?;
        fetch_debs(
            store,
            self.lock,
            self.fallback_urls,
            self.offline,
            self.runtime,
            reporter.transfers(),
        )?;
        Ok(())
    }

    /// The Debian layer is whole with its note of skipped maintainer scripts.
    fn skipped_scripts(&self, store: &Store, key: &Digest) -> Option<Vec<SkippedScript>> {
        kept_skipped(store, key)
    }

    fn keep_skipped_scripts(
        &self,
        store: &Store,
        key: &Digest,
        skipped: &[SkippedScript],
    ) -> Result<(), BuildError> {
        Ok(keep_skipped(store, key, skipped)?)
    }
}
