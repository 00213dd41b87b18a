//! Evaluation: the instructions applied in order over the base's config values, with
//! the state (environment, user, workdir, shell, args) each filesystem step runs in.

use std::collections::BTreeMap;

use super::words::expand;
use super::{
    BaseValues, Change, CopyInstruction, CopySpec, Dockerfile, DockerfileError, Evaluated, FsStep,
    FsStepKind, HealthcheckSpec, HistoryLine, Instruction, InstructionKind, PLATFORM, RunCommand,
    RunSpec, StepState, arguments,
};

/// Docker's shell when neither the base nor the Dockerfile sets one.
const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

impl Dockerfile {
    /// Applies the last stage's instructions over the base image's config values.
    /// When substituting, `ENV` wins over an `ARG` of the same name; `ARG`s never
    /// reach the image environment.
    pub fn evaluate(
        &self,
        base: &BaseValues,
        build_args: &BTreeMap<String, String>,
    ) -> Result<Evaluated, DockerfileError> {
        self.evaluate_instructions(&self.instructions, base, build_args)
    }

    /// Applies the instructions of the earlier stage `index` over its base's values.
    pub fn evaluate_stage(
        &self,
        index: usize,
        base: &BaseValues,
        build_args: &BTreeMap<String, String>,
    ) -> Result<Evaluated, DockerfileError> {
        let instructions = self
            .stages
            .get(index)
            .map_or(&[][..], |stage| &stage.instructions[..]);
        self.evaluate_instructions(instructions, base, build_args)
    }

    fn evaluate_instructions(
        &self,
        instructions: &[Instruction],
        base: &BaseValues,
        build_args: &BTreeMap<String, String>,
    ) -> Result<Evaluated, DockerfileError> {
        let mut env: Vec<(String, String)> = Vec::new();
        for entry in &base.env {
            let (key, value) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
            set_env(&mut env, key.to_owned(), value.to_owned());
        }
        let mut evaluator = Evaluator {
            dockerfile: self,
            build_args,
            env,
            args: BTreeMap::new(),
            workdir: match base.workdir.as_str() {
                "" => "/".to_owned(),
                dir => dir.to_owned(),
            },
            user: base.user.clone().filter(|u| !u.is_empty()),
            shell: base
                .shell
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_SHELL.map(str::to_owned).to_vec()),
            cmd_set: false,
            evaluated: Evaluated::default(),
        };
        for instruction in instructions {
            evaluator.apply(instruction)?;
        }
        let mut evaluated = evaluator.evaluated;
        evaluated.env = evaluator.env;
        Ok(evaluated)
    }
}

struct Evaluator<'a> {
    dockerfile: &'a Dockerfile,
    build_args: &'a BTreeMap<String, String>,
    env: Vec<(String, String)>,
    args: BTreeMap<String, String>,
    workdir: String,
    user: Option<String>,
    shell: Vec<String>,
    /// Whether a `CMD` was seen (a later `ENTRYPOINT` then keeps it).
    cmd_set: bool,
    evaluated: Evaluated,
}

impl Evaluator<'_> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .or_else(|| self.args.get(name).cloned())
    }

    fn expand(&self, word: &str, line: usize) -> Result<String, DockerfileError> {
        expand(word, &|n| self.lookup(n), self.dockerfile.escape, line)
    }

    fn state(&self) -> StepState {
        StepState {
            env: self.env.clone(),
            user: self.user.clone(),
            workdir: self.workdir.clone(),
            shell: self.shell.clone(),
            args: self.args.clone(),
        }
    }

    fn history(&mut self, created_by: String, step: Option<usize>) {
        self.evaluated
            .history
            .push(HistoryLine { created_by, step });
    }

    fn step(&mut self, line: usize, created_by: String, kind: FsStepKind) {
        let index = self.evaluated.steps.len();
        self.evaluated.steps.push(FsStep {
            line,
            created_by: created_by.clone(),
            state: self.state(),
            kind,
        });
        self.history(created_by, Some(index));
    }

    fn apply(&mut self, instruction: &Instruction) -> Result<(), DockerfileError> {
        let line = instruction.line;
        let text = history_text(&instruction.kind, &self.shell);
        match &instruction.kind {
            InstructionKind::Arg(pairs) => self.arg(pairs, line)?,
            InstructionKind::Env(pairs) => {
                // Every pair sees the environment from before the instruction.
                for (key, value) in self.expand_pairs(pairs, line, "ENV")? {
                    set_env(&mut self.env, key, value);
                }
            }
            InstructionKind::Label(pairs) => {
                let expanded = self.expand_pairs(pairs, line, "LABEL")?;
                self.evaluated.labels.extend(expanded);
            }
            InstructionKind::User(raw) => {
                let user = self.expand(raw, line)?;
                self.evaluated.user = Some(user.clone());
                self.user = Some(user).filter(|u| !u.is_empty());
            }
            InstructionKind::Workdir(raw) => {
                let path = self.expand(raw, line)?;
                if path.is_empty() {
                    return Err(arguments(line, "WORKDIR", "resolves to an empty path"));
                }
                self.workdir = self.absolute(&path);
                self.evaluated.workdir = Some(self.workdir.clone());
                if self.workdir != "/" {
                    let dir = self.workdir.clone();
                    self.step(line, text, FsStepKind::Workdir(dir));
                    return Ok(());
                }
            }
            InstructionKind::Copy(copy) | InstructionKind::Add(copy) => {
                let add = matches!(instruction.kind, InstructionKind::Add(_));
                let spec = self.copy_spec(copy, add, line)?;
                self.step(line, text, FsStepKind::Copy(spec));
                return Ok(());
            }
            InstructionKind::Run(spec) => {
                self.step(line, text, FsStepKind::Run(spec.clone()));
                return Ok(());
            }
            InstructionKind::Shell(words) => {
                self.shell = words.clone();
                self.evaluated.changes.shell = Some(words.clone());
            }
            InstructionKind::Cmd(command) => {
                self.evaluated.changes.cmd = Change::Set(self.command(command));
                self.cmd_set = true;
            }
            InstructionKind::Entrypoint(command) => {
                self.evaluated.changes.entrypoint = Change::Set(self.command(command));
                // Docker's rule: a new ENTRYPOINT drops the CMD the base had.
                if !self.cmd_set {
                    self.evaluated.changes.cmd = Change::Reset;
                }
            }
            InstructionKind::Expose(words) => {
                for word in words {
                    let spec = self.expand(word, line)?;
                    let ports = expose_ports(&spec)
                        .ok_or_else(|| arguments(line, "EXPOSE", &format!("has an invalid port `{spec}`; write `80`, `80/tcp`, `53/udp` or `8000-8010`")))?;
                    self.evaluated.changes.exposed_ports.extend(ports);
                }
            }
            InstructionKind::Volume(words) => {
                for word in words {
                    let path = self.expand(word, line)?;
                    if path.trim().is_empty() {
                        return Err(arguments(line, "VOLUME", "has an empty path"));
                    }
                    self.evaluated.changes.volumes.insert(path);
                }
            }
            InstructionKind::Healthcheck(spec) => {
                self.evaluated.changes.healthcheck = Some(spec.clone())
            }
            InstructionKind::StopSignal(raw) => {
                let signal = self.expand(raw, line)?;
                if signal.is_empty()
                    || !signal
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-')
                {
                    return Err(arguments(
                        line,
                        "STOPSIGNAL",
                        &format!("has an invalid signal `{signal}`"),
                    ));
                }
                self.evaluated.changes.stop_signal = Some(signal);
            }
            InstructionKind::Onbuild(trigger) => {
                self.evaluated.changes.onbuild.push(trigger.clone())
            }
            InstructionKind::Maintainer(name) => self.evaluated.changes.author = Some(name.clone()),
        }
        self.history(text, None);
        Ok(())
    }

    fn arg(
        &mut self,
        pairs: &[(String, Option<String>)],
        line: usize,
    ) -> Result<(), DockerfileError> {
        let mut declared = Vec::new();
        for (name, default) in pairs {
            let value = if let Some(value) = self.build_args.get(name) {
                value.clone()
            } else if let Some(raw) = default {
                self.expand(raw, line)?
            } else if let Some(value) = self.dockerfile.global_args.get(name) {
                value.clone()
            } else if let Some((_, value)) = automatic_args().iter().find(|(key, _)| key == name) {
                (*value).to_owned()
            } else {
                String::new()
            };
            declared.push((name.clone(), value));
        }
        self.args.extend(declared);
        Ok(())
    }

    fn expand_pairs(
        &self,
        pairs: &[(String, String)],
        line: usize,
        instruction: &str,
    ) -> Result<Vec<(String, String)>, DockerfileError> {
        let mut out = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            let key = self.expand(key, line)?;
            if key.is_empty() {
                return Err(arguments(line, instruction, "names can not be blank"));
            }
            out.push((key, self.expand(value, line)?));
        }
        Ok(out)
    }

    /// `path` made absolute against the workdir (Go's `path.Clean`).
    fn absolute(&self, path: &str) -> String {
        if path.starts_with('/') {
            clean_abs(path)
        } else {
            clean_abs(&format!("{}/{path}", self.workdir))
        }
    }

    /// A command as the config stores it: the shell form wrapped in the `SHELL`.
    fn command(&self, command: &RunCommand) -> Vec<String> {
        match command {
            RunCommand::Exec(words) => words.clone(),
            RunCommand::Shell(text) => {
                let mut words = self.shell.clone();
                words.push(text.clone());
                words
            }
        }
    }

    fn copy_spec(
        &self,
        copy: &CopyInstruction,
        add: bool,
        line: usize,
    ) -> Result<CopySpec, DockerfileError> {
        let word = if add { "ADD" } else { "COPY" };
        let sources = copy
            .sources
            .iter()
            .map(|s| self.expand(s, line))
            .collect::<Result<Vec<_>, _>>()?;
        if sources.iter().any(String::is_empty) {
            return Err(arguments(
                line,
                word,
                "has a source that expands to nothing",
            ));
        }
        let dest = self.expand(&copy.dest, line)?;
        if dest.is_empty() {
            return Err(arguments(
                line,
                word,
                "has a destination that expands to nothing",
            ));
        }
        let is_dir = dest.ends_with('/') || dest == "." || dest.ends_with("/.");
        if sources.len() > 1 && !is_dir {
            return Err(arguments(
                line,
                word,
                &format!(
                    "has more than one source, so its destination `{dest}` must be a directory ending with `/`"
                ),
            ));
        }
        let mut absolute = self.absolute(&dest);
        if is_dir && !absolute.ends_with('/') {
            absolute.push('/');
        }
        let checksum = match &copy.checksum {
            Some(raw) => {
                let value = self.expand(raw, line)?;
                let hex = value.strip_prefix("sha256:").unwrap_or_default();
                if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(arguments(
                        line,
                        word,
                        &format!(
                            "has `--checksum={value}`; airlock takes `sha256:` and 64 hex digits"
                        ),
                    ));
                }
                Some(value.to_ascii_lowercase())
            }
            None => None,
        };
        Ok(CopySpec {
            add,
            sources,
            dest: absolute,
            from: copy.from.clone(),
            chown: copy
                .chown
                .as_ref()
                .map(|c| self.expand(c, line))
                .transpose()?
                .filter(|c| !c.is_empty()),
            chmod: copy.chmod,
            link: copy.link,
            checksum,
            exclude: copy
                .exclude
                .iter()
                .map(|e| self.expand(e, line))
                .collect::<Result<Vec<_>, _>>()?,
        })
    }
}

/// `80`, `80/tcp`, `53/udp`, `8000-8010[/proto]` as `port/proto` keys.
fn expose_ports(spec: &str) -> Option<Vec<String>> {
    let (ports, proto) = match spec.split_once('/') {
        Some((ports, proto)) => (ports, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_owned()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return None;
    }
    let port = |s: &str| s.parse::<u16>().ok();
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => (port(ports)?, port(ports)?),
    };
    (start <= end).then(|| (start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// BuildKit's automatic platform args, fixed to the one platform airlock targets.
pub(super) fn automatic_args() -> [(&'static str, &'static str); 8] {
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

/// Go's `path.Clean` for an absolute path.
pub(crate) fn clean_abs(path: &str) -> String {
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

/// A string as Go's `%q` writes it.
fn go_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A list as Go's `%q` writes a `[]string`.
fn go_quote_list(words: &[String]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| go_quote(w)).collect();
    format!("[{}]", quoted.join(" "))
}

fn copy_text(word: &str, copy: &CopyInstruction) -> String {
    let mut parts = vec![word.to_owned()];
    if let Some(from) = &copy.from_raw {
        parts.push(format!("--from={from}"));
    }
    if let Some(chown) = &copy.chown {
        parts.push(format!("--chown={chown}"));
    }
    if let Some(chmod) = copy.chmod {
        parts.push(format!("--chmod={chmod:o}"));
    }
    if copy.link {
        parts.push("--link".to_owned());
    }
    if let Some(checksum) = &copy.checksum {
        parts.push(format!("--checksum={checksum}"));
    }
    parts.extend(copy.exclude.iter().map(|e| format!("--exclude={e}")));
    parts.extend(copy.sources.iter().cloned());
    parts.push(copy.dest.clone());
    parts.join(" ")
}

/// An instruction as its history line (`created_by`), the way Docker words it.
pub(super) fn history_text(kind: &InstructionKind, shell: &[String]) -> String {
    let pairs = |word: &str, pairs: &[(String, String)]| {
        let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{word} {}", body.join(" "))
    };
    match kind {
        InstructionKind::Arg(args) => {
            let body: Vec<String> = args
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={v}"),
                    None => k.clone(),
                })
                .collect();
            format!("ARG {}", body.join(" "))
        }
        InstructionKind::Env(p) => pairs("ENV", p),
        InstructionKind::Label(p) => pairs("LABEL", p),
        InstructionKind::User(u) => format!("USER {u}"),
        InstructionKind::Workdir(w) => format!("WORKDIR {w}"),
        InstructionKind::Copy(copy) => copy_text("COPY", copy),
        InstructionKind::Add(copy) => copy_text("ADD", copy),
        InstructionKind::Run(RunSpec { command, .. }) => match command {
            RunCommand::Shell(text) => format!("RUN {} {text}", shell.join(" ")),
            RunCommand::Exec(words) => format!("RUN {}", words.join(" ")),
        },
        InstructionKind::Shell(words) => format!("SHELL [{}]", words.join(" ")),
        InstructionKind::Cmd(command) | InstructionKind::Entrypoint(command) => {
            let word = match kind {
                InstructionKind::Cmd(_) => "CMD",
                _ => "ENTRYPOINT",
            };
            match command {
                RunCommand::Exec(words) => format!("{word} {}", go_quote_list(words)),
                RunCommand::Shell(text) => {
                    let mut words = shell.to_vec();
                    words.push(text.clone());
                    format!("{word} {}", go_quote_list(&words))
                }
            }
        }
        InstructionKind::Expose(words) => format!("EXPOSE {}", words.join(" ")),
        InstructionKind::Volume(words) => format!("VOLUME [{}]", words.join(" ")),
        InstructionKind::Healthcheck(None) => "HEALTHCHECK NONE".to_owned(),
        InstructionKind::Healthcheck(Some(HealthcheckSpec { test, .. })) => match test {
            RunCommand::Exec(words) => format!("HEALTHCHECK CMD {}", go_quote_list(words)),
            RunCommand::Shell(text) => format!("HEALTHCHECK CMD-SHELL {}", go_quote(text)),
        },
        InstructionKind::StopSignal(s) => format!("STOPSIGNAL {s}"),
        InstructionKind::Onbuild(t) => format!("ONBUILD {t}"),
        InstructionKind::Maintainer(m) => format!("MAINTAINER {m}"),
    }
}
