//! Where a build goes: an OCI layout or a docker-archive, and writing it there.

use std::path::{Path, PathBuf};

use super::BuildError;
use crate::digest::Digest;
use crate::oci::{media_types, write_docker_archive, write_layout};
use crate::project::STATE_DIR;
use crate::store::Store;

/// `CACHEDIR.TAG` of the Cache Directory Tagging Specification: backup tools skip the
/// directory that holds it.
const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by airlock.\n\
# See the Cache Directory Tagging Specification.\n";

/// Makes the project's state directory `.airlock/` (where the default output goes) if
/// needed, with a `.gitignore` of `*` and a `CACHEDIR.TAG` in it when they are
/// missing, so `git add -A` and backups skip its hundreds of MB even in a project
/// whose own `.gitignore` does not name it.
pub fn ensure_state_dir(project: &Path) -> Result<PathBuf, BuildError> {
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
pub enum OutputSpec {
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
    pub fn default_for(project: &Path) -> Self {
        Self::Oci {
            dir: project.join(STATE_DIR).join("oci"),
            tag: "latest".into(),
        }
    }

    pub fn parse(text: &str) -> Result<Self, BuildError> {
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
    pub fn path(&self) -> &Path {
        match self {
            Self::Oci { dir, .. } => dir,
            Self::DockerArchive { file, .. } => file,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Oci { dir, tag } => format!("oci:{}:{tag}", dir.display()),
            Self::DockerArchive { file, reference } => match reference {
                Some(r) => format!("docker-archive:{}:{r}", file.display()),
                None => format!("docker-archive:{}", file.display()),
            },
        }
    }
}

/// Writes the image (its manifest, config and layers, each a digest and a file
/// holding it) to `output`. Builds writing one OCI layout take turns under a store
/// lock named after the layout's path: each reads, changes and writes back its
/// `index.json`, and the first creates the layout.
pub(super) fn write_output(
    store: &Store,
    output: &OutputSpec,
    config: &(Digest, PathBuf),
    layers: &[(Digest, PathBuf)],
    manifest: &[u8],
) -> Result<(), BuildError> {
    match output {
        OutputSpec::Oci { dir, tag } => {
            let _turn = store.lock(&layout_lock_name(dir))?;
            let mut all = layers.to_vec();
            all.push(config.clone());
            write_layout(dir, tag, &all, manifest, media_types::OCI_MANIFEST)?;
        }
        OutputSpec::DockerArchive { file, reference } => {
            write_docker_archive(file, reference.as_deref(), config, layers, manifest)?;
        }
    }
    Ok(())
}

/// The store lock of the layout at `dir`: named after its absolute path with the
/// symlinks of the part that exists resolved, so every spelling of one layout (and
/// the layout before and after it is created) takes the same lock.
fn layout_lock_name(dir: &Path) -> String {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut missing = Vec::new();
    let mut existing = absolute.as_path();
    let resolved = loop {
        if let Ok(real) = existing.canonicalize() {
            break missing
                .iter()
                .rev()
                .fold(real, |path: PathBuf, name| path.join(name));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                existing = parent;
            }
            _ => break absolute.clone(),
        }
    };
    let digest = Digest::of(resolved.as_os_str().as_encoded_bytes());
    format!("layout-{}", digest.hex())
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
    fn a_layout_takes_one_lock_before_and_after_it_exists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = dir.path().join("out/layout");
        let before = layout_lock_name(&layout);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).expect("symlink");
        assert_eq!(layout_lock_name(&link.join("out/layout")), before);
        std::fs::create_dir_all(&layout).expect("mkdir");
        assert_eq!(layout_lock_name(&layout), before);
        assert_eq!(layout_lock_name(&link.join("out/../out/layout")), before);
        assert_ne!(layout_lock_name(&dir.path().join("other")), before);
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
