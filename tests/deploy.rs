//! Deploys end to end against a real registry on loopback: image and DAG deploys,
//! the deployment record, DAG-only transitions, prebuilt images, `dags sync`, and
//! the failure cases (unknown deployment, refused push, tampered or unsafe bundle,
//! racing deploys).

use crate::support;

use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::proxy::{Fault, Proxy, Rule};
use support::registry::Registry;
use support::{BaseSpec, Sandbox, stderr, stdout, write_base};

/// A quickstart project whose `dev` deployment lives at `registry/team/airflow`, with
/// its `airlock.lock` made (a deploy uses the lock as it is).
fn project(registry: &str) -> Sandbox {
    let sandbox = Sandbox::quickstart();
    write_settings(&sandbox, registry, "");
    ok(run_in(&sandbox, &["lock"], ""));
    sandbox
}

/// Runs `git` in the project as a fixed author; the command must succeed.
fn git(sandbox: &Sandbox, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(&sandbox.project)
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.invalid")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.invalid")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git");
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

/// The project as one commit on `main`.
fn commit_all(sandbox: &Sandbox, message: &str) {
    if !sandbox.project.join(".git").exists() {
        git(sandbox, &["init", "-q", "-b", "main"]);
    }
    git(sandbox, &["add", "-A"]);
    git(sandbox, &["commit", "-q", "-m", message]);
}

fn write_settings(sandbox: &Sandbox, registry: &str, extra: &str) {
    fs::write(
        sandbox.project.join("airlock.toml"),
        format!(
            "[base.layouts]\n\"astro-runtime\" = \"{}\"\n\n[dags]\nignore-syntax = \"glob\"\n\n[deployments.dev]\nimage = \"{registry}/team/airflow\"\n{extra}",
            sandbox.base_layout.display()
        ),
    )
    .expect("write airlock.toml");
}

/// Runs airlock in the project with the sandbox's cache, `stdin` fed to it.
fn run_in(sandbox: &Sandbox, args: &[&str], stdin: &str) -> Output {
    run_with_cache(sandbox, &sandbox.cache, args, stdin)
}

fn run_with_cache(sandbox: &Sandbox, cache: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .arg("--cache-dir")
        .arg(cache)
        .current_dir(&sandbox.project)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("HOME", sandbox.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run airlock");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait")
}

/// Runs airlock from `cwd` (not the project) with the sandbox's cache.
fn run_with_cwd(sandbox: &Sandbox, cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .arg("--cache-dir")
        .arg(&sandbox.cache)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("HOME", sandbox.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run airlock")
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

fn fails(output: Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&output),
        stderr(&output)
    );
    stderr(&output)
}

fn inspect(sandbox: &Sandbox) -> Value {
    serde_json::from_str(&ok(run_in(
        sandbox,
        &["deployment", "inspect", "dev", "--json"],
        "",
    )))
    .expect("json")
}

/// Every regular file below `dir` (following the top symlink), relative, with content.
fn files_below(dir: &Path) -> Vec<(String, String)> {
    fn visit(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        let mut names: Vec<_> = fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .collect();
        names.sort();
        for path in names {
            if path.is_dir() {
                visit(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("prefix");
                out.push((
                    rel.to_string_lossy().into_owned(),
                    fs::read_to_string(&path).expect("read"),
                ));
            }
        }
    }
    let mut out = Vec::new();
    visit(dir, dir, &mut out);
    out
}

fn sync(sandbox: &Sandbox, dest: &Path, cache: &Path) -> Output {
    run_with_cache(
        sandbox,
        cache,
        &[
            "dags",
            "sync",
            "dev",
            "--once",
            "--dest",
            &dest.to_string_lossy(),
        ],
        "",
    )
}

#[test]
fn deploy_change_a_dag_deploy_dags_inspect_and_sync() {
    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    let printed = ok(run_in(&sandbox, &["deploy", "dev"], ""));
    assert!(
        printed.contains("Deployed the image and the DAGs to `dev`"),
        "{printed}"
    );
    assert!(printed.contains("Docker Image:"), "{printed}");
    assert!(printed.contains("DAG Bundle Version:"), "{printed}");
    let first = inspect(&sandbox);
    let image = first["record"]["image"].clone();
    assert_eq!(image["includes_dags"], false);
    assert!(image["tag"].as_str().expect("tag").starts_with("deploy-"));
    let first_version = first["record"]["dag_bundle"]["version"].clone();

    // The Airflow side takes the first bundle; a reader holds it open.
    let airflow = tempfile::tempdir().expect("tempdir");
    let dest = airflow.path().join("dags");
    let sync_cache = airflow.path().join("cache");
    ok(sync(&sandbox, &dest, &sync_cache));
    let old_files = files_below(&dest);
    let names: Vec<&str> = old_files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [".airflowignore", "daily_report.py", "example_dag.py"],
        "scratch/ is airflowignored"
    );
    let held_dir = fs::File::open(&dest).expect("open the DAG folder");
    let mut held_file = fs::File::open(dest.join("example_dag.py")).expect("open a DAG");
    let old_example = fs::read_to_string(dest.join("example_dag.py")).expect("read");

    // Change one DAG, add one, deploy the DAGs only.
    let example = sandbox.project.join("dags/example_dag.py");
    let new_example = format!(
        "{}\n# changed\n",
        fs::read_to_string(&example).expect("read")
    );
    fs::write(&example, &new_example).expect("write");
    fs::write(
        sandbox.project.join("dags/added.py"),
        "import datetime\nprint(datetime.date.today())\n",
    )
    .expect("write");
    fs::create_dir_all(sandbox.project.join("dags/__pycache__")).expect("mkdir");
    fs::write(sandbox.project.join("dags/__pycache__/x.pyc"), "junk").expect("write");
    let printed = ok(run_in(&sandbox, &["deploy", "dev", "--dags"], ""));
    assert!(printed.contains("Deployed the DAGs to `dev`"), "{printed}");

    let second = inspect(&sandbox);
    assert_eq!(second["record"]["image"], image, "the image stays");
    assert_ne!(second["record"]["dag_bundle"]["version"], first_version);
    assert_eq!(second["record"]["action"], "deploy-dags");
    assert_eq!(second["record"]["parent"], first["record_digest"]);
    let text = ok(run_in(&sandbox, &["deployment", "inspect", "dev"], ""));
    let version = second["record"]["dag_bundle"]["version"]
        .as_str()
        .expect("v");
    assert!(
        text.contains(&format!("DAG Bundle Version: {version}")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "Docker Image:       {}",
            image["repository"].as_str().expect("repo")
        )),
        "{text}"
    );

    // Unchanged DAGs: a no-op that says so, and no new record.
    let printed = ok(run_in(&sandbox, &["deploy", "dev", "--dags"], ""));
    assert!(printed.contains("unchanged"), "{printed}");
    assert_eq!(inspect(&sandbox)["record_digest"], second["record_digest"]);

    // The switch: exactly the new files; the held reader still sees the old ones.
    ok(sync(&sandbox, &dest, &sync_cache));
    let new_files = files_below(&dest);
    let names: Vec<&str> = new_files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            ".airflowignore",
            "added.py",
            "daily_report.py",
            "example_dag.py"
        ],
        "no __pycache__"
    );
    assert_eq!(
        fs::read_to_string(dest.join("example_dag.py")).expect("read"),
        new_example
    );
    let mut through_held = String::new();
    held_file
        .read_to_string(&mut through_held)
        .expect("read the held file");
    assert_eq!(through_held, old_example);
    let held_path = PathBuf::from(format!("/proc/self/fd/{}", {
        use std::os::fd::AsRawFd as _;
        held_dir.as_raw_fd()
    }));
    assert_eq!(
        files_below(&held_path),
        old_files,
        "the old version is intact"
    );
    assert!(
        fs::symlink_metadata(&dest)
            .expect("meta")
            .file_type()
            .is_symlink()
    );
    let again = stderr(&sync(&sandbox, &dest, &sync_cache));
    assert!(again.contains("already holds"), "{again}");

    let history = ok(run_in(&sandbox, &["deployment", "history", "dev"], ""));
    assert_eq!(history.lines().count(), 2, "{history}");
    assert!(
        history
            .lines()
            .next()
            .expect("line")
            .contains("deploy-dags")
    );
}

#[test]
fn dag_deploy_enable_disable_enable() {
    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    ok(run_in(&sandbox, &["deploy"], ""));
    let err = stderr(&run_in(
        &sandbox,
        &["deployment", "update", "dev", "--dag-deploy", "enable"],
        "",
    ));
    assert!(err.contains("already enabled"), "{err}");

    let before = inspect(&sandbox)["record_digest"].clone();
    let output = run_in(
        &sandbox,
        &["deployment", "update", "dev", "--dag-deploy", "disable"],
        "n\n",
    );
    let err = stderr(&output);
    ok(output);
    assert!(err.contains("Disable DAG-only deploys? [y/N]"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(inspect(&sandbox)["record_digest"], before);

    let output = run_in(
        &sandbox,
        &["deployment", "update", "dev", "--dag-deploy", "disable"],
        "y\n",
    );
    let err = stderr(&output);
    ok(output);
    assert!(err.contains("next image deploy"), "{err}");
    assert_eq!(inspect(&sandbox)["record"]["dag_deploy_enabled"], false);

    let err = fails(run_in(&sandbox, &["deploy", "--dags"], ""));
    assert!(
        err.contains("run `airlock deployment update dev --dag-deploy enable` first"),
        "{err}"
    );

    ok(run_in(&sandbox, &["deploy"], ""));
    let record = inspect(&sandbox)["record"].clone();
    assert_eq!(record["image"]["includes_dags"], true);
    assert_eq!(record["dag_bundle"], Value::Null);

    let output = run_in(
        &sandbox,
        &["deployment", "update", "dev", "--dag-deploy", "enable"],
        "",
    );
    let err = stderr(&output);
    ok(output);
    assert!(
        err.contains("after the next `airlock deploy dev --dags`"),
        "{err}"
    );
    let printed = ok(run_in(&sandbox, &["deploy", "--dags"], ""));
    assert!(printed.contains("Deployed the DAGs"), "{printed}");
    let record = inspect(&sandbox)["record"].clone();
    assert!(record["dag_bundle"]["digest"].is_string());
    assert_eq!(record["image"]["includes_dags"], true, "image unchanged");
}

#[test]
fn prebuilt_images_amd64_only_and_no_downgrade() {
    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    let images = sandbox.dir.path().join("images");
    let amd64 = write_base(&images, &BaseSpec::default());
    let spec = format!("oci:{}:3.0-1", images.display());
    ok(run_in(&sandbox, &["deploy", "--image-name", &spec], ""));
    let record = inspect(&sandbox)["record"].clone();
    assert_eq!(record["image"]["digest"], amd64.to_string());
    assert_eq!(record["image"]["runtime_version"], "3.0-1");

    // From a registry reference too.
    let source = format!("{}/prebuilt/app:1", registry.address());
    ok(run_in(&sandbox, &["push", &source, "--from", &spec], ""));
    ok(run_in(
        &sandbox,
        &["deploy", "--image", "--image-name", &source],
        "",
    ));
    assert_eq!(
        inspect(&sandbox)["record"]["image"]["digest"],
        amd64.to_string()
    );

    let arm = write_base(
        &images,
        &BaseSpec {
            tag: "arm".into(),
            arch: "arm64".into(),
            ..BaseSpec::default()
        },
    );
    let err = fails(run_in(
        &sandbox,
        &[
            "deploy",
            "--image-name",
            &format!("oci:{}:arm", images.display()),
        ],
        "",
    ));
    assert!(err.contains("linux/arm64"), "{err}");
    assert!(err.contains("linux/amd64 images only"), "{err}");
    assert_ne!(
        inspect(&sandbox)["record"]["image"]["digest"],
        arm.to_string()
    );

    write_base(
        &images,
        &BaseSpec {
            tag: "old".into(),
            runtime_version: "2.9-1".into(),
            ..BaseSpec::default()
        },
    );
    let old = format!("oci:{}:old", images.display());
    let err = fails(run_in(&sandbox, &["deploy", "--image-name", &old], ""));
    assert!(err.contains("downgrading is refused"), "{err}");
}

/// Issue 12, item 5: `--force` does not override the Runtime version check (as the
/// Astro CLI's `-f` does not); a rollback needs `--allow-runtime-downgrade`.
#[test]
fn item5_force_does_not_override_a_runtime_downgrade() {
    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    let images = sandbox.dir.path().join("images");
    write_base(&images, &BaseSpec::default());
    write_base(
        &images,
        &BaseSpec {
            tag: "old".into(),
            runtime_version: "2.9-1".into(),
            ..BaseSpec::default()
        },
    );
    let current = format!("oci:{}:3.0-1", images.display());
    let old = format!("oci:{}:old", images.display());
    ok(run_in(&sandbox, &["deploy", "--image-name", &current], ""));
    let before = inspect(&sandbox)["record_digest"].clone();

    let err = fails(run_in(
        &sandbox,
        &["deploy", "--image-name", &old, "--force"],
        "",
    ));
    assert!(err.contains("downgrading is refused"), "{err}");
    assert!(err.contains("--allow-runtime-downgrade"), "{err}");
    assert!(!err.contains("`--force`"), "--force is not the way: {err}");
    assert_eq!(inspect(&sandbox)["record_digest"], before);

    ok(run_in(
        &sandbox,
        &["deploy", "--image-name", &old, "--allow-runtime-downgrade"],
        "",
    ));
    assert_eq!(
        inspect(&sandbox)["record"]["image"]["runtime_version"],
        "2.9-1"
    );
}

/// Issue 12, item 4: an image without the Runtime label (the default one or the
/// deployment's own) is refused, even with `--force`, unless the deployment says in
/// `airlock.toml` that it runs non-Runtime images.
#[test]
fn item4_images_that_are_not_runtime_images_are_refused() {
    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    let images = sandbox.dir.path().join("images");
    write_base(&images, &BaseSpec::default());
    let plain = write_base(
        &images,
        &BaseSpec {
            tag: "plain".into(),
            runtime_version: String::new(),
            ..BaseSpec::default()
        },
    );
    let plain_spec = format!("oci:{}:plain", images.display());
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec!["deploy", "--image-name", &plain_spec];
        args.extend_from_slice(extra);
        let err = fails(run_in(&sandbox, &args, ""));
        assert!(err.contains("not an Astro Runtime image"), "{err}");
        assert!(
            err.contains("`io.astronomer.docker.runtime.version`"),
            "{err}"
        );
        assert!(err.contains("allow-non-runtime-images = true"), "{err}");
    }
    let err = fails(run_in(&sandbox, &["deployment", "inspect", "dev"], ""));
    assert!(err.contains("has no record yet"), "nothing deployed: {err}");

    // The deployment's own label is the one that counts.
    write_settings(
        &sandbox,
        &registry.address(),
        "runtime-label = \"com.example.runtime\"\n",
    );
    let runtime_spec = format!("oci:{}:3.0-1", images.display());
    let err = fails(run_in(
        &sandbox,
        &["deploy", "--image-name", &runtime_spec],
        "",
    ));
    assert!(err.contains("`com.example.runtime`"), "{err}");

    // Said on purpose, in the deployment's settings: deployed, version unknown.
    write_settings(
        &sandbox,
        &registry.address(),
        "allow-non-runtime-images = true\n",
    );
    let printed = ok(run_in(
        &sandbox,
        &["deploy", "--image-name", &plain_spec],
        "",
    ));
    assert!(printed.contains("Runtime Version:    unknown"), "{printed}");
    let record = inspect(&sandbox)["record"].clone();
    assert_eq!(record["image"]["digest"], plain.to_string());
    assert_eq!(record["image"]["runtime_version"], Value::Null);
}

#[test]
fn unknown_deployment_and_unnamed_choice_fail_clearly() {
    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    let err = fails(run_in(&sandbox, &["deploy", "prod"], ""));
    assert!(err.contains("Unknown deployment `prod`"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    write_settings(
        &sandbox,
        &registry.address(),
        &format!(
            "\n[deployments.prod]\nimage = \"{}/team/prod\"\n",
            registry.address()
        ),
    );
    let err = fails(run_in(&sandbox, &["deploy"], ""));
    assert!(
        err.contains("Several deployments are defined (`dev`, `prod`)"),
        "{err}"
    );
    // `--prompt` asks, and standard input answers.
    let output = run_in(&sandbox, &["deploy", "--prompt", "--dags"], "2\n");
    let err = stderr(&output);
    ok(output);
    assert!(err.contains("Which deployment? [1-2]"), "{err}");
    let err = fails(run_in(&sandbox, &["deployment", "inspect", "dev"], ""));
    assert!(err.contains("has no record yet"), "{err}");
}

#[test]
fn a_push_refused_halfway_leaves_the_record_unchanged() {
    let registry = Registry::plain();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let proxy = runtime.block_on(Proxy::start(registry.port));
    let sandbox = project(&proxy.address());
    ok(run_in(&sandbox, &["deploy"], ""));
    let before = inspect(&sandbox);

    fs::write(
        sandbox.project.join("include/new.txt"),
        "changes the image\n",
    )
    .expect("write");
    proxy.add(
        Rule::new(
            "PUT",
            "/blobs/uploads/",
            Fault::Status {
                code: 403,
                retry_after: None,
            },
        )
        .skip(1)
        .times(1000),
    );
    let err = fails(run_in(&sandbox, &["deploy"], ""));
    assert!(err.contains("Cannot deploy to `dev`"), "{err}");
    assert!(
        proxy.requests().iter().any(|r| r.faulted),
        "the fault fired"
    );
    assert_eq!(
        inspect(&sandbox),
        before,
        "the record still names the old image"
    );
}

/// The path of a blob in the registry's filesystem storage.
fn stored_blob(registry: &Registry, digest: &str) -> PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    registry
        .dir
        .path()
        .join("data/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

#[test]
fn a_tampered_bundle_is_refused_and_the_dags_stay() {
    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    ok(run_in(&sandbox, &["deploy"], ""));
    let airflow = tempfile::tempdir().expect("tempdir");
    let dest = airflow.path().join("dags");
    ok(sync(&sandbox, &dest, &airflow.path().join("cache")));
    let before = files_below(&dest);

    fs::write(sandbox.project.join("dags/extra.py"), "x = 1\n").expect("write");
    ok(run_in(&sandbox, &["deploy", "--dags"], ""));
    let blob = inspect(&sandbox)["record"]["dag_bundle"]["blob"]
        .as_str()
        .expect("blob")
        .to_string();
    let path = stored_blob(&registry, &blob);
    let mut bytes = fs::read(&path).expect("stored bundle");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&path, bytes).expect("tamper");

    let err = fails(sync(&sandbox, &dest, &airflow.path().join("cache")));
    assert!(err.contains("Digest mismatch"), "{err}");
    assert!(err.contains("is unchanged"), "{err}");
    assert_eq!(files_below(&dest), before);
}

#[test]
fn a_bundle_entry_with_dotdot_is_refused() {
    use airlock::deploy::{
        Action, BundleRef, Deployment, DeploymentRemote, RECORD_TAG, Record, StoredRecord,
    };
    use airlock::digest::Digest;
    use airlock::store::Store;

    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    let store = Store::open(sandbox.dir.path().join("crafted")).expect("store");
    let deployment = Deployment::from_settings(
        "dev",
        &airlock::project::settings::DeploymentSettings {
            image: format!("{}/team/airflow", registry.address()),
            ..Default::default()
        },
    )
    .expect("deployment");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let remote = DeploymentRemote::new(
        deployment,
        &Default::default(),
        store.clone(),
        runtime.handle().clone(),
    )
    .expect("remote");

    // A tar.gz whose one entry is `../evil.py`, written raw.
    let mut tar = Vec::new();
    {
        let mut builder = tar::Builder::new(&mut tar);
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..11].copy_from_slice(b"../evil.py\0");
        header.set_size(2);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append(&header, &b"x\n"[..]).expect("append");
        builder.finish().expect("finish");
    }
    let blob_bytes = airlock::layer::gzip_member(&tar);
    let blob = store.put_bytes(&blob_bytes).expect("blob");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": airlock::deploy::BUNDLE_ARTIFACT_TYPE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": Digest::of(b"{}").to_string(), "size": 2},
        "layers": [{"mediaType": airlock::deploy::BUNDLE_MEDIA_TYPE, "digest": blob.to_string(), "size": blob_bytes.len()}],
    }))
    .expect("json");
    let bundle = airlock::deploy::Bundle {
        digest: Digest::of(&manifest),
        manifest,
        blob: blob.clone(),
        size: blob_bytes.len() as u64,
        files: 1,
    };
    remote.push_bundle(&bundle, "evil").expect("push bundle");
    let record = Record {
        schema_version: 1,
        deployment: "dev".into(),
        image: None,
        dag_bundle: Some(BundleRef {
            repository: format!("{}/team/airflow", registry.address()),
            digest: bundle.digest.clone(),
            version: "20250101T000000.000Z".into(),
            blob,
            size: bundle.size,
        }),
        dag_deploy_enabled: true,
        action: Action::DeployDags,
        description: None,
        deployed_at: "2025-01-01T00:00:00.000Z".into(),
        git: None,
        parent: None,
    };
    remote.write_record(&record, None, "evil").expect("record");
    let _: Option<StoredRecord> = remote.read_record().expect("read");
    assert!(RECORD_TAG.starts_with("deployment"));

    let airflow = tempfile::tempdir().expect("tempdir");
    let dest = airflow.path().join("area/dags");
    fs::create_dir_all(airflow.path().join("area")).expect("mkdir");
    let err = fails(sync(&sandbox, &dest, &airflow.path().join("cache")));
    assert!(err.contains("Refused bundle entry `../evil.py`"), "{err}");
    assert!(!airflow.path().join("area/evil.py").exists());
    assert!(!airflow.path().join("evil.py").exists());
    assert!(!dest.exists(), "nothing was switched");
}

#[test]
fn racing_deploys_fail_the_loser() {
    use airlock::deploy::{Deployment, DeploymentRemote};
    use airlock::store::Store;

    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    ok(run_in(&sandbox, &["deploy"], ""));
    let deployment = Deployment::from_settings(
        "dev",
        &airlock::project::settings::DeploymentSettings {
            image: format!("{}/team/airflow", registry.address()),
            ..Default::default()
        },
    )
    .expect("deployment");
    let store = Store::open(sandbox.dir.path().join("other")).expect("store");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let remote = DeploymentRemote::new(
        deployment,
        &Default::default(),
        store,
        runtime.handle().clone(),
    )
    .expect("remote");
    // This "deploy" starts from the current record...
    let started_from = remote.read_record().expect("read").expect("a record");
    // ...while another one finishes first.
    ok(run_in(
        &sandbox,
        &[
            "deployment",
            "update",
            "dev",
            "--dag-deploy",
            "disable",
            "--force",
        ],
        "",
    ));
    let winner = inspect(&sandbox)["record_digest"].clone();
    let mut mine = started_from.record.clone();
    mine.description = Some("the loser".into());
    mine.parent = Some(started_from.digest.clone());
    let err = remote
        .write_record(&mine, Some(&started_from.digest), "loser")
        .expect_err("the loser fails");
    let text = err.to_string();
    assert!(
        text.contains("Another deploy to `dev` finished first"),
        "{text}"
    );
    assert_eq!(
        inspect(&sandbox)["record_digest"],
        winner,
        "the winner stays"
    );
}

/// Issue 12, item 6: uncommitted changes stop a deploy, as they stop `astro deploy`;
/// `--force` deploys them and the record says `dirty`.
#[test]
fn item6_uncommitted_changes_stop_a_deploy_unless_forced() {
    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    commit_all(&sandbox, "First DAGs");
    git(
        &sandbox,
        &[
            "remote",
            "add",
            "origin",
            "https://user:secret@git.example.invalid/team/p.git",
        ],
    );
    fs::write(sandbox.project.join("dags/wip.py"), "y = 2\n").expect("write");
    for args in [&["deploy"][..], &["deploy", "--dags"][..]] {
        let err = fails(run_in(&sandbox, args, ""));
        assert!(err.contains("uncommitted changes"), "{err}");
        assert!(err.contains("dags/wip.py"), "{err}");
        assert!(err.contains("airlock deploy dev --force"), "{err}");
    }
    let err = fails(run_in(&sandbox, &["deployment", "inspect", "dev"], ""));
    assert!(err.contains("has no record yet"), "nothing deployed: {err}");

    let output = run_in(&sandbox, &["deploy", "--force"], "");
    let err = stderr(&output);
    ok(output);
    assert!(err.contains("uncommitted changes"), "{err}");
    let record = inspect(&sandbox)["record"].clone();
    assert_eq!(record["git"]["dirty"], true);
    assert_eq!(record["git"]["branch"], "main");
    assert_eq!(record["git"]["author"], "Dev <dev@example.invalid>");
    assert_eq!(record["description"], "First DAGs");
    assert_eq!(
        record["git"]["remote"],
        "https://git.example.invalid/team/p.git"
    );

    // Committed: deployed without `--force`, and the record is clean.
    commit_all(&sandbox, "WIP done");
    ok(run_in(&sandbox, &["deploy", "--description", "hotfix"], ""));
    let record = inspect(&sandbox)["record"].clone();
    assert_eq!(record["description"], "hotfix");
    assert_eq!(record["git"]["dirty"], false);
}

/// Issue 12, item 7: a deploy is a release. It uses the committed `airlock.lock` as it
/// is, never rewrites it, never leaves the tree dirty (`.airlock/` ignores itself), and
/// names `airlock lock` and the file to commit when the lock is stale.
#[test]
fn item7_deploy_uses_the_committed_lock_and_leaves_the_tree_clean() {
    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    commit_all(&sandbox, "First DAGs");
    ok(run_in(&sandbox, &["deploy"], ""));
    assert_eq!(git(&sandbox, &["status", "--porcelain"]), "", "clean");
    let before = inspect(&sandbox)["record_digest"].clone();
    let lock = fs::read_to_string(sandbox.project.join("airlock.lock")).expect("lock");

    let requirements = sandbox.project.join("requirements.txt");
    let text = fs::read_to_string(&requirements).expect("read");
    fs::write(&requirements, format!("{text}# pinned elsewhere\n")).expect("write");
    commit_all(&sandbox, "Change requirements");
    for args in [
        &["deploy"][..],
        &["deploy", "--image"][..],
        &["deploy", "--force"][..],
    ] {
        let err = fails(run_in(&sandbox, args, ""));
        assert!(err.contains("`airlock.lock` is out of date"), "{err}");
        assert!(err.contains("`requirements.txt` changed"), "{err}");
        assert!(err.contains("run `airlock lock`"), "{err}");
        assert!(err.contains("commit `airlock.lock`"), "{err}");
        assert_eq!(git(&sandbox, &["status", "--porcelain"]), "", "{args:?}");
        assert_eq!(
            fs::read_to_string(sandbox.project.join("airlock.lock")).expect("lock"),
            lock
        );
    }
    assert_eq!(inspect(&sandbox)["record_digest"], before);

    ok(run_in(&sandbox, &["lock"], ""));
    assert_eq!(
        git(&sandbox, &["status", "--porcelain"]),
        " M airlock.lock\n"
    );
    commit_all(&sandbox, "Lock");
    ok(run_in(&sandbox, &["deploy"], ""));
    assert_eq!(git(&sandbox, &["status", "--porcelain"]), "");
    assert_eq!(inspect(&sandbox)["record"]["git"]["dirty"], false);
}

/// Issue 12, item 7: a project that never had a lock is not locked by a deploy.
#[test]
fn item7_a_deploy_without_a_lock_names_airlock_lock() {
    let registry = Registry::plain();
    let sandbox = Sandbox::quickstart();
    write_settings(&sandbox, &registry.address(), "");
    let err = fails(run_in(&sandbox, &["deploy"], ""));
    assert!(err.contains("`airlock.lock` is out of date"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains("run `airlock lock`"), "{err}");
    assert!(!sandbox.project.join("airlock.lock").exists());
}

/// Issue 12, item 8: the short flags and names of `astro deploy` and `astro
/// deployment update`, and a declined confirmation that exits 0.
#[test]
fn item8_astro_flags_and_names() {
    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    // `-p` is `--prompt`: it asks even with one deployment. `-d` is `--dags`.
    let output = run_in(&sandbox, &["deploy", "-p", "-d"], "1\n");
    let err = stderr(&output);
    ok(output);
    assert!(err.contains("Which deployment? [1-1]"), "{err}");
    // `-n` names the deployment; `-i` is `--image-name`; `-f` is `--force`.
    let images = sandbox.dir.path().join("images");
    write_base(&images, &BaseSpec::default());
    let spec = format!("oci:{}:3.0-1", images.display());
    ok(run_in(
        &sandbox,
        &["deploy", "-n", "dev", "-i", &spec, "-f"],
        "",
    ));
    assert_eq!(inspect(&sandbox)["record"]["action"], "deploy");
    let usage = run_in(&sandbox, &["deploy", "dev", "-n", "dev"], "");
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));

    // `--project-dir` is long-only; `-C` is Cargo's spelling.
    let elsewhere = run_with_cwd(
        &sandbox,
        sandbox.dir.path(),
        &["deploy", "-C", &sandbox.project.to_string_lossy(), "--dags"],
    );
    assert!(
        stdout(&elsewhere).contains("unchanged"),
        "{}",
        stderr(&elsewhere)
    );

    // `-t` (a test path) and `-e` (an env file) go with `--pytest`, checked first.
    let err = fails(run_in(
        &sandbox,
        &["deploy", "--pytest", "-t", "tests/missing_test.py"],
        "",
    ));
    assert!(err.contains("`tests/missing_test.py`"), "{err}");
    let err = fails(run_in(
        &sandbox,
        &["deploy", "--pytest", "-e", "missing.env"],
        "",
    ));
    assert!(err.contains("missing.env`"), "{err}");
    let usage = run_in(&sandbox, &["deploy", "-t", "tests/"], "");
    assert_eq!(usage.status.code(), Some(2), "-t needs --pytest");

    // `deployment update`: every flag optional, alias `up`; nothing → the settings.
    let shown = ok(run_in(&sandbox, &["deployment", "up"], ""));
    assert!(shown.contains("DAG Deploy Enabled: true"), "{shown}");
    assert!(shown.contains("/team/airflow"), "{shown}");
    // A declined confirmation says what was not done and exits 0.
    let output = run_in(
        &sandbox,
        &["deployment", "update", "--dag-deploy", "disable"],
        "n\n",
    );
    let err = stderr(&output);
    ok(output);
    assert!(err.contains("Disable DAG-only deploys? [y/N]"), "{err}");
    assert!(err.contains("DAG-only deploys stay enabled"), "{err}");
    assert_eq!(inspect(&sandbox)["record"]["dag_deploy_enabled"], true);
    ok(run_in(
        &sandbox,
        &[
            "deployment",
            "up",
            "-n",
            "dev",
            "--dag-deploy",
            "disable",
            "-f",
        ],
        "",
    ));
    assert_eq!(inspect(&sandbox)["record"]["dag_deploy_enabled"], false);
}

/// Issue 12, item 8: `--parse` runs the DAG check even under `--force` and even when
/// the deployment turns it off (`skip-parse = true`).
#[test]
fn item8_parse_runs_the_check_even_when_configured_off() {
    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    fs::write(sandbox.project.join("dags/broken.py"), "def broken(:\n").expect("write");
    let err = fails(run_in(&sandbox, &["deploy", "--dags"], ""));
    assert!(err.contains("The DAG check found"), "{err}");
    let err = fails(run_in(&sandbox, &["deploy", "--dags", "-f", "--parse"], ""));
    assert!(err.contains("The DAG check found"), "{err}");

    write_settings(&sandbox, &registry.address(), "skip-parse = true\n");
    let err = fails(run_in(&sandbox, &["deploy", "--dags", "--parse"], ""));
    assert!(err.contains("The DAG check found"), "{err}");
    let output = run_in(&sandbox, &["deploy", "--dags"], "");
    let err = stderr(&output);
    ok(output);
    assert!(err.contains("skip-parse"), "{err}");
}

#[test]
fn the_same_dags_give_the_same_bundle() {
    use airlock::deploy::build_bundle;
    use airlock::project::{DAGS_DIR, walk_dags};
    use airlock::store::Store;

    let bundle_of = |dir: &Path, store: &Path| {
        let ignore = airlock::project::dockerignore::DockerIgnore::parse("").expect("ignore");
        let entries = walk_dags(
            &dir.join(DAGS_DIR),
            &ignore,
            airlock::project::airflowignore::IgnoreSyntax::Glob,
        )
        .expect("walk");
        build_bundle(&Store::open(store).expect("store"), &entries).expect("bundle")
    };
    let a = Sandbox::quickstart();
    let b = Sandbox::quickstart();
    // Noise that must not matter: mtimes, permission bits beyond the execute bit.
    let file = b.project.join("dags/example_dag.py");
    let old = fs::File::options().write(true).open(&file).expect("open");
    old.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(12345))
        .expect("mtime");
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).expect("chmod");
    let one = bundle_of(&a.project, &a.cache);
    let two = bundle_of(&b.project, &b.cache);
    assert_eq!(one.digest, two.digest);
    assert_eq!(one.blob, two.blob);
    fs::write(&file, "changed = True\n").expect("write");
    assert_ne!(bundle_of(&b.project, &b.cache).digest, one.digest);
}

#[test]
fn dags_path_bundles_another_folder() {
    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    let other = sandbox.dir.path().join("other-dags");
    fs::create_dir_all(other.join("pkg")).expect("mkdir");
    fs::write(other.join("only.py"), "import pkg.helper\n").expect("write");
    fs::write(other.join("pkg/__init__.py"), "").expect("write");
    fs::write(other.join("pkg/helper.py"), "VALUE = 1\n").expect("write");
    std::os::unix::fs::symlink("only.py", other.join("alias.py")).expect("symlink");
    ok(run_in(
        &sandbox,
        &["deploy", "--dags", "--dags-path", &other.to_string_lossy()],
        "",
    ));
    let airflow = tempfile::tempdir().expect("tempdir");
    let dest = airflow.path().join("dags");
    ok(sync(&sandbox, &dest, &airflow.path().join("cache")));
    let names: Vec<String> = files_below(&dest).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["alias.py", "only.py", "pkg/__init__.py", "pkg/helper.py"]
    );
    assert_eq!(
        fs::read_link(dest.join("alias.py")).expect("a symlink"),
        PathBuf::from("only.py")
    );

    // A symlink leaving the folder is refused before anything is pushed.
    std::os::unix::fs::symlink("../outside.py", other.join("escape.py")).expect("symlink");
    let err = fails(run_in(
        &sandbox,
        &["deploy", "--dags", "--dags-path", &other.to_string_lossy()],
        "",
    ));
    assert!(err.contains("must point inside the DAG folder"), "{err}");
}

#[test]
fn item8_deploy_refuses_credentials_written_into_requirements() {
    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    let secret = "s3cr3t-in-the-file";
    fs::write(
        sandbox.project.join("requirements.txt"),
        format!("# a private mirror\n--extra-index-url http://ci:{secret}@127.0.0.1:9/simple/\n"),
    )
    .expect("write");
    let err = fails(run_in(&sandbox, &["deploy", "dev"], ""));
    assert!(err.contains("requirements.txt:2"), "{err}");
    assert!(err.contains("${"), "{err}");
    assert!(!err.contains(secret), "{err}");
    // Nothing went out: the deployment has no record.
    let none = run_in(&sandbox, &["deployment", "inspect", "dev", "--json"], "");
    assert_eq!(none.status.code(), Some(1), "{}", stdout(&none));
}

/// Issue 17 item 3: `deploy` attaches both SBOMs and the provenance to the image
/// it pushes (listed under the referrers tag `sha256-<hex>`, as skopeo reads it),
/// and `deployment inspect` lists them, in text and in JSON.
#[test]
fn item17_3_deploy_attaches_sboms_and_provenance_and_inspect_lists_them() {
    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    ok(run_in(&sandbox, &["deploy", "dev"], ""));
    let record = inspect(&sandbox);
    let digest = record["record"]["image"]["digest"]
        .as_str()
        .expect("image digest")
        .to_string();
    let hex = digest.strip_prefix("sha256:").expect("sha256");
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{}/team/airflow:sha256-{hex}", registry.address()),
        ])
        .output()
        .expect("skopeo");
    assert!(out.status.success(), "{}", stderr(&out));
    let index: Value = serde_json::from_slice(&out.stdout).expect("json");
    let types = support::registry::artifact_types(&index);
    assert_eq!(
        types,
        [
            "application/spdx+json",
            "application/vnd.cyclonedx+json",
            "application/vnd.in-toto+json"
        ]
    );

    // `deployment inspect` lists them: JSON with type and digest, and in text.
    let listed = record["artifacts"].as_array().expect("artifacts listed");
    assert_eq!(listed.len(), 3, "{record}");
    for artifact in listed {
        assert!(
            types.contains(&artifact["artifact_type"].as_str().unwrap_or("").to_string()),
            "{artifact}"
        );
        assert!(
            artifact["digest"]
                .as_str()
                .is_some_and(|d| d.starts_with("sha256:")),
            "{artifact}"
        );
    }
    let text = ok(run_in(&sandbox, &["deployment", "inspect", "dev"], ""));
    for kind in &types {
        assert!(text.contains(kind.as_str()), "{text}");
    }
}

/// Issue 17 item 4: `airlock verify NAME` verifies the deployment's current image
/// (from its record) against a rebuild of the commit the record names, not of the
/// work tree: an uncommitted DAG edit does not matter, and says which commit was
/// built. A later commit with that edit (`--commit HEAD`) differs, naming the file.
#[test]
fn item17_4_verify_a_deployment_rebuilds_its_commit_not_the_work_tree() {
    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    commit_all(&sandbox, "the project");
    let commit = git(&sandbox, &["rev-parse", "HEAD"]).trim().to_string();
    // The image carries the DAGs once DAG-only deploys are off.
    ok(run_in(&sandbox, &["deploy", "dev"], ""));
    ok(run_in(
        &sandbox,
        &["deployment", "update", "dev", "--dag-deploy", "disable"],
        "y\n",
    ));
    ok(run_in(&sandbox, &["deploy", "dev"], ""));
    assert_eq!(inspect(&sandbox)["record"]["image"]["includes_dags"], true);

    let example = sandbox.project.join("dags/example_dag.py");
    let edited = format!(
        "{}\n# edited\n",
        fs::read_to_string(&example).expect("read")
    );
    fs::write(&example, &edited).expect("write");

    let output = run_in(&sandbox, &["verify", "dev"], "");
    let err = stderr(&output);
    ok(output);
    assert!(err.contains(&format!("commit {commit}")), "{err}");
    assert!(err.contains("identical"), "{err}");

    // The edit committed: the deployment still verifies against its own commit,
    // and the new commit is not what was deployed.
    commit_all(&sandbox, "edit a DAG");
    ok(run_in(&sandbox, &["verify", "dev"], ""));
    let output = run_in(&sandbox, &["verify", "dev", "--commit", "HEAD"], "");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(printed.contains("dags/example_dag.py"), "{printed}");
}

/// `verify NAME` of a deployment made with `--force` from a tree with uncommitted
/// changes rebuilds the recorded commit, which is not what was deployed: it says so
/// before the comparison, which then names the file.
#[test]
fn verify_warns_when_the_record_says_uncommitted_changes_were_deployed() {
    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    commit_all(&sandbox, "the project");
    ok(run_in(
        &sandbox,
        &["deployment", "update", "dev", "--dag-deploy", "disable"],
        "y\n",
    ));
    let example = sandbox.project.join("dags/example_dag.py");
    let edited = format!(
        "{}\n# not committed\n",
        fs::read_to_string(&example).expect("read")
    );
    fs::write(&example, &edited).expect("write");
    ok(run_in(&sandbox, &["deploy", "dev", "--force"], ""));
    assert_eq!(inspect(&sandbox)["record"]["git"]["dirty"], true);

    let output = run_in(&sandbox, &["verify", "dev"], "");
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("warning:") && err.contains("uncommitted"),
        "{err}"
    );
    assert!(
        stdout(&output).contains("dags/example_dag.py"),
        "{}",
        stdout(&output)
    );
}

/// The tags the registry holds for `repository`, from its filesystem storage.
fn stored_tags(registry: &Registry, repository: &str) -> Vec<String> {
    let dir = registry
        .dir
        .path()
        .join("data/docker/registry/v2/repositories")
        .join(repository)
        .join("_manifests/tags");
    let mut tags: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    tags
}

/// Sweep item 3: a `--description` with control characters is refused before
/// anything is built or pushed (not when the record is written, after the image).
#[test]
fn sweep3_a_bad_description_is_refused_before_any_push() {
    let registry = Registry::plain();
    let sandbox = project(&registry.address());
    commit_all(&sandbox, "First DAGs");
    for description in ["red \u{1b}[31malert", "two\nlines"] {
        let err = fails(run_in(
            &sandbox,
            &["deploy", "--description", description],
            "",
        ));
        assert!(err.contains("description"), "{err}");
        assert!(err.contains("control character"), "{err}");
        assert!(
            stored_tags(&registry, "team/airflow").is_empty(),
            "nothing is pushed: {:?}",
            stored_tags(&registry, "team/airflow")
        );
    }
    let err = fails(run_in(&sandbox, &["deployment", "inspect", "dev"], ""));
    assert!(err.contains("has no record yet"), "nothing deployed: {err}");
    // A clean description deploys, and its push shows in the same listing.
    ok(run_in(&sandbox, &["deploy", "--description", "fine"], ""));
    assert!(!stored_tags(&registry, "team/airflow").is_empty());
}

/// #13 item 5: a deploy of an image built with the Dockerfile's own steps pushes
/// them: the pushed config holds the copied layer's history line and the `CMD`.
#[test]
fn item13_5_deploy_pushes_an_image_with_copy_steps() {
    let registry = Registry::plain();
    let sandbox = Sandbox::quickstart();
    let path = sandbox.project.join("Dockerfile");
    let mut text = fs::read_to_string(&path).expect("Dockerfile");
    text.push_str(
        "COPY --chown=astro:0 include/ /opt/include/\nCMD [\"airflow\", \"standalone\"]\n",
    );
    fs::write(&path, text).expect("write");
    write_settings(&sandbox, &registry.address(), "");
    ok(run_in(&sandbox, &["lock"], ""));
    let printed = ok(run_in(&sandbox, &["deploy", "dev"], ""));
    assert!(printed.contains("Deployed the image"), "{printed}");
    let record = inspect(&sandbox);
    let tag = record["record"]["image"]["tag"]
        .as_str()
        .expect("tag")
        .to_string();
    let output = Command::new("skopeo")
        .args([
            "inspect",
            "--config",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{}/team/airflow:{tag}", registry.address()),
        ])
        .output()
        .expect("skopeo");
    assert!(output.status.success(), "{}", stderr(&output));
    let config: Value = serde_json::from_slice(&output.stdout).expect("config");
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["airflow", "standalone"])
    );
    let history: Vec<&str> = config["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|h| h["empty_layer"] != true)
        .filter_map(|h| h["created_by"].as_str())
        .collect();
    assert!(
        history.contains(&"COPY --chown=astro:0 include/ /opt/include/"),
        "{history:#?}"
    );
}
