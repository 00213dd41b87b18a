//! From a recognised idiom to what airlock carries out: the idiom checked against the
//! base (the interpreter and pip the text names exist there, the user may write where
//! pip would write, `apt-get` runs as root) and turned into an install target, an
//! owner, a virtual environment and the requirements or packages to resolve. Anything
//! that does not hold gives `None`: the step then runs in the sandbox.

use crate::digest::Digest;
use std::collections::BTreeSet;
use std::str::FromStr;

use super::{Idiom, IdiomContext, Launcher, PipInstall, RunText, Venv, VenvTool, recognise};
use crate::debian::PackageRequest;
use crate::image::{Accounts, BaseFacts, BaseImage, resolve_owner};
use crate::layer::Owner;
use crate::project::dockerfile::{FsStep, RunCommand, RunNetwork, RunSpec};
use crate::python::{
    BaseView, InstallTarget, PythonEnvironment, VenvSpec, normalize_name, pip_config_files,
    pip_config_values, venv_target,
};

/// A `RUN` step airlock carries out itself, worked out against the base.
pub(in crate::pipeline) struct Native {
    pub line: usize,
    pub created_by: String,
    pub what: NativeKind,
}

/// What the step installs.
pub(in crate::pipeline) enum NativeKind {
    /// `pip install` (into the base's scheme, `~/.local`, or a new virtual environment).
    Pip(Box<NativePip>),
    /// `apt-get install`.
    Apt(Vec<PackageRequest>),
}

pub(in crate::pipeline) struct NativePip {
    /// The command line as a requirements file (`-r` lines relative to the project).
    pub requirements: String,
    pub target: InstallTarget,
    pub owner: Owner,
    /// The environment the step makes, if it makes one.
    pub venv: Option<NativeVenv>,
}

pub(in crate::pipeline) struct NativeVenv {
    pub spec: VenvSpec,
    /// The wheels `ensurepip` installs into it, from the base (file name, bytes).
    /// The `ensurepip` wheels (file name, digest of the blob in the store).
    pub seed: Vec<(String, Digest)>,
}

impl Native {
    /// `pip`, `venv` or `apt`: the step's kind in the lock and the build result.
    pub(in crate::pipeline) fn kind(&self) -> &'static str {
        match &self.what {
            NativeKind::Pip(pip) if pip.venv.is_some() => "venv",
            NativeKind::Pip(_) => "pip",
            NativeKind::Apt(_) => "apt",
        }
    }
}

/// What `understand` reads besides the step.
pub(in crate::pipeline) struct Base<'a> {
    pub image: &'a BaseImage,
    pub facts: &'a BaseFacts,
    /// The directory the project's files are copied to (the base's `WORKDIR`).
    pub project_dir: &'a str,
    pub project_root: &'a std::path::Path,
    /// Whether an earlier step of the Dockerfile copies files in (then a `-r` file
    /// may not be the project's).
    pub copied_before: bool,
    /// The wheels `ensurepip` may use ([`is_seed_wheel`]), by path, read from the
    /// base on demand.
    pub seeds: &'a dyn Fn() -> Vec<(String, Digest)>,
}

/// The native form of `step`, when airlock knows it exactly.
pub(in crate::pipeline) fn understand(
    step: &FsStep,
    spec: &RunSpec,
    base: &Base<'_>,
) -> Option<Native> {
    if !spec.mounts.is_empty() || spec.network != RunNetwork::Default {
        return None;
    }
    let state = &step.state;
    let base_env = base.image.env();
    let base_path = base_env.iter().find_map(|e| e.strip_prefix("PATH="));
    let context = IdiomContext {
        shell: &state.shell,
        env: &state.env,
        base_path,
    };
    let idiom = match &spec.command {
        RunCommand::Shell(text) => recognise(&RunText::Shell(text), &context)?,
        RunCommand::Exec(words) => recognise(&RunText::Exec(words), &context)?,
    };
    let accounts = Accounts::from_facts(base.facts);
    let user = state.user.as_deref().unwrap_or("root");
    let owner = resolve_owner(user, &accounts).ok()?;
    let what = match idiom {
        Idiom::Apt(install) => {
            if owner.uid != 0 {
                return None;
            }
            NativeKind::Apt(install.packages)
        }
        Idiom::Pip(install) => NativeKind::Pip(Box::new(system_pip(&install, owner, state, base)?)),
        Idiom::Venv(venv) => {
            NativeKind::Pip(Box::new(venv_pip(&venv, owner, &state.workdir, base)?))
        }
    };
    Some(Native {
        line: step.line,
        created_by: step.created_by.clone(),
        what,
    })
}

fn installed(environment: &PythonEnvironment, name: &str) -> bool {
    pep508_rs::PackageName::from_str(name).is_ok_and(|n| environment.installed.contains_key(&n))
}

fn environment(base: &Base<'_>) -> Option<PythonEnvironment> {
    let dirs: BTreeSet<String> = base.facts.dirs.keys().cloned().collect();
    let env = base.image.env();
    PythonEnvironment::from_base(BaseView {
        files: &base.facts.files,
        dirs: &dirs,
        symlinks: &base.facts.symlinks,
        interpreters: &base.facts.interpreters,
        env: &env,
    })
    .ok()
}

/// `/a/b` joined onto the directory `dir` (absolute), `..`-free paths only.
fn absolute(dir: &str, path: &str) -> Option<String> {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", dir.trim_end_matches('/'))
    };
    let parts: Vec<&str> = joined
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") || parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

/// The command `name` on the base's `PATH`, when it is the base's Python interpreter
/// (a regular `python3.N` file or a link to one): its path and its real path.
fn python_on_path(base: &Base<'_>, name: &str, minor: u8) -> Option<(String, String)> {
    let env = base.image.env();
    let path = env.iter().find_map(|e| e.strip_prefix("PATH="))?;
    for dir in path.split(':').filter(|d| d.starts_with('/')) {
        let candidate = format!("{}/{name}", dir.trim_matches('/'));
        let mut real = candidate.clone();
        for _ in 0..40 {
            match base.facts.symlinks.get(&real) {
                Some(target) if target.starts_with('/') => {
                    real = target.trim_start_matches('/').to_string();
                }
                Some(target) => {
                    let parent = real.rsplit_once('/').map_or("", |(p, _)| p);
                    real = absolute(&format!("/{parent}"), target)?;
                }
                None => break,
            }
        }
        if base.facts.interpreters.contains(&real) {
            return real
                .ends_with(&format!("python3.{minor}"))
                .then(|| (format!("/{candidate}"), format!("/{real}")));
        }
    }
    None
}

/// The requirements file a `pip install` command line stands for: one requirement a
/// line, each `-r FILE` as an include of the project's file (only while `FILE` is in
/// the project's directory and no earlier step copied files in).
fn requirements_text(install: &PipInstall, workdir: &str, base: &Base<'_>) -> Option<String> {
    let mut text = String::new();
    for file in &install.files {
        if base.copied_before {
            return None;
        }
        let path = absolute(workdir, file)?;
        let project = base.project_dir.trim_matches('/');
        let rel = if project.is_empty() {
            path.as_str()
        } else {
            path.strip_prefix(project)?.strip_prefix('/')?
        };
        if !base.project_root.join(rel).is_file() {
            return None;
        }
        text.push_str(&format!("-r {rel}\n"));
    }
    for requirement in &install.requirements {
        text.push_str(&format!("{requirement}\n"));
    }
    Some(text)
}

/// `pip install` with the base's pip: into its scheme, or with `--user` (or when the
/// user cannot write there, as pip falls back) into `~/.local`.
fn system_pip(
    install: &PipInstall,
    owner: Owner,
    state: &crate::project::dockerfile::StepState,
    base: &Base<'_>,
) -> Option<NativePip> {
    let environment = environment(base)?;
    let minor = environment.target.python.1;
    if !installed(&environment, "pip") {
        return None;
    }
    if let Launcher::Path(name) = &install.launcher
        && name.starts_with("python")
    {
        python_on_path(base, name, minor)?;
    }
    if externally_managed(base.facts, &environment.install.interpreter)
        && !install.break_system_packages
        && !breaks_system_packages(&state.env, base.facts, owner)
    {
        // pip refuses to install into it: the real pip, in the sandbox, says so.
        return None;
    }
    let writable = owner.uid == 0 || writable_by(base.facts, &environment.install.purelib, owner);
    let target = if install.user || !writable {
        let home = state
            .env
            .iter()
            .rev()
            .find_map(|(k, v)| (k == "HOME").then(|| v.clone()))
            .or_else(|| home_of(base.facts, owner.uid))?;
        let local = absolute("/", &format!("{home}/.local"))?;
        InstallTarget {
            purelib: format!("{local}/lib/python3.{minor}/site-packages"),
            platlib: format!("{local}/lib/python3.{minor}/site-packages"),
            scripts: format!("{local}/bin"),
            data: local.clone(),
            headers: format!("{local}/include/python3.{minor}"),
            interpreter: environment.install.interpreter.clone(),
        }
    } else {
        environment.install.clone()
    };
    Some(NativePip {
        requirements: requirements_text(install, &state.workdir, base)?,
        target,
        owner,
        venv: None,
    })
}

/// Whether the base marks the Python of `interpreter` (`/usr/bin/python3.11`) as
/// externally managed (PEP 668): an `EXTERNALLY-MANAGED` file beside its standard
/// library (`usr/lib/python3.11`), as Debian's python3 has. pip then refuses to
/// install into it, `--user` included, unless told to break system packages.
fn externally_managed(facts: &BaseFacts, interpreter: &str) -> bool {
    let path = interpreter.trim_start_matches('/');
    let Some((bin, name)) = path.rsplit_once('/') else {
        return false;
    };
    let prefix = bin.strip_suffix("bin").unwrap_or(bin);
    facts
        .files
        .contains_key(&format!("{prefix}lib/{name}/EXTERNALLY-MANAGED"))
}

/// Whether pip is told to install into an externally managed Python: by
/// `PIP_BREAK_SYSTEM_PACKAGES` in the step's environment (the base's entries, then
/// the Dockerfile's), else by `break-system-packages` in the pip configuration files
/// pip would read in the base (`python::pip_config_files`, with the user's home).
/// Values as pip reads booleans; anything else counts as not told, which leaves the
/// step to the real pip.
fn breaks_system_packages(env: &[(String, String)], facts: &BaseFacts, owner: Owner) -> bool {
    let get = |name: &str| {
        env.iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let value = get("PIP_BREAK_SYSTEM_PACKAGES").or_else(|| {
        let env_with_home = |name: &str| {
            get(name).or_else(|| (name == "HOME").then(|| home_of(facts, owner.uid))?)
        };
        let files = pip_config_files(&env_with_home);
        let read = |path: &std::path::Path| {
            facts
                .files
                .get(path.to_str()?.trim_start_matches('/'))
                .cloned()
        };
        let [flag] = pip_config_values(&files, &read, ["break-system-packages"]);
        flag.map(|(_, value)| value)
    });
    value.is_some_and(|value| {
        matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "1" | "y" | "yes" | "t" | "true" | "on"
        )
    })
}

/// Whether `owner` may write into `dir` (or, when it does not exist, its nearest
/// existing parent), by the base's modes.
fn writable_by(facts: &BaseFacts, dir: &str, owner: Owner) -> bool {
    let mut path = dir.trim_matches('/').to_string();
    loop {
        if let Some(meta) = facts.dirs.get(&path) {
            return (meta.uid == owner.uid && meta.mode & 0o200 != 0)
                || (meta.gid == owner.gid && meta.mode & 0o020 != 0)
                || meta.mode & 0o002 != 0;
        }
        match path.rsplit_once('/') {
            Some((parent, _)) => path = parent.to_string(),
            None if path.is_empty() => return false,
            None => path = String::new(),
        }
    }
}

/// The home directory of `uid` in the base's `/etc/passwd`.
fn home_of(facts: &BaseFacts, uid: u32) -> Option<String> {
    facts.passwd()?.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [_, _, id, _, _, home, ..] if id.parse::<u32>().ok() == Some(uid) => {
                Some((*home).to_string())
            }
            _ => None,
        }
    })
}

/// `python -m venv DIR [&& … pip install …]`.
fn venv_pip(venv: &Venv, owner: Owner, workdir: &str, base: &Base<'_>) -> Option<NativePip> {
    let environment = environment(base)?;
    let minor = environment.target.python.1;
    let (executable, real) = python_on_path(base, &venv.python, minor)?;
    if venv.tool == VenvTool::Virtualenv && !installed(&environment, "virtualenv") {
        return None;
    }
    let spec = VenvSpec {
        dir: absolute(workdir, &venv.dir)?,
        executable,
        real_executable: real.clone(),
        version: environment.full_version.clone(),
        system_site_packages: venv.system_site_packages,
        without_pip: venv.without_pip,
    };
    let seed = if venv.without_pip {
        Vec::new()
    } else {
        // `ensurepip` installs pip (and setuptools before Python 3.12) from its own
        // bundle, or on Debian from `/usr/share/python-wheels`.
        let lib = real.rsplit_once("/bin/").map_or("", |(prefix, _)| prefix);
        let bundled = format!(
            "{}/lib/python3.{minor}/ensurepip/_bundled",
            lib.trim_start_matches('/')
        );
        let seeds = (base.seeds)();
        let dir = ["usr/share/python-wheels", bundled.as_str()]
            .into_iter()
            .find(|dir| {
                seeds
                    .iter()
                    .any(|(path, _)| path.starts_with(&format!("{dir}/pip-")))
            })?;
        let wanted = |name: &str| name == "pip" || (name == "setuptools" && minor < 12);
        seeds
            .into_iter()
            .filter_map(|(path, bytes)| {
                let file = path.strip_prefix(&format!("{dir}/"))?.to_string();
                wanted(&normalize_name(file.split('-').next().unwrap_or("")))
                    .then_some((file, bytes))
            })
            .collect()
    };
    let requirements = match &venv.install {
        Some(install) => requirements_text(install, workdir, base)?,
        None => String::new(),
    };
    Some(NativePip {
        requirements,
        target: venv_target(&spec).ok()?,
        owner,
        venv: Some(NativeVenv { spec, seed }),
    })
}

/// Whether `path` is a wheel `ensurepip` may install from the base: its own bundle,
/// or Debian's `/usr/share/python-wheels`.
pub(in crate::pipeline) fn is_seed_wheel(path: &str) -> bool {
    let Some((dir, name)) = path.rsplit_once('/') else {
        return false;
    };
    name.ends_with(".whl")
        && (dir == "usr/share/python-wheels" || dir.ends_with("/ensurepip/_bundled"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> BaseFacts {
        serde_json::from_value(serde_json::json!({
            "version": 0,
            "files": {
                "etc/passwd": "root:x:0:0:root:/root:/bin/bash\nastro:x:50000:0::/home/astro:/bin/bash\n"
            },
            "dirs": {
                "usr/local/lib/python3.12/site-packages": {"mode": 0o755, "uid": 0, "gid": 0},
                "usr/local/airflow": {"mode": 0o775, "uid": 50000, "gid": 0}
            },
            "symlinks": {},
            "interpreters": []
        }))
        .unwrap_or_default()
    }

    /// pip falls back to `~/.local` when the user cannot write to site-packages.
    #[test]
    fn idioms_user_rights_decide_where_pip_installs() {
        let facts = facts();
        let astro = Owner { uid: 50000, gid: 0 };
        let other = Owner {
            uid: 1000,
            gid: 1000,
        };
        assert!(!writable_by(
            &facts,
            "usr/local/lib/python3.12/site-packages",
            astro
        ));
        // Group 0 may write (mode 0775), and a missing directory takes its parent's.
        assert!(writable_by(&facts, "usr/local/airflow/venv/lib", astro));
        assert!(writable_by(
            &facts,
            "usr/local/airflow",
            Owner { uid: 7, gid: 0 }
        ));
        assert!(!writable_by(&facts, "usr/local/airflow", other));
        assert_eq!(home_of(&facts, 50000).as_deref(), Some("/home/astro"));
        assert_eq!(home_of(&facts, 4), None);
    }

    /// The mark sits beside the standard library of the interpreter's prefix.
    #[test]
    fn externally_managed_is_read_beside_the_interpreters_standard_library() {
        let mut facts = facts();
        assert!(!externally_managed(&facts, "/usr/bin/python3.11"));
        facts.files.insert(
            "usr/lib/python3.11/EXTERNALLY-MANAGED".into(),
            "[externally-managed]\n".into(),
        );
        assert!(externally_managed(&facts, "/usr/bin/python3.11"));
        assert!(!externally_managed(&facts, "/usr/bin/python3.12"));
        assert!(!externally_managed(&facts, "/usr/local/bin/python3.11"));
        facts.files.insert(
            "usr/local/lib/python3.12/EXTERNALLY-MANAGED".into(),
            String::new(),
        );
        assert!(externally_managed(&facts, "/usr/local/bin/python3.12"));
    }

    /// The environment first, then the pip configuration files pip reads, in the
    /// sections pip reads.
    #[test]
    fn breaking_system_packages_is_read_as_pip_reads_it() {
        let astro = Owner { uid: 50000, gid: 0 };
        let env = |value: &str| vec![("PIP_BREAK_SYSTEM_PACKAGES".to_string(), value.to_string())];
        let mut facts = facts();
        assert!(!breaks_system_packages(&[], &facts, astro));
        assert!(breaks_system_packages(&env("1"), &facts, astro));
        assert!(breaks_system_packages(&env("True"), &facts, astro));
        assert!(!breaks_system_packages(&env("0"), &facts, astro));
        facts.files.insert(
            "etc/pip.conf".into(),
            "[freeze]\nbreak-system-packages = true\n".into(),
        );
        assert!(!breaks_system_packages(&[], &facts, astro));
        facts.files.insert(
            "home/astro/.config/pip/pip.conf".into(),
            "[install]\nbreak_system_packages = yes\n".into(),
        );
        assert!(breaks_system_packages(&[], &facts, astro));
        // Not the root user's home; and the environment wins over the files.
        assert!(!breaks_system_packages(
            &[],
            &facts,
            Owner { uid: 0, gid: 0 }
        ));
        assert!(!breaks_system_packages(&env("no"), &facts, astro));
    }

    #[test]
    fn idioms_paths_and_seed_wheels() {
        assert_eq!(
            absolute("/usr/local/airflow", "dbt_venv").as_deref(),
            Some("usr/local/airflow/dbt_venv")
        );
        assert_eq!(
            absolute("/usr/local/airflow", "/opt/./v").as_deref(),
            Some("opt/v")
        );
        assert_eq!(absolute("/usr/local/airflow", "../v"), None);
        assert_eq!(absolute("/", "/"), None);
        assert!(is_seed_wheel(
            "usr/share/python-wheels/pip-23.0.1-py3-none-any.whl"
        ));
        assert!(is_seed_wheel(
            "usr/local/lib/python3.12/ensurepip/_bundled/pip-24.0-py3-none-any.whl"
        ));
        assert!(!is_seed_wheel("usr/share/python-wheels/README"));
        assert!(!is_seed_wheel("tmp/pip-24.0-py3-none-any.whl"));
    }
}
