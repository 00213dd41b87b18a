//! `.dockerignore` parsing and matching with Docker's own rules.
//!
//! Owns: turning the text of a `.dockerignore` file into an ordered list of patterns and
//! answering "is this context path excluded?" exactly the way Docker's builder does
//! (Go `filepath.Match` syntax plus `**`, parent-directory exclusion, `!` exceptions,
//! last match wins).
//!
//! Must not: touch the file system, walk directories, or decide what happens to the
//! `Dockerfile` or the `.dockerignore` itself. It is a pure leaf: text in, answers out.
//!
//! Deliberate deviations from the reference builder, all in corners where its behaviour
//! is an accident of translating globs to regular expressions:
//! - `\x` always means the literal character `x` (the reference can turn `\d` into a
//!   digit class);
//! - `*` and `?` inside a bracket expression are literal members of the class.
//!
//! Faithful quirks kept on purpose: `[!a]` is a class containing `!` and `a` (only `^`
//! negates), a negated class can match `/`, and a pattern made of `**` followed by
//! plain text (like `**.log`) also matches any path that merely ends with that text.

use regex::Regex;
use thiserror::Error;

/// An error in a `.dockerignore` file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DockerIgnoreError {
    /// The pattern is not valid `filepath.Match` syntax (unterminated `[`, a range that
    /// runs backwards, a trailing `\`, an empty class...).
    #[error("Line {line}: syntax error in pattern `{pattern}`: {reason}")]
    Syntax {
        line: usize,
        pattern: String,
        reason: &'static str,
    },
    /// A line consisting of a lone `!`.
    #[error(
        "Line {line}: illegal exclusion pattern `!`; an exception needs a pattern after the `!`"
    )]
    BareExclamation { line: usize },
}

/// The parsed patterns of a `.dockerignore` file, in file order.
#[derive(Debug, Clone)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern text, without the leading `!`.
    text: String,
    /// `true` for a `!` line: a match re-includes instead of excluding.
    exception: bool,
    /// The whole pattern as an anchored regular expression.
    regex: Regex,
    /// For `**` followed by plain text: Docker also accepts any path ending in the text.
    plain_suffix: Option<String>,
    /// Per `/`-separated component: `None` when the component may span several path
    /// segments (`**`, or a negated class that can match `/`), else its anchored regex.
    components: Vec<Option<Regex>>,
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore` file.
    ///
    /// A line whose first byte is `#` is a comment; other lines are trimmed, and blank
    /// ones are skipped. Every pattern is cleaned like Go's `filepath.Clean` and a
    /// leading `/` is dropped, so `/a`, `./a`, `a/` and `a//.` all mean `a`.
    pub fn parse(text: &str) -> Result<Self, DockerIgnoreError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (index, raw) in text.split('\n').enumerate() {
            let line = index + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            // Docker only treats `#` in column 1 as a comment, before trimming.
            if raw.starts_with('#') {
                continue;
            }
            let mut pattern = raw.trim();
            if pattern.is_empty() {
                continue;
            }
            let exception = pattern.starts_with('!');
            if exception {
                pattern = pattern[1..].trim();
                if pattern.is_empty() {
                    return Err(DockerIgnoreError::BareExclamation { line });
                }
            }
            let mut cleaned = clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            patterns.push(Pattern::compile(cleaned, exception, line)?);
        }
        Ok(Self { patterns })
    }

    /// Whether `rel_path` (relative to the context root, `/`-separated) is left out of
    /// the build context.
    ///
    /// A pattern matches a path when it matches the path itself or any of its parent
    /// directories; the last pattern that matches decides. The context root itself is
    /// never excluded.
    pub fn is_excluded(&self, rel_path: &str) -> bool {
        let path = clean(rel_path);
        if path == "." || path == "/" {
            return false;
        }
        let path = path.trim_start_matches('/');
        let mut excluded = false;
        for pattern in &self.patterns {
            // Only a pattern that could flip the answer needs evaluating.
            if pattern.exception != excluded {
                continue;
            }
            if pattern.matches_self_or_parent(path) {
                excluded = !pattern.exception;
            }
        }
        excluded
    }

    /// Whether some `!` pattern could re-include a path strictly beneath the directory
    /// `dir_rel_path`, so a walker must descend into it even though the directory
    /// itself is excluded. `false` means the whole subtree can be pruned.
    ///
    /// The answer is conservative: it may say `true` for a subtree that ends up fully
    /// excluded, never `false` for one that holds an included path.
    pub fn may_reinclude_under(&self, dir_rel_path: &str) -> bool {
        let dir = clean(dir_rel_path);
        let dir = dir.trim_start_matches('/');
        if dir.is_empty() || dir == "." {
            return self.patterns.iter().any(|p| p.exception);
        }
        // Patterns that match the directory (or a parent) also match everything beneath
        // it, so only an exception after the last such pattern can change anything.
        let last_matching = self
            .patterns
            .iter()
            .rposition(|p| p.matches_self_or_parent(dir));
        let start = last_matching.map_or(0, |index| index + 1);
        let dir_components: Vec<&str> = dir.split('/').collect();
        self.patterns[start..]
            .iter()
            .filter(|p| p.exception)
            .any(|p| p.may_match_beneath(&dir_components))
    }
}

impl Pattern {
    fn compile(text: String, exception: bool, line: usize) -> Result<Self, DockerIgnoreError> {
        let syntax_error = |reason| DockerIgnoreError::Syntax {
            line,
            pattern: if exception {
                format!("!{text}")
            } else {
                text.clone()
            },
            reason,
        };
        let tokens = tokenize(&text).map_err(syntax_error)?;
        let regex = build_regex(&tokens).map_err(syntax_error)?;
        let plain_suffix = match tokens.split_first() {
            Some((Token::DoubleStar, rest)) if rest.iter().all(|t| matches!(t, Token::Char(_))) => {
                Some(text[2..].to_owned())
            }
            _ => None,
        };
        let mut components = Vec::new();
        for component in tokens.split(|t| matches!(t, Token::Char('/'))) {
            let spans_segments = component.iter().any(|t| {
                matches!(t, Token::DoubleStar) || matches!(t, Token::Class { negated: true, .. })
            });
            components.push(if spans_segments {
                None
            } else {
                Some(build_regex(component).map_err(syntax_error)?)
            });
        }
        Ok(Self {
            text,
            exception,
            regex,
            plain_suffix,
            components,
        })
    }

    fn matches(&self, path: &str) -> bool {
        if self.regex.is_match(path) {
            return true;
        }
        match &self.plain_suffix {
            Some(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            None => false,
        }
    }

    fn matches_self_or_parent(&self, path: &str) -> bool {
        if self.matches(path) {
            return true;
        }
        path.match_indices('/')
            .any(|(end, _)| self.matches(&path[..end]))
    }

    fn may_match_beneath(&self, dir: &[&str]) -> bool {
        for (index, segment) in dir.iter().enumerate() {
            match self.components.get(index) {
                // The pattern ends at or above the directory: it cannot reach below it.
                None => return false,
                Some(None) => return true,
                Some(Some(regex)) => {
                    if !regex.is_match(segment) {
                        return false;
                    }
                }
            }
        }
        self.components.len() > dir.len()
    }
}

impl std::fmt::Display for DockerIgnore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for pattern in &self.patterns {
            if pattern.exception {
                f.write_str("!")?;
            }
            writeln!(f, "{}", pattern.text)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    Star,
    DoubleStar,
    Question,
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

/// Splits a cleaned pattern into tokens, validating it the way Go's `filepath.Match`
/// does.
fn tokenize(pattern: &str) -> Result<Vec<Token>, &'static str> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                if chars.get(i + 1) == Some(&'*') {
                    i += 2;
                    // `**/` is the same as `**`.
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    tokens.push(Token::DoubleStar);
                    continue;
                }
                tokens.push(Token::Star);
            }
            '?' => tokens.push(Token::Question),
            '\\' => {
                i += 1;
                match chars.get(i) {
                    Some(&c) => tokens.push(Token::Char(c)),
                    None => return Err("trailing backslash"),
                }
            }
            '[' => {
                i += 1;
                let negated = chars.get(i) == Some(&'^');
                if negated {
                    i += 1;
                }
                let mut items = Vec::new();
                loop {
                    if chars.get(i) == Some(&']') && !items.is_empty() {
                        break;
                    }
                    let lo = class_char(&chars, &mut i)?;
                    let hi = if chars.get(i) == Some(&'-') {
                        i += 1;
                        class_char(&chars, &mut i)?
                    } else {
                        lo
                    };
                    if lo > hi {
                        return Err("character range runs backwards");
                    }
                    items.push((lo, hi));
                }
                tokens.push(Token::Class { negated, items });
            }
            c => tokens.push(Token::Char(c)),
        }
        i += 1;
    }
    Ok(tokens)
}

/// Reads one (possibly escaped) character of a bracket expression.
fn class_char(chars: &[char], i: &mut usize) -> Result<char, &'static str> {
    let mut c = match chars.get(*i) {
        None => return Err("unterminated character class"),
        Some('-') | Some(']') => return Err("misplaced `-` or `]` in character class"),
        Some(&c) => c,
    };
    if c == '\\' {
        *i += 1;
        c = *chars.get(*i).ok_or("unterminated character class")?;
    }
    *i += 1;
    if *i >= chars.len() {
        return Err("unterminated character class");
    }
    Ok(c)
}

fn build_regex(tokens: &[Token]) -> Result<Regex, &'static str> {
    let mut re = String::from("(?s)^");
    for token in tokens {
        match token {
            Token::Char(c) => push_literal(&mut re, *c),
            Token::Star => re.push_str("[^/]*"),
            Token::Question => re.push_str("[^/]"),
            Token::DoubleStar => re.push_str("(?:.*/)?"),
            Token::Class { negated, items } => {
                re.push('[');
                if *negated {
                    re.push('^');
                }
                for (lo, hi) in items {
                    push_literal(&mut re, *lo);
                    if lo != hi {
                        re.push('-');
                        push_literal(&mut re, *hi);
                    }
                }
                re.push(']');
            }
        }
    }
    // A trailing `**` matches anything, `/` included: `(?:.*/)?` would need a final
    // `/`, so it becomes `.*` instead.
    if tokens.last() == Some(&Token::DoubleStar) {
        re.truncate(re.len() - "(?:.*/)?".len());
        re.push_str(".*");
    }
    re.push('$');
    Regex::new(&re).map_err(|_| "cannot be compiled")
}

fn push_literal(re: &mut String, c: char) {
    let mut buf = [0u8; 4];
    re.push_str(&regex::escape(c.encode_utf8(&mut buf)));
}

/// Go's `filepath.Clean` for `/`-separated paths.
fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

impl crate::hint::Hint for DockerIgnoreError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Syntax { .. } | Self::BareExclamation { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (ignore file, path, excluded?)
    const CASES: &[(&str, &str, bool)] = &[
        // Plain names and directory-prefix exclusion.
        ("foo", "foo", true),
        ("foo", "foo/bar", true),
        ("foo", "foo/bar/baz.txt", true),
        ("foo", "foobar", false),
        ("foo", "bar/foo", false),
        ("foo/bar", "foo/bar/x", true),
        ("foo/bar", "foo", false),
        ("foo/bar", "x/foo/bar", false),
        // Cleaning: leading `/`, `./`, trailing `/`, doubled `/`, `..`.
        ("/foo", "foo", true),
        ("./foo", "foo/x", true),
        ("foo/", "foo/x", true),
        ("foo//bar", "foo/bar", true),
        ("foo/./bar/", "foo/bar", true),
        ("foo/../bar", "bar", true),
        ("foo/../bar", "foo", false),
        ("../foo", "foo", false),
        ("/", "foo", false),
        // `*` and `?` stay within one path segment.
        ("*.md", "README.md", true),
        ("*.md", "docs/README.md", false),
        ("*/temp*", "somedir/temporary.txt", true),
        ("*/temp*", "somedir/temp", true),
        ("*/temp*", "temp", false),
        ("*/*/temp*", "somedir/subdir/temporary.txt", true),
        ("*/*/temp*", "somedir/temporary.txt", false),
        ("temp?", "tempa", true),
        ("temp?", "temp", false),
        ("temp?", "tempab", false),
        ("a?c", "a/c", false),
        ("*", "anything/at/all", true),
        ("*", "Dockerfile", true),
        // `**` matches any number of directories, including none.
        ("**/*.go", "main.go", true),
        ("**/*.go", "cmd/tool/main.go", true),
        ("**/*.go", "main.goo", false),
        ("**", "a/b/c", true),
        ("a/**", "a/b/c", true),
        ("a/**", "a", false),
        ("a/**/b", "a/b", true),
        ("a/**/b", "a/x/y/b", true),
        ("a/**/b", "a/x/yb", false),
        ("**/__pycache__", "dags/sub/__pycache__/m.pyc", true),
        ("**/foo", "foo", true),
        ("**/foo", "xfoo", false),
        ("**.log", "deep/dir/app.log", true),
        // Character classes, ranges, negation (only `^` negates), escapes.
        ("file[0-9].txt", "file5.txt", true),
        ("file[0-9].txt", "fileA.txt", false),
        ("file[^0-9].txt", "fileA.txt", true),
        ("file[^0-9].txt", "file5.txt", false),
        ("file[!0-9].txt", "file!.txt", true),
        ("file[!0-9].txt", "fileA.txt", false),
        ("[a-c]*", "banana", true),
        ("[a-c]*", "dates", false),
        ("x[\\]]y", "x]y", true),
        ("\\*.txt", "*.txt", true),
        ("\\*.txt", "a.txt", false),
        ("f\\?o", "f?o", true),
        ("f\\?o", "fxo", false),
        ("a.b", "axb", false),
        ("a+(b)", "a+(b)", true),
        // Comments, blank lines, whitespace.
        ("# a comment\nfoo", "foo", true),
        ("# foo", "# foo", false),
        ("# foo", "foo", false),
        ("  # foo", "# foo", true),
        ("\n\n   \nfoo   ", "foo", true),
        ("foo\r\nbar\r\n", "bar", true),
        // Exceptions and last-match-wins.
        ("*.md\n!README.md", "README.md", false),
        ("*.md\n!README.md", "CHANGES.md", true),
        (
            "*.md\n!README*.md\nREADME-secret.md",
            "README-secret.md",
            true,
        ),
        (
            "*.md\n!README*.md\nREADME-secret.md",
            "README-public.md",
            false,
        ),
        (
            "*.md\nREADME-secret.md\n!README*.md",
            "README-secret.md",
            false,
        ),
        ("*\n!dags", "dags/a.py", false),
        ("*\n!dags", "include/x.py", true),
        ("dags\n!dags/keep", "dags/keep/x.py", false),
        ("dags\n!dags/keep", "dags/other.py", true),
        ("!foo\nfoo", "foo", true),
        ("foo\n! foo", "foo/x", false),
        ("foo\n!/foo/bar\n", "foo/bar", false),
        // The builder, not the matcher, decides about these two.
        ("Dockerfile\n.dockerignore", "Dockerfile", true),
        ("Dockerfile\n.dockerignore", ".dockerignore", true),
        (".*", ".git/config", true),
        (".*", "dags/.airflowignore", false),
        // Path normalization of the query.
        ("foo", "./foo/bar", true),
        ("foo", "foo/", true),
        ("*", ".", false),
        ("*", "", false),
    ];

    #[test]
    fn table() {
        let mut failures = Vec::new();
        for (text, path, expected) in CASES {
            let ignore = DockerIgnore::parse(text).unwrap();
            if ignore.is_excluded(path) != *expected {
                failures.push(format!("{text:?} on {path:?}: expected {expected}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(CASES.len() >= 45);
    }

    #[test]
    fn malformed_patterns_name_line_and_pattern() {
        let cases = [
            ("ok\n# c\nfoo[", 3, "foo["),
            ("[z-a]", 1, "[z-a]"),
            ("foo\\", 1, "foo\\"),
            ("[]", 1, "[]"),
            ("[a-]", 1, "[a-]"),
            ("[-a]", 1, "[-a]"),
            ("x\n!bad[", 2, "!bad["),
            ("[^", 1, "[^"),
            ("[a\\", 1, "[a\\"),
        ];
        for (text, line, pattern) in cases {
            match DockerIgnore::parse(text) {
                Err(DockerIgnoreError::Syntax {
                    line: got_line,
                    pattern: got,
                    ..
                }) => {
                    assert_eq!((got_line, got.as_str()), (line, pattern), "{text:?}");
                }
                other => panic!("{text:?}: expected a syntax error, got {other:?}"),
            }
        }
    }

    #[test]
    fn error_messages() {
        let err = DockerIgnore::parse("a\n[b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Line 2: syntax error in pattern `[b`: unterminated character class"
        );
        let err = DockerIgnore::parse("a\n  !  ").unwrap_err();
        assert_eq!(err, DockerIgnoreError::BareExclamation { line: 2 });
        assert!(
            err.to_string()
                .starts_with("Line 2: illegal exclusion pattern")
        );
    }

    #[test]
    fn bom_is_ignored() {
        let ignore = DockerIgnore::parse("\u{feff}foo").unwrap();
        assert!(ignore.is_excluded("foo"));
    }

    #[test]
    fn cleaning_matches_go() {
        for (input, expected) in [
            ("", "."),
            ("./a", "a"),
            ("a/", "a"),
            ("a//b", "a/b"),
            ("/a", "/a"),
            ("/../a", "/a"),
            ("a/../..", ".."),
            ("a/./b/../c", "a/c"),
            ("/", "/"),
        ] {
            assert_eq!(clean(input), expected, "{input:?}");
        }
    }

    #[test]
    fn reinclude_lookahead() {
        let ignore = DockerIgnore::parse("dags\n!dags/keep/*.py\n").unwrap();
        assert!(ignore.may_reinclude_under("dags"));
        assert!(ignore.may_reinclude_under("dags/keep"));
        assert!(!ignore.may_reinclude_under("dags/other"));

        let ignore = DockerIgnore::parse("tests\nlogs\n!**/keep.txt").unwrap();
        assert!(ignore.may_reinclude_under("logs"));

        let ignore = DockerIgnore::parse("*\n!*/README.md").unwrap();
        assert!(ignore.may_reinclude_under("docs"));
        assert!(!ignore.may_reinclude_under("docs/sub"));

        // An exception that comes before the excluding pattern cannot help.
        let ignore = DockerIgnore::parse("!logs/keep\nlogs").unwrap();
        assert!(!ignore.may_reinclude_under("logs"));

        // An exception naming the directory itself re-includes the directory, not
        // something beneath it.
        let ignore = DockerIgnore::parse("logs\n!other").unwrap();
        assert!(!ignore.may_reinclude_under("logs"));

        let ignore = DockerIgnore::parse("logs").unwrap();
        assert!(!ignore.may_reinclude_under("logs"));
    }

    #[test]
    fn reinclude_lookahead_agrees_with_matching() {
        let text = "*\n!dags\ndags/tmp\n!dags/tmp/keep*\ninclude/**/secret\n!include/a/**";
        let ignore = DockerIgnore::parse(text).unwrap();
        let paths = [
            "dags/tmp/x",
            "dags/tmp/keep.txt",
            "dags/tmp/sub/keep",
            "include/a/b/secret",
            "include/b/secret/x",
            "other/x/y",
        ];
        for path in paths {
            if ignore.is_excluded(path) {
                continue;
            }
            // Every excluded ancestor of an included path must be descended into.
            let mut ancestor = String::new();
            for segment in path.split('/').take(path.split('/').count() - 1) {
                if !ancestor.is_empty() {
                    ancestor.push('/');
                }
                ancestor.push_str(segment);
                if ignore.is_excluded(&ancestor) {
                    assert!(
                        ignore.may_reinclude_under(&ancestor),
                        "{ancestor} for {path}"
                    );
                }
            }
        }
    }

    #[test]
    fn display_round_trips_cleaned_patterns() {
        let ignore = DockerIgnore::parse("./a/\n! /b//c\n# c\n").unwrap();
        assert_eq!(ignore.to_string(), "a\n!b/c\n");
    }
}
