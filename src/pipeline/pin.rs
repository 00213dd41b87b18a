//! The lock stage: the lock this build wants, with the Debian and Python pins kept
//! from `airlock.lock` while they fit or resolved again, checked under `--locked`.
//! Nothing is written here: the lock is written once the layers it pins exist.

use std::path::Path;

use super::BuildError;
use super::layers::StepPins;
use super::load::Session;
use super::options::{BuildOptions, LockMode, Reporter};
use super::python_stage::{self, PythonContext, PythonOptions, PythonPlan};
use crate::lock::{LockError, Lockfile};

/// The session with the lock it wants and what the Python layer is made from.
pub(super) struct Pinned {
    pub session: Session,
    /// The lock this build wants (written to `airlock.lock` when it changed).
    pub lock: Lockfile,
    /// The Python environment and indexes, when `requirements.txt` asks for wheels.
    pub python: Option<PythonPlan>,
    pub python_options: PythonOptions,
    pub mode: LockMode,
    /// The indexes (with credentials) the native `RUN pip install` steps' wheels
    /// come from.
    pub native_indexes: Vec<crate::python::IndexUrl>,
    /// The pins this run makes for the Dockerfile's steps (`[[steps]]`).
    pub step_pins: StepPins,
}

/// Which Debian pins of the lock on disk a run keeps while its inputs are unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DebianPins {
    /// A build keeps them (re-resolving only when an input changed).
    Kept,
    /// `airlock lock` re-resolves against the archive as it is now (like `cargo
    /// update`); `lock --locked` only checks, so it keeps them.
    Relocked,
}

/// Completes `wanted` with the Debian and Python pins: kept from the lock on disk
/// while its inputs are unchanged, else resolved (unless `--locked`, which fails).
pub(super) fn pin(
    session: Session,
    mut wanted: Lockfile,
    options: &BuildOptions,
    debian: DebianPins,
    reporter: &dyn Reporter,
) -> Result<Pinned, BuildError> {
    let keep = match debian {
        DebianPins::Kept => session.on_disk.as_ref(),
        DebianPins::Relocked => {
            reporter.step("resolving Debian packages");
            session
                .on_disk
                .as_ref()
                .filter(|_| options.lock_mode == LockMode::Locked)
        }
    };
    super::debian::fill_lock(
        &mut wanted,
        keep,
        options.lock_mode == LockMode::Update,
        &session,
        session.remote.offline,
    )?;
    // Python: the lock's `[python]` and `[[wheels]]` (kept or re-resolved).
    let python_options = session.python_options(options);
    let python = session.lock_python(options.lock_mode, &python_options, reporter, &mut wanted)?;
    // The Dockerfile steps' pins are kept as they are; the build checks and updates
    // them as it realises each step.
    if let Some(on_disk) = &session.on_disk {
        wanted.steps = on_disk.steps.clone();
    }
    // The `RUN` idioms airlock carries out natively: their pins in `[[steps]]`.
    let workdir = session
        .base
        .working_dir()
        .unwrap_or_else(|| "/".to_string());
    let steps = super::plan::evaluate(&session, &workdir, options)?.steps;
    let native_indexes = super::idioms::pin_native(
        &session,
        &mut wanted,
        &steps,
        options.lock_mode,
        &python_options,
        reporter,
    )?;
    // The other images the Dockerfile reads (`[[images]]`), pinned like the base.
    super::images::pin_images(&session, &mut wanted, options, reporter)?;
    session.check_locked(options.lock_mode, &wanted)?;
    Ok(Pinned {
        session,
        lock: wanted,
        python,
        python_options,
        mode: options.lock_mode,
        native_indexes,
        step_pins: StepPins::default(),
    })
}

impl Pinned {
    /// Writes `airlock.lock` with the pins the Dockerfile's steps made this run (its
    /// `[[steps]]` then lists exactly the steps of this build), when it may be
    /// updated and it changed.
    pub(super) fn write_step_pins(&self) -> Result<StepPinsWritten, BuildError> {
        let lock = self.with_step_pins();
        // The image carries the lock it was planned from (project layer and label):
        // when the steps' pins changed it, the image has to be planned again from
        // the lock written, so that a first build gives the image a rebuild from
        // its lock gives.
        let moved = self.mode == LockMode::Update && lock != self.lock;
        let written = write_lock(
            self.mode,
            self.session.on_disk.as_ref(),
            &lock,
            &self.session.lock_path,
        )?;
        Ok(StepPinsWritten { written, moved })
    }

    /// The lock with the pins the Dockerfile's steps made this run: the native
    /// idioms' were made by the pin stage, the sandboxed steps' as they were realised.
    fn with_step_pins(&self) -> Lockfile {
        let mut lock = self.lock.clone();
        lock.steps
            .retain(|s| super::idioms::NATIVE_KINDS.contains(&s.kind.as_str()));
        for pin in self.step_pins.pins() {
            crate::lock::record_step(&mut lock.steps, pin);
        }
        lock
    }

    /// Writes `airlock.lock` when the lock may be updated and it changed; true when
    /// it was written.
    pub(super) fn write_lock(&self) -> Result<bool, BuildError> {
        write_lock(
            self.mode,
            self.session.on_disk.as_ref(),
            &self.lock,
            &self.session.lock_path,
        )
    }
}

/// What [`Pinned::write_step_pins`] did.
pub(super) struct StepPinsWritten {
    /// `airlock.lock` was written.
    pub written: bool,
    /// The steps' pins changed the lock the plan was made from.
    pub moved: bool,
}

/// `wanted` written to `path` when `mode` allows it and it differs from `on_disk`.
pub(super) fn write_lock(
    mode: LockMode,
    on_disk: Option<&Lockfile>,
    wanted: &Lockfile,
    path: &Path,
) -> Result<bool, BuildError> {
    if mode != LockMode::Update || on_disk == Some(wanted) {
        return Ok(false);
    }
    // The temp file goes to the project's `.airlock/`, which the project walk skips:
    // a build killed mid-write must not leave it among the project's files.
    let project = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let staging = super::ensure_state_dir(project)?;
    Ok(wanted.write_staged(path, &staging)?)
}

impl Session {
    /// The Python settings of this run (offline and CA files follow the registry's).
    pub(super) fn python_options(&self, options: &BuildOptions) -> PythonOptions {
        PythonOptions {
            offline: options.python.offline || self.remote.offline,
            ca_files: self.remote.ca_files.clone(),
            source_date_epoch: options.source_date_epoch,
            ..options.python.clone()
        }
    }

    /// Fills the lock's `[python]` and `[[wheels]]` (kept or re-resolved).
    pub(super) fn lock_python(
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
                runtime: &self.runtime,
                base: &self.base,
            },
            wanted,
        )
        .map_err(|e| BuildError::Python(Box::new(e)))
    }

    /// With `--locked`, fails when the lock on disk is missing or does not describe
    /// `wanted`.
    pub(super) fn check_locked(&self, mode: LockMode, wanted: &Lockfile) -> Result<(), BuildError> {
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
