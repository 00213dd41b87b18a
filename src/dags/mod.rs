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

pub use check::{
    AIRLOCK_EXCEPTIONS_FILE, ASTRO_EXCEPTIONS_FILE, CheckInput, Exceptions, Report, SourceFile,
    check_project,
};
pub use diagnostic::{Diagnostic, DiagnosticKind, SourceMap};
pub use env_file::{DEFAULT_ENV_FILE, EnvFileError, parse_env_file, project_env};
pub use error::DagsError;
pub use imports::{Guard, Import, ImportedName, Imports, collect_imports};
pub use project_input::{
    CHECKED_DIRS, distributions_of, input_from_project, locked_distributions, project_check_input,
};
pub use resolve::{
    Distribution, ModuleUniverse, ProjectLayout, PythonVersion, top_level_from_record,
    top_level_from_top_level_txt,
};
pub use syntax::{ParsedSource, parse_source};
pub use tier2::{
    BuiltImage, IntegrityReport, Prepared, Tier2Error, prepare, run_integrity, run_pytest,
};
