//! `airlock build` end to end: golden digest, determinism, layer reuse, outputs.

use crate::support;

use std::fs;
use std::path::Path;

use airlock::oci::DescriptorExt as _;
use serde_json::Value;
use support::{Sandbox, airlock, stderr, stdout};

/// The manifest digest of `examples/quickstart` built from the committed fixture base
/// with SOURCE_DATE_EPOCH unset. It changes only when the image format changes on
/// purpose (layer format, compressor, config assembly); update it deliberately then.
const QUICKSTART_DIGEST: &str =
    "sha256:c40c6752f3a9768bb86f2071ff2da1d7e8205ed00cc760eb6032ff81f1d0e224";

/// The same with `--compression zstd` (libzstd 1.5.7 level 3, one frame per 4 MiB).
const QUICKSTART_ZSTD_DIGEST: &str =
    "sha256:a91db0aa0074c117692a382511f4a77bf3af821aac97b8d82be8d677ac9487d0";

fn json_build(sandbox: &Sandbox, extra: &[&str]) -> Value {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let output = sandbox.build(&args);
    assert!(output.status.success(), "build failed: {}", stderr(&output));
    serde_json::from_str(&stdout(&output)).expect("JSON output")
}

fn layer_digests(result: &Value, kind: &str) -> Vec<String> {
    result["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter(|l| l["kind"] == kind)
        .map(|l| l["digest"].as_str().expect("digest").to_string())
        .collect()
}

#[test]
fn quickstart_has_the_golden_digest() {
    let sandbox = Sandbox::quickstart();
    let output = sandbox.build(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), QUICKSTART_DIGEST);
    // And the example's own airlock.toml mapping gives the same image.
    let cache = sandbox.cache.to_string_lossy().into_owned();
    let out = sandbox.dir.path().join("direct");
    let out_spec = format!("oci:{}", out.display());
    let root = support::repo_root();
    let output = airlock(
        &[
            "build",
            "examples/quickstart",
            "--cache-dir",
            &cache,
            "--output",
            &out_spec,
            "--locked",
        ],
        &root,
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), QUICKSTART_DIGEST);
}

/// The media types of the layers of the image tagged `latest` in `layout`.
fn layer_media_types(layout: &Path) -> Vec<String> {
    let read = |path: &Path| -> Value {
        serde_json::from_slice(&fs::read(path).expect("read")).expect("json")
    };
    let index = read(&layout.join("index.json"));
    let digest = index["manifests"][0]["digest"].as_str().expect("digest");
    let manifest = read(&layout.join("blobs/sha256").join(&digest["sha256:".len()..]));
    manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["mediaType"].as_str().expect("media type").to_string())
        .collect()
}

/// `--compression zstd` and `[build] compression = "zstd"`: `tar+zstd` layers, their
/// own golden digest, and a layout skopeo reads.
#[test]
fn quickstart_zstd_has_its_golden_digest() {
    const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    let sandbox = Sandbox::quickstart();
    let output = sandbox.build(&["--compression", "zstd"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), QUICKSTART_ZSTD_DIGEST);
    let layout = sandbox.project.join(".airlock/oci");
    let media = layer_media_types(&layout);
    // The base's layers keep theirs; the new ones (project, DAGs) are tar+zstd.
    assert_eq!(media.iter().filter(|m| *m == ZSTD).count(), 2, "{media:?}");
    // skopeo reads the layout and copies it, zstd layers included.
    let copy = sandbox.dir.path().join("copied");
    let status = std::process::Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci:{}:latest", layout.display()))
        .arg(format!("oci:{}:latest", copy.display()))
        .status()
        .expect("skopeo");
    assert!(status.success(), "skopeo copies the zstd layout");
    // The same from airlock.toml (a project file: other digests), the flag absent;
    // the flag wins over the file.
    let toml = sandbox.project.join("airlock.toml");
    let mut text = fs::read_to_string(&toml).unwrap_or_default();
    text.push_str("\n[build]\ncompression = \"zstd\"\n");
    fs::write(&toml, text).expect("write");
    let output = sandbox.build(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(layer_media_types(&layout), media);
    let output = sandbox.build(&["--compression", "gzip"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!layer_media_types(&layout).iter().any(|m| m == ZSTD));
    let output = sandbox.build(&["--compression", "xz"]);
    assert!(
        !output.status.success(),
        "an unknown compression is refused"
    );
}

#[cfg(unix)]
fn set_times_and_modes(dir: &Path, seconds: u64) {
    use std::os::unix::fs::PermissionsExt;
    for entry in fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("entry");
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).expect("meta");
        if meta.is_dir() {
            set_times_and_modes(&path, seconds);
        } else if meta.is_file() {
            let file = fs::File::options().write(true).open(&path).expect("open");
            let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
            file.set_modified(time).expect("mtime");
            // Group/other bits differ; the execute bit does not.
            let mode = meta.permissions().mode();
            fs::set_permissions(&path, fs::Permissions::from_mode((mode & 0o700) | 0o600))
                .expect("chmod");
        }
    }
}

/// Recreates a directory tree with its files created in reverse name order.
fn recreate_reversed(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).expect("mkdir");
    let mut names: Vec<_> = fs::read_dir(src)
        .expect("read_dir")
        .map(|e| e.expect("e").file_name())
        .collect();
    names.sort();
    names.reverse();
    for name in names {
        let from = src.join(&name);
        if from.is_dir() {
            recreate_reversed(&from, &dst.join(&name));
        } else {
            fs::write(dst.join(&name), fs::read(&from).expect("read")).expect("write");
        }
    }
}

#[test]
fn digest_ignores_path_mtime_umask_order_tz_and_locale() {
    let a = Sandbox::quickstart();
    let first = a.build(&[]);
    assert!(first.status.success(), "{}", stderr(&first));

    let b = Sandbox::quickstart();
    let moved = b.dir.path().join("some/other/place");
    recreate_reversed(&b.project, &moved);
    set_times_and_modes(&moved, 1_234_567_890);
    let cache = b.cache.to_string_lossy().into_owned();
    let layout = b.base_layout.to_string_lossy().into_owned();
    let script = "umask 077 && exec \"$0\" build \"$1\" --cache-dir \"$2\" --base-layout \"$3\"";
    let output = std::process::Command::new("sh")
        .args([
            "-c",
            script,
            env!("CARGO_BIN_EXE_airlock"),
            &moved.to_string_lossy(),
            &cache,
            &layout,
        ])
        .env("TZ", "Asia/Kolkata")
        .env("LC_ALL", "tr_TR.UTF-8")
        .env("LANG", "tr_TR.UTF-8")
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), stdout(&first));
}

#[test]
fn changing_one_dag_changes_only_the_dag_layer() {
    let sandbox = Sandbox::quickstart();
    let before = json_build(&sandbox, &[]);
    fs::write(sandbox.project.join("dags/example_dag.py"), "# changed\n").expect("write");
    let after = json_build(&sandbox, &[]);
    assert_eq!(
        layer_digests(&before, "base"),
        layer_digests(&after, "base")
    );
    assert_eq!(
        layer_digests(&before, "project"),
        layer_digests(&after, "project")
    );
    assert_ne!(
        layer_digests(&before, "dags"),
        layer_digests(&after, "dags")
    );
    assert_ne!(before["manifest_digest"], after["manifest_digest"]);
    let reused: Vec<bool> = after["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["reused"].as_bool().expect("bool"))
        .collect();
    assert_eq!(
        reused,
        [true, true, true, false],
        "only the DAG layer is rebuilt"
    );
}

#[test]
fn source_date_epoch_sets_every_timestamp() {
    let sandbox = Sandbox::quickstart();
    let project = sandbox.project.to_string_lossy().into_owned();
    let cache = sandbox.cache.to_string_lossy().into_owned();
    let layout = sandbox.base_layout.to_string_lossy().into_owned();
    let out_dir = sandbox.dir.path().join("out");
    let out = format!("oci:{}", out_dir.display());
    let args = [
        "build",
        &project,
        "--cache-dir",
        &cache,
        "--base-layout",
        &layout,
        "--output",
        &out,
    ];
    let dated = airlock(
        &args,
        sandbox.dir.path(),
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    );
    assert!(dated.status.success(), "{}", stderr(&dated));
    assert_ne!(stdout(&dated).trim(), QUICKSTART_DIGEST);
    let image = airlock::oci::select_image(&out_dir, Some("latest")).expect("layout");
    let config: Value = serde_json::from_slice(
        &fs::read(image.blob_path(&image.manifest.config().sha256().expect("sha256")))
            .expect("config"),
    )
    .expect("json");
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    let last = image.manifest.layers().last().expect("layers");
    let blob = fs::File::open(image.blob_path(&last.sha256().expect("sha256"))).expect("blob");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(blob));
    for entry in archive.entries().expect("entries") {
        let entry = entry.expect("entry");
        assert_eq!(entry.header().mtime().expect("mtime"), 1_700_000_000);
    }
    let bad = airlock(
        &args,
        sandbox.dir.path(),
        &[("SOURCE_DATE_EPOCH", "yesterday")],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("SOURCE_DATE_EPOCH"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn exclude_dags_leaves_the_dag_layer_out() {
    let sandbox = Sandbox::quickstart();
    let with = json_build(&sandbox, &[]);
    let without = json_build(&sandbox, &["--exclude-dags"]);
    assert_eq!(layer_digests(&without, "dags").len(), 0);
    assert_eq!(
        layer_digests(&with, "project"),
        layer_digests(&without, "project")
    );
}

#[test]
fn docker_archive_output_is_readable() {
    let sandbox = Sandbox::quickstart();
    let archive = sandbox.dir.path().join("image.tar");
    let spec = format!("docker-archive:{}:quickstart:dev", archive.display());
    let result = json_build(&sandbox, &["--output", &spec]);
    let file = fs::File::open(&archive).expect("archive written");
    let mut tar = tar::Archive::new(file);
    let mut manifest_json = None;
    let mut names = Vec::new();
    for entry in tar.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let name = entry.path().expect("path").to_string_lossy().into_owned();
        if name == "manifest.json" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).expect("read");
            manifest_json = Some(text);
        }
        names.push(name);
    }
    let legacy: Value = serde_json::from_str(&manifest_json.expect("manifest.json")).expect("json");
    assert_eq!(legacy[0]["RepoTags"][0], "quickstart:dev");
    assert_eq!(legacy[0]["Layers"].as_array().expect("layers").len(), 4);
    assert!(names.contains(&"index.json".to_string()));
    let manifest_digest = result["manifest_digest"].as_str().expect("digest");
    assert!(names.contains(&format!("blobs/sha256/{}", &manifest_digest[7..])));
    // skopeo reads it as a docker-archive.
    let output = std::process::Command::new("skopeo")
        .args(["inspect", &format!("docker-archive:{}", archive.display())])
        .output()
        .expect("skopeo is installed by scripts/test");
    assert!(output.status.success(), "skopeo: {}", stderr(&output));
    let inspected: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(inspected["Layers"].as_array().expect("layers").len(), 4);
}

#[test]
fn an_index_base_selects_linux_amd64() {
    let sandbox = Sandbox::quickstart();
    let layout = sandbox.dir.path().join("multi");
    support::write_base(
        &layout,
        &support::BaseSpec {
            as_index: true,
            ..support::BaseSpec::default()
        },
    );
    let project = sandbox.project.to_string_lossy().into_owned();
    let cache = sandbox.cache.to_string_lossy().into_owned();
    let layout_arg = layout.to_string_lossy().into_owned();
    let output = airlock(
        &[
            "build",
            &project,
            "--cache-dir",
            &cache,
            "--base-layout",
            &layout_arg,
        ],
        sandbox.dir.path(),
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    // The same amd64 manifest as the plain fixture, so the same image.
    assert_eq!(stdout(&output).trim(), QUICKSTART_DIGEST);
}

#[test]
fn locked_refuses_a_stale_lock_and_keeps_it() {
    let sandbox = Sandbox::quickstart();
    assert!(sandbox.build(&[]).status.success());
    let lock_before =
        fs::read_to_string(sandbox.project.join("airlock.lock")).expect("lock written");
    fs::write(
        sandbox.project.join("requirements.txt"),
        "# still nothing to install\n",
    )
    .expect("write");
    let output = sandbox.build(&["--locked"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("requirements.txt` changed"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        fs::read_to_string(sandbox.project.join("airlock.lock")).expect("lock"),
        lock_before
    );
    assert!(sandbox.build(&[]).status.success());
    assert!(sandbox.build(&["--frozen"]).status.success());
}

#[test]
fn two_builds_at_once_share_the_store() {
    let sandbox = Sandbox::quickstart();
    let run = |out: &str| {
        let spec = format!("oci:{}", sandbox.dir.path().join(out).display());
        sandbox.build(&["--output", &spec])
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| run("a"));
        let b = s.spawn(|| run("b"));
        (a.join().expect("thread"), b.join().expect("thread"))
    });
    assert!(
        a.status.success() && b.status.success(),
        "{} {}",
        stderr(&a),
        stderr(&b)
    );
    assert_eq!(stdout(&a), stdout(&b));
    assert_eq!(
        fs::read_dir(sandbox.cache.join("tmp"))
            .expect("tmp")
            .count(),
        0
    );
}

#[test]
fn rebuild_into_an_existing_layout_keeps_other_tags() {
    let sandbox = Sandbox::quickstart();
    let dir = sandbox.dir.path().join("layout");
    let v1 = format!("oci:{}:v1", dir.display());
    let v2 = format!("oci:{}:v2", dir.display());
    assert!(sandbox.build(&["--output", &v1]).status.success());
    fs::write(sandbox.project.join("dags/new_dag.py"), "# new\n").expect("write");
    assert!(sandbox.build(&["--output", &v2]).status.success());
    let v1_image = airlock::oci::select_image(&dir, Some("v1")).expect("v1 still there");
    let v2_image = airlock::oci::select_image(&dir, Some("v2")).expect("v2 written");
    assert_ne!(v1_image.manifest_digest, v2_image.manifest_digest);
}

#[test]
fn zstd_and_uncompressed_base_layers_are_read() {
    for compression in [
        support::LayerCompression::Zstd,
        support::LayerCompression::None,
    ] {
        let sandbox = Sandbox::quickstart();
        let layout = sandbox.dir.path().join("base");
        support::write_base(
            &layout,
            &support::BaseSpec {
                compression,
                ..support::BaseSpec::default()
            },
        );
        let out = sandbox.dir.path().join("out");
        let output = sandbox.build_on(&layout, &["--output", &format!("oci:{}", out.display())]);
        assert!(
            output.status.success(),
            "{compression:?}: {}",
            stderr(&output)
        );
        // The base layers are kept byte for byte; the project layer is owned as the
        // base's ONBUILD `--chown=astro:0` says, read from the base's /etc/passwd.
        let image = airlock::oci::select_image(&out, Some("latest")).expect("layout");
        assert_eq!(image.manifest.layers().len(), 4);
        let project = image.manifest.layers()[2].sha256().expect("sha256");
        let blob = fs::File::open(image.blob_path(&project)).expect("blob");
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(blob));
        let owners: Vec<(u64, u64)> = archive
            .entries()
            .expect("entries")
            .map(|e| e.expect("entry"))
            .filter(|e| e.path().expect("path").starts_with("usr/local/airflow/"))
            .map(|e| {
                (
                    e.header().uid().expect("uid"),
                    e.header().gid().expect("gid"),
                )
            })
            .collect();
        assert!(!owners.is_empty());
        assert!(
            owners
                .iter()
                .all(|o| *o == (u64::from(support::ASTRO_UID), 0)),
            "{owners:?}"
        );
    }
}

#[test]
fn without_onbuild_triggers_project_files_belong_to_the_base_user() {
    let sandbox = Sandbox::quickstart();
    let layout = sandbox.dir.path().join("plain");
    support::write_base(
        &layout,
        &support::BaseSpec {
            onbuild: Vec::new(),
            ..support::BaseSpec::default()
        },
    );
    let out = sandbox.dir.path().join("out");
    let output = sandbox.build_on(&layout, &["--output", &format!("oci:{}", out.display())]);
    assert!(output.status.success(), "{}", stderr(&output));
    let image = airlock::oci::select_image(&out, Some("latest")).expect("layout");
    let dags = image.manifest.layers().last().expect("dag layer");
    let blob = fs::File::open(image.blob_path(&dags.sha256().expect("sha256"))).expect("blob");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(blob));
    let dag = archive
        .entries()
        .expect("entries")
        .map(|e| e.expect("entry"))
        .find(|e| e.path().expect("path").ends_with("example_dag.py"))
        .expect("example DAG in the DAG layer");
    // The base's USER is `astro`, whose primary group in /etc/passwd is 50000.
    assert_eq!(
        (
            dag.header().uid().expect("uid"),
            dag.header().gid().expect("gid")
        ),
        (u64::from(support::ASTRO_UID), 50000)
    );
}

/// Checks every blob the image `tag` of the layout `dir` needs against its digest, and
/// has skopeo copy it out (skopeo refuses a blob that does not match).
fn assert_layout_intact(dir: &Path, tag: &str) {
    let image = airlock::oci::select_image(dir, Some(tag)).expect("image in the layout");
    let blobs = std::iter::once(image.manifest.config()).chain(image.manifest.layers());
    for descriptor in blobs {
        let digest = descriptor.sha256().expect("sha256");
        let bytes = fs::read(image.blob_path(&digest)).expect("blob");
        assert_eq!(
            airlock::digest::Digest::of(&bytes),
            digest,
            "blob of `{tag}` in {} does not match its digest",
            dir.display()
        );
    }
    let copy = tempfile::tempdir().expect("tempdir");
    let output = std::process::Command::new("skopeo")
        .args([
            "copy",
            &format!("oci:{}:{tag}", dir.display()),
            &format!("dir:{}", copy.path().join("out").display()),
        ])
        .output()
        .expect("skopeo is installed by scripts/test");
    assert!(output.status.success(), "skopeo: {}", stderr(&output));
}

/// Issue item 4: concurrent builds into one OCI layout lost tags (`index.json` was
/// read, edited and rewritten without a lock). Eight builds write eight tags into
/// one existing layout at once; every tag must be there after.
#[test]
fn concurrent_builds_into_one_oci_layout_keep_every_tag() {
    let sandbox = Sandbox::quickstart();
    let dir = sandbox.dir.path().join("layout");
    let first = format!("oci:{}:first", dir.display());
    let output = sandbox.build(&["--output", &first]);
    assert!(output.status.success(), "{}", stderr(&output));
    let tags: Vec<String> = (0..8).map(|i| format!("tag{i}")).collect();
    let outputs: Vec<std::process::Output> = std::thread::scope(|s| {
        let handles: Vec<_> = tags
            .iter()
            .map(|tag| {
                let spec = format!("oci:{}:{tag}", dir.display());
                let sandbox = &sandbox;
                s.spawn(move || sandbox.build(&["--output", &spec]))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    for output in &outputs {
        assert!(output.status.success(), "{}", stderr(output));
    }
    let index = airlock::oci::read_layout(&dir).expect("index.json");
    let mut names: Vec<&str> = index
        .manifests()
        .iter()
        .filter_map(|d| d.ref_name())
        .collect();
    names.sort_unstable();
    let mut wanted: Vec<&str> = tags.iter().map(String::as_str).collect();
    wanted.push("first");
    wanted.sort_unstable();
    assert_eq!(names, wanted, "tags lost by concurrent builds");
    for tag in &wanted {
        assert_layout_intact(&dir, tag);
    }
}

/// Issue item 5: concurrent builds to the same default output failed (`Directory not
/// empty`) and left `.airlock-layout-*` staging directories behind.
#[test]
fn concurrent_builds_to_the_default_output_all_succeed_and_leave_no_staging() {
    let sandbox = Sandbox::quickstart();
    // A warm store, so that the builds meet at the output.
    let warm = format!("oci:{}", sandbox.dir.path().join("warm").display());
    let output = sandbox.build(&["--output", &warm]);
    assert!(output.status.success(), "{}", stderr(&output));
    let outputs: Vec<std::process::Output> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6).map(|_| s.spawn(|| sandbox.build(&[]))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    for output in &outputs {
        assert!(output.status.success(), "{}", stderr(output));
    }
    let dot_airlock = sandbox.project.join(".airlock");
    let left: Vec<String> = fs::read_dir(&dot_airlock)
        .expect("read .airlock")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".airlock-layout-"))
        .collect();
    assert!(left.is_empty(), "staging directories left: {left:?}");
    assert_layout_intact(&dot_airlock.join("oci"), "latest");
}

/// Issue item 14: output `index.json` and blobs were mode 0600; other OCI tools
/// write 0644 files (and 0755 directories), whatever the umask.
#[test]
fn output_index_json_and_blobs_are_mode_0644() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::quickstart();
    let dir = sandbox.dir.path().join("layout");
    let output = sandbox.build(&["--output", &format!("oci:{}", dir.display())]);
    assert!(output.status.success(), "{}", stderr(&output));
    let mode = |path: &Path| fs::metadata(path).expect("metadata").permissions().mode() & 0o7777;
    assert_eq!(mode(&dir), 0o755);
    assert_eq!(mode(&dir.join("blobs")), 0o755);
    assert_eq!(mode(&dir.join("blobs/sha256")), 0o755);
    assert_eq!(mode(&dir.join("oci-layout")), 0o644);
    assert_eq!(mode(&dir.join("index.json")), 0o644);
    for entry in fs::read_dir(dir.join("blobs/sha256")).expect("blobs") {
        let path = entry.expect("entry").path();
        assert_eq!(mode(&path), 0o644, "{}", path.display());
    }
    // A second tag rewrites index.json: still 0644.
    let v2 = format!("oci:{}:v2", dir.display());
    assert!(sandbox.build(&["--output", &v2]).status.success());
    assert_eq!(mode(&dir.join("index.json")), 0o644);
    let archive = sandbox.dir.path().join("image.tar");
    let spec = format!("docker-archive:{}", archive.display());
    assert!(sandbox.build(&["--output", &spec]).status.success());
    assert_eq!(mode(&archive), 0o644);
}

/// Issue item 6: output blobs are hard links into the store, so truncating one in an
/// output truncated the store's copy, and the next build reused the layer
/// `(cached)` and wrote an image whose blob did not match its digest. The next build
/// must notice, rebuild (or re-import) what was damaged and write an intact image.
#[test]
fn a_corrupted_store_blob_is_not_reused_silently() {
    let sandbox = Sandbox::quickstart();
    let first = json_build(&sandbox, &[]);
    let layout = sandbox.project.join(".airlock/oci");
    let truncate = |digest: &str| {
        let path = layout.join("blobs/sha256").join(&digest[7..]);
        let size = fs::metadata(&path).expect("blob").len();
        let file = fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open blob");
        file.set_len(size / 2).expect("truncate");
    };
    truncate(&layer_digests(&first, "dags")[0]);
    truncate(&layer_digests(&first, "base")[0]);
    let second = json_build(&sandbox, &[]);
    assert_eq!(second["manifest_digest"], first["manifest_digest"]);
    let dags = second["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["kind"] == "dags")
        .expect("dags layer");
    assert_eq!(dags["reused"], false, "a damaged layer is rebuilt");
    assert_layout_intact(&layout, "latest");
    // The store heals too: a build into a fresh layout is intact.
    let fresh = sandbox.dir.path().join("fresh");
    let third = json_build(&sandbox, &["--output", &format!("oci:{}", fresh.display())]);
    assert_eq!(third["manifest_digest"], first["manifest_digest"]);
    assert_layout_intact(&fresh, "latest");
}

/// Issue item 13: a SIGKILLed build leaves `.tmp*` files in `store/tmp/` (and
/// `.partial-*` downloads, `.tmp*` record writes) that nothing removed. The next
/// command to open the store removes those older than every running airlock
/// process, and never one a running process may still own.
#[test]
fn stale_temp_files_of_killed_builds_are_removed() {
    let sandbox = Sandbox::quickstart();
    let output = sandbox.build(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    // This test process is a running airlock, with a temp file of its own.
    let store = airlock::store::Store::open(&sandbox.cache).expect("store");
    let live = store.temp_file().expect("temp file");
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let stale = [
        sandbox.cache.join("tmp/.tmpKILLED"),
        sandbox.cache.join("blobs/sha256/.partial-KILLED"),
        sandbox.cache.join("layers/.tmpKILLED"),
    ];
    for path in &stale {
        let file = fs::File::create(path).expect("leftover");
        file.set_modified(hour_ago).expect("age it");
    }
    let output = sandbox.build(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    for path in &stale {
        assert!(!path.exists(), "{} left behind", path.display());
    }
    assert!(
        live.path().exists(),
        "a running process's temp file was removed"
    );
    drop(live);
    drop(store);
    let output = sandbox.build(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        fs::read_dir(sandbox.cache.join("tmp"))
            .expect("tmp")
            .count(),
        0
    );
}

#[test]
fn item9_a_layout_base_keeps_its_locked_digest_when_the_tag_moves() {
    let sandbox = Sandbox::quickstart();
    let layout = sandbox.dir.path().join("base");
    let pinned = support::write_base(&layout, &support::BaseSpec::default());
    let first = sandbox.build_on(&layout, &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let lock_path = sandbox.project.join("airlock.lock");
    let lock = fs::read_to_string(&lock_path).expect("lock");
    assert!(lock.contains(&pinned.to_string()), "{lock}");

    // The layout's tag moves to another image (its old blobs stay in the layout).
    let moved = support::write_base(
        &layout,
        &support::BaseSpec {
            runtime_version: "3.0-2".into(),
            ..support::BaseSpec::default()
        },
    );
    assert_ne!(moved, pinned);
    let again = sandbox.build_on(&layout, &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(stdout(&again), stdout(&first), "the locked digest wins");
    assert_eq!(fs::read_to_string(&lock_path).expect("lock"), lock);

    // A fresh store takes the pinned image from the layout's blobs.
    let run = |layout: &Path, cache: &str, extra: &[&str]| {
        let project = sandbox.project.to_string_lossy().into_owned();
        let cache = sandbox
            .dir
            .path()
            .join(cache)
            .to_string_lossy()
            .into_owned();
        let layout = layout.to_string_lossy().into_owned();
        let mut args = vec![
            "build",
            &project,
            "--cache-dir",
            &cache,
            "--base-layout",
            &layout,
        ];
        args.extend_from_slice(extra);
        airlock(&args, sandbox.dir.path(), &[])
    };
    let fresh = run(&layout, "fresh-store", &[]);
    assert!(fresh.status.success(), "{}", stderr(&fresh));
    assert_eq!(stdout(&fresh), stdout(&first));

    // A layout that no longer holds the pinned image, and a store without it: a
    // clear error naming the pin and the way forward, the lock untouched.
    let other = sandbox.dir.path().join("other");
    support::write_base(
        &other,
        &support::BaseSpec {
            runtime_version: "3.0-2".into(),
            ..support::BaseSpec::default()
        },
    );
    let lost = run(&other, "empty-store", &[]);
    assert_eq!(lost.status.code(), Some(1), "{}", stderr(&lost));
    assert!(
        stderr(&lost).contains(&pinned.to_string()),
        "{}",
        stderr(&lost)
    );
    assert!(
        stderr(&lost).contains("--upgrade-base"),
        "{}",
        stderr(&lost)
    );
    assert_eq!(fs::read_to_string(&lock_path).expect("lock"), lock);

    // `--upgrade-base` takes the tag as it is now.
    let upgraded = sandbox.build_on(&layout, &["--upgrade-base"]);
    assert!(upgraded.status.success(), "{}", stderr(&upgraded));
    assert_ne!(stdout(&upgraded), stdout(&first));
    let relocked = fs::read_to_string(&lock_path).expect("lock");
    assert!(relocked.contains(&moved.to_string()), "{relocked}");
}

/// A `.git` that no `.dockerignore` line excludes is copied into the image, as
/// `docker build` would: the build says so, with the fix, since the history then
/// ships and a rebuild of the commit (`airlock verify`) cannot match.
#[test]
fn an_unignored_git_directory_is_warned_about() {
    let sandbox = Sandbox::quickstart();
    fs::create_dir_all(sandbox.project.join(".git")).expect("mkdir");
    fs::write(sandbox.project.join(".git/HEAD"), "ref: refs/heads/main\n").expect("write");
    let ignore = sandbox.project.join(".dockerignore");
    let kept = fs::read_to_string(&ignore).unwrap_or_default();
    fs::write(&ignore, kept.replace(".git\n", "")).expect("write");
    let output = sandbox.build(&[]);
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(err.contains("warning:") && err.contains("`.git`"), "{err}");
    assert!(err.contains(".dockerignore"), "{err}");

    fs::write(&ignore, format!("{kept}.git\n")).expect("write");
    let output = sandbox.build(&[]);
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(!err.contains("`.git`"), "{err}");
}
