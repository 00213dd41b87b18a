//! clap definitions: one `Args` struct per subcommand; doc comments are the help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::env_vars;

/// Build and deploy Apache Airflow projects as reproducible OCI images, with no
/// container daemon.
///
/// airlock reads an Astro-style project (Dockerfile, requirements.txt, packages.txt,
/// dags/, plugins/, include/), builds its layers itself on top of the Runtime base
/// image, and writes an OCI layout or a docker-archive. The same inputs give the same
/// image digest on any machine, any day.
#[derive(Debug, Parser)]
#[command(
    name = "airlock",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Print nothing but errors (and the result with `--json`)
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log what airlock does (`-vv` for more detail)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The content-addressed store for blobs and built layers
    /// [default: $XDG_CACHE_HOME/airlock or ~/.cache/airlock]
    #[arg(long, global = true, env = env_vars::AIRLOCK_CACHE_DIR, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Trust the certificates of this PEM file on top of the system trust store
    /// (repeatable; `SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured too)
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_file: Vec<PathBuf>,
    /// Talk plain HTTP to this registry (`host[:port]`, repeatable; loopback needs
    /// no flag)
    #[arg(long = "insecure-registry", global = true, value_name = "HOST")]
    pub insecure_registries: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Build the project into an OCI image
    ///
    /// Reads PROJECT_DIR (default: the current directory), takes the `FROM` image from
    /// a local OCI layout, and writes the image to `.airlock/oci` (tag `latest`) unless
    /// `--output` says otherwise. Prints the manifest digest. Timestamps come from
    /// SOURCE_DATE_EPOCH (default 0), so rebuilding the same inputs gives the same digest.
    Build(BuildArgs),
    /// Resolve `packages.txt` and `requirements.txt` into `airlock.lock` without building
    ///
    /// Pins the base image digest and the hashes of the input files. `packages.txt` is
    /// resolved against the base's own apt sources and keyrings (plus `[debian]` in
    /// airlock.toml) like `apt-get install --no-install-recommends`, after verifying each
    /// repository's signed `InRelease`; every `.deb` is pinned by sha256.
    /// `requirements.txt` is resolved for the base image's Python and platform; every
    /// wheel is pinned (name, version, URL, sha256), existing pins are kept while they
    /// still fit. The index comes from `requirements.txt`, `PIP_INDEX_URL`, `[python]` in
    /// airlock.toml or pip's configuration, in that order. `airlock build` then needs
    /// only downloads verified by hash.
    Lock(LockArgs),
    /// Create a new Airflow project skeleton
    ///
    /// Writes the Astro layout: Dockerfile, requirements.txt, packages.txt, dags/ with an
    /// example DAG and `.airflowignore`, include/, plugins/, tests/dags/ with a
    /// DAG-integrity test, `.dockerignore` and `airlock.toml`. Existing files are never
    /// overwritten.
    Init(InitArgs),
    /// Check that the DAGs parse and their imports resolve, without running Python
    ///
    /// Parses every `.py` file under dags/ (minus `.airflowignore`), plugins/ and include/
    /// and checks each absolute import against the base image's Python standard library,
    /// the distributions installed in the base, and the project's own modules. Files listed
    /// in `.astro/dag_integrity_exceptions.txt` or `.airlock-dag-exceptions.txt` may fail.
    /// Exits 1 when any error remains.
    Parse(ParseArgs),
    /// Run the project's pytest suite inside the built image, in a sandbox
    ///
    /// Builds the image, then runs `python3 -m pytest tests/` (or FILE) with bubblewrap:
    /// no network, the image's Env, User and WorkingDir, the project at the WORKDIR.
    /// pytest's exit status is airlock's.
    Pytest(PytestArgs),
    /// Fetch an image from a registry into the store
    ///
    /// Resolves REF (`registry/repository[:tag][@sha256:…]`), chooses linux/amd64 from an
    /// index, verifies every digest and prints the manifest digest.
    Pull(PullArgs),
    /// Push an image to a registry
    ///
    /// Pushes the project's last build (`.airlock/oci:latest` in the current directory)
    /// or the image `--from` names. Blobs go first (skipped when the registry has them,
    /// mounted from the base's repository when it is on the same registry), then the
    /// manifest, then the tag. Prints the manifest digest.
    Push(PushArgs),
    /// Store credentials for a registry in Docker's config format
    ///
    /// Reads the password from standard input with `--password-stdin`, else from the
    /// `AIRLOCK_REGISTRY_PASSWORD` environment variable. Credential helpers configured in
    /// `~/.docker/config.json` are used when present.
    Login(LoginArgs),
    /// Forget the credentials stored for a registry
    Logout(LogoutArgs),
    /// Deploy the project: its image, its DAGs, or both
    ///
    /// Checks the DAGs (`airlock parse`), builds the image, pushes it to the
    /// deployment's repository tagged `deploy-<UTC time>`, ships the DAGs as a bundle
    /// when DAG-only deploys are on, and writes the deployment record last. Deployments
    /// are named in `airlock.toml` (`[deployments.NAME]`).
    Deploy(DeployArgs),
    /// Inspect, follow and change deployments
    #[command(subcommand)]
    Deployment(DeploymentCommand),
    /// DAG bundles on the Airflow side
    #[command(subcommand)]
    Dags(DagsCommand),
    /// Print the SBOM of an image airlock built
    ///
    /// IMAGE is `oci:DIR[:TAG]`, `docker-archive:FILE` or a registry reference. The
    /// packages are read from the image's own dpkg database and `*.dist-info`
    /// directories; hashes of the `.deb`s and wheels from the lock the image carries.
    /// The output is the same bytes `airlock build --sbom` wrote for the image (given
    /// the same `--project-dir`, which adds the project's git commit).
    Sbom(SbomArgs),
    /// Rebuild an image from its project's committed lock and compare digests
    ///
    /// IMAGE is `oci:DIR[:TAG]`, `docker-archive:FILE`, a registry reference, or the
    /// name of a deployment in `airlock.toml` (its current image, from its record).
    /// When the project is in git, the commit is rebuilt, not the work tree: the
    /// commit `--commit` names, else the one the deployment record names, else
    /// `HEAD`. The project is built with `--locked` into a fresh temporary store,
    /// every download verified by hash, with the image's own SOURCE_DATE_EPOCH.
    /// Exits 0 only when the digests are equal; otherwise names the layers that
    /// differ and the first files within them.
    Verify(VerifyArgs),
    /// Bring everything the lock needs into the store, so the machine can go offline
    ///
    /// Loads the base by its locked digest, downloads every locked `.deb` and wheel
    /// (each verified by hash) and notes which layers the store already holds. The
    /// lock must be fresh (as under `--locked`). Afterwards `airlock build --frozen`
    /// needs no network.
    Fetch(FetchArgs),
    /// Inspect, trim, export and import the store
    #[command(subcommand)]
    Cache(CacheCommand),
}

#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    /// The project directory
    #[arg(default_value = ".")]
    pub project_dir: PathBuf,
    /// A local OCI image layout that holds the `FROM` image
    #[arg(long, value_name = "DIR")]
    pub base_layout: Option<PathBuf>,
    /// Set a Dockerfile `ARG` (repeatable)
    #[arg(long = "build-arg", value_name = "NAME=VALUE", value_parser = parse_key_value)]
    pub build_args: Vec<(String, String)>,
    /// Also bring the layers this registry repository caches by derivation key
    /// (repeatable; else `AIRLOCK_CACHE_FROM`, else `[cache] from`)
    #[arg(long = "cache-from", value_name = "REF")]
    pub cache_from: Vec<String>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CacheCommand {
    /// Print the store's size by kind of content
    Info(CacheInfoArgs),
    /// Remove what no kept lock needs and what was not used recently
    ///
    /// With `--keep-locks` alone, everything the named locks do not need goes; with
    /// `--older-than`, only what was not used for that long; `--max-size` then removes
    /// the least recently used until the store fits. What a kept lock needs is never
    /// removed. Waits for running airlock processes that use the store, and holds
    /// new ones back while it removes.
    Gc(CacheGcArgs),
    /// Write what the locks need from the store to an OCI layout (directory or .tar)
    ///
    /// Run `airlock fetch` first. DEST must not exist; a name ending in `.tar` gives
    /// one tar file, anything else a directory (`--format` overrides).
    Export(CacheExportArgs),
    /// Read an export into the store, every blob checked against its digest
    Import(CacheImportArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CacheInfoArgs {
    /// Print the sizes as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CacheGcArgs {
    /// Keep what this lock needs (repeatable; its project is the lock's directory)
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub keep_locks: Vec<PathBuf>,
    /// Remove what was not used for this long (`30d`, `12h`, `90m`, `45s`)
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub older_than: Option<std::time::Duration>,
    /// Then remove the least recently used until the store is this small (`10G`, `500M`)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// The local OCI layout the kept projects take their `FROM` image from (when their
    /// builds name it with `--base-layout`)
    #[arg(long, value_name = "DIR")]
    pub base_layout: Option<PathBuf>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

/// The form `cache export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ExportFormatChoice {
    Dir,
    Tar,
}

#[derive(Debug, Args)]
pub(crate) struct CacheExportArgs {
    /// Where to write: a new directory, or a file ending in `.tar`
    pub dest: PathBuf,
    /// The locks whose needs to export (repeatable; default `./airlock.lock`)
    #[arg(long = "lock", value_name = "PATH", num_args = 1..)]
    pub locks: Vec<PathBuf>,
    /// Directory or tar, whatever DEST's name says
    #[arg(long, value_enum)]
    pub format: Option<ExportFormatChoice>,
    /// The local OCI layout the projects take their `FROM` image from (when their
    /// builds name it with `--base-layout`)
    #[arg(long, value_name = "DIR")]
    pub base_layout: Option<PathBuf>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CacheImportArgs {
    /// An export: a directory or a tar file
    pub source: PathBuf,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

/// `30d`, `12h`, `90m`, `45s` (or plain seconds).
fn parse_age(text: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = text.trim().split_at(
        text.trim()
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.trim().len()),
    );
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not an age like `30d` or `12h`"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => return Err(format!("`{text}`: the unit is one of s, m, h, d, w")),
    };
    Ok(std::time::Duration::from_secs(
        number.saturating_mul(seconds),
    ))
}

/// `10G`, `500M`, `64K`, plain bytes (binary units; an optional `B`/`iB`).
fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size like `10G` or `500M`"))?;
    let unit = unit.trim_end_matches("iB").trim_end_matches('B');
    let factor: u64 = match unit.to_ascii_uppercase().as_str() {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("`{text}`: the unit is one of K, M, G, T")),
    };
    Ok(number.saturating_mul(factor))
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The image: `oci:DIR[:TAG]`, `docker-archive:FILE`, a registry reference or a
    /// deployment name
    pub image: String,
    /// The commit to rebuild (default: the deployment record's commit, else `HEAD`)
    #[arg(long, value_name = "REV")]
    pub commit: Option<String>,
    /// The project the image was built from
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub project_dir: PathBuf,
    /// A local OCI image layout that holds the `FROM` image
    #[arg(long, value_name = "DIR")]
    pub base_layout: Option<PathBuf>,
    /// Leave the DAGs layer out of the rebuild (for images built with `--exclude-dags`)
    #[arg(long)]
    pub exclude_dags: bool,
    /// Print the comparison as JSON
    #[arg(long)]
    pub json: bool,
}

/// The SBOM formats `build --sbom` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SbomChoice {
    Spdx,
    Cyclonedx,
    Both,
}

#[derive(Debug, Args)]
pub(crate) struct SbomArgs {
    /// The image: `oci:DIR[:TAG]`, `docker-archive:FILE` or a registry reference
    pub image: String,
    /// SPDX 2.3 JSON or CycloneDX 1.6 JSON
    #[arg(long, value_enum, default_value = "spdx")]
    pub format: SbomChoice,
    /// The project the image was built from (adds its git commit and remote)
    #[arg(long, value_name = "DIR")]
    pub project_dir: Option<PathBuf>,
}

/// `astro deploy`'s flags, with airlock's own after them (README: "Flags against the
/// Astro CLI").
#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// The deployment, as named in `airlock.toml` (asked when several exist)
    pub deployment: Option<String>,
    /// The deployment, as the positional argument names it
    #[arg(short = 'n', long, value_name = "NAME", conflicts_with = "deployment")]
    pub deployment_name: Option<String>,
    /// The project directory
    #[arg(short = 'C', long, default_value = ".", value_name = "DIR")]
    pub project_dir: PathBuf,
    /// Ask which deployment even when one is named or only one exists
    #[arg(short, long)]
    pub prompt: bool,
    /// Deploy only the DAGs, as a bundle (needs DAG-only deploys enabled)
    #[arg(short, long, conflicts_with_all = ["image", "image_name"])]
    pub dags: bool,
    /// Deploy only the image; the current DAG bundle stays as it is
    #[arg(long)]
    pub image: bool,
    /// Deploy this prebuilt image instead of building: `oci:DIR[:TAG]`,
    /// `docker-archive:FILE[:REF]` or `registry/repository[:tag|@digest]`
    #[arg(short, long, value_name = "REF")]
    pub image_name: Option<String>,
    /// Bundle this DAG folder instead of the project's `dags/`
    #[arg(long, value_name = "DIR")]
    pub dags_path: Option<PathBuf>,
    /// What this deploy is about (default: the last commit's subject)
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Deploy despite DAG check errors or uncommitted changes (the record says
    /// `dirty`). Never past a Runtime downgrade, a non-Runtime image or a stale lock
    #[arg(short, long)]
    pub force: bool,
    /// Run the DAG check even with `--force` or the deployment's `skip-parse = true`
    #[arg(long)]
    pub parse: bool,
    /// Run the project's tests in the built image before deploying
    #[arg(long)]
    pub pytest: bool,
    /// The test file or directory to run, relative to the project [default: tests/]
    #[arg(short = 't', long = "test", value_name = "PATH", requires = "pytest")]
    pub test: Option<PathBuf>,
    /// An env file (`KEY=VALUE` lines) set for the tests
    #[arg(short = 'e', long = "env", value_name = "FILE", requires = "pytest")]
    pub env: Option<PathBuf>,
    /// Deploy an image whose Runtime is older than the deployment's (a rollback;
    /// `--force` does not allow it)
    #[arg(long)]
    pub allow_runtime_downgrade: bool,
    /// A file a `RUN --mount=type=secret,id=ID` reads (repeatable): `id=ID,src=FILE`
    /// (`--build-secrets`, as `astro deploy` names it, is the same). Never stored in
    /// a layer, the lock or the logs
    #[arg(long = "secret", visible_alias = "build-secrets", value_name = "id=ID,src=FILE", value_parser = parse_secret)]
    pub secrets: Vec<(String, PathBuf)>,

    /// Print the new record as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DeploymentCommand {
    /// Show what a deployment runs, read back from the registry
    ///
    /// Prints the Docker Image, the DAG Bundle Version and the rest of the deployment
    /// record. DEPLOYMENT is a name from `airlock.toml` or an image repository
    /// (`registry/repository`).
    Inspect(DeploymentInspectArgs),
    /// List a deployment's records, newest first
    History(DeploymentHistoryArgs),
    /// Change a deployment's settings, or show them when no change is given
    #[command(visible_alias = "up")]
    Update(DeploymentUpdateArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DeploymentInspectArgs {
    /// A deployment name from `airlock.toml`, or `registry/repository`
    pub deployment: String,
    /// The project directory (for `airlock.toml`)
    #[arg(short = 'C', long, default_value = ".", value_name = "DIR")]
    pub project_dir: PathBuf,
    /// Print the record as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DeploymentHistoryArgs {
    /// A deployment name from `airlock.toml`, or `registry/repository`
    pub deployment: String,
    /// The project directory (for `airlock.toml`)
    #[arg(short = 'C', long, default_value = ".", value_name = "DIR")]
    pub project_dir: PathBuf,
    /// Show at most this many records
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Print the records as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Toggle {
    Enable,
    Disable,
}

#[derive(Debug, Args)]
pub(crate) struct DeploymentUpdateArgs {
    /// A deployment name from `airlock.toml`, or `registry/repository` (asked when
    /// several exist)
    pub deployment: Option<String>,
    /// The deployment, as the positional argument names it
    #[arg(short = 'n', long, value_name = "NAME", conflicts_with = "deployment")]
    pub deployment_name: Option<String>,
    /// The project directory (for `airlock.toml`)
    #[arg(short = 'C', long, default_value = ".", value_name = "DIR")]
    pub project_dir: PathBuf,
    /// Turn DAG-only deploys on or off
    #[arg(long, value_enum)]
    pub dag_deploy: Option<Toggle>,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DagsCommand {
    /// Keep a DAG folder in step with a deployment's DAG bundle
    ///
    /// Follows the deployment record; each new bundle is downloaded, verified, unpacked
    /// into `DEST.versions/<version>-<digest>` and DEST (a symlink) is switched to it
    /// atomically. Earlier versions are removed after the grace period.
    Sync(DagsSyncArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DagsSyncArgs {
    /// A deployment name from `airlock.toml`, or `registry/repository`
    pub deployment: String,
    /// The DAG folder Airflow reads: a symlink airlock manages
    #[arg(long, value_name = "DIR")]
    pub dest: PathBuf,
    /// Seconds between checks of the record
    #[arg(long, default_value_t = 30, value_name = "S")]
    pub interval: u64,
    /// Check once and exit
    #[arg(long)]
    pub once: bool,
    /// Seconds a replaced version is kept for tasks still running on it
    #[arg(long, default_value_t = 3600, value_name = "S")]
    pub grace_period: u64,
    /// The project directory (for `airlock.toml`)
    #[arg(short = 'C', long, default_value = ".", value_name = "DIR")]
    pub project_dir: PathBuf,
}

/// How `requirements.txt` is resolved (for `build` and `lock`).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct PythonArgs {
    /// Resolve every Python distribution again instead of keeping the locked versions
    #[arg(long)]
    pub upgrade: bool,
    /// Resolve this Python distribution again (repeatable)
    #[arg(long, value_name = "NAME")]
    pub upgrade_package: Vec<String>,
    /// Ignore files uploaded to the index after this time (`YYYY-MM-DD` or RFC 3339)
    #[arg(long, value_name = "TIMESTAMP")]
    pub exclude_newer: Option<String>,
    /// Let requirements change the version of a distribution the base image has
    /// installed (each change is listed as a warning)
    #[arg(long)]
    pub allow_base_upgrades: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// The image: `registry/repository[:tag][@sha256:…]`
    pub reference: String,
    /// Only check the store; never touch the network
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// Where to push: `registry/repository[:tag]`
    pub reference: String,
    /// The image to push: `oci:DIR[:TAG]` or `docker-archive:FILE`
    /// [default: oci:.airlock/oci:latest]
    #[arg(long, value_name = "SPEC")]
    pub from: Option<String>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The registry (`host[:port]`)
    pub registry: String,
    /// The user name [env: AIRLOCK_REGISTRY_USER]
    #[arg(short, long)]
    pub username: Option<String>,
    /// Read the password from standard input
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LogoutArgs {
    /// The registry (`host[:port]`)
    pub registry: String,
}

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// The project directory
    #[arg(default_value = ".")]
    pub project_dir: PathBuf,
    /// Where to write the image: `oci:DIR[:TAG]` or `docker-archive:FILE[:REF]`
    /// [default: oci:PROJECT_DIR/.airlock/oci:latest]
    #[arg(short, long, value_name = "SPEC")]
    pub output: Option<String>,
    /// A local OCI image layout that holds the `FROM` image (its tag selects the
    /// manifest by `org.opencontainers.image.ref.name`)
    #[arg(long, value_name = "DIR")]
    pub base_layout: Option<PathBuf>,
    /// Leave the DAGs layer out of the image (for DAG-only deploys)
    #[arg(long)]
    pub exclude_dags: bool,
    /// Set a Dockerfile `ARG` (repeatable)
    #[arg(long = "build-arg", value_name = "NAME=VALUE", value_parser = parse_key_value)]
    pub build_args: Vec<(String, String)>,
    /// A file a `RUN --mount=type=secret,id=ID` reads (repeatable): `id=ID,src=FILE`
    /// (`--build-secrets`, as `astro deploy` names it, is the same). Never stored in
    /// a layer, the lock or the logs
    #[arg(long = "secret", visible_alias = "build-secrets", value_name = "id=ID,src=FILE", value_parser = parse_secret)]
    pub secrets: Vec<(String, PathBuf)>,
    /// Print the result as JSON (digest, layers with sizes, output)
    #[arg(long)]
    pub json: bool,
    /// Fail if `airlock.lock` is missing or out of date instead of updating it
    #[arg(long)]
    pub locked: bool,
    /// `--locked` and `--offline` together
    #[arg(long)]
    pub frozen: bool,
    /// Use only what is in the store; never touch the network
    #[arg(long)]
    pub offline: bool,
    /// Push the image to this registry reference after writing it
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    /// Resolve the base's tag (and those of the other images the Dockerfile reads)
    /// again instead of using the digests in `airlock.lock`
    #[arg(long)]
    pub upgrade_base: bool,
    /// Look layers up by derivation key in this registry repository before building
    /// them (repeatable; else `AIRLOCK_CACHE_FROM`, else `[cache] from`)
    #[arg(long = "cache-from", value_name = "REF")]
    pub cache_from: Vec<String>,
    /// Store every layer of the build in this registry repository (else
    /// `AIRLOCK_CACHE_TO`, else `[cache] to`)
    #[arg(long = "cache-to", value_name = "REF")]
    pub cache_to: Option<String>,
    /// Write the image's SBOM beside the output (`OUTPUT.spdx.json`, `OUTPUT.cdx.json`)
    /// and attach it to the pushed image
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub sbom: Option<SbomChoice>,
    /// Write an in-toto SLSA v1 provenance statement beside the output
    /// (`OUTPUT.intoto.json`) and attach it to the pushed image
    #[arg(long)]
    pub provenance: bool,
    /// Layer compression: `gzip` (every runtime) or `zstd` (containerd 1.5+,
    /// Docker 23+, podman) [default: `[build] compression` in airlock.toml, else gzip]
    #[arg(long, value_name = "gzip|zstd", value_parser = parse_compression)]
    pub compression: Option<crate::layer::Compression>,
    #[command(flatten)]
    pub python: PythonArgs,
}

fn parse_compression(value: &str) -> Result<crate::layer::Compression, String> {
    crate::layer::Compression::from_name(value)
        .ok_or_else(|| format!("`{value}` is not a layer compression (gzip or zstd)"))
}

#[derive(Debug, Args)]
pub(crate) struct LockArgs {
    /// The project directory
    #[arg(default_value = ".")]
    pub project_dir: PathBuf,
    /// A local OCI image layout that holds the `FROM` image
    #[arg(long, value_name = "DIR")]
    pub base_layout: Option<PathBuf>,
    /// Set a Dockerfile `ARG` (repeatable)
    #[arg(long = "build-arg", value_name = "NAME=VALUE", value_parser = parse_key_value)]
    pub build_args: Vec<(String, String)>,
    /// A file a `RUN --mount=type=secret,id=ID` reads (repeatable): `id=ID,src=FILE`
    /// (`--build-secrets`, as `astro deploy` names it, is the same). Never stored in
    /// a layer, the lock or the logs
    #[arg(long = "secret", visible_alias = "build-secrets", value_name = "id=ID,src=FILE", value_parser = parse_secret)]
    pub secrets: Vec<(String, PathBuf)>,
    /// Check that `airlock.lock` is up to date; never write it
    #[arg(long)]
    pub locked: bool,
    /// Use only the cache and the store; never touch the network
    #[arg(long)]
    pub offline: bool,
    /// Resolve the base's tag (and those of the other images the Dockerfile reads)
    /// again instead of using the locked digests
    #[arg(long)]
    pub upgrade_base: bool,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub python: PythonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ParseArgs {
    /// The project directory
    #[arg(default_value = ".")]
    pub project_dir: PathBuf,
    /// A local OCI image layout that holds the `FROM` image
    #[arg(long, value_name = "DIR")]
    pub base_layout: Option<PathBuf>,
    /// The Python version to check against (default: read from the base image)
    #[arg(long, value_name = "3.N")]
    pub python_version: Option<String>,
    /// Print the findings as JSON (file, line, column, kind, message)
    #[arg(long)]
    pub json: bool,
    /// Also build the image and load the DAGs with Airflow's DagBag inside it, in a
    /// bubblewrap sandbox with no network (catches cycles and bad operator arguments)
    #[arg(long)]
    pub full: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PytestArgs {
    /// A test file or directory, relative to the project [default: tests/]
    pub file: Option<String>,
    /// The project directory
    #[arg(long, default_value = ".")]
    pub project_dir: PathBuf,
    /// Extra arguments for pytest, as one string (e.g. `-a "-k integrity -x"`)
    #[arg(short, long = "args", value_name = "ARGS", allow_hyphen_values = true)]
    pub args: Option<String>,
    /// A local OCI image layout that holds the `FROM` image
    #[arg(long, value_name = "DIR")]
    pub base_layout: Option<PathBuf>,
    /// Environment for the tests, in `docker run --env-file` format, relative to the
    /// project [default: .env, when present]
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Where to create the project
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The base image for the Dockerfile's `FROM`
    #[arg(long, value_name = "IMAGE", default_value = "astro-runtime:3.1-1")]
    pub base: String,
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got `{text}`")),
    }
}

/// `--secret id=ID,src=FILE` (BuildKit's form; `source=` and `type=file` accepted).
fn parse_secret(text: &str) -> Result<(String, PathBuf), String> {
    let (mut id, mut src) = (None, None);
    for field in text.split(',') {
        match field.split_once('=') {
            Some(("id", value)) if !value.is_empty() => id = Some(value.to_string()),
            Some(("src" | "source", value)) if !value.is_empty() => {
                src = Some(PathBuf::from(value));
            }
            Some(("type", "file")) => {}
            _ => return Err(format!("expected id=ID,src=FILE, got `{field}`")),
        }
    }
    match (id, src) {
        (Some(id), Some(src)) => Ok((id, src)),
        (None, Some(src)) => match src.file_name().and_then(|n| n.to_str()) {
            Some(name) => Ok((name.to_string(), src.clone())),
            None => Err(format!("expected id=ID,src=FILE, got `{text}`")),
        },
        _ => Err(format!("expected id=ID,src=FILE, got `{text}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// #13 item 3: `--secret` in BuildKit's form, `--build-secrets` as the Astro CLI
    /// passes it.
    #[test]
    fn item13_3_secret_flags() {
        assert_eq!(
            parse_secret("id=tok,src=secrets/tok.txt"),
            Ok(("tok".into(), PathBuf::from("secrets/tok.txt")))
        );
        assert_eq!(
            parse_secret("type=file,source=/x/y,id=a"),
            Ok(("a".into(), PathBuf::from("/x/y")))
        );
        assert_eq!(
            parse_secret("src=/x/token"),
            Ok(("token".into(), PathBuf::from("/x/token")))
        );
        assert!(parse_secret("id=tok").is_err());
        assert!(parse_secret("id=tok,env=VAR").is_err());
        let cli = Cli::try_parse_from([
            "airlock",
            "build",
            ".",
            "--build-secrets",
            "id=a,src=f",
            "--secret",
            "id=b,src=g",
        ])
        .expect("parses");
        let Command::Build(args) = cli.command else {
            panic!("not a build");
        };
        assert_eq!(args.secrets.len(), 2);
    }
}
