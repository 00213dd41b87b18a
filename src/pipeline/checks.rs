//! What the DAG checks take from the pipeline: the facts of the base a project builds
//! on (as its lock pins it) for tier 1, and a built image to run in for tier 2. The
//! checks (`dags`) sit below the pipeline and never build or load a base themselves.

use std::path::Path;
use std::time::Instant;

use super::BuildError;
use super::load::locked_base;
use super::options::{BuildOptions, Reporter};
use super::run::build;
use crate::dags::BuiltImage;
use crate::image::{BaseFacts, read_facts};
use crate::lock::Lockfile;
use crate::project::Project;
use crate::registry::RemoteOptions;
use crate::store::Store;

/// The facts of the base `project` builds on (by the digest its lock pins, from
/// `base_layout` or wherever the project says, pulled on `runtime`), and the lock
/// (`None` before the first).
pub(crate) fn locked_base_facts(
    store: &Store,
    project: &Project,
    base_layout: Option<&Path>,
    remote: &RemoteOptions,
    runtime: &tokio::runtime::Handle,
) -> Result<(BaseFacts, Option<Lockfile>), BuildError> {
    let (lock, base, _) = locked_base(store, project, base_layout, remote, runtime, false)?;
    let facts = read_facts(store, &base)?;
    Ok((facts, lock))
}

/// Builds the project as `options` say and describes the image for the sandbox.
pub(crate) fn build_for_sandbox(
    options: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<BuiltImage, BuildError> {
    let started = Instant::now();
    let result = build(options, reporter)?;
    Ok(BuiltImage {
        project_dir: options.project_dir.clone(),
        build_args: options.build_args.clone(),
        store_dir: options.store_dir.clone(),
        config_digest: result.config_digest,
        layers: result
            .layers
            .into_iter()
            .map(|layer| (layer.kind, layer.digest))
            .collect(),
        base: result.base,
        started,
    })
}
