//! Error rendering, logging setup and exit statuses.

use std::io::IsTerminal;

use crate::env_vars;

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

pub fn init_logging(verbose: u8, quiet: bool) {
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
pub fn print_error(err: &anyhow::Error) {
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
    let hint_text = err
        .downcast_ref::<crate::pipeline::BuildError>()
        .and_then(crate::pipeline::BuildError::hint)
        .or_else(|| {
            err.downcast_ref::<crate::registry::RegistryError>()
                .and_then(crate::registry::RegistryError::hint)
        })
        .or_else(|| {
            err.downcast_ref::<crate::dags::DagsError>()
                .and_then(crate::dags::DagsError::hint)
        })
        .or_else(|| {
            err.downcast_ref::<crate::dags::Tier2Error>()
                .and_then(crate::dags::Tier2Error::hint)
        })
        .or_else(|| {
            err.downcast_ref::<crate::deploy::DeployError>()
                .and_then(crate::deploy::DeployError::hint)
        });
    if let Some(text) = hint_text {
        eprintln!();
        eprintln!("{hint}: {}", printable_lines(&text));
    }
}
