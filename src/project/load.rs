//! Reads a project directory: Dockerfile, ignore files, `airlock.toml`, input files.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::Settings;
use super::airflowignore::AirflowIgnoreError;
use super::dockerfile::{self, Dockerfile, DockerfileError};
use super::dockerignore::{DockerIgnore, DockerIgnoreError};
use crate::digest::Digest;

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("No `Dockerfile` in `{dir}`; is this an Airflow project? (`airlock init` creates one)")]
    MissingDockerfile { dir: PathBuf },
    #[error("`{dir}` is not a directory")]
    NotADirectory { dir: PathBuf },
    #[error("{path}: {source}")]
    Dockerfile {
        path: PathBuf,
        #[source]
        source: DockerfileError,
    },
    #[error("{path}: {source}")]
    DockerIgnore {
        path: PathBuf,
        #[source]
        source: DockerIgnoreError,
    },
    #[error("{path}: {source}")]
    AirflowIgnore {
        path: PathBuf,
        #[source]
        source: AirflowIgnoreError,
    },
    #[error("Invalid `{path}`: {source}")]
    Settings {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("Cannot read `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("File name `{path}` is not valid UTF-8; rename it or add it to `.dockerignore`")]
    NonUtf8Name { path: PathBuf },
    #[error(
        "The symlink `{path}` points outside the project (`{target}`); replace it with the file itself or add it to `.dockerignore`"
    )]
    SymlinkEscapes { path: String, target: String },
    #[error(
        "The symlink `{path}` (`{target}`) is refused: {reason}; replace it with the file itself or add it to `.dockerignore`"
    )]
    SymlinkUnresolved {
        path: String,
        target: String,
        reason: &'static str,
    },
    #[error(
        "`{}` is a file, not a directory: the DAG folder must be a directory of DAG files", path.display()
    )]
    DagsNotADirectory { path: PathBuf },
    #[error(
        "`dags` is a symlink (to `{target}`): like Docker's COPY, airlock ships the link itself, so the image and the DAG bundle would hold no DAGs; make `dags` a real directory (move the DAG files into it), or deploy another folder with `airlock deploy --dags --dags-path DIR`"
    )]
    DagsSymlink { target: String },
    #[error(
        "`.dockerignore` excludes `dags`, so the image and the DAG bundle would hold no DAGs; remove that line (leave out single DAG files with `dags/.airflowignore` or `dags/<file>` lines)"
    )]
    DagsIgnored,
    #[error("`{path}` is not a regular file, directory or symlink; add it to `.dockerignore`")]
    SpecialFile { path: String },
}

/// A project directory, read.
#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub root: PathBuf,
    pub dockerfile: Dockerfile,
    pub settings: Settings,
    pub dockerignore: DockerIgnore,
    /// Raw texts of the inputs the lock is made from, by file name (missing files absent).
    pub inputs: BTreeMap<String, String>,
}

/// Files whose content decides the image besides the tree itself.
pub(super) const INPUT_FILES: [&str; 4] = [
    "Dockerfile",
    "airlock.toml",
    "packages.txt",
    "requirements.txt",
];

fn read_optional(path: &Path) -> Result<Option<String>, ProjectError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ProjectError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl Project {
    /// Reads the project at `root`. `build_args` override `[build] args` of
    /// `airlock.toml` and the Dockerfile's `ARG` defaults.
    pub(crate) fn load(
        root: &Path,
        build_args: &BTreeMap<String, String>,
    ) -> Result<Self, ProjectError> {
        if !root.is_dir() {
            return Err(ProjectError::NotADirectory {
                dir: root.to_path_buf(),
            });
        }
        let mut inputs = BTreeMap::new();
        for name in INPUT_FILES {
            if let Some(text) = read_optional(&root.join(name))? {
                inputs.insert(name.to_string(), text);
            }
        }
        let settings = match inputs.get("airlock.toml") {
            Some(text) => Settings::parse(text).map_err(|source| ProjectError::Settings {
                path: root.join("airlock.toml"),
                source,
            })?,
            None => Settings::default(),
        };
        let Some(dockerfile_text) = inputs.get("Dockerfile") else {
            return Err(ProjectError::MissingDockerfile {
                dir: root.to_path_buf(),
            });
        };
        let mut args = settings.build.args.clone();
        args.extend(build_args.iter().map(|(k, v)| (k.clone(), v.clone())));
        let dockerfile = dockerfile::parse(dockerfile_text, &args).map_err(|source| {
            ProjectError::Dockerfile {
                path: root.join("Dockerfile"),
                source,
            }
        })?;
        let ignore_path = root.join(".dockerignore");
        let dockerignore = match read_optional(&ignore_path)? {
            Some(text) => {
                DockerIgnore::parse(&text).map_err(|source| ProjectError::DockerIgnore {
                    path: ignore_path,
                    source,
                })?
            }
            None => DockerIgnore::parse("").map_err(|source| ProjectError::DockerIgnore {
                path: ignore_path,
                source,
            })?,
        };
        Ok(Self {
            root: root.to_path_buf(),
            dockerfile,
            settings,
            dockerignore,
            inputs,
        })
    }

    /// Build arguments in force: `airlock.toml` defaults overridden by the caller's.
    pub(crate) fn build_args(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let mut args = self.settings.build.args.clone();
        args.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        args
    }

    /// One digest over the input files (name and content of each present file).
    pub(crate) fn inputs_digest(&self) -> Digest {
        let mut text = Vec::new();
        for (name, content) in &self.inputs {
            text.extend_from_slice(name.as_bytes());
            text.push(0);
            text.extend_from_slice(Digest::of(content.as_bytes()).hex().as_bytes());
            text.push(0);
        }
        Digest::of(&text)
    }
}

impl crate::hint::Hint for ProjectError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Dockerfile { source, .. } => source.hints(),
            Self::DockerIgnore { source, .. } => source.hints(),
            Self::AirflowIgnore { source, .. } => source.hints(),
            Self::MissingDockerfile { .. }
            | Self::NotADirectory { .. }
            | Self::Settings { .. }
            | Self::Io { .. }
            | Self::NonUtf8Name { .. }
            | Self::SymlinkEscapes { .. }
            | Self::SymlinkUnresolved { .. }
            | Self::DagsNotADirectory { .. }
            | Self::DagsSymlink { .. }
            | Self::DagsIgnored
            | Self::SpecialFile { .. } => Vec::new(),
        }
    }
}
