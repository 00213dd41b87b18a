//! Dependency resolution: requirements, constraints and the base image's installed
//! distributions in; one wheel per distribution out. The solver is PubGrub (the
//! `pubgrub` crate) over PEP 440 version ranges, with extras as virtual packages.
//!
//! This module asks nothing of the network: everything it knows about an index comes
//! through [`DistributionSource`], which the caller implements (an index client that
//! pre-fetches, or an in-memory fake in tests). It never reads the clock:
//! `exclude_newer` is an input.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::rc::Rc;
use std::str::FromStr;

use pep440_rs::{Operator, Version, VersionSpecifiers};
use pep508_rs::{ExtraName, MarkerEnvironment, PackageName, Requirement, VersionOrUrl};
use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyConstraints, DependencyProvider, DerivationTree,
    Derived, External, Map, PackageResolutionStatistics, PubGrubError, ReportFormatter, Reporter,
    Term,
};

use super::index_url::IndexUrl;
use super::metadata::CoreMetadata;
use super::sdist::BinaryPolicy;
use super::simple_api::{DistFile, Timestamp};
use super::tags::{CompatibleTags, TagError, Target};
use super::wheel_name::{WheelName, normalize_name};

/// A set of versions of one package, as the solver sees it.
pub(crate) type VersionRanges = pubgrub::Ranges<Version>;

/// Why a resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The target's Python version cannot form a marker environment.
    #[error("Invalid target environment")]
    Target(#[from] TagError),
    /// A top-level requirement points at a URL.
    #[error(
        "Requirement `{0}` is a URL requirement: only index packages can be locked and verified by hash"
    )]
    UrlRequirement(String),
    /// The index (or whatever the source is) failed.
    #[error("Could not read `{package}` from the package index")]
    Source {
        /// The package being looked up.
        package: String,
        /// The cause.
        #[source]
        source: SourceError,
    },
    /// Some packages the resolution needs have no wheel for the target at all.
    #[error("{}", no_wheels_message(.packages, .tags))]
    NoCompatibleWheels {
        /// The packages, with what the index does offer.
        packages: Vec<NoWheelPackage>,
        /// A summary of the wheel tags the target accepts.
        tags: String,
        /// The solver's explanation of how those packages are needed.
        explanation: String,
    },
    /// The requirements need a version of something the base image has installed
    /// at another version.
    #[error(
        "The requirements conflict with the base image's installed distributions:\n{explanation}"
    )]
    BaseConflict {
        /// The solver's derivation, in words.
        explanation: String,
        /// Why some versions were not considered.
        notes: Vec<String>,
    },
    /// No set of versions satisfies the requirements.
    #[error("No solution satisfies the requirements:\n{explanation}")]
    NoSolution {
        /// The solver's derivation, in words.
        explanation: String,
        /// Why some versions were not considered.
        notes: Vec<String>,
    },
}

fn no_wheels_message(packages: &[NoWheelPackage], tags: &str) -> String {
    let mut out = String::from("No compatible wheel for the target:");
    for p in packages {
        out.push_str(&format!("\n  `{}`", p.name));
        if !p.versions.is_empty() {
            let versions: Vec<String> = p.versions.iter().map(ToString::to_string).collect();
            out.push_str(&format!(" ({})", versions.join(", ")));
        }
        if p.files.is_empty() {
            out.push_str(": no files");
        } else {
            out.push_str(&format!(": only {}", p.files.join(", ")));
        }
    }
    out.push_str(&format!("\nAcceptable wheel tags: {tags}"));
    out
}

/// A package with versions but none that has a wheel the target can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoWheelPackage {
    /// The package.
    pub name: PackageName,
    /// The versions the resolution wanted, newest first (at most a few).
    pub versions: Vec<Version>,
    /// Examples of the files those versions do have (sdists, other platforms).
    pub files: Vec<String>,
}

/// A failure of a [`DistributionSource`], kept opaque to the resolver.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    /// What went wrong, for humans.
    pub message: String,
    /// The underlying error, if any.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl SourceError {
    /// An error with a message only.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// An error wrapping a cause.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// What the resolver needs to know about an index. Implementations may block; the
/// resolver calls them from one thread and caches every answer for one resolution.
pub(super) trait DistributionSource {
    /// Every version of `name`, each with the wheels the target can use (best first,
    /// see [`Candidate::from_files`]). An unknown project is `Ok(vec![])`.
    fn versions(&self, name: &PackageName) -> Result<Vec<Candidate>, SourceError>;
    /// The core metadata of `name` at `version` (from the best wheel of it).
    fn metadata(&self, name: &PackageName, version: &Version) -> Result<CoreMetadata, SourceError>;
}

/// One wheel file the target can install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WheelCandidate {
    /// The wheel's file name.
    pub filename: String,
    /// Where to download it (may carry index credentials; never shown).
    pub url: IndexUrl,
    /// SHA-256 from the index, lowercase hex.
    pub sha256: Option<String>,
    /// Size in bytes, if the index says.
    pub size: Option<u64>,
    /// The file's `Requires-Python` (PEP 503 `data-requires-python`).
    pub requires_python: Option<VersionSpecifiers>,
    /// PEP 592.
    pub yanked: bool,
    /// PEP 700.
    pub upload_time: Option<Timestamp>,
}

/// One version of a project: the wheels the target accepts, best first, and the
/// names of its other files (sdists, wheels for other platforms). Filters such as
/// yanked or `exclude_newer` are per file, which is why all compatible wheels are
/// kept rather than only the best one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// The version.
    pub version: Version,
    /// Compatible wheels, best tag first.
    pub wheels: Vec<WheelCandidate>,
    /// Files of this version the target cannot use, by name.
    pub other_files: Vec<String>,
    /// Its source distributions airlock can build (`.tar.gz` before `.zip`).
    pub sdists: Vec<WheelCandidate>,
}

impl Candidate {
    /// Groups a project page's files by version (newest first), keeping for each
    /// version the wheels `tags` accepts ordered by tag priority then build number.
    /// Files whose names do not parse are ignored.
    pub(crate) fn from_files(files: &[DistFile], tags: &CompatibleTags) -> Vec<Candidate> {
        // Per version: (tag priority, negated build number, wheel) and other files.
        type Files = (
            Vec<(usize, i128, WheelCandidate)>,
            Vec<String>,
            Vec<WheelCandidate>,
        );
        let mut by_version: BTreeMap<Version, Files> = BTreeMap::new();
        for file in files {
            if file.filename.ends_with(".whl") {
                let Ok(wheel) = WheelName::from_str(&file.filename) else {
                    continue;
                };
                let entry = by_version.entry(wheel.version.clone()).or_default();
                match tags.best_priority(&wheel.tags()) {
                    Some(priority) => {
                        let build = wheel.build.as_ref().map_or(-1, |b| i128::from(b.number));
                        entry.0.push((
                            priority,
                            -build,
                            WheelCandidate {
                                filename: file.filename.clone(),
                                url: file.url.clone(),
                                sha256: file.sha256().map(str::to_string),
                                size: file.size,
                                requires_python: file.requires_python_specifiers(),
                                yanked: file.yanked.is_yanked(),
                                upload_time: file.upload_time,
                            },
                        ));
                    }
                    None => entry.1.push(file.filename.clone()),
                }
            } else if let Some(version) = sdist_version(&file.filename) {
                let entry = by_version.entry(version).or_default();
                entry.1.push(file.filename.clone());
                if super::sdist::is_buildable(&file.filename) {
                    entry.2.push(WheelCandidate {
                        filename: file.filename.clone(),
                        url: file.url.clone(),
                        sha256: file.sha256().map(str::to_string),
                        size: file.size,
                        requires_python: file.requires_python_specifiers(),
                        yanked: file.yanked.is_yanked(),
                        upload_time: file.upload_time,
                    });
                }
            }
        }
        by_version
            .into_iter()
            .rev()
            .map(|(version, (mut wheels, other_files, mut sdists))| {
                wheels.sort_by(|a, b| (a.0, a.1, &a.2.filename).cmp(&(b.0, b.1, &b.2.filename)));
                sdists.sort_by_key(|s| (!s.filename.ends_with(".tar.gz"), s.filename.clone()));
                Candidate {
                    version,
                    wheels: wheels.into_iter().map(|(_, _, w)| w).collect(),
                    other_files,
                    sdists,
                }
            })
            .collect()
    }
}

/// The version of an sdist from its file name (`name-version.tar.gz` / `.zip`).
fn sdist_version(filename: &str) -> Option<Version> {
    let stem = [".tar.gz", ".zip", ".tar.bz2", ".tgz"]
        .iter()
        .find_map(|ext| filename.strip_suffix(ext))?;
    let (_, version) = stem.rsplit_once('-')?;
    Version::from_str(version).ok()
}

/// A distribution the base image already has installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseDist {
    /// The installed version.
    pub version: Version,
    /// Its `Requires-Dist` from the installed `METADATA`, when the caller read it;
    /// `None` makes the resolver ask the source when it needs them.
    pub requires_dist: Option<Vec<Requirement>>,
}

impl BaseDist {
    /// An installed distribution whose requirements are unknown.
    #[cfg(test)]
    fn new(version: Version) -> Self {
        Self {
            version,
            requires_dist: None,
        }
    }
}

/// Which lock pins may move.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Upgrade {
    /// Keep every preference that still fits.
    #[default]
    None,
    /// Ignore all preferences (`--upgrade`).
    All,
    /// Ignore the preferences of these packages (`--upgrade-package`).
    Packages(BTreeSet<PackageName>),
}

impl Upgrade {
    fn covers(&self, name: &PackageName) -> bool {
        match self {
            Self::None => false,
            Self::All => true,
            Self::Packages(names) => names.contains(name),
        }
    }
}

/// Everything a resolution depends on.
#[derive(Debug, Clone)]
pub(crate) struct ResolveInput {
    /// Top-level requirements (PEP 508, with extras and markers; no URLs).
    pub requirements: Vec<Requirement>,
    /// Constraints: they bound a package's version only if something requires it.
    pub constraints: Vec<Requirement>,
    /// The platform wheels must fit.
    pub target: Target,
    /// The interpreter's full version, e.g. `3.11.7`, for markers and
    /// `Requires-Python`.
    pub python_full_version: String,
    /// What the base image has installed, by name.
    pub base: BTreeMap<PackageName, BaseDist>,
    /// Let the resolution change base distributions (reported as
    /// [`Resolution::base_upgrades`]).
    pub allow_base_upgrades: bool,
    /// Ignore files uploaded after this time; files without an upload time are
    /// ignored too, since nothing proves they are older.
    pub exclude_newer: Option<Timestamp>,
    /// Which preferences may be ignored.
    pub upgrade: Upgrade,
    /// Versions to keep when they still fit (the previous lock's pins).
    pub preferences: BTreeMap<PackageName, Version>,
    /// Which packages may (or must) come from an sdist.
    pub binary: BinaryPolicy,
}

impl ResolveInput {
    /// An input with no requirements, no base and no preferences.
    pub(crate) fn new(target: Target, python_full_version: impl Into<String>) -> Self {
        Self {
            requirements: Vec::new(),
            constraints: Vec::new(),
            target,
            python_full_version: python_full_version.into(),
            base: BTreeMap::new(),
            allow_base_upgrades: false,
            exclude_newer: None,
            upgrade: Upgrade::None,
            preferences: BTreeMap::new(),
            binary: BinaryPolicy::default(),
        }
    }
}

/// Who asked for a distribution.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum RequestedBy {
    /// The top-level requirements.
    Requirements,
    /// The base image (only with `allow_base_upgrades`, for its own distributions).
    Base,
    /// Another distribution (with or without one of its extras).
    Package(PackageName),
}

impl fmt::Display for RequestedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Requirements => f.write_str("requirements"),
            Self::Base => f.write_str("base image"),
            Self::Package(name) => write!(f, "{name}"),
        }
    }
}

/// One distribution to install, with the wheel chosen for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedDist {
    /// The distribution.
    pub name: PackageName,
    /// The chosen version.
    pub version: Version,
    /// The chosen wheel's file name (the sdist's, when `sdist`).
    pub filename: String,
    /// Where to download it (may carry credentials; strip before writing a lock).
    pub url: IndexUrl,
    /// SHA-256 from the index, when it gave one.
    pub sha256: Option<String>,
    /// Size in bytes, when the index gave it.
    pub size: Option<u64>,
    /// What it depends on in this environment (extras included), sorted.
    pub dependencies: Vec<PackageName>,
    /// Who needs it, sorted.
    pub requested_by: Vec<RequestedBy>,
    /// The file is a source distribution: it is built into the wheel installed.
    pub sdist: bool,
}

/// A base distribution the resolution changes (only with `allow_base_upgrades`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseUpgrade {
    /// The distribution.
    pub name: PackageName,
    /// What the base has.
    pub from: Version,
    /// What the resolution installs over it.
    pub to: Version,
    /// Who needs the new version, sorted.
    pub requested_by: Vec<RequestedBy>,
}

/// The outcome: what to install on top of the base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolution {
    /// Distributions to install, sorted by name. Base distributions kept at their
    /// installed version are not listed.
    pub packages: Vec<ResolvedDist>,
    /// Base distributions replaced by another version, sorted by name.
    pub base_upgrades: Vec<BaseUpgrade>,
}

/// Resolves `input` against `source`.
pub(super) fn resolve(
    input: &ResolveInput,
    source: &dyn DistributionSource,
) -> Result<Resolution, ResolveError> {
    let env = input
        .target
        .marker_environment(&input.python_full_version)?;
    let python =
        Version::from_str(&input.python_full_version).map_err(|_| TagError::PythonVersion {
            full: input.python_full_version.clone(),
            major: input.target.python.0,
            minor: input.target.python.1,
        })?;
    for req in &input.requirements {
        if matches!(req.version_or_url, Some(VersionOrUrl::Url(_))) {
            return Err(ResolveError::UrlRequirement(req.name.to_string()));
        }
    }
    let provider = Provider::new(input, source, env, python);
    match pubgrub::resolve(&provider, Node::Root, root_version()) {
        Ok(solution) => Ok(provider.resolution(solution.into_iter().collect())),
        Err(PubGrubError::NoSolution(tree)) => Err(provider.explain(&tree)),
        Err(PubGrubError::ErrorRetrievingDependencies {
            package, source, ..
        })
        | Err(PubGrubError::ErrorChoosingVersion { package, source }) => {
            Err(ResolveError::Source {
                package: package.to_string(),
                source,
            })
        }
        Err(PubGrubError::ErrorInShouldCancel(source)) => Err(ResolveError::Source {
            package: String::new(),
            source,
        }),
    }
}

/// A node of the solver's graph: the two virtual roots, a distribution, or a
/// distribution with one extra (which depends on the distribution at the same
/// version, plus the extra's own requirements).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Node {
    Root,
    Base,
    Dist(PackageName),
    Extra(PackageName, ExtraName),
}

impl Node {
    fn name(&self) -> Option<&PackageName> {
        match self {
            Self::Root | Self::Base => None,
            Self::Dist(name) | Self::Extra(name, _) => Some(name),
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root => f.write_str("your requirements"),
            Self::Base => f.write_str("the base image"),
            Self::Dist(name) => write!(f, "{name}"),
            Self::Extra(name, extra) => write!(f, "{name}[{extra}]"),
        }
    }
}

fn root_version() -> Version {
    Version::new([0])
}

/// Why a version of a package was not offered to the solver.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Skip {
    Prerelease,
    NoWheel,
    Yanked,
    TooNew,
    RequiresPython(String),
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Prerelease => f.write_str("is a pre-release"),
            Self::NoWheel => f.write_str("has no wheel for the target"),
            Self::Yanked => f.write_str("was yanked (pin it with `==` to use it anyway)"),
            Self::TooNew => f.write_str("was uploaded after the `exclude-newer` time"),
            Self::RequiresPython(spec) => write!(f, "requires Python {spec}"),
        }
    }
}

type Deps = DependencyConstraints<Node, VersionRanges>;

struct Provider<'a> {
    input: &'a ResolveInput,
    source: &'a dyn DistributionSource,
    env: MarkerEnvironment,
    python: Version,
    /// Constraint ranges by package.
    constraints: HashMap<PackageName, VersionRanges>,
    /// Versions pinned with `==` at the top level (yanked files allowed).
    pinned: HashMap<PackageName, BTreeSet<Version>>,
    /// Packages whose top-level specifiers name a pre-release.
    explicit_pre: HashSet<PackageName>,
    versions: RefCell<HashMap<PackageName, Rc<Vec<Candidate>>>>,
    metadata: RefCell<HashMap<(PackageName, Version), Rc<CoreMetadata>>>,
    /// The distributions each (node, version) depends on, for the result.
    edges: RefCell<HashMap<(Node, Version), BTreeSet<PackageName>>>,
}

impl<'a> Provider<'a> {
    fn new(
        input: &'a ResolveInput,
        source: &'a dyn DistributionSource,
        env: MarkerEnvironment,
        python: Version,
    ) -> Self {
        let mut constraints: HashMap<PackageName, VersionRanges> = HashMap::new();
        let mut pinned: HashMap<PackageName, BTreeSet<Version>> = HashMap::new();
        let mut explicit_pre = HashSet::new();
        let top_level = input.requirements.iter().chain(&input.constraints);
        for (i, req) in top_level.enumerate() {
            if !req.evaluate_markers(&env, &[]) {
                continue;
            }
            let Some(VersionOrUrl::VersionSpecifier(specs)) = &req.version_or_url else {
                continue;
            };
            for spec in specs.iter() {
                if matches!(spec.operator(), Operator::Equal | Operator::ExactEqual) {
                    pinned
                        .entry(req.name.clone())
                        .or_default()
                        .insert(spec.version().clone());
                }
                if spec.any_prerelease() {
                    explicit_pre.insert(req.name.clone());
                }
            }
            if i >= input.requirements.len() {
                let range = VersionRanges::from(specs.clone());
                constraints
                    .entry(req.name.clone())
                    .and_modify(|r| *r = r.intersection(&range))
                    .or_insert(range);
            }
        }
        Self {
            input,
            source,
            env,
            python,
            constraints,
            pinned,
            explicit_pre,
            versions: RefCell::default(),
            metadata: RefCell::default(),
            edges: RefCell::default(),
        }
    }

    fn candidates(&self, name: &PackageName) -> Result<Rc<Vec<Candidate>>, SourceError> {
        if let Some(found) = self.versions.borrow().get(name) {
            return Ok(found.clone());
        }
        let mut list = self.source.versions(name)?;
        list.sort_by(|a, b| b.version.cmp(&a.version));
        let list = Rc::new(list);
        self.versions
            .borrow_mut()
            .insert(name.clone(), list.clone());
        Ok(list)
    }

    fn core_metadata(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Rc<CoreMetadata>, SourceError> {
        let key = (name.clone(), version.clone());
        if let Some(found) = self.metadata.borrow().get(&key) {
            return Ok(found.clone());
        }
        let metadata = Rc::new(self.source.metadata(name, version)?);
        self.metadata.borrow_mut().insert(key, metadata.clone());
        Ok(metadata)
    }

    fn allows_prereleases(&self, name: &PackageName, candidates: &[Candidate]) -> bool {
        self.explicit_pre.contains(name) || candidates.iter().all(|c| c.version.any_prerelease())
    }

    /// The file of `candidate` the resolution may use (a wheel, else an sdist to
    /// build when the policy allows; `true` marks the sdist), or why there is none.
    fn usable<'c>(
        &self,
        name: &PackageName,
        candidate: &'c Candidate,
    ) -> Result<(&'c WheelCandidate, bool), Skip> {
        let mut reason = Skip::NoWheel;
        let pinned = self
            .pinned
            .get(name)
            .is_some_and(|versions| versions.contains(&candidate.version));
        let policy = &self.input.binary;
        let wheels = policy
            .may_use_wheel(name)
            .then_some(&candidate.wheels)
            .into_iter()
            .flatten()
            .map(|w| (w, false));
        let sdists = policy
            .may_build(name)
            .then_some(&candidate.sdists)
            .into_iter()
            .flatten()
            .map(|w| (w, true));
        for (file, sdist) in wheels.chain(sdists) {
            if file.yanked && !pinned {
                reason = Skip::Yanked;
                continue;
            }
            if let Some(limit) = self.input.exclude_newer
                && file.upload_time.is_none_or(|t| t > limit)
            {
                reason = Skip::TooNew;
                continue;
            }
            if let Some(spec) = &file.requires_python
                && !spec.contains(&self.python)
            {
                reason = Skip::RequiresPython(spec.to_string());
                continue;
            }
            return Ok((file, sdist));
        }
        Err(reason)
    }

    fn skip_reason(
        &self,
        name: &PackageName,
        candidates: &[Candidate],
        c: &Candidate,
    ) -> Option<Skip> {
        if c.version.any_prerelease() && !self.allows_prereleases(name, candidates) {
            return Some(Skip::Prerelease);
        }
        self.usable(name, c).err()
    }

    fn base_of(&self, name: &PackageName) -> Option<&'a BaseDist> {
        self.input.base.get(name)
    }

    fn pick(
        &self,
        name: &PackageName,
        range: &VersionRanges,
    ) -> Result<Option<Version>, SourceError> {
        if let Some(base) = self.base_of(name) {
            if range.contains(&base.version)
                && (!self.input.allow_base_upgrades || !self.input.upgrade.covers(name))
            {
                return Ok(Some(base.version.clone()));
            }
            if !self.input.allow_base_upgrades {
                return Ok(None);
            }
        }
        let candidates = self.candidates(name)?;
        if !self.input.upgrade.covers(name)
            && let Some(preferred) = self.input.preferences.get(name)
            && range.contains(preferred)
            && let Some(c) = candidates.iter().find(|c| &c.version == preferred)
            && self.skip_reason(name, &candidates, c).is_none()
        {
            return Ok(Some(c.version.clone()));
        }
        Ok(candidates
            .iter()
            .filter(|c| range.contains(&c.version))
            .find(|c| self.skip_reason(name, &candidates, c).is_none())
            .map(|c| c.version.clone()))
    }

    /// Turns requirements into solver edges for `owner` at `owner_version`,
    /// merging repeated packages and applying constraints.
    fn edges<'r>(
        &self,
        owner: &Node,
        owner_version: &Version,
        requirements: impl IntoIterator<Item = &'r Requirement>,
        deps: &mut BTreeMap<Node, VersionRanges>,
    ) -> Result<(), String> {
        let own_name = owner.name();
        for req in requirements {
            let mut range = match &req.version_or_url {
                None => VersionRanges::full(),
                Some(VersionOrUrl::VersionSpecifier(specs)) => VersionRanges::from(specs.clone()),
                Some(VersionOrUrl::Url(_)) => {
                    return Err(format!(
                        "depends on `{}` by URL, which cannot be locked from an index",
                        req.name
                    ));
                }
            };
            let same = own_name == Some(&req.name);
            if same {
                // A package requiring itself (usually to pull in its own extras)
                // means the same version.
                range = range.intersection(&VersionRanges::singleton(owner_version.clone()));
            } else if let Some(constraint) = self.constraints.get(&req.name) {
                range = range.intersection(constraint);
            }
            let mut nodes = Vec::new();
            if !same || matches!(owner, Node::Extra(..)) {
                nodes.push(Node::Dist(req.name.clone()));
            }
            for extra in &req.extras {
                let node = Node::Extra(req.name.clone(), extra.clone());
                if &node != owner {
                    nodes.push(node);
                }
            }
            for node in nodes {
                deps.entry(node)
                    .and_modify(|r| *r = r.intersection(&range))
                    .or_insert_with(|| range.clone());
            }
        }
        Ok(())
    }

    fn dependencies(
        &self,
        node: &Node,
        version: &Version,
    ) -> Result<Result<BTreeMap<Node, VersionRanges>, String>, SourceError> {
        let mut deps = BTreeMap::new();
        match node {
            Node::Root => {
                let reqs = self
                    .input
                    .requirements
                    .iter()
                    .filter(|r| r.evaluate_markers(&self.env, &[]));
                if let Err(e) = self.edges(node, version, reqs, &mut deps) {
                    return Ok(Err(e));
                }
                if !self.input.base.is_empty() {
                    deps.insert(Node::Base, VersionRanges::singleton(root_version()));
                }
            }
            Node::Base => {
                for (name, base) in &self.input.base {
                    let range = if self.input.allow_base_upgrades {
                        VersionRanges::full()
                    } else {
                        VersionRanges::singleton(base.version.clone())
                    };
                    deps.insert(Node::Dist(name.clone()), range);
                }
            }
            Node::Dist(name) | Node::Extra(name, _) => {
                let extra = match node {
                    Node::Extra(_, extra) => Some(extra),
                    _ => None,
                };
                let base = self.base_of(name).filter(|b| &b.version == version);
                if let Some(base) = base {
                    // The base is taken as installed: its own requirements are
                    // only checked when upgrades may break them and they are known.
                    if extra.is_none()
                        && (!self.input.allow_base_upgrades || base.requires_dist.is_none())
                    {
                        return Ok(Ok(deps));
                    }
                }
                let owned;
                let requires: &[Requirement] = match base.and_then(|b| b.requires_dist.as_ref()) {
                    Some(reqs) => reqs,
                    None => {
                        let metadata = self.core_metadata(name, version)?;
                        if let Some(spec) = &metadata.requires_python
                            && base.is_none()
                            && !spec.contains(&self.python)
                        {
                            return Ok(Err(format!("requires Python {spec}")));
                        }
                        owned = metadata;
                        &owned.requires_dist
                    }
                };
                let selected: Vec<&Requirement> = match extra {
                    None => requires
                        .iter()
                        .filter(|r| r.evaluate_markers(&self.env, &[]))
                        .collect(),
                    Some(extra) => {
                        deps.insert(
                            Node::Dist(name.clone()),
                            VersionRanges::singleton(version.clone()),
                        );
                        let extras = std::slice::from_ref(extra);
                        requires
                            .iter()
                            .filter(|r| {
                                r.evaluate_markers(&self.env, extras)
                                    && !r.evaluate_markers(&self.env, &[])
                            })
                            .collect()
                    }
                };
                if let Err(e) = self.edges(node, version, selected, &mut deps) {
                    return Ok(Err(e));
                }
            }
        }
        Ok(Ok(deps))
    }

    /// Builds the result from the solver's choice.
    fn resolution(&self, solution: BTreeMap<Node, Version>) -> Resolution {
        let edges = self.edges.borrow();
        let mut requested_by: BTreeMap<PackageName, BTreeSet<RequestedBy>> = BTreeMap::new();
        let mut depends_on: BTreeMap<PackageName, BTreeSet<PackageName>> = BTreeMap::new();
        for (node, version) in &solution {
            let Some(targets) = edges.get(&(node.clone(), version.clone())) else {
                continue;
            };
            let who = match node {
                Node::Root => RequestedBy::Requirements,
                Node::Base => RequestedBy::Base,
                Node::Dist(name) | Node::Extra(name, _) => RequestedBy::Package(name.clone()),
            };
            for target in targets {
                if node.name() == Some(target) {
                    continue;
                }
                requested_by
                    .entry(target.clone())
                    .or_default()
                    .insert(who.clone());
                if let Some(name) = node.name() {
                    depends_on
                        .entry(name.clone())
                        .or_default()
                        .insert(target.clone());
                }
            }
        }
        let versions = self.versions.borrow();
        let mut packages = Vec::new();
        let mut base_upgrades = Vec::new();
        for (node, version) in &solution {
            let Node::Dist(name) = node else { continue };
            let requesters: Vec<RequestedBy> = requested_by
                .get(name)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default();
            if let Some(base) = self.base_of(name) {
                if &base.version == version {
                    continue;
                }
                base_upgrades.push(BaseUpgrade {
                    name: name.clone(),
                    from: base.version.clone(),
                    to: version.clone(),
                    requested_by: requesters.clone(),
                });
            }
            if let Some(dist) = self.resolved(&versions, name, version, &depends_on, requesters) {
                packages.push(dist);
            }
        }
        Resolution {
            packages,
            base_upgrades,
        }
    }

    fn resolved(
        &self,
        versions: &HashMap<PackageName, Rc<Vec<Candidate>>>,
        name: &PackageName,
        version: &Version,
        depends_on: &BTreeMap<PackageName, BTreeSet<PackageName>>,
        requested_by: Vec<RequestedBy>,
    ) -> Option<ResolvedDist> {
        let candidate = versions.get(name)?.iter().find(|c| &c.version == version)?;
        let (wheel, sdist) = self.usable(name, candidate).ok()?;
        Some(ResolvedDist {
            name: name.clone(),
            version: version.clone(),
            filename: wheel.filename.clone(),
            url: wheel.url.clone(),
            sha256: wheel.sha256.clone(),
            size: wheel.size,
            dependencies: depends_on
                .get(name)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default(),
            requested_by,
            sdist,
        })
    }

    /// Turns a failed derivation into the most specific error.
    fn explain(&self, tree: &DerivationTree<Node, VersionRanges, String>) -> ResolveError {
        let formatter = Words {
            allow_base_upgrades: self.input.allow_base_upgrades,
        };
        let mut no_versions = Vec::new();
        collect_no_versions(tree, &mut no_versions);
        // Versions that do not exist or were skipped are explained by the notes; the
        // derivation reads better without them.
        let mut collapsed = tree.clone();
        collapsed.collapse_no_versions();
        if matches!(collapsed, DerivationTree::External(_)) {
            collapsed = tree.clone();
        }
        let explanation = DefaultStringReporter::report_with_formatter(&collapsed, &formatter);
        let versions = self.versions.borrow();
        let mut notes = Vec::new();
        let mut no_wheel: BTreeMap<PackageName, NoWheelPackage> = BTreeMap::new();
        let mut seen = HashSet::new();
        for (name, range) in no_versions {
            if !seen.insert((name.clone(), range.clone())) {
                continue;
            }
            let Some(candidates) = versions.get(&name) else {
                continue;
            };
            if candidates.is_empty() {
                notes.push(format!(
                    "No distribution named `{name}` exists on the package index: check the spelling"
                ));
                continue;
            }
            let in_range: Vec<&Candidate> = candidates
                .iter()
                .filter(|c| range.contains(&c.version))
                .collect();
            let mut wheel_less = Vec::new();
            for c in &in_range {
                match self.skip_reason(&name, candidates, c) {
                    Some(Skip::NoWheel) => wheel_less.push(*c),
                    Some(skip) if notes.len() < 12 => {
                        notes.push(format!("`{name}` {} {skip}", c.version));
                    }
                    _ => {}
                }
            }
            if !wheel_less.is_empty() {
                let entry = no_wheel
                    .entry(name.clone())
                    .or_insert_with(|| NoWheelPackage {
                        name: name.clone(),
                        versions: Vec::new(),
                        files: Vec::new(),
                    });
                for c in wheel_less.iter().take(3) {
                    if !entry.versions.contains(&c.version) {
                        entry.versions.push(c.version.clone());
                    }
                }
                for file in wheel_less.iter().flat_map(|c| &c.other_files).take(3) {
                    if !entry.files.contains(file) {
                        entry.files.push(file.clone());
                    }
                }
            }
        }
        if !no_wheel.is_empty() {
            return ResolveError::NoCompatibleWheels {
                packages: no_wheel.into_values().collect(),
                tags: tags_summary(&self.input.target),
                explanation,
            };
        }
        if tree.packages().contains(&&Node::Base) {
            ResolveError::BaseConflict { explanation, notes }
        } else {
            ResolveError::NoSolution { explanation, notes }
        }
    }
}

fn collect_no_versions(
    tree: &DerivationTree<Node, VersionRanges, String>,
    out: &mut Vec<(PackageName, VersionRanges)>,
) {
    match tree {
        DerivationTree::External(External::NoVersions(node, range)) => {
            if let Some(name) = node.name() {
                out.push((name.clone(), range.clone()));
            }
        }
        DerivationTree::External(_) => {}
        DerivationTree::Derived(derived) => {
            collect_no_versions(&derived.cause1, out);
            collect_no_versions(&derived.cause2, out);
        }
    }
}

/// A short description of the wheel tags a target accepts.
pub(super) fn tags_summary(target: &Target) -> String {
    let (major, minor) = target.python;
    let platforms = target.platform_tags();
    let manylinux: Vec<&String> = platforms
        .iter()
        .filter(|p| p.starts_with("manylinux_"))
        .collect();
    let platform = match (manylinux.first(), manylinux.last()) {
        (Some(newest), Some(oldest)) if newest != oldest => format!("{oldest} … {newest}"),
        (Some(only), _) => (*only).clone(),
        _ => String::new(),
    };
    format!(
        "interpreter cp{major}{minor} (ABI cp{major}{minor}, abi3 or none) or py{major}*, \
         platform {platform} or linux_{arch} (and legacy aliases), or `any`",
        arch = target.arch.as_str()
    )
}

impl DependencyProvider for Provider<'_> {
    type P = Node;
    type V = Version;
    type VS = VersionRanges;
    type M = String;
    type Err = SourceError;
    /// (roots first, exact pins next, then the most conflicted).
    type Priority = (u8, u32);

    fn prioritize(
        &self,
        package: &Node,
        range: &VersionRanges,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        let class = match package {
            Node::Root | Node::Base => 3,
            _ if range.as_singleton().is_some() => 2,
            _ => 1,
        };
        (class, stats.conflict_count())
    }

    fn choose_version(
        &self,
        package: &Node,
        range: &VersionRanges,
    ) -> Result<Option<Version>, SourceError> {
        match package {
            Node::Root | Node::Base => Ok(Some(root_version())),
            Node::Dist(name) | Node::Extra(name, _) => self.pick(name, range),
        }
    }

    fn get_dependencies(
        &self,
        package: &Node,
        version: &Version,
    ) -> Result<Dependencies<Node, VersionRanges, String>, SourceError> {
        match self.dependencies(package, version)? {
            Ok(deps) => {
                let names = deps.keys().filter_map(Node::name).cloned().collect();
                self.edges
                    .borrow_mut()
                    .insert((package.clone(), version.clone()), names);
                Ok(Dependencies::Available(deps.into_iter().collect::<Deps>()))
            }
            Err(reason) => Ok(Dependencies::Unavailable(reason)),
        }
    }
}

/// Renders the derivation in plain words, naming the base image and the
/// requirements instead of the solver's virtual packages.
struct Words {
    allow_base_upgrades: bool,
}

impl Words {
    fn term(&self, node: &Node, range: &VersionRanges) -> String {
        match node {
            Node::Root | Node::Base => node.to_string(),
            _ => with_range(node, range),
        }
    }

    fn terms(&self, terms: &Map<Node, Term<VersionRanges>>) -> String {
        let list: Vec<_> = terms.iter().collect();
        match list.as_slice() {
            [] => "the requirements cannot be satisfied".to_string(),
            [(Node::Root, Term::Positive(_))] => "the requirements cannot be satisfied".to_string(),
            [(Node::Base, Term::Positive(_))] => {
                "the base image cannot be used with these requirements".to_string()
            }
            [(node, Term::Positive(range))] => format!("{} cannot be used", self.term(node, range)),
            [(node, Term::Negative(range))] => format!("{} is needed", self.term(node, range)),
            [(p, Term::Positive(rp)), (d, Term::Negative(rd))]
            | [(d, Term::Negative(rd)), (p, Term::Positive(rp))] => self.dependency(p, rp, d, rd),
            many => {
                let mut parts = Vec::new();
                let mut with_base = false;
                for (node, term) in many {
                    match (node, term) {
                        (Node::Root, Term::Positive(_)) => {}
                        (Node::Base, Term::Positive(_)) => with_base = true,
                        (node, Term::Positive(range)) => parts.push(self.term(node, range)),
                        (node, Term::Negative(range)) => {
                            parts.push(format!("not {}", self.term(node, range)))
                        }
                    }
                }
                match (parts.as_slice(), with_base) {
                    ([], _) => "the requirements cannot be satisfied".to_string(),
                    ([one], true) => format!("{one} cannot be used with the base image"),
                    (_, true) => format!(
                        "{} cannot be used together with the base image",
                        parts.join(", ")
                    ),
                    ([one], false) => format!("{one} cannot be used"),
                    (_, false) => format!("{} cannot be used together", parts.join(", ")),
                }
            }
        }
    }

    fn dependency(
        &self,
        owner: &Node,
        owner_range: &VersionRanges,
        dep: &Node,
        dep_range: &VersionRanges,
    ) -> String {
        match owner {
            Node::Root if dep == &Node::Base => {
                "your requirements are installed on the base image".to_string()
            }
            Node::Root => format!("your requirements need {}", with_range(dep, dep_range)),
            Node::Base if self.allow_base_upgrades => {
                format!("the base image includes {dep}")
            }
            Node::Base => format!(
                "the base image has {} installed",
                with_range(dep, dep_range)
            ),
            _ => format!(
                "{} depends on {}",
                self.term(owner, owner_range),
                with_range(dep, dep_range)
            ),
        }
    }
}

fn with_range(node: &Node, range: &VersionRanges) -> String {
    if matches!(node, Node::Root | Node::Base) || range == &VersionRanges::full() {
        node.to_string()
    } else if let Some(version) = range.as_singleton() {
        format!("{node}=={version}")
    } else {
        format!("{node} {range}")
    }
}

impl ReportFormatter<Node, VersionRanges, String> for Words {
    type Output = String;

    fn format_external(&self, external: &External<Node, VersionRanges, String>) -> String {
        match external {
            External::NotRoot(node, _) => format!("{node} are being resolved"),
            External::NoVersions(node, range) => {
                if range == &VersionRanges::full() {
                    format!("no usable version of {node} exists")
                } else {
                    format!("no usable version of {node} matches {range}")
                }
            }
            External::Custom(node, range, reason) => {
                format!("{} {reason}", self.term(node, range))
            }
            External::FromDependencyOf(p, rp, d, rd) => self.dependency(p, rp, d, rd),
        }
    }

    fn format_terms(&self, terms: &Map<Node, Term<VersionRanges>>) -> String {
        self.terms(terms)
    }

    fn explain_both_external(
        &self,
        a: &External<Node, VersionRanges, String>,
        b: &External<Node, VersionRanges, String>,
        terms: &Map<Node, Term<VersionRanges>>,
    ) -> String {
        format!(
            "Because {} and {}, {}.",
            self.format_external(a),
            self.format_external(b),
            self.terms(terms)
        )
    }

    fn explain_both_ref(
        &self,
        id1: usize,
        d1: &Derived<Node, VersionRanges, String>,
        id2: usize,
        d2: &Derived<Node, VersionRanges, String>,
        terms: &Map<Node, Term<VersionRanges>>,
    ) -> String {
        format!(
            "Because {} ({id1}) and {} ({id2}), {}.",
            self.terms(&d1.terms),
            self.terms(&d2.terms),
            self.terms(terms)
        )
    }

    fn explain_ref_and_external(
        &self,
        id: usize,
        derived: &Derived<Node, VersionRanges, String>,
        external: &External<Node, VersionRanges, String>,
        terms: &Map<Node, Term<VersionRanges>>,
    ) -> String {
        format!(
            "Because {} ({id}) and {}, {}.",
            self.terms(&derived.terms),
            self.format_external(external),
            self.terms(terms)
        )
    }

    fn and_explain_external(
        &self,
        external: &External<Node, VersionRanges, String>,
        terms: &Map<Node, Term<VersionRanges>>,
    ) -> String {
        format!(
            "And because {}, {}.",
            self.format_external(external),
            self.terms(terms)
        )
    }

    fn and_explain_ref(
        &self,
        id: usize,
        derived: &Derived<Node, VersionRanges, String>,
        terms: &Map<Node, Term<VersionRanges>>,
    ) -> String {
        format!(
            "And because {} ({id}), {}.",
            self.terms(&derived.terms),
            self.terms(terms)
        )
    }

    fn and_explain_prior_and_external(
        &self,
        prior: &External<Node, VersionRanges, String>,
        external: &External<Node, VersionRanges, String>,
        terms: &Map<Node, Term<VersionRanges>>,
    ) -> String {
        format!(
            "And because {} and {}, {}.",
            self.format_external(prior),
            self.format_external(external),
            self.terms(terms)
        )
    }
}

/// Normalises a name the way the index does, for sources keyed by strings.
pub(crate) fn package_name(name: &str) -> Result<PackageName, SourceError> {
    PackageName::from_str(&normalize_name(name))
        .map_err(|e| SourceError::with_source(format!("Invalid package name `{name}`"), e))
}

impl crate::hint::Hint for ResolveError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Target(error) => error.hints(),
            Self::UrlRequirement(_) => vec![
                "Publish the package to an index or build its wheel into a `--find-links` \
                 directory, then require it by name and version"
                    .to_string(),
            ],
            Self::Source { source, .. } => source.hints(),
            Self::NoCompatibleWheels { .. } => vec![
                "Build wheels for these packages for the target and pass their directory \
                 with `--find-links`, or pick versions that publish compatible wheels"
                    .to_string(),
            ],
            Self::BaseConflict { notes, .. } => {
                let mut hints = notes.clone();
                hints.push(
                    "Loosen the requirement, or pass `--allow-base-upgrades` to let the \
                     resolution change what the base image has installed"
                        .to_string(),
                );
                hints
            }
            Self::NoSolution { notes, .. } => notes.clone(),
        }
    }
}

impl crate::hint::Hint for SourceError {
    fn hints(&self) -> Vec<String> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::super::simple_api::{MetadataAvailability, Yanked};
    use super::super::tags::{Arch, Implementation};
    use super::*;
    use crate::hint::Hint as _;

    fn target() -> Target {
        Target {
            python: (3, 11),
            implementation: Implementation::CPython,
            glibc: (2, 36),
            arch: Arch::X86_64,
        }
    }

    fn name(s: &str) -> PackageName {
        PackageName::from_str(s).expect("name")
    }

    fn v(s: &str) -> Version {
        Version::from_str(s).expect("version")
    }

    fn req(s: &str) -> Requirement {
        Requirement::from_str(s).expect("requirement")
    }

    struct Release {
        version: String,
        requires: Vec<String>,
        extras: Vec<String>,
        requires_python: Option<String>,
        files: Vec<DistFile>,
    }

    /// An index in memory: releases with their files and metadata.
    #[derive(Default)]
    struct Fake {
        releases: BTreeMap<String, Vec<Release>>,
    }

    fn file(filename: &str) -> DistFile {
        DistFile {
            filename: filename.to_string(),
            url: IndexUrl::parse(&format!("http://127.0.0.1/files/{filename}")).expect("url"),
            hashes: BTreeMap::from([("sha256".to_string(), format!("{:064x}", filename.len()))]),
            requires_python: None,
            yanked: Yanked::No,
            core_metadata: MetadataAvailability::Absent,
            upload_time: Some(Timestamp {
                seconds: 1_600_000_000,
                nanos: 0,
            }),
            size: Some(1000),
        }
    }

    impl Fake {
        /// A release with one pure wheel.
        fn add(&mut self, project: &str, version: &str, requires: &[&str]) -> &mut Release {
            let wheel = format!("{}-{version}-py3-none-any.whl", project.replace('-', "_"));
            self.add_files(project, version, requires, &[&wheel])
        }

        fn add_files(
            &mut self,
            project: &str,
            version: &str,
            requires: &[&str],
            files: &[&str],
        ) -> &mut Release {
            let list = self.releases.entry(project.to_string()).or_default();
            list.push(Release {
                version: version.to_string(),
                requires: requires.iter().map(|s| s.to_string()).collect(),
                extras: Vec::new(),
                requires_python: None,
                files: files.iter().map(|f| file(f)).collect(),
            });
            list.last_mut().expect("just pushed")
        }
    }

    impl Release {
        fn extra(&mut self, extra: &str) -> &mut Self {
            self.extras.push(extra.to_string());
            self
        }
        fn yanked(&mut self) -> &mut Self {
            for f in &mut self.files {
                f.yanked = Yanked::Yes(Some("broken".to_string()));
            }
            self
        }
        fn uploaded(&mut self, when: &str) -> &mut Self {
            for f in &mut self.files {
                f.upload_time = Some(Timestamp::from_str(when).expect("time"));
            }
            self
        }
        fn requires_python(&mut self, spec: &str) -> &mut Self {
            self.requires_python = Some(spec.to_string());
            for f in &mut self.files {
                f.requires_python = Some(spec.to_string());
            }
            self
        }
    }

    impl DistributionSource for Fake {
        fn versions(&self, name: &PackageName) -> Result<Vec<Candidate>, SourceError> {
            let Some(releases) = self.releases.get(name.as_ref()) else {
                return Ok(Vec::new());
            };
            let files: Vec<DistFile> = releases.iter().flat_map(|r| r.files.clone()).collect();
            Ok(Candidate::from_files(&files, &target().compatible_tags()))
        }

        fn metadata(
            &self,
            name: &PackageName,
            version: &Version,
        ) -> Result<CoreMetadata, SourceError> {
            let release = self
                .releases
                .get(name.as_ref())
                .and_then(|list| list.iter().find(|r| &v(&r.version) == version))
                .ok_or_else(|| SourceError::new(format!("no metadata for {name} {version}")))?;
            let mut text = format!(
                "Metadata-Version: 2.1\nName: {name}\nVersion: {}\n",
                release.version
            );
            for r in &release.requires {
                text.push_str(&format!("Requires-Dist: {r}\n"));
            }
            for e in &release.extras {
                text.push_str(&format!("Provides-Extra: {e}\n"));
            }
            if let Some(p) = &release.requires_python {
                text.push_str(&format!("Requires-Python: {p}\n"));
            }
            CoreMetadata::parse(text.as_bytes())
                .map_err(|e| SourceError::with_source("bad metadata", e))
        }
    }

    fn input(requirements: &[&str]) -> ResolveInput {
        let mut input = ResolveInput::new(target(), "3.11.7");
        input.requirements = requirements.iter().map(|r| req(r)).collect();
        input
    }

    fn pins(resolution: &Resolution) -> Vec<String> {
        resolution
            .packages
            .iter()
            .map(|p| format!("{}=={}", p.name, p.version))
            .collect()
    }

    fn package<'r>(resolution: &'r Resolution, n: &str) -> &'r ResolvedDist {
        resolution
            .packages
            .iter()
            .find(|p| p.name.as_ref() == n)
            .expect("package in resolution")
    }

    #[test]
    fn simple_chain_prefers_newest() {
        let mut fake = Fake::default();
        fake.add("a", "1.0", &["b>=1"]);
        fake.add("a", "1.1", &["b>=1.1"]);
        fake.add("b", "1.0", &[]);
        fake.add("b", "1.2", &["c"]);
        fake.add("b", "2.0b1", &["c"]);
        fake.add("c", "0.5", &[]);
        let out = resolve(&input(&["a"]), &fake).expect("resolves");
        assert_eq!(pins(&out), ["a==1.1", "b==1.2", "c==0.5"]);
        let a = package(&out, "a");
        assert_eq!(a.filename, "a-1.1-py3-none-any.whl");
        assert_eq!(a.dependencies, [name("b")]);
        assert_eq!(a.requested_by, [RequestedBy::Requirements]);
        assert_eq!(
            package(&out, "c").requested_by,
            [RequestedBy::Package(name("b"))]
        );
        assert!(a.sha256.is_some());
        assert_eq!(a.size, Some(1000));
        assert!(out.base_upgrades.is_empty());
    }

    #[test]
    fn explicit_prerelease_is_allowed() {
        let mut fake = Fake::default();
        fake.add("b", "1.2", &[]);
        fake.add("b", "2.0b1", &[]);
        let out = resolve(&input(&["b>=2.0b1"]), &fake).expect("resolves");
        assert_eq!(pins(&out), ["b==2.0b1"]);
    }

    #[test]
    fn backtracks_to_an_older_version() {
        let mut fake = Fake::default();
        fake.add("a", "1.0", &["b"]);
        fake.add("a", "2.0", &["b==1.0", "c>=2"]);
        fake.add("b", "1.0", &["c<2"]);
        fake.add("b", "1.1", &[]);
        fake.add("c", "1.0", &[]);
        fake.add("c", "2.0", &[]);
        let out = resolve(&input(&["a"]), &fake).expect("resolves");
        assert_eq!(pins(&out), ["a==1.0", "b==1.1"]);
    }

    #[test]
    fn extras_pull_their_requirements_at_the_same_version() {
        let mut fake = Fake::default();
        fake.add("a", "1.0", &["x-dep; extra == 'fast'"])
            .extra("fast");
        fake.add("a", "2.0", &["x-dep>=2; extra == 'fast'", "plain"])
            .extra("fast");
        fake.add("x-dep", "1.0", &[]);
        fake.add("x-dep", "2.0", &["a[other]"]);
        fake.add("plain", "1.0", &[]);
        let out = resolve(&input(&["a[fast]"]), &fake).expect("resolves");
        assert_eq!(pins(&out), ["a==2.0", "plain==1.0", "x-dep==2.0"]);
        assert_eq!(
            package(&out, "a").dependencies,
            [name("plain"), name("x-dep")]
        );
        assert_eq!(
            package(&out, "x-dep").requested_by,
            [RequestedBy::Package(name("a"))]
        );
        // Without the extra, its requirements stay out.
        let out = resolve(&input(&["a"]), &fake).expect("resolves");
        assert_eq!(pins(&out), ["a==2.0", "plain==1.0"]);
    }

    #[test]
    fn extra_that_needs_an_older_version_moves_the_package() {
        let mut fake = Fake::default();
        fake.add("a", "1.0", &["b<2; extra == 'old'"]).extra("old");
        fake.add("a", "2.0", &["b>=2; extra == 'old'"]).extra("old");
        fake.add("b", "1.0", &[]);
        fake.add("b", "2.0", &[]);
        let out = resolve(&input(&["a[old]", "b<2"]), &fake).expect("resolves");
        assert_eq!(pins(&out), ["a==1.0", "b==1.0"]);
    }

    #[test]
    fn markers_are_evaluated_for_the_target() {
        let mut fake = Fake::default();
        fake.add(
            "a",
            "1.0",
            &[
                "old; python_version < '3.9'",
                "new; python_version >= '3.9' and sys_platform == 'linux'",
                "win; sys_platform == 'win32'",
            ],
        );
        fake.add("new", "1.0", &[]);
        let out =
            resolve(&input(&["a", "never; python_version < '3.9'"]), &fake).expect("resolves");
        assert_eq!(pins(&out), ["a==1.0", "new==1.0"]);
    }

    #[test]
    fn constraints_bound_only_what_is_required() {
        let mut fake = Fake::default();
        fake.add("a", "1.0", &["b"]);
        fake.add("b", "1.0", &[]);
        fake.add("b", "2.0", &[]);
        fake.add("unused", "1.0", &[]);
        let mut inp = input(&["a"]);
        inp.constraints = vec![req("b<2"), req("unused==1.0")];
        let out = resolve(&inp, &fake).expect("resolves");
        assert_eq!(pins(&out), ["a==1.0", "b==1.0"]);
    }

    fn base_fake() -> Fake {
        let mut fake = Fake::default();
        fake.add("bar", "1.0", &["foo>=2"]);
        fake.add("foo", "1.0", &[]);
        fake.add("foo", "2.0", &[]);
        fake.add("foo", "2.1", &[]).uploaded("2030-01-01");
        fake
    }

    #[test]
    fn base_distributions_are_fixed_by_default() {
        let fake = base_fake();
        let mut inp = input(&["bar"]);
        inp.base.insert(name("foo"), BaseDist::new(v("1.0")));
        let err = resolve(&inp, &fake).expect_err("conflicts with the base");
        eprintln!("{err}\n{:?}", err.hints());
        let ResolveError::BaseConflict { explanation, .. } = &err else {
            panic!("expected a base conflict, got {err:?}");
        };
        assert!(
            explanation.contains("bar==1.0 depends on foo >=2"),
            "{explanation}"
        );
        assert!(
            explanation.contains("the base image has foo==1.0 installed"),
            "{explanation}"
        );
        assert!(
            explanation.contains("your requirements need bar"),
            "{explanation}"
        );
        assert!(
            err.hints()
                .iter()
                .any(|h| h.contains("--allow-base-upgrades")),
            "{:?}",
            err.hints()
        );
    }

    #[test]
    fn base_distributions_satisfy_requirements_without_a_wheel() {
        let mut fake = Fake::default();
        fake.add("bar", "1.0", &["airflow>=2"]);
        let mut inp = input(&["bar"]);
        inp.base.insert(name("airflow"), BaseDist::new(v("2.9.3")));
        let out = resolve(&inp, &fake).expect("resolves");
        assert_eq!(pins(&out), ["bar==1.0"]);
        assert_eq!(package(&out, "bar").dependencies, [name("airflow")]);
    }

    #[test]
    fn base_upgrades_are_reported_when_allowed() {
        let fake = base_fake();
        let mut inp = input(&["bar"]);
        inp.base.insert(name("foo"), BaseDist::new(v("1.0")));
        inp.base.insert(
            name("keep"),
            BaseDist {
                version: v("3.0"),
                requires_dist: Some(vec![req("foo<2.1")]),
            },
        );
        inp.allow_base_upgrades = true;
        let out = resolve(&inp, &fake).expect("resolves");
        assert_eq!(pins(&out), ["bar==1.0", "foo==2.0"]);
        assert_eq!(
            out.base_upgrades,
            [BaseUpgrade {
                name: name("foo"),
                from: v("1.0"),
                to: v("2.0"),
                requested_by: vec![
                    RequestedBy::Base,
                    RequestedBy::Package(name("bar")),
                    RequestedBy::Package(name("keep"))
                ],
            }]
        );
    }

    #[test]
    fn yanked_files_are_skipped_unless_pinned() {
        let mut fake = Fake::default();
        fake.add("foo", "1.0", &[]);
        fake.add("foo", "2.0", &[]).yanked();
        let out = resolve(&input(&["foo"]), &fake).expect("resolves");
        assert_eq!(pins(&out), ["foo==1.0"]);
        let out = resolve(&input(&["foo==2.0"]), &fake).expect("resolves");
        assert_eq!(pins(&out), ["foo==2.0"]);
        let err = resolve(&input(&["foo>=2"]), &fake).expect_err("only yanked");
        eprintln!("{err}\n{:?}", err.hints());
        let ResolveError::NoSolution { notes, .. } = &err else {
            panic!("{err:?}");
        };
        assert!(
            notes.iter().any(|n| n.contains("`foo` 2.0 was yanked")),
            "{notes:?}"
        );
    }

    #[test]
    fn exclude_newer_skips_later_uploads() {
        let mut fake = Fake::default();
        fake.add("foo", "1.0", &[]).uploaded("2023-05-01T10:00:00Z");
        fake.add("foo", "2.0", &[]).uploaded("2024-06-01T10:00:00Z");
        let mut inp = input(&["foo"]);
        assert_eq!(pins(&resolve(&inp, &fake).expect("resolves")), ["foo==2.0"]);
        inp.exclude_newer = Some(Timestamp::from_str("2024-01-01").expect("time"));
        assert_eq!(pins(&resolve(&inp, &fake).expect("resolves")), ["foo==1.0"]);
    }

    #[test]
    fn requires_python_is_honoured() {
        let mut fake = Fake::default();
        fake.add("foo", "1.0", &[]);
        fake.add("foo", "2.0", &[]).requires_python(">=3.12");
        let out = resolve(&input(&["foo"]), &fake).expect("resolves");
        assert_eq!(pins(&out), ["foo==1.0"]);
        // Declared only in the metadata (an index without data-requires-python).
        let mut fake = Fake::default();
        fake.add("foo", "1.0", &[]);
        let r = fake.add("foo", "2.0", &[]);
        r.requires_python = Some(">=3.12".to_string());
        let out = resolve(&input(&["foo"]), &fake).expect("resolves");
        assert_eq!(pins(&out), ["foo==1.0"]);
        let err = resolve(&input(&["foo==2.0"]), &fake).expect_err("too new a Python");
        assert!(
            err.to_string().contains("foo==2.0 requires Python >=3.12"),
            "{err}"
        );
    }

    #[test]
    fn preferences_hold_until_upgraded() {
        let mut fake = Fake::default();
        fake.add("foo", "1.0", &[]);
        fake.add("foo", "2.0", &[]);
        let mut inp = input(&["foo"]);
        inp.preferences.insert(name("foo"), v("1.0"));
        assert_eq!(pins(&resolve(&inp, &fake).expect("resolves")), ["foo==1.0"]);
        inp.upgrade = Upgrade::Packages(BTreeSet::from([name("foo")]));
        assert_eq!(pins(&resolve(&inp, &fake).expect("resolves")), ["foo==2.0"]);
        inp.upgrade = Upgrade::All;
        assert_eq!(pins(&resolve(&inp, &fake).expect("resolves")), ["foo==2.0"]);
        // A preference that no longer fits is dropped.
        inp.upgrade = Upgrade::None;
        inp.requirements = vec![req("foo>1")];
        assert_eq!(pins(&resolve(&inp, &fake).expect("resolves")), ["foo==2.0"]);
    }

    #[test]
    fn packages_without_a_compatible_wheel_are_listed() {
        let mut fake = Fake::default();
        fake.add("airflow", "2.0", &["python-nvd3"]);
        fake.add_files("python-nvd3", "0.15.0", &[], &["python-nvd3-0.15.0.tar.gz"]);
        let mut only = input(&["airflow"]);
        only.binary = BinaryPolicy::wheels_only();
        let err = resolve(&only, &fake).expect_err("no wheel");
        eprintln!("{err}\n{:?}", err.hints());
        let ResolveError::NoCompatibleWheels { packages, tags, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(packages[0].name, name("python-nvd3"));
        assert_eq!(packages[0].files, ["python-nvd3-0.15.0.tar.gz"]);
        assert!(tags.contains("cp311"), "{tags}");
        let text = err.to_string();
        assert!(
            text.contains("`python-nvd3` (0.15.0): only python-nvd3-0.15.0.tar.gz"),
            "{text}"
        );
        assert!(
            text.contains("manylinux_2_5_x86_64 … manylinux_2_36_x86_64"),
            "{text}"
        );
        assert!(err.hints()[0].contains("--find-links"));

        let mut fake = Fake::default();
        fake.add_files(
            "winonly",
            "1.0",
            &[],
            &["winonly-1.0-cp311-cp311-win_amd64.whl"],
        );
        let err = resolve(&input(&["winonly"]), &fake).expect_err("no wheel");
        assert!(
            err.to_string()
                .contains("only winonly-1.0-cp311-cp311-win_amd64.whl"),
            "{err}"
        );
    }

    #[test]
    fn sdist_is_taken_when_no_wheel_fits() {
        let mut fake = Fake::default();
        fake.add("airflow", "2.0", &["python-nvd3"]);
        fake.add_files(
            "python-nvd3",
            "0.15.0",
            &["slugify"],
            &["python-nvd3-0.15.0.tar.gz", "python-nvd3-0.15.0.zip"],
        );
        fake.add("slugify", "1.0", &[]);
        let resolution = resolve(&input(&["airflow"]), &fake).expect("resolves");
        let nvd3 = package(&resolution, "python-nvd3");
        assert!(nvd3.sdist);
        assert_eq!(nvd3.filename, "python-nvd3-0.15.0.tar.gz");
        assert!(!package(&resolution, "slugify").sdist);
        assert_eq!(pins(&resolution).len(), 3);
    }

    #[test]
    fn newer_sdist_beats_an_older_wheel_as_in_pip() {
        let mut fake = Fake::default();
        fake.add("docopt", "0.6.1", &[]);
        fake.add_files("docopt", "0.6.2", &[], &["docopt-0.6.2.tar.gz"]);
        let resolution = resolve(&input(&["docopt"]), &fake).expect("resolves");
        assert_eq!(package(&resolution, "docopt").version, v("0.6.2"));
        let mut only = input(&["docopt"]);
        only.binary.apply(false, ":all:");
        let resolution = resolve(&only, &fake).expect("resolves");
        assert_eq!(package(&resolution, "docopt").version, v("0.6.1"));
    }

    #[test]
    fn only_binary_refuses_sdists_and_no_binary_prefers_them() {
        let mut fake = Fake::default();
        fake.add("airflow", "2.0", &["python-nvd3"]);
        fake.add_files("python-nvd3", "0.15.0", &[], &["python-nvd3-0.15.0.tar.gz"]);
        let mut only = input(&["airflow"]);
        only.binary = BinaryPolicy::wheels_only();
        let err = resolve(&only, &fake).expect_err("no wheel");
        assert!(
            matches!(err, ResolveError::NoCompatibleWheels { .. }),
            "{err}"
        );
        fake.add_files(
            "both",
            "1.0",
            &[],
            &["both-1.0-py3-none-any.whl", "both-1.0.tar.gz"],
        );
        let mut no_binary = input(&["both"]);
        no_binary.binary.apply(true, "both");
        let resolution = resolve(&no_binary, &fake).expect("resolves");
        assert!(package(&resolution, "both").sdist);
        let resolution = resolve(&input(&["both"]), &fake).expect("resolves");
        assert!(!package(&resolution, "both").sdist);
    }

    #[test]
    fn best_tag_wins_among_compatible_wheels() {
        let mut fake = Fake::default();
        fake.add_files(
            "np",
            "2.0",
            &[],
            &[
                "np-2.0.tar.gz",
                "np-2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                "np-2.0-cp311-cp311-manylinux_2_28_x86_64.whl",
                "np-2.0-cp312-cp312-manylinux_2_28_x86_64.whl",
                "np-2.0-cp311-cp311-musllinux_1_2_x86_64.whl",
            ],
        );
        let out = resolve(&input(&["np"]), &fake).expect("resolves");
        assert_eq!(
            package(&out, "np").filename,
            "np-2.0-cp311-cp311-manylinux_2_28_x86_64.whl"
        );
    }

    #[test]
    fn impossible_pin_pair_is_explained() {
        let mut fake = Fake::default();
        fake.add("a", "1.0", &["c==1.0"]);
        fake.add("b", "1.0", &["c==2.0"]);
        fake.add("c", "1.0", &[]);
        fake.add("c", "2.0", &[]);
        let err = resolve(&input(&["a==1.0", "b==1.0"]), &fake).expect_err("conflict");
        eprintln!("{err}");
        let ResolveError::NoSolution { explanation, .. } = &err else {
            panic!("{err:?}");
        };
        assert!(
            explanation.contains("a==1.0 depends on c==1.0"),
            "{explanation}"
        );
        assert!(
            explanation.contains("b==1.0 depends on c==2.0"),
            "{explanation}"
        );
        assert!(
            explanation.contains("the requirements cannot be satisfied"),
            "{explanation}"
        );
    }

    #[test]
    fn unknown_names_get_a_spelling_note() {
        let fake = Fake::default();
        let err = resolve(&input(&["reqeusts"]), &fake).expect_err("typo");
        assert!(
            err.hints()
                .iter()
                .any(|h| h.contains("No distribution named `reqeusts`")),
            "{:?}",
            err.hints()
        );
    }

    #[test]
    fn url_requirements_are_refused() {
        let fake = Fake::default();
        let err = resolve(
            &input(&["foo @ http://127.0.0.1/foo-1.0-py3-none-any.whl"]),
            &fake,
        )
        .expect_err("URL");
        assert!(matches!(err, ResolveError::UrlRequirement(_)), "{err:?}");
    }

    #[test]
    fn source_failures_surface() {
        struct Broken;
        impl DistributionSource for Broken {
            fn versions(&self, _: &PackageName) -> Result<Vec<Candidate>, SourceError> {
                Err(SourceError::new("connection refused"))
            }
            fn metadata(&self, _: &PackageName, _: &Version) -> Result<CoreMetadata, SourceError> {
                Err(SourceError::new("unreachable"))
            }
        }
        let err = resolve(&input(&["foo"]), &Broken).expect_err("fails");
        assert!(
            matches!(&err, ResolveError::Source { package, .. } if package == "foo"),
            "{err:?}"
        );
    }
}
