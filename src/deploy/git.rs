//! Git metadata of the project for the deployment record, read with the `git`
//! command. A project outside git, or a machine without git, records none.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::record::MAX_TEXT;
use crate::printable::needs_escape;

/// Where a deploy came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitInfo {
    pub commit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The `origin` remote's URL, without any user or password in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// Uncommitted changes (tracked or untracked) in the work tree.
    pub dirty: bool,
    /// The first line of the commit message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    git_raw(dir, args).map(|out| out.trim().to_string())
}

/// `git -C dir ARGS`'s standard output as it is, when it succeeds.
fn git_raw(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Drops `user:password@` from a URL-shaped remote; secrets never reach a record.
pub(super) fn redact_remote(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let slash = if rest.contains('/') { "/" } else { "" };
        return format!("{scheme}://{host}{slash}{path}");
    }
    url.to_string()
}

/// The paths under `dir` with uncommitted changes (tracked or untracked, as `git
/// status` shows them); `None` when git cannot tell.
pub(super) fn uncommitted(dir: &Path) -> Option<Vec<String>> {
    let status = git_raw(dir, &["status", "--porcelain", "--", "."])?;
    Some(
        status
            .lines()
            .filter_map(|line| line.get(3..))
            .map(str::to_string)
            .collect(),
    )
}

/// Git text as a record may hold it: control characters become spaces, and text
/// longer than a record field takes is cut (a commit subject may hold a tab).
fn tidy(text: String) -> String {
    let mut text: String = text
        .chars()
        .map(|c| if needs_escape(c) { ' ' } else { c })
        .collect();
    if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

impl GitInfo {
    /// The git state of `dir`, or `None` when it is not in a git work tree.
    pub fn read(dir: &Path) -> Option<Self> {
        let commit = git(dir, &["rev-parse", "HEAD"]).filter(|c| !c.is_empty())?;
        let branch = git(dir, &["rev-parse", "--abbrev-ref", "HEAD"])
            .filter(|b| b != "HEAD")
            .map(tidy);
        let author = git(dir, &["log", "-1", "--format=%an <%ae>"])
            .filter(|a| !a.is_empty())
            .map(tidy);
        let subject = git(dir, &["log", "-1", "--format=%s"])
            .filter(|s| !s.is_empty())
            .map(tidy);
        let remote = git(dir, &["remote", "get-url", "origin"]).map(|u| tidy(redact_remote(&u)));
        let dirty = uncommitted(dir).is_none_or(|paths| !paths.is_empty());
        Some(Self {
            commit,
            branch,
            author,
            remote,
            dirty,
            subject,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_text_fits_a_record() {
        assert_eq!(tidy("fix\tthe \u{1b}[31mETL".into()), "fix the  [31mETL");
        let long = tidy("é".repeat(MAX_TEXT));
        assert!(long.len() <= MAX_TEXT && long.chars().all(|c| c == 'é'));
    }

    #[test]
    fn remotes_lose_their_secrets() {
        assert_eq!(
            redact_remote("https://user:tok@git.invalid/team/p.git"),
            "https://git.invalid/team/p.git"
        );
        assert_eq!(
            redact_remote("git@git.invalid:team/p.git"),
            "git@git.invalid:team/p.git"
        );
    }
}
