//! The seam for `deploy --pytest`: the project's tests, run before anything is
//! pushed. The sandboxed runner (`airlock pytest`) plugs in here.

use super::DeployError;
use crate::project::Project;

/// Runs the project's tests; `Ok(false)` when they fail.
pub fn run_pytest(_project: &Project) -> Result<bool, DeployError> {
    Err(DeployError::PytestUnavailable)
}
