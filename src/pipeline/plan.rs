//! The plan stage: what the image will be made of, decided before any layer is made.
//! Every new layer as a step in image order (base · Debian · Python · project ·
//! DAGs), and the inputs of the config and manifest.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::BuildError;
use super::layers::{DebianStep, FilesStep, LayerStep, Part, ProjectFiles, PythonStep};
use super::load::Session;
use super::options::BuildOptions;
use super::pin::Pinned;
use crate::digest::Digest;
use crate::image::{Accounts, BaseImage, ConfigInputs, HistoryEntry, OnBuildStep, resolve_owner};
use crate::image::{BASE_DIGEST_ANNOTATION, BASE_NAME_ANNOTATION, BaseOrigin, ImageName};
use crate::layer::Owner;
use crate::project::dockerfile::InstructionKind;

/// What the image is made of.
pub(super) struct Plan<'a> {
    /// The session and lock the plan was made from (its store, base and lock).
    pub pinned: &'a Pinned,
    /// The layers on top of the base, in image order.
    pub layers: Vec<Box<dyn LayerStep + 'a>>,
    /// The config's inputs, without the new layers: their diff IDs and history lines
    /// are added as they are realised, before `instructions`.
    pub config: ConfigInputs,
    /// The history lines of the Dockerfile's own instructions (after the layers).
    pub instructions: Vec<HistoryEntry>,
    /// The manifest's annotations (the base's name and digest).
    pub annotations: BTreeMap<String, String>,
}

/// Plans the image `pinned` describes.
pub(super) fn plan<'a>(pinned: &'a Pinned, options: &BuildOptions) -> Result<Plan<'a>, BuildError> {
    let session = &pinned.session;
    let (project, base, facts) = (&session.project, &session.base, &session.facts);
    let mtime = options.source_date_epoch;
    let compression = options
        .compression
        .or(project.settings.build.compression)
        .unwrap_or_default();
    // Ownership and placement of project files, as the ONBUILD `COPY` would do it.
    let workdir = base.working_dir().unwrap_or_else(|| "/".to_string());
    let owner = project_owner(session)?;
    let chown = session
        .onbuild
        .project_chown
        .clone()
        .unwrap_or_else(|| format!("{}:{}", owner.uid, owner.gid));
    let files = Rc::new(ProjectFiles::new(
        project,
        facts,
        &workdir,
        owner,
        options.exclude_dags,
    ));
    let files_step = |part| FilesStep {
        files: files.clone(),
        part,
        chown: chown.clone(),
        mtime,
        compression,
    };
    // Layer order: base · Debian · Python · project · DAGs.
    let mut layers: Vec<Box<dyn LayerStep + 'a>> = vec![Box::new(DebianStep {
        lock: &pinned.lock,
        facts,
        fallback_urls: &project.settings.debian.fallback_urls,
        offline: session.remote.offline,
        mtime,
        compression,
        runtime: &session.runtime,
    })];
    // No Python plan when the project asks for no wheels.
    if let Some(python) = &pinned.python {
        layers.push(Box::new(PythonStep {
            lock: &pinned.lock,
            plan: python,
            facts,
            options: &pinned.python_options,
            mtime,
            compression,
            runtime: &session.runtime,
        }));
    }
    layers.push(Box::new(files_step(Part::Project)));
    if !options.exclude_dags {
        layers.push(Box::new(files_step(Part::Dags)));
    }
    Ok(Plan {
        layers,
        config: config_inputs(pinned, &workdir, options)?,
        instructions: project
            .dockerfile
            .instructions
            .iter()
            .map(|instruction| HistoryEntry {
                created_by: instruction_text(&instruction.kind),
                comment: None,
                empty_layer: true,
            })
            .collect(),
        annotations: annotations(base, &session.origin)?,
        pinned,
    })
}

/// The owner of the project files: the ONBUILD `COPY --chown`, else the base's user.
fn project_owner(session: &Session) -> Result<Owner, BuildError> {
    let accounts = Accounts::from_facts(&session.facts);
    let spec = session
        .onbuild
        .project_chown
        .as_deref()
        .map(str::to_string)
        .or_else(|| session.base.user());
    Ok(match spec {
        Some(spec) => resolve_owner(&spec, &accounts)?,
        None => Owner::ROOT,
    })
}

/// The config's environment, labels, user and workdir (the Dockerfile evaluated
/// over the base's), and its history so far: the ONBUILD triggers airlock carried out.
fn config_inputs(
    pinned: &Pinned,
    workdir: &str,
    options: &BuildOptions,
) -> Result<ConfigInputs, BuildError> {
    let Session {
        project,
        base,
        onbuild,
        ..
    } = &pinned.session;
    let args = project.build_args(&options.build_args);
    let evaluated = project
        .dockerfile
        .evaluate(&base.env(), workdir, &args)
        .map_err(|source| BuildError::Dockerfile {
            path: project.root.join("Dockerfile"),
            source,
        })?;
    let history = base
        .onbuild()
        .iter()
        .zip(&onbuild.steps)
        .filter(|(_, step)| !matches!(step, OnBuildStep::CopyProject { .. }))
        .map(|(trigger, _)| HistoryEntry {
            created_by: format!("ONBUILD {trigger} # carried out by airlock"),
            comment: None,
            empty_layer: true,
        })
        .collect();
    let mut labels = onbuild.labels.clone();
    labels.extend(evaluated.labels);
    labels.insert(
        "airlock.inputs.sha256".into(),
        project.inputs_digest().hex().to_string(),
    );
    labels.insert(
        "airlock.lock.sha256".into(),
        Digest::of(pinned.lock.to_text().as_bytes())
            .hex()
            .to_string(),
    );
    Ok(ConfigInputs {
        env: evaluated.env,
        labels,
        user: evaluated.user.or(onbuild.user.clone()),
        working_dir: evaluated.workdir,
        new_diff_ids: Vec::new(),
        history,
        created: options.source_date_epoch,
    })
}

/// The base's name (as a registry reference, or as the `FROM` text for a layout) and
/// its manifest digest.
fn annotations(
    base: &BaseImage,
    origin: &BaseOrigin,
) -> Result<BTreeMap<String, String>, BuildError> {
    let base_name = match origin {
        BaseOrigin::Registry(repository) => match base.reference.split_once('@') {
            Some(_) => format!("{repository}@{}", base.manifest_digest),
            None => format!(
                "{repository}:{}",
                ImageName::parse(&base.reference)?
                    .tag
                    .unwrap_or_else(|| "latest".into())
            ),
        },
        BaseOrigin::Layout => base.reference.clone(),
    };
    Ok(BTreeMap::from([
        (BASE_NAME_ANNOTATION.to_string(), base_name),
        (
            BASE_DIGEST_ANNOTATION.to_string(),
            base.manifest_digest.to_string(),
        ),
    ]))
}

/// A Dockerfile instruction as its history line.
fn instruction_text(kind: &InstructionKind) -> String {
    let pairs = |word: &str, pairs: &[(String, String)]| {
        let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{word} {}", body.join(" "))
    };
    match kind {
        InstructionKind::Arg(args) => {
            let body: Vec<String> = args
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={v}"),
                    None => k.clone(),
                })
                .collect();
            format!("ARG {}", body.join(" "))
        }
        InstructionKind::Env(p) => pairs("ENV", p),
        InstructionKind::Label(p) => pairs("LABEL", p),
        InstructionKind::User(u) => format!("USER {u}"),
        InstructionKind::Workdir(w) => format!("WORKDIR {w}"),
    }
}
