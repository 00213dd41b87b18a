//! Text from outside (registries, records) made safe to print on a terminal.
//!
//! Control characters (C0, DEL, C1: what starts terminal escape sequences, moves
//! the cursor or rings the bell) and the invisible bidirectional overrides are
//! shown as Rust-style escapes (`\u{1b}`, `\n`), so a value can neither drive the
//! terminal nor pass for something else. Everything else, non-ASCII text included,
//! stays as it is. Escaping escaped text changes nothing more.

use std::borrow::Cow;

/// Bidirectional embeddings, overrides and isolates, and the direction marks.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whether [`printable`] escapes `c`.
pub(crate) fn needs_escape(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// `text` with every control character escaped; borrowed when there is none.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`printable`] line by line: the line breaks of a multi-line message stay.
pub(crate) fn printable_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && needs_escape(c)) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.split('\n')
            .map(printable)
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Whether `text` holds a character [`printable`] would escape.
pub(crate) fn has_control(text: &str) -> bool {
    text.chars().any(needs_escape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_drives_a_terminal() {
        assert_eq!(printable("plain, ünïcode ✓"), "plain, ünïcode ✓");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
        assert_eq!(
            printable("\u{1b}]0;owned\u{7}\u{1b}[2J"),
            "\\u{1b}]0;owned\\u{7}\\u{1b}[2J"
        );
        assert_eq!(
            printable("a\nb\r\tc\u{7f}\u{9b}"),
            "a\\nb\\r\\tc\\u{7f}\\u{9b}"
        );
        assert_eq!(printable("abc\u{202e}fdp.exe"), "abc\\u{202e}fdp.exe");
        let once = printable("\u{1b}[31m").into_owned();
        assert_eq!(printable(&once), once, "idempotent");
        assert!(has_control("x\u{1b}") && !has_control("x"));
        assert_eq!(printable_lines("a\nb\u{1b}\nc"), "a\nb\\u{1b}\nc");
        assert!(matches!(printable_lines("a\nb"), Cow::Borrowed(_)));
    }
}
