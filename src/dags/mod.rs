//! Static DAG checks ("tier 1"): syntax and import resolution for a project's Python
//! files, without running Python.
//!
//! Owns parsing `.py` sources, collecting their imports, deciding whether each import
//! resolves in the image (standard library, installed distributions, project files)
//! and rendering the result. The checks themselves never walk directories; `project_input`
//! gathers their input from a walked project and the base's facts. Nothing here touches
//! the network or executes Python.

mod check;
mod diagnostic;
mod env_file;
mod error;
mod imports;
mod project_input;
mod resolve;
mod syntax;
#[cfg(test)]
mod tests;
mod tier2;

pub(crate) use check::{CheckInput, Exceptions, SourceFile, check_project};
pub(crate) use diagnostic::{Diagnostic, DiagnosticKind};
pub(crate) use env_file::{EnvFileError, project_env};
pub(crate) use error::DagsError;
pub(crate) use project_input::project_check_input;
pub(crate) use resolve::{
    Distribution, ModuleUniverse, ProjectLayout, PythonVersion, top_level_from_record,
    top_level_from_top_level_txt,
};
pub(crate) use tier2::{BuiltImage, Prepared, Tier2Error, prepare, run_integrity, run_pytest};
