//! `airlock.lock`: the single source of truth for a build.
//!
//! Records the base manifest digest, the hashes of the input files the lock was
//! made from, and the Debian packages (each `.deb` by name, version and sha256, plus
//! the signed `InRelease` it was resolved against). The Python section arrives with
//! its resolver; until then a non-empty `requirements.txt` is refused by the planner.

mod file;

pub use file::{DebianLock, LOCK_FILE, LockError, LockedBase, LockedDeb, LockedSource, Lockfile};
