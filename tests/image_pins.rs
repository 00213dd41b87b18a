//! #13 leftover: the images a multi-stage Dockerfile reads besides its base (an
//! earlier stage's `FROM`, a `COPY --from=<image>`) are pinned in `airlock.lock`
//! (`[[images]]`) by manifest digest, like the base: a later build takes the pinned
//! manifest whatever the tag says now, `--upgrade-base` takes the tag again, and
//! `--locked` refuses a Dockerfile that names an image the lock lacks (or no longer
//! names one it pins), naming the line.

use crate::support;

use std::fs;
use std::path::Path;
use std::process::Output;

use support::registry::Registry;
use support::{Sandbox, airlock, stderr, stdout};

fn run(sandbox: &Sandbox, args: &[&str]) -> Output {
    let cache = sandbox.cache.to_string_lossy().into_owned();
    let mut all: Vec<&str> = args.to_vec();
    all.extend_from_slice(&["--cache-dir", &cache]);
    airlock(&all, sandbox.dir.path(), &[])
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output).trim().to_string()
}

/// A base without ONBUILD triggers, with one extra file, written under `tag`.
fn image_with(layout: &Path, tag: &str, path: &str, text: &str) -> String {
    support::write_base(
        layout,
        &support::BaseSpec {
            tag: tag.into(),
            onbuild: Vec::new(),
            extra_files: vec![(path.into(), text.into())],
            ..support::BaseSpec::default()
        },
    )
    .to_string()
}

/// Pushes a fresh image with `path` = `text` to `target`; its manifest digest.
fn push_image(sandbox: &Sandbox, name: &str, target: &str, path: &str, text: &str) -> String {
    let layout = sandbox.dir.path().join(name);
    image_with(&layout, "1", path, text);
    let from = format!("oci:{}:1", layout.display());
    ok(run(sandbox, &["push", target, "--from", &from]))
}

fn lock_text(sandbox: &Sandbox) -> String {
    fs::read_to_string(sandbox.project.join("airlock.lock")).expect("lock written")
}

/// The `[[images]]` entry of `reference` in `lock`, as its text.
fn image_entry(lock: &str, reference: &str) -> Option<String> {
    let needle = format!("reference = \"{reference}\"\n");
    lock.split("[[images]]")
        .skip(1)
        .find(|table| table.contains(&needle))
        .map(str::to_string)
}

#[test]
fn item13_images_of_earlier_stages_and_copy_from_are_pinned_from_a_registry() {
    let registry = Registry::plain();
    let sandbox = Sandbox::quickstart();
    let builder = format!("{}/builder:1", registry.address());
    let tool = format!("{}/tool:1", registry.address());
    let builder_v1 = push_image(&sandbox, "b1", &builder, "opt/version.txt", "1\n");
    let tool_v1 = push_image(&sandbox, "t1", &tool, "opt/notes.txt", "notes 1\n");
    fs::write(
        sandbox.project.join("airlock.toml"),
        format!(
            "[base.layouts]\n\"astro-runtime\" = \"{}\"\n\n[dags]\nignore-syntax = \"glob\"\n",
            sandbox.base_layout.display()
        ),
    )
    .expect("airlock.toml");
    let dockerfile = |extra: &str, with_tool: bool| {
        let tool_line = if with_tool {
            format!("COPY --from={tool} /opt/notes.txt /opt/notes.txt\n")
        } else {
            "LABEL no-tool=1\n".to_string()
        };
        fs::write(
            sandbox.project.join("Dockerfile"),
            format!(
                "FROM {builder} AS build\nWORKDIR /work\nCOPY include/helpers.py ./helpers.py\n\nFROM astro-runtime:3.0-1\nUSER root\nCOPY --from=build /opt/version.txt /opt/version.txt\n{tool_line}{extra}USER astro\n"
            ),
        )
        .expect("Dockerfile");
    };
    dockerfile("", true);
    let project = sandbox.project.to_string_lossy().into_owned();

    // `airlock lock` pins both images, with the lines that read them.
    ok(run(&sandbox, &["lock", &project]));
    let lock = lock_text(&sandbox);
    let entry = image_entry(&lock, &builder).expect("the builder stage's base is pinned");
    assert!(entry.contains(&builder_v1), "{lock}");
    assert!(entry.contains("lines = [1]"), "{lock}");
    let entry = image_entry(&lock, &tool).expect("the COPY --from image is pinned");
    assert!(entry.contains(&tool_v1), "{lock}");
    assert!(entry.contains("lines = [8]"), "{lock}");
    let out = format!("oci:{}", sandbox.dir.path().join("out").display());
    let first = ok(run(
        &sandbox,
        &["build", &project, "--output", &out, "--provenance"],
    ));
    assert_eq!(lock_text(&sandbox), lock, "the build keeps the lock");
    // Both images are materials of the build: the provenance and the SBOM name them
    // by the digests the lock pins.
    let provenance =
        fs::read_to_string(sandbox.dir.path().join("out.intoto.json")).expect("provenance written");
    let provenance: serde_json::Value = serde_json::from_str(&provenance).expect("json");
    let deps = &provenance["predicate"]["buildDefinition"]["resolvedDependencies"];
    for (reference, digest) in [(&builder, &builder_v1), (&tool, &tool_v1)] {
        let entry = support::find_by(deps, "name", reference);
        assert_eq!(
            entry["digest"]["sha256"],
            digest.trim_start_matches("sha256:"),
            "{entry}"
        );
    }
    let sbom = ok(run(&sandbox, &["sbom", &out, "--format", "cyclonedx"]));
    let sbom: serde_json::Value = serde_json::from_str(&sbom).expect("json");
    for (reference, digest) in [(&builder, &builder_v1), (&tool, &tool_v1)] {
        let component = support::find_by(&sbom["components"], "name", reference);
        assert_eq!(component["type"], "container");
        assert_eq!(component["version"], digest.as_str());
    }
    if let Some(python) = support::sbom_check::validators() {
        let spdx = ok(run(&sandbox, &["sbom", &out, "--format", "spdx"]));
        let cdx = serde_json::to_vec(&sbom).expect("json");
        let dir = sandbox.dir.path();
        support::sbom_check::validate(&python, spdx.as_bytes(), &cdx, dir);
    }

    // Both tags move to other images: the lock still wins, also with --frozen.
    let builder_v2 = push_image(&sandbox, "b2", &builder, "opt/version.txt", "2\n");
    let tool_v2 = push_image(&sandbox, "t2", &tool, "opt/notes.txt", "notes 2\n");
    assert_ne!(builder_v1, builder_v2);
    let again = ok(run(&sandbox, &["build", &project, "--output", &out]));
    assert_eq!(again, first, "the pinned images win over the moved tags");
    let frozen = ok(run(&sandbox, &["build", &project, "--frozen"]));
    assert_eq!(frozen, first);
    assert_eq!(lock_text(&sandbox), lock);
    // --frozen with a store that lacks the pinned image names the line that reads it.
    let empty = sandbox
        .dir
        .path()
        .join("empty")
        .to_string_lossy()
        .into_owned();
    let output = airlock(
        &["build", &project, "--frozen", "--cache-dir", &empty],
        sandbox.dir.path(),
        &[],
    );
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("Dockerfile:1"), "{message}");
    assert!(message.contains(&builder_v1), "{message}");

    // `airlock lock --upgrade-base` takes the tags as they are now.
    ok(run(&sandbox, &["lock", &project, "--upgrade-base"]));
    let upgraded = lock_text(&sandbox);
    assert!(
        image_entry(&upgraded, &builder).is_some_and(|e| e.contains(&builder_v2)),
        "{upgraded}"
    );
    assert!(
        image_entry(&upgraded, &tool).is_some_and(|e| e.contains(&tool_v2)),
        "{upgraded}"
    );
    let moved = ok(run(&sandbox, &["build", &project, "--output", &out]));
    assert_ne!(moved, first);
    // `airlock fetch` brings the pinned images into a fresh store for `--frozen`.
    let fresh = sandbox
        .dir
        .path()
        .join("fresh")
        .to_string_lossy()
        .into_owned();
    let cwd = sandbox.dir.path();
    ok(airlock(
        &["fetch", &project, "--cache-dir", &fresh],
        cwd,
        &[],
    ));
    let frozen = ["build", &project, "--frozen", "--cache-dir", &fresh];
    assert_eq!(ok(airlock(&frozen, cwd, &[])), moved);
    // `cache gc --keep-locks` keeps what the lock's images need.
    let lock_path = sandbox.project.join("airlock.lock");
    let gc = [
        "cache",
        "gc",
        "--keep-locks",
        lock_path.to_str().expect("utf-8"),
    ];
    ok(airlock(
        &[&gc[..], &["--cache-dir", &fresh]].concat(),
        cwd,
        &[],
    ));
    assert_eq!(ok(airlock(&frozen, cwd, &[])), moved);
    // ...and `cache export` carries them to another store.
    let tar = sandbox
        .dir
        .path()
        .join("carry.tar")
        .to_string_lossy()
        .into_owned();
    let lock_arg = lock_path.to_string_lossy().into_owned();
    let export = [
        "cache",
        "export",
        &tar,
        "--lock",
        &lock_arg,
        "--cache-dir",
        &fresh,
    ];
    ok(airlock(&export, cwd, &[]));
    let carried = sandbox
        .dir
        .path()
        .join("carried")
        .to_string_lossy()
        .into_owned();
    ok(airlock(
        &["cache", "import", &tar, "--cache-dir", &carried],
        cwd,
        &[],
    ));
    let frozen = ["build", &project, "--frozen", "--cache-dir", &carried];
    assert_eq!(ok(airlock(&frozen, cwd, &[])), moved);

    // `--locked` with an image the lock lacks fails before any pull, naming the line.
    let other = format!("{}/other:1", registry.address());
    dockerfile(&format!("COPY --from={other} /opt/x /opt/x\n"), true);
    let output = run(&sandbox, &["build", &project, "--locked"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("Dockerfile:9"), "{message}");
    assert!(message.contains(&other), "{message}");
    assert!(message.contains("airlock lock"), "{message}");
    // ...and with an image the lock pins that the Dockerfile no longer names.
    dockerfile("", false);
    let output = run(&sandbox, &["build", &project, "--locked"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains(&tool), "{message}");
    assert!(message.contains("no longer"), "{message}");
    assert!(message.contains("airlock lock"), "{message}");
    assert_eq!(lock_text(&sandbox), upgraded, "--locked never writes");
}

/// One layout (`--base-layout`) holds every image: the Runtime base under `3.0-1`,
/// the builder stage's base under `1`, the `COPY --from` image under `2`.
fn layout_project() -> (Sandbox, std::path::PathBuf) {
    let sandbox = Sandbox::quickstart();
    let layout = sandbox.dir.path().join("layout");
    support::copy_tree(&sandbox.base_layout, &layout);
    image_with(&layout, "1", "opt/version.txt", "1\n");
    image_with(&layout, "2", "opt/notes.txt", "notes\n");
    fs::write(
        sandbox.project.join("Dockerfile"),
        "ARG RUNTIME_VERSION=3.0-1\nARG BUILDER=builder:1\nFROM ${BUILDER} AS build\nWORKDIR /work\nCOPY include/helpers.py ./helpers.py\n\nFROM astro-runtime:${RUNTIME_VERSION}\nUSER root\nCOPY --from=build /opt/version.txt /opt/version.txt\nCOPY --from=build /work/helpers.py /opt/helpers.py\nCOPY --from=tools.example/tool:2 /opt/notes.txt /opt/notes.txt\nUSER astro\n",
    )
    .expect("Dockerfile");
    (sandbox, layout)
}

#[test]
fn item13_images_of_earlier_stages_are_pinned_from_a_base_layout_and_old_locks_read() {
    let (sandbox, layout) = layout_project();
    let first = ok(sandbox.build_on(&layout, &[]));
    let lock = lock_text(&sandbox);
    // The reference after `ARG` substitution; the lines that read it.
    let builder = image_entry(&lock, "builder:1").expect("builder pinned");
    assert!(builder.contains("lines = [3]"), "{lock}");
    let tool = image_entry(&lock, "tools.example/tool:2").expect("tool pinned");
    assert!(tool.contains("lines = [11]"), "{lock}");
    assert!(
        image_entry(&lock, "astro-runtime:3.0-1").is_none(),
        "the last stage's base stays in [base]: {lock}"
    );

    // A lock written before `[[images]]` existed still reads: `--locked` names what
    // is missing, a build fills it in (the same image as before).
    let cut = lock.find("[[images]]").expect("images table");
    fs::write(sandbox.project.join("airlock.lock"), &lock[..cut]).expect("old lock");
    let output = sandbox.build_on(&layout, &["--locked"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("Dockerfile:3"), "{message}");
    assert!(message.contains("builder:1"), "{message}");
    assert!(message.contains("airlock lock"), "{message}");
    let refilled = ok(sandbox.build_on(&layout, &[]));
    assert_eq!(lock_text(&sandbox), lock);
    assert_eq!(refilled, first);

    // The layout's tag moves: the pinned manifest is kept until `--upgrade-base`.
    image_with(&layout, "1", "opt/version.txt", "2\n");
    let again = ok(sandbox.build_on(&layout, &["--locked"]));
    assert_eq!(again, first);
    let upgraded = ok(sandbox.build_on(&layout, &["--upgrade-base"]));
    assert_ne!(upgraded, first);
    assert_ne!(lock_text(&sandbox), lock);
}
