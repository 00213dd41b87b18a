//! Parsing Python sources with Ruff's parser and reporting syntax errors.
//!
//! Owns the step from bytes to an AST: UTF-8 decoding (a leading BOM is allowed),
//! parsing for the image's Python version, and turning the first syntax error into a
//! [`Diagnostic`]. Only the first error is reported, as CPython does: everything after
//! it is the parser's guesswork. It must not look at imports or the module universe.

use ruff_python_ast::ModModule;
use ruff_python_ast::token::{Token, TokenKind};
use ruff_python_parser::{Mode, ParseOptions, parse_unchecked};
use ruff_text_size::Ranged;

use super::diagnostic::{Diagnostic, DiagnosticKind, SourceMap};
use super::resolve::PythonVersion;

/// A file that parsed cleanly for the target Python version.
#[derive(Debug)]
pub(super) struct ParsedSource<'a> {
    /// The decoded text (BOM removed); AST offsets point into it.
    pub text: &'a str,
    pub module: ModModule,
}

/// Decodes and parses one file; `Err` holds its first syntax or encoding error.
///
/// Syntax that the parser accepts but `python` does not (a `match` statement on 3.9,
/// `except*` on 3.10, PEP 695 generics on 3.11...) is an error too, because the
/// interpreter in the image would reject the file.
pub(super) fn parse_source<'a>(
    file: &str,
    contents: &'a [u8],
    python: PythonVersion,
) -> Result<ParsedSource<'a>, Box<Diagnostic>> {
    let contents = contents.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(contents);
    let text = match std::str::from_utf8(contents) {
        Ok(text) => text,
        Err(error) => {
            let valid = &contents[..error.valid_up_to()];
            // The prefix is valid UTF-8 by construction; fall back to no text at all.
            let prefix = std::str::from_utf8(valid).unwrap_or("");
            let map = SourceMap::new(file, prefix);
            return Err(Box::new(map.diagnostic(
                prefix.len(),
                DiagnosticKind::EncodingError,
                "File is not valid UTF-8".to_owned(),
                Some(
                    "save the file as UTF-8 (PEP 263 coding declarations are not supported)".into(),
                ),
            )));
        }
    };

    let options = ParseOptions::from(Mode::Module).with_target_version(python.to_ruff());
    let parsed = parse_unchecked(text, options);

    let first_syntax = parsed
        .errors()
        .iter()
        .min_by_key(|e| e.location.start())
        .map(|e| {
            (
                e.location.start(),
                DiagnosticKind::SyntaxError,
                e.error.to_string(),
            )
        });
    let first_unsupported = parsed
        .unsupported_syntax_errors()
        .iter()
        .min_by_key(|e| e.range().start())
        .map(|e| {
            (
                e.range().start(),
                DiagnosticKind::UnsupportedSyntax,
                e.to_string(),
            )
        });
    let mut first = match (first_syntax, first_unsupported) {
        (Some(s), Some(u)) => Some(if u.0 < s.0 { u } else { s }),
        (s, u) => s.or(u),
    };
    // Like CPython, blame a bracket that is still open where the parser gave up, when
    // the error is on a later line or at the end of the file: the error is most likely
    // an effect of the missing closing bracket.
    if let Some(error) = &mut first
        && let Some((open_at, kind)) = open_bracket_at(parsed.tokens(), error.0)
    {
        let map = SourceMap::new(file, text);
        let at_end = text[error.0.to_usize().min(text.len())..].trim().is_empty();
        if at_end || map.line_column(open_at.to_usize()).0 < map.line_column(error.0.to_usize()).0 {
            *error = (
                open_at,
                DiagnosticKind::SyntaxError,
                format!("{kind} was never closed"),
            );
        }
    }
    if let Some((offset, kind, message)) = first {
        let map = SourceMap::new(file, text);
        return Err(Box::new(map.diagnostic(
            offset.to_usize(),
            kind,
            message,
            None,
        )));
    }

    match parsed.try_into_module() {
        Some(parsed) => Ok(ParsedSource {
            text,
            module: parsed.into_syntax(),
        }),
        // Mode::Module always yields a module; treat anything else as unparseable.
        None => Err(Box::new(SourceMap::new(file, text).diagnostic(
            0,
            DiagnosticKind::SyntaxError,
            "Not a Python module".to_owned(),
            None,
        ))),
    }
}

/// The innermost bracket still open just before `offset`.
fn open_bracket_at(
    tokens: &[Token],
    offset: ruff_text_size::TextSize,
) -> Option<(ruff_text_size::TextSize, TokenKind)> {
    let mut open: Vec<&Token> = Vec::new();
    for token in tokens.iter().take_while(|t| t.start() < offset) {
        match token.kind() {
            TokenKind::Lpar | TokenKind::Lsqb | TokenKind::Lbrace => open.push(token),
            TokenKind::Rpar | TokenKind::Rsqb | TokenKind::Rbrace => {
                open.pop();
            }
            _ => {}
        }
    }
    open.last().map(|token| (token.start(), token.kind()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py(minor: u8) -> PythonVersion {
        PythonVersion::new(3, minor).expect("supported version")
    }

    fn error(src: &str, minor: u8) -> Diagnostic {
        *parse_source("dags/x.py", src.as_bytes(), py(minor)).expect_err("should fail")
    }

    #[test]
    fn valid_file_parses() {
        let parsed = parse_source("dags/x.py", b"import os\n\nprint(os.sep)\n", py(11));
        assert!(parsed.is_ok());
    }

    #[test]
    fn unclosed_paren_points_at_the_right_place() {
        // Same line and column as CPython 3.11.
        let d = error("import os\n\nx = foo(1,\ny = 2\n", 11);
        assert_eq!(d.kind, DiagnosticKind::SyntaxError);
        assert_eq!((d.line, d.column), (3, 8), "{d}");
        assert_eq!(d.message, "`(` was never closed");
        let d = error("a = [1,\n(2, 3\n", 11);
        assert_eq!((d.line, d.column), (2, 1), "{d}");
        // An error before the bracket opens is still the first error.
        let d = error("x = 1 $ 2\nfoo(\n", 11);
        assert_eq!((d.line, d.column), (1, 7), "{d}");
    }

    #[test]
    fn bad_indentation_and_missing_colon() {
        let d = error("def f()\n    return 1\n", 11);
        assert_eq!((d.line, d.column), (1, 8), "{d}");
        assert_eq!(d.source_line, "def f()");
        let d = error("x = 1\n  y = 2\n", 11);
        assert_eq!(d.line, 2, "{d}");
    }

    #[test]
    fn columns_count_characters_after_non_ascii() {
        let d = error("s = 'ééé' +\n", 11);
        assert_eq!((d.line, d.column), (1, 12), "{d}");
    }

    #[test]
    fn match_statement_depends_on_the_python_version() {
        let src = "match x:\n    case 1:\n        pass\n";
        let d = error(src, 9);
        assert_eq!(d.kind, DiagnosticKind::UnsupportedSyntax);
        assert_eq!((d.line, d.column), (1, 1));
        assert!(d.message.contains("3.9"), "{}", d.message);
        assert!(parse_source("x.py", src.as_bytes(), py(10)).is_ok());
    }

    #[test]
    fn bom_is_allowed_and_bad_utf8_is_located() {
        assert!(parse_source("x.py", b"\xEF\xBB\xBFimport os\n", py(11)).is_ok());
        let d = *parse_source("x.py", b"a = 1\nb = '\xff'\n", py(11)).expect_err("not utf-8");
        assert_eq!(d.kind, DiagnosticKind::EncodingError);
        assert_eq!((d.line, d.column), (2, 6));
    }
}
