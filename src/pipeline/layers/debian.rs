//! The Debian layer: the locked `.deb`s installed into one tree (`debian.rs` makes it).

use super::{LayerStep, Realised};
use crate::image::BaseFacts;
use crate::lock::Lockfile;
use crate::pipeline::BuildError;
use crate::pipeline::debian::debian_layer;
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

    fn realise(
        &self,
        store: &Store,
        reporter: &dyn Reporter,
    ) -> Result<Option<Realised>, BuildError> {
        if !self.lock.debs.is_empty() {
            reporter.step("installing Debian packages");
        }
        let layer = debian_layer(
            store,
            self.lock,
            self.facts,
            self.fallback_urls,
            self.offline,
            self.mtime,
        )?;
        Ok(layer.map(|layer| Realised {
            record: layer.record,
            reused: layer.reused,
            skipped_scripts: layer.skipped,
        }))
    }
}
