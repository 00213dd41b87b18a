//! One deploy, start to finish: record read, DAG check, tests, image (built or
//! prebuilt), DAG bundle, and the record written last.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::bundle::{Bundle, build_bundle};
use super::check::{CheckSummary, check_dags};
use super::clock::Timestamp;
use super::git::{GitInfo, uncommitted};
use super::image::{DeployImage, compare_versions, from_store, prebuilt};
use super::pytest::{run_pytest, test_target};
use super::record::{Action, BundleRef, ImageRef, RECORD_SCHEMA_VERSION, Record, StoredRecord};
use super::{DeployError, Deployment, DeploymentRemote};
use crate::digest::Digest;
use crate::pipeline::{
    BuildOptions, LockMode, Reporter, build, check_lock, ensure_state_dir, push_image,
};
use crate::project::{DAGS_DIR, Project, STATE_DIR, WalkedEntry, walk, walk_dags};
use crate::registry::RemoteOptions;
use crate::store::Store;

/// Which parts a deploy ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployMode {
    /// The image, and the DAG bundle when DAG-only deploys are on.
    Full,
    /// `--image`: the image only; the current DAG bundle stays.
    ImageOnly,
    /// `--dags`: the DAG bundle only.
    DagsOnly,
}

#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub project_dir: PathBuf,
    pub store_dir: PathBuf,
    pub deployment: String,
    pub mode: DeployMode,
    /// `--image-name`: deploy this prebuilt image instead of building.
    pub image_name: Option<String>,
    /// `--dags-path`: the DAG folder to bundle instead of the project's `dags/`.
    pub dags_path: Option<PathBuf>,
    pub description: Option<String>,
    /// Skip the DAG check and the refusal of uncommitted changes (nothing else: not
    /// the Runtime checks, not a stale lock).
    pub force: bool,
    /// Run the DAG check even under `force` or the deployment's `skip-parse`.
    pub parse: bool,
    /// Deploy an image whose Runtime is older than the deployment's (a rollback).
    pub allow_runtime_downgrade: bool,
    pub pytest: bool,
    /// `-t/--test`: the test file or directory of the project (default `tests/`).
    pub test_path: Option<PathBuf>,
    /// `-e/--env`: `KEY=VALUE` lines set for the tests.
    pub env_file: Option<PathBuf>,
    pub remote: RemoteOptions,
    /// The process's async runtime (made by the CLI): every registry request and the
    /// build run on it.
    pub runtime: tokio::runtime::Handle,
    pub source_date_epoch: u64,
    /// `--secret` files for the build's `RUN` steps, by id.
    pub secrets: std::collections::BTreeMap<String, PathBuf>,
}

impl DeployOptions {
    /// The build this deploy runs for `project` (tests and image alike): from the
    /// lock as it is (`--locked`), never rewriting it.
    fn build_options(&self, project: &Project) -> BuildOptions {
        BuildOptions {
            lock_mode: LockMode::Locked,
            secrets: self.secrets.clone(),
            ..BuildOptions::new(
                project.root.clone(),
                self.store_dir.clone(),
                self.remote.clone(),
                self.runtime.clone(),
                self.source_date_epoch,
            )
        }
    }

    /// Whether this deploy builds the project (for its image or its tests).
    fn builds(&self) -> bool {
        self.pytest || (self.mode != DeployMode::DagsOnly && self.image_name.is_none())
    }
}

/// What a deploy did.
#[derive(Debug, Clone)]
pub struct DeployOutcome {
    pub deployment: String,
    /// The new record; `None` when nothing changed (an unchanged `deploy --dags`).
    pub written: Option<StoredRecord>,
    /// The record in force afterwards (new or unchanged).
    pub record: Record,
    pub image_pushed: bool,
    /// The SBOMs and provenance attached to the pushed image.
    pub attached: Vec<crate::oci::Descriptor>,
    pub bundle_pushed: bool,
    pub check: Option<CheckSummary>,
    /// Things the user should know (forced uncommitted changes, skipped checks).
    pub warnings: Vec<String>,
}

fn dags_entries(
    project: &Project,
    dags_path: Option<&std::path::Path>,
) -> Result<Vec<WalkedEntry>, DeployError> {
    let syntax = project.settings.dags.ignore_syntax;
    match dags_path {
        Some(dir) => {
            let dir = dir.canonicalize().map_err(|source| DeployError::Io {
                action: "open the DAG folder",
                path: dir.to_path_buf(),
                source,
            })?;
            Ok(walk_dags(&dir, &project.dockerignore, syntax)?)
        }
        None => {
            let dags = project.root.join(DAGS_DIR);
            if !dags.is_dir() {
                return Ok(Vec::new());
            }
            Ok(walk(&project.root, &project.dockerignore, syntax)?.dags)
        }
    }
}

/// The test target and env pairs of `--pytest`, read before anything else runs.
type Tests = (Option<String>, Vec<(String, String)>);

/// What a deploy ships, decided from the current record and the mode.
struct Shipping {
    /// DAG-only deploys are on for the deployment.
    enabled: bool,
    ships_bundle: bool,
    /// The image carries the DAGs (DAG-only deploys are off).
    image_has_dags: bool,
}

/// The DAG bundle this deploy would ship, next to the one in force.
struct BundlePlan {
    new: Option<Bundle>,
    current: Option<BundleRef>,
    unchanged: bool,
}

/// One deploy under way: what every step reads, and the warnings gathered.
struct Deploy<'a> {
    options: &'a DeployOptions,
    reporter: &'a dyn Reporter,
    project: Project,
    deployment: Deployment,
    store: Store,
    remote: RemoteOptions,
    registry: DeploymentRemote,
    warnings: Vec<String>,
}

/// Deploys the project at `options.project_dir` to `options.deployment`.
pub fn deploy(
    options: &DeployOptions,
    reporter: &dyn Reporter,
) -> Result<DeployOutcome, DeployError> {
    let mut run = Deploy::open(options, reporter)?;
    // What fails on the spot comes first: uncommitted work, the test arguments, a
    // stale lock. Nothing is asked of the registry before.
    let (git, tests) = run.preflight()?;

    reporter.step("reading the deployment record");
    let parent = run.registry.read_record()?;
    let current = parent.as_ref().map(|p| &p.record);
    let shipping = run.shipping(current)?;

    let time = Timestamp::now();
    let version = time.compact();

    reporter.step("reading the DAGs");
    let other_folder = options
        .dags_path
        .as_deref()
        .filter(|_| shipping.ships_bundle);
    let dags = dags_entries(&run.project, other_folder)?;
    let bundle = run.bundle_plan(&dags, &shipping, current)?;
    if options.mode == DeployMode::DagsOnly
        && bundle.unchanged
        && let Some(parent) = &parent
    {
        return Ok(DeployOutcome {
            deployment: run.deployment.name,
            written: None,
            record: parent.record.clone(),
            image_pushed: false,
            attached: Vec::new(),
            bundle_pushed: false,
            check: None,
            warnings: run.warnings,
        });
    }

    let ships_dags = shipping.ships_bundle || shipping.image_has_dags;
    let check = run.check(ships_dags, &dags, other_folder.is_some())?;
    if let Some((target, env)) = &tests {
        reporter.step("running the project's tests");
        let build_options = options.build_options(&run.project);
        if !run_pytest(&build_options, target.as_deref(), env, reporter)? {
            return Err(DeployError::PytestFailed);
        }
    }

    let mut image_ref = current.and_then(|r| r.image.clone());
    let mut attached = Vec::new();
    let image_pushed = options.mode != DeployMode::DagsOnly;
    if image_pushed {
        let (pushed, documents) = run.ship_image(
            image_ref.as_ref(),
            git.as_ref(),
            shipping.image_has_dags,
            &version,
        )?;
        image_ref = Some(pushed);
        attached = documents;
    }
    let (dag_bundle, bundle_pushed) = run.ship_bundle(bundle, &shipping, &version)?;

    let record = Record {
        schema_version: RECORD_SCHEMA_VERSION,
        deployment: run.deployment.name.clone(),
        image: image_ref,
        dag_bundle,
        dag_deploy_enabled: shipping.enabled,
        action: match options.mode {
            DeployMode::Full => Action::Deploy,
            DeployMode::ImageOnly => Action::DeployImage,
            DeployMode::DagsOnly => Action::DeployDags,
        },
        description: options
            .description
            .clone()
            .or_else(|| git.as_ref().and_then(|g| g.subject.clone())),
        deployed_at: time.rfc3339(),
        git,
        parent: parent.as_ref().map(|p| p.digest.clone()),
    };
    reporter.step("writing the deployment record");
    let parent_digest: Option<&Digest> = parent.as_ref().map(|p| &p.digest);
    let digest = run
        .registry
        .write_record(&record, parent_digest, &version)?;
    Ok(DeployOutcome {
        deployment: run.deployment.name,
        written: Some(StoredRecord {
            digest,
            record: record.clone(),
        }),
        record,
        image_pushed,
        attached,
        bundle_pushed,
        check,
        warnings: run.warnings,
    })
}

impl<'a> Deploy<'a> {
    /// Reads the project and its deployment, refuses what is refused without looking
    /// further, and sets up the registry side.
    fn open(options: &'a DeployOptions, reporter: &'a dyn Reporter) -> Result<Self, DeployError> {
        let project = Project::load(&options.project_dir, &BTreeMap::new())?;
        let deployment = Deployment::find(&project.settings.deployments, &options.deployment)?;
        if let Some(description) = &options.description {
            super::record::check_description(description)?;
        }
        if options.mode != DeployMode::DagsOnly && options.image_name.is_none() {
            refuse_literal_credentials(&project)?;
        }
        let store = Store::open(&options.store_dir)?;
        let remote = options
            .remote
            .clone()
            .with_settings(&project.settings.registry, &project.root);
        let registry = DeploymentRemote::new(
            deployment.clone(),
            &remote,
            store.clone(),
            options.runtime.clone(),
        )?;
        Ok(Self {
            options,
            reporter,
            project,
            deployment,
            store,
            remote,
            registry,
            warnings: Vec::new(),
        })
    }

    /// The checks that need no registry: uncommitted work, the test arguments and a
    /// stale lock. Returns the project's git facts and the tests to run.
    fn preflight(&mut self) -> Result<(Option<GitInfo>, Option<Tests>), DeployError> {
        let (options, project) = (self.options, &self.project);
        if project.root.join(STATE_DIR).is_dir() {
            // Made by an airlock that did not mark it yet: marked now, so `git status`
            // does not count airlock's own output as uncommitted work.
            ensure_state_dir(&project.root)?;
        }
        let git = GitInfo::read(&project.root);
        if git.as_ref().is_some_and(|g| g.dirty) {
            if !options.force {
                let paths = uncommitted(&project.root).unwrap_or_default();
                return Err(DeployError::Uncommitted {
                    name: self.deployment.name.clone(),
                    files: list_paths(&paths),
                });
            }
            self.warnings.push(
                "`--force`: the project has uncommitted changes; they are deployed and the record says `dirty`"
                    .to_string(),
            );
        }
        let tests = if options.pytest {
            let target = match &options.test_path {
                Some(path) => Some(test_target(&project.root, path)?),
                None => None,
            };
            let env = crate::dags::project_env(&project.root, options.env_file.as_deref())
                .map_err(|e| DeployError::Pytest(Box::new(e.into())))?;
            Some((target, env))
        } else {
            None
        };
        if options.builds() {
            self.reporter.step("checking airlock.lock");
            check_lock(&options.build_options(project), self.reporter)
                .map_err(DeployError::from_build)?;
        }
        Ok((git, tests))
    }

    /// What ships, from the mode and the current record (`None` before the first deploy).
    fn shipping(&mut self, current: Option<&Record>) -> Result<Shipping, DeployError> {
        let enabled = current.is_none_or(|r| r.dag_deploy_enabled);
        if self.options.mode == DeployMode::DagsOnly && !enabled {
            return Err(DeployError::DagDeployDisabled {
                name: self.deployment.name.clone(),
            });
        }
        let ships_bundle = match self.options.mode {
            DeployMode::DagsOnly => true,
            DeployMode::Full => enabled,
            DeployMode::ImageOnly => false,
        };
        if self.options.dags_path.is_some() && !ships_bundle {
            self.warnings.push(
                "`--dags-path` is ignored: this deploy ships no DAG bundle (the image carries the project's dags/)"
                    .to_string(),
            );
        }
        Ok(Shipping {
            enabled,
            ships_bundle,
            image_has_dags: !enabled,
        })
    }

    /// The bundle of `dags` when the deploy ships one, and whether the current record
    /// already holds the same.
    fn bundle_plan(
        &self,
        dags: &[WalkedEntry],
        shipping: &Shipping,
        current: Option<&Record>,
    ) -> Result<BundlePlan, DeployError> {
        let new: Option<Bundle> = if shipping.ships_bundle {
            Some(build_bundle(&self.store, dags)?)
        } else {
            None
        };
        let current = current.and_then(|r| r.dag_bundle.clone());
        let unchanged = matches!(
            (&new, &current),
            (Some(new), Some(old)) if new.digest == old.digest
        );
        Ok(BundlePlan {
            new,
            current,
            unchanged,
        })
    }

    /// The DAG check, unless `--force` or the deployment's `skip-parse` skip it (with a
    /// warning); nothing to check when no DAGs ship.
    fn check(
        &mut self,
        ships_dags: bool,
        dags: &[WalkedEntry],
        other_folder: bool,
    ) -> Result<Option<CheckSummary>, DeployError> {
        let options = self.options;
        let run_check = options.parse || !(options.force || self.deployment.skip_parse);
        if ships_dags && run_check {
            self.reporter.step("checking the DAGs");
            return Ok(Some(check_dags(
                &self.project,
                &self.store,
                &self.remote,
                &options.runtime,
                dags,
                other_folder,
            )?));
        }
        if ships_dags && options.force {
            self.warnings
                .push("`--force`: the DAG check was skipped".to_string());
        } else if ships_dags {
            self.warnings.push(format!(
                "the DAG check was skipped (`skip-parse = true` for deployment `{}`; `--parse` runs it)",
                self.deployment.name
            ));
        }
        Ok(None)
    }

    /// Builds (or reads) the image, checks its Runtime against the deployment's,
    /// pushes it as `deploy-<version>` and attaches its SBOMs and provenance.
    fn ship_image(
        &self,
        current: Option<&ImageRef>,
        git: Option<&GitInfo>,
        image_has_dags: bool,
        version: &str,
    ) -> Result<(ImageRef, Vec<crate::oci::Descriptor>), DeployError> {
        let (options, project, deployment) = (self.options, &self.project, &self.deployment);
        let image = deploy_image(
            options,
            project,
            &self.store,
            &self.remote,
            image_has_dags,
            self.reporter,
        )?;
        let runtime_version = image
            .label(&deployment.runtime_label)
            .filter(|v| !v.trim().is_empty());
        if runtime_version.is_none() && !deployment.allow_non_runtime_images {
            return Err(DeployError::NotRuntime {
                name: deployment.name.clone(),
                image: match &options.image_name {
                    Some(name) => format!("`{name}`"),
                    None => format!("built from `FROM {}`", project.dockerfile.from.image),
                },
                label: deployment.runtime_label.clone(),
            });
        }
        if let (Some(old), Some(new)) = (
            current.and_then(|i| i.runtime_version.as_deref()),
            runtime_version.as_deref(),
        ) && compare_versions(new, old) == Some(std::cmp::Ordering::Less)
            && !options.allow_runtime_downgrade
        {
            return Err(DeployError::Downgrade {
                name: deployment.name.clone(),
                label: deployment.runtime_label.clone(),
                current: old.to_string(),
                new: new.to_string(),
            });
        }
        let tag = format!("deploy-{version}");
        let target = format!("{}:{tag}", deployment.images);
        self.reporter
            .step(&format!("pushing the image to {target}"));
        let pushed = push_image(&self.remote, &options.runtime, &target, &image.local)?;
        self.reporter.step("attaching the SBOMs and the provenance");
        let documents = documents(options, project, git, &image, image_has_dags)?;
        let attached = self.registry.attach(&image.local.manifest, &documents)?;
        let image_ref = ImageRef {
            repository: deployment.images.to_string(),
            tag,
            digest: pushed.digest,
            runtime_version,
            includes_dags: image_has_dags,
        };
        Ok((image_ref, attached))
    }

    /// Pushes the new bundle unless the record already holds it; returns the bundle
    /// in force afterwards and whether one was pushed.
    fn ship_bundle(
        &self,
        bundle: BundlePlan,
        shipping: &Shipping,
        version: &str,
    ) -> Result<(Option<BundleRef>, bool), DeployError> {
        Ok(match bundle.new {
            Some(_) if bundle.unchanged => (bundle.current, false),
            Some(new) => {
                self.reporter.step("pushing the DAG bundle");
                self.registry.push_bundle(&new, version)?;
                let pushed = BundleRef {
                    repository: self.deployment.bundles.to_string(),
                    digest: new.digest.clone(),
                    version: version.to_string(),
                    blob: new.blob.clone(),
                    size: new.size,
                };
                (Some(pushed), true)
            }
            // The image carries the DAGs: no bundle is in force.
            None if shipping.image_has_dags => (None, false),
            None => (bundle.current, false),
        })
    }
}

/// The documents a deploy attaches to the image it pushes: the SPDX and CycloneDX
/// SBOMs always (they are a function of the image), and the provenance when the
/// deploy built the image (a prebuilt image's build is not this deploy's to state).
fn documents(
    options: &DeployOptions,
    project: &Project,
    git: Option<&GitInfo>,
    image: &DeployImage,
    with_dags: bool,
) -> Result<Vec<(&'static str, Vec<u8>)>, DeployError> {
    use crate::sbom::{Format, ImageInput, ProjectInfo, gather, provenance};
    let input = ImageInput::from_blobs(image.local.manifest.clone(), &image.local.blobs)?;
    let built = options.image_name.is_none();
    let sbom = if built {
        let lock = std::fs::read_to_string(project.root.join(crate::lock::LOCK_FILE)).ok();
        let info = ProjectInfo {
            name: project.root.file_name().map_or_else(
                || "project".to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            commit: git.map(|g| g.commit.clone()),
            remote: git.and_then(|g| g.remote.clone()),
        };
        gather(&input, lock.as_deref(), Some(info))?
    } else {
        gather(&input, None, None)?
    };
    let mut documents: Vec<(&'static str, Vec<u8>)> = [Format::Spdx, Format::CycloneDx]
        .into_iter()
        .map(|f| (f.media_type(), f.write(&sbom)))
        .collect();
    if built {
        let parameters = provenance::Parameters {
            build_arg_names: Vec::new(),
            exclude_dags: !with_dags,
            locked: true,
            source_date_epoch: options.source_date_epoch,
        };
        documents.push((
            provenance::MEDIA_TYPE,
            provenance::write(&sbom, &parameters),
        ));
    }
    Ok(documents)
}

/// The image built from `project` would carry any credential its files write into a
/// URL: refused before anything is pushed.
fn refuse_literal_credentials(project: &Project) -> Result<(), DeployError> {
    let places =
        crate::pipeline::literal_credentials(project).map_err(crate::pipeline::BuildError::from)?;
    if places.is_empty() {
        return Ok(());
    }
    let places: Vec<String> = places.iter().map(|p| format!("`{p}`")).collect();
    Err(DeployError::LiteralCredentials {
        places: places.join(", "),
    })
}

fn deploy_image(
    options: &DeployOptions,
    project: &Project,
    store: &Store,
    remote: &RemoteOptions,
    with_dags: bool,
    reporter: &dyn Reporter,
) -> Result<DeployImage, DeployError> {
    if let Some(name) = &options.image_name {
        reporter.step(&format!("reading the image {name}"));
        return prebuilt(name, remote, &options.runtime, store);
    }
    let result = build(
        &BuildOptions {
            exclude_dags: !with_dags,
            ..options.build_options(project)
        },
        reporter,
    )
    .map_err(DeployError::from_build)?;
    from_store(store, &result.manifest_digest)
}

/// The first paths of `git status`, backquoted, and how many more there are.
fn list_paths(paths: &[String]) -> String {
    const SHOWN: usize = 5;
    if paths.is_empty() {
        return "`git status` cannot tell which".to_string();
    }
    let mut text: Vec<String> = paths.iter().take(SHOWN).map(|p| format!("`{p}`")).collect();
    if paths.len() > SHOWN {
        text.push(format!("and {} more", paths.len() - SHOWN));
    }
    text.join(", ")
}
