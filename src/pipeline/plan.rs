//! The plan stage: what the image will be made of, decided before any layer is made.
//! Every new layer as a step in image order (base · Debian · Python · project ·
//! DAGs), and the inputs of the config and manifest.

use std::cell::{OnceCell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use super::BuildError;
use super::CopyError;
use super::layers::{
    AddUrlStep, CopyStep, DebianStep, DirsBelow, FilesStep, LayerStep, Part, ProjectFiles,
    PythonStep, RunStep, Sources, StageFiles, WorkdirStep, check_remote, is_url,
};
use super::load::Session;
use super::options::BuildOptions;
use super::pin::Pinned;
use crate::digest::Digest;
use crate::http::{HttpClient, HttpSettings};
use crate::image::{
    Accounts, BaseFacts, BaseImage, ConfigInputs, HistoryEntry, OnBuildStep, load_image,
    read_facts, resolve_owner, string_list,
};
use crate::image::{BASE_DIGEST_ANNOTATION, BASE_NAME_ANNOTATION, BaseOrigin, ImageName};
use crate::layer::{Compression, Owner};
use crate::project::dockerfile::{
    BaseValues, CopyFrom, CopySpec, Evaluated, FsStep, FsStepKind, RunSpec,
};

/// What the image is made of.
pub(super) struct Plan<'a> {
    /// The session and lock the plan was made from (its store, base and lock).
    pub pinned: &'a Pinned,
    /// The layers on top of the base, in image order.
    pub layers: Vec<Box<dyn LayerStep + 'a>>,
    /// The config's inputs, without the new layers: their diff IDs and history lines
    /// are added as they are realised, before `instructions`.
    pub config: ConfigInputs,
    /// The plan indices of the Dockerfile's filesystem steps (a step that makes no
    /// layer still has its history line).
    pub dockerfile_steps: std::ops::Range<usize>,
    /// The history lines of the Dockerfile's instructions that make no layer, each
    /// with the index of the planned layer it goes before (`usize::MAX`: after all).
    pub instructions: Vec<(usize, HistoryEntry)>,
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
        prefetch: &session.prefetch,
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
            prefetch: &session.prefetch,
        }));
    }
    layers.push(Box::new(files_step(Part::Project)));
    let evaluated = evaluate(&pinned.session, &workdir, options)?;
    // The Dockerfile's own filesystem steps, in order; each config instruction's
    // history line goes before the layers of the steps after it (the lines after the
    // last step go after every layer).
    let first_step = layers.len();
    let last_step = evaluated.history.iter().rposition(|h| h.step.is_some());
    let facts_rc = Rc::new(facts.clone());
    let context = StepContext {
        pinned,
        mtime,
        compression,
        args: project.build_args(&options.build_args),
        dirs: Rc::new(DirsBelow {
            facts: facts_rc.clone(),
            files: Some(files.clone()),
            added: RefCell::default(),
        }),
        files: files.clone(),
        facts: facts_rc,
        base_layout: options.base_layout.clone(),
        stages: Rc::default(),
        steps: evaluated.steps.clone(),
        seeds: super::idioms::Seeds::new(session),
    };
    let mut instructions = Vec::new();
    for (index, line) in evaluated.history.iter().enumerate() {
        match line.step.and_then(|step| evaluated.steps.get(step)) {
            Some(step) => layers.push(fs_step_layer(step, &context)?),
            None => {
                let position = match last_step {
                    Some(last) if index < last => layers.len(),
                    _ => usize::MAX,
                };
                let entry = HistoryEntry {
                    created_by: line.created_by.clone(),
                    comment: None,
                    empty_layer: true,
                };
                instructions.push((position, entry));
            }
        }
    }
    let dockerfile_steps = first_step..layers.len();
    if !options.exclude_dags {
        layers.push(Box::new(files_step(Part::Dags)));
    }
    Ok(Plan {
        layers,
        dockerfile_steps,
        config: config_inputs(pinned, evaluated, options)?,
        instructions,
        annotations: annotations(base, &session.origin)?,
        pinned,
    })
}

/// What a Dockerfile filesystem step needs from the plan.
pub(super) struct StepContext<'a> {
    pub pinned: &'a Pinned,
    pub mtime: u64,
    /// How the steps' layers are compressed (`--compression`, `[build] compression`).
    pub compression: Compression,
    /// The build args (`airlock.toml` and `--build-arg`).
    #[allow(
        dead_code,
        reason = "read by the RUN steps, which plug in at `run_step`"
    )]
    pub args: BTreeMap<String, String>,
    /// The directories below each step, as far as the plan knows them.
    pub dirs: Rc<DirsBelow<'a>>,
    /// The project's files: the build context.
    pub files: Rc<ProjectFiles<'a>>,
    /// The facts of the stage's base (its accounts resolve `--chown` and `USER`).
    pub facts: Rc<BaseFacts>,
    /// `--base-layout`, for the images of earlier stages too.
    pub base_layout: Option<PathBuf>,
    /// The stages and images `COPY --from` reads, each loaded once.
    pub stages: Rc<RefCell<BTreeMap<String, Rc<StageFiles<'a>>>>>,
    /// The Dockerfile's filesystem steps (a native idiom looks at those before it).
    pub steps: Vec<FsStep>,
    /// The base's `ensurepip` wheels, read once when a virtual environment needs them.
    pub seeds: super::idioms::Seeds<'a>,
}

impl<'a> StepContext<'a> {
    /// The files of `from`: an earlier stage (its base loaded like the `FROM` image,
    /// its own steps planned with this same mapping) or an image. The seam for `RUN`
    /// in an earlier stage is the same [`run_step`].
    fn stage_files(&self, from: &CopyFrom, line: usize) -> Result<Rc<StageFiles<'a>>, BuildError> {
        let name = match from {
            CopyFrom::Stage(index) => format!("stage {index}"),
            CopyFrom::Image(reference) => format!("image {reference}"),
        };
        if let Some(found) = self.stages.borrow().get(&name) {
            return Ok(found.clone());
        }
        let session = &self.pinned.session;
        let project = &session.project;
        let stage = match from {
            CopyFrom::Stage(index) => project.dockerfile.stages.get(*index),
            CopyFrom::Image(_) => None,
        };
        let text = match (from, stage) {
            (CopyFrom::Image(reference), _) => reference.clone(),
            (_, Some(stage)) => stage.from.image.clone(),
            (CopyFrom::Stage(_), None) => {
                return Err(BuildError::StepNotYet {
                    line,
                    instruction: name,
                });
            }
        };
        // By the digest the lock pins (`[[images]]`, or `[base]` for the same name).
        let (base, _) = load_image(
            &session.store,
            project,
            self.base_layout.as_deref(),
            &session.remote,
            &session.runtime,
            &text,
            self.pinned.lock.pinned_image(&text).as_ref(),
        )?;
        if stage.is_some() && !base.onbuild().is_empty() {
            return Err(CopyError::Invalid {
                line,
                instruction: "COPY".into(),
                message: format!("copies from a stage whose base `{text}` has ONBUILD triggers; airlock carries out ONBUILD triggers for the last stage only"),
            }
            .into());
        }
        let facts = Rc::new(read_facts(&session.store, &base)?);
        let mut steps = Vec::new();
        if let CopyFrom::Stage(index) = from {
            let values = BaseValues {
                env: base.env(),
                workdir: base.working_dir().unwrap_or_else(|| "/".into()),
                user: base.user(),
                shell: Some(string_list(base.config.pointer("/config/Shell")))
                    .filter(|s| !s.is_empty()),
            };
            let evaluated = project
                .dockerfile
                .evaluate_stage(*index, &values, &self.args)
                .map_err(|source| BuildError::Dockerfile {
                    path: project.root.join("Dockerfile"),
                    source,
                })?;
            let context = StepContext {
                pinned: self.pinned,
                mtime: self.mtime,
                compression: self.compression,
                args: self.args.clone(),
                dirs: Rc::new(DirsBelow {
                    facts: facts.clone(),
                    files: None,
                    added: RefCell::default(),
                }),
                files: self.files.clone(),
                facts,
                base_layout: self.base_layout.clone(),
                stages: self.stages.clone(),
                // An earlier stage's `RUN`s are never native: they go to the sandbox.
                steps: Vec::new(),
                seeds: super::idioms::Seeds::new(&self.pinned.session),
            };
            for step in &evaluated.steps {
                steps.push(fs_step_layer(step, &context)?);
            }
        }
        let files = Rc::new(StageFiles {
            line,
            store: &session.store,
            base,
            steps,
            root: OnceCell::new(),
        });
        self.stages.borrow_mut().insert(name, files.clone());
        Ok(files)
    }
}

/// One Dockerfile filesystem step as the layer it makes: the one place each kind of
/// step is mapped to its kind of layer.
fn fs_step_layer<'a>(
    step: &FsStep,
    context: &StepContext<'a>,
) -> Result<Box<dyn LayerStep + 'a>, BuildError> {
    let accounts = Accounts::from_facts(&context.facts);
    match &step.kind {
        FsStepKind::Run(spec) => run_step(step, spec, context),
        FsStepKind::Copy(spec) => {
            check_remote(spec, step.line)?;
            let sources = match &spec.from {
                None => Sources::Context(context.files.clone()),
                Some(from) => Sources::Stage(context.stage_files(from, step.line)?),
            };
            let owner = match &spec.chown {
                Some(chown) => resolve_owner(chown, &accounts)?,
                None => Owner::ROOT,
            };
            if let (Some(url), Some(checksum)) = (spec.sources.first(), &spec.checksum)
                && spec.add
                && is_url(url)
            {
                return add_url_step(step, spec, url, checksum, owner, context);
            }
            Ok(Box::new(CopyStep {
                line: step.line,
                created_by: step.created_by.clone(),
                spec: spec.clone(),
                sources,
                owner,
                dirs: context.dirs.clone(),
                mtime: context.mtime,
                compression: context.compression,
                tree: OnceCell::new(),
            }))
        }
        FsStepKind::Workdir(dir) => Ok(Box::new(WorkdirStep {
            created_by: step.created_by.clone(),
            dir: dir.clone(),
            owner: match &step.state.user {
                Some(user) => resolve_owner(user, &accounts)?,
                None => Owner::ROOT,
            },
            dirs: context.dirs.clone(),
            mtime: context.mtime,
            compression: context.compression,
            tree: OnceCell::new(),
        })),
    }
}

/// `ADD --checksum=sha256:… <URL>`: downloaded (unless the store has it) and verified.
fn add_url_step<'a>(
    step: &FsStep,
    spec: &CopySpec,
    url: &str,
    checksum: &str,
    owner: Owner,
    context: &StepContext<'a>,
) -> Result<Box<dyn LayerStep + 'a>, BuildError> {
    let session = &context.pinned.session;
    let sha256 = checksum.parse::<Digest>().map_err(|_| CopyError::Invalid {
        line: step.line,
        instruction: "ADD".into(),
        message: format!("has `--checksum={checksum}`, not a sha256 digest"),
    })?;
    let http = HttpClient::new(&HttpSettings {
        ca_files: context.pinned.python_options.ca_files.clone(),
        ..HttpSettings::default()
    })?;
    Ok(Box::new(AddUrlStep {
        line: step.line,
        created_by: step.created_by.clone(),
        url: url.to_string(),
        sha256,
        dest: spec.dest.clone(),
        owner,
        chmod: spec.chmod,
        dirs: context.dirs.clone(),
        store: &session.store,
        http: Rc::new(http),
        offline: session.remote.offline,
        runtime: &session.runtime,
        mtime: context.mtime,
        compression: context.compression,
        pinned: context.pinned,
        tree: OnceCell::new(),
    }))
}

/// A `RUN` step: a native idiom when airlock recognises one, else the sandbox.
fn run_step<'a>(
    step: &FsStep,
    spec: &RunSpec,
    context: &StepContext<'a>,
) -> Result<Box<dyn LayerStep + 'a>, BuildError> {
    // A native idiom (pip, venv + pip, apt-get install), pinned in the pin stage.
    if let Some(index) = context.steps.iter().position(|s| s.line == step.line)
        && let Some(layer) = super::idioms::native_layer(
            context.pinned,
            &context.steps,
            index,
            &context.seeds,
            (context.mtime, context.compression),
        )?
    {
        return Ok(layer);
    }
    // Not a native idiom: the sandbox, its layer pinned in the lock.
    Ok(Box::new(RunStep::new(
        step,
        spec,
        context.pinned,
        (context.mtime, context.compression),
    )))
}

/// The Dockerfile evaluated over the base's config values (its `USER` the ONBUILD
/// triggers' when they set one).
pub(super) fn evaluate(
    session: &Session,
    workdir: &str,
    options: &BuildOptions,
) -> Result<Evaluated, BuildError> {
    let Session {
        project,
        base,
        onbuild,
        ..
    } = session;
    let values = BaseValues {
        env: base.env(),
        workdir: workdir.to_string(),
        user: onbuild.user.clone().or_else(|| base.user()),
        shell: Some(string_list(base.config.pointer("/config/Shell"))).filter(|s| !s.is_empty()),
    };
    project
        .dockerfile
        .evaluate(&values, &project.build_args(&options.build_args))
        .map_err(|source| BuildError::Dockerfile {
            path: project.root.join("Dockerfile"),
            source,
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
    evaluated: Evaluated,
    options: &BuildOptions,
) -> Result<ConfigInputs, BuildError> {
    let Session {
        project,
        base,
        onbuild,
        ..
    } = &pinned.session;
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
        changes: evaluated.changes,
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
