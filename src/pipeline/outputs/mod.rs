//! Where a built image goes, one kind of output per file behind [`Output`]: an OCI
//! layout, a docker-archive, a registry. A build writes a list of them in turn.

mod docker_archive;
mod oci_layout;
mod registry;
mod spec;

pub use spec::{OutputSpec, ensure_state_dir};

use super::assemble::Image;
use super::load::Session;
use super::options::{BuildOptions, Reporter};
use super::{BuildError, PushSummary};
use docker_archive::DockerArchive;
use oci_layout::OciLayout;
use registry::RegistryPush;

/// A place the image is written to.
pub(super) trait Output {
    /// The output as the build result names it (`oci:DIR:TAG`, `docker-archive:FILE`,
    /// or the reference pushed to).
    fn describe(&self) -> String;

    /// Writes `image` (whose blobs are in the store) here.
    fn write(&self, image: &Image, reporter: &dyn Reporter) -> Result<Written, BuildError>;
}

/// What writing an output did.
pub(super) enum Written {
    /// Files on this machine.
    Local,
    Pushed(PushSummary),
}

/// The outputs of a build: the one `--output` names (else the project's default,
/// `.airlock/oci`), then the registry `--push` names.
pub(super) fn requested<'a>(
    options: &BuildOptions,
    session: &'a Session,
) -> Vec<Box<dyn Output + 'a>> {
    let spec = options
        .output
        .clone()
        .unwrap_or_else(|| OutputSpec::default_for(&session.project.root));
    let state_dir = spec.state_dir_of(&session.project.root);
    let local: Box<dyn Output + 'a> = match spec {
        OutputSpec::Oci { dir, tag } => Box::new(OciLayout {
            dir,
            tag,
            store: &session.store,
            state_dir,
        }),
        OutputSpec::DockerArchive { file, reference } => Box::new(DockerArchive {
            file,
            reference,
            state_dir,
        }),
    };
    let push = options.push.iter().map(|target| -> Box<dyn Output + 'a> {
        Box::new(RegistryPush {
            target: target.clone(),
            remote: &session.remote,
        })
    });
    std::iter::once(local).chain(push).collect()
}

/// Writes `image` to each output in turn. Returns the names of the local outputs
/// (the build result's `output`) and what the push did, if one was asked for.
pub(super) fn write_all(
    outputs: &[Box<dyn Output + '_>],
    image: &Image,
    reporter: &dyn Reporter,
) -> Result<(String, Option<PushSummary>), BuildError> {
    let mut local = Vec::new();
    let mut push = None;
    for output in outputs {
        match output.write(image, reporter)? {
            Written::Local => local.push(output.describe()),
            Written::Pushed(summary) => push = Some(summary),
        }
    }
    Ok((local.join(", "), push))
}
