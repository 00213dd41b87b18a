//! The parsed Dockerfile and what its evaluation gives.

use std::collections::{BTreeMap, BTreeSet};

/// A parsed Dockerfile: the last stage (the image) and the stages before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The stages before the last `FROM`, in order (`COPY --from` reads them).
    pub stages: Vec<Stage>,
    /// The last stage's `FROM`: the image's base.
    pub from: FromLine,
    /// The last stage's instructions, with raw (unexpanded) words.
    pub instructions: Vec<Instruction>,
    /// Values of the `ARG`s declared before the first `FROM` (build args applied); an
    /// `ARG` without a default inside a stage inherits its value from here.
    pub global_args: BTreeMap<String, String>,
    /// The escape character: `\` unless an `# escape=` directive says `` ` ``.
    pub escape: char,
}

/// A stage before the last: its `FROM` and its instructions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub from: FromLine,
    pub instructions: Vec<Instruction>,
}

/// A `FROM` line.
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

/// The instructions with their raw words: quotes, escapes and `$` references are still
/// in them where Docker substitutes later (`ENV`, `COPY` sources...); commands (`RUN`,
/// `CMD`, `ENTRYPOINT`, `HEALTHCHECK`) are kept as written, as Docker never substitutes
/// in them.
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
    /// `COPY [flags] src... dest`
    Copy(CopyInstruction),
    /// `ADD [flags] src... dest`
    Add(CopyInstruction),
    /// `RUN [--mount=...] [--network=...] command`
    Run(RunSpec),
    /// `SHELL ["executable", "parameters"...]`
    Shell(Vec<String>),
    /// `CMD`, in the exec or the shell form.
    Cmd(RunCommand),
    /// `ENTRYPOINT`, in the exec or the shell form.
    Entrypoint(RunCommand),
    /// `EXPOSE port[/proto] ...` (raw words).
    Expose(Vec<String>),
    /// `VOLUME path ...` or `VOLUME ["path", ...]` (raw words).
    Volume(Vec<String>),
    /// `HEALTHCHECK NONE` (`None`) or `HEALTHCHECK [flags] CMD command`.
    Healthcheck(Option<HealthcheckSpec>),
    /// `STOPSIGNAL signal` (raw word).
    StopSignal(String),
    /// `ONBUILD instruction`: the trigger's text, kept for the image's children.
    Onbuild(String),
    /// `MAINTAINER name` (deprecated; sets the config's `author`).
    Maintainer(String),
}

/// The words of a `COPY` or an `ADD`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyInstruction {
    /// Raw source words (at least one).
    pub sources: Vec<String>,
    /// The raw destination word.
    pub dest: String,
    /// `--from=`: set by the parser once stage names are known.
    pub from: Option<CopyFrom>,
    /// `--chown=` (raw).
    pub chown: Option<String>,
    /// `--chmod=` (octal, checked).
    pub chmod: Option<u32>,
    /// `--link`
    pub link: bool,
    /// `--checksum=sha256:…` (ADD only).
    pub checksum: Option<String>,
    /// `--exclude=` patterns (raw).
    pub exclude: Vec<String>,
    /// The raw `--from=` value, before it is resolved.
    pub(super) from_raw: Option<String>,
}

/// Where a `COPY --from` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyFrom {
    /// An earlier stage, by its index in [`Dockerfile::stages`].
    Stage(usize),
    /// An image reference, pulled like a base.
    Image(String),
}

/// A `RUN` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunCommand {
    /// The shell form: run with the `SHELL` in force (`/bin/sh -c` by default).
    Shell(String),
    /// The exec form (a JSON array).
    Exec(Vec<String>),
}

/// A `RUN` instruction: its command and its flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    pub command: RunCommand,
    pub mounts: Vec<RunMount>,
    pub network: RunNetwork,
}

/// A `RUN --mount=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMount {
    /// `type=secret`: the file given with `--secret id=…,src=…`, at `target`
    /// (`/run/secrets/ID` by default) or in the variable `env`.
    Secret {
        id: String,
        target: Option<String>,
        required: bool,
        env: Option<String>,
    },
    /// `type=cache`: a directory kept between builds.
    Cache {
        target: String,
        id: Option<String>,
        /// `shared` (the default), `private` or `locked`.
        sharing: String,
    },
}

/// `RUN --network=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunNetwork {
    /// No flag, or `default`: the step may have the network when airlock allows it.
    #[default]
    Default,
    /// `none`: never.
    None,
}

/// `HEALTHCHECK [flags] CMD command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthcheckSpec {
    pub test: RunCommand,
    /// Durations in nanoseconds, as the image config stores them.
    pub interval: Option<u64>,
    pub timeout: Option<u64>,
    pub start_period: Option<u64>,
    pub start_interval: Option<u64>,
    pub retries: Option<u64>,
}

/// A config value a Dockerfile may leave, reset or set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Change<T> {
    /// The base's value stays.
    #[default]
    Keep,
    /// Cleared (`null`), as a new `ENTRYPOINT` does to the base's `CMD`.
    Reset,
    Set(T),
}

/// The base image's config values the evaluation starts from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BaseValues {
    /// `Env` as `"K=V"` strings.
    pub env: Vec<String>,
    /// `WorkingDir` (`/` when empty).
    pub workdir: String,
    /// The `USER` in force after `FROM` (the base's, or its ONBUILD triggers').
    pub user: Option<String>,
    /// `Shell`, when the base sets one.
    pub shell: Option<Vec<String>>,
}

/// The Dockerfile's effect on the image config, applied over the base's config
/// values, and the filesystem steps in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Evaluated {
    /// The full environment in order: base entries updated in place, new keys appended.
    pub env: Vec<(String, String)>,
    /// Only the labels the Dockerfile sets.
    pub labels: BTreeMap<String, String>,
    pub user: Option<String>,
    /// Absolute, resolved against the base workdir like Docker does.
    pub workdir: Option<String>,
    /// The other config fields the Dockerfile changes.
    pub changes: ConfigChanges,
    /// The filesystem steps, in Dockerfile order.
    pub steps: Vec<FsStep>,
    /// One history line per instruction, in order.
    pub history: Vec<HistoryLine>,
}

/// One history line of an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryLine {
    pub created_by: String,
    /// The index in [`Evaluated::steps`] when the instruction is a filesystem step.
    pub step: Option<usize>,
}

/// A filesystem step (one layer, or none when it changes nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsStep {
    /// 1-based Dockerfile line.
    pub line: usize,
    /// The history line, as Docker writes it.
    pub created_by: String,
    /// The state in force at the step.
    pub state: StepState,
    pub kind: FsStepKind,
}

/// The build state in force at a step.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StepState {
    /// The environment in order (base entries, then the Dockerfile's).
    pub env: Vec<(String, String)>,
    /// The `USER` in force (`None`: root).
    pub user: Option<String>,
    /// Absolute working directory.
    pub workdir: String,
    /// The shell for shell-form commands (`["/bin/sh", "-c"]` by default).
    pub shell: Vec<String>,
    /// Build args in scope (declared with `ARG` in the stage), with their values.
    pub args: BTreeMap<String, String>,
}

/// What a filesystem step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsStepKind {
    Copy(CopySpec),
    Run(RunSpec),
    /// `WORKDIR`: the directory (absolute) is made when missing, owned by the `USER`.
    Workdir(String),
}

/// A `COPY` or `ADD` with its words expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    /// `ADD` (tar extraction, URLs) rather than `COPY`.
    pub add: bool,
    /// Sources, expanded (relative to the context or the `--from` root).
    pub sources: Vec<String>,
    /// The destination, expanded and made absolute against the workdir; a trailing `/`
    /// is kept (it says "a directory").
    pub dest: String,
    pub from: Option<CopyFrom>,
    /// `--chown`, expanded.
    pub chown: Option<String>,
    pub chmod: Option<u32>,
    pub link: bool,
    pub checksum: Option<String>,
    /// `--exclude` patterns, expanded.
    pub exclude: Vec<String>,
}

/// The config fields a Dockerfile may change besides the environment, labels, user
/// and workdir; the default changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigChanges {
    pub cmd: Change<Vec<String>>,
    pub entrypoint: Change<Vec<String>>,
    /// `port/proto` keys added to `ExposedPorts`.
    pub exposed_ports: BTreeSet<String>,
    /// Paths added to `Volumes`.
    pub volumes: BTreeSet<String>,
    /// `Some(None)`: `HEALTHCHECK NONE`.
    pub healthcheck: Option<Option<HealthcheckSpec>>,
    pub stop_signal: Option<String>,
    pub shell: Option<Vec<String>>,
    /// The image's own `ONBUILD` triggers, for its children.
    pub onbuild: Vec<String>,
    /// `MAINTAINER`: the config's `author`.
    pub author: Option<String>,
}
