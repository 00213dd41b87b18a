//! The sandbox: a command run with bubblewrap inside an image's root filesystem.
//!
//! Unprivileged and daemonless: no network (`--unshare-net` via `--unshare-all`), the
//! root read-only, a private `/tmp`, the project copy mounted at the image's
//! `WORKDIR`, the image's `Env`, `User` and `WorkingDir` (`HOME` is `/tmp` when the
//! image sets none).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The bubblewrap executable.
pub(super) const BWRAP: &str = "bwrap";

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "`bwrap` (bubblewrap) is not installed, so the sandboxed checks cannot run; the static check (`airlock parse`) still works"
    )]
    NoBwrap,
}

/// What to run, where and as whom.
#[derive(Debug, Clone)]
pub(crate) struct SandboxSpec {
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

pub(super) fn find_in_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// What `bwrap_command` mounts over in the read-only root (`--proc`, `--dev`,
/// `--tmpfs`), with the mode to create each with when the image has none: bubblewrap
/// cannot make a mount point in a read-only root.
pub(super) const MOUNT_POINTS: [(&str, u32); 3] =
    [("proc", 0o555), ("dev", 0o755), ("tmp", 0o1777)];

/// The `bwrap` command line for `spec`.
pub(crate) fn bwrap_command(spec: &SandboxSpec) -> Result<Command, SandboxError> {
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

/// The search path `execvp` uses when the environment sets no `PATH`.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// What running `name` in the sandbox would find, judged from the root filesystem
/// before bubblewrap starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CommandLookup {
    /// An executable file at this path inside the image.
    Found(String),
    /// No executable `name` in any directory of `path`.
    Missing { path: String },
    /// A script (`#!`) whose interpreter the image lacks.
    NoInterpreter {
        command: String,
        interpreter: String,
    },
}

/// Looks `name` up as `execvp` in the sandbox would: in each directory of `PATH` from
/// `env` (glibc's default without one), symlinks followed inside `rootfs` (absolute
/// targets from the image's root, `..` never above it); for a `#!` script, its
/// interpreter too.
pub(crate) fn find_command(rootfs: &Path, env: &[(String, String)], name: &str) -> CommandLookup {
    let path = env
        .iter()
        .rev()
        .find(|(key, _)| key == "PATH")
        .map_or(DEFAULT_PATH, |(_, value)| value.as_str());
    let found = path
        .split(':')
        .filter(|dir| dir.starts_with('/'))
        .map(|dir| format!("{}/{name}", dir.trim_end_matches('/')))
        .find_map(|inside| executable_in(rootfs, &inside).map(|host| (inside, host)));
    let Some((command, host)) = found else {
        return CommandLookup::Missing {
            path: path.to_string(),
        };
    };
    if let Some(interpreter) = shebang(&host)
        && interpreter.starts_with('/')
        && executable_in(rootfs, &interpreter).is_none()
    {
        return CommandLookup::NoInterpreter {
            command,
            interpreter,
        };
    }
    CommandLookup::Found(command)
}

/// The host path of `inside` when it leads to an executable regular file in `rootfs`.
fn executable_in(rootfs: &Path, inside: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let host = resolve_in_root(rootfs, inside)?;
    let meta = std::fs::metadata(&host).ok()?;
    (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some(host)
}

/// The interpreter a `#!` line at the start of the file at `host` names.
fn shebang(host: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let mut file = std::fs::File::open(host).ok()?;
    let read = file.read(&mut head).ok()?;
    let line = head[..read].strip_prefix(b"#!")?;
    let line = line.split(|b| *b == b'\n').next()?;
    let text = std::str::from_utf8(line).ok()?;
    text.split_whitespace().next().map(str::to_string)
}

/// Where the absolute path `inside` leads in `rootfs`, every symlink on the way
/// followed inside it; `None` when a component is missing or the links loop.
fn resolve_in_root(rootfs: &Path, inside: &str) -> Option<PathBuf> {
    use crate::confine::Node;
    let resolved = crate::confine::resolve_in_root(inside, |path| {
        match std::fs::symlink_metadata(rootfs.join(path)) {
            Ok(meta) if meta.file_type().is_symlink() => std::fs::read_link(rootfs.join(path))
                .ok()
                .and_then(|target| target.to_str().map(|t| Node::Symlink(t.to_string())))
                .unwrap_or(Node::Unreadable),
            Ok(meta) if meta.is_dir() => Node::Dir,
            Ok(_) => Node::File,
            // A missing component ends the lookup, as it would for the kernel.
            Err(_) => Node::Unreadable,
        }
    })
    .ok()?;
    Some(rootfs.join(resolved))
}

impl crate::hint::Hint for SandboxError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::NoBwrap => vec![
                "install it: `apt-get install bubblewrap` (Debian/Ubuntu) or `dnf install bubblewrap`".into(),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn exe(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn env(path: &str) -> Vec<(String, String)> {
        vec![("PATH".into(), path.into())]
    }

    /// Sweep item 7: `python3` is looked up on the image's PATH inside the root,
    /// links followed there (never on the host), scripts' interpreters checked.
    #[test]
    fn sweep7_find_command_resolves_inside_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/bin")).expect("mkdir");
        symlink("usr/bin", root.join("bin")).expect("link");
        let missing = find_command(root, &env("/usr/local/bin:/usr/bin"), "python3");
        assert!(
            matches!(missing, CommandLookup::Missing { .. }),
            "{missing:?}"
        );

        // An absolute link, through `/bin -> usr/bin`: found inside the root.
        exe(&root.join("usr/bin/python3.11"), "\x7fELF");
        symlink("/bin/python3.11", root.join("usr/bin/python3")).expect("link");
        assert_eq!(
            find_command(root, &env("/bin"), "python3"),
            CommandLookup::Found("/bin/python3".into())
        );
        // No PATH: execvp's default (`/bin:/usr/bin`).
        assert_eq!(
            find_command(root, &[], "python3"),
            CommandLookup::Found("/bin/python3".into())
        );

        // `..` never climbs above the root; a loop leads nowhere.
        std::fs::remove_file(root.join("usr/bin/python3")).expect("rm");
        symlink(
            "../../../../../usr/bin/python3.11",
            root.join("usr/bin/python3"),
        )
        .expect("link");
        assert!(matches!(
            find_command(root, &env("/usr/bin"), "python3"),
            CommandLookup::Found(_)
        ));
        std::fs::remove_file(root.join("usr/bin/python3")).expect("rm");
        symlink("python3", root.join("usr/bin/python3")).expect("link");
        assert!(matches!(
            find_command(root, &env("/usr/bin"), "python3"),
            CommandLookup::Missing { .. }
        ));

        // Not executable: not found. A script whose interpreter is missing, then present.
        std::fs::remove_file(root.join("usr/bin/python3")).expect("rm");
        std::fs::write(root.join("usr/bin/python3"), "x").expect("write");
        assert!(matches!(
            find_command(root, &env("/usr/bin"), "python3"),
            CommandLookup::Missing { .. }
        ));
        exe(&root.join("usr/local/bin/python3"), "#!/bin/sh\nexit 1\n");
        assert_eq!(
            find_command(root, &env("/usr/local/bin"), "python3"),
            CommandLookup::NoInterpreter {
                command: "/usr/local/bin/python3".into(),
                interpreter: "/bin/sh".into(),
            }
        );
        exe(&root.join("usr/bin/sh"), "\x7fELF");
        assert!(matches!(
            find_command(root, &env("/usr/local/bin"), "python3"),
            CommandLookup::Found(_)
        ));
    }
}
