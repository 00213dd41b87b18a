//! Error rendering, logging setup and exit statuses.

use std::io::IsTerminal;

use crate::env_vars;
use crate::hint::Hint;

/// Stable exit statuses: 0 success, 1 the command failed, 2 bad usage; `airlock
/// pytest` passes pytest's own status through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    Failure,
    Usage,
    PassThrough(u8),
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(match status {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Usage => 2,
            ExitStatus::PassThrough(code) => code,
        })
    }
}

fn use_color() -> bool {
    std::env::var_os(env_vars::NO_COLOR).is_none() && std::io::stderr().is_terminal()
}

pub(super) fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "airlock=info",
        (false, _) => "airlock=debug",
    };
    let filter = std::env::var(env_vars::AIRLOCK_LOG).unwrap_or_else(|_| default.to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(use_color())
        .without_time()
        .with_target(false)
        .try_init();
}

/// Prints `error: …`, each cause on its own `Caused by:` line, then any hint; control
/// characters in them (a message may quote registry or bundle text) are escaped.
pub(super) fn print_error(err: &anyhow::Error) {
    use crate::printable::printable_lines;
    let (error, hint) = if use_color() {
        ("\x1b[1;31merror\x1b[0m", "\x1b[1;36mhint\x1b[0m")
    } else {
        ("error", "hint")
    };
    eprintln!("{error}: {}", printable_lines(&err.to_string()));
    let mut previous = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        // Transparent wrappers repeat their source's message; print it once.
        if text != previous && !previous.ends_with(&text) {
            eprintln!("  Caused by: {}", printable_lines(&text));
        }
        previous = text;
    }
    let hints = hints_of(err);
    if !hints.is_empty() {
        eprintln!();
        for text in &hints {
            eprintln!("{hint}: {}", printable_lines(text));
        }
    }
}

/// The hints of the first error in `err`'s chain that is one of the crate's: its
/// [`Hint`] decision covers the errors it wraps.
pub(super) fn hints_of(err: &anyhow::Error) -> Vec<String> {
    err.chain().find_map(known_hints).unwrap_or_default()
}

/// Runs `$then` on `$cause` downcast to the first of `$ty` it is.
macro_rules! downcast_any {
    ($cause:expr, $then:expr, [$($ty:ty),* $(,)?]) => {
        $(if let Some(error) = $cause.downcast_ref::<$ty>() {
            return Some($then(error));
        })*
    };
}

/// The hints of `cause` when it is one of the crate's error types: every type that
/// implements [`Hint`] is listed here (a test checks the list against `src/`).
fn known_hints(cause: &(dyn std::error::Error + 'static)) -> Option<Vec<String>> {
    downcast_any!(
        cause,
        Hint::hints,
        [
            crate::digest::DigestError,
            crate::store::StoreError,
            crate::store::ExportError,
            crate::http::HttpError,
            crate::lock::LockError,
            crate::oci::OciError,
            crate::layer::LayerError,
            crate::layer::TreeError,
            crate::registry::AuthError,
            crate::registry::CredentialsError,
            crate::registry::ReferenceError,
            crate::registry::RegistryError,
            crate::project::ProjectError,
            crate::project::airflowignore::AirflowIgnoreError,
            crate::project::dockerfile::DockerfileError,
            crate::project::dockerignore::DockerIgnoreError,
            crate::project::init::InitError,
            crate::debian::ArchiveError,
            crate::debian::ControlError,
            crate::debian::DebError,
            crate::debian::InstallError,
            crate::debian::KeyringError,
            crate::debian::PackagesTxtError,
            crate::debian::RelationError,
            crate::debian::ReleaseError,
            crate::debian::ResolveError,
            crate::debian::SourcesError,
            crate::debian::UniverseError,
            crate::debian::VersionError,
            crate::python::DownloadError,
            crate::python::EnvironmentError,
            crate::python::FindLinksError,
            crate::python::IndexError,
            crate::python::IndexConfigError,
            crate::python::IndexUrlError,
            crate::python::MetadataError,
            crate::python::RequirementsError,
            crate::python::ResolveError,
            crate::python::SourceError,
            crate::python::SdistError,
            crate::python::SimpleApiError,
            crate::python::TagError,
            crate::python::WheelInstallError,
            crate::python::WheelNameError,
            crate::python::VenvError,
            crate::image::ImageError,
            crate::dags::DagsError,
            crate::dags::EnvFileError,
            crate::sandbox::CaptureError,
            crate::sandbox::RootfsError,
            crate::sandbox::SandboxError,
            crate::dags::Tier2Error,
            crate::sbom::SbomError,
            crate::verify::CheckoutError,
            crate::pipeline::BuildError,
            crate::pipeline::CopyError,
            crate::pipeline::DebianError,
            crate::pipeline::PythonError,
            crate::pipeline::SdistBuildError,
            crate::pipeline::RunStepError,
            crate::deploy::DeployError,
        ]
    );
    None
}

#[cfg(test)]
mod tests {
    use crate::hint::scan::{code_only, error_types, rust_files};

    /// The paths of the error types [`super::known_hints`] downcasts to.
    fn listed() -> Vec<String> {
        let code = code_only(include_str!("render.rs"));
        let start = code.find("fn known_hints").expect("known_hints");
        code[start..]
            .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
            .filter(|word| word.starts_with("crate::"))
            .map(str::to_string)
            .collect()
    }

    /// A hint is only shown when the renderer knows the type: every error type in
    /// `src/` is in the list, by a path in its own module.
    #[test]
    fn the_renderer_knows_every_error_type() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let listed = listed();
        let mut missing = Vec::new();
        for file in rust_files(&src) {
            let module = file
                .strip_prefix(&src)
                .ok()
                .and_then(|p| p.iter().next())
                .map(|m| m.to_string_lossy().trim_end_matches(".rs").to_string())
                .unwrap_or_default();
            let source = std::fs::read_to_string(&file).unwrap_or_default();
            for ty in error_types(&code_only(&source)) {
                let known = listed.iter().any(|path| {
                    path.starts_with(&format!("crate::{module}::"))
                        && path.ends_with(&format!("::{}", ty.name))
                });
                if !known {
                    missing.push(format!("{}: {}", file.display(), ty.name));
                }
            }
        }
        assert!(listed.len() > 40, "{listed:?}");
        assert!(
            missing.is_empty(),
            "not in `known_hints`:\n{}",
            missing.join("\n")
        );
    }

    /// The first error of the crate in the chain decides, through the contexts.
    #[test]
    fn hints_come_through_the_context_chain() {
        let error =
            anyhow::Error::from(crate::deploy::DeployError::NoRecord { name: "dev".into() })
                .context("Cannot read the record");
        assert_eq!(
            super::hints_of(&error),
            ["deploy first: `airlock deploy dev`"]
        );
        let wrapped = anyhow::Error::from(crate::pipeline::BuildError::Registry(
            crate::registry::RegistryError::Auth(crate::registry::AuthError::LoginRequired {
                registry: "127.0.0.1:5000".into(),
            }),
        ))
        .context("Cannot pull");
        assert!(super::hints_of(&wrapped)[0].contains("airlock login 127.0.0.1:5000"));
        assert!(super::hints_of(&anyhow::anyhow!("No hint here")).is_empty());
    }
}
