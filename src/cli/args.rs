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
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
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
pub enum Command {
    /// Build the project into an OCI image
    ///
    /// Reads PROJECT_DIR (default: the current directory), takes the `FROM` image from
    /// a local OCI layout, and writes the image to `.airlock/oci` (tag `latest`) unless
    /// `--output` says otherwise. Prints the manifest digest. Timestamps come from
    /// SOURCE_DATE_EPOCH (default 0), so rebuilding the same inputs gives the same digest.
    Build(BuildArgs),
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
    /// Resolve requirements.txt into airlock.lock without building
    ///
    /// Pins the base image digest, the hashes of the input files and, for
    /// `requirements.txt`, every wheel (name, version, URL, sha256) for the base image's
    /// Python and platform. Existing pins are kept while they still fit; the file is
    /// rewritten only when it changes. The index comes from `requirements.txt`,
    /// `PIP_INDEX_URL`, `[python]` in airlock.toml or pip's configuration, in that order.
    Lock(LockArgs),
}

/// How `requirements.txt` is resolved (for `build` and `lock`).
#[derive(Debug, Clone, Default, Args)]
pub struct PythonArgs {
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
pub struct LockArgs {
    /// The project directory
    #[arg(default_value = ".")]
    pub project_dir: PathBuf,
    /// A local OCI image layout that holds the `FROM` image
    #[arg(long, value_name = "DIR")]
    pub base_layout: Option<PathBuf>,
    /// Check that `airlock.lock` is up to date; never write it
    #[arg(long)]
    pub locked: bool,
    /// Use only the cache and the store; never touch the network
    #[arg(long)]
    pub offline: bool,
    /// Resolve a registry base's tag again instead of using the locked digest
    #[arg(long)]
    pub upgrade_base: bool,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub python: PythonArgs,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The image: `registry/repository[:tag][@sha256:…]`
    pub reference: String,
    /// Only check the store; never touch the network
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, Args)]
pub struct PushArgs {
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
pub struct LoginArgs {
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
pub struct LogoutArgs {
    /// The registry (`host[:port]`)
    pub registry: String,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
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
    /// Resolve a registry base's tag again instead of using the digest in `airlock.lock`
    #[arg(long)]
    pub upgrade_base: bool,
    #[command(flatten)]
    pub python: PythonArgs,
}

#[derive(Debug, Args)]
pub struct ParseArgs {
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
}

#[derive(Debug, Args)]
pub struct InitArgs {
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
