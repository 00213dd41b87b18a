//! The first stage of `build` (and of `lock`): the project, the store, the lock on
//! disk, the base image with its facts, and the lock this run starts to want (the
//! base digest and the input hashes; the lock stage adds the Debian and Python pins).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::BuildError;
use super::options::{BuildOptions, Reporter};
use super::prefetch::{Ahead, Before, Prefetch};
use crate::digest::Digest;
use crate::image::{BaseFacts, BaseImage, OnBuildPlan, airflow_pin, plan_onbuild, read_facts};
use crate::image::{BaseOrigin, load_base};
use crate::lock::{LOCK_FILE, LockedBase, Lockfile};
use crate::project::Project;
use crate::registry::RemoteOptions;
use crate::store::Store;

/// What the build knows once the project and its base are read.
pub(super) struct Session {
    pub project: Project,
    pub store: Store,
    pub lock_path: PathBuf,
    pub on_disk: Option<Lockfile>,
    pub remote: RemoteOptions,
    /// Where the network work of this run goes (the options' runtime).
    pub runtime: tokio::runtime::Handle,
    pub base: BaseImage,
    pub origin: BaseOrigin,
    pub facts: BaseFacts,
    /// What the base's ONBUILD triggers ask of this build.
    pub onbuild: OnBuildPlan,
    /// `--secret` files by id, for `RUN --mount=type=secret`.
    pub secrets: BTreeMap<String, PathBuf>,
    /// The downloads started while the base was read.
    pub prefetch: Prefetch,
}

/// Reads the project and its lock, loads the base (by the locked digest unless
/// `--upgrade-base`) and returns the session with the lock it starts from. With
/// `Ahead::Wheels`, the wheels the lock pins may be downloaded while the base is read
/// (`prefetch.rs`).
pub(super) fn load(
    options: &BuildOptions,
    ahead: Ahead,
    reporter: &dyn Reporter,
) -> Result<(Session, Lockfile), BuildError> {
    let project = Project::load(&options.project_dir, &options.build_args)?;
    let store = Store::open(&options.store_dir)?;
    let lock_path = project.root.join(LOCK_FILE);
    let remote = options
        .remote
        .clone()
        .with_settings(&project.settings.registry, &project.root);
    reporter.step("reading the base image");
    let on_disk = Lockfile::read(&lock_path)?;
    let before = Before {
        options,
        project: &project,
        store: &store,
        remote: &remote,
        on_disk: on_disk.as_ref(),
    };
    let prefetch = Prefetch::start(ahead, &before, reporter);
    let (base, origin) = base_for(
        (&store, &project),
        on_disk.as_ref(),
        options.base_layout.as_deref(),
        (&remote, &options.runtime),
        options.upgrade_base,
    )?;
    let onbuild = plan_onbuild(&base.onbuild())?;
    refuse_airflow_pin(&project, &onbuild)?;
    let facts = read_facts(&store, &base)?;
    let inputs: BTreeMap<String, Digest> = ["packages.txt", "requirements.txt"]
        .iter()
        .filter_map(|name| {
            project
                .inputs
                .get(*name)
                .map(|text| (name.to_string(), Digest::of(text.as_bytes())))
        })
        .collect();
    let wanted = Lockfile::new(
        LockedBase {
            reference: base.reference.clone(),
            manifest: base.manifest_digest.clone(),
        },
        inputs,
    );
    let session = Session {
        project,
        store,
        lock_path,
        on_disk,
        remote,
        runtime: options.runtime.clone(),
        base,
        origin,
        facts,
        onbuild,
        secrets: options.secrets.clone(),
        prefetch,
    };
    Ok((session, wanted))
}

/// The lock on disk (`None` before the first) and the base `project` builds on, loaded
/// into the store: by the digest the lock pins unless `upgrade_base`, from
/// `base_layout` or wherever the project says, pulled on `runtime`.
pub(super) fn locked_base(
    store: &Store,
    project: &Project,
    base_layout: Option<&Path>,
    remote: &RemoteOptions,
    runtime: &tokio::runtime::Handle,
    upgrade_base: bool,
) -> Result<(Option<Lockfile>, BaseImage, BaseOrigin), BuildError> {
    let on_disk = Lockfile::read(&project.root.join(LOCK_FILE))?;
    let (base, origin) = base_for(
        (store, project),
        on_disk.as_ref(),
        base_layout,
        (remote, runtime),
        upgrade_base,
    )?;
    Ok((on_disk, base, origin))
}

/// The base `project` builds on, by the digest `on_disk` pins unless `upgrade_base`
/// (see [`locked_base`]).
fn base_for(
    (store, project): (&Store, &Project),
    on_disk: Option<&Lockfile>,
    base_layout: Option<&Path>,
    (remote, runtime): (&RemoteOptions, &tokio::runtime::Handle),
    upgrade_base: bool,
) -> Result<(BaseImage, BaseOrigin), BuildError> {
    let pinned = on_disk
        .filter(|_| !upgrade_base)
        .and_then(|lock| lock.pinned_base(&project.dockerfile.from.image));
    Ok(load_base(
        store,
        project,
        base_layout,
        remote,
        runtime,
        pinned.as_ref(),
    )?)
}

/// The Runtime's guard, applied as its ONBUILD trigger would: a base whose triggers
/// carry it refuses a `requirements.txt` line that pins `apache-airflow`.
fn refuse_airflow_pin(project: &Project, onbuild: &OnBuildPlan) -> Result<(), BuildError> {
    if !onbuild.airflow_guard {
        return Ok(());
    }
    let Some(text) = project.inputs.get("requirements.txt") else {
        return Ok(());
    };
    match airflow_pin(text) {
        Some((line, entry)) => Err(BuildError::AirflowPinned {
            path: project.root.join("requirements.txt"),
            line,
            entry,
        }),
        None => Ok(()),
    }
}
