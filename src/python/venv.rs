//! A virtual environment as CPython's `venv` module makes it on Linux, written as a
//! list of entries instead of by running Python: `pyvenv.cfg`, the interpreter links,
//! the activate scripts, `lib/python3.N/site-packages`, `include/python3.N` and the
//! `lib64 → lib` link. Its install scheme ([`venv_target`]) puts wheels inside it,
//! with console scripts whose shebang is the environment's own interpreter.
//!
//! Deterministic: the entries depend on the [`VenvSpec`] only.

use super::InstallTarget;

/// What decides a virtual environment's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VenvSpec {
    /// The environment's directory: absolute, without the leading `/` or a trailing one.
    pub dir: String,
    /// The interpreter `venv` ran under, as found on `PATH` (`/usr/local/bin/python`):
    /// what `bin/<its name>` links to, and the `home` of `pyvenv.cfg`.
    pub executable: String,
    /// That interpreter's real path with links followed (`/usr/local/bin/python3.12`).
    pub real_executable: String,
    /// The interpreter's full version (`3.12.7`).
    pub version: String,
    /// `--system-site-packages`.
    pub system_site_packages: bool,
    /// `--without-pip` (written into `pyvenv.cfg`'s `command`).
    pub without_pip: bool,
}

/// One entry of the environment, relative to the image root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VenvEntry {
    Dir {
        path: String,
    },
    File {
        path: String,
        mode: u32,
        contents: Vec<u8>,
    },
    Symlink {
        path: String,
        target: String,
    },
}

/// Why a virtual environment cannot be described.
#[derive(Debug, thiserror::Error)]
pub(crate) enum VenvError {
    /// A version that is not `3.N.M`.
    #[error("Cannot make a virtual environment for Python `{0}`: expected a version `3.N.M`")]
    Version(String),
    /// An interpreter path that is not absolute.
    #[error("Cannot make a virtual environment from the interpreter `{0}`: not an absolute path")]
    Interpreter(String),
}

impl crate::hint::Hint for VenvError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Version(_) | Self::Interpreter(_) => Vec::new(),
        }
    }
}

impl VenvSpec {
    /// `3.N`.
    fn short_version(&self) -> Result<(String, u32), VenvError> {
        let mut parts = self.version.split('.');
        let major = parts.next();
        let minor = parts.next().and_then(|m| m.parse::<u32>().ok());
        match (major, minor, parts.next()) {
            (Some("3"), Some(minor), Some(_)) => Ok((format!("3.{minor}"), minor)),
            _ => Err(VenvError::Version(self.version.clone())),
        }
    }

    /// The name `venv` ran under (`python`, `python3`, `python3.12`) and its directory.
    fn executable_parts(&self) -> Result<(&str, &str), VenvError> {
        match self.executable.rsplit_once('/') {
            Some((dir, name)) if self.executable.starts_with('/') && !name.is_empty() => {
                Ok((if dir.is_empty() { "/" } else { dir }, name))
            }
            _ => Err(VenvError::Interpreter(self.executable.clone())),
        }
    }

    /// The interpreter inside the environment that scripts installed into it run under.
    pub(crate) fn interpreter(&self) -> Result<String, VenvError> {
        let (_, name) = self.executable_parts()?;
        Ok(format!("/{}/bin/{name}", self.dir))
    }
}

/// Where wheels go inside the environment (pip's `venv` scheme).
pub(crate) fn venv_target(spec: &VenvSpec) -> Result<InstallTarget, VenvError> {
    let (short, _) = spec.short_version()?;
    let dir = &spec.dir;
    let site = format!("{dir}/lib/python{short}/site-packages");
    Ok(InstallTarget {
        purelib: site.clone(),
        platlib: site,
        scripts: format!("{dir}/bin"),
        data: dir.clone(),
        headers: format!("{dir}/include/site/python{short}"),
        interpreter: spec.interpreter()?,
    })
}

/// The environment's entries, sorted by path (pip not included: see the caller).
pub(crate) fn make_venv(spec: &VenvSpec) -> Result<Vec<VenvEntry>, VenvError> {
    let (short, minor) = spec.short_version()?;
    let (home, name) = spec.executable_parts()?;
    let dir = &spec.dir;
    let at = |rel: &str| format!("{dir}/{rel}");
    let mut entries = vec![
        VenvEntry::Dir { path: dir.clone() },
        VenvEntry::Dir { path: at("bin") },
        VenvEntry::Dir {
            path: at("include"),
        },
        VenvEntry::Dir { path: at("lib") },
        VenvEntry::Dir {
            path: at(&format!("lib/python{short}")),
        },
        VenvEntry::Dir {
            path: at(&format!("lib/python{short}/site-packages")),
        },
        VenvEntry::Symlink {
            path: at("lib64"),
            target: "lib".into(),
        },
        VenvEntry::File {
            path: at("pyvenv.cfg"),
            mode: 0o644,
            contents: pyvenv_cfg(spec, home, minor).into_bytes(),
        },
    ];
    // Since 3.11 the headers directory is named for the version.
    if minor >= 11 {
        entries.push(VenvEntry::Dir {
            path: at(&format!("include/python{short}")),
        });
    }
    // Since 3.13 a `.gitignore` keeps the environment out of version control.
    if minor >= 13 {
        entries.push(VenvEntry::File {
            path: at(".gitignore"),
            mode: 0o644,
            contents: b"# Created by venv; see https://docs.python.org/3/library/venv.html\n*\n"
                .to_vec(),
        });
    }
    // `bin/<name>` is the interpreter `venv` ran under; the other names link to it.
    entries.push(VenvEntry::Symlink {
        path: at(&format!("bin/{name}")),
        target: spec.executable.clone(),
    });
    for other in [
        "python".to_string(),
        "python3".into(),
        format!("python{short}"),
    ] {
        if other != name {
            entries.push(VenvEntry::Symlink {
                path: at(&format!("bin/{other}")),
                target: name.to_string(),
            });
        }
    }
    let activate_dir = format!("/{dir}");
    for (script, text) in [
        ("activate", ACTIVATE_SH),
        ("activate.csh", ACTIVATE_CSH),
        ("activate.fish", ACTIVATE_FISH),
    ] {
        let base = dir.rsplit('/').next().unwrap_or(dir);
        let contents = text
            .replace("@@DIR@@", &activate_dir)
            .replace("@@NAME@@", base);
        entries.push(VenvEntry::File {
            path: at(&format!("bin/{script}")),
            mode: 0o644,
            contents: contents.into_bytes(),
        });
    }
    entries.sort_by(|a, b| entry_path(a).cmp(entry_path(b)));
    Ok(entries)
}

/// An entry's path.
pub(crate) fn entry_path(entry: &VenvEntry) -> &str {
    match entry {
        VenvEntry::Dir { path }
        | VenvEntry::File { path, .. }
        | VenvEntry::Symlink { path, .. } => path,
    }
}

/// `pyvenv.cfg`, line for line as `venv` writes it (`executable` and `command` since 3.11).
fn pyvenv_cfg(spec: &VenvSpec, home: &str, minor: u32) -> String {
    let mut text = format!(
        "home = {home}\ninclude-system-site-packages = {}\nversion = {}\n",
        spec.system_site_packages, spec.version
    );
    if minor >= 11 {
        let mut args = Vec::new();
        if spec.without_pip {
            args.push("--without-pip");
        }
        if spec.system_site_packages {
            args.push("--system-site-packages");
        }
        text.push_str(&format!("executable = {}\n", spec.real_executable));
        let dir = format!("/{}", spec.dir);
        args.push(&dir);
        text.push_str(&format!(
            "command = {} -m venv {}\n",
            spec.executable,
            args.join(" ")
        ));
    }
    text
}

/// `bin/activate`, for `source` in bash, zsh and other POSIX shells.
const ACTIVATE_SH: &str = r#"# Source this file (`source bin/activate` or `. bin/activate`) in a POSIX shell;
# it cannot be run. Written by airlock for the virtual environment @@DIR@@.

deactivate () {
    if [ -n "${_AIRLOCK_OLD_PATH:-}" ]; then
        PATH="$_AIRLOCK_OLD_PATH"
        export PATH
        unset _AIRLOCK_OLD_PATH
    fi
    if [ -n "${_AIRLOCK_OLD_PYTHONHOME:-}" ]; then
        PYTHONHOME="$_AIRLOCK_OLD_PYTHONHOME"
        export PYTHONHOME
        unset _AIRLOCK_OLD_PYTHONHOME
    fi
    if [ -n "${_AIRLOCK_OLD_PS1:-}" ]; then
        PS1="$_AIRLOCK_OLD_PS1"
        export PS1
        unset _AIRLOCK_OLD_PS1
    fi
    unset VIRTUAL_ENV VIRTUAL_ENV_PROMPT
    hash -r 2> /dev/null
    if [ "${1:-}" != "nondestructive" ]; then
        unset -f deactivate
    fi
}

deactivate nondestructive

VIRTUAL_ENV="@@DIR@@"
export VIRTUAL_ENV
VIRTUAL_ENV_PROMPT="@@NAME@@"
export VIRTUAL_ENV_PROMPT

_AIRLOCK_OLD_PATH="$PATH"
PATH="$VIRTUAL_ENV/bin:$PATH"
export PATH

if [ -n "${PYTHONHOME:-}" ]; then
    _AIRLOCK_OLD_PYTHONHOME="$PYTHONHOME"
    unset PYTHONHOME
fi

if [ -z "${VIRTUAL_ENV_DISABLE_PROMPT:-}" ]; then
    _AIRLOCK_OLD_PS1="${PS1:-}"
    PS1="(@@NAME@@) ${PS1:-}"
    export PS1
fi

hash -r 2> /dev/null
"#;

/// `bin/activate.csh`, for `source bin/activate.csh` in csh and tcsh.
const ACTIVATE_CSH: &str = r#"# Source this file with `source bin/activate.csh` in csh or tcsh; it cannot be run.
# Written by airlock for the virtual environment @@DIR@@.

alias deactivate 'test $?_AIRLOCK_OLD_PATH != 0 && setenv PATH "$_AIRLOCK_OLD_PATH" && unset _AIRLOCK_OLD_PATH; rehash; test $?_AIRLOCK_OLD_PROMPT != 0 && set prompt="$_AIRLOCK_OLD_PROMPT" && unset _AIRLOCK_OLD_PROMPT; unsetenv VIRTUAL_ENV; unsetenv VIRTUAL_ENV_PROMPT; test "\!:*" != "nondestructive" && unalias deactivate'

deactivate nondestructive

setenv VIRTUAL_ENV "@@DIR@@"
setenv VIRTUAL_ENV_PROMPT "@@NAME@@"

set _AIRLOCK_OLD_PATH="$PATH"
setenv PATH "$VIRTUAL_ENV/bin:$PATH"

if ( $?prompt && ! $?VIRTUAL_ENV_DISABLE_PROMPT ) then
    set _AIRLOCK_OLD_PROMPT="$prompt"
    set prompt = "(@@NAME@@) $prompt"
endif

rehash
"#;

/// `bin/activate.fish`, for `source bin/activate.fish` in fish.
const ACTIVATE_FISH: &str = r#"# Source this file with `source bin/activate.fish` in fish; it cannot be run.
# Written by airlock for the virtual environment @@DIR@@.

function deactivate -d "Leave the virtual environment"
    if set -q _AIRLOCK_OLD_PATH
        set -gx PATH $_AIRLOCK_OLD_PATH
        set -e _AIRLOCK_OLD_PATH
    end
    if set -q _AIRLOCK_OLD_PYTHONHOME
        set -gx PYTHONHOME $_AIRLOCK_OLD_PYTHONHOME
        set -e _AIRLOCK_OLD_PYTHONHOME
    end
    if functions -q _airlock_old_fish_prompt
        functions -e fish_prompt
        functions -c _airlock_old_fish_prompt fish_prompt
        functions -e _airlock_old_fish_prompt
    end
    set -e VIRTUAL_ENV
    set -e VIRTUAL_ENV_PROMPT
    if test "$argv[1]" != "nondestructive"
        functions -e deactivate
    end
end

deactivate nondestructive

set -gx VIRTUAL_ENV "@@DIR@@"
set -gx VIRTUAL_ENV_PROMPT "@@NAME@@"

set -gx _AIRLOCK_OLD_PATH $PATH
set -gx PATH "$VIRTUAL_ENV/bin" $PATH

if set -q PYTHONHOME
    set -gx _AIRLOCK_OLD_PYTHONHOME $PYTHONHOME
    set -e PYTHONHOME
end

if test -z "$VIRTUAL_ENV_DISABLE_PROMPT"
    functions -c fish_prompt _airlock_old_fish_prompt
    function fish_prompt
        set -l old_status $status
        printf "(%s) " "@@NAME@@"
        echo "exit $old_status" | .
        _airlock_old_fish_prompt
    end
end
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(executable: &str) -> VenvSpec {
        VenvSpec {
            dir: "usr/local/airflow/dbt_venv".into(),
            executable: executable.into(),
            real_executable: "/usr/local/bin/python3.12".into(),
            version: "3.12.7".into(),
            system_site_packages: false,
            without_pip: false,
        }
    }

    fn links(entries: &[VenvEntry]) -> Vec<(String, String)> {
        entries
            .iter()
            .filter_map(|e| match e {
                VenvEntry::Symlink { path, target } => Some((path.clone(), target.clone())),
                _ => None,
            })
            .collect()
    }

    fn file(entries: &[VenvEntry], name: &str) -> String {
        entries
            .iter()
            .find_map(|e| match e {
                VenvEntry::File { path, contents, .. } if path.ends_with(name) => {
                    Some(String::from_utf8_lossy(contents).into_owned())
                }
                _ => None,
            })
            .unwrap_or_default()
    }

    #[test]
    fn venv_layout_matches_cpython() {
        let entries = make_venv(&spec("/usr/local/bin/python")).unwrap_or_default();
        let d = "usr/local/airflow/dbt_venv";
        assert_eq!(
            links(&entries),
            [
                (
                    format!("{d}/bin/python"),
                    "/usr/local/bin/python".to_string()
                ),
                (format!("{d}/bin/python3"), "python".to_string()),
                (format!("{d}/bin/python3.12"), "python".to_string()),
                (format!("{d}/lib64"), "lib".to_string()),
            ]
        );
        assert_eq!(
            file(&entries, "pyvenv.cfg"),
            "home = /usr/local/bin\ninclude-system-site-packages = false\nversion = 3.12.7\nexecutable = /usr/local/bin/python3.12\ncommand = /usr/local/bin/python -m venv /usr/local/airflow/dbt_venv\n"
        );
        let paths: Vec<&str> = entries.iter().map(entry_path).collect();
        for wanted in [
            "bin/activate",
            "bin/activate.csh",
            "bin/activate.fish",
            "include/python3.12",
            "lib/python3.12/site-packages",
        ] {
            assert!(
                paths.contains(&format!("{d}/{wanted}").as_str()),
                "{wanted}"
            );
        }
        let mut sorted = paths.clone();
        sorted.sort_unstable();
        assert_eq!(paths, sorted);
        assert!(
            file(&entries, "bin/activate").contains("VIRTUAL_ENV=\"/usr/local/airflow/dbt_venv\"")
        );
        // Deterministic.
        assert_eq!(
            make_venv(&spec("/usr/local/bin/python")).ok(),
            Some(entries)
        );
    }

    #[test]
    fn venv_named_after_the_interpreter_it_ran_under() {
        let mut s = spec("/usr/bin/python3");
        s.version = "3.11.2".into();
        s.system_site_packages = true;
        s.without_pip = true;
        let entries = make_venv(&s).unwrap_or_default();
        let d = "usr/local/airflow/dbt_venv";
        assert_eq!(
            links(&entries)[..3],
            [
                (format!("{d}/bin/python"), "python3".to_string()),
                (format!("{d}/bin/python3"), "/usr/bin/python3".to_string()),
                (format!("{d}/bin/python3.11"), "python3".to_string()),
            ]
        );
        assert!(file(&entries, "pyvenv.cfg").ends_with(
            "command = /usr/bin/python3 -m venv --without-pip --system-site-packages /usr/local/airflow/dbt_venv\n"
        ));
        assert!(file(&entries, "pyvenv.cfg").contains("include-system-site-packages = true\n"));
        let target = venv_target(&s).ok();
        assert_eq!(
            target.map(|t| (t.purelib, t.scripts, t.interpreter)),
            Some((
                format!("{d}/lib/python3.11/site-packages"),
                format!("{d}/bin"),
                format!("/{d}/bin/python3")
            ))
        );
    }

    #[test]
    fn venv_refuses_odd_versions_and_relative_interpreters() {
        let mut s = spec("python");
        assert!(matches!(make_venv(&s), Err(VenvError::Interpreter(_))));
        s.executable = "/usr/bin/python3".into();
        s.version = "3".into();
        assert!(matches!(make_venv(&s), Err(VenvError::Version(_))));
    }

    /// The layout `python3 -m venv --without-pip` makes on this machine, compared
    /// entry by entry (the activate scripts' text is airlock's own).
    #[test]
    fn venv_matches_the_host_python() {
        let Ok(out) = std::process::Command::new("python3")
            .args([
                "-c",
                "import os, sys, platform; print(sys._base_executable); print(os.path.realpath(sys.executable)); print(platform.python_version())",
            ])
            .output()
        else {
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        let [executable, real, version] = lines[..] else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let venv_dir = tmp.path().join("v");
        let status = std::process::Command::new(executable)
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv_dir)
            .status();
        assert!(status.is_ok_and(|s| s.success()));
        let dir = venv_dir
            .to_string_lossy()
            .trim_start_matches('/')
            .to_string();
        let entries = make_venv(&VenvSpec {
            dir: dir.clone(),
            executable: executable.into(),
            real_executable: real.into(),
            version: version.into(),
            system_site_packages: false,
            without_pip: true,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let mut ours: Vec<(String, String)> = Vec::new();
        for entry in &entries {
            let line = match entry {
                VenvEntry::Dir { .. } => "dir".to_string(),
                VenvEntry::Symlink { target, .. } => format!("link {target}"),
                VenvEntry::File { path, contents, .. } if path.ends_with("pyvenv.cfg") => {
                    String::from_utf8_lossy(contents).into_owned()
                }
                VenvEntry::File { .. } => "file".to_string(),
            };
            ours.push((format!("/{}", entry_path(entry)), line));
        }
        let mut theirs: Vec<(String, String)> = Vec::new();
        let mut stack = vec![venv_dir.clone()];
        while let Some(path) = stack.pop() {
            let meta = std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{e}"));
            let line = if meta.is_symlink() {
                let target = std::fs::read_link(&path).unwrap_or_default();
                format!("link {}", target.display())
            } else if meta.is_dir() {
                for child in std::fs::read_dir(&path).unwrap_or_else(|e| panic!("{e}")) {
                    stack.push(child.unwrap_or_else(|e| panic!("{e}")).path());
                }
                "dir".to_string()
            } else if path.ends_with("pyvenv.cfg") {
                std::fs::read_to_string(&path).unwrap_or_default()
            } else {
                "file".to_string()
            };
            // PowerShell's activate script is not written for Linux images.
            if !path.ends_with("Activate.ps1") {
                theirs.push((path.to_string_lossy().into_owned(), line));
            }
        }
        theirs.sort();
        assert_eq!(ours, theirs);
    }
}
