//! Installing `.deb`s into a layer description, the way `dpkg --unpack` plus the
//! common parts of `--configure` would leave the tree: files placed (merged-/usr
//! aware), the dpkg database updated (`status`, `info/<pkg>.list`,
//! `info/<pkg>.md5sums`) and `update-alternatives --install` links made. Pure: file
//! contents go to a caller-supplied [`ContentSink`], nothing touches the disk, no
//! maintainer script is ever run, and no clock is read (mtimes are the layer
//! writer's business). What the scripts would have done beyond alternatives is
//! reported, never hidden.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};

use super::control::{ControlError, Paragraph, paragraphs};
use super::deb::{ControlInfo, DataEntry, DataKind, Deb, DebError};
use super::md5::Md5;

/// Directory where dpkg keeps its database, relative to the root.
const DPKG_DIR: &str = "var/lib/dpkg";
/// Maintainer scripts that run when a package is installed for the first time
/// (`prerm`/`postrm` only run on removal or when replacing an old version).
const INSTALL_SCRIPTS: [&str; 3] = ["preinst", "config", "postinst"];
/// Commands that are safe to skip: shell plumbing, and `ldconfig`, which is not
/// needed when libraries land in the standard paths.
const HARMLESS: &[&str] = &[
    ":", "[", "[[", "test", "true", "false", "set", "exit", "return", "echo", "printf", "local",
    "export", "shift", "unset", "ldconfig", "esac", "fi", "done", "then", "else", "}", "{",
];

/// Why installing failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("Reading a `.deb` failed")]
    Deb(#[from] DebError),
    #[error("The base image's dpkg `status` is malformed")]
    BaseStatus(#[source] ControlError),
    #[error("The base image's dpkg `status` has a paragraph without `Package` (line {line})")]
    BaseStatusEntry { line: usize },
    #[error("Package `{package}`: the control file has no `{field}` field")]
    MissingField {
        package: String,
        field: &'static str,
    },
    #[error("Storing `/{path}` failed")]
    Store {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "Package `{package}` ships `/{path}` as a hardlink to `/{target}`, which it did not ship before"
    )]
    DanglingHardlink {
        package: String,
        path: String,
        target: String,
    },
}

/// Where file contents go, so a caller can keep them in memory or spill them to
/// disk. `path` is the final path in the layer, for naming only.
pub(crate) trait ContentSink {
    type Handle;
    fn store(&mut self, path: &str, size: u64, reader: &mut dyn Read) -> io::Result<Self::Handle>;
}

/// What a layer entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LayerKind<H> {
    Dir,
    File(H),
    /// Target as the package wrote it.
    Symlink(String),
    /// Path (relative to the root) of the file it links to, in this layer.
    Hardlink(String),
}

/// One entry of the layer. `path` is relative, without a leading `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LayerFile<H> {
    pub path: String,
    pub kind: LayerKind<H>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// The package that placed it (its index in the install order); `None` for
    /// what the installation generates (dpkg database, alternatives, parents).
    pub origin: Option<usize>,
}

/// One package's data archive unpacked on its own, independent of every other
/// package: the entries it places in archive order (paths under merged-/usr
/// directories moved to `/usr`; the root and the merged directories themselves
/// dropped; `origin` unset), its `info/<pkg>.list` text and the MD5 of each
/// conffile it shipped, by absolute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unpacked<H> {
    pub entries: Vec<LayerFile<H>>,
    pub list: String,
    pub conffile_md5: BTreeMap<String, String>,
}

/// A maintainer script that was not run although it would have done more than
/// the alternatives links made natively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SkippedScript {
    pub package: String,
    pub script: String,
    /// What it would have run, e.g. ``runs `adduser`, `chown` ``.
    pub summary: String,
}

/// The installed layer: entries sorted bytewise by path, and the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layer<H> {
    pub files: Vec<LayerFile<H>>,
    pub skipped: Vec<SkippedScript>,
}

/// Facts about the base image that installation depends on.
#[derive(Debug, Clone, Default)]
pub(crate) struct InstallBase<'a> {
    /// Merged-/usr symlinks at the root: `bin` → `usr/bin`, `lib` → `usr/lib`, ...
    /// (targets relative to the root, without a leading `/`).
    pub merged_usr: BTreeMap<String, String>,
    /// The base's `/var/lib/dpkg/status` text (empty for `FROM scratch`).
    pub status: &'a str,
}

/// One `update-alternatives --install` registration.
#[derive(Debug, Clone)]
struct Registration {
    link: String,
    name: String,
    path: String,
    priority: i64,
    /// `(link, name, path)`
    slaves: Vec<(String, String, String)>,
    /// Installation order of the registering package, for tie-breaks.
    order: usize,
}

/// Unpacks `debs` (in resolution order) over a base described by `base`.
pub(crate) fn install<R, I, S>(
    base: &InstallBase<'_>,
    debs: I,
    sink: &mut S,
) -> Result<Layer<S::Handle>, InstallError>
where
    R: Read,
    I: IntoIterator<Item = Deb<R>>,
    S: ContentSink,
{
    let mut packages = Vec::new();
    for deb in debs {
        packages.push(unpack(&base.merged_usr, deb, sink)?);
    }
    assemble(base, packages, sink)
}

/// Installs packages unpacked by [`unpack`] (in resolution order, each with its
/// control information) over `base`: a later package's file wins over an earlier
/// one's, a directory already there is kept; then the dpkg database, the
/// alternatives and the missing parents. Generated files go to `sink`.
pub(crate) fn assemble<S, I>(
    base: &InstallBase<'_>,
    packages: I,
    sink: &mut S,
) -> Result<Layer<S::Handle>, InstallError>
where
    S: ContentSink,
    I: IntoIterator<Item = (ControlInfo, Unpacked<S::Handle>)>,
{
    let mut run = Installation {
        merged: &base.merged_usr,
        status: base_status(base.status)?,
        sink,
        tree: BTreeMap::new(),
        registrations: Vec::new(),
        skipped: Vec::new(),
    };
    for (order, (control, unpacked)) in packages.into_iter().enumerate() {
        run.add_package(order, &control, unpacked)?;
    }
    run.finish()
}

/// Unpacks one `.deb` on its own (see [`Unpacked`]); file contents go to `sink`.
pub(crate) fn unpack<R: Read, S: ContentSink>(
    merged: &BTreeMap<String, String>,
    deb: Deb<R>,
    sink: &mut S,
) -> Result<(ControlInfo, Unpacked<S::Handle>), InstallError> {
    let package = PackageId::read(&deb.control().paragraph()?)?.package;
    let mut files = PackageFiles {
        merged,
        package: &package,
        conffile_paths: deb
            .control()
            .conffiles
            .iter()
            .map(|c| c.path.clone())
            .collect(),
        conffile_md5: BTreeMap::new(),
        list: String::new(),
        shipped: BTreeSet::new(),
        entries: Vec::new(),
    };
    let control = deb.for_each_data_entry(|entry| files.place_entry(sink, entry))?;
    Ok((
        control,
        Unpacked {
            entries: files.entries,
            list: files.list,
            conffile_md5: files.conffile_md5,
        },
    ))
}

/// The layer being built: its entries, the dpkg status so far, and what the
/// maintainer scripts registered or would have done.
struct Installation<'a, S: ContentSink> {
    /// The base's merged-/usr symlinks.
    merged: &'a BTreeMap<String, String>,
    sink: &'a mut S,
    tree: BTreeMap<String, LayerFile<S::Handle>>,
    /// Status paragraphs keyed by (package, architecture).
    status: BTreeMap<(String, String), String>,
    registrations: Vec<Registration>,
    skipped: Vec<SkippedScript>,
}

/// A package's name and architecture, from its control paragraph.
struct PackageId {
    package: String,
    arch: String,
    multi_arch_same: bool,
}

impl PackageId {
    fn read(para: &Paragraph<'_>) -> Result<Self, InstallError> {
        let field = |name: &'static str, package: &str| {
            para.get(name)
                .map(|v| v.trim().to_owned())
                .ok_or_else(|| InstallError::MissingField {
                    package: package.to_owned(),
                    field: name,
                })
        };
        let package = field("Package", "?")?;
        let arch = field("Architecture", &package)?;
        let multi_arch_same = para.get("Multi-Arch").is_some_and(|v| v.trim() == "same");
        Ok(Self {
            package,
            arch,
            multi_arch_same,
        })
    }

    /// dpkg names info files `pkg:arch` for Multi-Arch: same packages.
    fn info_name(&self) -> String {
        if self.multi_arch_same {
            format!("{}:{}", self.package, self.arch)
        } else {
            self.package.clone()
        }
    }
}

/// One package's data archive while it is unpacked.
struct PackageFiles<'p, H> {
    /// The base's merged-/usr symlinks.
    merged: &'p BTreeMap<String, String>,
    package: &'p str,
    /// Absolute paths of its conffiles.
    conffile_paths: BTreeSet<String>,
    /// MD5 of each conffile it shipped, by absolute path.
    conffile_md5: BTreeMap<String, String>,
    /// Its `info/<pkg>.list` text.
    list: String,
    /// Paths (as in the archive) placed so far, for hardlink targets.
    shipped: BTreeSet<String>,
    /// What it places, in archive order.
    entries: Vec<LayerFile<H>>,
}

impl<H> PackageFiles<'_, H> {
    /// Lists one data entry and places it (merged-/usr aware).
    fn place_entry<S: ContentSink<Handle = H>>(
        &mut self,
        sink: &mut S,
        mut entry: DataEntry<'_>,
    ) -> Result<(), InstallError> {
        let original = entry.path.as_str().to_owned();
        if original.is_empty() {
            self.list.push_str("/.\n");
        } else {
            self.list.push('/');
            self.list.push_str(&original);
            self.list.push('\n');
        }
        let Some(path) = remap(self.merged, &original) else {
            return Ok(());
        };
        let kind = match entry.kind {
            DataKind::Dir => LayerKind::Dir,
            DataKind::Symlink => LayerKind::Symlink(entry.link_target.clone().unwrap_or_default()),
            DataKind::Hardlink => {
                let raw = entry.link_target.clone().unwrap_or_default();
                let target = remap(self.merged, &raw).unwrap_or(raw.clone());
                if !self.shipped.contains(&raw) {
                    return Err(InstallError::DanglingHardlink {
                        package: self.package.to_owned(),
                        path: original,
                        target: raw,
                    });
                }
                LayerKind::Hardlink(target)
            }
            DataKind::File => LayerKind::File(self.store_file(sink, &path, &original, &mut entry)?),
        };
        self.shipped.insert(original);
        self.entries.push(LayerFile {
            path,
            kind,
            mode: entry.mode,
            uid: entry.uid,
            gid: entry.gid,
            origin: None,
        });
        Ok(())
    }

    /// Stores a regular file's contents at `path`, noting its MD5 if it is a
    /// conffile (`original` is its path in the archive).
    fn store_file<S: ContentSink<Handle = H>>(
        &mut self,
        sink: &mut S,
        path: &str,
        original: &str,
        entry: &mut DataEntry<'_>,
    ) -> Result<H, InstallError> {
        let absolute = format!("/{original}");
        let size = entry.size;
        let store_err = |source| InstallError::Store {
            path: path.to_owned(),
            source,
        };
        if self.conffile_paths.contains(&absolute) {
            let mut hashing = HashingReader {
                inner: entry,
                md5: Md5::new(),
            };
            let h = sink.store(path, size, &mut hashing).map_err(store_err)?;
            self.conffile_md5.insert(absolute, hashing.md5.hex());
            Ok(h)
        } else {
            sink.store(path, size, entry).map_err(store_err)
        }
    }
}

impl<S: ContentSink> Installation<'_, S> {
    /// Places one unpacked package (a directory already in the layer is kept as it
    /// is) and records it in the dpkg database.
    fn add_package(
        &mut self,
        order: usize,
        control: &ControlInfo,
        unpacked: Unpacked<S::Handle>,
    ) -> Result<(), InstallError> {
        let para = control.paragraph()?;
        let id = PackageId::read(&para)?;
        for mut file in unpacked.entries {
            if matches!(file.kind, LayerKind::Dir) && self.tree.contains_key(&file.path) {
                continue;
            }
            file.origin = Some(order);
            self.tree.insert(file.path.clone(), file);
        }
        let info = format!("{DPKG_DIR}/info/{}", id.info_name());
        self.write_info(&info, control, &unpacked.list)?;
        self.record_status(&id, &para, control, &unpacked.conffile_md5);
        self.note_scripts(order, &id.package, control);
        Ok(())
    }

    /// Writes `info/<pkg>.list`, `.md5sums` and `.conffiles` (`info` is the path
    /// without the extension).
    fn write_info(
        &mut self,
        info: &str,
        control: &ControlInfo,
        list: &str,
    ) -> Result<(), InstallError> {
        put_text(&mut self.tree, self.sink, &format!("{info}.list"), list)?;
        if !control.md5sums.is_empty() {
            let text: String = control
                .md5sums
                .iter()
                .map(|m| format!("{}  {}\n", m.md5, m.path))
                .collect();
            put_text(&mut self.tree, self.sink, &format!("{info}.md5sums"), &text)?;
        }
        if !control.conffiles.is_empty() {
            let text: String = control
                .conffiles
                .iter()
                .map(|c| {
                    let mut line = c.flags.join(" ");
                    if !line.is_empty() {
                        line.push(' ');
                    }
                    line.push_str(&c.path);
                    line.push('\n');
                    line
                })
                .collect();
            put_text(
                &mut self.tree,
                self.sink,
                &format!("{info}.conffiles"),
                &text,
            )?;
        }
        Ok(())
    }

    /// Sets the package's `status` paragraph, with each conffile's MD5 as shipped.
    fn record_status(
        &mut self,
        id: &PackageId,
        para: &Paragraph<'_>,
        control: &ControlInfo,
        conffile_md5: &BTreeMap<String, String>,
    ) {
        let conffiles_field: String = control
            .conffiles
            .iter()
            .map(|c| {
                let md5 = conffile_md5
                    .get(&c.path)
                    .map_or("newconffile", String::as_str);
                let mut line = format!("\n {} {md5}", c.path);
                for flag in &c.flags {
                    line.push(' ');
                    line.push_str(flag);
                }
                line
            })
            .collect();
        let entry = status_entry(para, &conffiles_field);
        // A new version replaces the base's entry for the same package (and
        // architecture, for Multi-Arch: same).
        self.status.retain(|(name, a), _| {
            !(name == &id.package && (!id.multi_arch_same || a == &id.arch || a == "all"))
        });
        self.status
            .insert((id.package.clone(), id.arch.clone()), entry);
    }

    /// Collects the alternatives the install scripts register, and reports what
    /// else they would have run.
    fn note_scripts(&mut self, order: usize, package: &str, control: &ControlInfo) {
        for script in INSTALL_SCRIPTS {
            let Some(text) = control.scripts.get(script) else {
                continue;
            };
            let analysis = analyze_script(text);
            for mut r in analysis.alternatives {
                r.order = order;
                self.registrations.push(r);
            }
            if !analysis.other.is_empty() {
                self.skipped.push(SkippedScript {
                    package: package.to_owned(),
                    script: script.to_owned(),
                    summary: format!(
                        "runs {}",
                        analysis
                            .other
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
    }

    /// Writes `status`, makes the alternatives links and adds missing parents.
    fn finish(mut self) -> Result<Layer<S::Handle>, InstallError> {
        let status_text: String = self.status.values().map(|p| format!("{p}\n")).collect();
        put_text(
            &mut self.tree,
            self.sink,
            &format!("{DPKG_DIR}/status"),
            &status_text,
        )?;
        alternatives(&mut self.tree, self.sink, self.merged, &self.registrations)?;
        add_missing_parents(&mut self.tree, self.merged);
        Ok(Layer {
            files: self.tree.into_values().collect(),
            skipped: self.skipped,
        })
    }
}

struct HashingReader<'a, R: Read> {
    inner: &'a mut R,
    md5: Md5,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.md5.update(&buf[..n]);
        Ok(n)
    }
}

/// Maps a path under a merged-/usr directory to its `/usr` location. `None` for
/// the merged directory itself (the base's symlink must stay) and for the root.
fn remap(merged: &BTreeMap<String, String>, path: &str) -> Option<String> {
    if path.is_empty() {
        return None;
    }
    let (first, rest) = match path.split_once('/') {
        Some((f, r)) => (f, Some(r)),
        None => (path, None),
    };
    match (merged.get(first), rest) {
        (Some(_), None) => None,
        (Some(target), Some(rest)) => Some(format!("{}/{rest}", target.trim_matches('/'))),
        (None, _) => Some(path.to_owned()),
    }
}

fn put_text<S: ContentSink>(
    tree: &mut BTreeMap<String, LayerFile<S::Handle>>,
    sink: &mut S,
    path: &str,
    text: &str,
) -> Result<(), InstallError> {
    put(tree, sink, path, text.as_bytes(), 0o644)
}

fn put<S: ContentSink>(
    tree: &mut BTreeMap<String, LayerFile<S::Handle>>,
    sink: &mut S,
    path: &str,
    bytes: &[u8],
    mode: u32,
) -> Result<(), InstallError> {
    let handle = sink
        .store(path, bytes.len() as u64, &mut &bytes[..])
        .map_err(|source| InstallError::Store {
            path: path.to_owned(),
            source,
        })?;
    tree.insert(
        path.to_owned(),
        LayerFile {
            path: path.to_owned(),
            kind: LayerKind::File(handle),
            mode,
            uid: 0,
            gid: 0,
            origin: None,
        },
    );
    Ok(())
}

/// Adds `0755 root` directories for parents no package shipped, so the layer
/// is self-contained; merged-/usr names are never added (the base's symlinks stay).
pub(crate) fn add_missing_parents<H>(
    tree: &mut BTreeMap<String, LayerFile<H>>,
    merged: &BTreeMap<String, String>,
) {
    let mut missing = BTreeSet::new();
    for path in tree.keys() {
        let mut p = path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            if !tree.contains_key(parent) && !merged.contains_key(parent) {
                missing.insert(parent.to_owned());
            }
            p = parent;
        }
    }
    for path in missing {
        tree.insert(
            path.clone(),
            LayerFile {
                path,
                kind: LayerKind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
                origin: None,
            },
        );
    }
}

/// The base's status paragraphs keyed by (package, architecture), as written.
fn base_status(text: &str) -> Result<BTreeMap<(String, String), String>, InstallError> {
    let mut out = BTreeMap::new();
    for p in paragraphs(text) {
        let p = p.map_err(InstallError::BaseStatus)?;
        let name = p
            .get("Package")
            .ok_or(InstallError::BaseStatusEntry { line: p.line() })?
            .trim()
            .to_owned();
        let arch = p.get("Architecture").unwrap_or("").trim().to_owned();
        let mut s = String::new();
        p.write_to(&mut s);
        out.insert((name, arch), s);
    }
    Ok(out)
}

/// Fields in the order dpkg writes them to `status`; fields it does not know
/// follow in the control file's order, as dpkg keeps them.
const STATUS_ORDER: &[&str] = &[
    "Package",
    "Essential",
    "Protected",
    "Status",
    "Priority",
    "Section",
    "Installed-Size",
    "Origin",
    "Maintainer",
    "Bugs",
    "Architecture",
    "Multi-Arch",
    "Source",
    "Version",
    "Config-Version",
    "Replaces",
    "Provides",
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Suggests",
    "Breaks",
    "Conflicts",
    "Enhances",
    "Conffiles",
    "Description",
    "Triggers-Pending",
    "Triggers-Awaited",
];

/// Fields of a `Packages` stanza that a control file may carry but `status` never
/// does.
const NOT_IN_STATUS: &[&str] = &["Filename", "Size", "MD5sum", "SHA1", "SHA256", "Status"];

fn status_entry(control: &Paragraph<'_>, conffiles: &str) -> String {
    let mut out = String::new();
    let mut push = |name: &str, value: &str| {
        out.push_str(name);
        out.push(':');
        if !value.is_empty() && !value.starts_with('\n') {
            out.push(' ');
        }
        out.push_str(value);
        out.push('\n');
    };
    for &name in STATUS_ORDER {
        match name {
            "Status" => push("Status", "install ok installed"),
            "Conffiles" if !conffiles.is_empty() => push("Conffiles", conffiles),
            _ => {
                if let Some(f) = control.field(name) {
                    push(name, f.value());
                }
            }
        }
    }
    for f in control.fields() {
        let known = STATUS_ORDER
            .iter()
            .chain(NOT_IN_STATUS)
            .any(|k| k.eq_ignore_ascii_case(f.name()));
        if !known {
            push(f.name(), f.value());
        }
    }
    out
}

struct ScriptAnalysis {
    alternatives: Vec<Registration>,
    /// Commands that were skipped, sorted.
    other: BTreeSet<String>,
}

/// Reads a maintainer script without running it: finds `update-alternatives
/// --install` calls with literal arguments and names every other command.
fn analyze_script(text: &str) -> ScriptAnalysis {
    let mut alternatives = Vec::new();
    let mut other = BTreeSet::new();
    // Join backslash continuations.
    let joined = text.replace("\\\r\n", " ").replace("\\\n", " ");
    for line in joined.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.split(" #").next().unwrap_or(line);
        // A `case` pattern (`configure)`, `abort-upgrade|abort-remove)`) is not a command.
        let line = match line.find(')') {
            Some(pos) if !line[..pos].contains([' ', '\t', '(']) => &line[pos + 1..],
            _ => line,
        };
        for command in line.split([';', '|', '&', '(', ')', '`']) {
            let mut words = command.split_whitespace().peekable();
            // Skip keywords, case patterns and variable assignments.
            while let Some(w) = words.peek() {
                let skip = matches!(
                    *w,
                    "if" | "then" | "else" | "elif" | "do" | "while" | "until" | "!" | "{" | "exec"
                ) || w.ends_with(')')
                    || (w.contains('=') && !w.starts_with('=') && !w.starts_with('-'));
                if !skip {
                    break;
                }
                words.next();
            }
            let words: Vec<&str> = words.collect();
            let Some(&cmd) = words.first() else {
                continue;
            };
            let base = cmd.rsplit('/').next().unwrap_or(cmd);
            if matches!(base, "case" | "for" | "in")
                || base.ends_with("()")
                || base.starts_with('"') && words.len() == 1
            {
                continue;
            }
            if HARMLESS.contains(&base) {
                continue;
            }
            if base == "update-alternatives" {
                match parse_alternative(&words[1..]) {
                    Some(Some(r)) => alternatives.push(r),
                    // `--remove` and friends: nothing to do on a fresh install.
                    Some(None) => {}
                    None => {
                        other.insert(
                            "update-alternatives (with arguments only known at run time)"
                                .to_owned(),
                        );
                    }
                }
                continue;
            }
            other.insert(base.to_owned());
        }
    }
    ScriptAnalysis {
        alternatives,
        other,
    }
}

/// `Some(Some(_))` for an `--install` with literal arguments, `Some(None)` for a
/// call that changes nothing on a fresh install, `None` when it cannot be read.
fn parse_alternative(args: &[&str]) -> Option<Option<Registration>> {
    let literal = |s: &str| {
        let s = s.trim_matches(|c| c == '"' || c == '\'');
        (!s.is_empty() && !s.contains('$') && !s.contains('*')).then(|| s.to_owned())
    };
    let mut i = 0;
    // Leading options such as `--quiet`.
    while i < args.len() && args[i].starts_with("--") && args[i] != "--install" {
        if matches!(
            args[i],
            "--remove"
                | "--remove-all"
                | "--auto"
                | "--set"
                | "--config"
                | "--display"
                | "--query"
                | "--list"
        ) {
            return Some(None);
        }
        i += 1;
    }
    if args.get(i) != Some(&"--install") {
        return None;
    }
    let link = literal(args.get(i + 1)?)?;
    let name = literal(args.get(i + 2)?)?;
    let path = literal(args.get(i + 3)?)?;
    let priority = literal(args.get(i + 4)?)?.parse().ok()?;
    let mut slaves = Vec::new();
    let mut j = i + 5;
    while j < args.len() {
        if args[j] != "--slave" {
            return None;
        }
        slaves.push((
            literal(args.get(j + 1)?)?,
            literal(args.get(j + 2)?)?,
            literal(args.get(j + 3)?)?,
        ));
        j += 4;
    }
    Some(Some(Registration {
        link,
        name,
        path,
        priority,
        slaves,
        order: 0,
    }))
}

/// Makes the links of the winning registration of each name (highest priority;
/// the first registered on a tie) and writes dpkg's alternatives database.
fn alternatives<S: ContentSink>(
    tree: &mut BTreeMap<String, LayerFile<S::Handle>>,
    sink: &mut S,
    merged: &BTreeMap<String, String>,
    registrations: &[Registration],
) -> Result<(), InstallError> {
    let mut by_name: BTreeMap<&str, Vec<&Registration>> = BTreeMap::new();
    for r in registrations {
        by_name.entry(r.name.as_str()).or_default().push(r);
    }
    let link = |tree: &mut BTreeMap<String, LayerFile<S::Handle>>, from: &str, to: String| {
        let rel = from.trim_start_matches('/');
        if let Some(path) = remap(merged, rel) {
            tree.insert(
                path.clone(),
                LayerFile {
                    path,
                    kind: LayerKind::Symlink(to),
                    mode: 0o777,
                    uid: 0,
                    gid: 0,
                    origin: None,
                },
            );
        }
    };
    for (name, regs) in by_name {
        let Some(winner) = regs
            .iter()
            .copied()
            .max_by(|a, b| a.priority.cmp(&b.priority).then(b.order.cmp(&a.order)))
        else {
            continue;
        };
        link(tree, &winner.link, format!("/etc/alternatives/{name}"));
        link(
            tree,
            &format!("/etc/alternatives/{name}"),
            winner.path.clone(),
        );
        for (slave_link, slave_name, slave_path) in &winner.slaves {
            link(tree, slave_link, format!("/etc/alternatives/{slave_name}"));
            link(
                tree,
                &format!("/etc/alternatives/{slave_name}"),
                slave_path.clone(),
            );
        }
        // dpkg's database: mode, master link, slave names and links, then each
        // alternative with its priority and slave paths.
        let mut slave_names: Vec<(&str, &str)> = Vec::new();
        for r in &regs {
            for (l, n, _) in &r.slaves {
                if !slave_names.iter().any(|(sn, _)| sn == n) {
                    slave_names.push((n, l));
                }
            }
        }
        let mut db = format!("auto\n{}\n", winner.link);
        for (n, l) in &slave_names {
            db.push_str(&format!("{n}\n{l}\n"));
        }
        db.push('\n');
        for r in &regs {
            db.push_str(&format!("{}\n{}\n", r.path, r.priority));
            for (n, _) in &slave_names {
                let p = r
                    .slaves
                    .iter()
                    .find(|(_, sn, _)| sn == n)
                    .map_or("", |(_, _, p)| p);
                db.push_str(&format!("{p}\n"));
            }
        }
        db.push('\n');
        put_text(tree, sink, &format!("{DPKG_DIR}/alternatives/{name}"), &db)?;
    }
    Ok(())
}

impl crate::hint::Hint for InstallError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Deb(error) => error.hints(),
            Self::BaseStatus(error) => error.hints(),
            Self::BaseStatusEntry { .. }
            | Self::MissingField { .. }
            | Self::Store { .. }
            | Self::DanglingHardlink { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdeb::*;
    use super::*;

    /// Keeps every file's contents in memory.
    struct MemorySink;

    impl ContentSink for MemorySink {
        type Handle = Vec<u8>;
        fn store(&mut self, _path: &str, size: u64, reader: &mut dyn Read) -> io::Result<Vec<u8>> {
            let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 24));
            reader.read_to_end(&mut out)?;
            Ok(out)
        }
    }

    struct Pkg<'a> {
        control: &'a str,
        md5sums: &'a str,
        conffiles: &'a str,
        postinst: &'a str,
        data: Vec<E<'a>>,
    }

    fn build(p: &Pkg<'_>) -> Vec<u8> {
        let mut c = vec![dir("./"), file("./control", 0o644, p.control.as_bytes())];
        if !p.md5sums.is_empty() {
            c.push(file("./md5sums", 0o644, p.md5sums.as_bytes()));
        }
        if !p.conffiles.is_empty() {
            c.push(file("./conffiles", 0o644, p.conffiles.as_bytes()));
        }
        if !p.postinst.is_empty() {
            c.push(file("./postinst", 0o755, p.postinst.as_bytes()));
        }
        deb_of(
            &tar_of(&c),
            "control.tar.xz",
            &tar_of(&p.data),
            "data.tar.zst",
        )
    }

    fn merged() -> BTreeMap<String, String> {
        ["bin", "lib", "lib64", "sbin"]
            .iter()
            .map(|d| ((*d).to_owned(), format!("usr/{d}")))
            .collect()
    }

    fn run(base: &InstallBase<'_>, debs: &[Vec<u8>]) -> Layer<Vec<u8>> {
        let opened: Vec<Deb<&[u8]>> = debs.iter().map(|d| Deb::new(&d[..]).unwrap()).collect();
        install(base, opened, &mut MemorySink).unwrap_or_else(|e| panic!("{e}"))
    }

    fn text<'a>(layer: &'a Layer<Vec<u8>>, path: &str) -> &'a str {
        let f = layer
            .files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("{path} missing"));
        match &f.kind {
            LayerKind::File(b) => std::str::from_utf8(b).unwrap(),
            other => panic!("{path} is {other:?}"),
        }
    }

    fn kind<'a>(layer: &'a Layer<Vec<u8>>, path: &str) -> Option<&'a LayerKind<Vec<u8>>> {
        layer.files.iter().find(|f| f.path == path).map(|f| &f.kind)
    }

    const TOOL_CONTROL: &str = "Package: tool\nVersion: 2.0-1\nArchitecture: amd64\nMaintainer: Someone <a@b.c>\nInstalled-Size: 10\nDepends: libc6 (>= 2.34)\nSection: utils\nPriority: optional\nHomepage: https://tool.invalid/\nDescription: a tool\n Does things.\n .\n More.\nMulti-Arch: foreign\n";

    fn tool() -> Vec<u8> {
        build(&Pkg {
            control: TOOL_CONTROL,
            md5sums: "d41d8cd98f00b204e9800998ecf8427e  bin/tool\n",
            conffiles: "/etc/tool.conf\n",
            postinst: "",
            data: vec![
                dir("./"),
                dir("./bin/"),
                file("./bin/tool", 0o755, b""),
                hardlink("./bin/tool2", "./bin/tool"),
                dir("./sbin/"),
                symlink("./sbin/t", "/bin/tool"),
                dir("./etc/"),
                file("./etc/tool.conf", 0o644, b"abc"),
                dir("./usr/"),
                dir("./usr/lib/"),
                dir("./lib/"),
                dir("./lib/x86_64-linux-gnu/"),
                file("./lib/x86_64-linux-gnu/libt.so.1", 0o644, b"elf"),
            ],
        })
    }

    const BASE_STATUS: &str = "Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13\nArchitecture: amd64\n\nPackage: tool\nStatus: install ok installed\nVersion: 1.0-1\nArchitecture: amd64\n\nPackage: libc6\nStatus: install ok installed\nVersion: 2.36-9\nArchitecture: amd64\nMulti-Arch: same\n";

    #[test]
    fn merged_usr_remap_and_dpkg_database() {
        let base = InstallBase {
            merged_usr: merged(),
            status: BASE_STATUS,
        };
        let layer = run(&base, &[tool()]);
        let paths: Vec<&str> = layer.files.iter().map(|f| f.path.as_str()).collect();
        let mut sorted = paths.clone();
        sorted.sort_unstable();
        assert_eq!(paths, sorted);
        for top in ["bin", "lib", "sbin", ""] {
            assert!(!paths.contains(&top), "{top} must not be in the layer");
        }
        assert!(matches!(kind(&layer, "usr/bin/tool"), Some(LayerKind::File(b)) if b.is_empty()));
        assert_eq!(
            kind(&layer, "usr/bin/tool2"),
            Some(&LayerKind::Hardlink("usr/bin/tool".into()))
        );
        assert_eq!(
            kind(&layer, "usr/sbin/t"),
            Some(&LayerKind::Symlink("/bin/tool".into()))
        );
        assert_eq!(text(&layer, "usr/lib/x86_64-linux-gnu/libt.so.1"), "elf");
        assert_eq!(
            kind(&layer, "usr/lib/x86_64-linux-gnu"),
            Some(&LayerKind::Dir)
        );
        for dir in ["var", "var/lib", "var/lib/dpkg", "var/lib/dpkg/info"] {
            assert_eq!(kind(&layer, dir), Some(&LayerKind::Dir), "{dir}");
        }
        // The .list keeps the paths as the package shipped them, in archive order.
        assert_eq!(
            text(&layer, "var/lib/dpkg/info/tool.list"),
            "/.\n/bin\n/bin/tool\n/bin/tool2\n/sbin\n/sbin/t\n/etc\n/etc/tool.conf\n/usr\n/usr/lib\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libt.so.1\n"
        );
        assert_eq!(
            text(&layer, "var/lib/dpkg/info/tool.md5sums"),
            "d41d8cd98f00b204e9800998ecf8427e  bin/tool\n"
        );
        assert_eq!(
            text(&layer, "var/lib/dpkg/info/tool.conffiles"),
            "/etc/tool.conf\n"
        );
        assert_eq!(
            text(&layer, "var/lib/dpkg/status"),
            "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\nArchitecture: amd64\nMulti-Arch: same\n\n\
             Package: tool\nStatus: install ok installed\nPriority: optional\nSection: utils\nInstalled-Size: 10\n\
             Maintainer: Someone <a@b.c>\nArchitecture: amd64\nMulti-Arch: foreign\nVersion: 2.0-1\n\
             Depends: libc6 (>= 2.34)\nConffiles:\n /etc/tool.conf 900150983cd24fb0d6963f7d28e17f72\n\
             Description: a tool\n Does things.\n .\n More.\nHomepage: https://tool.invalid/\n\n\
             Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13\nArchitecture: amd64\n\n"
        );
        assert!(layer.skipped.is_empty());
        let f = layer
            .files
            .iter()
            .find(|f| f.path == "usr/bin/tool")
            .unwrap();
        assert_eq!((f.mode, f.uid, f.gid), (0o755, 0, 0));
    }

    #[test]
    fn without_merged_usr_paths_stay() {
        let layer = run(&InstallBase::default(), &[tool()]);
        assert!(matches!(kind(&layer, "bin/tool"), Some(LayerKind::File(_))));
        assert_eq!(kind(&layer, "bin"), Some(&LayerKind::Dir));
        assert_eq!(
            kind(&layer, "bin/tool2"),
            Some(&LayerKind::Hardlink("bin/tool".into()))
        );
        assert!(text(&layer, "var/lib/dpkg/status").starts_with("Package: tool\n"));
    }

    #[test]
    fn multi_arch_same_info_names() {
        let lib = build(&Pkg {
            control: "Package: libfoo1\nVersion: 1\nArchitecture: amd64\nMulti-Arch: same\nDescription: foo\n",
            md5sums: "0123456789abcdef0123456789abcdef  usr/lib/libfoo.so.1\n",
            conffiles: "",
            postinst: "#!/bin/sh\nset -e\nif [ \"$1\" = \"configure\" ]; then\n  ldconfig\nfi\n",
            data: vec![
                dir("./"),
                dir("./usr/"),
                dir("./usr/lib/"),
                file("./usr/lib/libfoo.so.1", 0o644, b"x"),
            ],
        });
        let layer = run(&InstallBase::default(), &[lib]);
        assert_eq!(
            text(&layer, "var/lib/dpkg/info/libfoo1:amd64.list"),
            "/.\n/usr\n/usr/lib\n/usr/lib/libfoo.so.1\n"
        );
        assert!(kind(&layer, "var/lib/dpkg/info/libfoo1:amd64.md5sums").is_some());
        assert!(kind(&layer, "var/lib/dpkg/info/libfoo1.list").is_none());
        assert!(
            text(&layer, "var/lib/dpkg/status")
                .starts_with("Package: libfoo1\nStatus: install ok installed\n")
        );
        // `ldconfig` is not needed for standard paths, so nothing is reported.
        assert!(layer.skipped.is_empty(), "{:?}", layer.skipped);
    }

    #[test]
    fn alternatives_and_skipped_scripts() {
        let vim = build(&Pkg {
            control: "Package: vim\nVersion: 1\nArchitecture: amd64\nDescription: v\n",
            md5sums: "",
            conffiles: "",
            postinst: "#!/bin/sh\nset -e\ncase \"$1\" in\n  configure)\n    update-alternatives --install /usr/bin/editor editor /usr/bin/vim 50 \\\n      --slave /usr/share/man/man1/editor.1.gz editor.1.gz /usr/share/man/man1/vim.1.gz\n    ;;\nesac\n",
            data: vec![
                dir("./"),
                dir("./usr/"),
                dir("./usr/bin/"),
                file("./usr/bin/vim", 0o755, b"v"),
            ],
        });
        let nano = build(&Pkg {
            control: "Package: nano\nVersion: 1\nArchitecture: amd64\nDescription: n\n",
            md5sums: "",
            conffiles: "",
            postinst: "#!/bin/sh\nset -e\nupdate-alternatives --install /bin/editor editor /bin/nano 40\nupdate-alternatives --install /usr/bin/pico pico /bin/nano 10\nadduser --system nano\nchown nano /var/lib/nano # own it\nupdate-alternatives --install /usr/bin/x x \"$DIR/x\" 5\n",
            data: vec![dir("./"), dir("./bin/"), file("./bin/nano", 0o755, b"n")],
        });
        let base = InstallBase {
            merged_usr: merged(),
            status: "",
        };
        let layer = run(&base, &[nano, vim]);
        let link = |p: &str| match kind(&layer, p) {
            Some(LayerKind::Symlink(t)) => t.clone(),
            other => panic!("{p}: {other:?}"),
        };
        // vim's priority 50 beats nano's 40; nano's `/bin/editor` is not linked.
        assert_eq!(link("usr/bin/editor"), "/etc/alternatives/editor");
        assert_eq!(link("etc/alternatives/editor"), "/usr/bin/vim");
        assert_eq!(
            link("usr/share/man/man1/editor.1.gz"),
            "/etc/alternatives/editor.1.gz"
        );
        assert_eq!(
            link("etc/alternatives/editor.1.gz"),
            "/usr/share/man/man1/vim.1.gz"
        );
        assert_eq!(link("usr/bin/pico"), "/etc/alternatives/pico");
        assert_eq!(link("etc/alternatives/pico"), "/bin/nano");
        assert!(kind(&layer, "bin").is_none() && kind(&layer, "bin/editor").is_none());
        assert_eq!(kind(&layer, "etc/alternatives"), Some(&LayerKind::Dir));
        assert_eq!(
            text(&layer, "var/lib/dpkg/alternatives/editor"),
            "auto\n/usr/bin/editor\neditor.1.gz\n/usr/share/man/man1/editor.1.gz\n\n/bin/nano\n40\n\n/usr/bin/vim\n50\n/usr/share/man/man1/vim.1.gz\n\n"
        );
        assert_eq!(
            layer.skipped,
            [SkippedScript {
                package: "nano".into(),
                script: "postinst".into(),
                summary: "runs `adduser`, `chown`, `update-alternatives (with arguments only known at run time)`".into(),
            }]
        );
    }

    /// Each entry names the package that placed it: a file two packages ship is the
    /// later's, a directory the first's, the dpkg database nobody's.
    #[test]
    fn origins_name_the_package_that_placed_each_entry() {
        let pkg = |name: &'static str, body: &'static [u8]| Pkg {
            control: if name == "a" {
                "Package: a\nVersion: 1\nArchitecture: all\n"
            } else {
                "Package: b\nVersion: 1\nArchitecture: all\n"
            },
            md5sums: "",
            conffiles: "",
            postinst: "",
            data: vec![
                dir("./"),
                dir("./usr/"),
                dir("./usr/share/"),
                file("./usr/share/x", 0o644, body),
            ],
        };
        let layer = run(
            &InstallBase::default(),
            &[build(&pkg("a", b"a")), build(&pkg("b", b"b"))],
        );
        let origin = |p: &str| layer.files.iter().find(|f| f.path == p).map(|f| f.origin);
        assert_eq!(text(&layer, "usr/share/x"), "b");
        assert_eq!(origin("usr/share/x"), Some(Some(1)));
        assert_eq!(origin("usr/share"), Some(Some(0)));
        assert_eq!(origin("var/lib/dpkg/status"), Some(None));
        assert_eq!(origin("var/lib/dpkg/info/a.list"), Some(None));
        assert_eq!(origin("var"), Some(None));
    }

    #[test]
    fn dangling_hardlink_is_refused() {
        let bad = build(&Pkg {
            control: "Package: bad\nVersion: 1\nArchitecture: all\n",
            md5sums: "",
            conffiles: "",
            postinst: "",
            data: vec![dir("./"), hardlink("./x", "./etc/shadow")],
        });
        let err = install(
            &InstallBase::default(),
            [Deb::new(&bad[..]).unwrap()],
            &mut MemorySink,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Package `bad` ships `/x` as a hardlink to `/etc/shadow`, which it did not ship before"
        );
    }
}
