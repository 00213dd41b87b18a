//! Dependency resolution the way `apt-get install --no-install-recommends` does it:
//! from `packages.txt` requests, a universe and the base's installed set to the
//! list of packages to download and unpack. Pure and deterministic: no network, no
//! clock, and the same inputs always give the same answer.
//!
//! The model is apt's: every package has one candidate version (the highest, or
//! the `name=version` pin); dependencies are only ever satisfied by candidates;
//! `Pre-Depends` and `Depends` are followed, `Recommends` and `Suggests` are not;
//! an or-group is left alone when one member is already installed or selected,
//! otherwise the first member that can be installed wins, trying a real package
//! before the packages that provide the name (those ordered essential first, then
//! by `Priority`, then by name). Unlike apt, a member whose own dependencies fail
//! is backed out and the next member is tried.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use super::packages_txt::{PackageArch, PackageRequest};
use super::relation::{Dependency, Relation};
use super::universe::{Installed, MultiArch, PackageVersion, Universe};
use super::version::Version;

/// How many close names an unknown-package error suggests.
const MAX_SUGGESTIONS: usize = 3;

/// Why resolution failed. Each variant carries what the CLI needs for a hint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("Line {line}: package `{name}` is not in any index")]
    UnknownPackage {
        name: String,
        line: usize,
        /// Close names by edit distance, closest first.
        suggestions: Vec<String>,
    },
    #[error("Line {line}: package `{name}` has no version `{version}`")]
    VersionNotFound {
        name: String,
        version: String,
        line: usize,
        /// Every available version, highest first.
        available: Vec<String>,
    },
    #[error("Line {line}: package `{name}` has no `{arch}` build")]
    ArchNotFound {
        name: String,
        arch: String,
        line: usize,
    },
    #[error("Line {line}: `{name}` is a virtual package provided by several packages")]
    AmbiguousVirtual {
        name: String,
        line: usize,
        providers: Vec<String>,
    },
    #[error("Cannot satisfy {}: {reason}", chain_text(.chain))]
    Unsatisfiable { chain: Vec<String>, reason: String },
    #[error(
        "`{package}` {kind} `{other}` (`{relation}`), so {} cannot be installed",
        chain_text(.chain)
    )]
    Conflict {
        chain: Vec<String>,
        /// The package whose field declares the conflict.
        package: String,
        /// `conflicts with` or `breaks`.
        kind: &'static str,
        other: String,
        relation: String,
    },
}

fn chain_text(chain: &[String]) -> String {
    chain
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(" → ")
}

/// A package to download and unpack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedPackage {
    pub name: String,
    pub version: Version,
    pub architecture: String,
    pub multi_arch: MultiArch,
    pub filename: String,
    pub sha256: String,
    pub size: u64,
    /// The index id it comes from.
    pub index: usize,
    /// The installed version it replaces, when it is an upgrade (or a downgrade
    /// asked for with a pin).
    pub replaces_installed: Option<Version>,
}

/// Resolves `requests` against `universe`, given what the base has installed, and
/// returns the packages to install, sorted by name. Packages the base already has
/// at a satisfying version are not returned.
pub(crate) fn resolve(
    universe: &Universe,
    installed: &Installed,
    requests: &[PackageRequest],
) -> Result<Vec<ResolvedPackage>, ResolveError> {
    let mut r = Resolver::new(universe, installed);
    for req in requests {
        if let Some(pin) = &req.version {
            let found = universe
                .versions(&req.name)
                .find(|p| &p.version == pin && arch_accepts(req.arch, p, universe.arch()));
            match found {
                Some(p) => {
                    r.pins.insert(req.name.clone(), p);
                }
                None => {
                    return Err(ResolveError::VersionNotFound {
                        name: req.name.clone(),
                        version: pin.to_string(),
                        line: req.line,
                        available: universe
                            .versions(&req.name)
                            .map(|p| p.version.to_string())
                            .collect(),
                    });
                }
            }
        }
    }
    for req in requests {
        let target = r.request_target(req)?;
        let mut chain = vec![req.name.clone()];
        r.mark_install(target, &mut chain, true)?;
    }
    r.repair_installed()?;
    Ok(r.finish())
}

/// What a `FROM scratch` root filesystem starts from, as `mmdebstrap
/// --variant=essential` builds it: the candidates marked `Essential: yes`, plus
/// their dependencies. `Priority: required` packages are not added: that is the
/// `required`/`minbase` variants (which also add apt), not `essential`; a project
/// that wants them lists them in `packages.txt`.
#[cfg(test)]
fn essential_set(universe: &Universe) -> Result<Vec<ResolvedPackage>, ResolveError> {
    use std::collections::BTreeSet;

    let installed = Installed::default();
    let mut r = Resolver::new(universe, &installed);
    let names: BTreeSet<&str> = universe
        .names()
        .filter(|n| universe.candidate(n).is_some_and(|c| c.essential))
        .collect();
    for name in names {
        if let Some(c) = universe.candidate(name) {
            let mut chain = vec![name.to_owned()];
            r.mark_install(c, &mut chain, true)?;
        }
    }
    Ok(r.finish())
}

/// Whether a request's `:arch` qualifier accepts `p` (`all` packages count as
/// native, as apt treats them).
fn arch_accepts(arch: Option<PackageArch>, p: &PackageVersion, native: &str) -> bool {
    match arch {
        None => true,
        Some(PackageArch::All) => p.architecture == "all",
        Some(PackageArch::Amd64) => {
            p.architecture == "all" || (p.architecture == "amd64" && native == "amd64")
        }
    }
}

#[derive(Clone, Default)]
struct State<'u> {
    /// Name → the version chosen to be installed (new or replacing an installed one).
    selected: BTreeMap<String, &'u PackageVersion>,
    /// Provided name → selected packages providing it.
    provided: HashMap<String, Vec<&'u PackageVersion>>,
}

struct Resolver<'u> {
    universe: &'u Universe,
    installed: &'u Installed,
    pins: HashMap<String, &'u PackageVersion>,
    state: State<'u>,
}

/// Which side declared a conflict that was found.
struct Clash<'u> {
    declarer: &'u PackageVersion,
    other: &'u PackageVersion,
    kind: &'static str,
    relation: String,
}

fn same_instance(a: &PackageVersion, b: &PackageVersion) -> bool {
    a.name == b.name && a.architecture == b.architecture && a.version.as_str() == b.version.as_str()
}

impl<'u> Resolver<'u> {
    fn new(universe: &'u Universe, installed: &'u Installed) -> Self {
        Resolver {
            universe,
            installed,
            pins: HashMap::new(),
            state: State::default(),
        }
    }

    fn native(&self) -> &str {
        self.universe.arch()
    }

    fn candidate(&self, name: &str) -> Option<&'u PackageVersion> {
        self.pins
            .get(name)
            .copied()
            .or_else(|| self.universe.candidate(name))
    }

    /// Whether an installed instance is still there in the future state.
    fn installed_is_current(&self, p: &PackageVersion) -> bool {
        match self.state.selected.get(&p.name) {
            None => true,
            Some(s) => {
                s.architecture != p.architecture
                    && s.architecture != "all"
                    && p.architecture != "all"
            }
        }
    }

    /// The instances of `name` in the future state.
    fn current(&self, name: &str) -> Vec<&'u PackageVersion> {
        let mut out: Vec<&'u PackageVersion> =
            self.state.selected.get(name).copied().into_iter().collect();
        out.extend(
            self.installed
                .get(name)
                .filter(|p| self.installed_is_current(p)),
        );
        out
    }

    /// Every package in the future state.
    fn all_current(&self) -> Vec<&'u PackageVersion> {
        let mut out: Vec<&'u PackageVersion> = self.state.selected.values().copied().collect();
        out.extend(
            self.installed
                .iter()
                .filter(|p| self.installed_is_current(p)),
        );
        out
    }

    /// Architecture rules for a relation's `:qualifier`.
    fn arch_ok(&self, p: &PackageVersion, qualifier: Option<&str>, via_provides: bool) -> bool {
        let native_or_all = p.architecture == self.native() || p.architecture == "all";
        match qualifier {
            None | Some("native") => native_or_all || p.multi_arch == MultiArch::Foreign,
            Some("any") => {
                matches!(p.multi_arch, MultiArch::Allowed | MultiArch::Foreign)
                    || (via_provides && native_or_all)
            }
            Some(arch) => {
                p.architecture == arch || (p.architecture == "all" && arch == self.native())
            }
        }
    }

    fn pkg_satisfies(&self, p: &PackageVersion, rel: &Relation) -> bool {
        rel.matches(&p.name, &p.version) && self.arch_ok(p, rel.arch.as_deref(), false)
    }

    /// Versioned relations need a versioned `Provides`.
    fn provide_satisfies(&self, p: &PackageVersion, rel: &Relation) -> bool {
        self.arch_ok(p, rel.arch.as_deref(), true)
            && p.provides.iter().any(|pr| {
                pr.name == rel.name
                    && match (&rel.version, &pr.version) {
                        (None, _) => true,
                        (Some(c), Some(v)) => c.matches(v),
                        (Some(_), None) => false,
                    }
            })
    }

    /// Current packages that provide `name`.
    fn current_providers(&self, name: &str) -> Vec<&'u PackageVersion> {
        let mut out: Vec<&'u PackageVersion> =
            self.state.provided.get(name).cloned().unwrap_or_default();
        out.extend(
            self.installed
                .providers(name)
                .filter(|p| self.installed_is_current(p)),
        );
        out
    }

    fn satisfied(&self, rel: &Relation) -> bool {
        self.current(&rel.name)
            .iter()
            .any(|p| self.pkg_satisfies(p, rel))
            || self
                .current_providers(&rel.name)
                .iter()
                .any(|p| self.provide_satisfies(p, rel))
    }

    /// Candidates that could satisfy `rel`: the real package first, then providers.
    fn targets(&self, rel: &Relation) -> Vec<&'u PackageVersion> {
        let mut out = Vec::new();
        if let Some(c) = self.candidate(&rel.name)
            && self.pkg_satisfies(c, rel)
        {
            out.push(c);
        }
        let mut providers: Vec<&'u PackageVersion> = self
            .universe
            .providers(&rel.name)
            .filter(|p| self.candidate(&p.name).is_some_and(|c| std::ptr::eq(c, *p)))
            .filter(|p| p.name != rel.name && self.provide_satisfies(p, rel))
            .collect();
        providers.sort_by(|a, b| {
            (!a.essential, a.priority_rank(), &a.name).cmp(&(
                !b.essential,
                b.priority_rank(),
                &b.name,
            ))
        });
        providers.dedup_by(|a, b| a.name == b.name);
        out.extend(providers);
        out
    }

    fn request_target(&self, req: &PackageRequest) -> Result<&'u PackageVersion, ResolveError> {
        if let Some(p) = self.pins.get(&req.name) {
            return Ok(p);
        }
        if self.universe.contains(&req.name) {
            let found = self
                .universe
                .versions(&req.name)
                .find(|p| arch_accepts(req.arch, p, self.native()));
            return found.ok_or_else(|| ResolveError::ArchNotFound {
                name: req.name.clone(),
                arch: match req.arch {
                    Some(PackageArch::All) => "all".to_owned(),
                    _ => self.native().to_owned(),
                },
                line: req.line,
            });
        }
        let rel = Relation {
            name: req.name.clone(),
            arch: None,
            version: None,
            arches: Vec::new(),
            profiles: Vec::new(),
        };
        let providers = self.targets(&rel);
        match providers.as_slice() {
            [one] => Ok(one),
            [] => Err(ResolveError::UnknownPackage {
                name: req.name.clone(),
                line: req.line,
                suggestions: suggest(&req.name, self.universe.names()),
            }),
            many => Err(ResolveError::AmbiguousVirtual {
                name: req.name.clone(),
                line: req.line,
                providers: many.iter().map(|p| p.name.clone()).collect(),
            }),
        }
    }

    /// Finds a Conflicts/Breaks between `p` and the future state, either way round.
    fn clash(&self, p: &'u PackageVersion) -> Option<Clash<'u>> {
        let fields = |q: &'u PackageVersion| {
            q.conflicts
                .iter()
                .map(|d| ("conflicts with", d))
                .chain(q.breaks.iter().map(|d| ("breaks", d)))
                .flat_map(|(kind, d)| d.alternatives.iter().map(move |r| (kind, r)))
        };
        for (kind, rel) in fields(p) {
            let hit = self
                .current(&rel.name)
                .into_iter()
                .find(|o| o.name != p.name && self.pkg_satisfies(o, rel))
                .or_else(|| {
                    self.current_providers(&rel.name)
                        .into_iter()
                        .find(|o| o.name != p.name && self.provide_satisfies(o, rel))
                });
            if let Some(other) = hit {
                return Some(Clash {
                    declarer: p,
                    other,
                    kind,
                    relation: rel.to_string(),
                });
            }
        }
        for other in self.all_current() {
            if other.name == p.name {
                continue;
            }
            for (kind, rel) in fields(other) {
                if self.pkg_satisfies(p, rel) || self.provide_satisfies(p, rel) {
                    return Some(Clash {
                        declarer: other,
                        other: p,
                        kind,
                        relation: rel.to_string(),
                    });
                }
            }
        }
        None
    }

    /// Selects `p` and, recursively, what its dependencies need.
    fn mark_install(
        &mut self,
        p: &'u PackageVersion,
        chain: &mut Vec<String>,
        requested: bool,
    ) -> Result<(), ResolveError> {
        if self
            .state
            .selected
            .get(&p.name)
            .is_some_and(|s| same_instance(s, p))
        {
            return Ok(());
        }
        if self
            .installed
            .get(&p.name)
            .any(|i| same_instance(i, p) && self.installed_is_current(i))
        {
            return Ok(());
        }
        if let Some(s) = self.state.selected.get(&p.name)
            && !requested
        {
            // Another version was already chosen for this name: apt keeps one
            // candidate per package, so this is a dead end.
            return Err(ResolveError::Unsatisfiable {
                chain: chain.clone(),
                reason: format!("`{}` {} is already selected", s.name, s.version),
            });
        }
        // Conflicts: an installed counterpart may be upgraded out of the way.
        let mut attempts = 0;
        while let Some(c) = self.clash(p) {
            let blocker = if std::ptr::eq(c.declarer, p) {
                c.other
            } else {
                c.declarer
            };
            let upgrade = (blocker.index.is_none() && attempts < 8)
                .then(|| self.candidate(&blocker.name))
                .flatten()
                .filter(|cand| !same_instance(cand, blocker));
            match upgrade {
                Some(cand) => {
                    attempts += 1;
                    chain.push(format!("{} (upgraded to avoid a conflict)", cand.name));
                    self.mark_install(cand, chain, false)?;
                    chain.pop();
                }
                None => {
                    return Err(ResolveError::Conflict {
                        chain: chain.clone(),
                        package: c.declarer.name.clone(),
                        kind: c.kind,
                        other: format!("{} {}", c.other.name, c.other.version),
                        relation: c.relation,
                    });
                }
            }
        }
        if let Some(old) = self.state.selected.insert(p.name.clone(), p) {
            for list in self.state.provided.values_mut() {
                list.retain(|q| !std::ptr::eq(*q, old));
            }
        }
        for pr in &p.provides {
            self.state
                .provided
                .entry(pr.name.clone())
                .or_default()
                .push(p);
        }
        // Dependencies without alternatives first, so that or-groups can be
        // satisfied by what those pulled in (apt does the same).
        let mut deps: Vec<&'u Dependency> = p.pre_depends.iter().chain(&p.depends).collect();
        deps.sort_by_key(|d| d.alternatives.len() > 1);
        for dep in deps {
            self.install_dependency(dep, chain)?;
        }
        if self.installed.get(&p.name).next().is_some() {
            self.upgrade_source_siblings(p, chain);
        }
        Ok(())
    }

    /// apt (`APT::Get::Upgrade-By-Source-Package`, on by default) upgrades the
    /// other installed binaries of a source package along with one of them, when
    /// their candidates come from the same source version. Best effort: a sibling
    /// that cannot be upgraded cleanly is left as it is.
    fn upgrade_source_siblings(&mut self, p: &'u PackageVersion, chain: &mut Vec<String>) {
        let installed = self.installed;
        for sibling in installed.iter() {
            if sibling.name == p.name
                || sibling.source_name != p.source_name
                || !self.installed_is_current(sibling)
            {
                continue;
            }
            let Some(cand) = self.candidate(&sibling.name) else {
                continue;
            };
            if same_instance(cand, sibling)
                || cand.source_name != p.source_name
                || cand.source_version != p.source_version
            {
                continue;
            }
            let snapshot = self.state.clone();
            chain.push(format!("{} (same source as {})", cand.name, p.name));
            if self.mark_install(cand, chain, false).is_err() {
                self.state = snapshot;
            }
            chain.pop();
        }
    }

    fn install_dependency(
        &mut self,
        dep: &Dependency,
        chain: &mut Vec<String>,
    ) -> Result<(), ResolveError> {
        if dep.alternatives.iter().any(|r| self.satisfied(r)) {
            return Ok(());
        }
        chain.push(dep.to_string());
        let mut first_err = None;
        for rel in &dep.alternatives {
            for target in self.targets(rel) {
                let snapshot = self.state.clone();
                match self.mark_install(target, chain, false) {
                    Ok(()) => {
                        chain.pop();
                        return Ok(());
                    }
                    Err(e) => {
                        self.state = snapshot;
                        first_err.get_or_insert(e);
                    }
                }
            }
        }
        Err(first_err.unwrap_or_else(|| ResolveError::Unsatisfiable {
            chain: chain.clone(),
            reason: self.explain(dep),
        }))
    }

    /// Why no member of `dep` has a usable candidate.
    fn explain(&self, dep: &Dependency) -> String {
        let parts: Vec<String> = dep
            .alternatives
            .iter()
            .map(|rel| {
                let has_providers = self.universe.providers(&rel.name).next().is_some();
                match self.candidate(&rel.name) {
                    Some(c) if !self.arch_ok(c, rel.arch.as_deref(), false) => format!(
                        "`{}` {} ({}, Multi-Arch: {:?}) cannot satisfy an `{}` relation",
                        c.name,
                        c.version,
                        c.architecture,
                        c.multi_arch,
                        rel.arch.as_deref().unwrap_or("native")
                    ),
                    Some(c) => format!("the candidate of `{}` is {}", c.name, c.version),
                    None if has_providers => {
                        format!("no package provides `{}` at a matching version", rel.name)
                    }
                    None => format!("`{}` is not in any index", rel.name),
                }
            })
            .collect();
        parts.join("; ")
    }

    /// Installed packages whose dependencies an upgrade broke are upgraded too,
    /// as apt's problem resolver would.
    fn repair_installed(&mut self) -> Result<(), ResolveError> {
        loop {
            let mut changed = false;
            let installed = self.installed;
            for inst in installed.iter() {
                if !self.installed_is_current(inst) {
                    continue;
                }
                for dep in inst.pre_depends.iter().chain(&inst.depends) {
                    let touched = dep.alternatives.iter().any(|r| {
                        self.state.selected.contains_key(&r.name)
                            || installed
                                .providers(&r.name)
                                .any(|p| self.state.selected.contains_key(&p.name))
                    });
                    if !touched || dep.alternatives.iter().any(|r| self.satisfied(r)) {
                        continue;
                    }
                    let mut chain = vec![format!("{} (installed)", inst.name)];
                    match self.candidate(&inst.name) {
                        Some(c) if !same_instance(c, inst) => {
                            self.mark_install(c, &mut chain, false)?;
                            changed = true;
                            break;
                        }
                        _ => {
                            chain.push(dep.to_string());
                            return Err(ResolveError::Unsatisfiable {
                                chain,
                                reason: "an upgrade breaks this installed package and it has no newer version".to_owned(),
                            });
                        }
                    }
                }
            }
            if !changed {
                return Ok(());
            }
        }
    }

    fn finish(self) -> Vec<ResolvedPackage> {
        self.state
            .selected
            .values()
            .map(|p| ResolvedPackage {
                name: p.name.clone(),
                version: p.version.clone(),
                architecture: p.architecture.clone(),
                multi_arch: p.multi_arch,
                filename: p.filename.clone(),
                sha256: p.sha256.clone(),
                size: p.size,
                index: p.index.unwrap_or_default(),
                replaces_installed: self
                    .installed
                    .get(&p.name)
                    .find(|i| {
                        i.architecture == p.architecture
                            || i.architecture == "all"
                            || p.architecture == "all"
                    })
                    .map(|i| i.version.clone()),
            })
            .collect()
    }
}

/// Up to [`MAX_SUGGESTIONS`] names within a small edit distance of `name`.
fn suggest<'a>(name: &str, names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let limit = (name.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = names
        .filter_map(|n| {
            let d = edit_distance(name, n, limit)?;
            Some((d, n))
        })
        .collect();
    scored.sort_unstable();
    scored
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, n)| n.to_owned())
        .collect()
}

/// Levenshtein distance, or `None` once it must exceed `limit`.
fn edit_distance(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        let mut row_min = cur[0];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            row_min = row_min.min(cur[j + 1]);
        }
        if row_min > limit {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[b.len()];
    (d <= limit).then_some(d)
}

impl fmt::Display for ResolvedPackage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.name, self.version, self.architecture)
    }
}

impl crate::hint::Hint for ResolveError {
    fn hints(&self) -> Vec<String> {
        let quoted = |names: &[String]| {
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Self::UnknownPackage { suggestions, .. } => {
                if suggestions.is_empty() {
                    Vec::new()
                } else {
                    vec![format!("Did you mean {}?", quoted(suggestions))]
                }
            }
            Self::VersionNotFound { available, .. } => vec![if available.is_empty() {
                "No version is available".to_owned()
            } else {
                format!("Available versions: {}", quoted(available))
            }],
            Self::AmbiguousVirtual { providers, .. } => {
                vec![format!("Name one of {} instead", quoted(providers))]
            }
            Self::Conflict { .. } => vec![
                "Remove one of the two from `packages.txt`, or pin versions that do not conflict"
                    .to_owned(),
            ],
            Self::ArchNotFound { .. } | Self::Unsatisfiable { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::packages_txt::parse_packages_txt;
    use super::*;
    use crate::hint::Hint as _;

    /// A `Packages` paragraph; `extra` holds further fields, one per line.
    fn pkg(name: &str, version: &str, extra: &str) -> String {
        let arch = if extra.contains("Architecture:") {
            String::new()
        } else {
            "Architecture: amd64\n".to_owned()
        };
        format!(
            "Package: {name}\nVersion: {version}\n{arch}{extra}{nl}Filename: pool/{name}_{version}.deb\nSize: 10\nSHA256: {name}{version}\n\n",
            nl = if extra.is_empty() || extra.ends_with('\n') {
                ""
            } else {
                "\n"
            }
        )
    }

    fn universe(paragraphs: &[String]) -> Universe {
        let mut u = Universe::new("amd64");
        u.add_index("test", &paragraphs.concat())
            .unwrap_or_else(|e| panic!("{e}"));
        u
    }

    fn installed(entries: &[(&str, &str, &str)]) -> Installed {
        let text: String = entries
            .iter()
            .map(|(n, v, extra)| {
                format!("Package: {n}\nStatus: install ok installed\nVersion: {v}\nArchitecture: amd64\n{extra}\n\n")
            })
            .collect();
        Installed::parse(&text, &[]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Requests as `packages.txt` would give them; short test names are allowed
    /// here, so the syntax is parsed by hand (`name[:arch][=version]`).
    fn requests(txt: &str) -> Vec<PackageRequest> {
        let mut out = Vec::new();
        for (i, line) in txt.lines().enumerate() {
            let line_text = line.split('#').next().unwrap_or("");
            for word in line_text.split_whitespace() {
                let (left, version) = match word.split_once('=') {
                    Some((l, v)) => (l, Some(Version::parse(v).unwrap())),
                    None => (word, None),
                };
                let (name, arch) = match left.split_once(':') {
                    Some((n, "all")) => (n, Some(PackageArch::All)),
                    Some((n, _)) => (n, Some(PackageArch::Amd64)),
                    None => (left, None),
                };
                out.push(PackageRequest {
                    name: name.to_owned(),
                    version,
                    arch,
                    line: i + 1,
                });
            }
        }
        out
    }

    fn run(u: &Universe, i: &Installed, txt: &str) -> Result<Vec<String>, ResolveError> {
        resolve(u, i, &requests(txt)).map(|v| {
            v.iter()
                .map(|p| format!("{}={}", p.name, p.version))
                .collect()
        })
    }

    #[test]
    fn follows_depends_and_pre_depends_not_recommends() {
        let u = universe(&[
            pkg(
                "a",
                "1",
                "Depends: b (>= 1.0), libc6\nPre-Depends: p\nRecommends: r\nSuggests: s",
            ),
            pkg("b", "0.9", ""),
            pkg("b", "1.1", "Depends: c"),
            pkg("c", "1", ""),
            pkg("p", "1", ""),
            pkg("r", "1", ""),
            pkg("s", "1", ""),
            pkg("libc6", "2.36", ""),
        ]);
        let i = installed(&[("libc6", "2.36", "")]);
        assert_eq!(run(&u, &i, "a\n").unwrap(), ["a=1", "b=1.1", "c=1", "p=1"]);
    }

    #[test]
    fn pins_and_missing_pins() {
        let u = universe(&[pkg("a", "1", ""), pkg("a", "2", ""), pkg("a", "1:0.5", "")]);
        let i = Installed::default();
        assert_eq!(run(&u, &i, "a").unwrap(), ["a=1:0.5"]);
        assert_eq!(run(&u, &i, "a=2").unwrap(), ["a=2"]);
        let err = run(&u, &i, "\na=3\n").unwrap_err();
        assert_eq!(err.to_string(), "Line 2: package `a` has no version `3`");
        assert_eq!(err.hints()[0], "Available versions: `1:0.5`, `2`, `1`");
        // A dependency on a pinned package sees the pin as its candidate.
        let u = universe(&[
            pkg("a", "1", ""),
            pkg("a", "2", ""),
            pkg("b", "1", "Depends: a (>= 2)"),
        ]);
        let err = run(&u, &i, "a=1 b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Cannot satisfy `b` → `a (>= 2)`: the candidate of `a` is 1"
        );
    }

    #[test]
    fn unknown_package_suggests_close_names() {
        let u = universe(&[
            pkg("git", "1", ""),
            pkg("gitk", "1", ""),
            pkg("tig", "1", ""),
            pkg("jq", "1", ""),
            pkg("zzzzzz", "1", ""),
        ]);
        let err = run(&u, &Installed::default(), "# c\ngti").unwrap_err();
        assert_eq!(err.to_string(), "Line 2: package `gti` is not in any index");
        assert_eq!(err.hints()[0], "Did you mean `git`, `gitk`, `tig`?");
        let err = run(&u, &Installed::default(), "qwertyuiop").unwrap_err();
        assert!(
            matches!(err, ResolveError::UnknownPackage { ref suggestions, .. } if suggestions.is_empty())
        );
        assert!(err.hints().is_empty());
        assert_eq!(edit_distance("kitten", "sitting", 5), Some(3));
        assert_eq!(edit_distance("a", "abcdef", 2), None);
    }

    #[test]
    fn requested_arch_qualifiers() {
        let u = universe(&[pkg("a", "1", ""), pkg("d", "1", "Architecture: all")]);
        let i = Installed::default();
        assert_eq!(run(&u, &i, "a:amd64 d:all").unwrap(), ["a=1", "d=1"]);
        let err = run(&u, &i, "a:all").unwrap_err();
        assert_eq!(err.to_string(), "Line 1: package `a` has no `all` build");
    }

    #[test]
    fn alternatives() {
        let u = universe(&[
            pkg("x", "1", "Depends: p | q"),
            pkg("p", "1", ""),
            pkg("q", "1", ""),
            pkg("y", "1", "Depends: broken | q"),
            pkg("broken", "1", "Depends: nowhere"),
            pkg("z", "1", "Depends: p | q, q"),
        ]);
        // The first member that can be installed.
        assert_eq!(run(&u, &Installed::default(), "x").unwrap(), ["p=1", "x=1"]);
        // An installed member keeps the group satisfied.
        assert_eq!(
            run(&u, &installed(&[("q", "1", "")]), "x").unwrap(),
            ["x=1"]
        );
        // A member whose dependencies fail is backed out.
        assert_eq!(run(&u, &Installed::default(), "y").unwrap(), ["q=1", "y=1"]);
        // A member already selected for another dependency is kept.
        assert_eq!(run(&u, &Installed::default(), "z").unwrap(), ["q=1", "z=1"]);
    }

    #[test]
    fn virtual_packages_and_versioned_provides() {
        let u = universe(&[
            pkg("mua", "1", "Depends: mail-transport-agent"),
            pkg(
                "postfix",
                "1",
                "Provides: mail-transport-agent\nPriority: optional",
            ),
            pkg(
                "exim4",
                "1",
                "Provides: mail-transport-agent\nPriority: standard",
            ),
            pkg("user", "1", "Depends: libfoo-abi (>= 2)"),
            pkg("foo1", "1", "Provides: libfoo-abi (= 1)"),
            pkg("foo2", "1", "Provides: libfoo-abi (= 2)"),
            pkg("foo3", "1", "Provides: libfoo-abi"),
            pkg("solo", "1", "Provides: only-one"),
        ]);
        let none = Installed::default();
        assert_eq!(run(&u, &none, "mua").unwrap(), ["exim4=1", "mua=1"]);
        // An installed provider satisfies the virtual name.
        let i = installed(&[("postfix", "1", "Provides: mail-transport-agent")]);
        assert_eq!(run(&u, &i, "mua").unwrap(), ["mua=1"]);
        assert_eq!(run(&u, &none, "user").unwrap(), ["foo2=1", "user=1"]);
        // An unversioned Provides does not satisfy a versioned dependency.
        let i = installed(&[("foo3", "1", "Provides: libfoo-abi")]);
        assert_eq!(run(&u, &i, "user").unwrap(), ["foo2=1", "user=1"]);
        // Requesting a virtual name: one provider is picked, several are refused.
        assert_eq!(run(&u, &none, "only-one").unwrap(), ["solo=1"]);
        let err = run(&u, &none, "mail-transport-agent").unwrap_err();
        assert_eq!(err.hints()[0], "Name one of `exim4`, `postfix` instead");
    }

    #[test]
    fn multi_arch_any() {
        let u = universe(&[
            pkg("tool", "1", "Depends: perl:any"),
            pkg("perl", "5", "Multi-Arch: allowed"),
            pkg("bad", "1", "Depends: python3:any"),
            pkg("python3", "3", ""),
            pkg("lib", "1", "Depends: base:any"),
            pkg("base", "1", "Multi-Arch: foreign"),
        ]);
        let none = Installed::default();
        assert_eq!(run(&u, &none, "tool").unwrap(), ["perl=5", "tool=1"]);
        assert_eq!(run(&u, &none, "lib").unwrap(), ["base=1", "lib=1"]);
        let i = installed(&[("perl", "5", "Multi-Arch: allowed")]);
        assert_eq!(run(&u, &i, "tool").unwrap(), ["tool=1"]);
        let err = run(&u, &none, "bad").unwrap_err();
        assert!(
            err.to_string().starts_with(
                "Cannot satisfy `bad` → `python3:any`: `python3` 3 (amd64, Multi-Arch: No)"
            ),
            "{err}"
        );
    }

    #[test]
    fn installed_packages_and_upgrades() {
        let u = universe(&[
            pkg("app", "1", "Depends: libx (>= 2), liby"),
            pkg("libx", "2", "Depends: libz"),
            pkg("libx", "1", ""),
            pkg("liby", "1", ""),
            pkg("libz", "1", ""),
            pkg("libx-dev", "2", "Depends: libx (= 2)"),
        ]);
        let i = installed(&[
            ("libx", "1", ""),
            ("liby", "1", ""),
            ("libx-dev", "1", "Depends: libx (= 1)"),
        ]);
        let reqs = requests("app");
        let got = resolve(&u, &i, &reqs).unwrap();
        let names: Vec<String> = got
            .iter()
            .map(|p| format!("{}={}", p.name, p.version))
            .collect();
        // libx is upgraded, and so is libx-dev, whose exact dependency broke.
        assert_eq!(names, ["app=1", "libx=2", "libx-dev=2", "libz=1"]);
        assert_eq!(got[1].replaces_installed.as_ref().unwrap().as_str(), "1");
        assert_eq!(got[0].replaces_installed, None);
        assert_eq!(got[1].filename, "pool/libx_2.deb");
        assert_eq!(got[1].sha256, "libx2");
        // Asking for an installed package at its candidate installs nothing.
        assert!(
            run(&u, &installed(&[("liby", "1", "")]), "liby")
                .unwrap()
                .is_empty()
        );
        // An installed package behind its candidate is upgraded when asked for.
        assert_eq!(
            run(&u, &installed(&[("libx", "1", "")]), "libx").unwrap(),
            ["libx=2", "libz=1"]
        );
    }

    #[test]
    fn upgrades_source_siblings_like_apt() {
        let u = universe(&[
            pkg("libk5", "2", "Source: krb5\nDepends: libk5support (>= 2)"),
            pkg("libk5support", "2", "Source: krb5"),
            pkg("k5-locales", "2", "Source: krb5\nArchitecture: all"),
            pkg("k5-other", "3", "Source: krb5 (3)"),
            pkg("k5-user", "2", "Source: krb5\nDepends: libk5 (>= 2)"),
        ]);
        let i = installed(&[
            ("libk5", "1", "Source: krb5"),
            ("libk5support", "1", "Source: krb5"),
            ("k5-locales", "1", "Source: krb5"),
            ("k5-other", "1", "Source: krb5"),
        ]);
        // `k5-other`'s candidate comes from another source version: left alone.
        assert_eq!(
            run(&u, &i, "k5-user").unwrap(),
            ["k5-locales=2", "k5-user=2", "libk5=2", "libk5support=2"]
        );
    }

    #[test]
    fn conflicts_and_breaks() {
        let u = universe(&[
            pkg("a", "1", "Conflicts: b"),
            pkg("b", "1", ""),
            pkg("c", "1", "Depends: b | d"),
            pkg("d", "1", ""),
            pkg("e", "1", "Breaks: old (<< 2)"),
            pkg("old", "2", ""),
            pkg("f", "1", "Conflicts: stuck"),
            pkg("stuck", "1", ""),
            pkg("g", "1", "Provides: mta\nConflicts: mta"),
            pkg("h", "1", "Depends: a"),
        ]);
        let none = Installed::default();
        let err = run(&u, &none, "b h").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`a` conflicts with `b 1` (`b`), so `h` → `a` cannot be installed"
        );
        assert!(!err.hints().is_empty());
        // The other member of an or-group avoids the conflict.
        assert_eq!(run(&u, &none, "a c").unwrap(), ["a=1", "c=1", "d=1"]);
        // An installed package the new one breaks is upgraded out of the way.
        let i = installed(&[("old", "1", "")]);
        assert_eq!(run(&u, &i, "e").unwrap(), ["e=1", "old=2"]);
        // ... unless there is nothing newer.
        let i = installed(&[("stuck", "1", "")]);
        let err = run(&u, &i, "f").unwrap_err();
        assert!(
            matches!(err, ResolveError::Conflict { ref package, .. } if package == "f"),
            "{err}"
        );
        // A package may conflict with what it provides itself.
        assert_eq!(run(&u, &none, "g").unwrap(), ["g=1"]);
        // An installed package's Conflicts count too.
        let i = installed(&[("blocker", "1", "Conflicts: d")]);
        let err = run(&u, &i, "d").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`blocker` conflicts with `d 1` (`d`), so `d` cannot be installed"
        );
    }

    #[test]
    fn unsatisfiable_reports_the_chain() {
        let u = universe(&[
            pkg("git", "1", "Depends: libcurl3-gnutls (>= 7.56.1)"),
            pkg(
                "libcurl3-gnutls",
                "7.88.1",
                "Depends: libnghttp2-14 (>= 1.50) | nothing-else",
            ),
            pkg("libnghttp2-14", "1.40", ""),
        ]);
        let err = run(&u, &Installed::default(), "git").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Cannot satisfy `git` → `libcurl3-gnutls (>= 7.56.1)` → `libnghttp2-14 (>= 1.50) | nothing-else`: \
             the candidate of `libnghttp2-14` is 1.40; `nothing-else` is not in any index"
        );
    }

    #[test]
    fn output_is_sorted_and_deterministic() {
        let u = universe(&[
            pkg("zeta", "1", "Depends: alpha, mid"),
            pkg("mid", "1", "Depends: alpha"),
            pkg("alpha", "1", "Depends: zeta"),
        ]);
        let a = run(&u, &Installed::default(), "zeta").unwrap();
        let b = run(&u, &Installed::default(), "mid alpha zeta").unwrap();
        assert_eq!(a, ["alpha=1", "mid=1", "zeta=1"]);
        assert_eq!(a, b);
    }

    #[test]
    fn essential_set_takes_essential_and_dependencies() {
        let u = universe(&[
            pkg("base-files", "1", "Essential: yes\nPriority: required"),
            pkg("bash", "5", "Essential: yes\nPre-Depends: libtinfo6"),
            pkg("libtinfo6", "6", "Priority: required"),
            pkg("apt", "2", "Priority: required"),
            pkg("old", "1", "Essential: yes"),
            pkg("old", "2", ""),
        ]);
        let got: Vec<String> = essential_set(&u)
            .unwrap()
            .iter()
            .map(|p| p.name.clone())
            .collect();
        // `apt` is required but not essential; `old` stopped being essential.
        assert_eq!(got, ["base-files", "bash", "libtinfo6"]);
    }

    /// Compares with `apt-get install -s --no-install-recommends` on this host, using
    /// the host's own indices and dpkg database. Needs apt and fresh lists.
    #[test]
    #[ignore = "reads this host's apt lists and runs apt-get"]
    fn agrees_with_apt_on_this_host() {
        use std::process::Command;
        let out = Command::new("apt-get")
            .args([
                "indextargets",
                "--format",
                "$(FILENAME)",
                "Created-By: Packages",
            ])
            .output()
            .unwrap();
        let lists: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        assert!(!lists.is_empty(), "no Packages lists: run apt-get update");
        let mut u = Universe::new("amd64");
        let start = std::time::Instant::now();
        for path in &lists {
            let text = Command::new("/usr/lib/apt/apt-helper")
                .args(["cat-file", path])
                .output()
                .unwrap();
            let text = String::from_utf8(text.stdout).unwrap();
            u.add_index(path, &text).unwrap();
        }
        eprintln!(
            "universe: {} versions in {:?}",
            u.version_count(),
            start.elapsed()
        );
        let status = std::fs::read_to_string("/var/lib/dpkg/status").unwrap();
        let host = Installed::parse(&status, &[]).unwrap();
        // Also from an empty dpkg database: a much larger closure to agree on.
        let empty_status = std::env::temp_dir().join("airlock-empty-dpkg-status");
        std::fs::write(&empty_status, "").unwrap();
        let status_opt = format!("Dir::State::status={}", empty_status.display());
        let empty = Installed::default();
        let mut disagreements = Vec::new();
        for (inst, apt_opts) in [(&host, vec![]), (&empty, vec!["-o", status_opt.as_str()])] {
            for list in [
                "jq",
                "git",
                "libpq5",
                "unixodbc",
                "openssh-client",
                "krb5-user",
                "build-essential",
                "default-jre-headless",
                "freetds-dev unzip curl",
                "postfix mariadb-client",
                "git jq libpq5 unixodbc openssh-client krb5-user",
            ] {
                let start = std::time::Instant::now();
                let ours: BTreeSet<String> = resolve(&u, inst, &parse_packages_txt(list).unwrap())
                    .unwrap_or_else(|e| panic!("{list}: {e}"))
                    .iter()
                    .map(|p| format!("{} {}", p.name, p.version))
                    .collect();
                let took = start.elapsed();
                let sim = Command::new("apt-get")
                    .args([
                        "install",
                        "-s",
                        "--no-install-recommends",
                        "-o",
                        "APT::Get::Show-Versions=0",
                    ])
                    .args(&apt_opts)
                    .args(list.split_whitespace())
                    .output()
                    .unwrap();
                // `Inst name [old] (new suite [arch])`
                let apt: BTreeSet<String> = String::from_utf8_lossy(&sim.stdout)
                    .lines()
                    .filter_map(|l| l.strip_prefix("Inst "))
                    .filter_map(|l| {
                        let name = l.split_whitespace().next()?;
                        let new = l.split_once('(')?.1.split_whitespace().next()?;
                        Some(format!("{name} {new}"))
                    })
                    .collect();
                eprintln!(
                    "{list} (empty base: {}): ours {} apt {} ({took:?})",
                    inst.is_empty(),
                    ours.len(),
                    apt.len()
                );
                if ours != apt {
                    disagreements.push(format!(
                        "{list} (empty base: {}): only ours {:?}, only apt {:?}",
                        inst.is_empty(),
                        ours.difference(&apt).collect::<Vec<_>>(),
                        apt.difference(&ours).collect::<Vec<_>>()
                    ));
                }
            }
        }
        assert!(disagreements.is_empty(), "{disagreements:#?}");
    }
}
