//! The project files layer and the DAGs layer: the project directory as the base's
//! ONBUILD `COPY . .` would copy it, `dags/` in a layer of its own (it changes most).
//! Both come from one reading of the project, made when the first is realised.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::copy_step::{SourceEntry, context_entries};
use super::placement::Placement;
use super::{Below, LayerStep, StoredLayer};
use crate::digest::Digest;
use crate::image::BaseFacts;
use crate::layer::{Compression, FileTree, Owner};
use crate::pipeline::BuildError;
use crate::pipeline::options::Reporter;
use crate::project::{Project, walk};
use crate::store::Store;

/// The project's files, read once, placed under the workdir as their owner.
pub(in crate::pipeline) struct ProjectFiles<'a> {
    project: &'a Project,
    facts: &'a BaseFacts,
    /// Absolute directory in the image (the base's `WORKDIR`).
    workdir: String,
    owner: Owner,
    exclude_dags: bool,
    trees: OnceCell<Trees>,
}

/// The two layer trees (an empty DAGs tree under `--exclude-dags`).
struct Trees {
    project: FileTree,
    dags: FileTree,
    /// The build context as `COPY` and `ADD` read it (`dags/` included).
    context: BTreeMap<String, SourceEntry>,
}

impl<'a> ProjectFiles<'a> {
    pub(crate) fn new(
        project: &'a Project,
        facts: &'a BaseFacts,
        workdir: &str,
        owner: Owner,
        exclude_dags: bool,
    ) -> Self {
        Self {
            project,
            facts,
            workdir: workdir.to_string(),
            owner,
            exclude_dags,
            trees: OnceCell::new(),
        }
    }

    /// The project layer's tree.
    pub(super) fn project_tree(&self, reporter: &dyn Reporter) -> Result<&FileTree, BuildError> {
        Ok(&self.trees(reporter)?.project)
    }

    /// The build context's files, by path relative to the project.
    pub(super) fn context(
        &self,
        reporter: &dyn Reporter,
    ) -> Result<&BTreeMap<String, SourceEntry>, BuildError> {
        Ok(&self.trees(reporter)?.context)
    }

    fn trees(&self, reporter: &dyn Reporter) -> Result<&Trees, BuildError> {
        if let Some(trees) = self.trees.get() {
            return Ok(trees);
        }
        let trees = self.read(reporter)?;
        Ok(self.trees.get_or_init(|| trees))
    }

    /// Walks the project (`.dockerignore` applied) into the two trees.
    fn read(&self, reporter: &dyn Reporter) -> Result<Trees, BuildError> {
        reporter.step("reading project files");
        let project = self.project;
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
            workdir: &self.workdir,
            owner: self.owner,
            facts: self.facts,
        };
        let mut context = context_entries(&walked.project);
        context.extend(context_entries(&walked.dags));
        Ok(Trees {
            context,
            project: placement.tree(&walked.project)?,
            dags: match self.exclude_dags {
                true => FileTree::new(),
                false => placement.tree(&walked.dags)?,
            },
        })
    }
}

/// Which of the two layers.
#[derive(Clone, Copy)]
pub(in crate::pipeline) enum Part {
    /// Everything but `dags/`.
    Project,
    Dags,
}

/// The project files layer or the DAGs layer.
pub(in crate::pipeline) struct FilesStep<'a> {
    pub files: Rc<ProjectFiles<'a>>,
    pub part: Part,
    /// The `--chown` of the `COPY` the layer stands for.
    pub chown: String,
    pub mtime: u64,
    pub compression: Compression,
}

impl FilesStep<'_> {
    /// The layer's tree (the project is read the first time).
    fn tree(&self, reporter: &dyn Reporter) -> Result<&FileTree, BuildError> {
        let trees = self.files.trees(reporter)?;
        Ok(match self.part {
            Part::Project => &trees.project,
            Part::Dags => &trees.dags,
        })
    }
}

impl LayerStep for FilesStep<'_> {
    fn kind(&self) -> &'static str {
        match self.part {
            Part::Project => "project",
            Part::Dags => "dags",
        }
    }

    fn created_by(&self) -> String {
        let (chown, workdir) = (&self.chown, &self.files.workdir);
        match self.part {
            Part::Dags => {
                format!("COPY --chown={chown} dags/ {workdir}/dags/ # airlock: DAGs layer")
            }
            Part::Project => {
                format!("COPY --chown={chown} . {workdir} # airlock: project files, without dags/")
            }
        }
    }

    fn reads_project(&self) -> bool {
        true
    }

    fn key(
        &self,
        _below: &Below<'_>,
        reporter: &dyn Reporter,
    ) -> Result<Option<Digest>, BuildError> {
        let tree = self.tree(reporter)?;
        if tree.is_empty() {
            return Ok(None);
        }
        let kind = self.kind();
        reporter.step(&format!("writing the {kind} layer"));
        Ok(Some(tree.derivation_key_with(
            kind,
            self.mtime,
            self.compression,
        )))
    }

    fn key_above(&self, key: &Digest) -> Digest {
        // The tree without `airlock.lock`, which holds the pins of the steps above,
        // and without the compression, which the steps above do not depend on.
        let Some(tree) = self.files.trees.get().map(|trees| match self.part {
            Part::Project => &trees.project,
            Part::Dags => &trees.dags,
        }) else {
            return key.clone();
        };
        let lock = format!(
            "{}/{}",
            self.files.workdir.trim_matches('/'),
            crate::lock::LOCK_FILE
        );
        let lock = lock.trim_start_matches('/');
        if !tree.contains(lock) {
            // Its key without the compression (the same as `key` for gzip).
            return tree.derivation_key(self.kind(), self.mtime);
        }
        let mut without = FileTree::new();
        for (path, entry) in tree.iter().filter(|(path, _)| *path != lock) {
            // Paths come from a valid tree: inserting them again cannot fail.
            let _ = without.insert(path, entry.clone());
        }
        without.derivation_key(self.kind(), self.mtime)
    }

    fn produce(
        &self,
        _key: &Digest,
        _below: &Below<'_>,
        store: &Store,
        reporter: &dyn Reporter,
    ) -> Result<StoredLayer, BuildError> {
        StoredLayer::of_tree(store, self.tree(reporter)?, self.mtime, self.compression)
    }
}
