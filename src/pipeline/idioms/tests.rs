use super::*;

const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

fn sh() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

fn env() -> Vec<(String, String)> {
    vec![("PATH".into(), PATH.into())]
}

fn shell_idiom(text: &str) -> Option<Idiom> {
    recognise_with(text, &env())
}

fn recognise_with(text: &str, env: &[(String, String)]) -> Option<Idiom> {
    let shell = sh();
    recognise(
        &RunText::Shell(text),
        &IdiomContext {
            shell: &shell,
            env,
            base_path: Some(PATH),
        },
    )
}

fn names(install: &PipInstall) -> Vec<String> {
    install
        .requirements
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn pip_of(text: &str) -> PipInstall {
    match shell_idiom(text) {
        Some(Idiom::Pip(install)) => install,
        other => panic!("{text:?}: {other:?}"),
    }
}

fn venv_of(text: &str) -> Venv {
    match shell_idiom(text) {
        Some(Idiom::Venv(venv)) => venv,
        other => panic!("{text:?}: {other:?}"),
    }
}

#[test]
fn idioms_pip_install_forms() {
    let install = pip_of("pip install pandas boto3");
    assert_eq!(names(&install), ["pandas", "boto3"]);
    assert_eq!(install.launcher, Launcher::Path("pip".into()));
    assert!(!install.user);
    let install = pip_of("pip3 install --no-cache-dir --user 'dbt-core==1.8.2' \"x[a,b]>=1\"");
    assert_eq!(names(&install), ["dbt-core==1.8.2", "x[a,b]>=1"]);
    assert!(install.user);
    let install = pip_of("python -m pip install -q --no-cache-dir -r requirements-extra.txt");
    assert_eq!(install.launcher, Launcher::Path("python".into()));
    assert_eq!(install.files, ["requirements-extra.txt"]);
    let install = pip_of("python3.12 -m pip --no-cache-dir install --requirement=a.txt -rb.txt c");
    assert_eq!(install.files, ["a.txt", "b.txt"]);
    assert_eq!(names(&install), ["c"]);
    let install =
        pip_of("pip install --progress-bar off --root-user-action ignore apache-airflow[postgres]");
    assert_eq!(names(&install), ["apache-airflow[postgres]"]);
    // Line continuations, as the Dockerfile parser leaves them or joins them.
    let install = pip_of("pip install \\\n    pandas \\\n    boto3");
    assert_eq!(names(&install), ["pandas", "boto3"]);
}

#[test]
fn idioms_pip_exec_form() {
    let words: Vec<String> = ["pip", "install", "pandas"].map(String::from).into();
    let found = recognise(
        &RunText::Exec(&words),
        &IdiomContext {
            shell: &sh(),
            env: &env(),
            base_path: Some(PATH),
        },
    );
    assert!(matches!(found, Some(Idiom::Pip(_))));
}

#[test]
fn idioms_pip_refused() {
    for text in [
        "pip install",
        "pip install --no-cache-dir",
        "pip uninstall -y x",
        "pip install -e .",
        "pip install --editable ./pkg",
        "pip install --index-url http://127.0.0.1/simple x",
        "pip install -i http://127.0.0.1/simple x",
        "pip install --extra-index-url http://127.0.0.1/simple x",
        "pip install --find-links /wheels x",
        "pip install --no-index x",
        "pip install --pre x",
        "pip install --no-deps x",
        "pip install -U x",
        "pip install --upgrade pip",
        "pip install --target /opt/x x",
        "pip install --prefix /opt x",
        "pip install -c constraints.txt x",
        "pip install /tmp/provider-0.1-py3-none-any.whl",
        "pip install ./dist/x.whl",
        "pip install x@http://127.0.0.1/x.whl",
        "pip install 'x @ http://127.0.0.1/x.whl'",
        "pip install git+http://127.0.0.1/x.git",
        "pip install pandas==2.*",
        "pip install x?",
        "pip install x; echo done",
        "pip install x || true",
        "pip install x | tee log",
        "pip install x > log",
        "pip install x 2>&1",
        "pip install $PKG",
        "pip install \"${PKG}\"",
        "pip install $(cat list)",
        "pip install `cat list`",
        "pip install x && echo done",
        "pip install --upgrade pip && pip install x",
        "pip install -r ../outside.txt",
        "pip install -r",
        "pip install -r 'req*.txt'x*",
        "sudo pip install x",
        "/usr/bin/pip install x",
        "python -m pip",
        "python -c 'import x'",
        "python2 -m pip install x",
        "pip2 install x",
        "pipx install x",
        "FOO=1 pip install x",
        "pip install x # comment",
    ] {
        assert_eq!(shell_idiom(text), None, "{text:?}");
    }
}

#[test]
fn idioms_refused_in_an_environment_that_changes_pip() {
    let with = |name: &str, value: &str| {
        let mut env = env();
        env.push((name.into(), value.into()));
        recognise_with("pip install pandas", &env)
    };
    assert!(with("PIP_NO_CACHE_DIR", "1").is_some());
    assert!(with("DEBIAN_FRONTEND", "noninteractive").is_some());
    for (name, value) in [
        ("PIP_INDEX_URL", "http://127.0.0.1/simple"),
        ("PIP_USER", "1"),
        ("PIP_TARGET", "/opt"),
        ("VIRTUAL_ENV", "/opt/venv"),
        ("PYTHONUSERBASE", "/opt"),
        ("PYTHONPATH", "/opt"),
    ] {
        assert_eq!(with(name, value), None, "{name}");
    }
    // A `PATH` other than the base's may name another pip.
    let changed = [("PATH".to_string(), format!("/opt/venv/bin:{PATH}"))];
    assert_eq!(recognise_with("pip install pandas", &changed), None);
    // Another shell.
    let pwsh = vec!["pwsh".to_string(), "-c".to_string()];
    let found = recognise(
        &RunText::Shell("pip install pandas"),
        &IdiomContext {
            shell: &pwsh,
            env: &env(),
            base_path: Some(PATH),
        },
    );
    assert_eq!(found, None);
}

#[test]
fn idioms_venv_forms() {
    let venv = venv_of(
        "python -m venv dbt_venv && source dbt_venv/bin/activate && \\\n    pip install --no-cache-dir dbt-postgres==1.8.2 && deactivate",
    );
    assert_eq!(venv.dir, "dbt_venv");
    assert_eq!(venv.python, "python");
    assert_eq!(venv.tool, VenvTool::Venv);
    let install = venv.install.unwrap_or_else(|| panic!("no install"));
    assert_eq!(install.launcher, Launcher::Venv);
    assert_eq!(names(&install), ["dbt-postgres==1.8.2"]);

    let venv = venv_of("python3 -m venv /opt/venv/ && /opt/venv/bin/pip install -r req.txt");
    assert_eq!(venv.dir, "/opt/venv");
    assert_eq!(
        venv.install.map(|i| (i.launcher, i.files)),
        Some((Launcher::Venv, vec!["req.txt".to_string()]))
    );
    let venv = venv_of("python -m venv ./v && ./v/bin/python -m pip install x");
    assert!(venv.install.is_some());
    let venv = venv_of("python -m venv v && . ./v/bin/activate && python -m pip install x");
    assert!(venv.install.is_some());
    let venv = venv_of("python -m venv --system-site-packages v");
    assert!(venv.system_site_packages && venv.install.is_none());
    let venv = venv_of("python -m virtualenv v && v/bin/pip install x");
    assert_eq!(venv.tool, VenvTool::Virtualenv);
    let venv = venv_of("python -m venv --without-pip v");
    assert!(venv.without_pip);
}

#[test]
fn idioms_venv_refused() {
    for text in [
        "python -m venv",
        "python -m venv a b",
        "python -m venv --copies v",
        "python -m venv --upgrade-deps v",
        "python -m venv --prompt x v",
        "python -m venv ../v",
        "python -m venv v* && v/bin/pip install x",
        // pip outside the environment while it is not activated.
        "python -m venv v && pip install x",
        // Another environment's pip.
        "python -m venv v && w/bin/pip install x",
        "python -m venv v && source w/bin/activate && pip install x",
        // Two installs, or something after the install.
        "python -m venv v && v/bin/pip install x && v/bin/pip install y",
        "python -m venv v && v/bin/pip install x && echo done",
        "python -m venv v && v/bin/pip install x && deactivate",
        "python -m venv v && source v/bin/activate && pip install --user x",
        "python -m venv --without-pip v && v/bin/pip install x",
        "python -m venv v; source v/bin/activate; pip install x",
        "python -m virtualenv --without-pip v",
        "python -m venv v && source v/bin/activate && pip install x && deactivate && ls",
    ] {
        assert_eq!(shell_idiom(text), None, "{text:?}");
    }
}

fn apt_names(text: &str) -> Option<Vec<String>> {
    match shell_idiom(text)? {
        Idiom::Apt(install) => Some(install.packages.into_iter().map(|p| p.name).collect()),
        _ => None,
    }
}

#[test]
fn idioms_apt_forms() {
    assert_eq!(
        apt_names(
            "apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*"
        ),
        Some(vec!["libgomp1".to_string()])
    );
    assert_eq!(
        apt_names(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -yq install --no-install-recommends \\\n  jq git=1:2.39.5-0+deb12u1 && apt-get clean && rm -rf /var/lib/apt/lists/*"
        ),
        Some(vec!["jq".to_string(), "git".to_string()])
    );
    assert_eq!(
        apt_names("apt-get update && apt-get install --no-install-recommends --yes jq"),
        Some(vec!["jq".to_string()])
    );
}

#[test]
fn idioms_apt_refused() {
    for text in [
        // Recommends would be installed: airlock's resolver follows Depends only.
        "apt-get update && apt-get install -y jq",
        // No update first.
        "apt-get install -y --no-install-recommends jq",
        "apt-get update && apt-get install -y --no-install-recommends",
        "apt-get update && apt-get install -y --no-install-recommends -t bookworm-backports jq",
        "apt-get update && apt-get install -y --no-install-recommends ./local.deb",
        "apt-get update && apt-get install -y --no-install-recommends 'lib*'",
        "apt-get update && apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confold jq",
        "apt-get update && apt-get install -y --no-install-recommends jq && apt-get purge -y jq",
        "apt-get update && apt-get install -y --no-install-recommends jq && rm -rf /tmp/*",
        "apt-get update && apt-get install -y --no-install-recommends jq && apt-get autoremove -y",
        "apt-get update; apt-get install -y --no-install-recommends jq",
        "apt-get update && apt-get upgrade -y",
        "apt-get update && apt-get dist-upgrade -y --no-install-recommends jq",
        "apt update && apt install -y --no-install-recommends jq",
        "apt-get update && apt-get install -y --no-install-recommends $PKGS",
        "apt-get update && apt-get install -y --no-install-recommends jq > /dev/null",
        "FOO=bar apt-get update && apt-get install -y --no-install-recommends jq",
        "apt-get update && apt-get install -y --no-install-recommends jq && apt-get clean && apt-get clean",
    ] {
        assert_eq!(shell_idiom(text), None, "{text:?}");
    }
    let mut env = env();
    env.push(("APT_CONFIG".into(), "/etc/x.conf".into()));
    assert_eq!(
        recognise_with(
            "apt-get update && apt-get install -y --no-install-recommends jq",
            &env
        ),
        None
    );
}
