//! One build, start to finish: each stage turns one typed value into the next.

use serde::Serialize;

use super::assemble::assemble;
use super::cache::{LayerCache, LayerSource};
use super::load::load;
use super::options::{BuildOptions, Reporter};
use super::pin::{DebianPins, pin};
use super::plan::plan;
use super::prefetch::Ahead;
use super::realise::realise;
use super::{BuildError, PushSummary, SkippedScript, outputs};
use crate::digest::Digest;

/// Builds the project and writes the image to its outputs.
pub(crate) fn build(
    options: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<BuildResult, BuildError> {
    match build_once(options, reporter)? {
        Pass::Built(result) => Ok(*result),
        // A step pinned as its layer was made (a `RUN`, an `ADD <URL>`) changed the
        // lock, which the image carries: planned again from the lock now written,
        // every layer but the project's comes from the store (the steps' keys leave
        // the lock out) and the second pass pins nothing new.
        Pass::Replan(first) => {
            reporter.step("planning the image again with the steps' new pins");
            build_again(options, &first, reporter)
        }
    }
}

/// The second pass of [`build`], from the lock the first one wrote; a layer the
/// first pass made (or fetched) says so, not that the second found it stored.
fn build_again(
    options: &BuildOptions,
    first: &[LayerSummary],
    reporter: &dyn Reporter,
) -> Result<BuildResult, BuildError> {
    match build_once(options, reporter)? {
        Pass::Built(mut result) => {
            for layer in &mut result.layers {
                if let Some(earlier) = first.iter().find(|l| l.digest == layer.digest) {
                    layer.reused = earlier.reused;
                    layer.source = earlier.source;
                }
            }
            result.lock_updated = true;
            Ok(*result)
        }
        Pass::Replan(_) => Err(BuildError::StepPinsUnsettled),
    }
}

/// One pass of [`build`]: the image written, or none because the steps' pins moved
/// the lock it was planned from (with the layers this pass realised).
enum Pass {
    Built(Box<BuildResult>),
    Replan(Vec<LayerSummary>),
}

fn build_once(options: &BuildOptions, reporter: &dyn Reporter) -> Result<Pass, BuildError> {
    // The project, the store, `airlock.lock` as it is, the base image and its facts.
    let (session, wanted) = load(options, Ahead::Downloads, reporter)?;
    // The lock this build wants: the Debian and Python pins, kept or resolved.
    let pinned = pin(session, wanted, options, DebianPins::Kept, reporter)?;
    // Every new layer as a step (Debian · Python · project · DAGs), the config's inputs.
    let plan = plan(&pinned, options)?;
    // Each layer from the store, the registry cache, or made into the store;
    // `airlock.lock` written on the way.
    let session = &pinned.session;
    let cache = LayerCache::new(&options.cache, &session.remote, &session.runtime, reporter);
    let realised = realise(&plan, &cache, reporter)?;
    if realised.replan {
        return Ok(Pass::Replan(realised.summaries(&session.base)));
    }
    // The config and manifest over the base's layers and the new ones.
    let image = assemble(plan, &realised)?;
    // The local output (the project's `.airlock/oci` by default), then `--push`
    // (mounting the layers a cache repository of the same registry holds).
    let blob_mounts = cache.blob_mounts();
    let outputs = outputs::requested(
        options,
        &session.project.root,
        &session.store,
        &session.remote,
        &session.runtime,
        &blob_mounts,
    );
    let (output, push) = outputs::write_all(&outputs, &image, reporter)?;
    let base = &session.base;
    Ok(Pass::Built(Box::new(BuildResult {
        manifest_digest: image.manifest_digest,
        config_digest: image.config_digest,
        base: base.reference.clone(),
        base_manifest_digest: base.manifest_digest.clone(),
        layers: realised.summaries(base),
        output,
        lock_updated: realised.lock_updated,
        push,
        skipped_scripts: realised.skipped_scripts,
    })))
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct LayerSummary {
    /// `base`, `debian`, `python`, `project` or `dags`.
    pub kind: String,
    pub digest: Digest,
    pub diff_id: Option<Digest>,
    pub size: u64,
    /// True when nothing was built: the store had this layer, or the registry
    /// cache did.
    pub reused: bool,
    /// `base`, `built`, `store` or `cached-from-registry`.
    pub source: LayerSource,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct BuildResult {
    pub manifest_digest: Digest,
    pub config_digest: Digest,
    pub base: String,
    pub base_manifest_digest: Digest,
    pub layers: Vec<LayerSummary>,
    pub output: String,
    pub lock_updated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push: Option<PushSummary>,
    /// Debian maintainer scripts that did work airlock did not do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_scripts: Vec<SkippedScript>,
}
