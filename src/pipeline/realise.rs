//! The realise stage: each planned layer from the store, or made and stored, in
//! image order. The layers the lock pins (Debian, Python) are made before the lock
//! is written, so a download or hash that fails leaves `airlock.lock` untouched; the
//! lock is written before the project is read, as it is one of the project's files.

use super::BuildError;
use super::SkippedScript;
use super::options::Reporter;
use super::plan::Plan;
use super::run::LayerSummary;
use crate::image::BaseImage;
use crate::store::LayerRecord;

/// The new layers, in the store.
pub(super) struct Realised {
    pub layers: Vec<NewLayer>,
    /// Whether `airlock.lock` was written.
    pub lock_updated: bool,
    /// Debian maintainer scripts that did work airlock did not do.
    pub skipped_scripts: Vec<SkippedScript>,
}

/// One new layer of the image.
pub(super) struct NewLayer {
    pub kind: &'static str,
    pub created_by: String,
    pub record: LayerRecord,
    pub reused: bool,
}

/// Realises `plan`'s layers, writing the lock on the way (see the module's note).
pub(super) fn realise(plan: &Plan<'_>, reporter: &dyn Reporter) -> Result<Realised, BuildError> {
    let store = &plan.pinned.session.store;
    let mut layers = Vec::new();
    let mut skipped_scripts = Vec::new();
    let mut lock_updated = None;
    for step in &plan.layers {
        if step.reads_project() && lock_updated.is_none() {
            lock_updated = Some(plan.pinned.write_lock()?);
        }
        if let Some(layer) = step.realise(store, reporter)? {
            skipped_scripts.extend(layer.skipped_scripts);
            layers.push(NewLayer {
                kind: step.kind(),
                created_by: step.created_by(),
                record: layer.record,
                reused: layer.reused,
            });
        }
    }
    let lock_updated = match lock_updated {
        Some(updated) => updated,
        None => plan.pinned.write_lock()?,
    };
    Ok(Realised {
        layers,
        lock_updated,
        skipped_scripts,
    })
}

impl Realised {
    /// Every layer of the image as the build result lists it, the base's first.
    pub fn summaries(&self, base: &BaseImage) -> Vec<LayerSummary> {
        let base_layers = base.layers.iter().map(|l| LayerSummary {
            kind: "base".into(),
            digest: l.digest.clone(),
            diff_id: None,
            size: l.descriptor.size(),
            reused: true,
        });
        let new_layers = self.layers.iter().map(|l| LayerSummary {
            kind: l.kind.to_string(),
            digest: l.record.digest.clone(),
            diff_id: Some(l.record.diff_id.clone()),
            size: l.record.size,
            reused: l.reused,
        });
        base_layers.chain(new_layers).collect()
    }
}
