//! `deploy --pytest`: the project's tests, run in the built image's sandbox (the same
//! runner as `airlock pytest`) before anything is pushed.

use super::DeployError;
use crate::build::{BuildOptions, Reporter};
use crate::dags::{prepare, run_pytest as pytest_in_sandbox};

/// Runs the project's `tests/` in the image `build` describes; `Ok(false)` when they fail.
pub fn run_pytest(build: &BuildOptions, reporter: &dyn Reporter) -> Result<bool, DeployError> {
    let prepared = prepare(build, reporter).map_err(|e| DeployError::Pytest(Box::new(e)))?;
    let code =
        pytest_in_sandbox(&prepared, None, &[]).map_err(|e| DeployError::Pytest(Box::new(e)))?;
    Ok(code == 0)
}
