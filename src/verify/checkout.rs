//! The project at a commit: the committed tree of the git repository that holds
//! the project, written to a directory of its own with a private index, so the
//! user's work tree, index and uncommitted edits play no part in the rebuild.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckoutError {
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
pub(crate) struct Checkout {
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
pub(crate) fn in_git(dir: &Path) -> bool {
    git(dir, &["rev-parse", "--show-toplevel"], None).is_ok_and(|top| !top.is_empty())
}

/// Writes commit `rev` of the repository holding `dir` below `into` and returns
/// where the project (`dir`'s place in the repository) is in it.
pub(crate) fn checkout(dir: &Path, rev: &str, into: &Path) -> Result<Checkout, CheckoutError> {
    let not_git = || CheckoutError::NotGit {
        dir: dir.to_path_buf(),
        rev: rev.to_string(),
    };
    // A revision is never an option to git.
    if rev.is_empty() || rev.starts_with('-') {
        return Err(CheckoutError::NoCommit {
            dir: dir.to_path_buf(),
            rev: rev.to_string(),
        });
    }
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

impl crate::hint::Hint for CheckoutError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Spawn(..)
            | Self::NotGit { .. }
            | Self::NoCommit { .. }
            | Self::Git { .. }
            | Self::NotInCommit { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "Dev")
            .env("GIT_AUTHOR_EMAIL", "dev@example.invalid")
            .env("GIT_COMMITTER_NAME", "Dev")
            .env("GIT_COMMITTER_EMAIL", "dev@example.invalid")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .expect("git");
        assert!(status.success(), "git {args:?}");
    }

    #[test]
    fn checkout_writes_the_commit_not_the_work_tree_and_refuses_option_revs() {
        let repo = tempfile::tempdir().expect("tempdir");
        let project = repo.path().join("sub/project");
        std::fs::create_dir_all(project.join("dags")).expect("mkdir");
        std::fs::write(project.join("dags/a.py"), "committed\n").expect("write");
        std::fs::write(repo.path().join("outside.txt"), "x\n").expect("write");
        run(repo.path(), &["init", "-q", "-b", "main"]);
        run(repo.path(), &["add", "-A"]);
        run(repo.path(), &["commit", "-q", "-m", "one"]);
        std::fs::write(project.join("dags/a.py"), "edited\n").expect("write");
        std::fs::write(project.join("dags/new.py"), "untracked\n").expect("write");

        let into = tempfile::tempdir().expect("tempdir");
        let out = checkout(&project, "HEAD", into.path()).expect("checkout");
        assert_eq!(out.commit.len(), 40);
        assert!(out.project_dir.ends_with("sub/project"));
        let text = std::fs::read_to_string(out.project_dir.join("dags/a.py")).expect("read");
        assert_eq!(text, "committed\n");
        assert!(!out.project_dir.join("dags/new.py").exists());
        assert!(out.project_dir.join("../../outside.txt").exists());
        // The user's index is untouched: the edit is still unstaged.
        let status = Command::new("git")
            .arg("-C")
            .arg(&project)
            .args(["status", "--porcelain", "--", "dags/a.py"])
            .output()
            .expect("git status");
        assert_eq!(
            String::from_utf8_lossy(&status.stdout),
            " M sub/project/dags/a.py\n"
        );
        let fresh = tempfile::tempdir().expect("tempdir");
        for rev in ["--output=/tmp/x", "-h", "", "no-such-rev"] {
            assert!(
                matches!(
                    checkout(&project, rev, fresh.path()),
                    Err(CheckoutError::NoCommit { .. })
                ),
                "{rev}"
            );
        }
        let outside = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            checkout(outside.path(), "HEAD", fresh.path()),
            Err(CheckoutError::NotGit { .. })
        ));
    }
}
