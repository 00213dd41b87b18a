//! A strict reader for the little shell a RUN idiom may be written in: words
//! (unquoted, `'single'`, `"double"`, backslash escapes) joined into simple commands
//! by `&&`. Everything else a POSIX shell would give meaning to (`;`, `||`, `|`, `&`,
//! redirections, subshells, `$` expansions, backquotes, comments, tilde expansion,
//! `*`/`?` globs, brace groups) makes the text unreadable here: `None`, never a guess.

/// One word as the shell would pass it, and whether it held an unquoted glob
/// character (`*`, `?`, `[`): the caller decides whether that exact word is one it
/// knows (the `rm -rf /var/lib/apt/lists/*` idiom, a `name[extra]` requirement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word {
    pub text: String,
    pub glob: bool,
}

/// A simple command: its words, in order (never empty).
pub(super) type Command = Vec<Word>;

/// Splits `text` into `&&`-joined simple commands; `None` when it uses anything else.
pub(super) fn split(text: &str) -> Option<Vec<Command>> {
    let mut commands: Vec<Command> = Vec::new();
    let mut current: Command = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        // Blanks between words; a backslash-newline is a line continuation.
        while let Some(&c) = chars.peek() {
            if c == ' ' || c == '\t' || c == '\n' {
                chars.next();
            } else if c == '\\' {
                let mut ahead = chars.clone();
                ahead.next();
                if ahead.peek() == Some(&'\n') {
                    chars.next();
                    chars.next();
                } else {
                    break;
                }
            } else {
                break;
            }
        }
        let Some(&c) = chars.peek() else { break };
        if c == '&' {
            chars.next();
            if chars.next() != Some('&') || current.is_empty() {
                return None;
            }
            commands.push(std::mem::take(&mut current));
            continue;
        }
        current.push(word(&mut chars)?);
    }
    if current.is_empty() {
        // Empty text, or a trailing `&&`.
        return None;
    }
    commands.push(current);
    Some(commands)
}

/// Characters that end a word or mean something to the shell outside quotes.
fn is_special(c: char) -> bool {
    matches!(
        c,
        ';' | '|' | '&' | '<' | '>' | '(' | ')' | '{' | '}' | '`' | '$' | '#' | '\r' | '!'
    )
}

/// Reads one word starting at a non-blank; `None` on anything not understood.
fn word(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<Word> {
    let mut text = String::new();
    let mut glob = false;
    let mut first = true;
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' | '\n' => break,
            '&' if !first => break,
            '\'' => {
                chars.next();
                loop {
                    match chars.next()? {
                        '\'' => break,
                        other => text.push(other),
                    }
                }
            }
            '"' => {
                chars.next();
                loop {
                    match chars.next()? {
                        '"' => break,
                        '$' | '`' | '!' => return None,
                        '\\' => match chars.next()? {
                            '\n' => {}
                            e @ ('"' | '\\') => text.push(e),
                            '$' | '`' => return None,
                            e => {
                                text.push('\\');
                                text.push(e);
                            }
                        },
                        other => text.push(other),
                    }
                }
            }
            '\\' => {
                chars.next();
                match chars.next()? {
                    '\n' => {}
                    e => text.push(e),
                }
            }
            '~' if first => return None,
            '*' | '?' | '[' | ']' => {
                chars.next();
                glob = true;
                text.push(c);
            }
            c if is_special(c) => return None,
            c => {
                chars.next();
                text.push(c);
            }
        }
        first = false;
    }
    if first {
        return None;
    }
    Some(Word { text, glob })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Option<Vec<Vec<String>>> {
        split(text).map(|commands| {
            commands
                .into_iter()
                .map(|c| c.into_iter().map(|w| w.text).collect())
                .collect()
        })
    }

    #[test]
    fn shell_reads_words_quotes_and_and_chains() {
        assert_eq!(
            texts("pip install  'a>=1' \"b<2\" c\\ d && echo x"),
            Some(vec![
                vec![
                    "pip".into(),
                    "install".into(),
                    "a>=1".into(),
                    "b<2".into(),
                    "c d".into()
                ],
                vec!["echo".into(), "x".into()]
            ])
        );
        assert_eq!(
            texts("a&&b \\\n && c"),
            Some(vec![vec!["a".into()], vec!["b".into()], vec!["c".into()]])
        );
        assert_eq!(texts("'it''s'"), Some(vec![vec!["its".into()]]));
        assert_eq!(
            texts("\"a\\\\b\\\"c\\d\""),
            Some(vec![vec!["a\\b\"c\\d".into()]])
        );
    }

    #[test]
    fn shell_refuses_everything_else() {
        for text in [
            "",
            "   ",
            "a ; b",
            "a;b",
            "a || b",
            "a | b",
            "a & b",
            "a &&",
            "&& a",
            "a && && b",
            "a > f",
            "a 2>/dev/null",
            "a < f",
            "(a)",
            "{ a; }",
            "a $(b)",
            "a `b`",
            "a $HOME",
            "a ${X}",
            "a \"$X\"",
            "a \"`b`\"",
            "a # comment",
            "cd ~",
            "'unterminated",
            "\"unterminated",
            "a \\",
            "a\rb",
            "! a",
        ] {
            assert_eq!(texts(text), None, "{text:?}");
        }
    }

    #[test]
    fn shell_marks_unquoted_globs_only() {
        let commands = split("rm -rf /var/lib/apt/lists/* '*' x[y]").unwrap_or_default();
        let globs: Vec<bool> = commands[0].iter().map(|w| w.glob).collect();
        assert_eq!(globs, [false, false, true, false, true]);
    }
}
