//! `deploy --pytest`: the project's tests, run in the built image's sandbox (the same
//! runner as `airlock pytest`) before anything is pushed. `-t/--test` picks a test
//! file or directory of the project, `-e/--env` an env file for the tests.

use std::path::{Component, Path, PathBuf};

use super::DeployError;
use crate::build::{BuildOptions, Reporter};
use crate::dags::{Tier2Error, prepare, run_pytest as pytest_in_sandbox};

/// `KEY=VALUE` lines of an env file: blank lines and `#` comments skipped, an
/// optional `export ` prefix, values optionally in matching single or double quotes
/// (taken as they are, no escapes or `${VAR}` expansion).
pub fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, DeployError> {
    let text = std::fs::read_to_string(path).map_err(|source| DeployError::EnvFile {
        path: path.to_path_buf(),
        source,
    })?;
    let mut pairs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let bad = || DeployError::EnvLine {
            path: path.to_path_buf(),
            line: index + 1,
        };
        let (key, value) = line.split_once('=').ok_or_else(bad)?;
        let key = key.trim();
        let valid_key = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_key {
            return Err(bad());
        }
        let value = value.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q)?.strip_suffix(*q))
            .unwrap_or(value);
        pairs.push((key.to_string(), unquoted.to_string()));
    }
    Ok(pairs)
}

/// `path` (`-t/--test`) as a relative path inside the project at `root`, checked to
/// exist there.
pub fn test_target(root: &Path, path: &Path) -> Result<String, DeployError> {
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
/// `env` set on top of the image's; `Ok(false)` when they fail.
pub fn run_pytest(
    build: &BuildOptions,
    target: Option<&str>,
    env: &[(String, String)],
    reporter: &dyn Reporter,
) -> Result<bool, DeployError> {
    let mut prepared = prepare(build, reporter).map_err(|e| match e {
        Tier2Error::Build(error) => match DeployError::from_build(error) {
            DeployError::Build(error) => DeployError::Pytest(Box::new(Tier2Error::Build(error))),
            stale => stale,
        },
        other => DeployError::Pytest(Box::new(other)),
    })?;
    prepared.spec.env.extend(env.iter().cloned());
    let code =
        pytest_in_sandbox(&prepared, target, &[]).map_err(|e| DeployError::Pytest(Box::new(e)))?;
    Ok(code == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_are_key_value_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".env");
        std::fs::write(
            &path,
            "# comment\n\nA=1\nexport B = two words \nC=\"quoted # not a comment\"\nD='x'\nE=\n",
        )
        .expect("write");
        let pairs = read_env_file(&path).expect("parsed");
        let expected = [
            ("A", "1"),
            ("B", "two words"),
            ("C", "quoted # not a comment"),
            ("D", "x"),
            ("E", ""),
        ];
        assert_eq!(pairs, expected.map(|(k, v)| (k.to_string(), v.to_string())));
        std::fs::write(&path, "A=1\nnot a pair\n").expect("write");
        let err = read_env_file(&path).expect_err("bad line");
        assert!(err.to_string().contains("line 2"), "{err}");
        std::fs::write(&path, "1A=1\n").expect("write");
        assert!(read_env_file(&path).is_err());
        assert!(matches!(
            read_env_file(&dir.path().join("missing")),
            Err(DeployError::EnvFile { .. })
        ));
    }

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
