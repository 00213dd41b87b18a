//! SBOMs (issue 17): an image with a Debian and a Python layer on a real minbase
//! Debian base with python3. The SBOMs validate with independent validators from
//! PyPI (cyclonedx-python-lib's JSON schema validation, spdx-tools' `pyspdxtools`),
//! list exactly what `dpkg-query -W` (under bwrap, in the unpacked image) and
//! `pip list --path` report, and are the same bytes across two builds and from
//! `airlock sbom IMAGE`.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use airlock::digest::Digest;
use airlock::layer::{Entry, EntryKind, FileSource, FileTree, Owner, build_layer};
use airlock::oci::{descriptor, media_types, write_layout};
use airlock::store::Store;
use serde_json::{Value, json};
use support::debian::{TestArchive, TestPackage, public_keyring};
use support::pyindex::{Form, PyIndex, Served, WheelSpec};
use support::rootfs::debian_rootfs;
use support::{airlock, run_ok, stderr, stdout};

fn file(bytes: &[u8]) -> Entry {
    Entry {
        kind: EntryKind::File {
            size: bytes.len() as u64,
            sha256: Digest::of(bytes),
            source: FileSource::Bytes(std::sync::Arc::from(bytes)),
        },
        mode: 0o644,
        owner: Owner::ROOT,
    }
}

fn dir() -> Entry {
    Entry {
        kind: EntryKind::Dir,
        mode: 0o755,
        owner: Owner::ROOT,
    }
}

/// The minbase+python3 root filesystem, with one more layer that points apt at the
/// local test archive (and nowhere else).
fn base_layout(rootfs: &Path, layout: &Path, archive: &TestArchive) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let store = Store::open(scratch.path()).expect("store");
    let (diff_id, size) =
        Digest::of_reader(std::fs::File::open(rootfs).expect("open rootfs")).expect("hash");
    store.import_file(rootfs, &diff_id).expect("import");
    let mut tree = FileTree::new();
    let sources = support::debian::sources_for(archive);
    for (path, entry) in [
        ("etc", dir()),
        ("etc/apt", dir()),
        ("etc/apt/sources.list", file(b"")),
        ("etc/apt/sources.list.d", dir()),
        (
            "etc/apt/sources.list.d/test.sources",
            file(sources.as_bytes()),
        ),
        ("usr", dir()),
        ("usr/share", dir()),
        ("usr/share/keyrings", dir()),
        (
            "usr/share/keyrings/test-archive.gpg",
            file(&public_keyring(&archive.key)),
        ),
    ] {
        tree.insert(path, entry).expect("insert");
    }
    let (overlay, _) = build_layer(&store, &tree, "fixture-sources", 0).expect("layer");
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "WorkingDir": "/opt/project"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string(), overlay.diff_id.to_string()]},
        "history": [
            {"created": "1970-01-01T00:00:00Z", "created_by": "mmdebstrap"},
            {"created": "1970-01-01T00:00:00Z", "created_by": "test sources"},
        ],
    });
    let layers = [
        descriptor(media_types::OCI_LAYER_TAR, diff_id.clone(), size),
        descriptor(&overlay.media_type, overlay.digest.clone(), overlay.size),
    ];
    let config_bytes = serde_json::to_vec(&config).expect("json");
    let (manifest, blobs) = support::image_manifest(&store, &config_bytes, &layers);
    write_layout(
        layout,
        "bookworm",
        &blobs,
        &manifest,
        media_types::OCI_MANIFEST,
    )
    .expect("layout");
}

fn in_image(rootfs: &Path, argv: &[&str]) -> String {
    run_ok(
        Command::new("bwrap")
            .arg("--bind")
            .arg(rootfs)
            .arg("/")
            .args([
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                "--unshare-all",
                "--clearenv",
            ])
            .args(["--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin"])
            .args(argv),
    )
}

fn normalize(name: &str) -> String {
    name.to_ascii_lowercase().replace(['_', '.'], "-")
}

#[test]
fn sbom_lists_exactly_the_image_packages_validates_and_is_deterministic() {
    for tool in ["bwrap", "umoci"] {
        assert!(
            support::host_debian::tool(tool),
            "`{tool}` is missing: run scripts/test, which installs it"
        );
    }
    let Some(rootfs) = debian_rootfs("bookworm", &["python3"]) else {
        return;
    };
    let Some(python) = support::sbom_check::validators() else {
        return;
    };
    let archive = TestArchive::new(
        "bookworm",
        &[
            TestPackage::new("sbom-tool", "1.0-1").depends("sbom-lib (>= 2)"),
            TestPackage::new("sbom-lib", "2:2.5+dfsg-3"),
        ],
    );
    let index = PyIndex::start(
        vec![
            Served::wheel(
                &WheelSpec::pure("alpha", "1.0")
                    .requires("beta")
                    .metadata_line("License-Expression: MIT OR Apache-2.0"),
            ),
            Served::wheel(&WheelSpec::pure("beta_pkg", "2.1").metadata_line("License: BSD")),
            Served::wheel(&WheelSpec::pure("beta", "0.3").requires("beta-pkg")),
        ],
        Form::Json,
        None,
    );
    let work = tempfile::tempdir().expect("tempdir");
    let layout = work.path().join("base");
    base_layout(&rootfs, &layout, &archive);
    let project = work.path().join("project");
    std::fs::create_dir_all(project.join("dags")).expect("mkdir");
    std::fs::write(
        project.join("Dockerfile"),
        "FROM e2e/minbase:bookworm\nWORKDIR /usr/local/airflow\n",
    )
    .expect("write");
    std::fs::write(project.join("packages.txt"), "sbom-tool\n").expect("write");
    std::fs::write(project.join("requirements.txt"), "alpha\n").expect("write");
    std::fs::write(project.join("dags/dag.py"), "x = 1\n").expect("write");
    let cache = work.path().join("cache");
    let index_url = index.url();
    let build = |out: &str| {
        let output = format!("oci:{}:latest", work.path().join(out).display());
        let result = airlock(
            &[
                "build",
                project.to_str().expect("utf-8"),
                "--base-layout",
                layout.to_str().expect("utf-8"),
                "--cache-dir",
                cache.to_str().expect("utf-8"),
                "--output",
                &output,
                "--sbom",
                "both",
            ],
            work.path(),
            &[
                ("PIP_INDEX_URL", &index_url),
                ("SOURCE_DATE_EPOCH", "1700000000"),
            ],
        );
        assert!(
            result.status.success(),
            "{}{}",
            stdout(&result),
            stderr(&result)
        );
        let spdx = std::fs::read(work.path().join(format!("{out}.spdx.json"))).expect("spdx");
        let cdx = std::fs::read(work.path().join(format!("{out}.cdx.json"))).expect("cdx");
        (spdx, cdx)
    };
    let (spdx, cdx) = build("one");
    let (spdx_again, cdx_again) = build("two");
    assert!(spdx == spdx_again, "SPDX differs between two builds");
    assert!(cdx == cdx_again, "CycloneDX differs between two builds");

    // `airlock sbom IMAGE` prints the same bytes.
    for (format, expected) in [("spdx", &spdx), ("cyclonedx", &cdx)] {
        let printed = airlock(
            &[
                "sbom",
                &format!("oci:{}:latest", work.path().join("one").display()),
                "--format",
                format,
                "--project-dir",
                project.to_str().expect("utf-8"),
            ],
            work.path(),
            &[],
        );
        assert!(printed.status.success(), "{}", stderr(&printed));
        assert!(
            &printed.stdout == expected,
            "`airlock sbom --format {format}` differs from the build's"
        );
    }

    // Independent validators.
    support::sbom_check::validate(&python, &spdx, &cdx, work.path());

    // What the image has, asked of the image itself.
    let bundle = work.path().join("bundle");
    run_ok(
        Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:latest", work.path().join("one").display()))
            .arg(&bundle),
    );
    let root = bundle.join("rootfs");
    let dpkg: BTreeSet<String> = in_image(
        &root,
        &[
            "dpkg-query",
            "-W",
            "-f",
            "${Package} ${Version} ${Architecture}\\n",
        ],
    )
    .lines()
    .map(str::to_string)
    .collect();
    let mut pip: BTreeSet<String> = BTreeSet::new();
    let paths = in_image(
        &root,
        &[
            "python3",
            "-c",
            "import sys; print('\\n'.join(p for p in sys.path if p))",
        ],
    );
    for path in paths.lines() {
        let host = root.join(path.trim_start_matches('/'));
        if !host.is_dir() || !(path.ends_with("-packages")) {
            continue;
        }
        let listed = run_ok(
            Command::new(&python)
                .args(["-m", "pip", "list", "--format", "json", "--path"])
                .arg(&host),
        );
        let listed: Value = serde_json::from_str(&listed).expect("pip json");
        for item in listed.as_array().expect("array") {
            pip.insert(format!(
                "{} {}",
                normalize(item["name"].as_str().expect("name")),
                item["version"].as_str().expect("version")
            ));
        }
    }
    assert!(dpkg.len() > 50, "{dpkg:?}");
    assert!(
        dpkg.iter().any(|p| p.starts_with("sbom-tool 1.0-1 ")),
        "{dpkg:?}"
    );
    assert!(
        pip.contains("alpha 1.0") && pip.contains("beta-pkg 2.1"),
        "{pip:?}"
    );

    let cdx: Value = serde_json::from_slice(&cdx).expect("json");
    let components = cdx["components"].as_array().expect("components");
    let purl_of = |c: &Value| c["purl"].as_str().unwrap_or("").to_string();
    let sbom_debs: BTreeSet<String> = components
        .iter()
        .filter(|c| purl_of(c).starts_with("pkg:deb/"))
        .map(|c| {
            let arch = c["properties"]
                .as_array()
                .and_then(|p| {
                    p.iter()
                        .find(|p| p["name"] == "airlock:debian:architecture")
                })
                .and_then(|p| p["value"].as_str())
                .unwrap_or("");
            format!(
                "{} {} {arch}",
                c["name"].as_str().unwrap_or(""),
                c["version"].as_str().unwrap_or("")
            )
        })
        .collect();
    let sbom_pips: BTreeSet<String> = components
        .iter()
        .filter(|c| purl_of(c).starts_with("pkg:pypi/"))
        .map(|c| {
            format!(
                "{} {}",
                normalize(c["name"].as_str().unwrap_or("")),
                c["version"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        sbom_debs, dpkg,
        "the SBOM's Debian packages are not dpkg-query's"
    );
    assert_eq!(
        sbom_pips, pip,
        "the SBOM's Python distributions are not pip list's"
    );

    // What airlock fetched carries its hash, purl and licence.
    let find = |name: &str| {
        components
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    let lib = find("sbom-lib");
    assert_eq!(
        lib["purl"],
        "pkg:deb/debian/sbom-lib@2%3A2.5%2Bdfsg-3?arch=amd64&distro=bookworm"
    );
    assert!(
        lib["hashes"][0]["content"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
    let alpha = find("alpha");
    assert_eq!(alpha["purl"], "pkg:pypi/alpha@1.0");
    assert_eq!(alpha["licenses"][0]["expression"], "MIT OR Apache-2.0");
    assert!(
        alpha["hashes"][0]["content"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
    let base_dpkg = find("dpkg");
    assert!(
        base_dpkg.get("hashes").is_none(),
        "airlock did not fetch the base's dpkg"
    );
    let spdx: Value = serde_json::from_slice(&spdx).expect("json");
    let text = spdx.to_string();
    assert!(text.contains("DESCENDANT_OF") && text.contains("\"CONTAINS\""));
    assert!(
        !text.contains(&work.path().display().to_string()),
        "host paths leak"
    );
}

fn skopeo(args: &[&str]) -> Value {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is installed by scripts/test");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// Push attaches the SBOMs and the provenance as OCI 1.1 artifacts; the registry
/// (docker-registry has no referrers API) lists them under the referrers tag
/// schema, where airlock and skopeo find them.
#[test]
fn push_attaches_sboms_and_provenance_under_the_referrers_tag() {
    let registry = support::registry::Registry::plain();
    let sandbox = support::Sandbox::quickstart();
    let target = format!("{}/team/quickstart:v1", registry.address());
    let built = sandbox.build(&[
        "--sbom",
        "both",
        "--provenance",
        "--push",
        &target,
        "--output",
        &format!("oci:{}:latest", sandbox.dir.path().join("out").display()),
    ]);
    assert!(built.status.success(), "{}", stderr(&built));
    let digest: Digest = stdout(&built).trim().parse().expect("digest");
    let tag = format!("sha256-{}", digest.hex());

    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/team/quickstart", registry.address()),
    ]);
    let tags: Vec<&str> = tags["Tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(tags.contains(&tag.as_str()), "{tags:?}");
    let index = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/team/quickstart:{tag}", registry.address()),
    ]);
    assert_eq!(index["mediaType"], media_types::OCI_INDEX);
    assert_eq!(
        support::registry::artifact_types(&index),
        [
            "application/spdx+json",
            "application/vnd.cyclonedx+json",
            "application/vnd.in-toto+json"
        ]
    );
    // Each artifact names the image as its subject and holds the document written
    // beside the output.
    for entry in index["manifests"].as_array().expect("manifests") {
        let artifact = skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!(
                "docker://{}/team/quickstart@{}",
                registry.address(),
                entry["digest"].as_str().expect("digest")
            ),
        ]);
        assert_eq!(artifact["subject"]["digest"], digest.to_string());
        assert_eq!(artifact["artifactType"], entry["artifactType"]);
    }
    let provenance: Value = serde_json::from_slice(
        &std::fs::read(sandbox.dir.path().join("out.intoto.json")).expect("provenance"),
    )
    .expect("json");
    assert_eq!(provenance["subject"][0]["digest"]["sha256"], digest.hex());
    assert_eq!(
        provenance["predicateType"],
        "https://slsa.dev/provenance/v1"
    );
    let deps = provenance["predicate"]["buildDefinition"]["resolvedDependencies"].to_string();
    assert!(
        deps.contains("airlock.lock") && deps.contains("\"base\""),
        "{deps}"
    );
    let text = provenance.to_string();
    assert!(
        !text.contains(&sandbox.dir.path().display().to_string()),
        "host paths leak"
    );

    // airlock finds them too.
    let empty = sandbox.dir.path().join("empty-store");
    let pulled = airlock(
        &["pull", &target, "--cache-dir", &empty.to_string_lossy()],
        sandbox.dir.path(),
        &[],
    );
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    for kind in [
        "application/spdx+json",
        "application/vnd.cyclonedx+json",
        "application/vnd.in-toto+json",
    ] {
        assert!(
            stderr(&pulled).contains(&format!("Attached {kind}")),
            "{}",
            stderr(&pulled)
        );
    }

    // `airlock push` of the same output attaches what was written beside it.
    let again = format!("{}/team/copy:v1", registry.address());
    let pushed = airlock(
        &[
            "push",
            &again,
            "--from",
            &format!("oci:{}:latest", sandbox.dir.path().join("out").display()),
            "--cache-dir",
            &sandbox.cache.to_string_lossy(),
        ],
        sandbox.dir.path(),
        &[],
    );
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    let copy_index = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/team/copy:{tag}", registry.address()),
    ]);
    assert_eq!(copy_index["manifests"].as_array().map(Vec::len), Some(3));
}

/// `airlock verify` passes on an untouched image and, after one project file is
/// changed and the image re-packed with umoci, fails naming that file.
#[test]
fn verify_passes_untouched_and_names_the_file_changed_by_hand() {
    assert!(
        support::host_debian::tool("umoci"),
        "`umoci` is missing: run scripts/test, which installs it"
    );
    let sandbox = support::Sandbox::quickstart();
    let out = sandbox.dir.path().join("out");
    let image = format!("oci:{}:latest", out.display());
    let built = sandbox.build(&["--output", &image]);
    assert!(built.status.success(), "{}", stderr(&built));
    let verify = || {
        airlock(
            &[
                "verify",
                &image,
                "--project-dir",
                &sandbox.project.to_string_lossy(),
                "--base-layout",
                &sandbox.base_layout.to_string_lossy(),
            ],
            sandbox.dir.path(),
            &[],
        )
    };
    let untouched = verify();
    assert_eq!(
        untouched.status.code(),
        Some(0),
        "{}{}",
        stdout(&untouched),
        stderr(&untouched)
    );

    let bundle = sandbox.dir.path().join("bundle");
    run_ok(
        Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:latest", out.display()))
            .arg(&bundle),
    );
    let changed = bundle.join("rootfs/usr/local/airflow/dags/example_dag.py");
    assert!(changed.is_file(), "{}", changed.display());
    std::fs::write(&changed, "# changed by hand\n").expect("write");
    run_ok(
        Command::new("umoci")
            .args(["repack", "--image"])
            .arg(format!("{}:latest", out.display()))
            .arg(&bundle),
    );
    let tampered = verify();
    assert_eq!(
        tampered.status.code(),
        Some(1),
        "{}{}",
        stdout(&tampered),
        stderr(&tampered)
    );
    assert!(
        stdout(&tampered).contains("usr/local/airflow/dags/example_dag.py"),
        "{}",
        stdout(&tampered)
    );
}
