//! Words and Docker's variable substitution.

use super::DockerfileError;

/// Splits on whitespace outside quotes, keeping quotes and escapes in the words for
/// the later substitution pass (Docker's `parseWords`).
pub(super) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut keep_blank = false;
    let mut quote: Option<char> = None;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            if c == escape && q != '\'' {
                match chars.next() {
                    Some(next) => {
                        word.push(c);
                        word.push(next);
                    }
                    None => quote = None,
                }
                continue;
            }
            word.push(c);
            continue;
        }
        if c.is_whitespace() {
            if in_word && (keep_blank || !word.is_empty()) {
                words.push(std::mem::take(&mut word));
            }
            in_word = false;
            keep_blank = false;
            continue;
        }
        in_word = true;
        if c == '\'' || c == '"' {
            quote = Some(c);
            keep_blank = true;
            word.push(c);
            continue;
        }
        if c == escape {
            // An escape at the very end is dropped.
            if let Some(next) = chars.next() {
                word.push(c);
                word.push(next);
            }
            continue;
        }
        word.push(c);
    }
    if in_word && (keep_blank || !word.is_empty()) {
        words.push(word);
    }
    words
}

// ---------------------------------------------------------------------------------
// Substitution.

/// Docker's single-word processing: quotes removed, escapes resolved, `$` references
/// replaced. Whitespace is kept as it is.
pub(super) fn expand(
    word: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    escape: char,
    line: usize,
) -> Result<String, DockerfileError> {
    let mut lexer = Lexer {
        chars: word.chars().collect(),
        pos: 0,
        escape,
        lookup,
    };
    lexer
        .until(None)
        .map(|(value, _)| value)
        .map_err(|message| DockerfileError::Substitution { line, message })
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Processes up to `stop` (consumed) or the end; says whether `stop` was found.
    fn until(&mut self, stop: Option<char>) -> Result<(String, bool), String> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok((out, true));
            }
            match c {
                '\'' => out.push_str(&self.single_quoted()?),
                '"' => out.push_str(&self.double_quoted()?),
                '$' => out.push_str(&self.dollar()?),
                _ => {
                    self.pos += 1;
                    if c == self.escape {
                        match self.next() {
                            Some(escaped) => out.push(escaped),
                            None => break,
                        }
                    } else {
                        out.push(c);
                    }
                }
            }
        }
        Ok((out, false))
    }

    fn single_quoted(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for a matching `'`".to_owned(),
                    );
                }
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for a matching `\"`".to_owned(),
                    );
                }
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) => {
                    self.pos += 1;
                    if c == self.escape {
                        match self.peek() {
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == self.escape => {
                                self.pos += 1;
                                out.push(next);
                                continue;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        if let Some(c) = self.peek() {
            if c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    self.pos += 1;
                    name.push(d);
                }
                return name;
            }
            if "@*#?-$!0".contains(c) {
                self.pos += 1;
                name.push(c);
                return name;
            }
        }
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            self.pos += 1;
            name.push(c);
        }
        name
    }

    fn dollar(&mut self) -> Result<String, String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_owned());
            }
            return Ok((self.lookup)(&name).unwrap_or_default());
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("syntax error: missing `}`".to_owned()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".to_owned()),
            Some(_) => {}
        }
        let name = self.name();
        if name.is_empty() {
            return Err("syntax error: bad substitution".to_owned());
        }
        let value = (self.lookup)(&name);
        let (colon, modifier) = match self.next() {
            None => return Err("syntax error: missing `}`".to_owned()),
            Some('}') => return Ok(value.unwrap_or_default()),
            Some(':') => (true, self.next()),
            Some(c) => (false, Some(c)),
        };
        let modifier = match modifier {
            Some(m @ ('-' | '+' | '?')) => m,
            Some(other) => {
                return Err(format!(
                    "unsupported modifier `{other}` in substitution `${{{name}...}}`"
                ));
            }
            None => return Err("syntax error: missing `}`".to_owned()),
        };
        let (word, found) = self.until(Some('}'))?;
        if !found {
            return Err("syntax error: missing `}`".to_owned());
        }
        // With `:`, an empty value counts as unset.
        let present = match &value {
            Some(v) => !(colon && v.is_empty()),
            None => false,
        };
        match modifier {
            '-' => Ok(if present {
                value.unwrap_or_default()
            } else {
                word
            }),
            '+' => Ok(if present { word } else { String::new() }),
            _ => {
                if present {
                    Ok(value.unwrap_or_default())
                } else if word.is_empty() {
                    Err(format!(
                        "variable `{name}` is not allowed to be unset or empty"
                    ))
                } else {
                    Err(format!("variable `{name}`: {word}"))
                }
            }
        }
    }
}
