//! The idioms' grammar over `&&`-joined simple commands (see the README for it in
//! words). Each function takes the words it knows and answers `None` on any other.

use super::shell::{Command, Word};
use super::{AptInstall, Idiom, Launcher, PipInstall, Venv, VenvTool, package, requirement};

/// The idiom the commands spell, if any.
pub(super) fn parse_chain(commands: &[Command]) -> Option<Idiom> {
    let first = words(commands.first()?);
    match first.as_slice() {
        ["apt-get", ..] | ["DEBIAN_FRONTEND=noninteractive", "apt-get", ..] => apt(commands),
        [python, "-m", "venv" | "virtualenv", ..] if is_python(python) => venv(commands),
        _ => match commands {
            [one] => pip(one, None).map(Idiom::Pip),
            _ => None,
        },
    }
}

fn words(command: &Command) -> Vec<&str> {
    command.iter().map(|w| w.text.as_str()).collect()
}

/// `python`, `python3` or `python3.N`.
fn is_python(word: &str) -> bool {
    word == "python"
        || word == "python3"
        || word
            .strip_prefix("python3.")
            .is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
}

/// `pip`, `pip3` or `pip3.N`.
fn is_pip(word: &str) -> bool {
    word == "pip"
        || word == "pip3"
        || word
            .strip_prefix("pip3.")
            .is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
}

/// pip options that change nothing about what is installed where (airlock never
/// byte-compiles, keeps no cache in the image and prints no pip output), and
/// `--break-system-packages`, which only lets pip install at all (see
/// `native::externally_managed`).
fn harmless_pip_flag(word: &str) -> bool {
    matches!(
        word,
        "--no-cache-dir"
            | "-q"
            | "-qq"
            | "-qqq"
            | "--quiet"
            | "-v"
            | "--verbose"
            | "--disable-pip-version-check"
            | "--no-warn-script-location"
            | "--no-input"
            | "--no-color"
            | "--no-compile"
            | "--break-system-packages"
            | "--progress-bar=off"
            | "--root-user-action=ignore"
    )
}

/// The same options written with their value as the next word.
fn harmless_pip_option(word: &str, value: &str) -> bool {
    matches!(
        (word, value),
        ("--progress-bar", "off") | ("--root-user-action", "ignore")
    )
}

/// How `pip` is invoked: the words before `install`, and what they name. In a
/// virtual environment `venv` is its directory and whether it is activated.
fn launcher<'a>(words: &'a [Word], venv: Option<(&str, bool)>) -> Option<(Launcher, &'a [Word])> {
    let text = |i: usize| words.get(i).map(|w| w.text.as_str());
    let in_venv = |name: &str| -> Option<&'static str> {
        let (dir, _) = venv?;
        let rest = name.strip_prefix(dir)?.strip_prefix("/bin/")?;
        if is_pip(rest) {
            Some("pip")
        } else if is_python(rest) {
            Some("python")
        } else {
            None
        }
    };
    let first = text(0)?;
    if words.first()?.glob {
        return None;
    }
    let activated = venv.is_some_and(|(_, active)| active);
    let (launcher, kind) = match in_venv(first.strip_prefix("./").unwrap_or(first)) {
        Some(kind) => (Launcher::Venv, kind),
        None if is_pip(first) => (on_path(first, venv.is_some(), activated)?, "pip"),
        None if is_python(first) => (on_path(first, venv.is_some(), activated)?, "python"),
        None => return None,
    };
    match kind {
        "pip" => Some((launcher, &words[1..])),
        _ => match (text(1), text(2)) {
            (Some("-m"), Some("pip")) => Some((launcher, &words[3..])),
            _ => None,
        },
    }
}

/// A command found on `PATH`: the environment's own once activated; outside a
/// virtual environment, the base's.
fn on_path(name: &str, in_venv: bool, activated: bool) -> Option<Launcher> {
    match (in_venv, activated) {
        (false, _) => Some(Launcher::Path(name.to_string())),
        (true, true) => Some(Launcher::Venv),
        (true, false) => None,
    }
}

/// `pip install [options] REQUIREMENTS… | -r FILE`.
fn pip(command: &Command, venv: Option<(&str, bool)>) -> Option<PipInstall> {
    let (launcher, rest) = launcher(command, venv)?;
    let mut install = PipInstall {
        launcher,
        requirements: Vec::new(),
        files: Vec::new(),
        user: false,
        break_system_packages: false,
    };
    let mut seen_install = false;
    let mut i = 0;
    while let Some(word) = rest.get(i) {
        let text = word.text.as_str();
        let next = rest.get(i + 1);
        i += 1;
        if text == "install" && !seen_install {
            seen_install = true;
        } else if harmless_pip_flag(text) && !word.glob {
            // Allowed before and after `install`, as pip allows general options.
            install.break_system_packages |= text == "--break-system-packages";
        } else if next.is_some_and(|v| harmless_pip_option(text, &v.text)) {
            i += 1;
        } else if !seen_install {
            return None;
        } else if text == "--user" {
            install.user = true;
        } else if text == "-r" || text == "--requirement" {
            install.files.push(file(next?)?);
            i += 1;
        } else if let Some(path) = text
            .strip_prefix("--requirement=")
            .or_else(|| text.strip_prefix("-r"))
        {
            install.files.push(file(&Word {
                text: path.to_string(),
                glob: word.glob,
            })?);
        } else {
            install.requirements.push(requirement(word)?);
        }
    }
    if !seen_install || (install.requirements.is_empty() && install.files.is_empty()) {
        return None;
    }
    // pip refuses `--user` inside a virtual environment.
    if install.user && venv.is_some() {
        return None;
    }
    Some(install)
}

/// A `-r` file name: a plain path (no glob, no option, no `..`).
fn file(word: &Word) -> Option<String> {
    let text = word.text.as_str();
    let plain = !word.glob
        && !text.is_empty()
        && !text.starts_with('-')
        && !text.contains("://")
        && text.split('/').all(|part| part != "..");
    plain.then(|| text.to_string())
}

/// A virtual environment's directory as written: a plain path without `..`, its
/// trailing `/` and leading `./` dropped.
fn directory(word: &Word) -> Option<String> {
    let text = word.text.trim_end_matches('/');
    let text = text.strip_prefix("./").unwrap_or(text);
    let plain = !word.glob
        && !text.is_empty()
        && !text.starts_with('-')
        && text
            .split('/')
            .enumerate()
            .all(|(i, part)| part != ".." && part != "." && (i == 0 || !part.is_empty()));
    plain.then(|| text.to_string())
}

/// `python -m venv|virtualenv [--system-site-packages] [--without-pip] [--symlinks] DIR`,
/// then optionally an activation, one `pip install` and `deactivate`.
fn venv(commands: &[Command]) -> Option<Idiom> {
    let (make, rest) = commands.split_first()?;
    let python = make.first()?.text.clone();
    let tool = match make.get(2)?.text.as_str() {
        "venv" => VenvTool::Venv,
        _ => VenvTool::Virtualenv,
    };
    let mut venv = Venv {
        python,
        tool,
        dir: String::new(),
        system_site_packages: false,
        without_pip: false,
        install: None,
    };
    let mut dir = None;
    for word in &make[3..] {
        match (word.text.as_str(), tool) {
            ("--system-site-packages", _) => venv.system_site_packages = true,
            ("--without-pip", VenvTool::Venv) => venv.without_pip = true,
            ("--symlinks", VenvTool::Venv) => {}
            (_, _) if dir.is_none() => dir = Some(directory(word)?),
            _ => return None,
        }
    }
    venv.dir = dir?;
    let mut activated = false;
    let mut rest = rest;
    if let Some((command, after)) = rest.split_first()
        && activation(command, &venv.dir)
    {
        activated = true;
        rest = after;
    }
    if let Some((command, after)) = rest.split_first()
        && !is_deactivate(command)
    {
        venv.install = Some(pip(command, Some((&venv.dir, activated)))?);
        rest = after;
    }
    match rest {
        [] => {}
        [last] if activated && is_deactivate(last) => {}
        _ => return None,
    }
    // No pip to run inside an environment made without it.
    if venv.without_pip && venv.install.is_some() {
        return None;
    }
    Some(Idiom::Venv(venv))
}

/// `source DIR/bin/activate` or `. DIR/bin/activate`.
fn activation(command: &Command, dir: &str) -> bool {
    match command.as_slice() {
        [word, script] if (word.text == "source" || word.text == ".") && !script.glob => {
            let path = script.text.strip_prefix("./").unwrap_or(&script.text);
            path.strip_suffix("/bin/activate") == Some(dir)
        }
        _ => false,
    }
}

fn is_deactivate(command: &Command) -> bool {
    words(command) == ["deactivate"]
}

/// `apt-get update [-q…] && [DEBIAN_FRONTEND=noninteractive] apt-get [-y] [-q…]
/// install [-y] [--no-install-recommends] PKGS [&& apt-get clean] [&& rm -rf
/// /var/lib/apt/lists/*]`. Recommends are installed unless
/// `--no-install-recommends` says not to, and airlock's resolver follows `Depends`
/// only, so an install without it is not an idiom airlock carries out.
fn apt(commands: &[Command]) -> Option<Idiom> {
    let [update, install, tail @ ..] = commands else {
        return None;
    };
    let update = apt_words(update)?;
    if update.first().map(|w| w.text.as_str()) != Some("update")
        || !update[1..].iter().all(|w| quiet_or_yes(&w.text))
    {
        return None;
    }
    let mut packages = Vec::new();
    let mut seen_install = false;
    let mut no_recommends = false;
    for word in apt_words(install)? {
        match word.text.as_str() {
            "install" if !seen_install => seen_install = true,
            "--no-install-recommends" => no_recommends = true,
            "--no-install-suggests" => {}
            text if quiet_or_yes(text) => {}
            _ if seen_install => packages.push(package(word)?),
            _ => return None,
        }
    }
    if !seen_install || !no_recommends || packages.is_empty() {
        return None;
    }
    let mut cleaned = false;
    let mut removed = false;
    for command in tail {
        match words(command).as_slice() {
            ["apt-get", "clean"] if !cleaned => cleaned = true,
            ["rm", "-rf" | "-fr", "/var/lib/apt/lists/*"] if !removed => removed = true,
            _ => return None,
        }
    }
    Some(Idiom::Apt(AptInstall { packages }))
}

/// The words after `apt-get` (and an optional `DEBIAN_FRONTEND=noninteractive`).
fn apt_words(command: &Command) -> Option<&[Word]> {
    let start = match words(command).as_slice() {
        ["apt-get", ..] => 1,
        ["DEBIAN_FRONTEND=noninteractive", "apt-get", ..] => 2,
        _ => return None,
    };
    Some(&command[start..])
}

/// `-y`, `--yes`, `--assume-yes`, `-q`, `-qq`, `--quiet`, and `-yq`-like bundles.
fn quiet_or_yes(word: &str) -> bool {
    matches!(word, "--yes" | "--assume-yes" | "--quiet")
        || word
            .strip_prefix('-')
            .is_some_and(|s| !s.is_empty() && s.chars().all(|c| c == 'y' || c == 'q'))
}
