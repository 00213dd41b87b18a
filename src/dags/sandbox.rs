//! The sandbox: a command run with bubblewrap inside an image's root filesystem.
//!
//! Unprivileged and daemonless: no network (`--unshare-net` via `--unshare-all`), the
//! root read-only, a private `/tmp`, the project copy mounted at the image's
//! `WORKDIR`, the image's `Env`, `User` and `WorkingDir` (`HOME` is `/tmp` when the
//! image sets none).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The bubblewrap executable.
pub const BWRAP: &str = "bwrap";

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "`bwrap` (bubblewrap) is not installed, so the sandboxed checks cannot run; the static check (`airlock parse`) still works"
    )]
    NoBwrap,
}

impl SandboxError {
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NoBwrap => Some("install it: `apt-get install bubblewrap` (Debian/Ubuntu) or `dnf install bubblewrap`".into()),
        }
    }
}

/// What to run, where and as whom.
#[derive(Debug, Clone)]
pub struct SandboxSpec {
    pub rootfs: PathBuf,
    /// A host directory mounted read-write at `workdir` (a copy of the project).
    pub project: PathBuf,
    pub workdir: String,
    pub env: Vec<(String, String)>,
    pub uid: u32,
    pub gid: u32,
    /// Host files mounted read-only inside (host path, path inside).
    pub files: Vec<(PathBuf, String)>,
    pub command: Vec<String>,
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// What `bwrap_command` mounts over in the read-only root (`--proc`, `--dev`,
/// `--tmpfs`), with the mode to create each with when the image has none: bubblewrap
/// cannot make a mount point in a read-only root.
pub const MOUNT_POINTS: [(&str, u32); 3] = [("proc", 0o555), ("dev", 0o755), ("tmp", 0o1777)];

/// The `bwrap` command line for `spec`.
pub fn bwrap_command(spec: &SandboxSpec) -> Result<Command, SandboxError> {
    let bwrap = find_in_path(BWRAP).ok_or(SandboxError::NoBwrap)?;
    let mut command = Command::new(bwrap);
    let path = |p: &Path| p.as_os_str().to_owned();
    command
        .arg("--unshare-all")
        .arg("--die-with-parent")
        .arg("--new-session")
        .args([
            "--uid",
            &spec.uid.to_string(),
            "--gid",
            &spec.gid.to_string(),
        ])
        .arg("--ro-bind")
        .arg(path(&spec.rootfs))
        .arg("/")
        .args(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"])
        .arg("--bind")
        .arg(path(&spec.project))
        .arg(&spec.workdir);
    for (host, inside) in &spec.files {
        command.arg("--ro-bind").arg(path(host)).arg(inside);
    }
    // The environment reaches the command through bwrap's own (which it passes on),
    // never its argument list: values may be secrets (`.env`), and other users can
    // read a process's arguments.
    command.env_clear();
    if !spec.env.iter().any(|(key, _)| key == "HOME") {
        command.env("HOME", "/tmp");
    }
    command.envs(spec.env.iter().map(|(k, v)| (k, v)));
    command.env("PYTHONDONTWRITEBYTECODE", "1");
    command.args(["--chdir", &spec.workdir]);
    command.arg("--");
    command.args(&spec.command);
    Ok(command)
}
