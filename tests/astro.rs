//! Astro fidelity, offline: a project made the way `astro dev init` makes one, on bases
//! made in code that carry the Runtime's ONBUILD triggers (the script form and the
//! inline form), built the way the Runtime's triggers would build it. Indexes are
//! simple-API servers on 127.0.0.1.

use crate::support;

use std::path::PathBuf;
use std::process::Output;

use support::pyindex::{Form, PyIndex, Served, WheelSpec};
use support::{
    ASTRO_INLINE_TRIGGERS, ASTRO_TRIGGERS, BaseSpec, airlock, stderr, stdout, write_base,
};

const DPKG_STATUS: &str = "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u4\n";
const SITE: &str = "usr/local/lib/python3.12/site-packages";

/// A template-shaped project (no `airlock.toml`) on a generated base.
struct Astro {
    dir: tempfile::TempDir,
    project: PathBuf,
    cache: PathBuf,
    layout: PathBuf,
    /// The environment airlock runs with (nothing else from the host).
    env: Vec<(String, String)>,
}

/// Trigger forms, by name.
fn forms() -> [(&'static str, Vec<String>); 2] {
    let owned = |t: &[&str]| t.iter().map(|s| s.to_string()).collect();
    [
        ("script", owned(&ASTRO_TRIGGERS)),
        ("inline", owned(&ASTRO_INLINE_TRIGGERS)),
    ]
}

impl Astro {
    fn new(onbuild: Vec<String>, extra_files: &[(&str, &str)], extra_env: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = dir.path().join("project");
        support::astro::write_template(&project, "example/astro-runtime:3.0-1");
        let layout = dir.path().join("base");
        let mut files = vec![("var/lib/dpkg/status".to_string(), DPKG_STATUS.to_string())];
        files.extend(
            extra_files
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string())),
        );
        write_base(
            &layout,
            &BaseSpec {
                onbuild,
                extra_files: files,
                extra_env: extra_env.iter().map(|s| s.to_string()).collect(),
                ..BaseSpec::default()
            },
        );
        Self {
            cache: dir.path().join("cache"),
            dir,
            project,
            layout,
            // No host pip configuration either: the base must be the one to say.
            env: vec![("PIP_CONFIG_FILE".into(), "/dev/null".into())],
        }
    }

    fn requirements(&self, text: &str) {
        std::fs::write(self.project.join("requirements.txt"), text).expect("write");
    }

    fn run(&self, command: &str, extra: &[&str]) -> Output {
        let project = self.project.to_string_lossy().into_owned();
        let cache = self.cache.to_string_lossy().into_owned();
        let layout = self.layout.to_string_lossy().into_owned();
        let mut args = vec![
            command,
            project.as_str(),
            "--base-layout",
            layout.as_str(),
            "--cache-dir",
            cache.as_str(),
        ];
        args.extend_from_slice(extra);
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        airlock(&args, self.dir.path(), &env)
    }

    fn lock(&self) -> toml::Value {
        let text = std::fs::read_to_string(self.project.join("airlock.lock")).unwrap_or_default();
        toml::from_str(&text).expect("lock parses")
    }

    fn locked_indexes(&self) -> Vec<String> {
        self.lock()["python"]["indexes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| v.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn index() -> PyIndex {
    PyIndex::start(
        vec![Served::wheel(&WheelSpec::pure("alpha", "1.0"))],
        Form::Json,
        None,
    )
}

fn succeeds(output: &Output) {
    assert!(
        output.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

#[test]
fn astro_3_runtime_guard_refuses_airflow_pins_in_both_forms() {
    for (form, triggers) in forms() {
        let astro = Astro::new(triggers, &[], &[]);
        for line in [
            "apache-airflow==2.10.5",
            "apache-airflow>=2.9",
            "apache-airflow~=2.10",
            "apache-airflow==2.9.0",
            "apache-airflow ==3.0.2",
        ] {
            astro.requirements(&format!("# pinned by the team\n{line}\n"));
            for command in ["build", "lock"] {
                let output = astro.run(command, &[]);
                let err = stderr(&output);
                assert_eq!(
                    output.status.code(),
                    Some(1),
                    "{form} {command} {line}: {err}"
                );
                assert!(
                    err.contains("requirements.txt:2:") && err.contains(&format!("`{line}`")),
                    "{form} {command}: the file, the line and its text: {err}"
                );
                assert!(
                    err.contains("`FROM` tag"),
                    "{form} {command}: the fix: {err}"
                );
                assert!(!astro.project.join("airlock.lock").exists());
            }
        }
        // Lines the Runtime's rule lets through are not refused by it (they go on to
        // the resolver, which here has no index to ask).
        for line in [
            "apache-airflow-providers-http==4.0",
            "apache-airflow[celery]==3.0.2",
            "  apache-airflow==3.0.2",
            "apache-airflow<3",
        ] {
            astro.requirements(&format!("{line}\n"));
            let err = stderr(&astro.run("lock", &[]));
            assert!(!err.contains("pins Airflow"), "{form} {line}: {err}");
        }
    }
    // Without the triggers there is no such rule: the base-upgrade check answers.
    let plain = Astro::new(Vec::new(), &[], &[]);
    plain.requirements("apache-airflow==2.10.5\n");
    let err = stderr(&plain.run("lock", &[]));
    assert!(!err.contains("pins Airflow"), "{err}");
}

#[test]
fn astro_10_both_trigger_forms_build_the_template() {
    let index = index();
    for (form, triggers) in forms() {
        let mut astro = Astro::new(triggers, &[], &[]);
        astro.env.push(("PIP_INDEX_URL".into(), index.url()));
        astro.requirements("alpha\n");
        let output = astro.run("build", &["--json"]);
        succeeds(&output);
        let result: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("json");
        let kinds: Vec<&str> = result["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| l["kind"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            kinds,
            ["base", "base", "base", "python", "project", "dags"],
            "{form}"
        );
        // The project files land as `COPY --chown=astro:0 . .` puts them.
        let project_layer = result["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .find(|l| l["kind"] == "project")
            .expect("project layer");
        let hex = project_layer["digest"]
            .as_str()
            .expect("digest")
            .trim_start_matches("sha256:")
            .to_string();
        let blob = astro.project.join(".airlock/oci/blobs/sha256").join(hex);
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
            std::fs::File::open(blob).expect("layer"),
        ));
        let mut owners = Vec::new();
        for entry in archive.entries().expect("entries") {
            let entry = entry.expect("entry");
            let path = entry.path().expect("path").to_string_lossy().into_owned();
            if path.ends_with("requirements.txt") {
                owners.push((
                    path,
                    entry.header().uid().expect("uid"),
                    entry.header().gid().expect("gid"),
                ));
            }
        }
        assert_eq!(
            owners,
            [(
                "usr/local/airflow/requirements.txt".to_string(),
                u64::from(support::ASTRO_UID),
                0
            )],
            "{form}"
        );
    }
}

/// `index.py` of a pip distribution whose built-in default index is `url` (the
/// module's shape, not its code: a class whose `simple_url` joins "simple" onto it).
fn fake_pip_index_module(url: &str) -> String {
    format!(
        "import urllib.parse\n\n\nclass PackageIndex:\n    def __init__(self, url: str, file_storage_domain: str) -> None:\n        self.url = url\n        self.simple_url = self._url_for_path(\"simple\")\n\n    def _url_for_path(self, path: str) -> str:\n        return urllib.parse.urljoin(self.url, path)\n\n\nPyPI = PackageIndex(\n    \"{url}\", file_storage_domain=\"127.0.0.1\"\n)\nTestPyPI = PackageIndex(\"http://127.0.0.1:9/\", file_storage_domain=\"127.0.0.1\")\n"
    )
}

fn pip_distribution(url: &str) -> Vec<(String, String)> {
    vec![
        (
            format!("{SITE}/pip-24.0.dist-info/METADATA"),
            "Metadata-Version: 2.1\nName: pip\nVersion: 24.0\n\n".into(),
        ),
        (
            format!("{SITE}/pip-24.0.dist-info/RECORD"),
            "pip/__init__.py,,\npip/_internal/models/index.py,,\npip-24.0.dist-info/METADATA,,\n"
                .into(),
        ),
        (format!("{SITE}/pip/__init__.py"), String::new()),
        (
            format!("{SITE}/pip/_internal/models/index.py"),
            fake_pip_index_module(url),
        ),
    ]
}

/// A base for the index test: its name, extra files, extra config `Env`, and the
/// index the lock must name.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>, String);

#[test]
fn astro_9_index_from_the_base_image() {
    let index = index();
    let root = index.url().trim_end_matches("simple/").to_string();
    let dead = "http://127.0.0.1:9/simple/";
    let pip_conf = format!("[global]\nindex-url = {}\n", index.url());
    let pip_files = pip_distribution(&root);
    let pip_files: Vec<(&str, &str)> = pip_files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let env_var = format!("PIP_INDEX_URL={}", index.url());
    let cases: Vec<Case> = vec![
        ("image config", vec![], vec![env_var.as_str()], index.url()),
        (
            "/etc/pip.conf",
            vec![("etc/pip.conf", pip_conf.as_str())],
            vec![],
            index.url(),
        ),
        (
            "/etc/xdg/pip/pip.conf",
            vec![("etc/xdg/pip/pip.conf", pip_conf.as_str())],
            vec![],
            index.url(),
        ),
        (
            "pip's built-in default",
            pip_files.clone(),
            vec![],
            format!("{root}simple"),
        ),
    ];
    for (form, triggers) in forms() {
        for (case, files, env, expected) in &cases {
            let astro = Astro::new(triggers.clone(), files, env);
            astro.requirements("alpha\n");
            let output = astro.run("build", &[]);
            succeeds(&output);
            assert_eq!(
                astro.locked_indexes(),
                [expected.as_str()],
                "{form}: {case}"
            );
        }
    }

    // The configuration of the base image's own pip comes after everything the user
    // says: the image config's variable beats its pip.conf, which beats pip's default.
    let dead_conf = format!("[global]\nindex-url = {dead}\n");
    let mut files = vec![("etc/pip.conf", dead_conf.as_str())];
    files.extend(pip_files.iter().copied());
    let layered = Astro::new(
        ASTRO_TRIGGERS.iter().map(|s| s.to_string()).collect(),
        &files,
        &[env_var.as_str()],
    );
    layered.requirements("alpha\n");
    succeeds(&layered.run("build", &[]));
    assert_eq!(layered.locked_indexes(), [index.url()]);
    let dead_var = format!("PIP_INDEX_URL={dead}");
    let mut user_wins = Astro::new(Vec::new(), &pip_files, &[dead_var.as_str()]);
    user_wins.requirements("alpha\n");
    user_wins.env.push(("PIP_INDEX_URL".into(), index.url()));
    succeeds(&user_wins.run("build", &[]));
    assert_eq!(user_wins.locked_indexes(), [index.url()]);

    // A base that says nothing and no configuration: the error names the ways.
    let none = Astro::new(Vec::new(), &[], &[]);
    none.requirements("alpha\n");
    let output = none.run("lock", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("No Python package index is configured"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn astro_9_offline_never_needs_an_index() {
    let index = index();
    let mut astro = Astro::new(Vec::new(), &[], &[]);
    astro.requirements("alpha\n");
    astro.env.push(("PIP_INDEX_URL".into(), index.url()));
    succeeds(&astro.run("build", &[]));
    drop(index);
    astro.env.retain(|(k, _)| k != "PIP_INDEX_URL");
    for args in [&["--offline"][..], &["--frozen"][..]] {
        let output = astro.run("build", args);
        succeeds(&output);
    }
}
