//! The project's environment file (`.env`) for the sandboxed tests, read the way
//! `docker run --env-file` reads one (which is how the Astro CLI hands it to its
//! tests): `NAME=value` per line with the value taken literally (quotes included),
//! a `NAME` alone takes the value from airlock's own environment when it has one,
//! blank lines and lines starting with `#` are skipped, leading whitespace is ignored.
//!
//! Values are secrets as far as airlock knows: no error or log shows one.

use std::path::{Path, PathBuf};

/// The file read when none is named.
pub(super) const DEFAULT_ENV_FILE: &str = ".env";

#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    #[error("Cannot read the environment file `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: the line is not UTF-8 text", path.display())]
    Utf8 { path: PathBuf, line: usize },
    #[error("{}:{line}: the variable name `{name}` contains whitespace", path.display())]
    Whitespace {
        path: PathBuf,
        line: usize,
        name: String,
    },
    #[error("{}:{line}: no variable name before `=`", path.display())]
    NoName { path: PathBuf, line: usize },
}

/// Parses an environment file's bytes (`path` is for messages). `lookup` answers
/// for lines that name a variable without a value.
pub(super) fn parse_env_file(
    bytes: &[u8],
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, EnvFileError> {
    let mut vars = Vec::new();
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for (index, raw) in lines.into_iter().enumerate() {
        let line_no = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = std::str::from_utf8(raw).map_err(|_| EnvFileError::Utf8 {
            path: path.to_path_buf(),
            line: line_no,
        })?;
        let line = text.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = match line.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (line, None),
        };
        let name = name.trim_start();
        if name.is_empty() {
            return Err(EnvFileError::NoName {
                path: path.to_path_buf(),
                line: line_no,
            });
        }
        if name.contains(char::is_whitespace) {
            return Err(EnvFileError::Whitespace {
                path: path.to_path_buf(),
                line: line_no,
                name: name.split_whitespace().next().unwrap_or("").to_string(),
            });
        }
        match value {
            Some(value) => vars.push((name.to_string(), value.to_string())),
            None => {
                if let Some(value) = lookup(name) {
                    vars.push((name.to_string(), value));
                }
            }
        }
    }
    Ok(vars)
}

/// The variables the project's tests run with: `explicit` (relative to the project
/// directory, as the Astro CLI takes it) when given, which must exist; else the
/// project's `.env` when there is one; else none.
pub(crate) fn project_env(
    project_dir: &Path,
    explicit: Option<&Path>,
) -> Result<Vec<(String, String)>, EnvFileError> {
    let path = match explicit {
        Some(file) => project_dir.join(file),
        None => {
            let default = project_dir.join(DEFAULT_ENV_FILE);
            if !default.is_file() {
                return Ok(Vec::new());
            }
            default
        }
    };
    let bytes = std::fs::read(&path).map_err(|source| EnvFileError::Read {
        path: path.clone(),
        source,
    })?;
    parse_env_file(&bytes, &path, &|name| std::env::var(name).ok())
}

impl crate::hint::Hint for EnvFileError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Utf8 { .. } | Self::Whitespace { .. } | Self::NoName { .. } => {
                vec!["write one `NAME=value` per line (`#` starts a comment line)".into()]
            }
            Self::Read { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<(String, String)>, EnvFileError> {
        let lookup = |name: &str| (name == "FROM_HOST").then(|| "host value".to_string());
        parse_env_file(text.as_bytes(), Path::new(".env"), &lookup)
    }

    #[test]
    fn astro_2_docker_env_file_rules() {
        let vars = parse(
            "\u{feff}# comment\n\nA=1\n  B= spaced \nC=\"quoted\"\r\nD=\nE=x=y\nFROM_HOST\nNOT_ON_HOST\n\t# indented comment\nLAST=no newline",
        )
        .expect("parses");
        let expected: Vec<(String, String)> = [
            ("A", "1"),
            ("B", " spaced "),
            ("C", "\"quoted\""),
            ("D", ""),
            ("E", "x=y"),
            ("FROM_HOST", "host value"),
            ("LAST", "no newline"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(vars, expected);
    }

    #[test]
    fn astro_2_bad_lines_name_the_line_never_the_value() {
        for (text, line) in [
            ("OK=1\nBAD NAME=s3cr3t\n", 2),
            ("=s3cr3t\n", 1),
            ("A=1\n\nB =s3cr3t\n", 3),
        ] {
            let err = parse(text).expect_err(text);
            let shown = format!("{err} {err:?}");
            assert!(shown.contains(&format!(".env:{line}:")), "{shown}");
            assert!(!shown.contains("s3cr3t"), "{shown}");
        }
        let err = parse_env_file(b"A=\xff\n", Path::new(".env"), &|_| None).expect_err("utf-8");
        assert!(err.to_string().contains(".env:1:"));
    }

    #[test]
    fn astro_2_default_file_is_optional_a_named_one_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(project_env(dir.path(), None).expect("none").is_empty());
        assert!(project_env(dir.path(), Some(Path::new("other.env"))).is_err());
        std::fs::write(dir.path().join(".env"), "X=1\n").expect("write");
        std::fs::write(dir.path().join("other.env"), "Y=2\n").expect("write");
        assert_eq!(
            project_env(dir.path(), None).expect(".env"),
            [("X".to_string(), "1".to_string())]
        );
        assert_eq!(
            project_env(dir.path(), Some(Path::new("other.env"))).expect("other"),
            [("Y".to_string(), "2".to_string())]
        );
    }
}
