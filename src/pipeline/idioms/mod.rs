//! The `RUN` idioms airlock carries out natively instead of running a process:
//! `pip install`, a virtual environment with `pip install` in it, and `apt-get update
//! && apt-get install --no-install-recommends`. [`recognise`] reads the instruction's
//! text strictly (`shell.rs`): a word, option or shell construct it does not know
//! exactly makes it answer `None`, and the step then runs in the sandbox. Nothing is
//! guessed at.

mod files;
mod grammar;
mod native;
mod pins;
mod seeds;
mod shell;

use std::str::FromStr;

use pep508_rs::Requirement;

use crate::debian::{PackageRequest, parse_packages_txt};

pub(crate) use files::files_in_layers;
pub(in crate::pipeline) use pins::{NATIVE_KINDS, native_layer, pin_native};
pub(in crate::pipeline) use seeds::Seeds;

use grammar::parse_chain;

/// A `RUN` step airlock carries out itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Idiom {
    /// `pip install …` with the interpreter on `PATH`.
    Pip(PipInstall),
    /// `python -m venv DIR` (or `virtualenv`), optionally followed by `pip install …`
    /// into it.
    Venv(Venv),
    /// `apt-get update && apt-get install --no-install-recommends PKGS …`.
    Apt(AptInstall),
}

/// The name `pip` was run by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Launcher {
    /// `pip`, `pip3`, `pip3.N`, or `python…` with `-m pip`: a command found on `PATH`.
    Path(String),
    /// The virtual environment's own (`DIR/bin/pip`, or `pip` once it is activated).
    Venv,
}

/// One `pip install`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PipInstall {
    pub launcher: Launcher,
    /// The requirements named on the command line, in order.
    pub requirements: Vec<Requirement>,
    /// `-r FILE`, as written (relative paths are against the step's `WORKDIR`).
    pub files: Vec<String>,
    /// `--user`: into the user's `~/.local`.
    pub user: bool,
    /// `--break-system-packages`: install even into a Python marked externally
    /// managed (PEP 668).
    pub break_system_packages: bool,
}

/// Which module made the virtual environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VenvTool {
    Venv,
    Virtualenv,
}

/// `python -m venv DIR [&& source DIR/bin/activate] [&& pip install …] [&& deactivate]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Venv {
    /// The interpreter command as written (`python`, `python3`, `python3.12`).
    pub python: String,
    pub tool: VenvTool,
    /// The directory as written, without a trailing `/` or a leading `./`.
    pub dir: String,
    /// `--system-site-packages`.
    pub system_site_packages: bool,
    /// `--without-pip`: no pip inside the environment.
    pub without_pip: bool,
    /// The `pip install` into the environment.
    pub install: Option<PipInstall>,
}

/// `apt-get update && apt-get install --no-install-recommends PKGS`, with the optional
/// clean-up after it (a no-op here: airlock's layer never holds apt's lists or cache).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AptInstall {
    /// The packages as `packages.txt` would name them (`name[:arch][=version]`).
    pub packages: Vec<PackageRequest>,
}

/// What the step runs with, besides its text.
pub(crate) struct IdiomContext<'a> {
    /// The shell of a shell-form `RUN` (`SHELL`; Docker's default `/bin/sh -c`).
    pub shell: &'a [String],
    /// The step's environment (the base's and the Dockerfile's `ENV`, in order).
    pub env: &'a [(String, String)],
    /// The base image's own `PATH`, if its config sets one.
    pub base_path: Option<&'a str>,
}

/// The shells whose reading of the idioms `shell.rs` knows.
const SHELLS: [&str; 2] = ["/bin/sh", "/bin/bash"];

/// `PIP_*` variables that change nothing about what is installed where.
const HARMLESS_PIP_ENV: [&str; 11] = [
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
    "PIP_ROOT_USER_ACTION",
    "PIP_NO_WARN_SCRIPT_LOCATION",
    "PIP_PROGRESS_BAR",
    "PIP_QUIET",
    "PIP_NO_INPUT",
    "PIP_DEFAULT_TIMEOUT",
    "PIP_RETRIES",
    "PIP_NO_COLOR",
    "PIP_BREAK_SYSTEM_PACKAGES",
];

/// Other variables that change where Python or apt looks or installs.
const REFUSED_ENV: [&str; 7] = [
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONUSERBASE",
    "PYTHONNOUSERSITE",
    "APT_CONFIG",
    "CONDA_PREFIX",
];

/// The idiom `command` (a shell-form `RUN`'s text, or an exec form's words) is, when
/// airlock knows it exactly in `context`; `None` otherwise.
pub(crate) fn recognise(command: &RunText<'_>, context: &IdiomContext<'_>) -> Option<Idiom> {
    if !environment_known(context) {
        return None;
    }
    let commands = match command {
        RunText::Shell(text) => {
            let [shell, flag] = context.shell else {
                return None;
            };
            if !SHELLS.contains(&shell.as_str()) || flag != "-c" {
                return None;
            }
            shell::split(text)?
        }
        RunText::Exec(words) => vec![
            words
                .iter()
                .map(|w| shell::Word {
                    text: w.clone(),
                    glob: false,
                })
                .collect(),
        ],
    };
    parse_chain(&commands)
}

/// A `RUN`'s command, as the recogniser takes it.
pub(crate) enum RunText<'a> {
    Shell(&'a str),
    Exec(&'a [String]),
}

/// No variable that would make pip or apt do other than what the text says, and the
/// base's `PATH` (so `pip` and `python` are the base's).
fn environment_known(context: &IdiomContext<'_>) -> bool {
    context.env.iter().all(|(name, value)| {
        if name == "PATH" {
            return context.base_path == Some(value.as_str());
        }
        if name.starts_with("PIP_") {
            return HARMLESS_PIP_ENV.contains(&name.as_str());
        }
        !REFUSED_ENV.contains(&name.as_str())
    })
}

/// A requirement word of `pip install`: PEP 508 by name, with no URL, no path and no
/// glob character the shell could expand (extras' brackets excepted).
fn requirement(word: &shell::Word) -> Option<Requirement> {
    let text = word.text.as_str();
    if text.starts_with('-') || text.contains('/') || text.contains('@') {
        return None;
    }
    if word.glob && (text.contains('*') || text.contains('?')) {
        return None;
    }
    let requirement = Requirement::from_str(text).ok()?;
    match requirement.version_or_url {
        None | Some(pep508_rs::VersionOrUrl::VersionSpecifier(_)) => Some(requirement),
        Some(pep508_rs::VersionOrUrl::Url(_)) => None,
    }
}

/// A package word of `apt-get install`, as `packages.txt` would read it.
fn package(word: &shell::Word) -> Option<PackageRequest> {
    let text = word.text.as_str();
    if word.glob || text.is_empty() || text.starts_with('-') || text.contains(char::is_whitespace) {
        return None;
    }
    match parse_packages_txt(text).ok()?.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
