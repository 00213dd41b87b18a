//! What `build` and `lock` both start from: the project, the store, the lock on disk,
//! the base image with its facts, and the lock this run starts to want (the base
//! digest and the input hashes; the Debian and Python stages add their pins).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::BuildError;
use super::python_stage::{self, PythonContext, PythonOptions, PythonPlan};
use super::run::{BuildOptions, LockMode, Reporter};
use crate::digest::Digest;
use crate::image::{
    BaseFacts, BaseImage, BaseOrigin, OnBuildPlan, airflow_pin, load_base, plan_onbuild, read_facts,
};
use crate::lock::{LOCK_FILE, LockError, LockedBase, Lockfile};
use crate::project::Project;
use crate::registry::RemoteOptions;
use crate::store::Store;

pub(super) struct Session {
    pub project: Project,
    pub store: Store,
    pub lock_path: PathBuf,
    pub on_disk: Option<Lockfile>,
    pub remote: RemoteOptions,
    pub base: BaseImage,
    pub origin: BaseOrigin,
    pub facts: BaseFacts,
    /// What the base's ONBUILD triggers ask of this build.
    pub onbuild: OnBuildPlan,
}

impl Session {
    /// Reads the project and its lock, loads the base (by the locked digest unless
    /// `--upgrade-base`) and returns the session with the lock it starts from.
    pub fn open(
        options: &BuildOptions,
        reporter: &dyn Reporter,
    ) -> Result<(Self, Lockfile), BuildError> {
        let project = Project::load(&options.project_dir, &options.build_args)?;
        let store = Store::open(&options.store_dir)?;
        let lock_path = project.root.join(LOCK_FILE);
        let on_disk = Lockfile::read(&lock_path)?;
        let pinned = on_disk
            .as_ref()
            .filter(|_| !options.upgrade_base)
            .and_then(|lock| lock.pinned_base(&project.dockerfile.from.image));
        let remote = options
            .remote
            .clone()
            .with_settings(&project.settings.registry, &project.root);
        reporter.step("reading the base image");
        let (base, origin) = load_base(
            &store,
            &project,
            options.base_layout.as_deref(),
            &remote,
            pinned.as_ref(),
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
        let session = Self {
            project,
            store,
            lock_path,
            on_disk,
            remote,
            base,
            origin,
            facts,
            onbuild,
        };
        Ok((session, wanted))
    }

    /// The Python settings of this run (offline and CA files follow the registry's).
    pub fn python_options(&self, options: &BuildOptions) -> PythonOptions {
        PythonOptions {
            offline: options.python.offline || self.remote.offline,
            ca_files: self.remote.ca_files.clone(),
            ..options.python.clone()
        }
    }

    /// Fills the lock's `[python]` and `[[wheels]]` (kept or re-resolved).
    pub fn lock_python(
        &self,
        mode: LockMode,
        python_options: &PythonOptions,
        reporter: &dyn Reporter,
        wanted: &mut Lockfile,
    ) -> Result<Option<PythonPlan>, BuildError> {
        // `~` of the user the triggers install packages as (Docker sets `HOME` from
        // `/etc/passwd` when the config has none).
        let user = self
            .onbuild
            .python_user
            .clone()
            .or_else(|| self.base.user())
            .unwrap_or_else(|| "root".to_string());
        let home = home_of(self.facts.passwd().unwrap_or(""), &user);
        python_stage::lock_python(
            &PythonContext {
                project: &self.project,
                facts: &self.facts,
                base_env: &self.base.env(),
                base_home: home.as_deref(),
                on_disk: self.on_disk.as_ref(),
                lock_path: &self.lock_path,
                mode,
                options: python_options,
                store: &self.store,
                reporter,
            },
            wanted,
        )
        .map_err(|e| BuildError::Python(Box::new(e)))
    }

    /// With `--locked`, fails when the lock on disk is missing or does not describe
    /// `wanted`.
    pub fn check_locked(&self, mode: LockMode, wanted: &Lockfile) -> Result<(), BuildError> {
        if mode != LockMode::Locked {
            return Ok(());
        }
        let reason = match &self.on_disk {
            None => Some("it does not exist".to_string()),
            Some(lock) if lock != wanted => Some(
                lock.staleness(wanted)
                    .unwrap_or_else(|| "its pins differ".to_string()),
            ),
            Some(_) => None,
        };
        match reason {
            Some(reason) => Err(LockError::Stale {
                path: self.lock_path.clone(),
                reason,
            }
            .into()),
            None => Ok(()),
        }
    }
}

/// The home directory of `user` (`name` or `uid`, optionally `:group`) in `passwd`.
fn home_of(passwd: &str, user: &str) -> Option<String> {
    let name = user.split(':').next().unwrap_or(user);
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [login, _, uid, _, _, home, ..] if *login == name || *uid == name => {
                Some((*home).to_string())
            }
            _ => None,
        }
    })
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
