//! The Debian step of a build: `packages.txt` → locked `.deb`s (resolution asks the
//! archive) → one deterministic OS layer (from the store, by hash).
//!
//! Sources and keys come from the base image's own apt configuration, with the
//! `[debian]` section of `airlock.toml` adding or replacing repositories. Nothing
//! here names an archive.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::load::Session;
use crate::debian::{
    ArchiveClient, ArchiveError, ContentSink, Deb, DebRequest, InstallBase, InstallError,
    Installed, Keyring, KeyringError, LayerKind, PackageRequest, PackagesTxtError, Repository,
    ResolveError, SignedBy, SourcesError, Universe, UniverseError, install, parse_deb822_sources,
    parse_packages_txt, parse_sources_list, resolve,
};
use crate::digest::Digest;
use crate::image::BaseFacts;
use crate::layer::{
    Compression, Entry, EntryKind, FileSource, FileTree, LayerError, Owner, build_layer_with,
};
use crate::lock::{DebianLock, LockedDeb, LockedSource, Lockfile};
use crate::project::Project;
use crate::project::settings::DebianSettings;
use crate::store::{LayerRecord, Store, StoreError};

mod segmented;

/// Bumped when the Debian layer's bytes change for the same lock on purpose (2: the
/// layer is written as segments, one cached run per `.deb`; see `segmented`).
const DEBIAN_LAYER_VERSION: u32 = 2;
/// The key under which the `[debian]` settings' hash enters the lock's inputs.
pub(super) const SETTINGS_INPUT: &str = "airlock.toml [debian]";
/// The account files `base-passwd`'s maintainer script copies from its masters.
const ACCOUNTS: [(&str, &str); 2] = [
    ("etc/passwd", "usr/share/base-passwd/passwd.master"),
    ("etc/group", "usr/share/base-passwd/group.master"),
];
/// Root-level directories a merged-/usr base turns into symlinks.
const MERGED_USR: [&str; 6] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

#[derive(Debug, thiserror::Error)]
pub enum DebianError {
    #[error("`packages.txt`: {0}")]
    PackagesTxt(#[from] PackagesTxtError),
    #[error("`packages.txt`: {0}")]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("An index is malformed")]
    Universe(#[from] UniverseError),
    #[error("Installing the packages failed")]
    Install(#[from] InstallError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error("The base image's `/{path}` is malformed")]
    Sources {
        path: String,
        #[source]
        source: SourcesError,
    },
    #[error("Keyring `{path}` cannot be used")]
    Key {
        path: String,
        #[source]
        source: KeyringError,
    },
    #[error("Keyring `{path}`, named by the apt sources, is not in the base image")]
    MissingKey { path: String },
    #[error("Cannot read key file `{}`", path.display())]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "The Debian release is unknown: the base has no `VERSION_CODENAME` in `/etc/os-release`"
    )]
    NoRelease,
    #[error("No apt repository to resolve `packages.txt` against")]
    NoSources,
    #[error(
        "`packages.txt` changed since `airlock.lock` was written, and resolving it needs the archive, which `--offline` forbids"
    )]
    OfflineResolve,
    #[error("Cannot open `{filename}` from the store")]
    OpenDeb {
        filename: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{filename}` is not a valid `.deb`")]
    BadDeb {
        filename: String,
        #[source]
        source: crate::debian::DebError,
    },
}

/// A maintainer script that was not run, as the build result reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SkippedScript {
    pub package: String,
    pub script: String,
    pub summary: String,
}

impl From<crate::debian::SkippedScript> for SkippedScript {
    fn from(s: crate::debian::SkippedScript) -> Self {
        Self {
            package: s.package,
            script: s.script,
            summary: s.summary,
        }
    }
}

/// The Debian layer of a build.
#[derive(Debug, Clone)]
pub(super) struct DebianLayer {
    pub record: LayerRecord,
    pub reused: bool,
    pub skipped: Vec<SkippedScript>,
    /// What a segmented layer was made from (kept beside its record for `cache gc`).
    pub segments: Option<crate::store::SegmentsNote>,
}

/// The hash of the `[debian]` settings, when any are set (an input of the lock).
pub(super) fn settings_digest(settings: &DebianSettings) -> Option<Digest> {
    (settings != &DebianSettings::default()).then(|| {
        Digest::of(
            serde_json::to_string(settings)
                .unwrap_or_default()
                .as_bytes(),
        )
    })
}

fn release_codename(facts: &BaseFacts, settings: &DebianSettings) -> Option<String> {
    if let Some(release) = &settings.release {
        return Some(release.clone());
    }
    let text = facts
        .files
        .get("etc/os-release")
        .or_else(|| facts.files.get("usr/lib/os-release"))?;
    text.lines().find_map(|line| {
        let value = line.strip_prefix("VERSION_CODENAME=")?;
        let value = value.trim().trim_matches(['"', '\'']);
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// Follows symlinks inside the base (lexically) to the captured keyring bytes.
fn base_keyring(facts: &BaseFacts, path: &str) -> Option<Vec<u8>> {
    let mut current = path.trim_start_matches('/').to_string();
    for _ in 0..8 {
        if let Some(bytes) = facts.keyring(&current) {
            return Some(bytes);
        }
        let target = facts.symlinks.get(&current)?;
        current = if target.starts_with('/') {
            target.trim_start_matches('/').to_string()
        } else {
            match current.rsplit_once('/') {
                Some((dir, _)) => format!("{dir}/{target}"),
                None => target.clone(),
            }
        };
    }
    None
}

/// The keys apt trusts for a source without `Signed-By`.
fn default_keyring(facts: &BaseFacts) -> Result<Keyring, DebianError> {
    let mut keyring = Keyring::new();
    for path in facts.keyrings.keys() {
        if path == "etc/apt/trusted.gpg" || path.starts_with("etc/apt/trusted.gpg.d/") {
            add_key(&mut keyring, facts, path)?;
        }
    }
    Ok(keyring)
}

fn add_key(keyring: &mut Keyring, facts: &BaseFacts, path: &str) -> Result<(), DebianError> {
    let bytes = base_keyring(facts, path).ok_or_else(|| DebianError::MissingKey {
        path: format!("/{}", path.trim_start_matches('/')),
    })?;
    keyring
        .add(path, &bytes)
        .map_err(|source| DebianError::Key {
            path: path.to_string(),
            source,
        })?;
    Ok(())
}

/// The repositories to resolve against: `airlock.toml`'s first, then the base's own.
pub(super) fn repositories(
    facts: &BaseFacts,
    settings: &DebianSettings,
    project_root: &Path,
    release: &str,
) -> Result<Vec<Repository>, DebianError> {
    let mut out = Vec::new();
    for repo in &settings.repositories {
        let mut keyring = Keyring::new();
        if let Some(key) = &repo.key {
            let path = project_root.join(key);
            let bytes = std::fs::read(&path).map_err(|source| DebianError::KeyFile {
                path: path.clone(),
                source,
            })?;
            keyring
                .add(&key.display().to_string(), &bytes)
                .map_err(|source| DebianError::Key {
                    path: key.display().to_string(),
                    source,
                })?;
        } else {
            keyring = default_keyring(facts)?;
        }
        out.push(Repository {
            uri: repo.uri.clone(),
            suite: repo.suite.clone().unwrap_or_else(|| release.to_string()),
            components: repo
                .components
                .clone()
                .unwrap_or_else(|| vec!["main".to_string()]),
            keyring,
            trusted: repo.trusted,
        });
    }
    if settings.replace_sources {
        return Ok(out);
    }
    let mut files: Vec<(&String, &String)> = facts
        .files
        .iter()
        .filter(|(path, _)| {
            path.as_str() == "etc/apt/sources.list"
                || path
                    .strip_prefix("etc/apt/sources.list.d/")
                    .is_some_and(|n| n.ends_with(".list") || n.ends_with(".sources"))
        })
        .collect();
    files.sort();
    for (path, text) in files {
        let parsed = if path.ends_with(".sources") {
            parse_deb822_sources(text)
        } else {
            parse_sources_list(text)
        }
        .map_err(|source| DebianError::Sources {
            path: path.clone(),
            source,
        })?;
        for source in parsed {
            let keyring = match &source.signed_by {
                None => default_keyring(facts)?,
                Some(SignedBy::Inline(armored)) => {
                    let mut k = Keyring::new();
                    k.add(path, armored.as_bytes())
                        .map_err(|source| DebianError::Key {
                            path: path.clone(),
                            source,
                        })?;
                    k
                }
                Some(SignedBy::Keys(keys)) => {
                    let mut k = Keyring::new();
                    let mut fingerprints = false;
                    for key in keys {
                        match key {
                            crate::debian::KeyRef::Path(p) => add_key(&mut k, facts, p)?,
                            crate::debian::KeyRef::Fingerprint(_) => fingerprints = true,
                        }
                    }
                    // A fingerprint narrows apt's default keyring; trusting that
                    // keyring is the conservative reading.
                    if fingerprints && k.is_empty() {
                        k = default_keyring(facts)?;
                    }
                    k
                }
            };
            out.push(Repository {
                uri: source.uri,
                suite: source.suite,
                components: source.components,
                keyring,
                trusted: source.trusted,
            });
        }
    }
    Ok(out)
}

/// Resolves `packages.txt` against the archive (requests on `runtime`) and returns
/// the lock's Debian part.
pub(super) fn lock_packages(
    store: &Store,
    project: &Project,
    facts: &BaseFacts,
    offline: bool,
    runtime: &tokio::runtime::Handle,
) -> Result<Option<(DebianLock, Vec<LockedDeb>)>, DebianError> {
    let text = project
        .inputs
        .get("packages.txt")
        .map_or("", String::as_str);
    let requests = parse_packages_txt(text)?;
    let from_scratch = project.dockerfile.from.image == crate::image::SCRATCH;
    if requests.is_empty() && !from_scratch {
        return Ok(None);
    }
    lock_requests(store, project, facts, offline, runtime, requests).map(Some)
}

/// Resolves `requests` (after every `Essential: yes` package on a `scratch` base)
/// against the archive and the base's dpkg status.
pub(super) fn lock_requests(
    store: &Store,
    project: &Project,
    facts: &BaseFacts,
    offline: bool,
    runtime: &tokio::runtime::Handle,
    mut requests: Vec<PackageRequest>,
) -> Result<(DebianLock, Vec<LockedDeb>), DebianError> {
    let from_scratch = project.dockerfile.from.image == crate::image::SCRATCH;
    if offline {
        return Err(DebianError::OfflineResolve);
    }
    let settings = &project.settings.debian;
    let release = release_codename(facts, settings).ok_or(DebianError::NoRelease)?;
    let repos = repositories(facts, settings, &project.root, &release)?;
    if repos.is_empty() {
        return Err(DebianError::NoSources);
    }
    let client = ArchiveClient::new(store, false, runtime.clone())?;
    let mut universe = Universe::new(crate::debian::ARCH);
    let mut index_source: BTreeMap<usize, usize> = BTreeMap::new();
    let mut sources = Vec::new();
    for (n, repo) in repos.iter().enumerate() {
        let fetched = client.release(repo)?;
        let components: Vec<String> = if repo.components.is_empty() {
            vec![String::new()]
        } else {
            repo.components.clone()
        };
        for component in &components {
            let text = client.packages(repo, &fetched.release, component)?;
            let label = format!("{} {}", repo.describe(), component);
            let id = universe.add_index(label.trim(), &text)?;
            index_source.insert(id, n);
        }
        sources.push(LockedSource {
            uri: repo.uri.clone(),
            suite: repo.suite.clone(),
            components: repo.components.clone(),
            in_release: fetched.digest,
        });
    }
    let status = facts
        .files
        .get("var/lib/dpkg/status")
        .map_or("", String::as_str);
    let status_d: Vec<&str> = facts
        .files
        .iter()
        .filter(|(p, _)| p.starts_with("var/lib/dpkg/status.d/"))
        .map(|(_, t)| t.as_str())
        .collect();
    let installed = Installed::parse(status, &status_d)?;
    if from_scratch {
        // What `mmdebstrap --variant=essential` starts from: every `Essential: yes`
        // candidate (their dependencies follow), before the project's own list.
        let essential: std::collections::BTreeSet<&str> = universe
            .names()
            .filter(|n| universe.candidate(n).is_some_and(|c| c.essential))
            .collect();
        let mut all: Vec<PackageRequest> = essential
            .into_iter()
            .map(|name| PackageRequest {
                name: name.to_string(),
                version: None,
                arch: None,
                line: 0,
            })
            .collect();
        all.append(&mut requests);
        requests = all;
    }
    let resolved = resolve(&universe, &installed, &requests)?;
    let debs = resolved
        .into_iter()
        .map(|p| {
            Ok(LockedDeb {
                name: p.name,
                version: p.version.to_string(),
                architecture: p.architecture,
                filename: p.filename,
                sha256: format!("sha256:{}", p.sha256)
                    .parse::<Digest>()
                    .map_err(|_| ResolveError::Unsatisfiable {
                        chain: vec![],
                        reason: "the index gives a malformed SHA256".into(),
                    })?,
                size: p.size,
                source: index_source.get(&p.index).copied().unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>, DebianError>>()?;
    Ok((
        DebianLock {
            suite: release,
            sources,
        },
        debs,
    ))
}

/// Spills file contents to numbered files in a directory of the store's temp area,
/// hashed on the way, so the installed tree holds no contents in memory (peak memory
/// does not grow with the packages' sizes); the layer writer streams them back.
struct SpillSink {
    dir: tempfile::TempDir,
    next: u64,
}

impl SpillSink {
    fn new(store: &Store) -> Result<Self, StoreError> {
        let parent = store.root().join("tmp");
        let dir = tempfile::Builder::new()
            .prefix("debian-")
            .tempdir_in(&parent)
            .map_err(|e| StoreError::io("create a directory in", &parent, e))?;
        Ok(Self { dir, next: 0 })
    }
}

impl ContentSink for SpillSink {
    type Handle = (PathBuf, u64, Digest);
    fn store(
        &mut self,
        _path: &str,
        _size: u64,
        reader: &mut dyn Read,
    ) -> std::io::Result<Self::Handle> {
        let path = self.dir.path().join(self.next.to_string());
        self.next += 1;
        let file = File::create(&path)?;
        let mut writer =
            crate::digest::HashingWriter::new(std::io::BufWriter::with_capacity(1 << 16, file));
        std::io::copy(reader, &mut writer)?;
        let (digest, size, buffered) = writer.finish();
        buffered.into_inner().map_err(|e| e.into_error())?;
        Ok((path, size, digest))
    }
}

fn merged_usr(facts: &BaseFacts) -> BTreeMap<String, String> {
    MERGED_USR
        .iter()
        .filter_map(|dir| {
            let target = facts.symlinks.get(*dir)?;
            let target = target.trim_start_matches('/').trim_end_matches('/');
            target
                .starts_with("usr/")
                .then(|| (dir.to_string(), target.to_string()))
        })
        .collect()
}

/// The derivation key of the Debian layer: the locked hashes, the base's dpkg
/// database and merged-/usr links, the mtime. Computed without reading any `.deb`.
pub(super) fn layer_key(
    lock: &Lockfile,
    facts: &BaseFacts,
    mtime: u64,
    compression: Compression,
) -> Digest {
    let mut h = Sha256::new();
    h.update(format!(
        "airlock-debian-layer\0v{DEBIAN_LAYER_VERSION}\0v{}\0{mtime}\0{}",
        crate::layer::FORMAT_VERSION,
        compression.key_part()
    ));
    for deb in &lock.debs {
        h.update(format!("{}\0{}\0", deb.name, deb.sha256));
    }
    h.update(b"\0status\0");
    h.update(
        facts
            .files
            .get("var/lib/dpkg/status")
            .map_or("", String::as_str),
    );
    // Without account files in the base, base-passwd's are added to the layer.
    h.update(if facts.passwd().is_some() {
        "\0accounts\0base"
    } else {
        "\0accounts\0layer"
    });
    for (from, to) in merged_usr(facts) {
        h.update(format!("\0{from}\0{to}"));
    }
    Digest::from_sha256(h.finalize().into())
}

fn skipped_path(store: &Store, key: &Digest) -> PathBuf {
    store
        .root()
        .join("layers")
        .join(format!("{}.skipped.json", key.hex()))
}

/// The skipped maintainer scripts kept beside the layer record of `key`; `None` when
/// the note is missing or unreadable.
pub(super) fn kept_skipped(store: &Store, key: &Digest) -> Option<Vec<SkippedScript>> {
    let bytes = std::fs::read(skipped_path(store, key)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Keeps `skipped` beside the layer record of `key`.
pub(super) fn keep_skipped(
    store: &Store,
    key: &Digest,
    skipped: &[SkippedScript],
) -> Result<(), StoreError> {
    let json = serde_json::to_vec(skipped).unwrap_or_default();
    store.write_atomic(&skipped_path(store, key), &json)
}

/// `/etc/passwd` and `/etc/group` as `base-passwd`'s maintainer script would create
/// them on an empty root: copies of the master files the package ships.
fn accounts_from_base_passwd(tree: &mut FileTree) -> Result<(), DebianError> {
    for (target, master) in ACCOUNTS {
        if tree.contains(target) {
            continue;
        }
        let Some(entry) = tree.get(master).cloned() else {
            continue;
        };
        if let EntryKind::File { .. } = entry.kind {
            tree.insert(
                target,
                Entry {
                    mode: 0o644,
                    ..entry
                },
            )
            .map_err(|e| LayerError::Write(std::io::Error::other(e.to_string())))?;
        }
    }
    Ok(())
}

/// Downloads the locked `.deb`s the store lacks (by hash, on `runtime`, reporting to
/// `progress`) and returns their paths in the store, in lock order.
pub(super) fn fetch_debs(
    store: &Store,
    lock: &Lockfile,
    fallback_urls: &[String],
    offline: bool,
    runtime: &tokio::runtime::Handle,
    progress: std::sync::Arc<dyn crate::http::Progress>,
) -> Result<Vec<PathBuf>, DebianError> {
    let sources = lock.debian.as_ref().map_or(&[][..], |d| &d.sources[..]);
    let fetch = DebFetch {
        fallback_urls,
        offline,
        runtime,
        progress,
    };
    fetch_debs_of(store, (&lock.debs, sources), &fetch)
}

/// Makes the layer of the locked `.deb`s (fetched by hash on `runtime` unless the store
/// has them), as segments: one cached run per `.deb` (see `segmented`). The record is
/// not stored under [`layer_key`]: `realise.rs` does that. `.deb` downloads report to
/// `progress`.
#[allow(clippy::too_many_arguments)]
pub(super) fn debian_layer(
    store: &Store,
    lock: &Lockfile,
    facts: &BaseFacts,
    fallback_urls: &[String],
    offline: bool,
    (mtime, compression): (u64, Compression),
    runtime: &tokio::runtime::Handle,
    progress: std::sync::Arc<dyn crate::http::Progress>,
) -> Result<DebianLayer, DebianError> {
    let sources = lock.debian.as_ref().map_or(&[][..], |d| &d.sources[..]);
    let status = facts
        .files
        .get("var/lib/dpkg/status")
        .map_or("", String::as_str);
    let fetch = DebFetch {
        fallback_urls,
        offline,
        runtime,
        progress,
    };
    let paths = fetch_debs_of(store, (&lock.debs, sources), &fetch)?;
    let base = InstallBase {
        merged_usr: merged_usr(facts),
        status,
    };
    segmented::segmented_layer(
        store,
        (&lock.debs, &paths),
        &base,
        facts.passwd().is_none(),
        (mtime, compression),
    )
}

/// Where and how the `.deb`s of a layer are fetched.
pub(super) struct DebFetch<'a> {
    pub fallback_urls: &'a [String],
    pub offline: bool,
    pub runtime: &'a tokio::runtime::Handle,
    pub progress: std::sync::Arc<dyn crate::http::Progress>,
}

/// The downloads of `debs` (from `sources`, then `fallback_urls`).
pub(super) fn deb_requests(
    (debs, sources): (&[LockedDeb], &[LockedSource]),
    fallback_urls: &[String],
) -> Vec<DebRequest> {
    debs.iter()
        .map(|d| {
            let mut bases: Vec<String> = sources
                .get(d.source)
                .map(|s| s.uri.clone())
                .into_iter()
                .collect();
            bases.extend(fallback_urls.iter().cloned());
            DebRequest {
                filename: d.filename.clone(),
                sha256: d.sha256.clone(),
                size: d.size,
                bases,
            }
        })
        .collect()
}

/// The downloads of the `.deb`s `lock` pins, as the Debian layer fetches them.
pub(super) fn locked_deb_requests(lock: &Lockfile, fallback_urls: &[String]) -> Vec<DebRequest> {
    let sources = lock.debian.as_ref().map_or(&[][..], |d| &d.sources[..]);
    deb_requests((&lock.debs, sources), fallback_urls)
}

/// Downloads `debs` (from `sources`) the store lacks, by hash; their paths in the
/// store, in order.
fn fetch_debs_of(
    store: &Store,
    (debs, sources): (&[LockedDeb], &[LockedSource]),
    fetch: &DebFetch<'_>,
) -> Result<Vec<PathBuf>, DebianError> {
    let requests = deb_requests((debs, sources), fetch.fallback_urls);
    let client = ArchiveClient::new(store, fetch.offline, fetch.runtime.clone())?
        .with_progress(fetch.progress.clone());
    Ok(client.debs(&requests)?)
}

/// The layer of `debs` (from `sources`) installed over the dpkg `status` of the
/// layers below, as one sorted tree: an `apt-get install` step's (the Debian layer
/// itself is segmented, see [`debian_layer`]).
pub(super) fn debs_layer(
    store: &Store,
    (debs, sources): (&[LockedDeb], &[LockedSource]),
    status: &str,
    facts: &BaseFacts,
    fetch: &DebFetch<'_>,
    (mtime, compression): (u64, Compression),
    kind: &str,
) -> Result<DebianLayer, DebianError> {
    let paths = fetch_debs_of(store, (debs, sources), fetch)?;
    let locked_debs = debs;
    let mut debs = Vec::with_capacity(paths.len());
    for (path, locked) in paths.iter().zip(locked_debs) {
        let file = File::open(path).map_err(|source| DebianError::OpenDeb {
            filename: locked.filename.clone(),
            source,
        })?;
        let deb = Deb::new(BufReader::new(file)).map_err(|source| DebianError::BadDeb {
            filename: locked.filename.clone(),
            source,
        })?;
        debs.push(deb);
    }
    let base = InstallBase {
        merged_usr: merged_usr(facts),
        status,
    };
    let mut sink = SpillSink::new(store)?;
    let layer = install(&base, debs, &mut sink)?;
    let mut tree = FileTree::new();
    for file in layer.files {
        let owner = Owner {
            uid: u32::try_from(file.uid).unwrap_or(0),
            gid: u32::try_from(file.gid).unwrap_or(0),
        };
        let kind = match file.kind {
            LayerKind::Dir => EntryKind::Dir,
            LayerKind::File((path, size, sha256)) => EntryKind::File {
                size,
                source: FileSource::Host(path),
                sha256,
            },
            LayerKind::Symlink(target) => EntryKind::Symlink { target },
            LayerKind::Hardlink(target) => EntryKind::Hardlink { target },
        };
        tree.insert(
            &file.path,
            Entry {
                kind,
                mode: file.mode & 0o7777,
                owner,
            },
        )
        .map_err(|e| LayerError::Write(std::io::Error::other(e.to_string())))?;
    }
    if facts.passwd().is_none() {
        accounts_from_base_passwd(&mut tree)?;
    }
    tree.add_parents(|_| (0o755, Owner::ROOT));
    let (record, reused) = build_layer_with(store, &tree, kind, mtime, compression)?;
    let skipped: Vec<SkippedScript> = layer.skipped.into_iter().map(SkippedScript::from).collect();
    Ok(DebianLayer {
        record,
        reused,
        skipped,
        segments: None,
    })
}

/// Completes the lock the build wants with its Debian part: the settings' hash as
/// an input, then the packages from the lock on disk when it is still fresh, or a
/// new resolution when the lock may be updated. A stale lock under `--locked` is
/// left for the caller's staleness check to refuse.
pub(super) fn fill_lock(
    wanted: &mut Lockfile,
    on_disk: Option<&Lockfile>,
    may_update: bool,
    session: &Session,
    offline: bool,
) -> Result<(), DebianError> {
    let Session {
        store,
        project,
        facts,
        runtime,
        ..
    } = session;
    if let Some(digest) = settings_digest(&project.settings.debian) {
        wanted.inputs.insert(SETTINGS_INPUT.to_string(), digest);
    }
    if let Some(lock) = on_disk
        && lock.staleness(wanted).is_none()
    {
        wanted.debian = lock.debian.clone();
        wanted.debs = lock.debs.clone();
        return Ok(());
    }
    if !may_update {
        return Ok(());
    }
    if let Some((debian, debs)) = lock_packages(store, project, facts, offline, runtime)? {
        wanted.debian = Some(debian);
        wanted.debs = debs;
    }
    Ok(())
}

impl crate::hint::Hint for DebianError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::PackagesTxt(error) => error.hints(),
            Self::Resolve(error) => error.hints(),
            Self::Archive(error) => error.hints(),
            Self::Universe(error) => error.hints(),
            Self::Install(error) => error.hints(),
            Self::Store(error) => error.hints(),
            Self::Layer(error) => error.hints(),
            Self::Sources { source, .. } => source.hints(),
            Self::Key { source, .. } => source.hints(),
            Self::MissingKey { .. } => vec![
                "name a key file for the repository in `airlock.toml` (`[[debian.repositories]]` … `key = \"…\"`)".into(),
            ],
            Self::NoRelease => vec![
                "name it in `airlock.toml`:\n  [debian]\n  release = \"bookworm\"".into(),
            ],
            Self::NoSources => vec![
                "add a repository in `airlock.toml`:\n  [[debian.repositories]]\n  uri = \"<archive URL>\"\n  key = \"path/to/archive-key.asc\"".into(),
            ],
            Self::OfflineResolve => vec![
                "run `airlock lock` (or build without `--offline`) once".into(),
            ],
            Self::BadDeb { source, .. } => source.hints(),
            Self::KeyFile { .. } | Self::OpenDeb { .. } => Vec::new(),
        }
    }
}
