//! Wheels built from source distributions, in the sandbox.
//!
//! When resolution needs a version that only an sdist provides, the sdist is
//! fetched by hash into the store and its metadata read statically
//! (`python::static_metadata`), else the wheel is built and its `METADATA` read. A
//! build: the sdist unpacked at a fixed path (`/tmp/airlock-build/NAME-VERSION`),
//! its `[build-system]` requirements resolved as wheels only (an sdist-only build
//! requirement is refused) and installed into an isolated build environment, the
//! PEP 517 backend called by a small driver (`python::DRIVER`) on the base image's
//! own interpreter under bubblewrap with the network off, `SOURCE_DATE_EPOCH` fixed
//! and `PYTHONHASHSEED=0`. The wheel goes into the store, found again by the
//! build's key (`python::build_key`). A lock's built wheel that the store lacks is
//! built again from the lock's pins and must come out byte for byte the same.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use pep440_rs::Version;
use pep508_rs::PackageName;
use serde::{Deserialize, Serialize};

use super::python_stage::{DOWNLOADS_AT_ONCE, Pending, complete};
use crate::digest::Digest;
use crate::http::HttpClient;
use crate::lock::{LockedSdist, LockedWheel};
use crate::python::{
    BinaryPolicy, BuildKeyInput, DRIVER, DownloadError, HashSource, IndexClient, IndexError,
    IndexUrl, InstallTarget, PythonEnvironment, ResolveError, ResolveInput, SdistError, SdistHook,
    SourceError, Timestamp, WheelCandidate, WheelFetch, build_key, build_system, fetch_wheels,
    install_wheel, normalize_name, resolve_with_index, static_metadata, unpack_sdist,
    wheel_metadata, with_index_credentials,
};
use crate::sandbox::{SandboxError, SandboxSpec, bwrap_command, unpack_rootfs};
use crate::store::{Store, StoreError};

/// Where the source and build environment sit inside the sandbox.
const BUILD_ROOT: &str = "/tmp/airlock-build";

/// `SOURCE_DATE_EPOCH` of every build (1980-01-01, the earliest zip time): fixed,
/// so a built wheel does not depend on the image's own timestamp.
const BUILD_EPOCH: u64 = 315_532_800;

/// The most output of a failed build shown.
const SHOWN_OUTPUT_LINES: usize = 30;

/// Why an sdist could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SdistBuildError {
    #[error(transparent)]
    Sdist(#[from] SdistError),
    #[error("The index gives no sha256 for the sdist `{0}`, so it cannot be pinned")]
    NoHash(String),
    #[error("The build requirement `{requirement}` of `{package}` has no wheel for the target")]
    BuildRequirementSdist {
        package: String,
        requirement: String,
        #[source]
        source: ResolveError,
    },
    #[error("Cannot resolve the build requirements of `{package}`")]
    BuildRequirements {
        package: String,
        #[source]
        source: Box<IndexError>,
    },
    #[error("The build of `{package}` {version} failed ({status}):\n{output}")]
    Failed {
        package: String,
        version: String,
        status: String,
        output: String,
    },
    #[error("The build of `{package}` {version} made no single wheel of it (found: {found})")]
    NoWheel {
        package: String,
        version: String,
        found: String,
    },
    #[error(
        "The build of `{package}` {version} is not reproducible: the lock pins `{filename}` as {expected}, the rebuild made {actual}"
    )]
    NotReproducible {
        package: String,
        version: String,
        filename: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("`{package}` {version} is built from an sdist, and building is off (`no-build`)")]
    BuildingOff { package: String, version: String },
    #[error(
        "`{package}` {version} has only an sdist here, and a `RUN pip install` step installs wheels only"
    )]
    WheelsOnlyStep { package: String, version: String },
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Rootfs(#[from] crate::sandbox::RootfsError),
    #[error("Cannot install the build requirement `{filename}`")]
    Install {
        filename: String,
        #[source]
        source: crate::python::WheelInstallError,
    },
    #[error("Cannot prepare the build directory `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Python(#[from] Box<super::PythonError>),
    #[error(transparent)]
    Layer(Box<super::BuildError>),
}

/// What a build of one sdist gave.
#[derive(Debug, Clone)]
pub(super) struct Built {
    pub filename: String,
    pub sha256: Digest,
    pub size: u64,
    /// The lock's record of the sdist and the build.
    pub sdist: LockedSdist,
}

/// The note kept in the store under a build key.
#[derive(Serialize, Deserialize)]
struct BuildNote {
    filename: String,
    sha256: Digest,
    size: u64,
}

/// An sdist to build: what the lock or the index says of it.
#[derive(Debug, Clone)]
pub(super) struct SdistPin {
    pub filename: String,
    /// With credentials when the index needs them.
    pub url: IndexUrl,
    pub sha256: Digest,
    pub size: Option<u64>,
}

impl SdistPin {
    fn new(
        filename: &str,
        url: &IndexUrl,
        sha256: Option<&str>,
        size: Option<u64>,
    ) -> Result<Self, SdistBuildError> {
        let sha256 = sha256
            .and_then(|hex| Digest::from_str(&format!("sha256:{}", hex.to_ascii_lowercase())).ok())
            .ok_or_else(|| SdistBuildError::NoHash(filename.to_string()))?;
        Ok(Self {
            filename: filename.to_string(),
            url: url.clone(),
            sha256,
            size,
        })
    }
}

/// Builds sdists for one run: the resolver's [`SdistHook`] while locking, and the
/// rebuild of a locked wheel the store lacks.
pub(super) struct SdistBuilder {
    pub store: Store,
    pub http: HttpClient,
    pub runtime: tokio::runtime::Handle,
    /// Where build requirements are resolved (`None`: only locked ones are built).
    pub client: Option<Arc<IndexClient>>,
    /// Configured indexes with their credentials, for downloads.
    pub indexes: Vec<IndexUrl>,
    pub environment: PythonEnvironment,
    /// The layers the build runs on, bottom first, and what stands for them in the key.
    pub layers: Vec<(Digest, PathBuf)>,
    pub below: Vec<Digest>,
    pub exclude_newer: Option<Timestamp>,
    pub offline: bool,
    /// `[python] no-build` or `--only-binary :all:`: never build.
    pub no_build: bool,
    /// Building is off because this resolves a `RUN pip install` step (wheels only),
    /// not because of a setting: the error says so.
    pub wheels_only_step: bool,
    /// The Debian layer the build runs on, when the lock pins `.deb`s.
    pub debian: Option<Arc<DebianBelow>>,
    built: Mutex<HashMap<Digest, Arc<Built>>>,
}

/// What the image's Debian layer is made from: a build runs on it (its compiler,
/// headers), made or found in the store under the image's own layer key.
pub(super) struct DebianBelow {
    pub lock: crate::lock::Lockfile,
    pub facts: crate::image::BaseFacts,
    pub fallback_urls: Vec<String>,
    pub mtime: u64,
    /// The base the Debian layer goes on.
    pub base: crate::image::BaseImage,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SdistBuildError + '_ {
    move |source| SdistBuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl SdistBuilder {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        store: Store,
        http: HttpClient,
        runtime: tokio::runtime::Handle,
        indexes: Vec<IndexUrl>,
        environment: PythonEnvironment,
        layers: Vec<(Digest, PathBuf)>,
        below: Vec<Digest>,
        offline: bool,
    ) -> Self {
        Self {
            store,
            http,
            runtime,
            client: None,
            indexes,
            environment,
            layers,
            below,
            exclude_newer: None,
            offline,
            no_build: false,
            wheels_only_step: false,
            debian: None,
            built: Mutex::default(),
        }
    }

    /// The same settings, with nothing built yet and no index client.
    pub(super) fn fresh(&self) -> Self {
        Self {
            store: self.store.clone(),
            http: self.http.clone(),
            runtime: self.runtime.clone(),
            client: None,
            indexes: self.indexes.clone(),
            environment: self.environment.clone(),
            layers: self.layers.clone(),
            below: self.below.clone(),
            exclude_newer: self.exclude_newer,
            offline: self.offline,
            no_build: self.no_build,
            wheels_only_step: self.wheels_only_step,
            debian: self.debian.clone(),
            built: Mutex::default(),
        }
    }

    /// The built wheel of `name` `version` from the sdist the index lists.
    pub(super) fn build_candidate(
        &self,
        name: &str,
        version: &str,
        filename: &str,
        url: &IndexUrl,
        sha256: Option<&str>,
        size: Option<u64>,
    ) -> Result<Arc<Built>, SdistBuildError> {
        let pin = SdistPin::new(filename, url, sha256, size)?;
        self.build(name, version, &pin, None)
    }

    /// The wheel a lock entry pins, built again when the store lacks it; a rebuild
    /// that gives other bytes is [`SdistBuildError::NotReproducible`].
    pub(super) fn rebuild_locked(&self, wheel: &LockedWheel) -> Result<(), SdistBuildError> {
        let Some(sdist) = &wheel.sdist else {
            return Ok(());
        };
        if self.store.has_blob(&wheel.sha256) {
            return Ok(());
        }
        let url = with_index_credentials(&sdist.url, &self.indexes)
            .or_else(|| IndexUrl::parse(&sdist.url).ok())
            .ok_or_else(|| SdistBuildError::NoHash(sdist.filename.clone()))?;
        let pin = SdistPin {
            filename: sdist.filename.clone(),
            url,
            sha256: sdist.sha256.clone(),
            size: Some(sdist.size),
        };
        let built = self.build(
            &wheel.name,
            &wheel.version,
            &pin,
            Some(&sdist.build_requires),
        )?;
        if built.sha256 != wheel.sha256 {
            return Err(SdistBuildError::NotReproducible {
                package: wheel.name.clone(),
                version: wheel.version.clone(),
                filename: wheel.filename.clone(),
                expected: wheel.sha256.clone(),
                actual: built.sha256.clone(),
            });
        }
        Ok(())
    }

    /// Builds (or finds in the store) the wheel of one sdist.
    fn build(
        &self,
        name: &str,
        version: &str,
        pin: &SdistPin,
        locked_requires: Option<&[LockedWheel]>,
    ) -> Result<Arc<Built>, SdistBuildError> {
        if self.no_build {
            let (package, version) = (name.to_string(), version.to_string());
            return Err(if self.wheels_only_step {
                SdistBuildError::WheelsOnlyStep { package, version }
            } else {
                SdistBuildError::BuildingOff { package, version }
            });
        }
        if let Ok(memo) = self.built.lock()
            && let Some(found) = memo.get(&pin.sha256)
        {
            return Ok(found.clone());
        }
        let bytes = self.sdist_bytes(pin)?;
        let work = tempfile::Builder::new()
            .prefix(".sdist-build-")
            .tempdir_in(self.store.root())
            .map_err(io(self.store.root()))?;
        let unpacked = work.path().join("unpacked");
        std::fs::create_dir(&unpacked).map_err(io(&unpacked))?;
        let top = unpack_sdist(&bytes, &pin.filename, &unpacked)?;
        let dir_name = format!("{}-{version}", normalize_name(name));
        let source = work.path().join(&dir_name);
        std::fs::rename(&top, &source).map_err(io(&source))?;
        let pyproject = std::fs::read_to_string(source.join("pyproject.toml")).ok();
        let system = build_system(pyproject.as_deref(), &pin.filename)?;
        let requires = match locked_requires {
            Some(locked) => locked.to_vec(),
            None => self.resolve_requires(name, &system.requires)?,
        };
        self.fetch(&requires)?;
        let pairs: Vec<(String, Digest)> = requires
            .iter()
            .map(|w| (w.filename.clone(), w.sha256.clone()))
            .collect();
        let build_path = format!("{BUILD_ROOT}/{dir_name}");
        let key = build_key(&BuildKeyInput {
            sdist_sha256: &pin.sha256,
            requires: &pairs,
            below: &self.below,
            interpreter: &self.environment.install.interpreter,
            python_version: &self.environment.full_version,
            build_path: &build_path,
            epoch: BUILD_EPOCH,
        });
        let note_path = self
            .store
            .root()
            .join("sdist-builds")
            .join(format!("{}.json", key.hex()));
        let _lock = self.store.lock(&format!("sdist-build-{}", key.hex()))?;
        let note = match std::fs::read(&note_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<BuildNote>(&b).ok())
            .filter(|n| self.store.has_blob(&n.sha256))
        {
            Some(note) => note,
            None => {
                let note = self.run(name, version, work.path(), &dir_name, &system, &requires)?;
                if let Some(parent) = note_path.parent() {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                }
                let text = serde_json::to_vec(&note).unwrap_or_default();
                self.store.write_atomic(&note_path, &text)?;
                note
            }
        };
        let built = Arc::new(Built {
            filename: note.filename,
            sha256: note.sha256,
            size: note.size,
            sdist: LockedSdist {
                filename: pin.filename.clone(),
                url: pin.url.without_credentials().to_string(),
                sha256: pin.sha256.clone(),
                size: pin.size.unwrap_or(bytes.len() as u64),
                build_key: key,
                backend: system.backend.clone(),
                build_requires: requires,
            },
        });
        if let Ok(mut memo) = self.built.lock() {
            memo.insert(pin.sha256.clone(), built.clone());
        }
        Ok(built)
    }

    /// The sdist's bytes, fetched into the store by hash when missing.
    fn sdist_bytes(&self, pin: &SdistPin) -> Result<Vec<u8>, SdistBuildError> {
        let fetch = WheelFetch {
            filename: pin.filename.clone(),
            url: pin.url.clone(),
            sha256: pin.sha256.clone(),
            pinned_by: HashSource::Index,
        };
        self.runtime.block_on(fetch_wheels(
            &self.http,
            &self.store,
            std::slice::from_ref(&fetch),
            self.offline,
            1,
            &crate::http::NoProgress,
        ))?;
        let bytes = self.store.read_blob(&pin.sha256)?;
        if Digest::of(&bytes) != pin.sha256 {
            return Err(StoreError::io(
                "verify",
                &self.store.blob_path(&pin.sha256),
                std::io::Error::other("the stored sdist does not match its sha256"),
            )
            .into());
        }
        Ok(bytes)
    }

    /// The build requirements resolved as wheels for the target, pinned by hash.
    fn resolve_requires(
        &self,
        package: &str,
        requires: &[pep508_rs::Requirement],
    ) -> Result<Vec<LockedWheel>, SdistBuildError> {
        if requires.is_empty() {
            return Ok(Vec::new());
        }
        let Some(client) = &self.client else {
            return Ok(Vec::new());
        };
        let mut input = ResolveInput::new(
            self.environment.target,
            self.environment.full_version.clone(),
        );
        input.requirements = requires.to_vec();
        input.exclude_newer = self.exclude_newer;
        input.binary = BinaryPolicy::wheels_only();
        let resolution = self
            .runtime
            .block_on(resolve_with_index(client.clone(), input, None))
            .map_err(|e| match e {
                IndexError::Resolve(source @ ResolveError::NoCompatibleWheels { .. }) => {
                    let requirement = match &source {
                        ResolveError::NoCompatibleWheels { packages, .. } => packages
                            .iter()
                            .map(|p| p.name.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        _ => String::new(),
                    };
                    SdistBuildError::BuildRequirementSdist {
                        package: package.to_string(),
                        requirement,
                        source,
                    }
                }
                other => SdistBuildError::BuildRequirements {
                    package: package.to_string(),
                    source: Box::new(other),
                },
            })?;
        let pending = resolution
            .packages
            .into_iter()
            .map(|p| Pending {
                name: p.name.to_string(),
                version: p.version.to_string(),
                filename: p.filename,
                url: p.url,
                sha256: p.sha256,
                size: p.size,
                dependencies: p.dependencies.iter().map(ToString::to_string).collect(),
                sdist: None,
            })
            .collect();
        let mut locked = self
            .runtime
            .block_on(complete(&self.http, &self.store, pending, self.offline))
            .map_err(|e| SdistBuildError::Python(Box::new(e)))?;
        locked.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(locked)
    }

    /// The build requirements' wheels in the store, by hash.
    fn fetch(&self, requires: &[LockedWheel]) -> Result<(), SdistBuildError> {
        let fetches: Vec<WheelFetch> = requires
            .iter()
            .filter_map(|w| {
                Some(WheelFetch {
                    filename: w.filename.clone(),
                    url: with_index_credentials(&w.url, &self.indexes)
                        .or_else(|| IndexUrl::parse(&w.url).ok())?,
                    sha256: w.sha256.clone(),
                    pinned_by: HashSource::Lock,
                })
            })
            .collect();
        self.runtime.block_on(fetch_wheels(
            &self.http,
            &self.store,
            &fetches,
            self.offline,
            DOWNLOADS_AT_ONCE,
            &crate::http::NoProgress,
        ))?;
        Ok(())
    }

    /// Runs the backend in the sandbox over `work` (the source in `dir_name`) and
    /// stores the wheel it made.
    fn run(
        &self,
        name: &str,
        version: &str,
        work: &Path,
        dir_name: &str,
        system: &crate::python::BuildSystem,
        requires: &[LockedWheel],
    ) -> Result<BuildNote, SdistBuildError> {
        tracing::info!(
            package = name,
            version,
            backend = system.backend,
            "building a wheel from its sdist"
        );
        let interpreter = &self.environment.install.interpreter;
        let env_target = InstallTarget {
            purelib: "env".into(),
            platlib: "env".into(),
            scripts: "env/bin".into(),
            data: "env".into(),
            headers: "env/include".into(),
            interpreter: interpreter.clone(),
        };
        for wheel in requires {
            let bytes = self.store.read_blob(&wheel.sha256)?;
            let files = install_wheel(&bytes, &wheel.filename, &env_target).map_err(|source| {
                SdistBuildError::Install {
                    filename: wheel.filename.clone(),
                    source,
                }
            })?;
            for file in files {
                write_file(&work.join(&file.path), &file.contents, file.mode)?;
            }
        }
        std::fs::create_dir_all(work.join("env")).map_err(io(work))?;
        write_file(&work.join("driver.py"), DRIVER.as_bytes(), 0o644)?;
        let out = work.join("out");
        std::fs::create_dir_all(&out).map_err(io(&out))?;
        let mut layers = self.layers.clone();
        if let Some(debian) = &self.debian {
            let nothing_ahead = super::prefetch::Prefetch::default();
            let step = super::layers::DebianStep {
                lock: &debian.lock,
                facts: &debian.facts,
                fallback_urls: &debian.fallback_urls,
                offline: self.offline,
                mtime: debian.mtime,
                // The build's own Debian layer is gzip whatever the image uses, so the
                // build key does not depend on `--compression`.
                compression: crate::layer::Compression::default(),
                runtime: &self.runtime,
                prefetch: &nothing_ahead,
            };
            let below = super::layers::Below {
                base: &debian.base,
                keys: &[],
                layers: &[],
            };
            let cache = super::cache::LayerCache::none();
            if let Some((_, layer)) =
                super::realise::realise_layer(&step, &below, &self.store, &cache, &())
                    .map_err(|e| SdistBuildError::Layer(Box::new(e)))?
            {
                let digest = layer.record.digest;
                layers.push((digest.clone(), self.store.blob_path(&digest)));
            }
        }
        let rootfs = unpack_rootfs(&self.store, &layers)?;
        let mut command = vec![
            interpreter.clone(),
            "-I".into(),
            "-S".into(),
            format!("{BUILD_ROOT}/driver.py"),
            format!("{BUILD_ROOT}/env"),
            format!("{BUILD_ROOT}/{dir_name}"),
            format!("{BUILD_ROOT}/out"),
            system.backend.clone(),
        ];
        command.extend(system.backend_path.iter().cloned());
        let env = [
            (
                "PATH",
                format!(
                    "{BUILD_ROOT}/env/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                ),
            ),
            ("HOME", "/tmp".to_string()),
            ("SOURCE_DATE_EPOCH", BUILD_EPOCH.to_string()),
            ("PYTHONHASHSEED", "0".to_string()),
            ("LC_ALL", "C.UTF-8".to_string()),
            ("TZ", "UTC".to_string()),
        ];
        let spec = SandboxSpec {
            rootfs,
            project: work.to_path_buf(),
            workdir: BUILD_ROOT.to_string(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            uid: 0,
            gid: 0,
            files: Vec::new(),
            command,
        };
        let output = bwrap_command(&spec)?
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(io(work))?;
        if !output.status.success() {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            let lines: Vec<&str> = text.lines().collect();
            let shown = lines[lines.len().saturating_sub(SHOWN_OUTPUT_LINES)..].join("\n");
            return Err(SdistBuildError::Failed {
                package: name.to_string(),
                version: version.to_string(),
                status: output.status.to_string(),
                output: crate::printable::printable_lines(&shown).into_owned(),
            });
        }
        let wheels: Vec<String> = std::fs::read_dir(&out)
            .map_err(io(&out))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let wanted = normalize_name(name);
        let filename = match wheels.as_slice() {
            [one]
                if one.ends_with(".whl")
                    && one
                        .split('-')
                        .next()
                        .is_some_and(|n| normalize_name(n) == wanted) =>
            {
                one.clone()
            }
            _ => {
                return Err(SdistBuildError::NoWheel {
                    package: name.to_string(),
                    version: version.to_string(),
                    found: wheels.join(", "),
                });
            }
        };
        let path = out.join(&filename);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let sha256 = self.store.put_bytes(&bytes)?;
        Ok(BuildNote {
            filename,
            sha256,
            size: bytes.len() as u64,
        })
    }
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), SdistBuildError> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::write(path, bytes).map_err(io(path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(path))
}

impl SdistHook for SdistBuilder {
    fn metadata(
        &self,
        name: &PackageName,
        version: &Version,
        sdist: &WheelCandidate,
    ) -> Result<crate::python::CoreMetadata, SourceError> {
        let fail = |e: SdistBuildError| SourceError::with_source(e.to_string(), e);
        let pin = SdistPin::new(
            &sdist.filename,
            &sdist.url,
            sdist.sha256.as_deref(),
            sdist.size,
        )
        .map_err(fail)?;
        let bytes = self.sdist_bytes(&pin).map_err(fail)?;
        if let Some(metadata) =
            static_metadata(&bytes, &pin.filename).map_err(|e| fail(e.into()))?
        {
            return Ok(metadata);
        }
        let built = self
            .build(name.as_ref(), &version.to_string(), &pin, None)
            .map_err(fail)?;
        let wheel = self
            .store
            .read_blob(&built.sha256)
            .map_err(|e| fail(e.into()))?;
        wheel_metadata(&wheel, &built.filename).map_err(|e| fail(e.into()))
    }
}

impl crate::hint::Hint for SdistBuildError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::NotReproducible { package, .. } => vec![
                format!("the build of `{package}` does not give the same bytes twice (a timestamp or a random order in the wheel); build it once, put the wheel in a directory of the project and name it with `--find-links` in requirements.txt, so the lock pins that wheel"),
            ],
            Self::BuildRequirementSdist { .. } => vec![
                "airlock builds sdists with build requirements that are wheels; put a wheel of that build requirement into a `--find-links` directory".into(),
            ],
            Self::Failed { .. } | Self::NoWheel { .. } => vec![
                "a build needing a compiler or headers needs them in packages.txt; or pin a wheel of the package into a `--find-links` directory".into(),
            ],
            Self::WheelsOnlyStep { .. } => vec![
                "install the package from requirements.txt (airlock builds its sdists in a sandbox), pin a version that has a wheel for the image, or put a wheel of it into a `--find-links` directory".into(),
            ],
            Self::BuildingOff { .. } => vec![
                "remove `no-build = true` / `--only-binary :all:`, or pin a wheel of the package into a `--find-links` directory".into(),
            ],
            Self::NoHash(_) => vec!["use an index that lists sha256 hashes".into()],
            Self::Sdist(e) => e.hints(),
            Self::Download(e) => e.hints(),
            Self::Store(e) => e.hints(),
            Self::Sandbox(e) => e.hints(),
            Self::Rootfs(e) => e.hints(),
            Self::Python(e) => e.hints(),
            Self::Layer(e) => e.hints(),
            Self::BuildRequirements { source, .. } => source.hints(),
            Self::Install { .. } | Self::Io { .. } => Vec::new(),
        }
    }
}
