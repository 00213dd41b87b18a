//! Dockerfiles, parsed and evaluated the way Docker (BuildKit) does.
//!
//! Owns: parser directives (`# syntax=`, `# escape=`), comments, line continuations,
//! every instruction with its flags (`lines.rs`, `instructions.rs`), Docker's variable
//! substitution (`words.rs`), multi-stage builds (`FROM … AS name`, earlier stages kept
//! for `COPY --from`), and evaluation (`evaluate.rs`): the config changes in order over
//! the base's config values, and the filesystem steps (`COPY`, `ADD`, `RUN`, `WORKDIR`)
//! each with the state in force where it stands.
//!
//! Must not: read files, pull images or run anything. What airlock cannot carry out
//! (heredocs, the Astronomer frontend's `PYENV`, a frontend other than the standard
//! one) is refused with an error naming the line, never silently skipped.

mod evaluate;
mod instructions;
mod lines;
#[cfg(test)]
mod tests;
mod types;
mod words;

use std::collections::BTreeMap;

use thiserror::Error;

pub use types::*;

use instructions::{parse_from, parse_instruction, resolve_stage_refs};
use lines::{logical_lines, split_keyword};
use words::expand;

/// The only platform airlock builds for.
pub const PLATFORM: &str = "linux/amd64";

/// An error in a Dockerfile; every variant that concerns one instruction names its
/// 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DockerfileError {
    #[error(
        "Line {line}: `{instruction}` with a heredoc (`<<{word}`) is not supported; write the content to a file in the project and `COPY` it, or use a single-line `RUN`"
    )]
    Heredoc {
        line: usize,
        instruction: String,
        word: String,
    },
    #[error(
        "Line {line}: `PYENV` is an instruction of the Astronomer BuildKit frontend, which airlock does not implement"
    )]
    Pyenv { line: usize },
    #[error(
        "Line {line}: the Dockerfile asks for the frontend `{syntax}`; airlock implements the standard Dockerfile syntax (`docker/dockerfile`) only"
    )]
    Frontend { line: usize, syntax: String },
    #[error("Line {line}: unknown instruction `{word}`")]
    UnknownInstruction { line: usize, word: String },
    #[error("No `FROM` instruction; a Dockerfile needs at least one")]
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
    #[error("Line {line}: the stage name `{name}` is already used on line {first}")]
    DuplicateStage {
        line: usize,
        name: String,
        first: usize,
    },
    #[error(
        "Line {line}: `COPY --from={name}` names no stage defined above it and is not an image reference"
    )]
    UnknownStage { line: usize, name: String },
    #[error(
        "Line {line}: `COPY --from={name}` names the stage of line {stage_line}, which is not defined above it (a stage copies only from earlier stages)"
    )]
    LaterStage {
        line: usize,
        name: String,
        stage_line: usize,
    },
    #[error(
        "Line {line}: `FROM {name}` builds on the stage of line {stage_line}; a stage built on another stage is not supported yet"
    )]
    FromStage {
        line: usize,
        name: String,
        stage_line: usize,
    },
}

impl crate::hint::Hint for DockerfileError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Pyenv { .. } => vec![
                "make the virtual environment with `RUN python -m venv DIR && DIR/bin/pip install …` (airlock carries that out natively) and `# syntax=docker/dockerfile:1`".to_owned(),
            ],
            Self::Frontend { .. } => {
                vec!["remove the `# syntax=` line or write `# syntax=docker/dockerfile:1`".to_owned()]
            }
            Self::UnknownStage { .. } => vec![
                "name a stage (`FROM image AS name`) defined above, or write the image with its tag (`name:tag`)".to_owned(),
            ],
            Self::Heredoc { .. }
            | Self::UnknownInstruction { .. }
            | Self::MissingFrom
            | Self::BeforeFrom { .. }
            | Self::Platform { .. }
            | Self::UnknownFlag { .. }
            | Self::Arguments { .. }
            | Self::Substitution { .. }
            | Self::EscapeDirective { .. }
            | Self::DuplicateDirective { .. }
            | Self::DuplicateStage { .. }
            | Self::LaterStage { .. }
            | Self::FromStage { .. } => Vec::new(),
        }
    }
}

fn arguments(line: usize, instruction: &str, message: &str) -> DockerfileError {
    DockerfileError::Arguments {
        line,
        instruction: instruction.to_owned(),
        message: message.to_owned(),
    }
}

/// Parses a Dockerfile, substituting build args and pre-`FROM` `ARG`s into each
/// `FROM`. The last stage is the image; earlier ones are kept in `stages`.
pub fn parse(
    text: &str,
    build_args: &BTreeMap<String, String>,
) -> Result<Dockerfile, DockerfileError> {
    let (escape, lines) = logical_lines(text)?;
    // Platform args are predefined in the global scope, as BuildKit does.
    let mut globals: BTreeMap<String, String> = evaluate::automatic_args()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut stages: Vec<Stage> = Vec::new();
    let mut global_args = BTreeMap::new();
    for logical in &lines {
        let line = logical.line;
        let (keyword, rest) = split_keyword(&logical.text);
        let upper = keyword.to_ascii_uppercase();
        if upper == "FROM" {
            let from = parse_from(rest, line, &globals, escape)?;
            check_stage_name(&stages, &from)?;
            stages.push(Stage {
                from,
                instructions: Vec::new(),
            });
            continue;
        }
        let kind = parse_instruction(&upper, keyword, rest, line, escape)?;
        if let Some(stage) = stages.last_mut() {
            stage.instructions.push(Instruction { line, kind });
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
                (None, Some(raw)) => expand(&raw, &|n| globals.get(n).cloned(), escape, line)?,
                (None, None) => String::new(),
            };
            globals.insert(name.clone(), value.clone());
            global_args.insert(name, value);
        }
    }
    let Some(last) = stages.pop() else {
        return Err(DockerfileError::MissingFrom);
    };
    let mut dockerfile = Dockerfile {
        stages,
        from: last.from,
        instructions: last.instructions,
        global_args,
        escape,
    };
    resolve_stage_refs(&mut dockerfile, &globals)?;
    Ok(dockerfile)
}

/// A stage name used twice, or a `FROM` naming an earlier stage, is refused.
fn check_stage_name(stages: &[Stage], from: &FromLine) -> Result<(), DockerfileError> {
    if let Some(earlier) = stages
        .iter()
        .find(|s| s.from.stage_name.as_deref() == Some(&from.image.to_ascii_lowercase()))
    {
        return Err(DockerfileError::FromStage {
            line: from.line,
            name: from.image.clone(),
            stage_line: earlier.from.line,
        });
    }
    let Some(name) = &from.stage_name else {
        return Ok(());
    };
    match stages
        .iter()
        .find(|s| s.from.stage_name.as_ref() == Some(name))
    {
        Some(first) => Err(DockerfileError::DuplicateStage {
            line: from.line,
            name: name.clone(),
            first: first.from.line,
        }),
        None => Ok(()),
    }
}
