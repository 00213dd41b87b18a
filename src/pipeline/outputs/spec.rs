//! How an output is named on the command line (`oci:DIR[:TAG]`,
//! `docker-archive:FILE[:REF]`), and the project's state directory the default
//! output goes to.

use std::path::{Path, PathBuf};

use crate::pipeline::BuildError;
use crate::project::STATE_DIR;

/// `CACHEDIR.TAG` of the Cache Directory Tagging Specification: backup tools skip the
/// directory that holds it.
const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by airlock.\n\
# See the Cache Directory Tagging Specification.\n";

/// Makes the project's state directory `.airlock/` (where the default output goes) if
/// needed, with a `.gitignore` of `*` and a `CACHEDIR.TAG` in it when they are
/// missing, so `git add -A` and backups skip its hundreds of MB even in a project
/// whose own `.gitignore` does not name it.
pub(crate) fn ensure_state_dir(project: &Path) -> Result<PathBuf, BuildError> {
    let dir = project.join(STATE_DIR);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::StateDir { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    for (name, text) in [(".gitignore", "*\n"), ("CACHEDIR.TAG", CACHEDIR_TAG)] {
        let path = dir.join(name);
        if std::fs::symlink_metadata(&path).is_err() {
            crate::atomic_file::write(&path, text.as_bytes()).map_err(io(&path))?;
        }
    }
    Ok(dir)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OutputSpec {
    Oci {
        dir: PathBuf,
        tag: String,
    },
    DockerArchive {
        file: PathBuf,
        reference: Option<String>,
    },
}

impl OutputSpec {
    /// The default output of a project: `.airlock/oci` inside it, tag `latest`.
    pub(crate) fn default_for(project: &Path) -> Self {
        Self::Oci {
            dir: project.join(STATE_DIR).join("oci"),
            tag: "latest".into(),
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, BuildError> {
        let bad = || BuildError::BadOutput(text.to_string());
        if let Some(rest) = text.strip_prefix("oci:") {
            let (dir, tag) = match rest.rsplit_once(':') {
                Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => (dir, tag.to_string()),
                _ => (rest, "latest".to_string()),
            };
            if dir.is_empty() || tag.is_empty() {
                return Err(bad());
            }
            return Ok(Self::Oci {
                dir: PathBuf::from(dir),
                tag,
            });
        }
        if let Some(rest) = text.strip_prefix("docker-archive:") {
            let (file, reference) = match rest.split_once(':') {
                Some((file, reference)) => (file, Some(reference.to_string())),
                None => (rest, None),
            };
            if file.is_empty() || reference.as_deref() == Some("") {
                return Err(bad());
            }
            return Ok(Self::DockerArchive {
                file: PathBuf::from(file),
                reference,
            });
        }
        Err(bad())
    }

    /// The file or directory this output writes.
    pub(crate) fn path(&self) -> &Path {
        match self {
            Self::Oci { dir, .. } => dir,
            Self::DockerArchive { file, .. } => file,
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Oci { dir, tag } => describe_oci(dir, tag),
            Self::DockerArchive { file, reference } => {
                describe_docker_archive(file, reference.as_deref())
            }
        }
    }

    /// Where the output must make the project's state directory first: the project
    /// root, when the output lies inside its `.airlock/`.
    pub(in crate::pipeline) fn state_dir_of(&self, project: &Path) -> Option<PathBuf> {
        self.path()
            .starts_with(project.join(STATE_DIR))
            .then(|| project.to_path_buf())
    }
}

/// `oci:DIR:TAG`.
pub(super) fn describe_oci(dir: &Path, tag: &str) -> String {
    format!("oci:{}:{tag}", dir.display())
}

/// `docker-archive:FILE[:REF]`.
pub(super) fn describe_docker_archive(file: &Path, reference: Option<&str>) -> String {
    match reference {
        Some(r) => format!("docker-archive:{}:{r}", file.display()),
        None => format!("docker-archive:{}", file.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds() {
        assert_eq!(
            OutputSpec::parse("oci:out").expect("ok"),
            OutputSpec::Oci {
                dir: "out".into(),
                tag: "latest".into()
            }
        );
        assert_eq!(
            OutputSpec::parse("oci:a/b:v1").expect("ok"),
            OutputSpec::Oci {
                dir: "a/b".into(),
                tag: "v1".into()
            }
        );
        assert_eq!(
            OutputSpec::parse("docker-archive:img.tar:team/app:1.0").expect("ok"),
            OutputSpec::DockerArchive {
                file: "img.tar".into(),
                reference: Some("team/app:1.0".into())
            }
        );
        assert!(OutputSpec::parse("tar:x").is_err());
        assert!(OutputSpec::parse("oci:").is_err());
    }

    #[test]
    fn the_state_dir_ignores_itself_and_keeps_what_is_there() {
        let project = tempfile::tempdir().expect("tempdir");
        let dir = ensure_state_dir(project.path()).expect("made");
        assert_eq!(dir, project.path().join(".airlock"));
        assert_eq!(
            std::fs::read_to_string(dir.join(".gitignore")).expect("read"),
            "*\n"
        );
        let tag = std::fs::read_to_string(dir.join("CACHEDIR.TAG")).expect("read");
        assert!(tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55\n"));
        std::fs::write(dir.join(".gitignore"), "oci/\n").expect("write");
        ensure_state_dir(project.path()).expect("again");
        assert_eq!(
            std::fs::read_to_string(dir.join(".gitignore")).expect("read"),
            "oci/\n",
            "a user's own file is left alone"
        );
    }
}
