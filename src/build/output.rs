//! Where a build goes: an OCI layout or a docker-archive.

use std::path::PathBuf;

use super::BuildError;

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
    pub fn default_for(project: &std::path::Path) -> Self {
        Self::Oci {
            dir: project.join(".airlock").join("oci"),
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
}
