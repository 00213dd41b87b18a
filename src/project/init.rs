//! `airlock init`: the files of a new project in the Astro layout.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("`{path}` already exists; airlock init never overwrites files")]
    Exists { path: PathBuf },
    #[error("Cannot write `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// (path relative to the project, content) of every file `init` writes.
pub fn skeleton(base_image: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "Dockerfile",
            include_str!("templates/Dockerfile.tmpl").replace("{base}", base_image),
        ),
        (
            "requirements.txt",
            include_str!("templates/requirements.txt").to_string(),
        ),
        (
            "packages.txt",
            include_str!("templates/packages.txt").to_string(),
        ),
        (
            "dags/example_dag.py",
            include_str!("templates/example_dag.py").to_string(),
        ),
        (
            "dags/.airflowignore",
            include_str!("templates/airflowignore").to_string(),
        ),
        ("include/.gitkeep", String::new()),
        ("plugins/.gitkeep", String::new()),
        (
            "tests/dags/test_dag_integrity.py",
            include_str!("templates/test_dag_integrity.py").to_string(),
        ),
        (
            ".dockerignore",
            include_str!("templates/dockerignore").to_string(),
        ),
        (
            ".gitignore",
            include_str!("templates/gitignore").to_string(),
        ),
        (
            "airlock.toml",
            include_str!("templates/airlock.toml").to_string(),
        ),
    ]
}

/// Writes the skeleton into `dir`, refusing before writing anything if any file exists.
pub fn init_project(dir: &Path, base_image: &str) -> Result<Vec<PathBuf>, InitError> {
    let files = skeleton(base_image);
    for (rel, _) in &files {
        let path = dir.join(rel);
        if path.exists() {
            return Err(InitError::Exists { path });
        }
    }
    let mut written = Vec::new();
    for (rel, content) in files {
        let path = dir.join(rel);
        let err = |source| InitError::Write {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        std::fs::write(&path, content).map_err(err)?;
        written.push(path);
    }
    Ok(written)
}
