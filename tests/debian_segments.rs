//! The Debian layer as segments (#15 item 3): every directory first, then each
//! `.deb`'s files as their own run of gzip members (zstd frames), cached in the store,
//! then the generated dpkg database, then the end-of-archive. Adding one package to
//! `packages.txt` compresses that package's files only, and the layer stays the one a
//! cold build makes.

use crate::support;

use std::io::Read;
use std::path::{Path, PathBuf};

use support::debian::{
    Item, TestArchive, TestPackage, hello_and_libhello, public_keyring, sources_for,
    write_debian_base,
};
use support::{airlock, stderr, stdout};

fn packages() -> Vec<TestPackage> {
    let mut all = hello_and_libhello();
    all.push(
        TestPackage::new("zhello", "2.0-1")
            .item(Item::Dir("./usr/share/zhello/"))
            .item(Item::File("./usr/share/zhello/z.txt", 0o644, b"z".to_vec())),
    );
    // Two packages shipping the same file: the later (by lock order) wins.
    all.push(
        TestPackage::new("common-a", "1.0")
            .item(Item::Dir("./usr/share/common/"))
            .item(Item::File(
                "./usr/share/common/x",
                0o644,
                b"from a".to_vec(),
            ))
            .item(Item::File(
                "./usr/share/common/only-a",
                0o644,
                b"a".to_vec(),
            ))
            // Sorts before its target: the link must still follow it.
            .item(Item::Hardlink(
                "./usr/share/common/a-link",
                "./usr/share/common/only-a",
            ))
            // Its target is replaced by common-b: the link keeps a's bytes.
            .item(Item::Hardlink(
                "./usr/share/common/x-link",
                "./usr/share/common/x",
            )),
    );
    all.push(
        TestPackage::new("common-b", "1.0")
            .item(Item::Dir("./usr/share/common/"))
            .item(Item::File(
                "./usr/share/common/x",
                0o644,
                b"from b".to_vec(),
            )),
    );
    all
}

struct Case {
    dir: tempfile::TempDir,
    project: PathBuf,
    layout: PathBuf,
    _archive: TestArchive,
}

impl Case {
    fn new(packages_txt: &str) -> Self {
        let archive = TestArchive::new("bookworm", &packages());
        let keyring = public_keyring(&archive.key);
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = dir.path().join("base");
        write_debian_base(&layout, &sources_for(&archive), &keyring);
        let project = dir.path().join("project");
        std::fs::create_dir_all(project.join("dags")).expect("mkdir");
        std::fs::write(project.join("Dockerfile"), "FROM test/debian:bookworm\n").expect("write");
        std::fs::write(project.join("packages.txt"), packages_txt).expect("write");
        std::fs::write(project.join("dags/a.py"), "x = 1\n").expect("write");
        Self {
            dir,
            project,
            layout,
            _archive: archive,
        }
    }

    fn store(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Builds into the store `cache` and returns the Debian layer's blob.
    fn build(&self, cache: &Path, extra: &[&str]) -> PathBuf {
        let project = self.project.to_string_lossy().into_owned();
        let cache_arg = cache.to_string_lossy().into_owned();
        let layout = self.layout.to_string_lossy().into_owned();
        let mut args = vec![
            "build",
            project.as_str(),
            "--cache-dir",
            cache_arg.as_str(),
            "--base-layout",
            layout.as_str(),
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = airlock(&args, self.dir.path(), &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        let value: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
        let layer = value["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .find(|l| l["kind"] == "debian")
            .cloned()
            .expect("a debian layer");
        let digest = layer["digest"].as_str().expect("digest");
        cache
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// The locked package names, in lock order.
    fn locked(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.project.join("airlock.lock")).expect("lock");
        let lock: toml::Value = toml::from_str(&text).expect("toml");
        lock["debs"]
            .as_array()
            .expect("debs")
            .iter()
            .map(|d| d["name"].as_str().expect("name").to_string())
            .collect()
    }
}

/// The decompressed members of a gzip file, in order.
fn gzip_members(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut rest = bytes;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let mut decoder = flate2::bufread::GzDecoder::new(rest);
        let mut member = Vec::new();
        decoder
            .read_to_end(&mut member)
            .expect("a whole gzip member");
        rest = decoder.into_inner();
        out.push(member);
    }
    out
}

/// The decompressed frames of a zstd file, in order.
fn zstd_frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut rest = bytes;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let size = zstd::zstd_safe::find_frame_compressed_size(rest).expect("a whole frame");
        out.push(zstd::decode_all(&rest[..size]).expect("frame"));
        rest = &rest[size..];
    }
    out
}

/// One tar entry: path (without a trailing `/`), type, offset of its header, bytes.
struct TarEntry {
    path: String,
    kind: char,
    offset: u64,
    bytes: Vec<u8>,
}

fn tar_entries(tar: &[u8]) -> Vec<TarEntry> {
    let mut archive = tar::Archive::new(tar);
    let mut out = Vec::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let kind = support::debian::kind_char(entry.header().entry_type());
        let offset = entry.raw_header_position();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read");
        out.push(TarEntry {
            path: path.trim_end_matches('/').to_string(),
            kind,
            offset,
            bytes,
        });
    }
    out
}

/// Checks the layer's tar order and member boundaries for the packages `hello`,
/// `libhello` and `zhello`.
fn assert_documented_order(members: &[Vec<u8>]) {
    let mut starts = vec![0u64];
    for m in members {
        starts.push(starts.last().copied().unwrap_or(0) + m.len() as u64);
    }
    let tar: Vec<u8> = members.concat();
    // The end-of-archive is its own member.
    assert!(
        members.last().is_some_and(|m| m[..] == [0u8; 1024]),
        "the end-of-archive is not its own member ({} members)",
        members.len()
    );
    let entries = tar_entries(&tar);
    let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    let dirs = [
        "usr",
        "usr/bin",
        "usr/lib",
        "usr/share",
        "usr/share/zhello",
        "var",
        "var/lib",
        "var/lib/dpkg",
        "var/lib/dpkg/info",
    ];
    let per_deb = [
        "usr/bin/hello",
        "usr/lib/libhello.so.1",
        "usr/share/zhello/z.txt",
    ];
    let generated = [
        "var/lib/dpkg/info/hello.list",
        "var/lib/dpkg/info/hello.md5sums",
        "var/lib/dpkg/info/libhello.list",
        "var/lib/dpkg/info/libhello.md5sums",
        "var/lib/dpkg/info/zhello.list",
        "var/lib/dpkg/info/zhello.md5sums",
        "var/lib/dpkg/status",
    ];
    let expected: Vec<&str> = dirs
        .iter()
        .chain(&per_deb)
        .chain(&generated)
        .copied()
        .collect();
    assert_eq!(paths, expected);
    assert!(entries[..dirs.len()].iter().all(|e| e.kind == 'd'));
    // Each segment starts a member: the directories, each .deb, the generated files.
    for first in [dirs.len(), dirs.len() + 1, dirs.len() + 2, dirs.len() + 3] {
        let offset = entries[first].offset;
        assert!(
            starts.contains(&offset),
            "`{}` at {offset} does not start a member ({starts:?})",
            entries[first].path
        );
    }
    let status = String::from_utf8_lossy(&entries[expected.len() - 1].bytes).into_owned();
    assert!(status.contains("Package: zhello\n"), "{status}");
    assert!(status.contains("Package: base-files\n"), "{status}");
}

/// Run records (compressed runs of cached segments) in the store.
fn runs(cache: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache.join("segments"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() == 69 && n.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn debian_layer_is_segmented_in_the_documented_order() {
    let case = Case::new("hello zhello\n");
    let blob = case.build(&case.store("cache"), &[]);
    assert_eq!(case.locked(), ["hello", "libhello", "zhello"]);
    let bytes = std::fs::read(&blob).expect("layer");
    // A valid gzip stream (one reader over all members) holding a valid tar.
    let mut whole = Vec::new();
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .read_to_end(&mut whole)
        .expect("gzip");
    assert_documented_order(&gzip_members(&bytes));
    assert_eq!(whole, gzip_members(&bytes).concat());
}

#[test]
fn debian_layer_zstd_is_segmented_in_the_documented_order() {
    let case = Case::new("hello zhello\n");
    let blob = case.build(&case.store("cache"), &["--compression", "zstd"]);
    let bytes = std::fs::read(&blob).expect("layer");
    assert_documented_order(&zstd_frames(&bytes));
    let again = case.build(&case.store("other"), &["--compression", "zstd", "--locked"]);
    assert_eq!(
        blob.file_name(),
        again.file_name(),
        "same digest from two stores"
    );
}

#[test]
fn debian_layer_same_digest_from_two_empty_stores() {
    let case = Case::new("hello zhello common-b\n");
    let first = case.build(&case.store("one"), &[]);
    let second = case.build(&case.store("two"), &["--locked"]);
    assert_eq!(first.file_name(), second.file_name());
}

#[test]
fn adding_one_package_compresses_only_its_run() {
    let case = Case::new("hello\n");
    let warm = case.store("warm");
    case.build(&warm, &[]);
    let before = runs(&warm);
    assert_eq!(before.len(), 2, "one run per .deb: {before:?}");
    let stamps: Vec<_> = before
        .iter()
        .map(|n| {
            std::fs::metadata(warm.join("segments").join(n))
                .and_then(|m| m.modified())
                .ok()
        })
        .collect();

    std::fs::write(case.project.join("packages.txt"), "hello\nzhello\n").expect("write");
    let rebuilt = case.build(&warm, &[]);
    assert_eq!(case.locked(), ["hello", "libhello", "zhello"]);
    let after = runs(&warm);
    assert_eq!(after.len(), 3, "only zhello's run is new: {after:?}");
    assert!(before.iter().all(|n| after.contains(n)));
    let stamps_after: Vec<_> = before
        .iter()
        .map(|n| {
            std::fs::metadata(warm.join("segments").join(n))
                .and_then(|m| m.modified())
                .ok()
        })
        .collect();
    assert_eq!(
        stamps, stamps_after,
        "the cached runs are not written again"
    );

    // Byte for byte the layer a cold build makes in an empty store.
    let cold = case.build(&case.store("cold"), &["--locked"]);
    assert_eq!(rebuilt.file_name(), cold.file_name());
    assert_eq!(
        std::fs::read(&rebuilt).expect("warm"),
        std::fs::read(&cold).expect("cold")
    );
}

#[test]
fn a_file_two_packages_ship_goes_to_the_later() {
    let case = Case::new("common-a common-b\n");
    let cache = case.store("cache");
    let blob = case.build(&cache, &[]);
    assert_eq!(case.locked(), ["common-a", "common-b"]);
    let bytes = std::fs::read(&blob).expect("layer");
    let entries = tar_entries(&gzip_members(&bytes).concat());
    let x: Vec<&TarEntry> = entries
        .iter()
        .filter(|e| e.path == "usr/share/common/x")
        .collect();
    assert_eq!(x.len(), 1, "written once");
    assert_eq!(x[0].bytes, b"from b");
    let only_a = entries
        .iter()
        .position(|e| e.path == "usr/share/common/only-a")
        .expect("only-a");
    let x_at = entries
        .iter()
        .position(|e| e.path == "usr/share/common/x")
        .expect("x");
    assert!(only_a < x_at, "common-a's run comes before common-b's");
    let at = |p: &str| entries.iter().position(|e| e.path == p).expect(p);
    let link = &entries[at("usr/share/common/a-link")];
    assert_eq!(link.kind, 'h');
    assert!(
        at("usr/share/common/a-link") > only_a,
        "a hardlink follows its target"
    );
    let kept = &entries[at("usr/share/common/x-link")];
    assert_eq!((kept.kind, &kept.bytes[..]), ('f', &b"from a"[..]));
    assert!(at("usr/share/common/x-link") < x_at);
    // The same from an empty store, and with common-a alone the file is a's.
    let again = case.build(&case.store("fresh"), &["--locked"]);
    assert_eq!(blob.file_name(), again.file_name());
    std::fs::write(case.project.join("packages.txt"), "common-a\n").expect("write");
    let alone = case.build(&cache, &[]);
    let entries = tar_entries(&gzip_members(&std::fs::read(&alone).expect("layer")).concat());
    let x = entries
        .iter()
        .find(|e| e.path == "usr/share/common/x")
        .expect("x");
    assert_eq!(x.bytes, b"from a");
}

/// Notes in the store beside the runs (what each `.deb` places).
fn notes(cache: &Path) -> usize {
    std::fs::read_dir(cache.join("segments"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .ends_with(".debian-unpacked.json")
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn gc_keeps_the_runs_of_a_kept_debian_layer() {
    let case = Case::new("hello\n");
    let cache = case.store("cache");
    case.build(&cache, &[]);
    std::fs::write(case.project.join("packages.txt"), "zhello\n").expect("write");
    let kept = case.build(&cache, &[]);
    assert_eq!(case.locked(), ["zhello"]);
    assert_eq!((runs(&cache).len(), notes(&cache)), (3, 3));
    let lock = case.project.join("airlock.lock");
    let out = airlock(
        &[
            "cache",
            "gc",
            "--keep-locks",
            &lock.to_string_lossy(),
            "--cache-dir",
            &cache.to_string_lossy(),
            "--base-layout",
            &case.layout.to_string_lossy(),
        ],
        case.dir.path(),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // zhello's run and note stay with the kept layer; hello's and libhello's go.
    assert_eq!((runs(&cache).len(), notes(&cache)), (1, 1));
    assert!(kept.is_file(), "the kept layer stays");
    // Made again without its record, the layer reuses the kept run: same bytes.
    for entry in std::fs::read_dir(cache.join("layers")).expect("layers") {
        std::fs::remove_file(entry.expect("entry").path()).expect("remove");
    }
    let again = case.build(&cache, &["--locked"]);
    assert_eq!(again.file_name(), kept.file_name());
    assert_eq!(runs(&cache).len(), 1);
}
