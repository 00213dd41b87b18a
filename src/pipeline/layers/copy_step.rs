//! The Dockerfile's `COPY` and `ADD` (from the build context or an earlier stage) and
//! `WORKDIR` (the directory made when missing) as layers. Each is a deterministic tree
//! whose derivation key is its inputs' hashes: the copied files' content hashes, their
//! destination paths, owners and modes (the tree key, as the project layer's), and the
//! compression (the steps above see the key without it).
//!
//! Docker's rules: sources relative to the context root (a leading `/` too), globs per
//! path component, a directory copies its contents, several sources need a
//! destination ending in `/`, a file onto a destination ending in `/` (or an existing
//! directory) keeps its name, missing parents are made (owned by `--chown`), `ADD` of a
//! local tar (gzip, xz, bzip2 or plain) is extracted. Nothing leaves the context: `..` past
//! its root is refused, and the links inside it were checked when it was read.

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::collections::BTreeMap;
use std::io::Read;
use std::rc::Rc;
use std::sync::Arc;

use super::copy_archive::{ArchiveEntry, ArchiveKind, archive_kind, read_archive};
use super::project::ProjectFiles;
use super::{Below, LayerStep, StoredLayer};
use crate::confine::{LinkError, Node, resolve_in_root};
use crate::digest::Digest;
use crate::image::BaseFacts;
use crate::layer::{Compression, Entry, EntryKind, FileSource, FileTree, Owner, read_whole};
use crate::pipeline::BuildError;
use crate::pipeline::options::Reporter;
use crate::project::WalkedKind;
use crate::project::dockerfile::CopySpec;
use crate::project::dockerignore::DockerIgnore;
use crate::store::Store;

/// An error of a `COPY`, `ADD` or `WORKDIR` step; each names the Dockerfile line.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "`{instruction}` at Dockerfile:{line}: `{source_path}` is not in the build context (or `.dockerignore` excludes it)"
    )]
    NotFound {
        line: usize,
        instruction: String,
        source_path: String,
    },
    #[error(
        "`{instruction}` at Dockerfile:{line}: `{source_path}` is not in the stage or image it copies from"
    )]
    NotInStage {
        line: usize,
        instruction: String,
        source_path: String,
    },
    #[error(
        "`{instruction}` at Dockerfile:{line}: `{source_path}` leads outside the build context"
    )]
    Escapes {
        line: usize,
        instruction: String,
        source_path: String,
    },
    #[error("`{instruction}` at Dockerfile:{line}: {message}")]
    Invalid {
        line: usize,
        instruction: String,
        message: String,
    },
    #[error(transparent)]
    Rootfs(#[from] crate::sandbox::RootfsError),
    #[error("`{instruction}` at Dockerfile:{line}: cannot read `{path}`")]
    Read {
        line: usize,
        instruction: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl crate::hint::Hint for CopyError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::NotFound { .. } => vec![
                "sources are relative to the project directory; check the path and the `.dockerignore`".into(),
            ],
            Self::Rootfs(error) => error.hints(),
            Self::NotInStage { .. }
            | Self::Escapes { .. }
            | Self::Invalid { .. }
            | Self::Read { .. } => Vec::new(),
        }
    }
}

/// One file or directory a step can copy, by its path relative to its root.
#[derive(Debug, Clone)]
pub(in crate::pipeline) enum SourceEntry {
    Dir,
    File {
        source: FileSource,
        size: u64,
        sha256: Digest,
        executable: bool,
    },
    Symlink(String),
}

/// The directories of the layers below a step, as far as the plan knows them: the
/// base's, the project layer's and those of the Dockerfile steps before it. A step
/// keeps an existing directory as it is and makes a missing one its own way.
pub(in crate::pipeline) struct DirsBelow<'a> {
    pub facts: Rc<BaseFacts>,
    /// The project layer, in the last stage only.
    pub files: Option<Rc<ProjectFiles<'a>>>,
    /// Directories the earlier steps made, with their mode and owner.
    pub added: RefCell<BTreeMap<String, (u32, Owner)>>,
}

impl DirsBelow<'_> {
    /// The mode and owner of the directory at `path` (image path without `/`).
    pub(super) fn get(
        &self,
        path: &str,
        reporter: &dyn Reporter,
    ) -> Result<Option<(u32, Owner)>, BuildError> {
        if let Some(meta) = self.added.borrow().get(path) {
            return Ok(Some(*meta));
        }
        if let Some(files) = &self.files
            && let Some(entry) = files.project_tree(reporter)?.get(path)
            && matches!(entry.kind, EntryKind::Dir)
        {
            return Ok(Some((entry.mode, entry.owner)));
        }
        Ok(self.facts.dirs.get(path).map(|meta| {
            (
                meta.mode & 0o7777,
                Owner {
                    uid: meta.uid,
                    gid: meta.gid,
                },
            )
        }))
    }

    pub(super) fn record(&self, tree: &FileTree) {
        let mut added = self.added.borrow_mut();
        for (path, entry) in tree.iter() {
            if matches!(entry.kind, EntryKind::Dir) {
                added.insert(path.to_string(), (entry.mode, entry.owner));
            }
        }
    }

    /// `path` (absolute) with the base's symlinked directories on its way followed
    /// (`/bin/x` is `usr/bin/x` on a merged-/usr base), without the leading `/`.
    pub(super) fn resolve(&self, path: &str) -> String {
        let lookup = |p: &str| {
            if let Some(target) = self.facts.symlinks.get(p) {
                Node::Symlink(target.clone())
            } else if self.facts.dirs.contains_key(p) {
                Node::Dir
            } else {
                Node::Missing
            }
        };
        let (dir, name) = match path.trim_end_matches('/').rsplit_once('/') {
            Some((dir, name)) => (dir, name),
            None => ("", path),
        };
        let dir = resolve_in_root(dir, lookup).unwrap_or_else(|_| dir.trim_matches('/').into());
        match (dir.is_empty(), name.is_empty()) {
            (_, true) => dir,
            (true, false) => name.to_string(),
            (false, false) => format!("{dir}/{name}"),
        }
    }
}

/// Where a step's sources are read.
pub(in crate::pipeline) enum Sources<'a> {
    /// The build context (the project directory, `.dockerignore` applied).
    Context(Rc<ProjectFiles<'a>>),
    /// An earlier stage's root filesystem.
    Stage(Rc<dyn StageRoot + 'a>),
}

/// The files of an earlier stage (or an image), read when first needed.
pub(in crate::pipeline) trait StageRoot {
    /// What `patterns` name in the stage's root: each match (globs expanded, links on
    /// the way followed) under its path as written, a directory with its contents.
    fn entries(
        &self,
        patterns: &[String],
        reporter: &dyn Reporter,
    ) -> Result<BTreeMap<String, SourceEntry>, BuildError>;
}

impl Sources<'_> {
    fn entries(
        &self,
        patterns: &[String],
        reporter: &dyn Reporter,
    ) -> Result<Cow<'_, BTreeMap<String, SourceEntry>>, BuildError> {
        Ok(match self {
            Self::Context(files) => Cow::Borrowed(files.context(reporter)?),
            Self::Stage(root) => Cow::Owned(root.entries(patterns, reporter)?),
        })
    }
}

/// The context's walked entries as copy sources.
pub(in crate::pipeline) fn context_entries(
    walked: &[crate::project::WalkedEntry],
) -> BTreeMap<String, SourceEntry> {
    walked
        .iter()
        .map(|e| {
            let entry = match &e.kind {
                WalkedKind::Dir => SourceEntry::Dir,
                WalkedKind::File {
                    size,
                    sha256,
                    executable,
                } => SourceEntry::File {
                    source: FileSource::Host(e.host.clone()),
                    size: *size,
                    sha256: sha256.clone(),
                    executable: *executable,
                },
                WalkedKind::Symlink { target } => SourceEntry::Symlink(target.clone()),
            };
            (e.rel.clone(), entry)
        })
        .collect()
}

/// A `COPY` or `ADD` step.
pub(in crate::pipeline) struct CopyStep<'a> {
    pub line: usize,
    pub created_by: String,
    pub spec: CopySpec,
    pub sources: Sources<'a>,
    /// `--chown` resolved (root without it).
    pub owner: Owner,
    pub dirs: Rc<DirsBelow<'a>>,
    pub mtime: u64,
    pub compression: Compression,
    pub tree: OnceCell<FileTree>,
}

impl CopyStep<'_> {
    fn word(&self) -> &'static str {
        if self.spec.add { "ADD" } else { "COPY" }
    }

    fn invalid(&self, message: String) -> BuildError {
        CopyError::Invalid {
            line: self.line,
            instruction: self.word().into(),
            message,
        }
        .into()
    }

    fn tree(&self, reporter: &dyn Reporter) -> Result<&FileTree, BuildError> {
        if let Some(tree) = self.tree.get() {
            return Ok(tree);
        }
        let tree = self.build(reporter)?;
        self.dirs.record(&tree);
        Ok(self.tree.get_or_init(|| tree))
    }

    /// The sources each pattern names: (path in the root, entry), in order.
    fn matches<'e>(
        &self,
        entries: &'e BTreeMap<String, SourceEntry>,
    ) -> Result<Vec<(String, &'e SourceEntry)>, BuildError> {
        let mut found = Vec::new();
        for pattern in &self.spec.sources {
            let clean = clean_source(pattern).ok_or_else(|| CopyError::Escapes {
                line: self.line,
                instruction: self.word().into(),
                source_path: pattern.clone(),
            })?;
            let before = found.len();
            if clean.is_empty() {
                found.push((String::new(), &SourceEntry::Dir));
            } else if has_glob(&clean) {
                for (path, entry) in entries {
                    if glob_path(&clean, path) {
                        found.push((path.clone(), entry));
                    }
                }
            } else {
                let lookup = |p: &str| match entries.get(p) {
                    Some(SourceEntry::Dir) => Node::Dir,
                    Some(SourceEntry::File { .. }) => Node::File,
                    Some(SourceEntry::Symlink(target)) => Node::Symlink(target.clone()),
                    None => Node::Missing,
                };
                match resolve_in_root(&clean, lookup) {
                    Ok(real) => {
                        if let Some(entry) = entries.get(&real) {
                            // Named through a link: the target's content, the link's name.
                            let name = clean.rsplit('/').next().unwrap_or(&clean);
                            found.push((format!("{real}\0{name}"), entry));
                        }
                    }
                    Err(LinkError::Escapes | LinkError::Absolute) => {
                        return Err(CopyError::Escapes {
                            line: self.line,
                            instruction: self.word().into(),
                            source_path: pattern.clone(),
                        }
                        .into());
                    }
                    Err(_) => {}
                }
            }
            if found.len() == before {
                let (line, instruction, source_path) =
                    (self.line, self.word().into(), pattern.clone());
                return Err(match self.sources {
                    Sources::Context(_) => CopyError::NotFound {
                        line,
                        instruction,
                        source_path,
                    },
                    Sources::Stage(_) => CopyError::NotInStage {
                        line,
                        instruction,
                        source_path,
                    },
                }
                .into());
            }
        }
        Ok(found)
    }

    /// Builds the step's tree.
    fn build(&self, reporter: &dyn Reporter) -> Result<FileTree, BuildError> {
        let entries = self.sources.entries(&self.spec.sources, reporter)?;
        let entries: &BTreeMap<String, SourceEntry> = &entries;
        let found = self.matches(entries)?;
        let dest = self.dirs.resolve(&self.spec.dest);
        let dest_is_dir = self.spec.dest.ends_with('/')
            || dest.is_empty()
            || self.dirs.get(&dest, reporter)?.is_some();
        if found.len() > 1 && !self.spec.dest.ends_with('/') {
            return Err(self.invalid(format!(
                "copies more than one source, so its destination `{}` must end with `/`",
                self.spec.dest
            )));
        }
        let exclude = match self.spec.exclude.is_empty() {
            true => None,
            false => Some(
                DockerIgnore::parse(&self.spec.exclude.join("\n"))
                    .map_err(|e| self.invalid(format!("has an invalid `--exclude`: {e}")))?,
            ),
        };
        let excluded = |rel: &str| exclude.as_ref().is_some_and(|e| e.is_excluded(rel));
        let mut tree = Layout::new();
        for (key, entry) in found {
            let (path, name) = match key.split_once('\0') {
                Some((path, name)) => (path.to_string(), name.to_string()),
                None => (
                    key.clone(),
                    key.rsplit('/').next().unwrap_or("").to_string(),
                ),
            };
            if excluded(&path) {
                continue;
            }
            match entry {
                SourceEntry::Dir => {
                    self.put_dir_contents(&mut tree, entries, &path, &dest, &excluded)?;
                    self.put(&mut tree, &dest, &SourceEntry::Dir)?;
                }
                SourceEntry::File { source, .. }
                    if self.spec.add && self.archive(source)?.is_some() =>
                {
                    let kind = self.archive(source)?.unwrap_or(ArchiveKind::Plain);
                    self.put_archive(&mut tree, (source, &path), kind, &dest)?;
                    self.put(&mut tree, &dest, &SourceEntry::Dir)?;
                }
                _ => {
                    let target = if dest_is_dir {
                        join(&dest, &name)
                    } else {
                        dest.clone()
                    };
                    self.put(&mut tree, &target, entry)?;
                }
            }
        }
        finish(tree, self.owner, &self.dirs, reporter)
    }

    /// The contents of the directory `dir` (in the root) under `dest`.
    fn put_dir_contents(
        &self,
        tree: &mut Layout,
        entries: &BTreeMap<String, SourceEntry>,
        dir: &str,
        dest: &str,
        excluded: &dyn Fn(&str) -> bool,
    ) -> Result<(), BuildError> {
        let prefix = match dir.is_empty() {
            true => String::new(),
            false => format!("{dir}/"),
        };
        for (path, entry) in entries.range(prefix.clone()..) {
            let Some(rest) = path.strip_prefix(&prefix) else {
                break;
            };
            if rest.is_empty() || excluded(path) || excluded(rest) {
                continue;
            }
            self.put(tree, &join(dest, rest), entry)?;
        }
        Ok(())
    }

    /// One entry at `path` (image path without `/`), with the step's owner and mode.
    fn put(&self, tree: &mut Layout, path: &str, entry: &SourceEntry) -> Result<(), BuildError> {
        if path.is_empty() {
            return Ok(());
        }
        let (kind, mode) = match entry {
            SourceEntry::Dir => (EntryKind::Dir, self.spec.chmod.unwrap_or(0o755)),
            SourceEntry::File {
                source,
                size,
                sha256,
                executable,
            } => (
                EntryKind::File {
                    source: source.clone(),
                    size: *size,
                    sha256: sha256.clone(),
                },
                self.spec
                    .chmod
                    .unwrap_or(if *executable { 0o755 } else { 0o644 }),
            ),
            SourceEntry::Symlink(target) => (
                EntryKind::Symlink {
                    target: target.clone(),
                },
                0o777,
            ),
        };
        // A later source wins, as a later write does in Docker.
        tree.insert(
            path.to_string(),
            Entry {
                kind,
                mode,
                owner: self.owner,
            },
        );
        Ok(())
    }

    /// What archive a local `ADD` source is, by its first bytes.
    fn archive(&self, source: &FileSource) -> Result<Option<ArchiveKind>, BuildError> {
        let mut head = [0u8; 512];
        let read = match source {
            FileSource::Bytes(bytes) => {
                let n = bytes.len().min(head.len());
                head[..n].copy_from_slice(&bytes[..n]);
                n
            }
            FileSource::Host(path) => {
                let file = std::fs::File::open(path).map_err(|e| self.read_error(path, e))?;
                let mut n = 0;
                let mut file = file.take(512);
                loop {
                    match file.read(&mut head[n..]) {
                        Ok(0) => break,
                        Ok(k) => n += k,
                        Err(e) => return Err(self.read_error(path, e)),
                    }
                }
                n
            }
            FileSource::Lazy(lazy) => {
                let bytes = read_whole(lazy.as_ref())
                    .map_err(|e| self.read_error(std::path::Path::new("(made)"), e))?;
                let n = bytes.len().min(head.len());
                head[..n].copy_from_slice(&bytes[..n]);
                n
            }
        };
        Ok(archive_kind(&head[..read]))
    }

    fn read_error(&self, path: &std::path::Path, source: std::io::Error) -> BuildError {
        CopyError::Read {
            line: self.line,
            instruction: self.word().into(),
            path: path.display().to_string(),
            source,
        }
        .into()
    }

    /// The entries of the archive `source` (named `name` in its root) under `dest`.
    fn put_archive(
        &self,
        tree: &mut Layout,
        (source, name): (&FileSource, &str),
        kind: ArchiveKind,
        dest: &str,
    ) -> Result<(), BuildError> {
        let reader: Box<dyn Read> = match source {
            FileSource::Bytes(bytes) => Box::new(std::io::Cursor::new(Arc::clone(bytes))),
            FileSource::Host(path) => {
                Box::new(std::fs::File::open(path).map_err(|e| self.read_error(path, e))?)
            }
            FileSource::Lazy(lazy) => Box::new(std::io::Cursor::new(
                read_whole(lazy.as_ref())
                    .map_err(|e| self.read_error(std::path::Path::new(name), e))?,
            )),
        };
        let invalid = |clause: String| self.invalid(format!("adds the archive `{name}`, {clause}"));
        let files = read_archive(reader, kind).map_err(invalid)?;
        for (rel, entry) in files {
            let path = join(dest, &rel);
            match entry {
                ArchiveEntry::Entry(entry) => self.put(tree, &path, &entry)?,
                ArchiveEntry::Hardlink(target) => {
                    let target = join(dest, &target);
                    if !tree.contains_key(&target) {
                        return Err(invalid(format!(
                            "whose hard link `{rel}` names no earlier file"
                        )));
                    }
                    tree.insert(
                        path,
                        Entry {
                            kind: EntryKind::Hardlink { target },
                            mode: 0o644,
                            owner: self.owner,
                        },
                    );
                }
            }
        }
        Ok(())
    }
}

/// A step's entries by image path, before they become a tree.
pub(super) type Layout = BTreeMap<String, Entry>;

/// The tree of `layout`, with every missing parent: a parent that exists below keeps
/// its mode and owner, a new one is 0755 and `owner`'s.
pub(super) fn finish(
    layout: Layout,
    owner: Owner,
    dirs: &DirsBelow<'_>,
    reporter: &dyn Reporter,
) -> Result<FileTree, BuildError> {
    let mut parents: BTreeMap<String, Entry> = BTreeMap::new();
    for path in layout.keys() {
        let mut end = 0;
        while let Some(pos) = path[end..].find('/') {
            end += pos;
            let parent = &path[..end];
            if !layout.contains_key(parent) && !parents.contains_key(parent) {
                let (mode, owner) = dirs.get(parent, reporter)?.unwrap_or((0o755, owner));
                parents.insert(
                    parent.to_string(),
                    Entry {
                        kind: EntryKind::Dir,
                        mode,
                        owner,
                    },
                );
            }
            end += 1;
        }
    }
    let mut tree = FileTree::new();
    for (path, entry) in layout.into_iter().chain(parents) {
        tree.insert(&path, entry)?;
    }
    Ok(tree)
}

impl LayerStep for CopyStep<'_> {
    fn kind(&self) -> &'static str {
        if self.spec.add { "add" } else { "copy" }
    }

    fn created_by(&self) -> String {
        self.created_by.clone()
    }

    fn reads_project(&self) -> bool {
        matches!(self.sources, Sources::Context(_))
    }

    fn key(
        &self,
        _below: &Below<'_>,
        reporter: &dyn Reporter,
    ) -> Result<Option<Digest>, BuildError> {
        let tree = self.tree(reporter)?;
        if tree.is_empty() {
            return Ok(None);
        }
        Ok(Some(tree.derivation_key_with(
            self.kind(),
            self.mtime,
            self.compression,
        )))
    }

    fn key_above(&self, key: &Digest) -> Digest {
        key_without_compression(self.tree.get(), self.kind(), self.mtime, key)
    }

    fn produce(
        &self,
        _key: &Digest,
        _below: &Below<'_>,
        store: &Store,
        reporter: &dyn Reporter,
    ) -> Result<StoredLayer, BuildError> {
        StoredLayer::of_tree(store, self.tree(reporter)?, self.mtime, self.compression)
    }
}

/// `WORKDIR`: the directory and its missing parents, owned by the `USER` in force, as
/// BuildKit makes them; no layer when the directory exists below.
pub(in crate::pipeline) struct WorkdirStep<'a> {
    pub created_by: String,
    /// Absolute.
    pub dir: String,
    pub owner: Owner,
    pub dirs: Rc<DirsBelow<'a>>,
    pub mtime: u64,
    pub compression: Compression,
    pub tree: OnceCell<FileTree>,
}

impl WorkdirStep<'_> {
    fn tree(&self, reporter: &dyn Reporter) -> Result<&FileTree, BuildError> {
        if let Some(tree) = self.tree.get() {
            return Ok(tree);
        }
        let path = self.dirs.resolve(&self.dir);
        let mut layout = Layout::new();
        if !path.is_empty() && self.dirs.get(&path, reporter)?.is_none() {
            let entry = Entry {
                kind: EntryKind::Dir,
                mode: 0o755,
                owner: self.owner,
            };
            layout.insert(path, entry);
        }
        let tree = finish(layout, self.owner, &self.dirs, reporter)?;
        self.dirs.record(&tree);
        Ok(self.tree.get_or_init(|| tree))
    }
}

impl LayerStep for WorkdirStep<'_> {
    fn kind(&self) -> &'static str {
        "workdir"
    }

    fn created_by(&self) -> String {
        self.created_by.clone()
    }

    fn key(
        &self,
        _below: &Below<'_>,
        reporter: &dyn Reporter,
    ) -> Result<Option<Digest>, BuildError> {
        let tree = self.tree(reporter)?;
        if tree.is_empty() {
            return Ok(None);
        }
        Ok(Some(tree.derivation_key_with(
            "workdir",
            self.mtime,
            self.compression,
        )))
    }

    fn key_above(&self, key: &Digest) -> Digest {
        key_without_compression(self.tree.get(), "workdir", self.mtime, key)
    }

    fn produce(
        &self,
        _key: &Digest,
        _below: &Below<'_>,
        store: &Store,
        reporter: &dyn Reporter,
    ) -> Result<StoredLayer, BuildError> {
        StoredLayer::of_tree(store, self.tree(reporter)?, self.mtime, self.compression)
    }
}

/// The key the steps above see for the layer of `tree` (made by `key`): its tree key
/// without the compression, so their keys (and the pins in the lock) are the same
/// for gzip and zstd builds. `key` itself when the tree was never made.
pub(super) fn key_without_compression(
    tree: Option<&FileTree>,
    kind: &str,
    mtime: u64,
    key: &Digest,
) -> Digest {
    tree.map_or_else(|| key.clone(), |tree| tree.derivation_key(kind, mtime))
}

pub(in crate::pipeline) fn is_url(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn is_git(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    lower.starts_with("git@")
        || lower.starts_with("git://")
        || lower.starts_with("ssh://")
        || ((lower.starts_with("http://") || lower.starts_with("https://"))
            && (lower.ends_with(".git") || lower.contains(".git#")))
}

/// Refuses the remote sources airlock does not take: any URL in a `COPY`, a git
/// repository, and an `ADD <URL>` without `--checksum` (BuildKit's pinning) or among
/// other sources.
pub(in crate::pipeline) fn check_remote(spec: &CopySpec, line: usize) -> Result<(), CopyError> {
    let word = if spec.add { "ADD" } else { "COPY" };
    let invalid = |message: String| CopyError::Invalid {
        line,
        instruction: word.into(),
        message,
    };
    for source in &spec.sources {
        if is_git(source) && spec.add {
            return Err(invalid(format!(
                "adds the git repository `{source}`; airlock does not fetch git sources: vendor the files into the project, or build a wheel and pin it in requirements.txt"
            )));
        }
        if !is_url(source) {
            continue;
        }
        if !spec.add {
            return Err(invalid(format!(
                "names the URL `{source}`; `COPY` takes files from the build context only (`ADD --checksum=sha256:… <URL>` downloads)"
            )));
        }
        if spec.checksum.is_none() {
            return Err(invalid(format!(
                "downloads `{source}` without `--checksum=sha256:…`; airlock downloads only what a checksum pins"
            )));
        }
        if spec.sources.len() > 1 {
            return Err(invalid(
                "downloads a URL among other sources; give each `ADD <URL>` its own line".into(),
            ));
        }
    }
    Ok(())
}

/// `dest` (image path without `/`, `""` for the root) joined with `rel`.
fn join(dest: &str, rel: &str) -> String {
    let dest = dest.trim_matches('/');
    match (dest.is_empty(), rel.is_empty()) {
        (true, _) => rel.to_string(),
        (false, true) => dest.to_string(),
        (false, false) => format!("{dest}/{rel}"),
    }
}

/// A source made relative to the root: a leading `/` and `.` dropped, `..` taken
/// lexically; `None` when it climbs above the root.
pub(in crate::pipeline) fn clean_source(source: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in source.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

pub(in crate::pipeline) fn has_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// Whether `path` matches `pattern` component by component (Go's `filepath.Match`).
fn glob_path(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    pattern.len() == path.len()
        && pattern
            .iter()
            .zip(&path)
            .all(|(p, n)| glob_match(p.as_bytes(), n.as_bytes()))
}

/// One component: `*`, `?`, `[...]` (ranges, `^` or `!` to negate) and `\` escapes.
pub(in crate::pipeline) fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| glob_match(rest, &name[i..])),
        Some((b'?', rest)) => !name.is_empty() && glob_match(rest, &name[1..]),
        Some((b'[', rest)) => {
            let Some((&c, name_rest)) = name.split_first() else {
                return false;
            };
            let (negate, mut class) = match rest.first() {
                Some(b'^' | b'!') => (true, &rest[1..]),
                _ => (false, rest),
            };
            let mut matched = false;
            let mut first = true;
            loop {
                match class.split_first() {
                    None => return false,
                    Some((b']', after)) if !first => {
                        class = after;
                        break;
                    }
                    Some((&lo, after)) => {
                        first = false;
                        let (lo, after) = match (lo, after) {
                            (b'\\', [escaped, tail @ ..]) => (*escaped, tail),
                            _ => (lo, after),
                        };
                        if let [b'-', hi, tail @ ..] = after
                            && *hi != b']'
                        {
                            matched |= lo <= c && c <= *hi;
                            class = tail;
                        } else {
                            matched |= lo == c;
                            class = after;
                        }
                    }
                }
            }
            matched != negate && glob_match(class, name_rest)
        }
        Some((b'\\', [escaped, rest @ ..])) => {
            name.first() == Some(escaped) && glob_match(rest, &name[1..])
        }
        Some((&p, rest)) => name.first() == Some(&p) && glob_match(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_go() {
        assert!(glob_path("*.txt", "a.txt"));
        assert!(!glob_path("*.txt", "d/a.txt"));
        assert!(glob_path("d/*.txt", "d/a.txt"));
        assert!(glob_path("f?le[0-9]", "file7"));
        assert!(!glob_path("f?le[!0-9]", "file7"));
        assert!(glob_path("f[^a]", "fb"));
        assert!(glob_path("\\*", "*"));
        assert!(!glob_path("\\*", "a"));
        assert!(glob_path("[]]", "]"));
    }

    #[test]
    fn sources_never_climb_above_the_root() {
        assert_eq!(clean_source("/etc/passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(clean_source("./a/../b/").as_deref(), Some("b"));
        assert_eq!(clean_source("."), Some(String::new()));
        assert_eq!(clean_source("../x"), None);
        assert_eq!(clean_source("a/../../x"), None);
    }
}
