//! Hints: what the user can do about an error, decided by the error type and
//! rendered at the CLI edge (`cli::render`, after the error and its causes).
//!
//! Every error type of the crate implements [`Hint`], at the end of the file that
//! defines it, with one `match` arm per variant and no wildcard: a new variant does
//! not compile until someone decides its hint (no hint is a decision too: an empty
//! list). A variant that wraps another error of the crate passes that error's hints
//! on. A test checks that every error type has such an impl and that the renderer
//! knows it.

/// What the user can do about an error.
pub trait Hint {
    /// One entry per `hint:` line the CLI prints (an entry may span lines); empty
    /// when airlock knows nothing useful to add.
    fn hints(&self) -> Vec<String>;
}

/// Reads the crate's source for the hint test: the error types a file defines and
/// whether each has its [`Hint`] decision.
#[cfg(test)]
pub(crate) mod scan {
    /// An error type: an enum or struct whose `derive` names `Error`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) struct ErrorType {
        pub(crate) name: String,
        pub(crate) is_enum: bool,
    }

    /// `source` with comments, string and char literals blanked out (same length,
    /// newlines kept), so braces and arms inside them do not count.
    pub(crate) fn code_only(source: &str) -> String {
        let chars: Vec<char> = source.chars().collect();
        let mut out = String::with_capacity(source.len());
        let mut i = 0;
        let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
        while i < chars.len() {
            let rest = &chars[i..];
            if rest.starts_with(&['/', '/']) {
                while i < chars.len() && chars[i] != '\n' {
                    out.push(' ');
                    i += 1;
                }
            } else if rest.starts_with(&['/', '*']) {
                while i < chars.len() && !chars[i..].starts_with(&['*', '/']) {
                    out.push(blank(chars[i]));
                    i += 1;
                }
                out.push_str("  ");
                i += 2;
            } else if chars[i] == 'r' && matches!(rest.get(1), Some('"' | '#')) {
                let hashes = rest[1..].iter().take_while(|c| **c == '#').count();
                if rest.get(1 + hashes) != Some(&'"') {
                    out.push(chars[i]);
                    i += 1;
                    continue;
                }
                let mut end: Vec<char> = vec!['"'];
                end.extend(std::iter::repeat_n('#', hashes));
                out.push('"');
                i += 2 + hashes;
                while i < chars.len() && !chars[i..].starts_with(&end) {
                    out.push(blank(chars[i]));
                    i += 1;
                }
                out.push('"');
                i += end.len();
            } else if chars[i] == '"' {
                out.push('"');
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        out.push(' ');
                        i += 1;
                    }
                    if let Some(c) = chars.get(i) {
                        out.push(blank(*c));
                    }
                    i += 1;
                }
                out.push('"');
                i += 1;
            } else if chars[i] == '\'' && (rest.get(2) == Some(&'\'') || rest.get(1) == Some(&'\\'))
            {
                // A char literal (a lifetime has no closing quote right after).
                let len = if rest.get(1) == Some(&'\\') {
                    rest.iter()
                        .skip(2)
                        .position(|c| *c == '\'')
                        .map_or(2, |p| p + 3)
                } else {
                    3
                };
                out.extend(std::iter::repeat_n(' ', len));
                i += len;
            } else {
                out.push(chars[i]);
                i += 1;
            }
        }
        out
    }

    /// The text from the `{` at or after `from` to its matching `}` (inclusive).
    fn block(code: &str, from: usize) -> Option<&str> {
        let open = from + code[from..].find('{')?;
        let mut depth = 0usize;
        for (offset, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(&code[open..=open + offset]);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// The error types `code` (see [`code_only`]) defines.
    pub(crate) fn error_types(code: &str) -> Vec<ErrorType> {
        let mut found = Vec::new();
        let mut at = 0;
        while let Some(pos) = code[at..].find("#[derive(") {
            let start = at + pos + "#[derive(".len();
            let Some(len) = code[start..].find(')') else {
                break;
            };
            at = start + len;
            let derives_error = code[start..at]
                .split(',')
                .any(|d| d.trim().rsplit("::").next() == Some("Error"));
            if !derives_error {
                continue;
            }
            // Skip further attributes up to the item: `pub enum Name` / `struct Name`.
            let mut words = code[at + 1..]
                .split(|c: char| c.is_whitespace() || c == '{' || c == '(' || c == '<' || c == ';')
                .filter(|w| !w.is_empty() && !w.starts_with("#[") && !w.starts_with("pub"));
            let item = words.find(|w| *w == "enum" || *w == "struct");
            if let (Some(kind), Some(name)) = (item, words.next()) {
                found.push(ErrorType {
                    name: name.to_string(),
                    is_enum: kind == "enum",
                });
            }
        }
        found
    }

    /// The body of `impl …Hint for name`, if `code` has one.
    pub(crate) fn hint_impl<'a>(code: &'a str, name: &str) -> Option<&'a str> {
        let mut at = 0;
        while let Some(pos) = code[at..].find("impl ") {
            let start = at + pos;
            at = start + "impl ".len();
            let Some(header_end) = code[at..].find('{').map(|p| at + p) else {
                break;
            };
            let header: Vec<&str> = code[at..header_end].split_whitespace().collect();
            if let [path, "for", target] = header.as_slice()
                && (*path == "Hint" || path.ends_with("::Hint"))
                && *target == name
            {
                return block(code, header_end);
            }
        }
        None
    }

    /// A `match` arm in `body` that matches anything: `_` or a lone binding, with or
    /// without a guard.
    pub(crate) fn wildcard_arm(body: &str) -> Option<String> {
        let mut at = 0;
        while let Some(pos) = body[at..].find("=>") {
            let arrow = at + pos;
            at = arrow + 2;
            // The pattern runs back to the previous `{`, `,` or `}` (or `|`).
            let head = &body[..arrow];
            let start = head.rfind(['{', ',', '}', '|']).map_or(0, |p| p + 1);
            let mut pattern = head[start..].trim();
            // Attributes on the arm (`#[allow(…)]`) are not the pattern.
            while pattern.starts_with("#[") {
                pattern = pattern.split_once(']').map_or("", |(_, rest)| rest).trim();
            }
            let pattern = pattern.split(" if ").next().unwrap_or(pattern).trim();
            let lone_binding = !matches!(pattern, "" | "true" | "false")
                && pattern
                    .chars()
                    .all(|c| c == '_' || c.is_ascii_lowercase() || c.is_ascii_digit())
                && !pattern.starts_with(|c: char| c.is_ascii_digit());
            if lone_binding {
                return Some(pattern.to_string());
            }
        }
        None
    }

    /// What is wrong with the hint decisions of the error types in `source`: a type
    /// without its `impl Hint`, or an impl that leaves variants to a wildcard.
    pub(crate) fn undecided(source: &str) -> Vec<String> {
        let code = code_only(source);
        let mut problems = Vec::new();
        for ty in error_types(&code) {
            match hint_impl(&code, &ty.name) {
                None => problems.push(format!("`{}` has no `impl Hint`", ty.name)),
                Some(body) if ty.is_enum && !body.contains("match") => problems.push(format!(
                    "`impl Hint for {}` decides without matching the variants",
                    ty.name
                )),
                Some(body) => {
                    if let Some(arm) = wildcard_arm(body) {
                        problems.push(format!(
                            "`impl Hint for {}` has a wildcard arm `{arm} =>`",
                            ty.name
                        ));
                    }
                }
            }
        }
        problems
    }

    /// Every `.rs` file under `dir`, sorted.
    pub(crate) fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        files.sort();
        files
    }
}

#[cfg(test)]
mod tests {
    use super::scan::*;

    const DECIDED: &str = r#"
#[derive(Debug, thiserror::Error)]
pub enum GoodError {
    #[error("A `{0}` with } braces {{")]
    A(String),
    #[error("B")]
    B { inner: Box<GoodError> },
}

#[derive(Debug, thiserror::Error)]
#[error("Plain")]
pub struct PlainError;

impl crate::hint::Hint for GoodError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::A(name) if name.is_empty() => vec!["a } => _ =>".into()],
            Self::A(_) => Vec::new(),
            Self::B { inner } => inner.hints(),
        }
    }
}

impl Hint for PlainError {
    fn hints(&self) -> Vec<String> {
        Vec::new()
    }
}
"#;

    #[test]
    fn a_decided_source_passes() {
        let types = error_types(&code_only(DECIDED));
        let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["GoodError", "PlainError"]);
        assert_eq!(undecided(DECIDED), Vec::<String>::new());
    }

    #[test]
    fn a_missing_impl_fails() {
        let source = DECIDED.replace("impl Hint for PlainError", "impl Other for PlainError");
        assert_eq!(undecided(&source), ["`PlainError` has no `impl Hint`"]);
        let source = "#[derive(thiserror::Error, Debug)]\n#[allow(dead_code)]\npub(crate) enum NewError { A }\n";
        assert_eq!(undecided(source), ["`NewError` has no `impl Hint`"]);
    }

    #[test]
    fn a_wildcard_arm_fails() {
        for wildcard in [
            "_",
            "other",
            "_ if true",
            "#[allow(unreachable_patterns)]\n            _",
        ] {
            let source = DECIDED.replace("Self::A(_) =>", &format!("{wildcard} =>"));
            let problems = undecided(&source);
            assert_eq!(problems.len(), 1, "{wildcard}: {problems:?}");
            assert!(problems[0].contains("wildcard"), "{problems:?}");
        }
        let source = DECIDED.replace(
            "Self::B { inner } => inner.hints(),",
            "Self::B { inner } => inner.hints(),\n            _ => Vec::new(),",
        );
        assert_eq!(undecided(&source).len(), 1);
    }

    #[test]
    fn an_enum_decided_without_match_fails() {
        let source = DECIDED.replace(
            "match self {\n            Self::A(name) if name.is_empty() => vec![\"a } => _ =>\".into()],\n            Self::A(_) => Vec::new(),\n            Self::B { inner } => inner.hints(),\n        }",
            "Vec::new()",
        );
        assert_eq!(
            undecided(&source),
            ["`impl Hint for GoodError` decides without matching the variants"]
        );
    }

    /// Every error type in `src/` has its hint decision: an `impl Hint` in its own
    /// file, one arm per variant, no wildcard.
    #[test]
    fn every_error_type_decides_its_hints() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut problems = Vec::new();
        let mut types = 0;
        for file in rust_files(&src) {
            let Ok(source) = std::fs::read_to_string(&file) else {
                problems.push(format!("{}: unreadable", file.display()));
                continue;
            };
            types += error_types(&code_only(&source)).len();
            for problem in undecided(&source) {
                problems.push(format!("{}: {problem}", file.display()));
            }
        }
        assert!(types > 40, "the scan found only {types} error types");
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
