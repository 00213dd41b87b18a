//! `.airflowignore` parsing and matching, in both of Airflow's syntaxes.
//!
//! Owns: turning the text of an `.airflowignore` into rules and deciding whether a path
//! under the DAGs folder is ignored, the way Airflow's DAG-folder walk decides it:
//!
//! - Both syntaxes: everything from the first `#` on a line (and the whitespace before
//!   it) is a comment; empty lines are skipped.
//! - `regexp`: each line is a regular expression searched (unanchored) in the path
//!   relative to the DAGs folder root, even for an `.airflowignore` in a subfolder.
//!   Any match ignores the path; there is no negation.
//! - `glob`: gitignore-style wildmatch. A pattern with a `/` at its start or middle is
//!   matched against the path relative to the folder holding the `.airflowignore`;
//!   other patterns against the base name only. A trailing `/` matches directories
//!   only; `!` re-includes; the last matching rule wins; a rule that repeats an
//!   earlier one is dropped, as Airflow de-duplicates them.
//! - An ignored directory is pruned: nothing beneath it can be re-included.
//! - An `.airflowignore` in a subfolder adds rules for that subtree only, after its
//!   parents' rules ([`is_ignored_with`]).
//!
//! Must not: read files or walk directories. Skipping the `.airflowignore` files
//! themselves is the walker's job.

use std::fmt;
use std::str::FromStr;

use regex::Regex;
use serde::Deserialize;
use thiserror::Error;

/// Which pattern syntax `.airflowignore` files use (Airflow's
/// `[core] dag_ignore_file_syntax`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IgnoreSyntax {
    /// gitignore-style wildmatch patterns.
    #[default]
    Glob,
    /// Regular expressions searched in the relative path.
    Regexp,
}

impl FromStr for IgnoreSyntax {
    type Err = AirflowIgnoreError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "glob" => Ok(Self::Glob),
            "regexp" => Ok(Self::Regexp),
            _ => Err(AirflowIgnoreError::UnknownSyntax {
                value: value.to_owned(),
            }),
        }
    }
}

impl fmt::Display for IgnoreSyntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Glob => "glob",
            Self::Regexp => "regexp",
        })
    }
}

/// An error in an `.airflowignore` file or its syntax setting.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AirflowIgnoreError {
    #[error("Line {line}: invalid regular expression `{pattern}`: {message}")]
    InvalidRegexp {
        line: usize,
        pattern: String,
        message: String,
    },
    #[error("Line {line}: invalid glob pattern `{pattern}`: {reason}")]
    InvalidGlob {
        line: usize,
        pattern: String,
        reason: String,
    },
    #[error("Unknown `.airflowignore` syntax `{value}`; use `glob` or `regexp`")]
    UnknownSyntax { value: String },
}

/// The rules of one `.airflowignore` file.
#[derive(Debug, Clone)]
pub struct AirflowIgnore {
    syntax: IgnoreSyntax,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
enum Rule {
    Regexp(Regex),
    Glob(GlobRule),
}

#[derive(Debug, Clone)]
struct GlobRule {
    /// The line as written (comment removed), used for de-duplication and for the
    /// trailing-`/` directory test, as Airflow uses it.
    raw: String,
    regex: Regex,
    /// `false` for a `!` rule: a match re-includes.
    ignores: bool,
    /// Matched against the path relative to the file's folder, not the base name.
    anchored: bool,
}

impl AirflowIgnore {
    /// Parses the text of an `.airflowignore` file.
    pub fn parse(text: &str, syntax: IgnoreSyntax) -> Result<Self, AirflowIgnoreError> {
        let mut rules = Vec::new();
        for (index, raw) in text.split('\n').enumerate() {
            let line = index + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let pattern = strip_comment(raw);
            if pattern.is_empty() {
                continue;
            }
            match syntax {
                IgnoreSyntax::Regexp => {
                    let regex =
                        Regex::new(pattern).map_err(|e| AirflowIgnoreError::InvalidRegexp {
                            line,
                            pattern: pattern.to_owned(),
                            message: error_summary(&e.to_string()),
                        })?;
                    rules.push(Rule::Regexp(regex));
                }
                IgnoreSyntax::Glob => {
                    if pattern.trim() == "/" {
                        continue;
                    }
                    let compiled =
                        wildmatch(pattern).map_err(|reason| AirflowIgnoreError::InvalidGlob {
                            line,
                            pattern: pattern.to_owned(),
                            reason,
                        })?;
                    if let Some((regex, ignores)) = compiled {
                        rules.push(Rule::Glob(GlobRule {
                            raw: pattern.to_owned(),
                            regex,
                            ignores,
                            anchored: pattern.starts_with('/')
                                || pattern.trim_end_matches('/').contains('/'),
                        }));
                    }
                }
            }
        }
        Ok(Self { syntax, rules })
    }

    /// The syntax the file was parsed with.
    pub fn syntax(&self) -> IgnoreSyntax {
        self.syntax
    }

    /// Whether `rel_path` (relative to the folder holding this file, `/`-separated) is
    /// ignored, including because one of its parent folders is.
    pub fn is_ignored(&self, rel_path: &str, is_dir: bool) -> bool {
        is_ignored_with(&[("", self)], rel_path, is_dir)
    }
}

/// Whether `rel_path` (relative to the DAGs folder root) is ignored, given every
/// `.airflowignore` found so far as `(folder relative to the root, rules)`; the root's
/// own file has folder `""`. Only files in folders above `rel_path` apply, parents'
/// rules first, so a walker can pass every file it has read.
pub fn is_ignored_with(rules: &[(&str, &AirflowIgnore)], rel_path: &str, is_dir: bool) -> bool {
    let path = rel_path.trim_matches('/');
    let path = path.strip_prefix("./").unwrap_or(path);
    if path.is_empty() || path == "." {
        return false;
    }
    let mut files: Vec<(&str, &AirflowIgnore)> = rules
        .iter()
        .map(|(dir, ignore)| (dir.trim_matches('/'), *ignore))
        .collect();
    files.sort_by_key(|(dir, _)| {
        if dir.is_empty() {
            0
        } else {
            dir.split('/').count()
        }
    });

    // Walk down like Airflow does: a folder that is ignored is never entered.
    let mut end = 0;
    loop {
        let next = path[end..].find('/').map(|i| end + i);
        let item = &path[..next.unwrap_or(path.len())];
        let parent = item.rfind('/').map_or("", |i| &item[..i]);
        let item_is_dir = next.is_some() || is_dir;
        if item_ignored(&files, parent, item, item_is_dir) {
            return true;
        }
        match next {
            Some(slash) => end = slash + 1,
            None => return false,
        }
    }
}

/// Applies the rules visible in `parent` to one entry of it.
fn item_ignored(files: &[(&str, &AirflowIgnore)], parent: &str, item: &str, is_dir: bool) -> bool {
    let name = item.rsplit('/').next().unwrap_or(item);
    let mut seen: Vec<(&str, Option<&str>)> = Vec::new();
    let mut glob_ignored = false;
    for (dir, ignore) in files {
        let applies = dir.is_empty()
            || parent == *dir
            || parent
                .strip_prefix(*dir)
                .is_some_and(|r| r.starts_with('/'));
        if !applies {
            continue;
        }
        for rule in &ignore.rules {
            match rule {
                Rule::Regexp(regex) => {
                    if regex.is_match(item) {
                        return true;
                    }
                }
                Rule::Glob(glob) => {
                    let key = (glob.raw.as_str(), glob.anchored.then_some(*dir));
                    if seen.contains(&key) {
                        continue;
                    }
                    seen.push(key);
                    let mut subject = if glob.anchored {
                        let relative = if dir.is_empty() {
                            item
                        } else {
                            &item[dir.len() + 1..]
                        };
                        relative.to_owned()
                    } else {
                        name.to_owned()
                    };
                    if is_dir && glob.raw.ends_with('/') {
                        subject.push('/');
                    }
                    if glob.regex.is_match(&subject) {
                        glob_ignored = glob.ignores;
                    }
                }
            }
        }
    }
    glob_ignored
}

/// Removes a `#` comment and the whitespace before it.
fn strip_comment(line: &str) -> &str {
    match line.find('#') {
        Some(at) => line[..at].trim_end(),
        None => line,
    }
}

fn error_summary(message: &str) -> String {
    message
        .lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .map_or_else(
            || message.lines().next().unwrap_or_default().to_owned(),
            |l| l.trim_start_matches("error:").trim().to_owned(),
        )
}

/// Translates a gitignore wildmatch pattern to an anchored regex; `None` for a no-op
/// pattern. The flag is `false` for a `!` (re-include) pattern.
fn wildmatch(pattern: &str) -> Result<Option<(Regex, bool)>, String> {
    let pattern = if pattern.ends_with("\\ ") {
        pattern.trim_start()
    } else {
        pattern.trim()
    };
    if pattern.is_empty() || pattern.starts_with('#') || pattern == "/" {
        return Ok(None);
    }
    let (ignores, pattern) = match pattern.strip_prefix('!') {
        Some(rest) => (false, rest),
        None => (true, pattern),
    };
    let mut segments: Vec<&str> = pattern.split('/').collect();
    // Consecutive `**` segments are one.
    segments.dedup_by(|b, a| *a == "**" && *b == "**");
    // `**/` matches everything but files at the top level.
    let whole_override = segments == ["**", ""];
    if segments.first() == Some(&"") {
        segments.remove(0);
    } else if (segments.len() == 1 || (segments.len() == 2 && segments[1].is_empty()))
        && segments[0] != "**"
    {
        segments.insert(0, "**");
    }
    if segments.is_empty() {
        return Err("the pattern matches nothing".to_owned());
    }
    if segments.len() > 1
        && let Some(last) = segments.last_mut()
        && last.is_empty()
    {
        *last = "**";
    }
    let mut re = String::from("^");
    if whole_override {
        re.push_str(".+/.*");
    } else {
        let end = segments.len() - 1;
        let mut need_slash = false;
        for (i, segment) in segments.iter().enumerate() {
            if *segment == "**" {
                if i == 0 && i == end {
                    re.push_str("[^/]+(?:/.*)?");
                } else if i == 0 {
                    re.push_str("(?:.+/)?");
                    need_slash = false;
                } else if i == end {
                    re.push_str("/.*");
                } else {
                    re.push_str("(?:/.+)?");
                    need_slash = true;
                }
                continue;
            }
            if need_slash {
                re.push('/');
            }
            if *segment == "*" {
                re.push_str("[^/]+");
            } else {
                re.push_str(&segment_glob(segment)?);
            }
            if i == end {
                re.push_str("(?:/.*)?");
            }
            need_slash = true;
        }
    }
    re.push('$');
    let regex = Regex::new(&re).map_err(|e| error_summary(&e.to_string()))?;
    Ok(Some((regex, ignores)))
}

/// One path segment of a wildmatch pattern as a regex fragment.
fn segment_glob(segment: &str) -> Result<String, String> {
    let chars: Vec<char> = segment.chars().collect();
    let mut re = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '\\' => match chars.get(i) {
                Some(&escaped) => {
                    push_literal(&mut re, escaped);
                    i += 1;
                }
                None => return Err("it ends with an escape character".to_owned()),
            },
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                let mut j = i;
                if matches!(chars.get(j), Some('!' | '^')) {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    // No closing bracket: a literal `[`.
                    re.push_str("\\[");
                    continue;
                }
                re.push('[');
                if matches!(chars.get(i), Some('!' | '^')) {
                    re.push('^');
                    i += 1;
                }
                for &member in &chars[i..j] {
                    if member == '-' {
                        re.push('-');
                    } else {
                        push_literal(&mut re, member);
                    }
                }
                re.push(']');
                i = j + 1;
            }
            other => push_literal(&mut re, other),
        }
    }
    Ok(re)
}

fn push_literal(re: &mut String, c: char) {
    let mut buf = [0u8; 4];
    re.push_str(&regex::escape(c.encode_utf8(&mut buf)));
}

impl crate::hint::Hint for AirflowIgnoreError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::InvalidRegexp { .. } | Self::InvalidGlob { .. } | Self::UnknownSyntax { .. } => {
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(text: &str) -> AirflowIgnore {
        AirflowIgnore::parse(text, IgnoreSyntax::Glob).unwrap()
    }

    fn regexp(text: &str) -> AirflowIgnore {
        AirflowIgnore::parse(text, IgnoreSyntax::Regexp).unwrap()
    }

    /// (syntax, file, path, is_dir, ignored?)
    const CASES: &[(IgnoreSyntax, &str, &str, bool, bool)] = {
        use IgnoreSyntax::{Glob as G, Regexp as R};
        &[
            // Regexp: unanchored search in the relative path.
            (R, "project_a", "project_a/dag.py", false, true),
            (R, "project_a", "x/my_project_a_dag.py", false, true),
            (R, "tenant_[\\d]", "tenant_1.py", false, true),
            (R, "tenant_[\\d]", "tenant_x.py", false, false),
            (R, "^helpers/", "helpers/util.py", false, true),
            (R, "^helpers/", "dags/helpers/util.py", false, false),
            (R, "\\.sql$", "queries/a.sql", false, true),
            (R, "\\.sql$", "queries/a.sql.py", false, false),
            (R, "# only a comment\n", "anything.py", false, false),
            (R, "ignored # trailing comment", "ignored.py", false, true),
            (R, "ignored # trailing comment", "comment.py", false, false),
            (R, "^skip$", "skip", true, true),
            (R, "^skip$", "skip/inner.py", false, true),
            (R, "!keep", "keep.py", false, false),
            (R, "!keep", "!keep.py", false, true),
            // Glob: unanchored patterns match the base name at any depth.
            (G, "*.sql", "a.sql", false, true),
            (G, "*.sql", "deep/er/a.sql", false, true),
            (G, "*.sql", "a.sql.py", false, false),
            (G, "helpers", "helpers", true, true),
            (G, "helpers", "x/helpers/util.py", false, true),
            (G, "helpers", "x/helpers_dag.py", false, false),
            (G, "temp?", "tempa.py", false, false),
            (G, "temp?", "tempa", false, true),
            (G, "[abc]_dag.py", "b_dag.py", false, true),
            (G, "[!abc]_dag.py", "b_dag.py", false, false),
            (G, "[!abc]_dag.py", "d_dag.py", false, true),
            // Directory-only patterns.
            (G, "build/", "build", true, true),
            (G, "build/", "build", false, false),
            (G, "build/", "sub/build/x.py", false, true),
            (G, "build/", "sub/build", false, false),
            // Anchored patterns (a `/` at the start or in the middle).
            (G, "/top.py", "top.py", false, true),
            (G, "/top.py", "sub/top.py", false, false),
            (G, "sub/x.py", "sub/x.py", false, true),
            (G, "sub/x.py", "a/sub/x.py", false, false),
            (G, "**/x.py", "a/b/x.py", false, true),
            (G, "**/x.py", "x.py", false, true),
            (G, "a/**/b.py", "a/b.py", false, true),
            (G, "a/**/b.py", "a/1/2/b.py", false, true),
            (G, "a/**", "a/1/2.py", false, true),
            (G, "a/**", "a", true, false),
            (G, "a/*.py", "a/b.py", false, true),
            (G, "a/*.py", "a/b/c.py", false, false),
            // Negation and last-match-wins.
            (G, "*.py\n!keep.py", "keep.py", false, false),
            (G, "*.py\n!keep.py", "drop.py", false, true),
            (G, "!keep.py\n*.py", "keep.py", false, true),
            (
                G,
                "*_test.py\n!good_test.py\n",
                "sub/good_test.py",
                false,
                false,
            ),
            // A pruned folder cannot be re-opened by a negation.
            (G, "skip/\n!skip/keep.py", "skip/keep.py", false, true),
            // Airflow drops a repeated rule, so the first position counts.
            (G, "a.py\n!a.py\na.py", "a.py", false, false),
            // Comments anywhere on a line, whitespace, CRLF.
            (G, "  *.md   # docs\r\n", "README.md", false, true),
            (G, "# *.py", "a.py", false, false),
            (G, "/", "a.py", false, false),
            (G, "\\!bang.py", "!bang.py", false, true),
        ]
    };

    #[test]
    fn table() {
        let mut failures = Vec::new();
        for (syntax, text, path, is_dir, expected) in CASES {
            let ignore = AirflowIgnore::parse(text, *syntax).unwrap();
            if ignore.is_ignored(path, *is_dir) != *expected {
                failures.push(format!(
                    "{syntax} {text:?} on {path:?}: expected {expected}"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn stacked_glob_files() {
        let root = glob("*.sql\n!keep.sql\n");
        let sub = glob("/local.py\n*.tmp\n");
        let stack = [("", &root), ("sub", &sub)];
        assert!(is_ignored_with(&stack, "a.sql", false));
        assert!(!is_ignored_with(&stack, "keep.sql", false));
        assert!(is_ignored_with(&stack, "sub/local.py", false));
        assert!(!is_ignored_with(&stack, "local.py", false));
        assert!(!is_ignored_with(&stack, "sub/deeper/local.py", false));
        assert!(is_ignored_with(&stack, "sub/deeper/x.tmp", false));
        assert!(!is_ignored_with(&stack, "other/x.tmp", false));
        // A subfolder's own file does not apply to the subfolder itself.
        let hide_self = glob("sub\n");
        let stack = [("", &root), ("sub", &hide_self)];
        assert!(!is_ignored_with(&stack, "sub", true));
        assert!(is_ignored_with(&stack, "sub/inner/sub", true));
    }

    #[test]
    fn stacked_glob_order_and_dedup() {
        // The child's later rule overrides the parent's negation...
        let root = glob("*.py\n!keep.py\n");
        let sub = glob("keep.py\n");
        let stack = [("sub", &sub), ("", &root)];
        assert!(is_ignored_with(&stack, "sub/keep.py", false));
        assert!(!is_ignored_with(&stack, "keep.py", false));
        // ...unless it repeats a parent rule word for word: Airflow drops the repeat.
        let sub = glob("*.py\n");
        let stack = [("", &root), ("sub", &sub)];
        assert!(!is_ignored_with(&stack, "sub/keep.py", false));
    }

    #[test]
    fn stacked_regexp_files_match_from_the_root() {
        let root = regexp("^ignored_dir/\n");
        let sub = regexp("^sub/generated_\n");
        let stack = [("", &root), ("sub", &sub)];
        assert!(is_ignored_with(&stack, "sub/generated_dag.py", false));
        assert!(!is_ignored_with(&stack, "generated_dag.py", false));
        assert!(is_ignored_with(&stack, "ignored_dir/x.py", false));
        assert!(!is_ignored_with(&stack, "other/generated_dag.py", false));
    }

    #[test]
    fn invalid_regexp_names_the_line() {
        let error = AirflowIgnore::parse("ok\n\n(unclosed\n", IgnoreSyntax::Regexp).unwrap_err();
        match &error {
            AirflowIgnoreError::InvalidRegexp { line, pattern, .. } => {
                assert_eq!((*line, pattern.as_str()), (3, "(unclosed"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            error
                .to_string()
                .starts_with("Line 3: invalid regular expression `(unclosed`: ")
        );
    }

    #[test]
    fn invalid_glob_names_the_line() {
        for (text, line) in [("a\nb\\", 2), ("!", 1), ("[z-a]", 1), ("x\n\\#hash.py", 2)] {
            match AirflowIgnore::parse(text, IgnoreSyntax::Glob) {
                Err(AirflowIgnoreError::InvalidGlob { line: got, .. }) => {
                    assert_eq!(got, line, "{text:?}")
                }
                other => panic!("{text:?}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn unterminated_class_is_a_literal_bracket() {
        let ignore = glob("a[b");
        assert!(ignore.is_ignored("a[b", false));
        assert!(!ignore.is_ignored("ab", false));
    }

    #[test]
    fn double_star_slash_matches_nested_but_not_top_level_files() {
        let ignore = glob("**/");
        assert!(ignore.is_ignored("sub", true));
        assert!(ignore.is_ignored("sub/x.py", false));
        assert!(!ignore.is_ignored("x.py", false));
    }

    #[test]
    fn syntax_from_str_and_serde_names() {
        assert_eq!("glob".parse::<IgnoreSyntax>().unwrap(), IgnoreSyntax::Glob);
        assert_eq!(
            "regexp".parse::<IgnoreSyntax>().unwrap(),
            IgnoreSyntax::Regexp
        );
        let error = "regex".parse::<IgnoreSyntax>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "Unknown `.airflowignore` syntax `regex`; use `glob` or `regexp`"
        );
        assert_eq!(IgnoreSyntax::default(), IgnoreSyntax::Glob);
        assert_eq!(IgnoreSyntax::Regexp.to_string(), "regexp");
    }

    #[test]
    fn paths_are_normalized() {
        let ignore = glob("/top.py");
        assert!(ignore.is_ignored("./top.py", false));
        assert!(ignore.is_ignored("/top.py", false));
        assert!(!ignore.is_ignored("", true));
    }
}
