//! One build, start to finish.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::layers::Placement;
use super::output::write_output;
use super::push::{BASE_DIGEST_ANNOTATION, BASE_NAME_ANNOTATION, LocalImage, push_image};
use super::python_layer::python_layer;
use super::python_stage::PythonOptions;
use super::remote::{BaseOrigin, RemoteOptions};
use super::session::Session;
use super::{BuildError, ImageName, OutputSpec, PushSummary};
use crate::digest::Digest;
use crate::image::{
    Accounts, ConfigInputs, HistoryEntry, assemble_config, build_manifest, resolve_owner,
};
use crate::layer::{Owner, build_layer};
use crate::oci::{Descriptor, DescriptorExt as _, descriptor, media_types};
use crate::project::dockerfile::InstructionKind;
use crate::project::walk;
use crate::registry::BlobSource;

/// How the build treats `airlock.lock` (Cargo's conventions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LockMode {
    /// Update the lock when inputs changed.
    #[default]
    Update,
    /// Fail when the lock is missing or stale (`--locked`, and `--frozen`).
    Locked,
}

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub project_dir: PathBuf,
    pub store_dir: PathBuf,
    /// `--base-layout`: a local OCI layout for the `FROM` image, overriding `airlock.toml`.
    pub base_layout: Option<PathBuf>,
    pub build_args: BTreeMap<String, String>,
    pub exclude_dags: bool,
    /// `None` means the project's default output.
    pub output: Option<OutputSpec>,
    /// Unix seconds for every timestamp (`SOURCE_DATE_EPOCH`, or 0).
    pub source_date_epoch: u64,
    pub lock_mode: LockMode,
    /// Registry settings (from flags; `airlock.toml` is merged in by the build).
    pub remote: RemoteOptions,
    /// Re-resolve a registry base's tag instead of taking the locked digest.
    pub upgrade_base: bool,
    /// `--push REF`: push the image after writing the output.
    pub push: Option<String>,
    /// Resolution settings for `requirements.txt`.
    pub python: PythonOptions,
}

impl BuildOptions {
    /// A plain build of `project_dir`: its default output, the lock updated when
    /// stale, timestamps at `source_date_epoch`, no push. Callers change what differs
    /// with struct update syntax.
    pub fn new(
        project_dir: PathBuf,
        store_dir: PathBuf,
        remote: RemoteOptions,
        source_date_epoch: u64,
    ) -> Self {
        Self {
            project_dir,
            store_dir,
            base_layout: None,
            build_args: BTreeMap::new(),
            exclude_dags: false,
            output: None,
            source_date_epoch,
            lock_mode: LockMode::Update,
            remote,
            upgrade_base: false,
            push: None,
            python: PythonOptions::default(),
        }
    }
}

/// Progress notes for long work; the CLI draws them, tests ignore them.
pub trait Reporter {
    fn step(&self, message: &str);

    /// Something the user should know that does not stop the run, with what to do
    /// about it. Logged by default; the CLI shows it as a warning.
    fn warn(&self, message: &str, hint: Option<&str>) {
        match hint {
            Some(hint) => tracing::warn!("{message} (hint: {hint})"),
            None => tracing::warn!("{message}"),
        }
    }
}

impl Reporter for () {
    fn step(&self, _message: &str) {}
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerSummary {
    /// `base`, `python`, `project` or `dags`.
    pub kind: String,
    pub digest: Digest,
    pub diff_id: Option<Digest>,
    pub size: u64,
    /// True when the store already had this layer and nothing was rebuilt.
    pub reused: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BuildResult {
    pub manifest_digest: Digest,
    pub config_digest: Digest,
    pub base: String,
    pub base_manifest_digest: Digest,
    pub layers: Vec<LayerSummary>,
    pub output: String,
    pub lock_updated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push: Option<PushSummary>,
    /// Debian maintainer scripts that did work airlock did not do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_scripts: Vec<super::SkippedScript>,
}

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

/// Builds the project and writes the output.
pub fn build(options: &BuildOptions, reporter: &dyn Reporter) -> Result<BuildResult, BuildError> {
    let (session, mut wanted) = Session::open(options, reporter)?;
    let accounts = Accounts::from_facts(&session.facts);
    let offline = session.remote.offline;
    super::debian::fill_lock(
        &mut wanted,
        session.on_disk.as_ref(),
        options.lock_mode == LockMode::Update,
        &session.store,
        &session.project,
        &session.facts,
        offline,
    )?;
    // Python: the lock's `[python]` and `[[wheels]]` (kept or re-resolved), then the
    // layer, before the lock is written: a failed download leaves the lock untouched.
    let python_options = session.python_options(options);
    let python = session.lock_python(options.lock_mode, &python_options, reporter, &mut wanted)?;
    session.check_locked(options.lock_mode, &wanted)?;
    let Session {
        project,
        store,
        lock_path,
        on_disk,
        remote,
        base,
        origin,
        facts,
        onbuild,
    } = session;
    // The Debian layer is made before the lock is written: a `.deb` that fails its
    // hash leaves neither a lock nor a layer behind.
    if !wanted.debs.is_empty() {
        reporter.step("installing Debian packages");
    }
    let debian_layer = super::debian::debian_layer(
        &store,
        &wanted,
        &facts,
        &project.settings.debian.fallback_urls,
        offline,
        options.source_date_epoch,
    )?;
    let python_layer = match &python {
        Some(plan) => python_layer(
            &wanted,
            plan,
            &facts,
            &store,
            options.source_date_epoch,
            &python_options,
            reporter,
        )?,
        None => None,
    };
    let lock_text = wanted.to_text();
    // Written before the project is read: the lock is an input of the build (and a
    // file of the project layer), like Cargo.lock.
    let lock_updated = options.lock_mode == LockMode::Update
        && on_disk.as_ref() != Some(&wanted)
        && wanted.write(&lock_path)?;

    // Ownership and placement of project files, as the ONBUILD `COPY` would do it.
    let workdir = base.working_dir().unwrap_or_else(|| "/".to_string());
    let owner = match onbuild
        .project_chown
        .as_deref()
        .map(str::to_string)
        .or_else(|| base.user())
    {
        Some(spec) => resolve_owner(&spec, &accounts)?,
        None => Owner::ROOT,
    };
    let args = project.build_args(&options.build_args);
    let evaluated = project
        .dockerfile
        .evaluate(&base.env(), &workdir, &args)
        .map_err(|source| BuildError::Dockerfile {
            path: project.root.join("Dockerfile"),
            source,
        })?;

    reporter.step("reading project files");
    let syntax = project.settings.dags.ignore_syntax;
    let walked = walk(&project.root, &project.dockerignore, syntax)?;
    if walked
        .project
        .iter()
        .any(|e| e.rel == ".git" || e.rel.starts_with(".git/"))
    {
        reporter.warn(
            "`.git` is copied into the image (no `.dockerignore` line excludes it), as `docker build` would: the repository's history ships with it, and a rebuild of the commit (`airlock verify`) cannot match",
            Some("add a line `.git` to `.dockerignore`, as `airlock init` and the Astro template do"),
        );
    }
    let placement = Placement {
        workdir: &workdir,
        owner,
        facts: &facts,
    };
    let mut trees = vec![("project", placement.tree(&walked.project)?)];
    if !options.exclude_dags {
        trees.push(("dags", placement.tree(&walked.dags)?));
    }

    let mut summaries: Vec<LayerSummary> = base
        .layers
        .iter()
        .map(|l| LayerSummary {
            kind: "base".into(),
            digest: l.digest.clone(),
            diff_id: None,
            size: l.descriptor.size(),
            reused: true,
        })
        .collect();
    let mut layer_descriptors: Vec<Descriptor> =
        base.layers.iter().map(|l| l.descriptor.clone()).collect();
    let mut blobs: Vec<(Digest, PathBuf)> = base
        .layers
        .iter()
        .map(|l| (l.digest.clone(), l.path.clone()))
        .collect();
    let mut new_diff_ids = Vec::new();
    let mut history: Vec<HistoryEntry> = base
        .onbuild()
        .iter()
        .zip(&onbuild.steps)
        .filter(|(_, step)| !matches!(step, crate::image::OnBuildStep::CopyProject { .. }))
        .map(|(trigger, _)| HistoryEntry {
            created_by: format!("ONBUILD {trigger} # carried out by airlock"),
            comment: None,
            empty_layer: true,
        })
        .collect();
    let chown = onbuild
        .project_chown
        .clone()
        .unwrap_or_else(|| format!("{}:{}", owner.uid, owner.gid));
    // Layer order: base · Debian · Python · project · DAGs.
    let mut built = Vec::new();
    let mut skipped_scripts = Vec::new();
    if let Some(layer) = debian_layer {
        skipped_scripts = layer.skipped;
        let names: Vec<&str> = wanted.debs.iter().map(|d| d.name.as_str()).collect();
        let created_by = format!(
            "RUN apt-get install --no-install-recommends {} # airlock: Debian layer",
            names.join(" ")
        );
        built.push(("debian", layer.record, layer.reused, created_by));
    }
    if let Some((record, reused)) = python_layer {
        let created_by =
            "RUN pip install --no-compile -r requirements.txt # airlock: locked wheels".to_string();
        built.push(("python", record, reused, created_by));
    }
    for (kind, tree) in &trees {
        if tree.is_empty() {
            continue;
        }
        reporter.step(&format!("writing the {kind} layer"));
        let (record, reused) = build_layer(&store, tree, kind, options.source_date_epoch)?;
        let created_by = match *kind {
            "dags" => format!("COPY --chown={chown} dags/ {workdir}/dags/ # airlock: DAGs layer"),
            _ => {
                format!("COPY --chown={chown} . {workdir} # airlock: project files, without dags/")
            }
        };
        built.push((kind, record, reused, created_by));
    }
    for (kind, record, reused, created_by) in built {
        history.push(HistoryEntry {
            created_by,
            comment: Some(format!("airlock {} layer", kind)),
            empty_layer: false,
        });
        new_diff_ids.push(record.diff_id.clone());
        layer_descriptors.push(descriptor(
            &record.media_type,
            record.digest.clone(),
            record.size,
        ));
        blobs.push((record.digest.clone(), store.blob_path(&record.digest)));
        summaries.push(LayerSummary {
            kind: kind.to_string(),
            digest: record.digest,
            diff_id: Some(record.diff_id),
            size: record.size,
            reused,
        });
    }
    for instruction in &project.dockerfile.instructions {
        history.push(HistoryEntry {
            created_by: instruction_text(&instruction.kind),
            comment: None,
            empty_layer: true,
        });
    }

    let mut labels = onbuild.labels.clone();
    labels.extend(evaluated.labels.clone());
    labels.insert(
        "airlock.inputs.sha256".into(),
        project.inputs_digest().hex().to_string(),
    );
    labels.insert(
        "airlock.lock.sha256".into(),
        Digest::of(lock_text.as_bytes()).hex().to_string(),
    );
    let config = assemble_config(
        &base,
        &ConfigInputs {
            env: evaluated.env.clone(),
            labels,
            user: evaluated.user.clone().or(onbuild.user.clone()),
            working_dir: evaluated.workdir.clone(),
            new_diff_ids,
            history,
            created: options.source_date_epoch,
        },
    )?;
    let config_digest = store.put_bytes(&config)?;
    let base_name = match &origin {
        BaseOrigin::Registry(repository) => match base.reference.split_once('@') {
            Some(_) => format!("{repository}@{}", base.manifest_digest),
            None => format!(
                "{repository}:{}",
                ImageName::parse(&base.reference)?
                    .tag
                    .unwrap_or_else(|| "latest".into())
            ),
        },
        BaseOrigin::Layout(_) => base.reference.clone(),
    };
    let annotations = BTreeMap::from([
        (BASE_NAME_ANNOTATION.to_string(), base_name),
        (
            BASE_DIGEST_ANNOTATION.to_string(),
            base.manifest_digest.to_string(),
        ),
    ]);
    let manifest = build_manifest(&config, layer_descriptors.clone(), annotations)?;
    let manifest_digest = store.put_bytes(&manifest)?;

    reporter.step("writing the output");
    let output = options
        .output
        .clone()
        .unwrap_or_else(|| OutputSpec::default_for(&project.root));
    if output
        .path()
        .starts_with(project.root.join(crate::project::STATE_DIR))
    {
        super::output::ensure_state_dir(&project.root)?;
    }
    let config_blob = (config_digest.clone(), store.blob_path(&config_digest));
    write_output(&store, &output, &config_blob, &blobs, &manifest)?;

    let push = match &options.push {
        Some(target) => {
            reporter.step(&format!("pushing to {target}"));
            let blobs = std::iter::once(&descriptor(
                media_types::OCI_CONFIG,
                config_digest.clone(),
                config.len() as u64,
            ))
            .chain(&layer_descriptors)
            .map(|d| {
                let digest = d.sha256()?;
                Ok(BlobSource {
                    path: store.blob_path(&digest),
                    size: d.size(),
                    digest,
                })
            })
            .collect::<Result<_, BuildError>>()?;
            let image = LocalImage::new(manifest.clone(), blobs)?;
            Some(push_image(&remote, target, &image)?)
        }
        None => None,
    };

    Ok(BuildResult {
        manifest_digest,
        config_digest,
        base: base.reference.clone(),
        base_manifest_digest: base.manifest_digest.clone(),
        layers: summaries,
        output: output.describe(),
        lock_updated,
        skipped_scripts,
        push,
    })
}
