//! The one error type of the DAG checks.
//!
//! Findings about the user's Python code are not errors: they are
//! [`Diagnostic`](super::Diagnostic)s in a [`Report`](super::Report). This type is for
//! inputs the checks cannot work with at all.

use std::path::PathBuf;

/// Why the DAG checks could not run.
#[derive(Debug, thiserror::Error)]
pub enum DagsError {
    /// A Python version string that is not `3.MINOR` or `3.MINOR.PATCH`.
    #[error("Invalid Python version `{0}`: expected `3.MINOR`, e.g. `3.12`")]
    InvalidPythonVersion(String),
    /// A Python version the shipped standard-library lists do not cover.
    #[error("Python `{0}` is not supported by the DAG checks: supported versions are 3.8 to 3.14")]
    UnsupportedPythonVersion(String),
    /// An exceptions file exists but could not be read.
    #[error("Failed to read `{}`", path.display())]
    ReadExceptions {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The base image has no `python3.N` interpreter to read the version from.
    #[error(
        "The base image has no Python interpreter (`usr/bin/python3.N` or `usr/local/bin/python3.N`); pass `--python-version`"
    )]
    NoPython,
    #[error(transparent)]
    Project(#[from] crate::project::ProjectError),
    #[error("Cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl crate::hint::Hint for DagsError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Project(error) => error.hints(),
            Self::InvalidPythonVersion(..)
            | Self::UnsupportedPythonVersion(..)
            | Self::ReadExceptions { .. }
            | Self::NoPython
            | Self::Read { .. } => Vec::new(),
        }
    }
}
