//! The project at a commit: the committed tree of the git repository that holds
//! the project, written to a directory of its own with a private index, so the
//! user's work tree, index and uncommitted edits play no part in the rebuild.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("Cannot run `git`")]
    Spawn(#[source] std::io::Error),
    #[error("`{}` is not in a git repository, so there is no commit `{rev}` to rebuild", dir.display())]
    NotGit { dir: PathBuf, rev: String },
    #[error("`{rev}` is not a commit of the repository at `{}`", dir.display())]
    NoCommit { dir: PathBuf, rev: String },
    #[error("`git {command}` failed: {detail}")]
    Git { command: String, detail: String },
    #[error("Commit `{commit}` has no `{prefix}` directory")]
    NotInCommit { commit: String, prefix: String },
}

/// A commit written out: its full id and the project's directory within it.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub commit: String,
    pub project_dir: PathBuf,
}

fn git(dir: &Path, args: &[&str], index: Option<&Path>) -> Result<String, CheckoutError> {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C");
    if let Some(index) = index {
        command.env("GIT_INDEX_FILE", index);
    }
    let output = command.output().map_err(CheckoutError::Spawn)?;
    if !output.status.success() {
        return Err(CheckoutError::Git {
            command: args.join(" "),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Whether `dir` is inside a git work tree.
pub fn in_git(dir: &Path) -> bool {
    git(dir, &["rev-parse", "--show-toplevel"], None).is_ok_and(|top| !top.is_empty())
}

/// Writes commit `rev` of the repository holding `dir` below `into` and returns
/// where the project (`dir`'s place in the repository) is in it.
pub fn checkout(dir: &Path, rev: &str, into: &Path) -> Result<Checkout, CheckoutError> {
    let not_git = || CheckoutError::NotGit {
        dir: dir.to_path_buf(),
        rev: rev.to_string(),
    };
    let top = git(dir, &["rev-parse", "--show-toplevel"], None).map_err(|_| not_git())?;
    if top.is_empty() {
        return Err(not_git());
    }
    let prefix = git(dir, &["rev-parse", "--show-prefix"], None)?;
    let commit = git(
        dir,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
        None,
    )
    .map_err(|_| CheckoutError::NoCommit {
        dir: dir.to_path_buf(),
        rev: rev.to_string(),
    })?;
    let index = into.join("index");
    let tree = into.join("tree");
    let top = Path::new(&top);
    git(top, &["read-tree", &commit], Some(&index))?;
    let prefix_arg = format!("--prefix={}/", tree.display());
    git(
        top,
        &["checkout-index", "-a", "-f", &prefix_arg],
        Some(&index),
    )?;
    let _ = std::fs::remove_file(&index);
    let project_dir = tree.join(&prefix);
    if !project_dir.is_dir() {
        return Err(CheckoutError::NotInCommit { commit, prefix });
    }
    Ok(Checkout {
        commit,
        project_dir,
    })
}
