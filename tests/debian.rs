//! `packages.txt` end to end against a local archive signed with a test key:
//! resolution, the lock, the Debian layer (merged /usr, dpkg database,
//! alternatives), reuse, offline rebuilds and every refusal.

use crate::support;

use std::path::{Path, PathBuf};

use support::debian::{
    Compression, Item, TestArchive, TestPackage, public_keyring, read_layer, sources_for, test_key,
    write_debian_base,
};
use support::{airlock, stderr, stdout};

fn packages() -> Vec<TestPackage> {
    vec![
        TestPackage::new("hello", "1.0-1")
            .depends("libhello (>= 1.0)")
            .item(Item::Dir("./usr/bin/"))
            .item(Item::File(
                "./usr/bin/hello",
                0o755,
                b"#!/bin/sh\necho hello\n".to_vec(),
            ))
            .postinst(
                "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n  update-alternatives --install /usr/bin/greet greet /usr/bin/hello 50\n  adduser --system hello\nfi\n",
            ),
        TestPackage::new("libhello", "1.2-1")
            .compression(Compression::Gzip)
            .item(Item::Dir("./usr/lib/"))
            .item(Item::File("./usr/lib/libhello.so.1", 0o644, b"ELF?".to_vec())),
        TestPackage::new("zhello", "2.0-1")
            .compression(Compression::Zstd)
            .item(Item::Dir("./usr/share/zhello/"))
            .item(Item::File("./usr/share/zhello/z.txt", 0o644, b"z".to_vec())),
        // Ships `/bin/x` against a merged-/usr base: it must land in `usr/bin/x`.
        TestPackage::new("binx", "1.0")
            .item(Item::Dir("./bin/"))
            .item(Item::File("./bin/x", 0o755, b"#!/bin/sh\n".to_vec())),
        TestPackage::new("escape", "1.0")
            .item(Item::File("./usr/../../etc/evil", 0o644, b"x".to_vec())),
        TestPackage::new("badlink", "1.0").item(Item::Symlink(
            "./usr/share/badlink",
            "/../../../../etc/shadow",
        )),
    ]
}

struct Case {
    dir: tempfile::TempDir,
    project: PathBuf,
    cache: PathBuf,
    layout: PathBuf,
}

impl Case {
    /// A project on a base whose apt source is `archive`, trusting `keyring`.
    fn new(archive: &TestArchive, keyring: &[u8], packages_txt: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = dir.path().join("base");
        write_debian_base(&layout, &sources_for(archive), keyring);
        let project = dir.path().join("project");
        std::fs::create_dir_all(project.join("dags")).expect("mkdir");
        std::fs::write(project.join("Dockerfile"), "FROM test/debian:bookworm\n").expect("write");
        std::fs::write(project.join("packages.txt"), packages_txt).expect("write");
        std::fs::write(project.join("dags/a.py"), "x = 1\n").expect("write");
        let cache = dir.path().join("cache");
        Self {
            dir,
            project,
            cache,
            layout,
        }
    }

    fn run(&self, command: &str, extra: &[&str]) -> std::process::Output {
        let project = self.project.to_string_lossy().into_owned();
        let cache = self.cache.to_string_lossy().into_owned();
        let layout = self.layout.to_string_lossy().into_owned();
        let mut args = vec![
            command,
            project.as_str(),
            "--cache-dir",
            cache.as_str(),
            "--base-layout",
            layout.as_str(),
        ];
        args.extend_from_slice(extra);
        airlock(&args, self.dir.path(), &[])
    }

    fn lock_text(&self) -> Option<String> {
        std::fs::read_to_string(self.project.join("airlock.lock")).ok()
    }

    fn debian_layer(&self, json: &str) -> PathBuf {
        let value: serde_json::Value = serde_json::from_str(json).expect("json");
        let layer = value["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .find(|l| l["kind"] == "debian")
            .expect("a debian layer");
        let digest = layer["digest"].as_str().expect("digest");
        self.cache
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// Layer records of Debian layers in the store.
    fn debian_records(&self) -> usize {
        std::fs::read_dir(self.cache.join("layers"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".skipped.json"))
                    .count()
            })
            .unwrap_or(0)
    }
}

fn archive() -> (TestArchive, Vec<u8>) {
    let archive = TestArchive::new("bookworm", &packages());
    let keyring = public_keyring(&archive.key);
    (archive, keyring)
}

fn assert_refused(case: &Case, out: &std::process::Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
    assert!(case.lock_text().is_none(), "a lock was written:\n{err}");
    assert_eq!(case.debian_records(), 0, "a Debian layer was written");
}

#[test]
fn packages_install_into_a_deterministic_layer() {
    let (archive, keyring) = archive();
    let case = Case::new(
        &archive,
        &keyring,
        "# tools\r\nhello zhello # greeting\nbinx\n",
    );
    let out = case.run("build", &["--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = stdout(&out);

    let lock = case.lock_text().expect("lock written");
    for needle in [
        "[[debs]]",
        "name = \"hello\"",
        "name = \"libhello\"",
        "version = \"1.2-1\"",
        "name = \"zhello\"",
        "name = \"binx\"",
        "in-release = \"sha256:",
        "suite = \"bookworm\"",
    ] {
        assert!(lock.contains(needle), "missing `{needle}` in\n{lock}");
    }

    let layer = read_layer(&case.debian_layer(&json));
    assert_eq!(layer["usr/bin/hello"].2, b"#!/bin/sh\necho hello\n");
    assert_eq!(layer["usr/lib/libhello.so.1"].2, b"ELF?");
    assert_eq!(layer["usr/share/zhello/z.txt"].2, b"z");
    assert!(layer.contains_key("usr/bin/x"), "merged /usr remap");
    assert!(
        !layer.contains_key("bin"),
        "the base's /bin symlink is kept"
    );
    assert!(!layer.contains_key("bin/x"));
    let status = String::from_utf8_lossy(&layer["var/lib/dpkg/status"].2).into_owned();
    assert!(status.contains("Package: base-files"), "{status}");
    assert!(
        status.contains("Package: hello\nStatus: install ok installed"),
        "{status}"
    );
    let list = String::from_utf8_lossy(&layer["var/lib/dpkg/info/hello.list"].2).into_owned();
    assert!(list.contains("/usr/bin/hello"), "{list}");
    assert!(layer.contains_key("var/lib/dpkg/info/hello.md5sums"));
    let greet = &layer["usr/bin/greet"];
    assert_eq!(
        (greet.0, greet.1.as_str()),
        ('l', "/etc/alternatives/greet")
    );
    let alt = &layer["etc/alternatives/greet"];
    assert_eq!((alt.0, alt.1.as_str()), ('l', "/usr/bin/hello"));
    let value: serde_json::Value = serde_json::from_str(&json).expect("json");
    let skipped = value["skipped_scripts"].to_string();
    assert!(
        skipped.contains("hello") && skipped.contains("adduser"),
        "{skipped}"
    );

    // Same lock: the layer is reused without reading a .deb, same digest.
    let again = case.run("build", &["--json"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let again_json: serde_json::Value = serde_json::from_str(&stdout(&again)).expect("json");
    assert_eq!(again_json["manifest_digest"], value["manifest_digest"]);
    let debian = |v: &serde_json::Value| {
        v["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .find(|l| l["kind"] == "debian")
            .cloned()
            .expect("debian")
    };
    assert_eq!(debian(&again_json)["reused"], true);

    // The archive gone: `--frozen` builds from the lock and the store alone, and a
    // fresh store with the same lock gives the same digest while the archive is up.
    drop(archive);
    let frozen = case.run("build", &["--frozen"]);
    assert!(frozen.status.success(), "{}", stderr(&frozen));
    assert!(
        stderr(&frozen).contains("adduser"),
        "skipped scripts are reported:\n{}",
        stderr(&frozen)
    );
}

#[test]
fn same_lock_same_layer_in_a_fresh_store() {
    let (archive, keyring) = archive();
    let case = Case::new(&archive, &keyring, "hello\n");
    let first = case.run("build", &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    std::fs::remove_dir_all(&case.cache).expect("clear store");
    let second = case.run("build", &["--locked"]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(stdout(&first), stdout(&second));
}

/// Sweep item 1: `lock --locked` keeps the locked `.deb`s of a fresh lock (the lock
/// on disk reaches the Debian step) instead of calling the lock stale.
#[test]
fn lock_locked_accepts_a_fresh_lock_with_debs() {
    let (archive, keyring) = archive();
    let case = Case::new(&archive, &keyring, "hello\n");
    let out = case.run("lock", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let locked = case.run("lock", &["--locked"]);
    assert!(locked.status.success(), "{}", stderr(&locked));
    let built = case.run("build", &["--locked"]);
    assert!(built.status.success(), "{}", stderr(&built));
}

/// Sweep item 2: a stale lock under `--locked` points at `airlock lock` (then commit
/// `airlock.lock`), not at a build without `--locked`.
#[test]
fn stale_lock_hint_names_airlock_lock() {
    let (archive, keyring) = archive();
    let case = Case::new(&archive, &keyring, "hello\n");
    let out = case.run("lock", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(case.project.join("packages.txt"), "zhello\n").expect("write");
    for command in ["lock", "build"] {
        let stale = case.run(command, &["--locked"]);
        let err = stderr(&stale);
        assert_eq!(stale.status.code(), Some(1), "{err}");
        assert!(err.contains("out of date"), "{err}");
        assert!(
            err.contains("hint: run `airlock lock`") && err.contains("commit `airlock.lock`"),
            "{err}"
        );
        assert!(!err.contains("without `--locked`"), "{err}");
    }
}

#[test]
fn lock_command_writes_the_lock_and_locked_refuses_a_changed_list() {
    let (archive, keyring) = archive();
    let case = Case::new(&archive, &keyring, "zhello\n");
    let out = case.run("lock", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        case.lock_text()
            .expect("lock")
            .contains("name = \"zhello\"")
    );
    std::fs::write(case.project.join("packages.txt"), "hello\n").expect("write");
    let stale = case.run("build", &["--locked"]);
    assert_eq!(stale.status.code(), Some(1));
    assert!(
        stderr(&stale).contains("packages.txt"),
        "{}",
        stderr(&stale)
    );
    let offline = case.run("build", &["--offline"]);
    assert_eq!(offline.status.code(), Some(1));
    assert!(
        stderr(&offline).contains("--offline"),
        "{}",
        stderr(&offline)
    );
    let relocked = case.run("build", &[]);
    assert!(relocked.status.success(), "{}", stderr(&relocked));
    assert!(case.lock_text().expect("lock").contains("name = \"hello\""));
}

#[test]
fn an_unknown_package_suggests_close_names() {
    let (archive, keyring) = archive();
    let case = Case::new(&archive, &keyring, "zhello\nhelo\n");
    let out = case.run("build", &[]);
    assert_refused(&case, &out, &["Line 2", "`helo`", "hint:", "`hello`"]);
}

#[test]
fn a_missing_version_pin_lists_the_versions() {
    let (archive, keyring) = archive();
    let case = Case::new(&archive, &keyring, "hello=9.9\n");
    let out = case.run("build", &[]);
    assert_refused(&case, &out, &["Line 1", "`9.9`", "`1.0-1`"]);
}

#[test]
fn a_tampered_deb_is_refused() {
    let (archive, keyring) = archive();
    let deb = archive.root.join("pool/main/zhello_2.0-1_amd64.deb");
    let mut bytes = std::fs::read(&deb).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&deb, bytes).expect("write");
    let case = Case::new(&archive, &keyring, "zhello\n");
    let out = case.run("build", &[]);
    assert_refused(
        &case,
        &out,
        &["zhello_2.0-1_amd64.deb", "does not match its hash"],
    );
}

#[test]
fn a_tampered_index_is_refused() {
    let (archive, keyring) = archive();
    let index = archive.dists().join("main/binary-amd64/Packages.xz");
    let text =
        std::fs::read_to_string(archive.dists().join("main/binary-amd64/Packages")).expect("read");
    std::fs::write(
        &index,
        support::debian::xz(text.replace("1.2-1", "1.3-1").as_bytes()),
    )
    .expect("write");
    let case = Case::new(&archive, &keyring, "hello\n");
    let out = case.run("build", &[]);
    assert_refused(&case, &out, &["Packages.xz", "InRelease", "tampered"]);
}

#[test]
fn an_inrelease_signed_by_an_unknown_key_is_refused() {
    let (archive, _) = archive();
    let stranger = public_keyring(&test_key("somebody else"));
    let case = Case::new(&archive, &stranger, "hello\n");
    let out = case.run("build", &[]);
    assert_refused(
        &case,
        &out,
        &[
            "not signed by a trusted key",
            "No signature verifies",
            "hint:",
        ],
    );
}

#[test]
fn packages_escaping_the_root_are_refused() {
    let (archive, keyring) = archive();
    for (name, needle) in [("escape", "`..`"), ("badlink", "outside the image root")] {
        let case = Case::new(&archive, &keyring, name);
        let out = case.run("build", &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(needle), "{name}: {err}");
        assert_eq!(case.debian_records(), 0);
        assert!(!Path::new(&case.project.join(".airlock/oci")).exists());
    }
}

#[test]
fn from_scratch_builds_a_root_filesystem_from_the_essential_set() {
    let archive = TestArchive::new(
        "bookworm",
        &[
            TestPackage::new("base-passwd", "3.6.1")
                .essential()
                .item(Item::Dir("./usr/share/base-passwd/"))
                .item(Item::File(
                    "./usr/share/base-passwd/passwd.master",
                    0o644,
                    b"root:*:0:0:root:/root:/bin/sh\n".to_vec(),
                ))
                .item(Item::File(
                    "./usr/share/base-passwd/group.master",
                    0o644,
                    b"root:*:0:\n".to_vec(),
                )),
            TestPackage::new("coreutilz", "9.1-1")
                .essential()
                .depends("libcz")
                .item(Item::Dir("./bin/"))
                .item(Item::File("./bin/cat", 0o755, b"cat".to_vec())),
            TestPackage::new("libcz", "1.0").item(Item::Dir("./lib/")),
            TestPackage::new("hello", "1.0-1"),
            TestPackage::new("unwanted", "1.0"),
        ],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("dags")).expect("mkdir");
    std::fs::write(project.join("Dockerfile"), "FROM scratch\n").expect("write");
    std::fs::write(project.join("packages.txt"), "hello\n").expect("write");
    std::fs::write(project.join("archive.gpg"), public_keyring(&archive.key)).expect("write");
    std::fs::write(
        project.join("airlock.toml"),
        format!(
            "[debian]\nrelease = \"bookworm\"\n\n[[debian.repositories]]\nuri = \"{}\"\nkey = \"archive.gpg\"\n",
            archive.uri()
        ),
    )
    .expect("write");
    let cache = dir.path().join("cache");
    let (p, c) = (
        project.to_string_lossy().into_owned(),
        cache.to_string_lossy().into_owned(),
    );
    let out = airlock(&["build", &p, "--cache-dir", &c, "--json"], dir.path(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let layers = value["layers"].as_array().expect("layers");
    assert!(layers.iter().all(|l| l["kind"] != "base"), "{layers:?}");
    let debian = layers
        .iter()
        .find(|l| l["kind"] == "debian")
        .expect("debian");
    let blob = cache.join("blobs/sha256").join(
        debian["digest"]
            .as_str()
            .expect("digest")
            .trim_start_matches("sha256:"),
    );
    let layer = read_layer(&blob);
    assert_eq!(layer["etc/passwd"].2, b"root:*:0:0:root:/root:/bin/sh\n");
    assert_eq!(layer["etc/group"].2, b"root:*:0:\n");
    assert_eq!(layer["bin/cat"].2, b"cat");
    assert!(
        layer.contains_key("lib"),
        "dependencies of essential packages"
    );
    let status = String::from_utf8_lossy(&layer["var/lib/dpkg/status"].2).into_owned();
    for name in ["base-passwd", "coreutilz", "libcz", "hello"] {
        assert!(status.contains(&format!("Package: {name}\n")), "{status}");
    }
    assert!(!status.contains("unwanted"), "{status}");
    let lock = std::fs::read_to_string(project.join("airlock.lock")).expect("lock");
    assert!(lock.contains("reference = \"scratch\""), "{lock}");
}

/// coldbase: a cold build from a fresh lock downloads the locked `.deb`s while the
/// base is read (its log says so) and makes the same image as a build that did not;
/// a `.deb` changed in the archive after locking is then the build's error, worded
/// as before, the lock untouched and no temp file left in the store.
#[test]
fn coldbase_debs_download_while_the_base_is_read() {
    let (archive, keyring) = archive();
    let case = Case::new(&archive, &keyring, "hello\n");
    let first = case.run("build", &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let locked = case.lock_text();
    std::fs::remove_dir_all(&case.cache).expect("clear store");
    let cold = case.run("build", &["--locked", "-vv"]);
    let log = stderr(&cold);
    assert!(cold.status.success(), "{log}");
    assert!(
        log.contains("downloading Debian packages while the base is read"),
        "{log}"
    );
    assert_eq!(stdout(&first), stdout(&cold));

    let deb = archive.root.join("pool/main/hello_1.0-1_amd64.deb");
    let mut bytes = std::fs::read(&deb).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&deb, bytes).expect("write");
    std::fs::remove_dir_all(&case.cache).expect("clear store");
    let out = case.run("build", &["--locked", "-vv"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("downloading Debian packages while the base is read"),
        "{err}"
    );
    assert!(err.contains("hello_1.0-1_amd64.deb"), "{err}");
    assert!(err.contains("does not match its hash"), "{err}");
    assert_eq!(case.lock_text(), locked);
    let temp = std::fs::read_dir(case.cache.join("tmp")).map_or(0, |d| d.count());
    assert_eq!(temp, 0);
}
