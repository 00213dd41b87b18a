//! `airlock.lock`: the single source of truth for a build.
//!
//! Records the base manifest digest and the hashes of the input files the lock was
//! made from, and the Python wheels (`[python]` and `[[wheels]]`, each wheel by name,
//! version, URL and sha256).

mod file;
mod python;

pub use file::{LOCK_FILE, LockError, LockedBase, Lockfile};
pub use python::{LockedWheel, PythonLock};
