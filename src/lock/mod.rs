//! `airlock.lock`: the single source of truth for a build.
//!
//! Records the base manifest digest, the hashes of the input files the lock was
//! made from, the Debian packages (each `.deb` by name, version and sha256, plus the
//! signed `InRelease` it was resolved against) and the Python wheels (`[python]` and
//! `[[wheels]]`, each wheel by name, version, URL and sha256).

mod file;
mod images;
mod python;
mod steps;

pub use file::Lockfile;
pub(crate) use file::{DebianLock, LOCK_FILE, LockError, LockedBase, LockedDeb, LockedSource};
pub(crate) use images::{LockedImage, images_drift};
pub(crate) use python::{LockedSdist, LockedWheel, PythonLock};

pub(crate) use steps::{LockedStep, find_step, record_step};
