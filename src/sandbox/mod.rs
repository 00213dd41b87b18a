//! The sandbox: image layers unpacked into a root filesystem (cached in the store),
//! and commands run inside it with bubblewrap: no network, the root read-only.
//!
//! Below the features that run things in an image: the tier-2 DAG checks and pytest
//! today, Dockerfile `RUN` steps and sdist builds later.

mod bwrap;
mod capture;
mod rootfs;

pub(crate) use bwrap::{CommandLookup, SandboxError, SandboxSpec, bwrap_command, find_command};
pub(crate) use capture::{
    CacheDir, CaptureError, RunInSandbox, SecretFile, differing_paths, run_and_capture,
};
pub(crate) use rootfs::RootfsError;
pub use rootfs::unpack_rootfs;
