//! The realise stage: each planned layer from the store by its derivation key, or
//! produced and stored under it, in image order (the one lookup every kind of layer
//! goes through). The layers the lock pins (Debian, Python) are made before the lock
//! is written, so a download or hash that fails leaves `airlock.lock` untouched; the
//! lock is written before the project is read, as it is one of the project's files.

use super::BuildError;
use super::SkippedScript;
use super::cache::{LayerCache, LayerSource};
use super::layers::{Below, LayerStep, StoredLayer, changes_nothing};
use super::options::Reporter;
use super::plan::Plan;
use super::run::LayerSummary;
use crate::digest::Digest;
use crate::image::BaseImage;
use crate::store::{LayerRecord, Store};

/// The new layers, in the store.
pub(super) struct Realised {
    pub layers: Vec<NewLayer>,
    /// Whether `airlock.lock` was written.
    pub lock_updated: bool,
    /// Whether the steps' pins made as their layers were changed the lock the plan
    /// was made from: the image must be planned again (`run.rs`).
    pub replan: bool,
    /// Debian maintainer scripts that did work airlock did not do.
    pub skipped_scripts: Vec<SkippedScript>,
}

/// One new layer of the image.
pub(super) struct NewLayer {
    /// The index of its step in the plan.
    pub step: usize,
    pub kind: &'static str,
    pub created_by: String,
    pub record: LayerRecord,
    pub reused: bool,
    pub source: LayerSource,
}

/// Realises `plan`'s layers, writing the lock on the way (see the module's note).
pub(super) fn realise(
    plan: &Plan<'_>,
    cache: &LayerCache,
    reporter: &dyn Reporter,
) -> Result<Realised, BuildError> {
    let store = &plan.pinned.session.store;
    let mut layers = Vec::new();
    let mut skipped_scripts = Vec::new();
    let mut lock_updated = None;
    let base = &plan.pinned.session.base;
    let (mut keys, mut records) = (Vec::new(), Vec::new());
    for (index, step) in plan.layers.iter().enumerate() {
        if step.reads_project() && lock_updated.is_none() {
            lock_updated = Some(plan.pinned.write_lock()?);
        }
        let below = Below {
            base,
            keys: &keys,
            layers: &records,
        };
        if let Some((key, layer)) = realise_layer(step.as_ref(), &below, store, cache, reporter)? {
            keys.push(step.key_above(&key));
            if plan.dockerfile_steps.contains(&index) && changes_nothing(&layer.record) {
                // A `RUN` that changed nothing: no layer, as BuildKit gives none; its
                // key still reaches the steps above, its history line says
                // `empty_layer` (`assemble.rs`).
                continue;
            }
            records.push(layer.record.clone());
            let source = if cache.fetched(&layer.record.digest) {
                LayerSource::CachedFromRegistry
            } else if layer.reused {
                LayerSource::Store
            } else {
                LayerSource::Built
            };
            skipped_scripts.extend(layer.skipped_scripts);
            layers.push(NewLayer {
                step: index,
                kind: step.kind(),
                created_by: step.created_by(),
                record: layer.record,
                reused: layer.reused,
                source,
            });
        }
    }
    let lock_updated = match lock_updated {
        Some(updated) => updated,
        None => plan.pinned.write_lock()?,
    };
    // The Dockerfile steps' pins, known once their layers are: a build that pinned
    // a step writes the lock again (the project layer made above holds the lock as
    // it was before, so `run.rs` plans the image again; `airlock lock` pins the
    // steps first).
    let steps = plan.pinned.write_step_pins()?;
    Ok(Realised {
        layers,
        lock_updated: steps.written || lock_updated,
        replan: steps.moved,
        skipped_scripts,
    })
}

/// One step's layer: from the store when it holds the layer of the step's key, else
/// produced under the key's lock (looked up again once the lock is held, as another
/// build may have made it meanwhile), else from the registry cache, else produced,
/// and recorded under the key; then offered to the registry cache (`cache.rs`), and
/// the step hears of it (`LayerStep::realised`). `None` when the layer would be empty.
pub(super) fn realise_layer(
    step: &dyn LayerStep,
    below: &Below<'_>,
    store: &Store,
    cache: &LayerCache,
    reporter: &dyn Reporter,
) -> Result<Option<(Digest, StoredLayer)>, BuildError> {
    let Some(key) = step.key(below, reporter)? else {
        return Ok(None);
    };
    let layer = match stored(step, store, &key)? {
        Some(layer) => layer,
        None => {
            let _lock = store.lock(&format!("layer-{}", key.hex()))?;
            match stored(step, store, &key)? {
                Some(layer) => layer,
                None => {
                    let layer = match cache.fetch(step, store, &key, reporter) {
                        Some(layer) => layer,
                        None => step.produce(&key, below, store, reporter)?,
                    };
                    store.put_layer_record(&key, &layer.record)?;
                    tracing::debug!(kind = step.kind(), %key, digest = %layer.record.digest, "layer stored");
                    layer
                }
            }
        }
    };
    step.realised(&key, &layer.record, layer.reused)?;
    cache.offer(step, store, &key, &layer, reporter);
    Ok(Some((key, layer)))
}

/// The stored layer of `key`, when the store holds it whole (its record, its blob
/// and what the kind keeps beside it).
fn stored(
    step: &dyn LayerStep,
    store: &Store,
    key: &Digest,
) -> Result<Option<StoredLayer>, BuildError> {
    let Some(record) = store.layer_record(key)? else {
        return Ok(None);
    };
    Ok(step
        .skipped_scripts(store, key)
        .map(|skipped_scripts| StoredLayer {
            record,
            reused: true,
            skipped_scripts,
        }))
}

impl Realised {
    /// Every layer of the image as the build result lists it, the base's first.
    pub(super) fn summaries(&self, base: &BaseImage) -> Vec<LayerSummary> {
        let base_layers = base.layers.iter().map(|l| LayerSummary {
            kind: "base".into(),
            digest: l.digest.clone(),
            diff_id: None,
            size: l.descriptor.size(),
            reused: true,
            source: LayerSource::Base,
        });
        let new_layers = self.layers.iter().map(|l| LayerSummary {
            kind: l.kind.to_string(),
            digest: l.record.digest.clone(),
            diff_id: Some(l.record.diff_id.clone()),
            size: l.record.size,
            reused: l.reused,
            source: l.source,
        });
        base_layers.chain(new_layers).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::oci::GZIP_LAYER_MEDIA_TYPE as LAYER_MEDIA_TYPE;

    /// A kind of layer whose `produce` counts its calls and stores a small blob.
    struct CountingStep {
        key: Option<Digest>,
        /// Whether the store keeps the kind's note beside the record.
        note_kept: bool,
        produced: Cell<u32>,
    }

    impl CountingStep {
        fn new(key: Option<Digest>) -> Self {
            Self {
                key,
                note_kept: true,
                produced: Cell::new(0),
            }
        }
    }

    impl LayerStep for CountingStep {
        fn kind(&self) -> &'static str {
            "counting"
        }

        fn created_by(&self) -> String {
            "RUN count".into()
        }

        fn key(
            &self,
            _below: &Below<'_>,
            _reporter: &dyn Reporter,
        ) -> Result<Option<Digest>, BuildError> {
            Ok(self.key.clone())
        }

        fn produce(
            &self,
            _key: &Digest,
            _below: &Below<'_>,
            store: &Store,
            _reporter: &dyn Reporter,
        ) -> Result<StoredLayer, BuildError> {
            self.produced.set(self.produced.get() + 1);
            Ok(StoredLayer {
                record: record_in(store, b"produced layer"),
                reused: false,
                skipped_scripts: Vec::new(),
            })
        }

        fn skipped_scripts(&self, _store: &Store, _key: &Digest) -> Option<Vec<SkippedScript>> {
            self.note_kept.then(Vec::new)
        }
    }

    fn record_in(store: &Store, bytes: &[u8]) -> LayerRecord {
        LayerRecord {
            digest: store.put_bytes(bytes).expect("blob"),
            diff_id: Digest::of(bytes),
            size: bytes.len() as u64,
            media_type: LAYER_MEDIA_TYPE.to_string(),
        }
    }

    fn below(base: &BaseImage) -> Below<'_> {
        Below {
            base,
            keys: &[],
            layers: &[],
        }
    }

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("store")).expect("store");
        (dir, store)
    }

    #[test]
    fn realise_reuses_a_stored_layer_without_producing_it() {
        let (_dir, store) = temp_store();
        let base = crate::image::scratch_base(&store).expect("base");
        let key = Digest::of(b"a derivation key");
        let stored = record_in(&store, b"stored layer");
        store.put_layer_record(&key, &stored).expect("record");
        let step = CountingStep::new(Some(key));

        let layer = realise_layer(&step, &below(&base), &store, &LayerCache::none(), &())
            .expect("realised")
            .expect("a layer")
            .1;

        assert_eq!(
            step.produced.get(),
            0,
            "the stored layer was produced again"
        );
        assert!(layer.reused);
        assert_eq!(layer.record, stored);
    }

    #[test]
    fn realise_produces_a_layer_the_store_lacks_and_records_it_under_its_key() {
        let (_dir, store) = temp_store();
        let base = crate::image::scratch_base(&store).expect("base");
        let key = Digest::of(b"a derivation key");
        let step = CountingStep::new(Some(key.clone()));

        let first = realise_layer(&step, &below(&base), &store, &LayerCache::none(), &())
            .expect("realised");
        let first = first.expect("a layer").1;
        assert_eq!(step.produced.get(), 1);
        assert!(!first.reused);
        assert_eq!(
            store.layer_record(&key).expect("read"),
            Some(first.record.clone())
        );

        let again = realise_layer(&step, &below(&base), &store, &LayerCache::none(), &())
            .expect("realised");
        let again = again.expect("a layer").1;
        assert_eq!(step.produced.get(), 1, "a rebuild produced the layer again");
        assert!(again.reused);
        assert_eq!(again.record, first.record);
    }

    #[test]
    fn realise_produces_again_a_layer_whose_note_is_missing() {
        let (_dir, store) = temp_store();
        let base = crate::image::scratch_base(&store).expect("base");
        let key = Digest::of(b"a derivation key");
        store
            .put_layer_record(&key, &record_in(&store, b"stored layer"))
            .expect("record");
        let step = CountingStep {
            note_kept: false,
            ..CountingStep::new(Some(key))
        };

        let layer = realise_layer(&step, &below(&base), &store, &LayerCache::none(), &())
            .expect("realised");

        assert_eq!(step.produced.get(), 1);
        assert!(!layer.expect("a layer").1.reused);
    }

    #[test]
    fn realise_gives_no_layer_for_an_empty_one() {
        let (_dir, store) = temp_store();
        let base = crate::image::scratch_base(&store).expect("base");
        let step = CountingStep::new(None);

        let layer = realise_layer(&step, &below(&base), &store, &LayerCache::none(), &())
            .expect("realised");

        assert!(layer.is_none());
        assert_eq!(step.produced.get(), 0);
    }
}
