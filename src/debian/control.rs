//! deb822 control paragraphs: `Packages` indices, the dpkg `status` database,
//! `.deb` control files, `Release` bodies and `.sources` files. Pure and zero-copy:
//! fields borrow from the input text, so a whole `Packages` index is walked without
//! copying it. It knows nothing about what any field means.

use std::fmt;

/// Why a control text was refused. Line numbers are 1-based in the whole text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("Line {line}: continuation line without a field before it")]
    OrphanContinuation { line: usize },
    #[error("Line {line}: expected `Name: value`, found no `:`")]
    MissingColon { line: usize },
    #[error("Line {line}: field name `{name}` is not valid")]
    BadFieldName { line: usize, name: String },
    #[error("Line {line}: field `{name}` appears twice in one paragraph")]
    DuplicateField { line: usize, name: String },
}

/// One field of a paragraph, borrowed from the text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    name: &'a str,
    value: &'a str,
    line: usize,
}

impl<'a> Field<'a> {
    /// The name as written (compare with `eq_ignore_ascii_case`).
    pub(crate) fn name(&self) -> &'a str {
        self.name
    }

    /// The value: the first line trimmed, and for multi-line fields every
    /// continuation line after a `\n`, with its leading whitespace kept as written
    /// (so `Description` and `SHA256` keep their shape). A comment line inside a
    /// multi-line field stays in this raw slice; [`Field::continuation_lines`]
    /// drops it.
    pub(crate) fn value(&self) -> &'a str {
        self.value
    }

    /// The continuation lines of a multi-line field with the one leading space of
    /// deb822 removed and ` .` turned into an empty line (the folding rule of
    /// `Description` and inline keys). Comment lines inside the field are skipped.
    pub(crate) fn continuation_lines(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.value
            .lines()
            .skip(1)
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let l = l.strip_suffix('\r').unwrap_or(l);
                let l = l
                    .strip_prefix(' ')
                    .or_else(|| l.strip_prefix('\t'))
                    .unwrap_or(l);
                if l == "." { "" } else { l }
            })
    }

    /// The 1-based line where the field starts.
    pub(crate) fn line(&self) -> usize {
        self.line
    }
}

impl fmt::Debug for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}", self.name, self.value)
    }
}

/// One paragraph: its fields in the order written (never none).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Paragraph<'a> {
    fields: Vec<Field<'a>>,
}

impl<'a> Paragraph<'a> {
    /// The value of a field, looked up case-insensitively.
    pub(crate) fn get(&self, name: &str) -> Option<&'a str> {
        self.field(name).map(|f| f.value)
    }

    /// The field itself, looked up case-insensitively.
    pub(crate) fn field(&self, name: &str) -> Option<&Field<'a>> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// All fields in order.
    pub(crate) fn fields(&self) -> &[Field<'a>] {
        &self.fields
    }

    /// The 1-based line of the paragraph's first field.
    pub(crate) fn line(&self) -> usize {
        self.fields.first().map_or(0, Field::line)
    }

    /// Writes the paragraph back in deb822 form (no trailing blank line).
    pub(crate) fn write_to(&self, out: &mut String) {
        for f in &self.fields {
            out.push_str(f.name);
            out.push(':');
            if !f.value.starts_with('\n') && !f.value.is_empty() {
                out.push(' ');
            }
            out.push_str(f.value);
            out.push('\n');
        }
    }
}

impl fmt::Debug for Paragraph<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.fields).finish()
    }
}

/// Iterates the paragraphs of a control text. Paragraphs are separated by one or
/// more blank (or whitespace-only) lines; lines starting with `#` are comments.
/// After the first error the iterator ends.
pub(super) fn paragraphs(text: &str) -> Paragraphs<'_> {
    Paragraphs {
        text,
        pos: 0,
        line: 0,
        failed: false,
    }
}

/// Iterator returned by [`paragraphs`].
pub(super) struct Paragraphs<'a> {
    text: &'a str,
    pos: usize,
    /// Lines consumed so far.
    line: usize,
    failed: bool,
}

impl<'a> Paragraphs<'a> {
    /// Next line (without its `\n` or `\r\n`) and the byte offset just after it.
    fn next_line(&mut self) -> Option<(&'a str, usize)> {
        if self.pos >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.pos..];
        let (line, advance) = match rest.find('\n') {
            Some(n) => (&rest[..n], n + 1),
            None => (rest, rest.len()),
        };
        let start = self.pos;
        self.pos += advance;
        self.line += 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        Some((line, start))
    }

    /// Whether the next line continues the current field, looking past comment
    /// lines (deb822 allows them inside a multi-line field).
    fn peek_is_continuation(&self) -> bool {
        let mut pos = self.pos;
        while self.text.as_bytes().get(pos) == Some(&b'#') {
            match self.text[pos..].find('\n') {
                Some(n) => pos += n + 1,
                None => return false,
            }
        }
        matches!(self.text.as_bytes().get(pos), Some(b' ' | b'\t'))
            && !self.text[pos..]
                .split('\n')
                .next()
                .is_some_and(|l| l.trim().is_empty())
    }

    fn peek_is_blank(&self) -> bool {
        let rest = &self.text[self.pos..];
        let line = rest.find('\n').map_or(rest, |n| &rest[..n]);
        line.trim().is_empty()
    }

    fn parse_one(&mut self) -> Option<Result<Paragraph<'a>, ControlError>> {
        let mut fields: Vec<Field<'a>> = Vec::with_capacity(24);
        loop {
            let at_end = self.pos >= self.text.len();
            if at_end {
                break;
            }
            // Blank line: end of a paragraph, or skipped before one starts.
            if self.peek_is_blank() {
                self.next_line();
                if fields.is_empty() {
                    continue;
                }
                break;
            }
            let (line, _) = self.next_line()?;
            if line.starts_with('#') {
                continue;
            }
            let line_no = self.line;
            if line.starts_with([' ', '\t']) {
                return Some(Err(ControlError::OrphanContinuation { line: line_no }));
            }
            let Some((name, first)) = line.split_once(':') else {
                return Some(Err(ControlError::MissingColon { line: line_no }));
            };
            if !valid_name(name) {
                return Some(Err(ControlError::BadFieldName {
                    line: line_no,
                    name: name.to_owned(),
                }));
            }
            if fields.iter().any(|f| f.name.eq_ignore_ascii_case(name)) {
                return Some(Err(ControlError::DuplicateField {
                    line: line_no,
                    name: name.to_owned(),
                }));
            }
            // Value start: first non-blank byte after the colon, as an offset into text.
            let first_trimmed = first.trim_start_matches([' ', '\t']);
            let value_start = offset_in(self.text, first_trimmed);
            let mut value_end = value_start + first_trimmed.trim_end().len();
            while self.peek_is_continuation() {
                let (cont, start) = self.next_line()?;
                if cont.starts_with('#') {
                    continue;
                }
                value_end = start + cont.trim_end().len();
            }
            fields.push(Field {
                name,
                value: &self.text[value_start..value_end],
                line: line_no,
            });
        }
        if fields.is_empty() {
            None
        } else {
            Some(Ok(Paragraph { fields }))
        }
    }
}

/// Byte offset of `inner` within `outer`; `inner` must be a subslice.
fn offset_in(outer: &str, inner: &str) -> usize {
    inner.as_ptr() as usize - outer.as_ptr() as usize
}

/// deb822: printable US-ASCII except `:`, not starting with `#` or `-`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['#', '-'])
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

impl<'a> Iterator for Paragraphs<'a> {
    type Item = Result<Paragraph<'a>, ControlError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.parse_one();
        if matches!(item, Some(Err(_))) {
            self.failed = true;
        }
        item
    }
}

impl crate::hint::Hint for ControlError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::OrphanContinuation { .. }
            | Self::MissingColon { .. }
            | Self::BadFieldName { .. }
            | Self::DuplicateField { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<Paragraph<'_>> {
        paragraphs(text)
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    const STATUS: &str = "Package: libc6\nStatus: install ok installed\nPriority: optional\nVersion: 2.36-9+deb12u4\nDepends: libgcc-s1\nDescription: GNU C Library: Shared libraries\n Contains the standard libraries that are used by nearly all programs on\n the system.\n .\n Second paragraph.\n\nPackage: zlib1g\nVersion: 1:1.2.13.dfsg-1\n";

    #[test]
    fn fields_in_order_case_insensitive() {
        let ps = all(STATUS);
        assert_eq!(ps.len(), 2);
        let p = &ps[0];
        assert_eq!(p.line(), 1);
        let names: Vec<&str> = p.fields().iter().map(Field::name).collect();
        assert_eq!(
            names,
            [
                "Package",
                "Status",
                "Priority",
                "Version",
                "Depends",
                "Description"
            ]
        );
        assert_eq!(p.get("package"), Some("libc6"));
        assert_eq!(p.get("VERSION"), Some("2.36-9+deb12u4"));
        assert_eq!(p.get("Missing"), None);
        assert_eq!(ps[1].get("Version"), Some("1:1.2.13.dfsg-1"));
        assert_eq!(ps[1].line(), 12);
        assert_eq!(ps[1].field("version").map(Field::line), Some(13));
    }

    #[test]
    fn multiline_values() {
        let ps = all(STATUS);
        let d = ps[0].field("description").unwrap();
        assert_eq!(
            d.value(),
            "GNU C Library: Shared libraries\n Contains the standard libraries that are used by nearly all programs on\n the system.\n .\n Second paragraph."
        );
        let lines: Vec<&str> = d.continuation_lines().collect();
        assert_eq!(
            lines,
            [
                "Contains the standard libraries that are used by nearly all programs on",
                "the system.",
                "",
                "Second paragraph."
            ]
        );
    }

    #[test]
    fn empty_first_line_value() {
        let text = "SHA256:\n 0123 10 main/binary-amd64/Packages\n abcd 20 main/binary-amd64/Packages.xz\nSuite: stable\n";
        let ps = all(text);
        let f = ps[0].field("sha256").unwrap();
        assert_eq!(
            f.value(),
            "\n 0123 10 main/binary-amd64/Packages\n abcd 20 main/binary-amd64/Packages.xz"
        );
        assert_eq!(f.continuation_lines().count(), 2);
        assert_eq!(ps[0].get("Suite"), Some("stable"));
        let mut out = String::new();
        ps[0].write_to(&mut out);
        assert_eq!(out, text);
    }

    #[test]
    fn crlf_blank_runs_whitespace_separators_and_comments() {
        let text =
            "\n\n# comment\r\nA: 1\r\nB:  two  \r\n  more\r\n \t \r\n\r\n\r\n#c\nC:3\n   \nD: 4";
        let ps = all(text);
        assert_eq!(ps.len(), 3);
        assert_eq!(ps[0].get("a"), Some("1"));
        assert_eq!(ps[0].get("b"), Some("two  \r\n  more"));
        assert_eq!(ps[0].line(), 4);
        assert_eq!(ps[1].get("c"), Some("3"));
        assert_eq!(ps[2].get("d"), Some("4"));
        assert_eq!(ps[2].line(), 13);
    }

    #[test]
    fn comments_inside_a_multiline_field() {
        let text = "Signed-By:\n -----BEGIN\n# a comment\n abc\n -----END\nNext: 1\n";
        let ps = all(text);
        let f = ps[0].field("signed-by").unwrap();
        let lines: Vec<&str> = f.continuation_lines().collect();
        assert_eq!(lines, ["-----BEGIN", "abc", "-----END"]);
        assert_eq!(ps[0].get("next"), Some("1"));
        // A comment just before the next field does not glue it to the value.
        let ps = all("A: 1\n# c\nB: 2\n");
        assert_eq!(ps[0].get("a"), Some("1"));
        assert_eq!(ps[0].get("b"), Some("2"));
    }

    #[test]
    fn empty_text() {
        assert!(all("").is_empty());
        assert!(all("\n \n\t\n").is_empty());
    }

    #[test]
    fn errors_name_lines() {
        let e = |t: &str| paragraphs(t).find_map(Result::err).unwrap();
        assert_eq!(
            e("A: 1\n\n continued\n"),
            ControlError::OrphanContinuation { line: 3 }
        );
        assert_eq!(
            e("A: 1\nnot a field\n"),
            ControlError::MissingColon { line: 2 }
        );
        assert_eq!(
            e("A: 1\na: 2\n"),
            ControlError::DuplicateField {
                line: 2,
                name: "a".into()
            }
        );
        assert_eq!(
            e("A: 1\n\n-B: 2\n"),
            ControlError::BadFieldName {
                line: 3,
                name: "-B".into()
            }
        );
        assert_eq!(
            e("A b: 2\n"),
            ControlError::BadFieldName {
                line: 1,
                name: "A b".into()
            }
        );
        assert_eq!(
            e(": 2\n"),
            ControlError::BadFieldName {
                line: 1,
                name: "".into()
            }
        );
        // The iterator stops after an error.
        let mut it = paragraphs("A: 1\n\nbad\n\nB: 2\n");
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
        assert_eq!(
            ControlError::MissingColon { line: 7 }.to_string(),
            "Line 7: expected `Name: value`, found no `:`"
        );
    }

    /// A synthetic index about the size of a real main/amd64 `Packages` file.
    /// Run with `cargo test --release -- --ignored --nocapture`.
    #[test]
    #[ignore = "benchmark; run in release mode"]
    fn large_index_speed() {
        let mut text = String::with_capacity(64 << 20);
        let mut n = 0;
        while text.len() < 60 << 20 {
            text.push_str(&format!(
                "Package: pkg{n}\nVersion: 1.{n}-1\nInstalled-Size: 123\nMaintainer: Someone <someone@example.invalid>\nArchitecture: amd64\nDepends: libc6 (>= 2.34), libfoo{n} (= 1.{n}-1) | libbar, zlib1g\nDescription: package number {n}\n A long description line that goes on for a while to look real.\n .\n Another line of the long description.\nDescription-md5: 0123456789abcdef0123456789abcdef\nSection: misc\nPriority: optional\nFilename: pool/main/p/pkg{n}/pkg{n}_1.{n}-1_amd64.deb\nSize: 12345\nMD5sum: 0123456789abcdef0123456789abcdef\nSHA256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n\n"
            ));
            n += 1;
        }
        let start = std::time::Instant::now();
        let mut count = 0usize;
        let mut deps = 0usize;
        for p in paragraphs(&text) {
            let p = p.unwrap();
            count += 1;
            deps += p.get("depends").map_or(0, str::len);
        }
        let took = start.elapsed();
        eprintln!(
            "{} MB, {count} paragraphs in {took:?} ({deps})",
            text.len() >> 20
        );
        assert_eq!(count, n);
    }
}
