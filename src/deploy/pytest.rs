//! `deploy --pytest`: the project's tests, run in the built image's sandbox (the same
//! runner as `airlock pytest`) before anything is pushed. `-t/--test` picks a test
//! file or directory of the project, `-e/--env` an env file for the tests.

use std::path::{Component, Path, PathBuf};

use super::DeployError;
use crate::dags::{prepare, run_pytest as pytest_in_sandbox};
use crate::pipeline::{BuildOptions, Reporter, build_for_sandbox};

/// `path` (`-t/--test`) as a relative path inside the project at `root`, checked to
/// exist there.
pub(super) fn test_target(root: &Path, path: &Path) -> Result<String, DeployError> {
    let relative = if path.is_absolute() {
        let root = root.canonicalize().ok();
        let canonical = path.canonicalize().ok();
        canonical
            .as_deref()
            .zip(root.as_deref())
            .and_then(|(p, root)| p.strip_prefix(root).ok())
            .map(Path::to_path_buf)
    } else if path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        Some(path.to_path_buf())
    } else {
        None
    };
    let missing = || DeployError::TestPath {
        path: path.to_path_buf(),
    };
    let relative: PathBuf = relative.ok_or_else(missing)?;
    if !root.join(&relative).exists() {
        return Err(missing());
    }
    let text = relative.to_string_lossy().into_owned();
    Ok(if text.is_empty() { ".".into() } else { text })
}

/// Runs the project's `tests/` (or `target`) in the image `build` describes, with
/// `env` (the project's env file) set on top of the image's; `Ok(false)` when they fail.
pub(super) fn run_pytest(
    build: &BuildOptions,
    target: Option<&str>,
    env: &[(String, String)],
    reporter: &dyn Reporter,
) -> Result<bool, DeployError> {
    let image =
        build_for_sandbox(build, reporter).map_err(|e| match DeployError::from_build(e) {
            DeployError::Build(error) => DeployError::PytestBuild(Box::new(error)),
            stale => stale,
        })?;
    let prepared = prepare(&image, &|message| reporter.step(message))
        .map_err(|e| DeployError::Pytest(Box::new(e)))?;
    let code = pytest_in_sandbox(&prepared, target, &[], env)
        .map_err(|e| DeployError::Pytest(Box::new(e)))?;
    Ok(code == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_targets_stay_in_the_project() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        std::fs::create_dir_all(root.join("tests/dags")).expect("mkdir");
        std::fs::write(root.join("tests/dags/test_x.py"), "").expect("write");
        assert_eq!(
            test_target(&root, Path::new("tests/dags/test_x.py")).expect("ok"),
            "tests/dags/test_x.py"
        );
        assert_eq!(
            test_target(&root, &root.join("tests")).expect("ok"),
            "tests"
        );
        for bad in ["tests/missing.py", "../outside", "/etc"] {
            assert!(
                matches!(
                    test_target(&root, Path::new(bad)),
                    Err(DeployError::TestPath { .. })
                ),
                "{bad}"
            );
        }
    }
}
