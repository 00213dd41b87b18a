//! `airlock.lock`: the single source of truth for a build.
//!
//! Records the base manifest digest and the hashes of the input files the lock was
//! made from. The Debian and Python sections arrive with their resolvers; until then
//! a non-empty `packages.txt` or `requirements.txt` is refused by the planner.

mod file;

pub use file::{LOCK_FILE, LockError, LockedBase, Lockfile};
