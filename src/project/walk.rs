//! Walks a project directory into sorted entries for the project and DAG layers,
//! applying `.dockerignore`, `dags/.airflowignore` and the confinement rules.
//!
//! Nothing here depends on directory iteration order, mtimes, the umask or the host
//! user: entries are sorted by name and carry only kind, content hash and the
//! execute bit.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::ProjectError;
use super::airflowignore::{AirflowIgnore, IgnoreSyntax};
use super::dockerignore::DockerIgnore;
use crate::confine::{LinkError, Node, resolve_link};
use crate::digest::Digest;

/// The DAG folder, relative to the project root.
pub const DAGS_DIR: &str = "dags";
/// airlock's own state inside a project (default output, build records); never
/// part of an image.
pub(crate) const STATE_DIR: &str = ".airlock";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkedKind {
    Dir,
    File {
        size: u64,
        sha256: Digest,
        executable: bool,
    },
    Symlink {
        target: String,
    },
}

#[derive(Debug, Clone)]
pub struct WalkedEntry {
    /// Path relative to the project root, `/`-separated.
    pub rel: String,
    pub host: PathBuf,
    pub kind: WalkedKind,
}

/// The project's files split by layer, each list sorted by path.
#[derive(Debug, Clone, Default)]
pub struct Walked {
    pub project: Vec<WalkedEntry>,
    pub dags: Vec<WalkedEntry>,
}

struct Walker<'a> {
    root: &'a Path,
    /// Where `dags/` really is, when not under `root` (`deploy --dags-path`).
    dags_root: Option<&'a Path>,
    dockerignore: &'a DockerIgnore,
    syntax: IgnoreSyntax,
    /// `.airflowignore` rules in force: (directory relative to the project root, rules).
    airflow: Vec<(String, AirflowIgnore)>,
    out: Walked,
}

/// Checks that every symlink among `entries` leads inside the walked tree, its links
/// followed ([`crate::confine`]): the tree is what ships, so a link is resolved
/// against the walked entries, not the host.
fn check_links<'a>(
    entries: impl Iterator<Item = &'a WalkedEntry> + Clone,
) -> Result<(), ProjectError> {
    let tree: BTreeMap<&str, &WalkedKind> =
        entries.clone().map(|e| (e.rel.as_str(), &e.kind)).collect();
    let lookup = |path: &str| match tree.get(path) {
        Some(WalkedKind::Dir) => Node::Dir,
        Some(WalkedKind::File { .. }) => Node::File,
        Some(WalkedKind::Symlink { target }) => Node::Symlink(target.clone()),
        None => Node::Missing,
    };
    for entry in entries {
        let WalkedKind::Symlink { target } = &entry.kind else {
            continue;
        };
        match resolve_link(&entry.rel, target, &lookup) {
            Ok(_) => {}
            Err(LinkError::Absolute | LinkError::Escapes) => {
                return Err(ProjectError::SymlinkEscapes {
                    path: entry.rel.clone(),
                    target: target.clone(),
                });
            }
            Err(error) => {
                return Err(ProjectError::SymlinkUnresolved {
                    path: entry.rel.clone(),
                    target: target.clone(),
                    reason: error.reason(),
                });
            }
        }
    }
    Ok(())
}

fn is_in_dags(rel: &str) -> bool {
    rel == DAGS_DIR || rel.starts_with("dags/")
}

impl Walker<'_> {
    fn airflow_ignored(&self, rel: &str, is_dir: bool) -> bool {
        self.airflow.iter().any(|(dir, rules)| {
            rel.strip_prefix(dir.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|inner| rules.is_ignored(inner, is_dir))
        })
    }

    fn load_airflowignore(&mut self, dir_rel: &str, dir_host: &Path) -> Result<bool, ProjectError> {
        let path = dir_host.join(".airflowignore");
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(source) => return Err(ProjectError::Io { path, source }),
        };
        let rules = AirflowIgnore::parse(&text, self.syntax).map_err(|source| {
            ProjectError::AirflowIgnore {
                path: PathBuf::from(format!("{dir_rel}/.airflowignore")),
                source,
            }
        })?;
        self.airflow.push((dir_rel.to_string(), rules));
        Ok(true)
    }

    fn walk_dir(&mut self, dir_rel: &str) -> Result<(), ProjectError> {
        let dir_host = match (self.dags_root, dir_rel.strip_prefix(DAGS_DIR)) {
            (Some(dags), Some(rest)) if rest.is_empty() || rest.starts_with('/') => {
                dags.join(rest.trim_start_matches('/'))
            }
            _ if dir_rel.is_empty() => self.root.to_path_buf(),
            _ => self.root.join(dir_rel),
        };
        let pushed = if is_in_dags(dir_rel) {
            self.load_airflowignore(dir_rel, &dir_host)?
        } else {
            false
        };
        let mut names: Vec<String> = Vec::new();
        let listing = fs::read_dir(&dir_host).map_err(|source| ProjectError::Io {
            path: dir_host.clone(),
            source,
        })?;
        for item in listing {
            let item = item.map_err(|source| ProjectError::Io {
                path: dir_host.clone(),
                source,
            })?;
            let name = item
                .file_name()
                .into_string()
                .map_err(|raw| ProjectError::NonUtf8Name {
                    path: dir_host.join(raw),
                })?;
            names.push(name);
        }
        names.sort();
        for name in names {
            let rel = if dir_rel.is_empty() {
                name.clone()
            } else {
                format!("{dir_rel}/{name}")
            };
            if rel == STATE_DIR {
                continue;
            }
            self.visit(&rel, &dir_host.join(&name))?;
        }
        if pushed {
            self.airflow.pop();
        }
        Ok(())
    }

    fn visit(&mut self, rel: &str, host: &Path) -> Result<(), ProjectError> {
        let meta = fs::symlink_metadata(host).map_err(|source| ProjectError::Io {
            path: host.to_path_buf(),
            source,
        })?;
        let file_type = meta.file_type();
        let excluded = self.dockerignore.is_excluded(rel);
        let in_dags = is_in_dags(rel);
        if rel == DAGS_DIR {
            // Either would ship no DAGs without a word: refused instead.
            if excluded && !(file_type.is_dir() && self.dockerignore.may_reinclude_under(rel)) {
                return Err(ProjectError::DagsIgnored);
            }
            if file_type.is_symlink() {
                let target = fs::read_link(host).map_err(|source| ProjectError::Io {
                    path: host.to_path_buf(),
                    source,
                })?;
                return Err(ProjectError::DagsSymlink {
                    target: target.to_string_lossy().into_owned(),
                });
            }
        }
        if file_type.is_dir() {
            let ignored =
                excluded || (in_dags && rel != DAGS_DIR && self.airflow_ignored(rel, true));
            if ignored {
                if excluded
                    && !(in_dags && self.airflow_ignored(rel, true))
                    && self.dockerignore.may_reinclude_under(rel)
                {
                    self.walk_dir(rel)?;
                }
                return Ok(());
            }
            self.push(rel, host, WalkedKind::Dir);
            return self.walk_dir(rel);
        }
        if excluded || (in_dags && self.airflow_ignored(rel, false)) {
            return Ok(());
        }
        if file_type.is_symlink() {
            let target = fs::read_link(host).map_err(|source| ProjectError::Io {
                path: host.to_path_buf(),
                source,
            })?;
            let target = target.to_str().ok_or_else(|| ProjectError::NonUtf8Name {
                path: host.to_path_buf(),
            })?;
            // Where it leads is checked once the whole tree is known (`check_links`).
            self.push(
                rel,
                host,
                WalkedKind::Symlink {
                    target: target.to_string(),
                },
            );
            return Ok(());
        }
        if rel == DAGS_DIR {
            return Err(ProjectError::DagsNotADirectory {
                path: host.to_path_buf(),
            });
        }
        if !file_type.is_file() {
            return Err(ProjectError::SpecialFile {
                path: rel.to_string(),
            });
        }
        let file = fs::File::open(host).map_err(|source| ProjectError::Io {
            path: host.to_path_buf(),
            source,
        })?;
        let (sha256, size) =
            Digest::of_reader(std::io::BufReader::new(file)).map_err(|source| {
                ProjectError::Io {
                    path: host.to_path_buf(),
                    source,
                }
            })?;
        self.push(
            rel,
            host,
            WalkedKind::File {
                size,
                sha256,
                executable: is_executable(&meta),
            },
        );
        Ok(())
    }

    fn push(&mut self, rel: &str, host: &Path, kind: WalkedKind) {
        let entry = WalkedEntry {
            rel: rel.to_string(),
            host: host.to_path_buf(),
            kind,
        };
        if is_in_dags(rel) {
            self.out.dags.push(entry);
        } else {
            self.out.project.push(entry);
        }
    }
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}

/// Walks the project at `root`.
pub fn walk(
    root: &Path,
    dockerignore: &DockerIgnore,
    syntax: IgnoreSyntax,
) -> Result<Walked, ProjectError> {
    let mut walker = Walker {
        root,
        dags_root: None,
        dockerignore,
        syntax,
        airflow: Vec::new(),
        out: Walked::default(),
    };
    walker.walk_dir("")?;
    check_links(walker.out.project.iter().chain(&walker.out.dags))?;
    Ok(walker.out)
}

/// Walks only the DAG folder, found at `dags_dir` (which may live outside the
/// project), with the same rules as [`walk`]: entries are named `dags/...`.
pub fn walk_dags(
    dags_dir: &Path,
    dockerignore: &DockerIgnore,
    syntax: IgnoreSyntax,
) -> Result<Vec<WalkedEntry>, ProjectError> {
    let mut walker = Walker {
        root: dags_dir,
        dags_root: Some(dags_dir),
        dockerignore,
        syntax,
        airflow: Vec::new(),
        out: Walked::default(),
    };
    walker.visit(DAGS_DIR, dags_dir)?;
    check_links(walker.out.dags.iter())?;
    Ok(walker.out.dags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk_of(root: &Path) -> Result<Walked, ProjectError> {
        let ignore = DockerIgnore::parse("").expect("ignore");
        walk(root, &ignore, IgnoreSyntax::Glob)
    }

    #[test]
    fn symlinks_resolve_inside_the_project() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fs::create_dir_all(root.join("dags")).expect("mkdir");
        fs::create_dir_all(root.join("include")).expect("mkdir");
        fs::write(root.join("include/x.py"), "x = 1\n").expect("write");
        std::os::unix::fs::symlink("../include/x.py", root.join("dags/x.py")).expect("link");
        walk_of(root).expect("a link into the project is fine");

        std::os::unix::fs::symlink("../../etc/passwd", root.join("dags/out")).expect("link");
        let err = walk_of(root).expect_err("refused");
        assert!(
            matches!(err, ProjectError::SymlinkEscapes { ref path, .. } if path == "dags/out"),
            "{err}"
        );
    }

    #[test]
    fn symlink_through_dot_link_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dags = dir.path().join("dags");
        fs::create_dir_all(&dags).expect("mkdir");
        std::os::unix::fs::symlink(".", dags.join("s")).expect("link");
        std::os::unix::fs::symlink("s/s/s/../../..", dags.join("x")).expect("link");
        let err = walk_of(dir.path()).expect_err("refused");
        assert!(
            matches!(err, ProjectError::SymlinkEscapes { ref path, .. } if path == "dags/x"),
            "{err}"
        );
        std::os::unix::fs::symlink("loop", dags.join("loop")).expect("link");
        fs::remove_file(dags.join("x")).expect("rm");
        let err = walk_of(dir.path()).expect_err("refused");
        assert!(
            matches!(err, ProjectError::SymlinkUnresolved { ref path, .. } if path == "dags/loop"),
            "{err}"
        );
    }

    /// Sweep item 4: a symlinked `dags` would ship as the link alone (as Docker's
    /// COPY does), an empty DAG layer and bundle: refused, naming `dags`.
    #[test]
    fn sweep4_a_symlinked_dags_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fs::create_dir_all(root.join("shared_dags")).expect("mkdir");
        fs::write(root.join("shared_dags/a.py"), "x = 1\n").expect("write");
        std::os::unix::fs::symlink("shared_dags", root.join("dags")).expect("link");
        let err = walk_of(root).expect_err("a symlinked dags is refused");
        assert!(
            matches!(err, ProjectError::DagsSymlink { ref target } if target == "shared_dags"),
            "{err}"
        );
        assert!(err.to_string().contains("`dags` is a symlink"), "{err}");
    }

    /// Sweep item 4: a `.dockerignore` that leaves out the whole `dags` folder would
    /// ship no DAGs: refused; leaving out single files stays allowed.
    #[test]
    fn sweep4_dockerignore_excluding_dags_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fs::create_dir_all(root.join("dags")).expect("mkdir");
        fs::write(root.join("dags/a.py"), "x = 1\n").expect("write");
        fs::write(root.join("dags/b.py"), "x = 2\n").expect("write");
        for text in ["dags\n", "dags/\n", "/dags\n", "dags*\n"] {
            let ignore = DockerIgnore::parse(text).expect("ignore");
            let err = walk(root, &ignore, IgnoreSyntax::Glob).expect_err(text);
            assert!(matches!(err, ProjectError::DagsIgnored), "{text}: {err}");
            assert!(err.to_string().contains("`.dockerignore`"), "{err}");
        }
        for text in ["dags/b.py\n", "dags\n!dags/a.py\n"] {
            let ignore = DockerIgnore::parse(text).expect("ignore");
            let walked = walk(root, &ignore, IgnoreSyntax::Glob).expect(text);
            assert!(walked.dags.iter().any(|e| e.rel == "dags/a.py"), "{text}");
        }
    }

    #[test]
    fn dags_path_that_is_a_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("dags"), "x").expect("write");
        let err = walk_of(dir.path()).expect_err("refused");
        assert!(
            matches!(err, ProjectError::DagsNotADirectory { .. }),
            "{err}"
        );
    }
}
