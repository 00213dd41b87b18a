//! The Python stage of a build: `requirements.txt` → the `[python]` and `[[wheels]]`
//! parts of the lock (re-used while nothing they depend on changed), and the plan the
//! layer of installed wheels is made from.
//!
//! The layer itself is `python_layer`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use pep508_rs::{PackageName, Requirement};
use sha2::{Digest as _, Sha256};

use super::options::{LockMode, Reporter};
use super::sdist_build::{DebianBelow, SdistBuildError, SdistBuilder};
use crate::digest::Digest;
use crate::http::{HttpClient, HttpError, HttpSettings};
use crate::image::BaseFacts;
use crate::layer::TreeError;
use crate::lock::{LockError, LockedSdist, LockedWheel, Lockfile, PythonLock};
use crate::project::Project;
use crate::python::{
    BasePip, BaseView, DownloadError, EnvironmentError, FindLinks, FindLinksError, FsSource,
    HashSource, IndexClient, IndexClientOptions, IndexConfigError, IndexError, IndexSource,
    IndexUrl, PythonEnvironment, RequirementsError, RequirementsFile, RequirementsSource,
    ResolveError, ResolveInput, SdistHook, Timestamp, Upgrade, WheelFetch, WheelInstallError,
    base_index_sources, check_wheel_entries, fetch_wheels, has_literal_credentials,
    index_urls_from_env, list_wheel_dir, netrc_path, pip_config_files, pip_config_indexes,
    resolve_with_index, select_indexes, with_index_credentials, with_netrc,
};
use crate::store::{Store, StoreError};

const REQUIREMENTS: &str = "requirements.txt";
pub(super) const DOWNLOADS_AT_ONCE: usize = 8;

/// Python options of `airlock build` and `airlock lock`.
#[derive(Debug, Clone, Default)]
pub(crate) struct PythonOptions {
    /// `--upgrade` / `--upgrade-package`.
    pub upgrade: Upgrade,
    /// `--exclude-newer` (wins over `airlock.toml`).
    pub exclude_newer: Option<String>,
    /// `--allow-base-upgrades` (or `airlock.toml`).
    pub allow_base_upgrades: bool,
    /// Index pages and wheels from the cache and store only.
    pub offline: bool,
    /// Extra CA files for the index.
    pub ca_files: Vec<PathBuf>,
    /// The image's timestamp (the Debian layer an sdist build runs on is made with it).
    pub source_date_epoch: u64,
}

/// Why the Python stage failed.
#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    #[error(transparent)]
    Requirements(#[from] RequirementsError),
    #[error(transparent)]
    Environment(#[from] EnvironmentError),
    #[error(transparent)]
    IndexConfig(#[from] IndexConfigError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error(transparent)]
    FindLinks(#[from] FindLinksError),
    #[error("Cannot install `{filename}`")]
    Install {
        filename: String,
        #[source]
        source: WheelInstallError,
    },
    #[error("Cannot lock `{filename}`: installing it would be refused")]
    Unlockable {
        filename: String,
        #[source]
        source: WheelInstallError,
    },
    #[error("The wheel `{filename}` in the store does not match its sha256 `{expected}`")]
    Corrupt { filename: String, expected: Digest },
    #[error("Invalid `exclude-newer` value `{0}`: expected `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`")]
    ExcludeNewer(String),
    #[error(
        "{location}: no wheel of `{name}` {version} for the target matches the given `--hash` values"
    )]
    NoHashedWheel {
        location: String,
        name: String,
        version: String,
    },
    #[error(
        "{first} `{first_text}` and {second} `{second_text}` cannot both hold: no version of `{name}` satisfies both"
    )]
    Contradiction {
        name: String,
        first: String,
        first_text: String,
        second: String,
        second_text: String,
    },
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Sdist(Box<SdistBuildError>),
    #[error("Cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<ResolveError> for PythonError {
    fn from(error: ResolveError) -> Self {
        Self::Index(IndexError::Resolve(error))
    }
}

/// The outcome of the lock step, used by the layer step.
pub(super) struct PythonPlan {
    pub environment: PythonEnvironment,
    /// Configured indexes with their credentials (never written anywhere).
    pub indexes: Vec<IndexUrl>,
    /// Whether a resolution ran (else the lock's wheels were kept).
    pub resolved: bool,
    /// `name from → to` for every base distribution the lock replaces.
    pub base_upgrades: Vec<String>,
    /// Builds wheels from sdists (at lock time, and again for a lock's built wheel
    /// the store lacks).
    pub sdist: Arc<SdistBuilder>,
}

/// What the lock step needs.
pub(super) struct PythonContext<'a> {
    pub project: &'a Project,
    pub facts: &'a BaseFacts,
    /// The base config's `Env`.
    pub base_env: &'a [String],
    /// The home directory of the user the base's triggers install packages as (what
    /// `~` means to the base's own pip when its `Env` has no `HOME`).
    pub base_home: Option<&'a str>,
    pub on_disk: Option<&'a Lockfile>,
    pub lock_path: &'a Path,
    pub mode: LockMode,
    pub options: &'a PythonOptions,
    /// Index cache (pages and metadata) inside the store.
    pub store: &'a Store,
    pub reporter: &'a dyn Reporter,
    /// Where the index requests and downloads run.
    pub runtime: &'a tokio::runtime::Handle,
    /// The base image, whose layers sdist builds run on.
    pub base: &'a crate::image::BaseImage,
}

/// The sdist builder for a resolution into `environment` from `indexes`, on the
/// base's layers (the Debian layer below is added by the caller when there is one).
fn sdist_builder(
    ctx: &PythonContext<'_>,
    indexes: &[IndexUrl],
    environment: &PythonEnvironment,
) -> Result<SdistBuilder, PythonError> {
    Ok(SdistBuilder::new(
        ctx.store.clone(),
        http(ctx.options)?,
        ctx.runtime.clone(),
        indexes.to_vec(),
        environment.clone(),
        ctx.base
            .layers
            .iter()
            .map(|l| (l.digest.clone(), l.path.clone()))
            .collect(),
        vec![ctx.base.manifest_digest.clone()],
        ctx.options.offline,
    ))
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Reads `requirements.txt` and every file it includes; `None` when there is none.
fn read_requirements(project: &Project) -> Result<Option<RequirementsFile>, PythonError> {
    if !project.inputs.contains_key(REQUIREMENTS) {
        return Ok(None);
    }
    let path = project.root.join(REQUIREMENTS);
    let file = RequirementsFile::parse(&path, &FsSource, &env_var)?;
    file.check_hash_mode()?;
    Ok(Some(file))
}

/// What to do about credentials written into a project file.
pub(crate) const LITERAL_CREDENTIALS_HINT: &str = "write them as `${VAR}` (expanded from the environment when airlock locks, never written to the image or the lock) or keep them in `~/.netrc`";

/// Where the project writes credentials into a URL as they are (`requirements.txt`
/// and the files it includes, line by line; the `[python]` URLs of `airlock.toml`):
/// those files are copied into the image as written, so the secret would ship.
fn literal_credentials_in(project: &Project, file: Option<&RequirementsFile>) -> Vec<String> {
    let mut places: Vec<String> = file
        .map(|f| {
            f.literal_credentials
                .iter()
                .map(|l| format!("{}:{}", input_key(&project.root, &l.file), l.line))
                .collect()
        })
        .unwrap_or_default();
    let settings = &project.settings.python;
    let toml_urls = settings
        .index_url
        .iter()
        .map(|u| ("python.index-url", u))
        .chain(
            settings
                .extra_index_urls
                .iter()
                .map(|u| ("python.extra-index-urls", u)),
        )
        .chain(settings.find_links.iter().map(|u| ("python.find-links", u)));
    for (key, url) in toml_urls {
        if has_literal_credentials(url) {
            places.push(format!("airlock.toml (`{key}`)"));
        }
    }
    places.dedup();
    places
}

/// [`literal_credentials_in`] for the project as it is on disk (what `deploy`
/// refuses to ship).
pub(crate) fn literal_credentials(project: &Project) -> Result<Vec<String>, PythonError> {
    Ok(literal_credentials_in(
        project,
        read_requirements(project)?.as_ref(),
    ))
}

/// The input-file key of an included file: its path relative to the project.
fn input_key(root: &Path, file: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .to_string_lossy()
        .into_owned()
}

/// `${VAR}` in an `airlock.toml` URL, from the environment.
fn expand(text: &str) -> Result<String, PythonError> {
    let source = InlineSource(text.to_string());
    // The requirements parser's expansion, reused on a one-line "file".
    let parsed = RequirementsFile::parse(Path::new("airlock.toml"), &source, &env_var);
    match parsed {
        Ok(file) => Ok(file
            .index_url
            .map(|u| u.url().to_string())
            .unwrap_or_else(|| text.to_string())),
        Err(RequirementsError::UndefinedVariable { name, .. }) => {
            Err(RequirementsError::UndefinedVariable {
                location: crate::python::Location {
                    file: PathBuf::from("airlock.toml"),
                    line: 0,
                },
                name,
            }
            .into())
        }
        Err(e) => Err(e.into()),
    }
}

struct InlineSource(String);

impl RequirementsSource for InlineSource {
    fn read(&self, _path: &Path) -> std::io::Result<String> {
        Ok(format!("--index-url {}\n", self.0))
    }
}

fn toml_url(text: &str, what: &str) -> Result<IndexUrl, PythonError> {
    let expanded = expand(text)?;
    IndexUrl::parse(&expanded).map_err(|source| {
        IndexConfigError::Url {
            source_name: format!("`airlock.toml` ({what})"),
            source,
        }
        .into()
    })
}

/// The indexes to read, by precedence, with `.netrc` credentials added: what the user
/// configured first, then what the base image's own pip would use (`base`).
fn indexes(
    project: &Project,
    file: &RequirementsFile,
    base: &BasePip<'_>,
) -> Result<Vec<IndexUrl>, PythonError> {
    if file.no_index {
        return Ok(Vec::new());
    }
    let settings = &project.settings.python;
    let from_file = IndexSource {
        index_url: file.index_url.clone(),
        extra_index_urls: file.extra_index_urls.clone(),
    };
    let env = index_urls_from_env(&env_var)?;
    let from_env = IndexSource {
        index_url: env.index_url,
        extra_index_urls: env.extra_index_urls,
    };
    let from_toml = IndexSource {
        index_url: settings
            .index_url
            .as_deref()
            .map(|u| toml_url(u, "python.index-url"))
            .transpose()?,
        extra_index_urls: settings
            .extra_index_urls
            .iter()
            .map(|u| toml_url(u, "python.extra-index-urls"))
            .collect::<Result<_, _>>()?,
    };
    let pip = pip_config_indexes(&pip_config_files(&env_var), &|p| {
        std::fs::read_to_string(p).ok()
    })?;
    let mut others = vec![
        ("environment", from_env),
        ("airlock.toml", from_toml),
        ("pip configuration", pip),
    ];
    others.extend(base_index_sources(base)?);
    let selection = select_indexes(from_file, others)?;
    tracing::debug!(origin = selection.origin, "index selected");
    let netrc = netrc_path(&env_var).and_then(|p| std::fs::read_to_string(p).ok());
    Ok(with_netrc(selection.indexes, netrc.as_deref()))
}

/// The indexes (with their credentials) as far as they are known before the base is
/// read: every source but the base's own. For the downloads started while the base
/// is read (`prefetch.rs`); `None` when the requirements cannot be read or name no
/// index.
pub(super) fn indexes_before_base(project: &Project) -> Option<Vec<IndexUrl>> {
    let file = read_requirements(project).ok()??;
    let files = BTreeMap::new();
    let base = BasePip {
        env: &[],
        home: None,
        files: &files,
        pip_source: None,
    };
    indexes(project, &file, &base).ok()
}

/// `--find-links` wheels from directories, pages to read, and both as the lock shows them.
type Links = (Vec<crate::python::DistFile>, Vec<IndexUrl>, Vec<String>);

/// `--find-links` directories (listed and hashed) and pages.
fn find_links(project: &Project, file: &RequirementsFile) -> Result<Links, PythonError> {
    let mut links = file.find_links.clone();
    for text in &project.settings.python.find_links {
        let link = if text.contains("://") {
            FindLinks::Url(toml_url(text, "python.find-links")?)
        } else {
            FindLinks::Path(project.root.join(text))
        };
        if !links.contains(&link) {
            links.push(link);
        }
    }
    let mut files = Vec::new();
    let mut pages = Vec::new();
    let mut shown = Vec::new();
    for link in links {
        match link {
            FindLinks::Path(dir) => {
                shown.push(input_key(&project.root, &dir));
                files.extend(list_wheel_dir(&dir)?);
            }
            FindLinks::Url(url) => {
                shown.push(url.without_credentials().to_string());
                pages.push(url);
            }
        }
    }
    Ok((files, pages, shown))
}

/// sha256 over the base's installed distributions and constraints.
fn base_fingerprint(environment: &PythonEnvironment) -> Digest {
    let mut h = Sha256::new();
    for (name, dist) in &environment.installed {
        h.update(format!("{name}=={}\n", dist.metadata.version));
    }
    h.update(b"\0");
    h.update(environment.constraints.as_deref().unwrap_or("").as_bytes());
    Digest::from_sha256(h.finalize().into())
}

pub(super) fn http(options: &PythonOptions) -> Result<HttpClient, PythonError> {
    Ok(HttpClient::new(&HttpSettings {
        ca_files: options.ca_files.clone(),
        ..HttpSettings::default()
    })?)
}

/// Fills `wanted.python`, `wanted.wheels` and the included files' hashes: from the
/// lock on disk when nothing they depend on changed, else by resolving.
pub(super) fn lock_python(
    ctx: &PythonContext<'_>,
    wanted: &mut Lockfile,
) -> Result<Option<PythonPlan>, PythonError> {
    let file = read_requirements(ctx.project)?;
    for place in literal_credentials_in(ctx.project, file.as_ref()) {
        ctx.reporter.warn(
            &format!(
                "`{place}` writes credentials into a URL; the file is copied into the image as written, so they ship with it (`airlock deploy` refuses it)"
            ),
            Some(LITERAL_CREDENTIALS_HINT),
        );
    }
    let Some(file) = file.filter(|f| !f.requirements.is_empty()) else {
        return Ok(None);
    };
    for included in file.files.iter().skip(1) {
        let text = std::fs::read(included).map_err(|source| PythonError::Read {
            path: included.clone(),
            source,
        })?;
        wanted
            .inputs
            .insert(input_key(&ctx.project.root, included), Digest::of(&text));
    }
    let Target {
        environment,
        indexes,
        links,
        header,
        cutoff,
    } = target(ctx, &file)?;
    let reusable = ctx
        .on_disk
        .filter(|old| old.python.as_ref() == Some(&header) && old.staleness(wanted).is_none());
    let mut builder = sdist_builder(ctx, &indexes, &environment)?;
    if wanted.debian.is_some() && !wanted.debs.is_empty() {
        // Builds see the Debian layer below them (a compiler, headers), as the image
        // has it: its key stands for it in the build key.
        let mtime = ctx.options.source_date_epoch;
        builder.below.push(super::debian::layer_key(
            wanted,
            ctx.facts,
            mtime,
            crate::layer::Compression::default(),
        ));
        builder.debian = Some(Arc::new(DebianBelow {
            lock: wanted.clone(),
            facts: ctx.facts.clone(),
            fallback_urls: ctx.project.settings.debian.fallback_urls.clone(),
            mtime,
            base: ctx.base.clone(),
        }));
    }
    builder.exclude_newer = cutoff;
    builder.no_build = ctx.project.settings.python.no_build;
    let mut plan = PythonPlan {
        environment,
        indexes,
        resolved: false,
        base_upgrades: Vec::new(),
        sdist: Arc::new(builder),
    };
    if let Some(old) = reusable
        && ctx.options.upgrade == Upgrade::None
    {
        wanted.python = Some(header);
        wanted.wheels = old.wheels.clone();
        return Ok(Some(plan));
    }
    if ctx.mode == LockMode::Locked {
        let reason = match ctx.on_disk {
            None => "it does not exist".to_string(),
            Some(old) => old
                .staleness(wanted)
                .or_else(|| python_change(old.python.as_ref(), &header))
                .unwrap_or_else(|| "an upgrade was asked for".to_string()),
        };
        return Err(LockError::Stale {
            path: ctx.lock_path.to_path_buf(),
            reason,
        }
        .into());
    }
    ctx.reporter.step("resolving requirements.txt");
    let locked = resolve(ctx, &file, &mut plan, links, &header, cutoff, None)?;
    wanted.python = Some(header);
    wanted.wheels = locked;
    plan.resolved = true;
    Ok(Some(plan))
}

/// What a `RUN pip install` step sees installed (the layers below it, as pip would)
/// and the pins it had, preferred when it resolves again.
pub(super) struct Installed<'a> {
    pub dists: BTreeMap<PackageName, crate::python::BaseDist>,
    pub previous: &'a [LockedWheel],
}

/// A `RUN pip install` step resolved like `requirements.txt` is (its indexes, links,
/// cut-off and target: the project's `requirements.txt` settings when it has one),
/// over what the layers below install. `command` is the step's command line as a
/// requirements file (its `-r` lines relative to the project). Returns the pins, the
/// environment and indexes they are for, and a digest of everything the resolution
/// depended on but the command itself.
pub(super) fn resolve_step(
    ctx: &PythonContext<'_>,
    command: &str,
    installed: Installed<'_>,
    kept: &dyn Fn(&Digest) -> Option<Vec<LockedWheel>>,
) -> Result<(Vec<LockedWheel>, Vec<IndexUrl>, Digest), PythonError> {
    let path = ctx.project.root.join(".airlock-run-step.txt");
    let source = StepSource {
        path: path.clone(),
        text: command.to_string(),
    };
    let file = RequirementsFile::parse(&path, &source, &env_var)?;
    let settings_file = read_requirements(ctx.project)?;
    let Target {
        environment,
        indexes,
        links,
        header,
        cutoff,
    } = target(ctx, settings_file.as_ref().unwrap_or(&file))?;
    let mut h = Sha256::new();
    h.update(toml::to_string(&header).unwrap_or_default());
    for (name, dist) in &installed.dists {
        h.update(format!("\0{name}=={}", dist.version));
    }
    for included in file.files.iter().skip(1) {
        let text = std::fs::read(included).map_err(|source| PythonError::Read {
            path: included.clone(),
            source,
        })?;
        h.update(format!(
            "\0{}\0{}",
            input_key(&ctx.project.root, included),
            Digest::of(&text)
        ));
    }
    h.update(b"\0command\0");
    h.update(command.as_bytes());
    let inputs = Digest::from_sha256(h.finalize().into());
    if let Some(wheels) = kept(&inputs) {
        return Ok((wheels, indexes, inputs));
    }
    if ctx.mode == LockMode::Locked {
        return Err(LockError::Stale {
            path: ctx.lock_path.to_path_buf(),
            reason: "a `RUN pip install` step is not pinned for what it installs now".into(),
        }
        .into());
    }
    ctx.reporter.step("resolving a RUN pip install");
    // A `RUN pip install` installs wheels only: its layer has no sdist build step.
    let mut builder = sdist_builder(ctx, &indexes, &environment)?;
    builder.no_build = true;
    builder.wheels_only_step = true;
    let mut plan = PythonPlan {
        environment,
        indexes,
        resolved: true,
        base_upgrades: Vec::new(),
        sdist: Arc::new(builder),
    };
    let locked = resolve(
        ctx,
        &file,
        &mut plan,
        links,
        &header,
        cutoff,
        Some(installed),
    )?;
    Ok((locked, plan.indexes, inputs))
}

/// A step's command line as the requirements file it stands for; files it includes
/// are read from the project.
struct StepSource {
    path: PathBuf,
    text: String,
}

impl RequirementsSource for StepSource {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        if path == self.path {
            Ok(self.text.clone())
        } else {
            std::fs::read_to_string(path)
        }
    }
}

/// What the lock's `[python]` section says, and what resolving needs besides.
struct Target {
    /// The base's Python: version, platform, install scheme, installed distributions.
    environment: PythonEnvironment,
    /// The indexes to read, with their credentials.
    indexes: Vec<IndexUrl>,
    /// `--find-links` wheels from directories and pages to read.
    links: (Vec<crate::python::DistFile>, Vec<IndexUrl>),
    header: PythonLock,
    /// `exclude-newer`, parsed.
    cutoff: Option<Timestamp>,
}

/// The base's Python environment, the indexes and links to read and the settings, as
/// the lock's `[python]` section records them.
fn target(ctx: &PythonContext<'_>, file: &RequirementsFile) -> Result<Target, PythonError> {
    let dirs: BTreeSet<String> = ctx.facts.dirs.keys().cloned().collect();
    let environment = PythonEnvironment::from_base(BaseView {
        files: &ctx.facts.files,
        dirs: &dirs,
        symlinks: &ctx.facts.symlinks,
        interpreters: &ctx.facts.interpreters,
        env: ctx.base_env,
    })?;
    let settings = &ctx.project.settings.python;
    let exclude_newer = ctx
        .options
        .exclude_newer
        .clone()
        .or_else(|| settings.exclude_newer.clone());
    let cutoff = exclude_newer
        .as_deref()
        .map(|t| Timestamp::from_str(t).map_err(|_| PythonError::ExcludeNewer(t.to_string())))
        .transpose()?;
    let allow_base_upgrades = ctx.options.allow_base_upgrades || settings.allow_base_upgrades;
    let pip_source = PackageName::from_str("pip")
        .ok()
        .and_then(|name| environment.installed.get(&name))
        .and_then(|pip| pip.dist_info.rsplit_once('/'))
        .and_then(|(dir, _)| {
            ctx.facts
                .files
                .get(&format!("{dir}/pip/_internal/models/index.py"))
        });
    let base_pip = BasePip {
        env: ctx.base_env,
        home: ctx.base_home,
        files: &ctx.facts.files,
        pip_source: pip_source.map(String::as_str),
    };
    let indexes = match indexes(ctx.project, file, &base_pip) {
        // Nothing is fetched offline: the lock's indexes stand for the configured ones.
        Err(PythonError::IndexConfig(IndexConfigError::NoIndex)) if ctx.options.offline => ctx
            .on_disk
            .and_then(|lock| lock.python.as_ref())
            .map(|python| {
                python
                    .indexes
                    .iter()
                    .filter_map(|url| IndexUrl::parse(url).ok())
                    .collect()
            })
            .unwrap_or_default(),
        other => other?,
    };
    let (local_files, link_pages, links_shown) = find_links(ctx.project, file)?;
    let header = PythonLock {
        python: environment.full_version.clone(),
        glibc: format!(
            "{}.{}",
            environment.target.glibc.0, environment.target.glibc.1
        ),
        arch: environment.target.arch.as_str().to_string(),
        site_packages: environment.install.purelib.clone(),
        indexes: indexes
            .iter()
            .map(|i| i.without_credentials().to_string())
            .collect(),
        find_links: links_shown,
        exclude_newer: exclude_newer.clone(),
        allow_base_upgrades,
        hashed_requirements: file.is_fully_hashed(),
        base_packages: base_fingerprint(&environment),
    };
    Ok(Target {
        environment,
        indexes,
        links: (local_files, link_pages),
        header,
        cutoff,
    })
}

/// Resolves `file` for the target (or, in hash-checking mode, takes the hashed
/// wheels as written) and pins every wheel by hash and size, checked installable.
/// Notes in `plan` which base distributions the lock replaces.
fn resolve(
    ctx: &PythonContext<'_>,
    file: &RequirementsFile,
    plan: &mut PythonPlan,
    (local_files, link_pages): (Vec<crate::python::DistFile>, Vec<IndexUrl>),
    header: &PythonLock,
    cutoff: Option<Timestamp>,
    installed: Option<Installed<'_>>,
) -> Result<Vec<LockedWheel>, PythonError> {
    let http = http(ctx.options)?;
    let tags = plan.environment.target.compatible_tags();
    let client = Arc::new(
        IndexClient::new(
            http.clone(),
            plan.indexes.clone(),
            tags,
            IndexClientOptions {
                cache_dir: Some(ctx.store.root().join("python")),
                offline: ctx.options.offline,
                ..IndexClientOptions::default()
            },
        )
        .with_find_links(local_files, link_pages),
    );
    let rt = ctx.runtime;
    check_contradictions(file, &plan.environment)?;
    let wheels = if file.is_fully_hashed() {
        rt.block_on(hashed_wheels(&client, file, &plan.environment))?
    } else {
        let mut input = ResolveInput::new(
            plan.environment.target,
            plan.environment.full_version.clone(),
        );
        input.requirements = file
            .requirements
            .iter()
            .map(|r| r.requirement.clone())
            .collect();
        input.constraints = file
            .constraints
            .iter()
            .map(|r| r.requirement.clone())
            .chain(base_constraints(&plan.environment))
            .collect();
        let previous = match &installed {
            Some(step) => {
                input.base = step.dists.clone();
                step.previous
            }
            None => {
                input.base = plan.environment.base_dists();
                ctx.on_disk.map_or(&[][..], |old| &old.wheels[..])
            }
        };
        input.allow_base_upgrades = header.allow_base_upgrades;
        input.exclude_newer = cutoff;
        input.upgrade = ctx.options.upgrade.clone();
        input.binary = file.binary.clone();
        if ctx.project.settings.python.no_build {
            input.binary.apply(false, ":all:");
        }
        {
            for wheel in previous {
                if let (Ok(name), Ok(version)) = (
                    PackageName::from_str(&wheel.name),
                    pep440_rs::Version::from_str(&wheel.version),
                ) {
                    input.preferences.insert(name, version);
                }
            }
        }
        let mut builder = plan.sdist.fresh();
        builder.client = Some(client.clone());
        let builder = Arc::new(builder);
        let hook: Arc<dyn SdistHook> = builder.clone();
        let resolution = rt.block_on(resolve_with_index(client, input, Some(hook)))?;
        for upgrade in &resolution.base_upgrades {
            let line = format!("{} {} → {}", upgrade.name, upgrade.from, upgrade.to);
            tracing::warn!("the lock changes a base distribution: {line}");
            plan.base_upgrades.push(line);
        }
        let mut pending = Vec::new();
        for p in resolution.packages {
            let mut entry = Pending {
                name: p.name.to_string(),
                version: p.version.to_string(),
                filename: p.filename,
                url: p.url,
                sha256: p.sha256,
                size: p.size,
                dependencies: p.dependencies.iter().map(ToString::to_string).collect(),
                sdist: None,
            };
            if p.sdist {
                ctx.reporter.step(&format!(
                    "building {} {} from its sdist",
                    entry.name, entry.version
                ));
                let built = builder
                    .build_candidate(
                        &entry.name,
                        &entry.version,
                        &entry.filename,
                        &entry.url,
                        entry.sha256.as_deref(),
                        entry.size,
                    )
                    .map_err(|e| PythonError::Sdist(Box::new(e)))?;
                entry.filename = built.filename.clone();
                entry.sha256 = Some(built.sha256.hex().to_string());
                entry.size = Some(built.size);
                entry.sdist = Some(built.sdist.clone());
            }
            pending.push(entry);
        }
        pending
    };
    let mut locked = rt.block_on(complete(&http, ctx.store, wheels, ctx.options.offline))?;
    locked.sort_by(|a, b| a.name.cmp(&b.name));
    ctx.reporter.step("checking the wheels");
    rt.block_on(check_entries(
        &http,
        ctx.store,
        &locked,
        &plan.indexes,
        ctx.options.offline,
        ctx.reporter.transfers().as_ref(),
    ))?;
    Ok(locked)
}

/// Two requirement lines on the same distribution whose versions exclude each other
/// (`beta==1.0` and `beta==2.0`), reported with both lines before any resolution.
fn check_contradictions(
    file: &RequirementsFile,
    environment: &PythonEnvironment,
) -> Result<(), PythonError> {
    let markers = environment
        .target
        .marker_environment(&environment.full_version)
        .map_err(ResolveError::from)?;
    let mut seen: BTreeMap<&PackageName, (crate::python::VersionRanges, usize)> = BTreeMap::new();
    let entries: Vec<_> = file.requirements.iter().chain(&file.constraints).collect();
    for (i, entry) in entries.iter().enumerate() {
        let req = &entry.requirement;
        let Some(pep508_rs::VersionOrUrl::VersionSpecifier(specs)) = &req.version_or_url else {
            continue;
        };
        if !req.evaluate_markers(&markers, &[]) {
            continue;
        }
        let range = crate::python::VersionRanges::from(specs.clone());
        match seen.get_mut(&req.name) {
            Some((so_far, first)) => {
                let both = so_far.intersection(&range);
                if both.is_empty() {
                    let first = entries[*first];
                    return Err(PythonError::Contradiction {
                        name: req.name.to_string(),
                        first: first.location.to_string(),
                        first_text: first.requirement.to_string(),
                        second: entry.location.to_string(),
                        second_text: req.to_string(),
                    });
                }
                *so_far = both;
            }
            None => {
                seen.insert(&req.name, (range, i));
            }
        }
    }
    Ok(())
}

/// Why the Python part of a lock no longer fits, in words.
fn python_change(old: Option<&PythonLock>, new: &PythonLock) -> Option<String> {
    let Some(old) = old else {
        return Some("it has no Python section".into());
    };
    let diffs = [
        (old.python != new.python, "the base's Python version"),
        (old.glibc != new.glibc, "the base's glibc"),
        (
            old.site_packages != new.site_packages,
            "the site-packages directory",
        ),
        (old.indexes != new.indexes, "the package indexes"),
        (
            old.find_links != new.find_links,
            "the `--find-links` locations",
        ),
        (old.exclude_newer != new.exclude_newer, "`exclude-newer`"),
        (
            old.allow_base_upgrades != new.allow_base_upgrades,
            "`allow-base-upgrades`",
        ),
        (
            old.base_packages != new.base_packages,
            "the base's installed distributions",
        ),
        (
            old.hashed_requirements != new.hashed_requirements,
            "hash-checking mode",
        ),
    ];
    diffs
        .iter()
        .find(|(changed, _)| *changed)
        .map(|(_, what)| format!("{what} changed"))
}

/// The base's pip constraints file, as constraints (lines that do not parse are
/// skipped with a warning: the file belongs to the base, not the project).
fn base_constraints(environment: &PythonEnvironment) -> Vec<Requirement> {
    let Some(text) = &environment.constraints else {
        return Vec::new();
    };
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty() && !l.starts_with('-'))
        .filter_map(|l| match Requirement::from_str(l) {
            Ok(r)
                if r.version_or_url.is_none()
                    || matches!(
                        r.version_or_url,
                        Some(pep508_rs::VersionOrUrl::VersionSpecifier(_))
                    ) =>
            {
                Some(r)
            }
            _ => {
                tracing::warn!(line = l, "skipping a line of the base's pip constraints");
                None
            }
        })
        .collect()
}

/// A locked wheel before its hash and size are known for sure.
pub(super) struct Pending {
    pub name: String,
    pub version: String,
    pub filename: String,
    pub url: IndexUrl,
    pub sha256: Option<String>,
    pub size: Option<u64>,
    pub dependencies: Vec<String>,
    /// The sdist the wheel was built from.
    pub sdist: Option<LockedSdist>,
}

/// Hashes and sizes for every wheel: from the index when it gave both, else by
/// downloading the wheel into the store (verified against the index's hash if any).
pub(super) async fn complete(
    http: &HttpClient,
    store: &Store,
    pending: Vec<Pending>,
    offline: bool,
) -> Result<Vec<LockedWheel>, PythonError> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    stream::iter(pending)
        .map(|p| async move {
            let from_index = p.sha256.as_deref().and_then(|hex| {
                Digest::from_str(&format!("sha256:{}", hex.to_ascii_lowercase())).ok()
            });
            let (sha256, size) = match (from_index, p.size) {
                (Some(sha256), Some(size)) => (sha256, size),
                (known, _) => hash_by_download(http, store, &p, known, offline).await?,
            };
            Ok::<_, PythonError>(LockedWheel {
                name: p.name,
                version: p.version,
                filename: p.filename,
                url: p.url.without_credentials().to_string(),
                sha256,
                size,
                dependencies: p.dependencies,
                sdist: p.sdist,
            })
        })
        .buffered(DOWNLOADS_AT_ONCE)
        .try_collect()
        .await
}

/// Refuses to pin a wheel whose paths the install would refuse (`..`, absolute,
/// symbolic links): each wheel is fetched into the store by its locked hash, as the
/// build does next anyway, and its entries go through the install's own check.
/// Offline, a wheel the store lacks is left to the install's check.
async fn check_entries(
    http: &HttpClient,
    store: &Store,
    wheels: &[LockedWheel],
    indexes: &[IndexUrl],
    offline: bool,
    progress: &dyn crate::http::Progress,
) -> Result<(), PythonError> {
    if !offline {
        let fetches: Vec<WheelFetch> = wheels
            .iter()
            .filter(|w| w.sdist.is_none())
            .filter_map(|w| {
                Some(WheelFetch {
                    filename: w.filename.clone(),
                    url: with_index_credentials(&w.url, indexes)?,
                    sha256: w.sha256.clone(),
                    pinned_by: HashSource::Index,
                })
            })
            .collect();
        fetch_wheels(http, store, &fetches, false, DOWNLOADS_AT_ONCE, progress).await?;
    }
    for wheel in wheels.iter().filter(|w| store.has_blob(&w.sha256)) {
        let path = store.blob_path(&wheel.sha256);
        let file = std::fs::File::open(&path).map_err(|source| PythonError::Read {
            path: path.clone(),
            source,
        })?;
        check_wheel_entries(std::io::BufReader::new(file), &wheel.filename).map_err(|source| {
            PythonError::Unlockable {
                filename: wheel.filename.clone(),
                source,
            }
        })?;
    }
    Ok(())
}

async fn hash_by_download(
    http: &HttpClient,
    store: &Store,
    p: &Pending,
    known: Option<Digest>,
    offline: bool,
) -> Result<(Digest, u64), PythonError> {
    if let Some(sha256) = &known
        && store.has_blob(sha256)
    {
        let size = std::fs::metadata(store.blob_path(sha256))
            .map(|m| m.len())
            .unwrap_or(0);
        return Ok((sha256.clone(), size));
    }
    if offline {
        return Err(DownloadError::Offline {
            filename: p.filename.clone(),
        }
        .into());
    }
    let bytes = if p.url.url().scheme() == "file" {
        let path = p.url.url().to_file_path().unwrap_or_default();
        std::fs::read(&path).map_err(|source| PythonError::Read { path, source })?
    } else {
        let (plain, auth) = crate::python::split_credentials(&p.url);
        let response = http
            .send(|| {
                let r = http.reqwest().get(plain.clone());
                match &auth {
                    Some((u, pw)) => r.basic_auth(u, pw.as_ref()),
                    None => r,
                }
            })
            .await?;
        if !response.status().is_success() {
            return Err(DownloadError::Status {
                filename: p.filename.clone(),
                url: p.url.redacted(),
                status: response.status().as_u16(),
            }
            .into());
        }
        response
            .bytes()
            .await
            .map_err(|source| DownloadError::Body {
                filename: p.filename.clone(),
                url: p.url.redacted(),
                source: source.without_url(),
            })?
            .to_vec()
    };
    let actual = Digest::of(&bytes);
    if let Some(expected) = known
        && expected != actual
    {
        return Err(DownloadError::Hash {
            filename: p.filename.clone(),
            url: p.url.redacted(),
            expected,
            actual,
            size: bytes.len() as u64,
            pinned_by: HashSource::Index,
        }
        .into());
    }
    store.put_bytes(&bytes)?;
    Ok((actual, bytes.len() as u64))
}

/// pip's hash-checking mode: every requirement pinned with hashes is installed as
/// written, choosing the best wheel for the target among those the hashes allow.
async fn hashed_wheels(
    client: &IndexClient,
    file: &RequirementsFile,
    environment: &PythonEnvironment,
) -> Result<Vec<Pending>, PythonError> {
    let markers = environment
        .target
        .marker_environment(&environment.full_version)
        .map_err(ResolveError::from)?;
    let mut out = Vec::new();
    for entry in &file.requirements {
        if !entry.requirement.evaluate_markers(&markers, &[]) {
            continue;
        }
        let name = entry.requirement.name.clone();
        let Some(version) = entry.pinned_version() else {
            continue;
        };
        let allowed: BTreeSet<&str> = entry
            .hashes
            .iter()
            .filter(|h| h.algorithm == crate::python::HashAlgorithm::Sha256)
            .map(|h| h.digest.as_str())
            .collect();
        let project = client.project(&name).await?;
        let wheel = project
            .candidates
            .iter()
            .filter(|c| &c.version == version)
            .flat_map(|c| &c.wheels)
            .find(|w| w.sha256.as_deref().is_some_and(|s| allowed.contains(s)))
            .ok_or_else(|| PythonError::NoHashedWheel {
                location: entry.location.to_string(),
                name: name.to_string(),
                version: version.to_string(),
            })?;
        out.push(Pending {
            name: name.to_string(),
            version: version.to_string(),
            filename: wheel.filename.clone(),
            url: wheel.url.clone(),
            sha256: wheel.sha256.clone(),
            size: wheel.size,
            dependencies: Vec::new(),
            sdist: None,
        });
    }
    Ok(out)
}

impl crate::hint::Hint for PythonError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Requirements(error) => error.hints(),
            Self::Environment(error) => error.hints(),
            Self::IndexConfig(error) => error.hints(),
            Self::Index(error) => error.hints(),
            Self::Download(error) => error.hints(),
            Self::FindLinks(error) => error.hints(),
            Self::Install { source, .. } => source.hints(),
            Self::Unlockable { source, .. } => source.hints(),
            Self::NoHashedWheel { .. } => vec![
                "Regenerate the hashes (`pip hash` or `pip-compile --generate-hashes`) for this platform, or drop the `--hash` options to let airlock resolve and pin".into(),
            ],
            Self::Http(error) => error.hints(),
            Self::Store(error) => error.hints(),
            Self::Tree(error) => error.hints(),
            Self::Layer(error) => error.hints(),
            Self::Lock(error) => error.hints(),
            Self::Sdist(error) => error.hints(),
            Self::Corrupt { .. }
            | Self::ExcludeNewer(..)
            | Self::Contradiction { .. }
            | Self::Read { .. } => Vec::new(),
        }
    }
}
