//! The Dockerfile subset airlock supports, parsed and evaluated the way Docker does.
//!
//! Owns: parser directives (`# syntax=`, `# escape=`), comments, line continuations,
//! the single-stage instructions `ARG`, `FROM`, `ENV`, `LABEL`, `USER` and `WORKDIR`,
//! and Docker's variable substitution (`$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR:+alt}`, quotes, escapes). Evaluation applies those instructions over the base
//! image's config values.
//!
//! Must not: read files, pull images or run anything. Every other instruction (and a
//! second `FROM`) is refused with an error naming its line, never silently skipped.

use std::collections::BTreeMap;

use thiserror::Error;

/// The only platform airlock builds for.
pub const PLATFORM: &str = "linux/amd64";

/// An error in a Dockerfile; every variant that concerns one instruction names its
/// 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DockerfileError {
    #[error(
        "Line {line}: `{instruction}` is not supported yet; airlock builds Dockerfiles made of `FROM`, `ARG`, `ENV`, `LABEL`, `USER` and `WORKDIR`"
    )]
    Unsupported { line: usize, instruction: String },
    #[error("Line {line}: unknown instruction `{word}`")]
    UnknownInstruction { line: usize, word: String },
    #[error(
        "Line {line}: a second `FROM`; multi-stage builds are not supported yet (the first `FROM` is on line {first})"
    )]
    MultiStage { line: usize, first: usize },
    #[error("No `FROM` instruction; a Dockerfile needs exactly one")]
    MissingFrom,
    #[error("Line {line}: `{instruction}` must come after `FROM`; only `ARG` may precede it")]
    BeforeFrom { line: usize, instruction: String },
    #[error(
        "Line {line}: platform `{platform}` is not supported; airlock builds `linux/amd64` only"
    )]
    Platform { line: usize, platform: String },
    #[error("Line {line}: unknown flag `--{flag}` for `{instruction}`")]
    UnknownFlag {
        line: usize,
        instruction: String,
        flag: String,
    },
    #[error("Line {line}: `{instruction}` {message}")]
    Arguments {
        line: usize,
        instruction: String,
        message: String,
    },
    #[error("Line {line}: {message}")]
    Substitution { line: usize, message: String },
    #[error("Line {line}: invalid `escape` directive `{value}`; it must be `\\` or `` ` ``")]
    EscapeDirective { line: usize, value: String },
    #[error("Line {line}: the `{directive}` parser directive is given more than once")]
    DuplicateDirective { line: usize, directive: String },
}

/// A parsed single-stage Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub from: FromLine,
    /// Instructions after `FROM`, with raw (unexpanded) words.
    pub instructions: Vec<Instruction>,
    /// Values of the `ARG`s declared before `FROM` (build args applied); an `ARG`
    /// without a default inside the stage inherits its value from here.
    pub global_args: BTreeMap<String, String>,
    /// The escape character: `\` unless an `# escape=` directive says `` ` ``.
    pub escape: char,
}

/// The `FROM` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromLine {
    /// The base image reference, after substitution.
    pub image: String,
    /// `--platform`, after substitution (always `linux/amd64` when present).
    pub platform: Option<String>,
    /// `AS name`, lowercased.
    pub stage_name: Option<String>,
    pub line: usize,
}

/// One instruction after `FROM`, with its 1-based line (the first physical line when
/// it is continued).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub line: usize,
    pub kind: InstructionKind,
}

/// The supported instructions with their raw words: quotes, escapes and `$` references
/// are still in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstructionKind {
    /// `ARG name[=default] ...`
    Arg(Vec<(String, Option<String>)>),
    /// `ENV key=value ...` or the legacy `ENV key value`.
    Env(Vec<(String, String)>),
    /// `LABEL key=value ...` or the legacy `LABEL key value`.
    Label(Vec<(String, String)>),
    /// `USER user[:group]`
    User(String),
    /// `WORKDIR path`
    Workdir(String),
}

/// The Dockerfile's effect on the image config, applied over the base's config values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Evaluated {
    /// The full environment in order: base entries updated in place, new keys appended.
    pub env: Vec<(String, String)>,
    /// Only the labels the Dockerfile sets.
    pub labels: BTreeMap<String, String>,
    pub user: Option<String>,
    /// Absolute, resolved against the base workdir like Docker does.
    pub workdir: Option<String>,
}

/// Parses a Dockerfile, substituting build args and pre-`FROM` `ARG`s into `FROM`.
pub fn parse(
    text: &str,
    build_args: &BTreeMap<String, String>,
) -> Result<Dockerfile, DockerfileError> {
    let (escape, lines) = logical_lines(text)?;
    // Platform args are predefined in the global scope, as BuildKit does.
    let mut globals: BTreeMap<String, String> = automatic_args()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut from: Option<FromLine> = None;
    let mut global_args = BTreeMap::new();
    let mut instructions = Vec::new();
    for logical in &lines {
        let line = logical.line;
        let (keyword, rest) = split_keyword(&logical.text);
        let upper = keyword.to_ascii_uppercase();
        match upper.as_str() {
            "FROM" => {
                if let Some(first) = &from {
                    return Err(DockerfileError::MultiStage {
                        line,
                        first: first.line,
                    });
                }
                from = Some(parse_from(rest, line, &globals, escape)?);
            }
            "ARG" | "ENV" | "LABEL" | "USER" | "WORKDIR" => {
                let kind = parse_instruction(&upper, rest, line, escape)?;
                if from.is_some() {
                    instructions.push(Instruction { line, kind });
                    continue;
                }
                let InstructionKind::Arg(args) = kind else {
                    return Err(DockerfileError::BeforeFrom {
                        line,
                        instruction: upper,
                    });
                };
                for (name, default) in args {
                    let value = match (build_args.get(&name), default) {
                        (Some(value), _) => value.clone(),
                        (None, Some(raw)) => {
                            expand(&raw, &|n| globals.get(n).cloned(), escape, line)?
                        }
                        (None, None) => String::new(),
                    };
                    globals.insert(name.clone(), value.clone());
                    global_args.insert(name, value);
                }
            }
            "RUN" | "CMD" | "ENTRYPOINT" | "COPY" | "ADD" | "EXPOSE" | "VOLUME" | "ONBUILD"
            | "HEALTHCHECK" | "SHELL" | "STOPSIGNAL" | "MAINTAINER" => {
                return Err(DockerfileError::Unsupported {
                    line,
                    instruction: upper,
                });
            }
            _ => {
                return Err(DockerfileError::UnknownInstruction {
                    line,
                    word: keyword.to_owned(),
                });
            }
        }
    }
    Ok(Dockerfile {
        from: from.ok_or(DockerfileError::MissingFrom)?,
        instructions,
        global_args,
        escape,
    })
}

impl Dockerfile {
    /// Applies the instructions over the base image's `Env` (`"K=V"` strings) and
    /// working directory. When substituting, `ENV` wins over an `ARG` of the same name;
    /// `ARG`s never reach the image environment.
    pub fn evaluate(
        &self,
        base_env: &[String],
        base_workdir: &str,
        build_args: &BTreeMap<String, String>,
    ) -> Result<Evaluated, DockerfileError> {
        let mut env: Vec<(String, String)> = Vec::new();
        for entry in base_env {
            let (key, value) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
            set_env(&mut env, key.to_owned(), value.to_owned());
        }
        let mut args: BTreeMap<String, String> = BTreeMap::new();
        let mut evaluated = Evaluated::default();
        let mut workdir = if base_workdir.is_empty() {
            "/".to_owned()
        } else {
            base_workdir.to_owned()
        };
        let escape = self.escape;
        for instruction in &self.instructions {
            let line = instruction.line;
            let lookup = |name: &str| {
                env.iter()
                    .find(|(key, _)| key == name)
                    .map(|(_, value)| value.clone())
                    .or_else(|| args.get(name).cloned())
            };
            match &instruction.kind {
                InstructionKind::Arg(pairs) => {
                    let mut declared = Vec::new();
                    for (name, default) in pairs {
                        let value = if let Some(value) = build_args.get(name) {
                            value.clone()
                        } else if let Some(raw) = default {
                            expand(raw, &lookup, escape, line)?
                        } else if let Some(value) = self.global_args.get(name) {
                            value.clone()
                        } else if let Some((_, value)) =
                            automatic_args().iter().find(|(key, _)| key == name)
                        {
                            (*value).to_owned()
                        } else {
                            String::new()
                        };
                        declared.push((name.clone(), value));
                    }
                    args.extend(declared);
                }
                InstructionKind::Env(pairs) => {
                    // Every pair sees the environment from before the instruction.
                    let expanded = expand_pairs(pairs, &lookup, escape, line, "ENV")?;
                    for (key, value) in expanded {
                        set_env(&mut env, key, value);
                    }
                }
                InstructionKind::Label(pairs) => {
                    let expanded = expand_pairs(pairs, &lookup, escape, line, "LABEL")?;
                    evaluated.labels.extend(expanded);
                }
                InstructionKind::User(raw) => {
                    evaluated.user = Some(expand(raw, &lookup, escape, line)?);
                }
                InstructionKind::Workdir(raw) => {
                    let path = expand(raw, &lookup, escape, line)?;
                    if path.is_empty() {
                        return Err(arguments(line, "WORKDIR", "resolves to an empty path"));
                    }
                    workdir = if path.starts_with('/') {
                        clean_abs(&path)
                    } else {
                        clean_abs(&format!("{workdir}/{path}"))
                    };
                    evaluated.workdir = Some(workdir.clone());
                }
            }
        }
        evaluated.env = env;
        Ok(evaluated)
    }
}

/// BuildKit's automatic platform args, fixed to the one platform airlock targets.
fn automatic_args() -> [(&'static str, &'static str); 8] {
    [
        ("BUILDARCH", "amd64"),
        ("BUILDOS", "linux"),
        ("BUILDPLATFORM", PLATFORM),
        ("BUILDVARIANT", ""),
        ("TARGETARCH", "amd64"),
        ("TARGETOS", "linux"),
        ("TARGETPLATFORM", PLATFORM),
        ("TARGETVARIANT", ""),
    ]
}

fn set_env(env: &mut Vec<(String, String)>, key: String, value: String) {
    match env.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = value,
        None => env.push((key, value)),
    }
}

fn arguments(line: usize, instruction: &str, message: &str) -> DockerfileError {
    DockerfileError::Arguments {
        line,
        instruction: instruction.to_owned(),
        message: message.to_owned(),
    }
}

fn expand_pairs(
    pairs: &[(String, String)],
    lookup: &dyn Fn(&str) -> Option<String>,
    escape: char,
    line: usize,
    instruction: &str,
) -> Result<Vec<(String, String)>, DockerfileError> {
    let mut out = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        let key = expand(key, lookup, escape, line)?;
        if key.is_empty() {
            return Err(arguments(line, instruction, "names can not be blank"));
        }
        out.push((key, expand(value, lookup, escape, line)?));
    }
    Ok(out)
}

/// Go's `path.Clean` for an absolute path.
fn clean_abs(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

// ---------------------------------------------------------------------------------
// Lines: directives, comments, continuations.

struct LogicalLine {
    /// 1-based line where the instruction starts.
    line: usize,
    text: String,
}

/// Reads the parser directives, then joins continued lines, dropping comments and blank
/// lines the way Docker's parser does.
fn logical_lines(text: &str) -> Result<(char, Vec<LogicalLine>), DockerfileError> {
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

fn split_keyword(text: &str) -> (&str, &str) {
    let text = text.trim();
    match text.find(char::is_whitespace) {
        Some(at) => (&text[..at], text[at..].trim_start()),
        None => (text, ""),
    }
}

// ---------------------------------------------------------------------------------
// Instructions.

/// Leading `--name[=value]` flags, and the rest of the line after them.
fn extract_flags(mut rest: &str) -> (Vec<(String, Option<String>)>, &str) {
    let mut flags = Vec::new();
    loop {
        rest = rest.trim_start();
        let Some(after) = rest.strip_prefix("--") else {
            break;
        };
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        let word = &after[..end];
        rest = &after[end..];
        if word.is_empty() {
            // A bare `--` ends the flags.
            break;
        }
        match word.split_once('=') {
            Some((name, value)) => flags.push((name.to_owned(), Some(value.to_owned()))),
            None => flags.push((word.to_owned(), None)),
        }
    }
    (flags, rest.trim_start())
}

fn parse_from(
    rest: &str,
    line: usize,
    globals: &BTreeMap<String, String>,
    escape: char,
) -> Result<FromLine, DockerfileError> {
    let lookup = |name: &str| globals.get(name).cloned();
    let (flags, rest) = extract_flags(rest);
    let mut platform = None;
    for (name, value) in flags {
        match (name.as_str(), value) {
            ("platform", Some(value)) => {
                let expanded = expand(&value, &lookup, escape, line)?;
                if !expanded.eq_ignore_ascii_case(PLATFORM) {
                    return Err(DockerfileError::Platform {
                        line,
                        platform: expanded,
                    });
                }
                platform = Some(expanded.to_ascii_lowercase());
            }
            ("platform", None) => {
                return Err(arguments(line, "FROM", "needs a value for `--platform`"));
            }
            _ => {
                return Err(DockerfileError::UnknownFlag {
                    line,
                    instruction: "FROM".to_owned(),
                    flag: name,
                });
            }
        }
    }
    let words: Vec<&str> = rest.split_whitespace().collect();
    let (raw_image, stage_name) = match words.as_slice() {
        [image] => (*image, None),
        [image, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
            let name = name.to_ascii_lowercase();
            if !valid_stage_name(&name) {
                return Err(arguments(
                    line,
                    "FROM",
                    &format!("has an invalid stage name `{name}`"),
                ));
            }
            (*image, Some(name))
        }
        _ => {
            return Err(arguments(
                line,
                "FROM",
                "requires either one argument, or three: `FROM image AS name`",
            ));
        }
    };
    let image = expand(raw_image, &lookup, escape, line)?;
    if image.is_empty() {
        return Err(arguments(
            line,
            "FROM",
            &format!("has a base image `{raw_image}` that expands to nothing"),
        ));
    }
    Ok(FromLine {
        image,
        platform,
        stage_name,
        line,
    })
}

fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

fn parse_instruction(
    upper: &str,
    rest: &str,
    line: usize,
    escape: char,
) -> Result<InstructionKind, DockerfileError> {
    let (flags, rest) = extract_flags(rest);
    if let Some((flag, _)) = flags.into_iter().next() {
        return Err(DockerfileError::UnknownFlag {
            line,
            instruction: upper.to_owned(),
            flag,
        });
    }
    match upper {
        "ARG" => {
            let words = parse_words(rest, escape);
            if words.is_empty() {
                return Err(arguments(line, upper, "requires at least one argument"));
            }
            let mut args = Vec::new();
            for word in words {
                let (name, value) = match word.split_once('=') {
                    Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                    None => (word, None),
                };
                if name.is_empty() {
                    return Err(arguments(line, upper, "names can not be blank"));
                }
                args.push((name, value));
            }
            Ok(InstructionKind::Arg(args))
        }
        "ENV" => Ok(InstructionKind::Env(parse_name_values(
            rest, escape, line, upper,
        )?)),
        "LABEL" => Ok(InstructionKind::Label(parse_name_values(
            rest, escape, line, upper,
        )?)),
        "USER" | "WORKDIR" => {
            let value = rest.trim();
            if value.is_empty() {
                return Err(arguments(line, upper, "requires exactly one argument"));
            }
            Ok(if upper == "USER" {
                InstructionKind::User(value.to_owned())
            } else {
                InstructionKind::Workdir(value.to_owned())
            })
        }
        _ => Err(DockerfileError::Unsupported {
            line,
            instruction: upper.to_owned(),
        }),
    }
}

/// `KEY name=value ...`, or the legacy `KEY name value` when the first word has no `=`.
fn parse_name_values(
    rest: &str,
    escape: char,
    line: usize,
    instruction: &str,
) -> Result<Vec<(String, String)>, DockerfileError> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Err(arguments(
            line,
            instruction,
            "requires at least one argument",
        ));
    };
    if !first.contains('=') {
        let rest = rest.trim();
        return match rest.find(char::is_whitespace) {
            Some(at) => Ok(vec![(
                rest[..at].to_owned(),
                rest[at..].trim_start().to_owned(),
            )]),
            None => Err(arguments(
                line,
                instruction,
                &format!("needs a value for `{rest}`: write `{rest}=value`"),
            )),
        };
    }
    let mut pairs = Vec::new();
    for word in words {
        let Some((name, value)) = word.split_once('=') else {
            return Err(arguments(
                line,
                instruction,
                &format!("has no `=` in `{word}`; it must be of the form `name=value`"),
            ));
        };
        pairs.push((name.to_owned(), value.to_owned()));
    }
    Ok(pairs)
}

/// Splits on whitespace outside quotes, keeping quotes and escapes in the words for
/// the later substitution pass (Docker's `parseWords`).
fn parse_words(rest: &str, escape: char) -> Vec<String> {
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
fn expand(
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

impl crate::hint::Hint for DockerfileError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Unsupported { .. }
            | Self::UnknownInstruction { .. }
            | Self::MultiStage { .. }
            | Self::MissingFrom
            | Self::BeforeFrom { .. }
            | Self::Platform { .. }
            | Self::UnknownFlag { .. }
            | Self::Arguments { .. }
            | Self::Substitution { .. }
            | Self::EscapeDirective { .. }
            | Self::DuplicateDirective { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_args() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn eval(text: &str) -> Evaluated {
        eval_with(
            text,
            &["PATH=/usr/bin:/bin"],
            "/usr/local/airflow",
            &no_args(),
        )
    }

    fn eval_with(
        text: &str,
        base_env: &[&str],
        base_workdir: &str,
        build_args: &BTreeMap<String, String>,
    ) -> Evaluated {
        let dockerfile = parse(text, build_args).unwrap();
        let base_env: Vec<String> = base_env.iter().map(|s| (*s).to_owned()).collect();
        dockerfile
            .evaluate(&base_env, base_workdir, build_args)
            .unwrap()
    }

    fn env_of(evaluated: &Evaluated, key: &str) -> Option<String> {
        evaluated
            .env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    fn err(text: &str) -> DockerfileError {
        parse(text, &no_args()).unwrap_err()
    }

    #[test]
    fn minimal_astro_dockerfile() {
        let dockerfile = parse("FROM astro-runtime:12.0.0\n", &no_args()).unwrap();
        assert_eq!(
            dockerfile.from,
            FromLine {
                image: "astro-runtime:12.0.0".to_owned(),
                platform: None,
                stage_name: None,
                line: 1,
            }
        );
        assert!(dockerfile.instructions.is_empty());
    }

    #[test]
    fn realistic_astro_dockerfile() {
        let text = "\
# syntax=docker/dockerfile:1
ARG RUNTIME_VERSION=12.0.0
FROM astro-runtime:${RUNTIME_VERSION}

# Settings for the scheduler
ENV AIRFLOW__CORE__TEST_CONNECTION=Enabled \\
    AIRFLOW__CORE__LOAD_EXAMPLES=False
LABEL org.opencontainers.image.source=\"data-team/airflow-project\" \\
      maintainer=\"Data Team\"
USER astro
";
        let dockerfile = parse(text, &no_args()).unwrap();
        assert_eq!(dockerfile.from.image, "astro-runtime:12.0.0");
        assert_eq!(dockerfile.from.line, 3);
        let lines: Vec<usize> = dockerfile.instructions.iter().map(|i| i.line).collect();
        assert_eq!(lines, vec![6, 8, 10]);
        let evaluated = eval(text);
        assert_eq!(
            evaluated.env,
            vec![
                ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
                (
                    "AIRFLOW__CORE__TEST_CONNECTION".to_owned(),
                    "Enabled".to_owned()
                ),
                (
                    "AIRFLOW__CORE__LOAD_EXAMPLES".to_owned(),
                    "False".to_owned()
                ),
            ]
        );
        assert_eq!(evaluated.labels["maintainer"], "Data Team");
        assert_eq!(
            evaluated.labels["org.opencontainers.image.source"],
            "data-team/airflow-project"
        );
        assert_eq!(evaluated.user.as_deref(), Some("astro"));
        assert_eq!(evaluated.workdir, None);
    }

    #[test]
    fn from_with_build_arg_override() {
        let text = "ARG RUNTIME=astro-runtime:11.0.0\nFROM ${RUNTIME}\n";
        let dockerfile = parse(text, &args(&[("RUNTIME", "astro-runtime:12.1.0")])).unwrap();
        assert_eq!(dockerfile.from.image, "astro-runtime:12.1.0");
        assert_eq!(
            dockerfile.global_args["RUNTIME"],
            "astro-runtime:12.1.0".to_owned()
        );
    }

    #[test]
    fn undeclared_build_args_do_not_reach_from() {
        let text = "FROM astro-runtime:${TAG:-12.0.0}\n";
        let dockerfile = parse(text, &args(&[("TAG", "99")])).unwrap();
        assert_eq!(dockerfile.from.image, "astro-runtime:12.0.0");
    }

    #[test]
    fn global_args_chain() {
        let text =
            "ARG NAME=astro-runtime\nARG VERSION=12.0.0\nARG IMAGE=$NAME:$VERSION\nFROM $IMAGE\n";
        assert_eq!(
            parse(text, &no_args()).unwrap().from.image,
            "astro-runtime:12.0.0"
        );
    }

    #[test]
    fn from_platform_and_stage_name() {
        let text = "FROM --platform=linux/amd64 astro-runtime:12.0.0 AS Runtime\n";
        let from = parse(text, &no_args()).unwrap().from;
        assert_eq!(from.platform.as_deref(), Some("linux/amd64"));
        assert_eq!(from.stage_name.as_deref(), Some("runtime"));

        let text = "FROM --platform=$TARGETPLATFORM astro-runtime:12.0.0 as base\n";
        let from = parse(text, &no_args()).unwrap().from;
        assert_eq!(from.platform.as_deref(), Some("linux/amd64"));
        assert_eq!(from.stage_name.as_deref(), Some("base"));
    }

    #[test]
    fn from_other_platform_is_refused() {
        let text = "ARG ARCH=arm64\n\nFROM --platform=linux/${ARCH} astro-runtime:12.0.0\n";
        assert_eq!(
            err(text),
            DockerfileError::Platform {
                line: 3,
                platform: "linux/arm64".to_owned()
            }
        );
        assert_eq!(
            err(text).to_string(),
            "Line 3: platform `linux/arm64` is not supported; airlock builds `linux/amd64` only"
        );
    }

    #[test]
    fn from_argument_errors() {
        assert!(matches!(
            err("FROM\n"),
            DockerfileError::Arguments { line: 1, .. }
        ));
        assert!(matches!(
            err("FROM a b\n"),
            DockerfileError::Arguments { line: 1, .. }
        ));
        assert!(matches!(
            err("FROM a AS 1x\n"),
            DockerfileError::Arguments { line: 1, .. }
        ));
        assert!(matches!(
            err("FROM --pull a\n"),
            DockerfileError::UnknownFlag { line: 1, .. }
        ));
        assert!(matches!(
            err("ARG EMPTY\nFROM ${EMPTY}\n"),
            DockerfileError::Arguments { line: 2, .. }
        ));
    }

    #[test]
    fn unsupported_instructions_name_their_line() {
        let text = "FROM astro-runtime:12.0.0\nENV A=1\nRUN pip install x\n";
        let error = err(text);
        assert_eq!(
            error,
            DockerfileError::Unsupported {
                line: 3,
                instruction: "RUN".to_owned()
            }
        );
        assert!(
            error
                .to_string()
                .starts_with("Line 3: `RUN` is not supported yet")
        );
        for word in [
            "COPY",
            "add",
            "Cmd",
            "ENTRYPOINT",
            "EXPOSE",
            "VOLUME",
            "ONBUILD",
            "HEALTHCHECK",
            "SHELL",
            "STOPSIGNAL",
            "MAINTAINER",
        ] {
            let text = format!("FROM a\n{word} x\n");
            assert_eq!(
                err(&text),
                DockerfileError::Unsupported {
                    line: 2,
                    instruction: word.to_ascii_uppercase()
                },
                "{word}"
            );
        }
    }

    #[test]
    fn unsupported_before_from() {
        assert_eq!(
            err("RUN x\nFROM a\n"),
            DockerfileError::Unsupported {
                line: 1,
                instruction: "RUN".to_owned()
            }
        );
        assert_eq!(
            err("\nENV A=1\nFROM a\n"),
            DockerfileError::BeforeFrom {
                line: 2,
                instruction: "ENV".to_owned()
            }
        );
    }

    #[test]
    fn unknown_instruction() {
        let error = err("FROM a\nFOO bar\n");
        assert_eq!(
            error,
            DockerfileError::UnknownInstruction {
                line: 2,
                word: "FOO".to_owned()
            }
        );
        assert_eq!(error.to_string(), "Line 2: unknown instruction `FOO`");
    }

    #[test]
    fn second_from_is_multi_stage() {
        let text = "FROM a AS build\n\n# final\nFROM b\n";
        let error = err(text);
        assert_eq!(error, DockerfileError::MultiStage { line: 4, first: 1 });
        assert!(error.to_string().starts_with("Line 4: a second `FROM`"));
    }

    #[test]
    fn missing_from() {
        assert_eq!(err("# nothing\nARG A=1\n"), DockerfileError::MissingFrom);
        assert_eq!(err(""), DockerfileError::MissingFrom);
        assert_eq!(
            DockerfileError::MissingFrom.to_string(),
            "No `FROM` instruction; a Dockerfile needs exactly one"
        );
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let evaluated = eval("from a\nenv A=1\nLabel b=2\nuser astro\nWorkDir /x\n");
        assert_eq!(env_of(&evaluated, "A").as_deref(), Some("1"));
        assert_eq!(evaluated.labels["b"], "2");
        assert_eq!(evaluated.user.as_deref(), Some("astro"));
        assert_eq!(evaluated.workdir.as_deref(), Some("/x"));
    }

    #[test]
    fn continuation_skips_comments_and_blank_lines() {
        let text = "FROM a\nENV A=1 \\\n# a comment\n    # indented comment\n\n    B=2\nUSER x\n";
        let dockerfile = parse(text, &no_args()).unwrap();
        assert_eq!(
            dockerfile.instructions[0],
            Instruction {
                line: 2,
                kind: InstructionKind::Env(vec![
                    ("A".to_owned(), "1".to_owned()),
                    ("B".to_owned(), "2".to_owned())
                ])
            }
        );
        assert_eq!(dockerfile.instructions[1].line, 7);
    }

    #[test]
    fn continuation_with_trailing_whitespace_and_at_eof() {
        let evaluated = eval("FROM a\nLABEL a=1 \\  \n b=2 \\");
        assert_eq!(evaluated.labels["a"], "1");
        assert_eq!(evaluated.labels["b"], "2");
    }

    #[test]
    fn escape_directive_backtick() {
        let text = "# escape=`\nFROM a\nENV P=C:\\dir `\n    Q=x`$y\n";
        let dockerfile = parse(text, &no_args()).unwrap();
        assert_eq!(dockerfile.escape, '`');
        let evaluated = eval(text);
        assert_eq!(env_of(&evaluated, "P").as_deref(), Some("C:\\dir"));
        assert_eq!(env_of(&evaluated, "Q").as_deref(), Some("x$y"));
    }

    #[test]
    fn directives_only_at_the_top() {
        // After a blank line, `# escape=` is an ordinary comment.
        let text = "\n# escape=`\nFROM a\nENV A=1 \\\n  B=2\n";
        let dockerfile = parse(text, &no_args()).unwrap();
        assert_eq!(dockerfile.escape, '\\');
        // After another comment too.
        let text = "# hello\n# escape=`\nFROM a\n";
        assert_eq!(parse(text, &no_args()).unwrap().escape, '\\');
        // Directive names are case-insensitive and may be spaced.
        let text = "#  ESCAPE = `\nFROM a\n";
        assert_eq!(parse(text, &no_args()).unwrap().escape, '`');
    }

    #[test]
    fn directive_errors() {
        assert_eq!(
            err("# escape=x\nFROM a\n"),
            DockerfileError::EscapeDirective {
                line: 1,
                value: "x".to_owned()
            }
        );
        assert_eq!(
            err("# syntax=a\n# syntax=b\nFROM a\n"),
            DockerfileError::DuplicateDirective {
                line: 2,
                directive: "syntax".to_owned()
            }
        );
    }

    #[test]
    fn env_quotes_and_escaped_spaces() {
        let evaluated = eval(
            "FROM a\nENV A=\"hello world\" B='single $PATH' C=hello\\ there D=\"say \\\"hi\\\"\"\n",
        );
        assert_eq!(env_of(&evaluated, "A").as_deref(), Some("hello world"));
        assert_eq!(env_of(&evaluated, "B").as_deref(), Some("single $PATH"));
        assert_eq!(env_of(&evaluated, "C").as_deref(), Some("hello there"));
        assert_eq!(env_of(&evaluated, "D").as_deref(), Some("say \"hi\""));
    }

    #[test]
    fn env_legacy_form() {
        let evaluated = eval("FROM a\nENV GREETING hello big   world\nENV Q \"quoted value\"\n");
        assert_eq!(
            env_of(&evaluated, "GREETING").as_deref(),
            Some("hello big   world")
        );
        assert_eq!(env_of(&evaluated, "Q").as_deref(), Some("quoted value"));
    }

    #[test]
    fn env_updates_base_in_place_and_appends() {
        let evaluated = eval_with(
            "FROM a\nENV PATH=/opt/bin:$PATH NEW=1\nENV LANG=C.UTF-8\n",
            &["PATH=/usr/bin", "LANG=en", "HOME=/root"],
            "/",
            &no_args(),
        );
        assert_eq!(
            evaluated.env,
            vec![
                ("PATH".to_owned(), "/opt/bin:/usr/bin".to_owned()),
                ("LANG".to_owned(), "C.UTF-8".to_owned()),
                ("HOME".to_owned(), "/root".to_owned()),
                ("NEW".to_owned(), "1".to_owned()),
            ]
        );
    }

    #[test]
    fn env_pairs_see_the_environment_from_before_the_instruction() {
        let evaluated = eval("FROM a\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n");
        assert_eq!(env_of(&evaluated, "def").as_deref(), Some("hello"));
        assert_eq!(env_of(&evaluated, "ghi").as_deref(), Some("bye"));
    }

    #[test]
    fn substitution_forms() {
        let evaluated = eval(
            "FROM a\n\
             ENV SET=value EMPTY=\n\
             ENV A=${SET} B=${SET:-d} C=${UNSET:-d} D=${EMPTY:-d} E=${EMPTY-d} F=${UNSET-d}\n\
             ENV G=${SET:+alt} H=${UNSET:+alt} I=${EMPTY:+alt} J=${EMPTY+alt}\n\
             ENV K=\\$SET L=\"\\$SET\" M='$SET' N=$UNSET. O=$ P=${UNSET:-${SET}x}\n",
        );
        let expect = [
            ("A", "value"),
            ("B", "value"),
            ("C", "d"),
            ("D", "d"),
            ("E", ""),
            ("F", "d"),
            ("G", "alt"),
            ("H", ""),
            ("I", ""),
            ("J", "alt"),
            ("K", "$SET"),
            ("L", "$SET"),
            ("M", "$SET"),
            ("N", "."),
            ("O", "$"),
            ("P", "valuex"),
        ];
        for (key, value) in expect {
            assert_eq!(env_of(&evaluated, key).as_deref(), Some(value), "{key}");
        }
    }

    #[test]
    fn substitution_errors_name_the_line() {
        let dockerfile = parse("FROM a\n\nENV A=${B\n", &no_args()).unwrap();
        let error = dockerfile.evaluate(&[], "/", &no_args()).unwrap_err();
        assert!(matches!(
            error,
            DockerfileError::Substitution { line: 3, .. }
        ));
        assert!(matches!(
            err("ARG X=${Y/a/b}\nFROM a\n"),
            DockerfileError::Substitution { line: 1, .. }
        ));
        let dockerfile = parse("FROM a\nENV A=\"${NEEDED:?set it}\"\n", &no_args()).unwrap();
        let error = dockerfile.evaluate(&[], "/", &no_args()).unwrap_err();
        assert_eq!(error.to_string(), "Line 2: variable `NEEDED`: set it");
        assert!(matches!(
            err("FROM \"a\nENV A=1\n").clone(),
            DockerfileError::Substitution { line: 1, .. }
        ));
    }

    #[test]
    fn args_after_from() {
        let text = "ARG TAG=12.0.0\nFROM astro-runtime:$TAG\nARG TAG\nARG EXTRA=x-$TAG\nARG NONE\nENV T=$TAG E=$EXTRA N=${NONE-unset} U=${TAG2-unset}\n";
        let evaluated = eval(text);
        assert_eq!(env_of(&evaluated, "T").as_deref(), Some("12.0.0"));
        assert_eq!(env_of(&evaluated, "E").as_deref(), Some("x-12.0.0"));
        assert_eq!(env_of(&evaluated, "N").as_deref(), Some(""));
        assert_eq!(env_of(&evaluated, "U").as_deref(), Some("unset"));
        // ARGs are not persisted in the image environment.
        assert!(env_of(&evaluated, "TAG").is_none());
    }

    #[test]
    fn pre_from_args_only_apply_to_from() {
        let evaluated = eval("ARG TAG=12.0.0\nFROM a:$TAG\nENV T=x${TAG}x\n");
        assert_eq!(env_of(&evaluated, "T").as_deref(), Some("xx"));
    }

    #[test]
    fn build_args_override_arg_defaults() {
        let text = "FROM a\nARG MODE=dev\nENV MODE_ENV=$MODE\n";
        let evaluated = eval_with(text, &[], "/", &args(&[("MODE", "prod")]));
        assert_eq!(env_of(&evaluated, "MODE_ENV").as_deref(), Some("prod"));
        // A build arg without an `ARG` declaration is not visible.
        let text = "FROM a\nENV MODE_ENV=${MODE:-none}\n";
        let evaluated = eval_with(text, &[], "/", &args(&[("MODE", "prod")]));
        assert_eq!(env_of(&evaluated, "MODE_ENV").as_deref(), Some("none"));
    }

    #[test]
    fn env_wins_over_arg() {
        let evaluated = eval("FROM a\nARG V=from-arg\nENV V=from-env\nENV W=$V\n");
        assert_eq!(env_of(&evaluated, "W").as_deref(), Some("from-env"));
        let evaluated = eval_with(
            "FROM a\nARG HOME=/arg\nENV H=$HOME\n",
            &["HOME=/base"],
            "/",
            &no_args(),
        );
        assert_eq!(env_of(&evaluated, "H").as_deref(), Some("/base"));
    }

    #[test]
    fn automatic_platform_args() {
        let evaluated = eval("FROM a\nARG TARGETARCH\nENV ARCH=$TARGETARCH\n");
        assert_eq!(env_of(&evaluated, "ARCH").as_deref(), Some("amd64"));
    }

    #[test]
    fn workdir_resolution() {
        let cases = [
            ("WORKDIR /opt/app", "/usr/local/airflow", "/opt/app"),
            (
                "WORKDIR sub",
                "/usr/local/airflow",
                "/usr/local/airflow/sub",
            ),
            ("WORKDIR sub\nWORKDIR ../other/", "/base", "/base/other"),
            ("WORKDIR rel", "", "/rel"),
            ("WORKDIR /a//b/./c/", "/", "/a/b/c"),
            ("ENV D=/data\nWORKDIR $D/x", "/", "/data/x"),
            ("WORKDIR ${HOME}/dags", "/", "/home/astro/dags"),
        ];
        for (body, base, expected) in cases {
            let text = format!("FROM a\n{body}\n");
            let evaluated = eval_with(&text, &["HOME=/home/astro"], base, &no_args());
            assert_eq!(evaluated.workdir.as_deref(), Some(expected), "{body}");
        }
    }

    #[test]
    fn user_forms() {
        let evaluated = eval("FROM a\nARG UID=50000\nUSER ${UID}:0\n");
        assert_eq!(evaluated.user.as_deref(), Some("50000:0"));
        let evaluated = eval("FROM a\nUSER root\nUSER astro\n");
        assert_eq!(evaluated.user.as_deref(), Some("astro"));
    }

    #[test]
    fn labels_only_those_set() {
        let evaluated = eval(
            "FROM a\nLABEL a=1 \"b c\"=2\nLABEL legacy some value\nLABEL a=3\nENV V=x\nLABEL v=$V\n",
        );
        let expected: BTreeMap<String, String> = [
            ("a", "3"),
            ("b c", "2"),
            ("legacy", "some value"),
            ("v", "x"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(evaluated.labels, expected);
    }

    #[test]
    fn instruction_argument_errors() {
        let cases = [
            "FROM a\nENV\n",
            "FROM a\nENV A\n",
            "FROM a\nENV A=1 B\n",
            "FROM a\nLABEL\n",
            "FROM a\nUSER\n",
            "FROM a\nWORKDIR   \n",
            "FROM a\nARG\n",
            "FROM a\nARG =x\n",
            "FROM a\nENV =x\n",
        ];
        for text in cases {
            match parse(text, &no_args()) {
                Ok(dockerfile) => {
                    let error = dockerfile.evaluate(&[], "/", &no_args()).unwrap_err();
                    assert!(
                        matches!(error, DockerfileError::Arguments { line: 2, .. }),
                        "{text:?}: {error:?}"
                    );
                }
                Err(error) => assert!(
                    matches!(error, DockerfileError::Arguments { line: 2, .. }),
                    "{text:?}: {error:?}"
                ),
            }
        }
        assert_eq!(
            err("FROM a\nENV A=1 B\n").to_string(),
            "Line 2: `ENV` has no `=` in `B`; it must be of the form `name=value`"
        );
        assert!(matches!(
            err("FROM a\nENV --x=1 A=1\n"),
            DockerfileError::UnknownFlag { line: 2, .. }
        ));
    }

    #[test]
    fn raw_words_are_kept_unexpanded() {
        let dockerfile = parse("FROM a\nENV A=\"$B c\" \\\n  D=e\\ f\n", &no_args()).unwrap();
        assert_eq!(
            dockerfile.instructions[0].kind,
            InstructionKind::Env(vec![
                ("A".to_owned(), "\"$B c\"".to_owned()),
                ("D".to_owned(), "e\\ f".to_owned()),
            ])
        );
    }

    #[test]
    fn crlf_and_bom() {
        let evaluated = eval("\u{feff}FROM a\r\nENV A=1 \\\r\n  B=2\r\n");
        assert_eq!(env_of(&evaluated, "A").as_deref(), Some("1"));
        assert_eq!(env_of(&evaluated, "B").as_deref(), Some("2"));
    }

    #[test]
    fn indented_instructions_and_comments() {
        let evaluated = eval("   # comment\n  FROM a\n\t ENV A 1 # not a comment\n");
        assert_eq!(
            env_of(&evaluated, "A").as_deref(),
            Some("1 # not a comment")
        );
        // As in Docker, a `#` after `key=value` words is a word without `=`.
        assert!(matches!(
            err("FROM a\nENV A=1 # no\n"),
            DockerfileError::Arguments { line: 2, .. }
        ));
    }
}
