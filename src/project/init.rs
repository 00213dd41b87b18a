//! `airlock init`: the files of a new project in the Astro layout (the files `astro
//! dev init` makes, in the same places, in airlock's own words).

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

/// (path relative to the project, content) of every file `init` writes: the files of
/// an Astro project, in the same places (so the Astro tools and airlock both read it),
/// plus `airlock.toml` and a `.gitignore`.
pub fn skeleton(base_image: &str, name: &str) -> Vec<(&'static str, String)> {
    let template = |text: &str| text.replace("{name}", name);
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
            "dags/exampledag.py",
            include_str!("templates/exampledag.py").to_string(),
        ),
        (
            "dags/.airflowignore",
            include_str!("templates/airflowignore").to_string(),
        ),
        ("include/.gitkeep", String::new()),
        ("plugins/.gitkeep", String::new()),
        (
            "tests/dags/test_dag_example.py",
            include_str!("templates/test_dag_example.py").to_string(),
        ),
        (
            ".astro/config.yaml",
            template(include_str!("templates/astro_config.yaml")),
        ),
        (
            ".astro/test_dag_integrity_default.py",
            include_str!("templates/test_dag_integrity_default.py").to_string(),
        ),
        (
            ".astro/dag_integrity_exceptions.txt",
            include_str!("templates/dag_integrity_exceptions.txt").to_string(),
        ),
        (".env", include_str!("templates/env").to_string()),
        (
            "airflow_settings.yaml",
            include_str!("templates/airflow_settings.yaml").to_string(),
        ),
        ("README.md", template(include_str!("templates/README.md"))),
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

/// The project's name: its directory's name (of the absolute path for `.`).
fn project_name(dir: &Path) -> String {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .unwrap_or_else(|| "airflow-project".to_string())
}

/// Writes the skeleton into `dir`, refusing before writing anything if any file exists.
pub fn init_project(dir: &Path, base_image: &str) -> Result<Vec<PathBuf>, InitError> {
    let files = skeleton(base_image, &project_name(dir));
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

impl crate::hint::Hint for InitError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Exists { .. } | Self::Write { .. } => Vec::new(),
        }
    }
}
