//! Debian test support: tiny `.deb`s made in memory, a local archive signed with a
//! key generated in the test and served on 127.0.0.1, and base images whose apt
//! sources point at it.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use airlock::digest::Digest;
use airlock::layer::{Entry, EntryKind, FileSource, FileTree, Owner, build_layer};
use airlock::oci::{Descriptor, descriptor, media_types, write_layout};
use airlock::store::Store;
use pgp::composed::{
    CleartextSignedMessage, KeyType, SecretKeyParamsBuilder, SignedPublicKey, SignedSecretKey,
};
use pgp::ser::Serialize as _;
use pgp::types::Password;
use serde_json::json;

/// How a member of a test `.deb` is compressed.
#[derive(Debug, Clone, Copy)]
pub enum Compression {
    Gzip,
    Xz,
    Zstd,
}

/// One entry of a test package's data tar. Names are written raw (so `../` escapes
/// can be made on purpose).
#[derive(Debug, Clone)]
pub enum Item {
    Dir(&'static str),
    File(&'static str, u32, Vec<u8>),
    Symlink(&'static str, &'static str),
    /// A hardlink to an earlier entry (archive paths, `./` included).
    Hardlink(&'static str, &'static str),
}

/// `hello` (a script, a maintainer script that adds a system user) depending on
/// `libhello`: the smallest set with a dependency and a skipped script.
pub fn hello_and_libhello() -> Vec<TestPackage> {
    vec![
        TestPackage::new("hello", "1.0-1")
            .depends("libhello")
            .item(Item::Dir("./usr/bin/"))
            .item(Item::File(
                "./usr/bin/hello",
                0o755,
                b"#!/bin/sh\necho hello\n".to_vec(),
            ))
            .postinst("#!/bin/sh\nset -e\nadduser --system hello\n"),
        TestPackage::new("libhello", "1.2-1")
            .item(Item::Dir("./usr/lib/"))
            .item(Item::File(
                "./usr/lib/libhello.so.1",
                0o644,
                b"ELF?".to_vec(),
            )),
    ]
}

/// A package to put in the test archive.
#[derive(Debug, Clone)]
pub struct TestPackage {
    pub name: &'static str,
    pub version: &'static str,
    pub depends: &'static str,
    pub items: Vec<Item>,
    pub compression: Compression,
    pub postinst: Option<&'static str>,
    pub essential: bool,
}

impl TestPackage {
    pub fn new(name: &'static str, version: &'static str) -> Self {
        Self {
            name,
            version,
            depends: "",
            items: vec![Item::Dir("./usr/"), Item::Dir("./usr/share/")],
            compression: Compression::Xz,
            postinst: None,
            essential: false,
        }
    }

    pub fn essential(mut self) -> Self {
        self.essential = true;
        self
    }

    pub fn depends(mut self, depends: &'static str) -> Self {
        self.depends = depends;
        self
    }

    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    pub fn item(mut self, item: Item) -> Self {
        self.items.push(item);
        self
    }

    pub fn postinst(mut self, script: &'static str) -> Self {
        self.postinst = Some(script);
        self
    }

    fn control(&self) -> String {
        let mut c = format!(
            "Package: {}\nVersion: {}\nArchitecture: amd64\nMaintainer: Test <test@invalid>\nPriority: optional\nSection: misc\n",
            self.name, self.version
        );
        if self.essential {
            c.push_str("Essential: yes\n");
        }
        if !self.depends.is_empty() {
            c.push_str(&format!("Depends: {}\n", self.depends));
        }
        c.push_str(&format!("Description: test package {}\n", self.name));
        c
    }

    /// The `.deb` bytes.
    pub fn deb(&self) -> Vec<u8> {
        let mut md5sums = String::new();
        for item in &self.items {
            if let Item::File(name, _, data) = item {
                md5sums.push_str(&format!(
                    "{}  {}\n",
                    md5_hex(data),
                    name.trim_start_matches("./")
                ));
            }
        }
        let mut control_entries = vec![
            ("./control".to_string(), 0o644, self.control().into_bytes()),
            ("./md5sums".to_string(), 0o644, md5sums.into_bytes()),
        ];
        if let Some(script) = self.postinst {
            control_entries.push(("./postinst".into(), 0o755, script.as_bytes().to_vec()));
        }
        let mut control = tar::Builder::new(Vec::new());
        for (name, mode, data) in &control_entries {
            raw_entry(&mut control, name, tar::EntryType::Regular, *mode, "", data);
        }
        let control = control.into_inner().expect("tar");
        let mut data = tar::Builder::new(Vec::new());
        raw_entry(&mut data, "./", tar::EntryType::Directory, 0o755, "", b"");
        for item in &self.items {
            match item {
                Item::Dir(name) => {
                    raw_entry(&mut data, name, tar::EntryType::Directory, 0o755, "", b"")
                }
                Item::File(name, mode, bytes) => {
                    raw_entry(&mut data, name, tar::EntryType::Regular, *mode, "", bytes)
                }
                Item::Symlink(name, target) => {
                    raw_entry(&mut data, name, tar::EntryType::Symlink, 0o777, target, b"")
                }
                Item::Hardlink(name, target) => {
                    raw_entry(&mut data, name, tar::EntryType::Link, 0o644, target, b"")
                }
            }
        }
        let data = data.into_inner().expect("tar");
        let (suffix, packed) = match self.compression {
            Compression::Gzip => ("gz", gz(&data)),
            Compression::Xz => ("xz", xz(&data)),
            Compression::Zstd => ("zst", zst(&data)),
        };
        ar(&[
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.gz", gz(&control)),
            (&format!("data.tar.{suffix}"), packed),
        ])
    }
}

fn raw_entry(
    builder: &mut tar::Builder<Vec<u8>>,
    name: &str,
    kind: tar::EntryType,
    mode: u32,
    link: &str,
    data: &[u8],
) {
    let mut h = tar::Header::new_gnu();
    {
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(data.len() as u64);
    h.set_cksum();
    builder.append(&h, data).expect("append");
}

fn ar(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        let header = format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            name,
            0,
            0,
            0,
            "100644",
            data.len()
        );
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

pub fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut w =
        lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).expect("xz");
    w.write_all(data).expect("xz");
    w.finish().expect("xz")
}

pub fn zst(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

/// MD5 through `md5sum`, which every Debian machine has (test-only).
fn md5_hex(data: &[u8]) -> String {
    let mut child = std::process::Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("md5sum");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(data)
        .expect("write");
    let out = child.wait_with_output().expect("md5sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// An ed25519 signing key made for one test.
pub fn test_key(name: &str) -> SignedSecretKey {
    let mut params = SecretKeyParamsBuilder::default();
    params
        .key_type(KeyType::Ed25519Legacy)
        .can_certify(true)
        .can_sign(true)
        .primary_user_id(format!("{name} <archive@invalid>"));
    params
        .build()
        .expect("key params")
        .generate(rand::thread_rng())
        .expect("key")
}

/// The binary public keyring of `key`.
pub fn public_keyring(key: &SignedSecretKey) -> Vec<u8> {
    let public = SignedPublicKey::from(key.clone());
    let mut out = Vec::new();
    public.to_writer(&mut out).expect("serialize key");
    out
}

/// A local archive on disk: `dists/<suite>/InRelease`, `main/binary-amd64/Packages*`
/// and the pool, served over HTTP on 127.0.0.1 until dropped.
pub struct TestArchive {
    pub root: PathBuf,
    pub suite: String,
    pub port: u16,
    pub key: SignedSecretKey,
    stop: Arc<AtomicBool>,
    _dir: tempfile::TempDir,
}

impl TestArchive {
    pub fn new(suite: &str, packages: &[TestPackage]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("debian");
        let key = test_key("airlock test archive");
        let mut index = String::new();
        for p in packages {
            let deb = p.deb();
            let filename = format!("pool/main/{}_{}_amd64.deb", p.name, p.version);
            let path = root.join(&filename);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, &deb).expect("write deb");
            let mut control = p.control();
            control.push_str(&format!(
                "Filename: {filename}\nSize: {}\nSHA256: {}\n\n",
                deb.len(),
                Digest::of(&deb).hex()
            ));
            index.push_str(&control);
        }
        let archive = Self {
            root,
            suite: suite.to_string(),
            port: 0,
            key,
            stop: Arc::new(AtomicBool::new(false)),
            _dir: dir,
        };
        archive.write_indices(&index);
        archive.serve()
    }

    pub fn dists(&self) -> PathBuf {
        self.root.join("dists").join(&self.suite)
    }

    /// Writes `Packages`, `Packages.xz` and a signed `InRelease` listing them.
    pub fn write_indices(&self, packages: &str) {
        let dir = self.dists().join("main/binary-amd64");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let plain = packages.as_bytes().to_vec();
        let packed = xz(&plain);
        std::fs::write(dir.join("Packages"), &plain).expect("write");
        std::fs::write(dir.join("Packages.xz"), &packed).expect("write");
        let mut release = format!(
            "Origin: Test\nLabel: Test\nSuite: stable\nCodename: {}\nDate: Thu, 01 Jan 2026 00:00:00 UTC\nArchitectures: amd64\nComponents: main\nDescription: airlock test archive\nSHA256:\n",
            self.suite
        );
        for (name, bytes) in [("Packages", &plain), ("Packages.xz", &packed)] {
            release.push_str(&format!(
                " {} {} main/binary-amd64/{name}\n",
                Digest::of(bytes).hex(),
                bytes.len()
            ));
        }
        std::fs::write(self.dists().join("InRelease"), self.sign(&release)).expect("write");
    }

    /// A clearsigned text made with the archive's key.
    pub fn sign(&self, text: &str) -> String {
        sign_with(&self.key, text)
    }

    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}/debian", self.port)
    }

    fn serve(mut self) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        self.port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let root = self.root.clone();
        let stop = self.stop.clone();
        std::thread::spawn(move || {
            // Bounded: the server stops when the archive is dropped, or after an hour.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3600);
            while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let root = root.clone();
                        std::thread::spawn(move || answer(stream, &root));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        self
    }
}

impl Drop for TestArchive {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub fn sign_with(key: &SignedSecretKey, text: &str) -> String {
    let message = CleartextSignedMessage::sign(
        rand::thread_rng(),
        text,
        &key.primary_key,
        &Password::empty(),
    )
    .expect("sign");
    message
        .to_armored_string(Default::default())
        .expect("armor")
}

fn answer(mut stream: TcpStream, root: &Path) {
    let _ = stream.set_nonblocking(false);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head);
    let target = text.split_whitespace().nth(1).unwrap_or("/").to_string();
    let relative = target.trim_start_matches("/debian/");
    let path = root.join(relative);
    let ok = !relative.contains("..") && path.is_file();
    let body = if ok {
        std::fs::read(&path).unwrap_or_default()
    } else {
        Vec::new()
    };
    let status = if ok { "200 OK" } else { "404 Not Found" };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(&body);
}

fn entry_file(content: &[u8], mode: u32) -> Entry {
    let bytes: Arc<[u8]> = Arc::from(content);
    Entry {
        kind: EntryKind::File {
            size: bytes.len() as u64,
            sha256: Digest::of(&bytes),
            source: FileSource::Bytes(bytes),
        },
        mode,
        owner: Owner::ROOT,
    }
}

fn entry_dir() -> Entry {
    Entry {
        kind: EntryKind::Dir,
        mode: 0o755,
        owner: Owner::ROOT,
    }
}

fn entry_symlink(target: &str) -> Entry {
    Entry {
        kind: EntryKind::Symlink {
            target: target.into(),
        },
        mode: 0o777,
        owner: Owner::ROOT,
    }
}

/// A small bookworm-like base: merged /usr, os-release, a dpkg database with
/// `base-files`, and an apt source for `archive` signed by `keyring`.
pub fn write_debian_base(layout: &Path, sources: &str, keyring: &[u8]) -> Digest {
    let mut tree = FileTree::new();
    let status = "Package: base-files\nStatus: install ok installed\nPriority: required\nSection: admin\nMaintainer: Test <test@invalid>\nArchitecture: amd64\nVersion: 12.4\nEssential: yes\nDescription: base files\n\n";
    let files: Vec<(&str, Entry)> = vec![
        ("bin", entry_symlink("usr/bin")),
        ("sbin", entry_symlink("usr/sbin")),
        ("lib", entry_symlink("usr/lib")),
        ("lib64", entry_symlink("usr/lib64")),
        ("etc", entry_dir()),
        ("etc/apt", entry_dir()),
        ("etc/apt/sources.list.d", entry_dir()),
        (
            "etc/apt/sources.list.d/test.sources",
            entry_file(sources.as_bytes(), 0o644),
        ),
        (
            "etc/os-release",
            entry_file(
                b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_CODENAME=bookworm\n",
                0o644,
            ),
        ),
        (
            "etc/passwd",
            entry_file(b"root:x:0:0:root:/root:/bin/sh\n", 0o644),
        ),
        ("etc/group", entry_file(b"root:x:0:\n", 0o644)),
        ("usr", entry_dir()),
        ("usr/bin", entry_dir()),
        ("usr/sbin", entry_dir()),
        ("usr/lib", entry_dir()),
        ("usr/lib64", entry_dir()),
        ("usr/share", entry_dir()),
        ("usr/share/keyrings", entry_dir()),
        (
            "usr/share/keyrings/test-archive.gpg",
            entry_file(keyring, 0o644),
        ),
        ("var", entry_dir()),
        ("var/lib", entry_dir()),
        ("var/lib/dpkg", entry_dir()),
        ("var/lib/dpkg/status", entry_file(status.as_bytes(), 0o644)),
    ];
    for (path, entry) in files {
        tree.insert(path, entry).expect("path");
    }
    write_single_layer_base(layout, "bookworm", &tree, &BTreeMap::new())
}

/// Writes an OCI layout with one layer made from `tree`, tagged `tag`.
pub fn write_single_layer_base(
    layout: &Path,
    tag: &str,
    tree: &FileTree,
    labels: &BTreeMap<String, String>,
) -> Digest {
    let scratch = tempfile::tempdir().expect("tempdir");
    let store = Store::open(scratch.path()).expect("store");
    let (record, _) = build_layer(&store, tree, "fixture-base", 0).expect("layer");
    write_layout_of(layout, tag, &store, &[record], labels)
}

pub fn write_layout_of(
    layout: &Path,
    tag: &str,
    store: &Store,
    records: &[airlock::store::LayerRecord],
    labels: &BTreeMap<String, String>,
) -> Digest {
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "WorkingDir": "/usr/local/airflow",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": records.iter().map(|r| r.diff_id.to_string()).collect::<Vec<_>>()},
        "history": records.iter().map(|_| json!({"created": "1970-01-01T00:00:00Z", "created_by": "fixture"})).collect::<Vec<_>>(),
    });
    let config_bytes = serde_json::to_vec(&config).expect("json");
    let layers: Vec<Descriptor> = records
        .iter()
        .map(|r| descriptor(&r.media_type, r.digest.clone(), r.size))
        .collect();
    let (manifest_bytes, blobs) = super::image_manifest(store, &config_bytes, &layers);
    write_layout(
        layout,
        tag,
        &blobs,
        &manifest_bytes,
        media_types::OCI_MANIFEST,
    )
    .expect("layout")
}

/// The deb822 source for `archive`, signed by the base's test keyring.
pub fn sources_for(archive: &TestArchive) -> String {
    format!(
        "Types: deb\nURIs: {}\nSuites: {}\nComponents: main\nSigned-By: /usr/share/keyrings/test-archive.gpg\n",
        archive.uri(),
        archive.suite
    )
}

/// One character for a tar entry's type: `d`irectory, symbolic `l`ink, `h`ard link or
/// `f`ile.
pub fn kind_char(kind: tar::EntryType) -> char {
    if kind.is_dir() {
        'd'
    } else if kind.is_symlink() {
        'l'
    } else if kind.is_hard_link() {
        'h'
    } else {
        'f'
    }
}

/// Lists a gzip'd layer tar: path → (type char, link target, bytes).
pub fn read_layer(path: &Path) -> BTreeMap<String, (char, String, Vec<u8>)> {
    let file = std::fs::File::open(path).expect("open layer");
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(file));
    let mut out = BTreeMap::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let c = kind_char(entry.header().entry_type());
        let link = entry
            .link_name()
            .ok()
            .flatten()
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read");
        out.insert(path.trim_end_matches('/').to_string(), (c, link, bytes));
    }
    out
}
