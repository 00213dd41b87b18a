//! Instructions: each parsed with its flags into raw words.

use std::collections::BTreeMap;

use serde_json::Value;

use super::words::{expand, parse_words};
use super::{
    CopyFrom, CopyInstruction, Dockerfile, DockerfileError, FromLine, HealthcheckSpec,
    InstructionKind, PLATFORM, RunCommand, RunMount, RunNetwork, RunSpec, arguments,
};

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

pub(super) fn parse_from(
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

type Flags = Vec<(String, Option<String>)>;

fn unknown_flag(line: usize, instruction: &str, flag: String) -> DockerfileError {
    DockerfileError::UnknownFlag {
        line,
        instruction: instruction.to_owned(),
        flag,
    }
}

/// Refuses any flag: most instructions take none.
fn no_flags(flags: Flags, line: usize, upper: &str) -> Result<(), DockerfileError> {
    match flags.into_iter().next() {
        Some((flag, _)) => Err(unknown_flag(line, upper, flag)),
        None => Ok(()),
    }
}

/// The value of a flag that needs one.
fn flag_value(
    value: Option<String>,
    line: usize,
    upper: &str,
    flag: &str,
) -> Result<String, DockerfileError> {
    value.ok_or_else(|| arguments(line, upper, &format!("needs a value for `--{flag}`")))
}

/// A boolean flag: bare, `=true` or `=false`.
fn flag_bool(
    value: Option<String>,
    line: usize,
    upper: &str,
    flag: &str,
) -> Result<bool, DockerfileError> {
    match value.as_deref() {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(arguments(
            line,
            upper,
            &format!("has `--{flag}={other}`; it takes `true` or `false`"),
        )),
    }
}

/// Parses one instruction (not `FROM`) into its raw words.
pub(super) fn parse_instruction(
    upper: &str,
    keyword: &str,
    rest: &str,
    line: usize,
    escape: char,
) -> Result<InstructionKind, DockerfileError> {
    let (flags, rest) = extract_flags(rest);
    match upper {
        "COPY" | "ADD" => return parse_copy(upper, flags, rest, line, escape),
        "RUN" => return parse_run(flags, rest, line),
        "HEALTHCHECK" => return parse_healthcheck(flags, rest, line),
        "PYENV" => return Err(DockerfileError::Pyenv { line }),
        _ => {}
    }
    if !matches!(
        upper,
        "ARG"
            | "ENV"
            | "LABEL"
            | "USER"
            | "WORKDIR"
            | "SHELL"
            | "CMD"
            | "ENTRYPOINT"
            | "EXPOSE"
            | "VOLUME"
            | "STOPSIGNAL"
            | "ONBUILD"
            | "MAINTAINER"
    ) {
        return Err(DockerfileError::UnknownInstruction {
            line,
            word: keyword.to_owned(),
        });
    }
    no_flags(flags, line, upper)?;
    let one_word = |rest: &str| -> Result<String, DockerfileError> {
        let value = rest.trim();
        if value.is_empty() {
            return Err(arguments(line, upper, "requires exactly one argument"));
        }
        Ok(value.to_owned())
    };
    Ok(match upper {
        "ARG" => parse_arg(rest, line, escape)?,
        "ENV" => InstructionKind::Env(parse_name_values(rest, escape, line, upper)?),
        "LABEL" => InstructionKind::Label(parse_name_values(rest, escape, line, upper)?),
        "USER" => InstructionKind::User(one_word(rest)?),
        "WORKDIR" => InstructionKind::Workdir(one_word(rest)?),
        "STOPSIGNAL" => {
            let words = parse_words(rest, escape);
            if words.len() != 1 {
                return Err(arguments(line, upper, "requires exactly one argument"));
            }
            InstructionKind::StopSignal(words.into_iter().collect())
        }
        "MAINTAINER" => InstructionKind::Maintainer(one_word(rest)?),
        "SHELL" => match json_array(rest, line, upper)? {
            Some(words) if !words.is_empty() => InstructionKind::Shell(words),
            _ => {
                return Err(arguments(
                    line,
                    upper,
                    "requires the JSON form with at least one element: `SHELL [\"executable\", \"parameters\"]`",
                ));
            }
        },
        "CMD" => InstructionKind::Cmd(parse_command(rest, line, upper)?),
        "ENTRYPOINT" => InstructionKind::Entrypoint(parse_command(rest, line, upper)?),
        "EXPOSE" => {
            let words = parse_words(rest, escape);
            if words.is_empty() {
                return Err(arguments(line, upper, "requires at least one argument"));
            }
            InstructionKind::Expose(words)
        }
        "VOLUME" => {
            let words = match json_array(rest, line, upper)? {
                Some(words) => words,
                None => parse_words(rest, escape),
            };
            if words.is_empty() || words.iter().any(|w| w.trim().is_empty()) {
                return Err(arguments(
                    line,
                    upper,
                    "requires at least one non-empty path",
                ));
            }
            InstructionKind::Volume(words)
        }
        _ => parse_onbuild(rest, line, escape)?,
    })
}

fn parse_arg(rest: &str, line: usize, escape: char) -> Result<InstructionKind, DockerfileError> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Err(arguments(line, "ARG", "requires at least one argument"));
    }
    let mut args = Vec::new();
    for word in words {
        let (name, value) = match word.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (word, None),
        };
        if name.is_empty() {
            return Err(arguments(line, "ARG", "names can not be blank"));
        }
        args.push((name, value));
    }
    Ok(InstructionKind::Arg(args))
}

/// `ONBUILD trigger`: the trigger must itself be a valid instruction, and neither
/// `ONBUILD`, `FROM` nor `MAINTAINER` (Docker's rule).
fn parse_onbuild(
    rest: &str,
    line: usize,
    escape: char,
) -> Result<InstructionKind, DockerfileError> {
    let trigger = rest.trim();
    let (keyword, trigger_rest) = super::lines::split_keyword(trigger);
    let upper = keyword.to_ascii_uppercase();
    match upper.as_str() {
        "" => return Err(arguments(line, "ONBUILD", "requires an instruction")),
        "ONBUILD" | "FROM" | "MAINTAINER" => {
            return Err(arguments(
                line,
                "ONBUILD",
                &format!("can not trigger `{upper}`"),
            ));
        }
        _ => {}
    }
    parse_instruction(&upper, keyword, trigger_rest, line, escape)?;
    Ok(InstructionKind::Onbuild(trigger.to_owned()))
}

/// A JSON array of strings when `rest` is one; `None` when it does not start with `[`
/// or is not JSON at all (the shell form). Starting with `["` but not being a JSON
/// array of strings is refused: it is a broken exec form, not a shell command.
fn json_array(
    rest: &str,
    line: usize,
    upper: &str,
) -> Result<Option<Vec<String>>, DockerfileError> {
    let text = rest.trim();
    if !text.starts_with('[') {
        return Ok(None);
    }
    let broken = || {
        arguments(
            line,
            upper,
            "has a malformed JSON array; the exec form is a JSON array of strings in double quotes, e.g. `[\"executable\", \"arg\"]`",
        )
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                _ => Err(broken()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ if text.starts_with("[\"") => Err(broken()),
        _ => Ok(None),
    }
}

/// A command in the exec (JSON) or the shell form, never substituted.
fn parse_command(rest: &str, line: usize, upper: &str) -> Result<RunCommand, DockerfileError> {
    match json_array(rest, line, upper)? {
        Some(words) => Ok(RunCommand::Exec(words)),
        None if rest.trim().is_empty() => {
            Err(arguments(line, upper, "requires at least one argument"))
        }
        None => Ok(RunCommand::Shell(rest.trim().to_owned())),
    }
}

/// A word that opens a heredoc (`<<EOF`, `<<-"EOF"`), as BuildKit reads one.
fn heredoc_word(text: &str) -> Option<String> {
    text.split_whitespace().find_map(|word| {
        let after = word.strip_prefix("<<")?;
        let name = after.strip_prefix('-').unwrap_or(after);
        let name = name.trim_start_matches(['"', '\'']);
        name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            .then(|| after.to_owned())
    })
}

fn refuse_heredoc(text: &str, line: usize, upper: &str) -> Result<(), DockerfileError> {
    match heredoc_word(text) {
        Some(word) => Err(DockerfileError::Heredoc {
            line,
            instruction: upper.to_owned(),
            word,
        }),
        None => Ok(()),
    }
}

fn parse_copy(
    upper: &str,
    flags: Flags,
    rest: &str,
    line: usize,
    escape: char,
) -> Result<InstructionKind, DockerfileError> {
    let add = upper == "ADD";
    let mut copy = CopyInstruction::default();
    for (flag, value) in flags {
        match flag.as_str() {
            "from" if !add => copy.from_raw = Some(flag_value(value, line, upper, &flag)?),
            "chown" => copy.chown = Some(flag_value(value, line, upper, &flag)?),
            "chmod" => {
                let value = flag_value(value, line, upper, &flag)?;
                copy.chmod = Some(
                    u32::from_str_radix(&value, 8)
                        .ok()
                        .filter(|mode| *mode <= 0o7777)
                        .ok_or_else(|| {
                            arguments(
                                line,
                                upper,
                                &format!("has `--chmod={value}`; airlock takes an octal mode such as `755`"),
                            )
                        })?,
                );
            }
            "link" => copy.link = flag_bool(value, line, upper, &flag)?,
            "checksum" if add => copy.checksum = Some(flag_value(value, line, upper, &flag)?),
            "exclude" => copy.exclude.push(flag_value(value, line, upper, &flag)?),
            "parents" | "keep-git-dir" => {
                return Err(arguments(
                    line,
                    upper,
                    &format!("`--{flag}` is not supported by airlock"),
                ));
            }
            _ => return Err(unknown_flag(line, upper, flag)),
        }
    }
    let words = match json_array(rest, line, upper)? {
        Some(words) => words,
        None => {
            refuse_heredoc(rest, line, upper)?;
            parse_words(rest, escape)
        }
    };
    let Some((dest, sources)) = words.split_last() else {
        return Err(arguments(line, upper, "requires at least two arguments"));
    };
    if sources.is_empty() {
        return Err(arguments(
            line,
            upper,
            "requires at least two arguments: a source and a destination",
        ));
    }
    copy.sources = sources.to_vec();
    copy.dest = dest.clone();
    Ok(if add {
        InstructionKind::Add(copy)
    } else {
        InstructionKind::Copy(copy)
    })
}

fn parse_run(flags: Flags, rest: &str, line: usize) -> Result<InstructionKind, DockerfileError> {
    let mut mounts = Vec::new();
    let mut network = RunNetwork::Default;
    for (flag, value) in flags {
        match flag.as_str() {
            "mount" => mounts.push(parse_mount(&flag_value(value, line, "RUN", &flag)?, line)?),
            "network" => {
                network = match flag_value(value, line, "RUN", &flag)?.as_str() {
                    "default" => RunNetwork::Default,
                    "none" => RunNetwork::None,
                    "host" => {
                        return Err(arguments(
                            line,
                            "RUN",
                            "has `--network=host`, which airlock refuses: a step reaches the network only through the sandbox, and only when it must (`--network=default`)",
                        ));
                    }
                    other => {
                        return Err(arguments(
                            line,
                            "RUN",
                            &format!("has `--network={other}`; it takes `default` or `none`"),
                        ));
                    }
                };
            }
            "security" if value.as_deref() == Some("sandbox") => {}
            "security" => {
                return Err(arguments(
                    line,
                    "RUN",
                    "has `--security` other than `sandbox`; airlock runs every step sandboxed",
                ));
            }
            _ => return Err(unknown_flag(line, "RUN", flag)),
        }
    }
    let command = parse_command(rest, line, "RUN")?;
    if let RunCommand::Shell(text) = &command {
        refuse_heredoc(text, line, "RUN")?;
    }
    Ok(InstructionKind::Run(RunSpec {
        command,
        mounts,
        network,
    }))
}

/// One `--mount=` value: `type=secret` or `type=cache` with their options.
fn parse_mount(value: &str, line: usize) -> Result<RunMount, DockerfileError> {
    let bad = |message: String| arguments(line, "RUN", &message);
    let mut options: BTreeMap<String, Option<String>> = BTreeMap::new();
    for field in value.split(',') {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_owned())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        if key.is_empty() {
            return Err(bad(format!("has an empty field in `--mount={value}`")));
        }
        let key = match key.as_str() {
            "dst" | "destination" => "target".to_owned(),
            "readonly" => "ro".to_owned(),
            _ => key,
        };
        if options.insert(key.clone(), val).is_some() {
            return Err(bad(format!("gives `{key}` twice in `--mount={value}`")));
        }
    }
    let take = |options: &mut BTreeMap<String, Option<String>>, key: &str| {
        options.remove(key).flatten().filter(|v| !v.is_empty())
    };
    let kind = take(&mut options, "type").unwrap_or_else(|| "bind".to_owned());
    let mount = match kind.as_str() {
        "secret" => {
            let target = take(&mut options, "target");
            let env = take(&mut options, "env");
            let required = match options.remove("required") {
                None => false,
                Some(v) => flag_bool(v, line, "RUN", "mount required")?,
            };
            let id = take(&mut options, "id")
                .or_else(|| {
                    target
                        .as_deref()
                        .and_then(|t| t.rsplit('/').next())
                        .filter(|base| !base.is_empty())
                        .map(str::to_owned)
                })
                .ok_or_else(|| bad(format!("needs an `id` in `--mount={value}`")))?;
            RunMount::Secret {
                id,
                target,
                required,
                env,
            }
        }
        "cache" => {
            let target = take(&mut options, "target")
                .ok_or_else(|| bad(format!("needs a `target` in `--mount={value}`")))?;
            let id = take(&mut options, "id");
            let sharing = take(&mut options, "sharing").unwrap_or_else(|| "shared".to_owned());
            if !matches!(sharing.as_str(), "shared" | "private" | "locked") {
                return Err(bad(format!(
                    "has `sharing={sharing}`; it takes `shared`, `private` or `locked`"
                )));
            }
            RunMount::Cache {
                target,
                id,
                sharing,
            }
        }
        other => {
            return Err(bad(format!(
                "has a `type={other}` mount; airlock supports `type=secret` and `type=cache` mounts"
            )));
        }
    };
    if let Some(key) = options.keys().next() {
        return Err(bad(format!(
            "has the mount option `{key}`, which airlock does not support for a `type={kind}` mount"
        )));
    }
    Ok(mount)
}

fn parse_healthcheck(
    flags: Flags,
    rest: &str,
    line: usize,
) -> Result<InstructionKind, DockerfileError> {
    const UPPER: &str = "HEALTHCHECK";
    let (keyword, command) = super::lines::split_keyword(rest);
    if keyword.eq_ignore_ascii_case("NONE") {
        if !command.is_empty() || !flags.is_empty() {
            return Err(arguments(line, UPPER, "`NONE` takes no other arguments"));
        }
        return Ok(InstructionKind::Healthcheck(None));
    }
    if !keyword.eq_ignore_ascii_case("CMD") {
        return Err(arguments(
            line,
            UPPER,
            "requires `NONE` or `CMD` followed by a command",
        ));
    }
    let mut spec = HealthcheckSpec {
        test: parse_command(command, line, UPPER)?,
        interval: None,
        timeout: None,
        start_period: None,
        start_interval: None,
        retries: None,
    };
    for (flag, value) in flags {
        let value = flag_value(value, line, UPPER, &flag)?;
        let duration = || {
            go_duration(&value).ok_or_else(|| {
                arguments(
                    line,
                    UPPER,
                    &format!(
                        "has `--{flag}={value}`, which is not a duration such as `30s` or `1m30s`"
                    ),
                )
            })
        };
        match flag.as_str() {
            "interval" => spec.interval = Some(duration()?),
            "timeout" => spec.timeout = Some(duration()?),
            "start-period" => spec.start_period = Some(duration()?),
            "start-interval" => spec.start_interval = Some(duration()?),
            "retries" => {
                spec.retries = Some(value.parse().map_err(|_| {
                    arguments(
                        line,
                        UPPER,
                        &format!("has `--retries={value}`, not a number"),
                    )
                })?);
            }
            _ => return Err(unknown_flag(line, UPPER, flag)),
        }
    }
    Ok(InstructionKind::Healthcheck(Some(spec)))
}

/// A Go duration (`1h2m3.5s`, `500ms`, `0`) in nanoseconds.
pub(super) fn go_duration(text: &str) -> Option<u64> {
    if text == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    (total.is_finite() && total < 9.2e18).then_some(total as u64)
}

/// Resolves every `COPY --from=` against the stages: an earlier stage by name or
/// index, else an image reference; a later stage (or the stage itself) is refused, so
/// stages never form a cycle.
pub(super) fn resolve_stage_refs(
    dockerfile: &mut Dockerfile,
    globals: &BTreeMap<String, String>,
) -> Result<(), DockerfileError> {
    let escape = dockerfile.escape;
    let mut froms: Vec<FromLine> = dockerfile.stages.iter().map(|s| s.from.clone()).collect();
    froms.push(dockerfile.from.clone());
    let last = dockerfile.stages.len();
    for index in 0..=last {
        let instructions = match dockerfile.stages.get_mut(index) {
            Some(stage) => &mut stage.instructions,
            None => &mut dockerfile.instructions,
        };
        for instruction in instructions.iter_mut() {
            let InstructionKind::Copy(copy) = &mut instruction.kind else {
                continue;
            };
            let Some(raw) = &copy.from_raw else {
                continue;
            };
            let line = instruction.line;
            let name = expand(raw, &|n| globals.get(n).cloned(), escape, line)?;
            let lower = name.to_ascii_lowercase();
            let found = match lower.parse::<usize>() {
                Ok(number) => Some(number).filter(|n| *n <= last),
                Err(_) => froms
                    .iter()
                    .position(|f| f.stage_name.as_deref() == Some(lower.as_str())),
            };
            copy.from = Some(match found {
                Some(stage) if stage < index => CopyFrom::Stage(stage),
                Some(stage) => {
                    return Err(DockerfileError::LaterStage {
                        line,
                        name,
                        stage_line: froms[stage].line,
                    });
                }
                None if lower.parse::<usize>().is_err()
                    && name.contains(['/', ':', '@', '.'])
                    && !name.contains(char::is_whitespace) =>
                {
                    CopyFrom::Image(name)
                }
                None => return Err(DockerfileError::UnknownStage { line, name }),
            });
        }
    }
    Ok(())
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
