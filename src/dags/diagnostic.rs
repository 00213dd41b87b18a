//! Findings about a source file, located by line and column, and their rendering.
//!
//! Owns [`Diagnostic`] (what `--json` emits and what humans read) and [`SourceMap`],
//! which turns byte offsets from the parser into 1-based lines and columns. Library code
//! never prints: rendering is a `Display` impl the CLI chooses to use.

use std::fmt;

use serde::Serialize;

/// What went wrong, as a stable, machine-readable tag (`kind` in JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum DiagnosticKind {
    /// The file is not valid Python.
    SyntaxError,
    /// Valid Python, but not on the image's Python version (e.g. `match` on 3.9).
    UnsupportedSyntax,
    /// The file is not UTF-8.
    EncodingError,
    /// A relative import that cannot work from where the file lives.
    InvalidRelativeImport,
    /// An import that nothing in the image provides.
    UnresolvedImport,
    /// Airflow itself failed to load the file (tier 2: a cycle, a bad operator
    /// argument, an exception at import time).
    DagImportError,
}

impl DiagnosticKind {
    /// The tag as written in JSON.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::SyntaxError => "syntax-error",
            Self::UnsupportedSyntax => "unsupported-syntax",
            Self::EncodingError => "encoding-error",
            Self::InvalidRelativeImport => "invalid-relative-import",
            Self::UnresolvedImport => "unresolved-import",
            Self::DagImportError => "dag-import-error",
        }
    }
}

impl fmt::Display for DiagnosticKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding in one file.
///
/// Serialises as `{file, line, column, kind, message, hint?}`; the source line is for
/// the human rendering only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Diagnostic {
    /// Path relative to the project root, `/`-separated.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
    pub kind: DiagnosticKind,
    pub message: String,
    /// How to fix it, when there is something better to say than the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The offending line, without its line ending.
    #[serde(skip)]
    pub source_line: String,
}

impl Diagnostic {
    /// The sort key that makes reports independent of thread scheduling.
    pub(crate) fn position(&self) -> (&str, u32, u32, DiagnosticKind) {
        (&self.file, self.line, self.column, self.kind)
    }
}

/// `file:line:col: message`, the source line, a caret under the column and the hint.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        // Keep tabs so the caret lines up in a terminal whatever its tab width.
        let pad: String = self
            .source_line
            .chars()
            .take(self.column.saturating_sub(1) as usize)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        writeln!(f, "    {}", self.source_line)?;
        write!(f, "    {pad}^")?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// A file's text with its line starts, for turning parser offsets into positions.
#[derive(Debug)]
pub(crate) struct SourceMap<'a> {
    file: &'a str,
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> SourceMap<'a> {
    pub(crate) fn new(file: &'a str, text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Self {
            file,
            text,
            line_starts,
        }
    }

    pub(crate) fn file(&self) -> &'a str {
        self.file
    }

    /// 1-based line and character column of a byte offset.
    ///
    /// An offset at the very end of a file that ends with a newline (where the parser
    /// puts "unexpected end of file") is moved back onto the last line, so the rendered
    /// source line is never empty for no reason.
    pub(crate) fn line_column(&self, offset: usize) -> (u32, u32) {
        let mut offset = offset.min(self.text.len());
        if offset == self.text.len() && offset > 0 && self.text.ends_with('\n') {
            offset -= 1;
            if offset > 0 && self.text.as_bytes()[offset - 1] == b'\r' {
                offset -= 1;
            }
        }
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self.line_starts[line.saturating_sub(1)];
        let column = match self.text.get(start..offset) {
            Some(prefix) => prefix.chars().count(),
            None => offset - start,
        };
        (to_u32(line), to_u32(column + 1))
    }

    /// The text of a 1-based line without its line ending.
    pub(crate) fn line_text(&self, line: u32) -> &'a str {
        let index = (line as usize).saturating_sub(1);
        let Some(&start) = self.line_starts.get(index) else {
            return "";
        };
        let end = self
            .line_starts
            .get(index + 1)
            .copied()
            .unwrap_or(self.text.len());
        let raw = self.text.get(start..end).unwrap_or("");
        raw.trim_end_matches(['\n', '\r'])
    }

    /// A diagnostic at a byte offset of this file.
    pub(crate) fn diagnostic(
        &self,
        offset: usize,
        kind: DiagnosticKind,
        message: String,
        hint: Option<String>,
    ) -> Diagnostic {
        let (line, column) = self.line_column(offset);
        Diagnostic {
            file: self.file.to_owned(),
            line,
            column,
            kind,
            message,
            hint,
            source_line: self.line_text(line).to_owned(),
        }
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let map = SourceMap::new("a.py", "x = 1\ny = 'é'+\n");
        assert_eq!(map.line_column(0), (1, 1));
        assert_eq!(map.line_column(6), (2, 1));
        // `+` comes after a two-byte character.
        let plus = "x = 1\ny = 'é'".len();
        assert_eq!(map.line_column(plus), (2, 8));
        assert_eq!(map.line_text(2), "y = 'é'+");
        // End of file after a trailing newline stays on the last line.
        assert_eq!(map.line_column(map.text.len()), (2, 9));
    }

    #[test]
    fn renders_file_line_column_source_and_caret() {
        let map = SourceMap::new("dags/a.py", "import os\n\tfoo(\n");
        let d = map.diagnostic(
            12,
            DiagnosticKind::SyntaxError,
            "Expected `)`".into(),
            Some("close it".into()),
        );
        assert_eq!(
            d.to_string(),
            "dags/a.py:2:3: Expected `)`\n    \tfoo(\n    \t ^\n  hint: close it"
        );
    }
}
