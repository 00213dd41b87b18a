//! Where a built image goes, one kind of output per file behind [`Output`]: an OCI
//! layout, a docker-archive, a registry. A build writes a list of them in turn.

mod docker_archive;
mod oci_layout;
mod registry;
mod spec;

pub(crate) use spec::{OutputSpec, ensure_state_dir};

use std::path::Path;

use super::assemble::Image;
use super::options::{BuildOptions, Reporter};
use super::{BuildError, PushSummary};
use crate::digest::Digest;
use crate::registry::{RemoteOptions, Repository};
use docker_archive::DockerArchive;
use oci_layout::OciLayout;
use registry::RegistryPush;
use std::collections::HashMap;

use crate::store::Store;

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
/// `.airlock/oci`), then the registry `--push` names (pushed on `runtime`).
pub(super) fn requested<'a>(
    options: &BuildOptions,
    project: &Path,
    store: &'a Store,
    remote: &'a RemoteOptions,
    runtime: &'a tokio::runtime::Handle,
    blob_mounts: &'a HashMap<Digest, Repository>,
) -> Vec<Box<dyn Output + 'a>> {
    let spec = options
        .output
        .clone()
        .unwrap_or_else(|| OutputSpec::default_for(project));
    let state_dir = spec.state_dir_of(project);
    let local: Box<dyn Output + 'a> = match spec {
        OutputSpec::Oci { dir, tag } => Box::new(OciLayout {
            dir,
            tag,
            store,
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
            remote,
            runtime,
            blob_mounts,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn options(
        output: Option<&str>,
        push: Option<&str>,
        runtime: &tokio::runtime::Runtime,
    ) -> BuildOptions {
        BuildOptions {
            output: output.map(|o| OutputSpec::parse(o).expect("spec")),
            push: push.map(str::to_string),
            ..BuildOptions::new(
                "p".into(),
                "s".into(),
                RemoteOptions::default(),
                runtime.handle().clone(),
                0,
            )
        }
    }

    #[test]
    fn outputs_are_the_local_one_then_the_push() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("store")).expect("store");
        let remote = RemoteOptions::default();
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let handle = runtime.handle();
        let project = dir.path().join("project");
        let names = |options: &BuildOptions| -> Vec<String> {
            requested(options, &project, &store, &remote, handle, &HashMap::new())
                .iter()
                .map(|o| o.describe())
                .collect()
        };
        let default = format!("oci:{}:latest", project.join(".airlock/oci").display());
        assert_eq!(
            names(&options(None, None, &runtime)),
            std::slice::from_ref(&default)
        );
        assert_eq!(
            names(&options(None, Some("127.0.0.1:5000/app:1"), &runtime)),
            [default, "127.0.0.1:5000/app:1".to_string()]
        );
        assert_eq!(
            names(&options(
                Some("docker-archive:out.tar:app:1"),
                None,
                &runtime
            )),
            ["docker-archive:out.tar:app:1"]
        );
    }

    #[test]
    fn only_an_output_inside_the_project_state_dir_makes_it() {
        let project = Path::new("/work/p");
        assert_eq!(
            OutputSpec::default_for(project).state_dir_of(project),
            Some(project.to_path_buf())
        );
        let elsewhere = OutputSpec::parse("oci:/work/out").expect("spec");
        assert_eq!(elsewhere.state_dir_of(project), None);
    }
}
