//! The DAG check before a deploy: tier 1 (`airlock parse`) on the DAGs that ship.

use super::DeployError;
use crate::dags::{ProjectLayout, SourceFile, check_project, project_check_input};
use crate::pipeline::locked_base_facts;
use crate::project::{DAGS_DIR, Project, WalkedEntry, WalkedKind, walk};
use crate::registry::RemoteOptions;
use crate::store::Store;

/// What the check looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckSummary {
    pub files: usize,
    pub allowed: usize,
}

/// Checks the project's Python files, with `dags` (the walked DAG folder that
/// ships) in place of the project's own `dags/` when `other_folder` says it came
/// from elsewhere (`--dags-path`). A registry base is pulled on `runtime`. Fails on
/// any error.
pub(super) fn check_dags(
    project: &Project,
    store: &Store,
    remote: &RemoteOptions,
    runtime: &tokio::runtime::Handle,
    dags: &[WalkedEntry],
    other_folder: bool,
) -> Result<CheckSummary, DeployError> {
    let (facts, lock) = locked_base_facts(store, project, None, remote, runtime)?;
    let mut input = project_check_input(store, project, &facts, lock.as_ref(), None)?;
    let prefix = format!("{DAGS_DIR}/");
    input.files.retain(|f| !f.path.starts_with(&prefix));
    for entry in dags {
        if matches!(entry.kind, WalkedKind::File { .. }) && entry.rel.ends_with(".py") {
            let contents = std::fs::read(&entry.host).map_err(|source| DeployError::Io {
                action: "read",
                path: entry.host.clone(),
                source,
            })?;
            input.files.push(SourceFile {
                path: entry.rel.clone(),
                contents,
            });
        }
    }
    if other_folder {
        // Module names come from the folder that ships, not the project's dags/.
        let walked = walk(
            &project.root,
            &project.dockerignore,
            project.settings.dags.ignore_syntax,
        )?;
        let entries = walked.project.iter().chain(dags);
        let (mut py_files, mut dirs) = (Vec::new(), Vec::new());
        for entry in entries {
            match &entry.kind {
                WalkedKind::Dir => dirs.push(entry.rel.clone()),
                WalkedKind::File { .. } if entry.rel.ends_with(".py") => {
                    py_files.push(entry.rel.clone())
                }
                _ => {}
            }
        }
        input.universe = input
            .universe
            .with_project(ProjectLayout::new(&py_files, &dirs));
    }
    let report = check_project(&input);
    if !report.is_ok() {
        return Err(DeployError::DagCheckFailed {
            count: report.errors.len(),
            report: report.to_string(),
        });
    }
    Ok(CheckSummary {
        files: report.files_checked,
        allowed: report.allowed.len(),
    })
}
