//! Walks a project directory into sorted entries for the project and DAG layers,
//! applying `.dockerignore`, `dags/.airflowignore` and the confinement rules.
//!
//! Nothing here depends on directory iteration order, mtimes, the umask or the host
//! user: entries are sorted by name and carry only kind, content hash and the
//! execute bit.

use std::fs;
use std::path::{Path, PathBuf};

use super::ProjectError;
use super::airflowignore::{AirflowIgnore, IgnoreSyntax};
use super::dockerignore::DockerIgnore;
use crate::digest::Digest;

/// The DAG folder, relative to the project root.
pub const DAGS_DIR: &str = "dags";
/// airlock's own state inside a project (default output, build records); never
/// part of an image.
pub const STATE_DIR: &str = ".airlock";

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

/// Resolves a relative symlink target against the link's directory, lexically.
/// Returns `None` when it leaves the project root.
fn resolve_inside(link_dir: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = link_dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split('/') {
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
            self.visit(&rel, &dir_host.join(&name), dir_rel)?;
        }
        if pushed {
            self.airflow.pop();
        }
        Ok(())
    }

    fn visit(&mut self, rel: &str, host: &Path, dir_rel: &str) -> Result<(), ProjectError> {
        let meta = fs::symlink_metadata(host).map_err(|source| ProjectError::Io {
            path: host.to_path_buf(),
            source,
        })?;
        let file_type = meta.file_type();
        let excluded = self.dockerignore.is_excluded(rel);
        let in_dags = is_in_dags(rel);
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
            if target.starts_with('/') || resolve_inside(dir_rel, target).is_none() {
                return Err(ProjectError::SymlinkEscapes {
                    path: rel.to_string(),
                    target: target.to_string(),
                });
            }
            self.push(
                rel,
                host,
                WalkedKind::Symlink {
                    target: target.to_string(),
                },
            );
            return Ok(());
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
    walker.visit(DAGS_DIR, dags_dir, "")?;
    Ok(walker.out.dags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_targets_resolve_lexically() {
        assert_eq!(
            resolve_inside("dags", "../include/x.py").as_deref(),
            Some("include/x.py")
        );
        assert_eq!(resolve_inside("", "../etc/passwd"), None);
        assert_eq!(resolve_inside("a/b", "../../x").as_deref(), Some("x"));
        assert_eq!(resolve_inside("a/b", "../../../x"), None);
    }
}
