//! `deploy --pytest`: the project's tests, run in the built image's sandbox (the same
//! runner as `airlock pytest`) before anything is pushed.

use super::DeployError;
use crate::build::{BuildOptions, Reporter};
use crate::dags::{Tier2Error, prepare, project_env, run_pytest as pytest_in_sandbox};

/// Runs the project's `tests/` in the image `build` describes, with the project's
/// `.env` when it has one; `Ok(false)` when they fail.
pub fn run_pytest(build: &BuildOptions, reporter: &dyn Reporter) -> Result<bool, DeployError> {
    let fail = |e: Tier2Error| DeployError::Pytest(Box::new(e));
    let env = project_env(&build.project_dir, None).map_err(|e| fail(e.into()))?;
    let prepared = prepare(build, reporter).map_err(fail)?;
    let code = pytest_in_sandbox(&prepared, None, &[], &env).map_err(fail)?;
    Ok(code == 0)
}
