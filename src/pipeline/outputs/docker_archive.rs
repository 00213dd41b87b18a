//! The docker-archive output (`docker-archive:FILE[:REF]`): one tar `docker load`
//! reads.

use std::path::PathBuf;

use super::spec::{describe_docker_archive, ensure_state_dir};
use super::{Output, Written};
use crate::oci::write_docker_archive;
use crate::pipeline::BuildError;
use crate::pipeline::assemble::Image;
use crate::pipeline::options::Reporter;

/// A docker-archive file, the image named `reference` in it when given.
pub(in crate::pipeline) struct DockerArchive {
    pub file: PathBuf,
    pub reference: Option<String>,
    /// The project whose `.airlock/` must be made first (see `ensure_state_dir`).
    pub state_dir: Option<PathBuf>,
}

impl Output for DockerArchive {
    fn describe(&self) -> String {
        describe_docker_archive(&self.file, self.reference.as_deref())
    }

    fn write(&self, image: &Image, reporter: &dyn Reporter) -> Result<Written, BuildError> {
        reporter.step("writing the output");
        if let Some(project) = &self.state_dir {
            ensure_state_dir(project)?;
        }
        write_docker_archive(
            &self.file,
            self.reference.as_deref(),
            &image.config_blob(),
            &image.layer_blobs(),
            &image.manifest,
        )?;
        Ok(Written::Local)
    }
}
