//! Lines: parser directives, comments, continuations.

use super::DockerfileError;

pub(super) struct LogicalLine {
    /// 1-based line where the instruction starts.
    pub line: usize,
    pub text: String,
}

/// Reads the parser directives, then joins continued lines, dropping comments and blank
/// lines the way Docker's parser does.
pub(super) fn logical_lines(text: &str) -> Result<(char, Vec<LogicalLine>), DockerfileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let physical: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();

    let mut escape = '\\';
    let mut seen: Vec<String> = Vec::new();
    for (index, raw) in physical.iter().enumerate() {
        let Some((name, value)) = directive(raw) else {
            break;
        };
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            break;
        }
        let line = index + 1;
        if seen.contains(&name) {
            return Err(DockerfileError::DuplicateDirective {
                line,
                directive: name,
            });
        }
        if name == "syntax" && !standard_frontend(value) {
            return Err(DockerfileError::Frontend {
                line,
                syntax: value.to_owned(),
            });
        }
        if name == "escape" {
            escape = match value {
                "\\" => '\\',
                "`" => '`',
                _ => {
                    return Err(DockerfileError::EscapeDirective {
                        line,
                        value: value.to_owned(),
                    });
                }
            };
        }
        seen.push(name);
    }

    let is_comment = |l: &str| l.trim_start().starts_with('#');
    let mut out = Vec::new();
    let mut i = 0;
    while i < physical.len() {
        let raw = physical[i];
        i += 1;
        let start = i;
        let first = raw.trim_start();
        if first.starts_with('#') {
            continue;
        }
        let (mut joined, mut continues) = trim_continuation(first, escape);
        let mut joined_text = joined.to_owned();
        if !continues && joined.trim().is_empty() {
            continue;
        }
        while continues && i < physical.len() {
            let next = physical[i];
            i += 1;
            // Comment lines and blank lines inside a continuation are skipped.
            if is_comment(next) || next.trim().is_empty() {
                continue;
            }
            (joined, continues) = trim_continuation(next, escape);
            joined_text.push_str(joined);
        }
        if joined_text.trim().is_empty() {
            continue;
        }
        out.push(LogicalLine {
            line: start,
            text: joined_text,
        });
    }
    Ok((escape, out))
}

/// `# name = value` → (`name` lowercased, `value`), when the line has that shape.
fn directive(raw: &str) -> Option<(String, &str)> {
    let rest = raw.trim_start().strip_prefix('#')?.trim_start();
    let name_len = rest
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_alphabetic() || (*i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let (name, rest) = rest.split_at(name_len);
    let value = rest.trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((name.to_ascii_lowercase(), value))
}

/// Strips a trailing escape character (followed only by spaces or tabs), reporting
/// whether the line continues.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(content) => (content, true),
        None => (line, false),
    }
}

pub(super) fn split_keyword(text: &str) -> (&str, &str) {
    let text = text.trim();
    match text.find(char::is_whitespace) {
        Some(at) => (&text[..at], text[at..].trim_start()),
        None => (text, ""),
    }
}

/// Whether a `# syntax=` image is the standard Dockerfile frontend
/// (`docker/dockerfile[:tag][@digest]`, from any registry or mirror), whose syntax
/// airlock implements; any other frontend (the Astronomer one among them) defines
/// instructions airlock does not know.
fn standard_frontend(value: &str) -> bool {
    let name = value.split('@').next().unwrap_or(value);
    // A tag follows the last `:` after the last `/` (a registry port is before it).
    let name = match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    };
    let name = name.to_ascii_lowercase();
    name == "docker/dockerfile" || name.ends_with("/docker/dockerfile")
}
