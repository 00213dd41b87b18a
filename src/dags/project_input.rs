//! Gathers a check's input from a project (walked as the image will hold it) and the
//! facts of its base image (Python version, installed distributions).

use std::collections::BTreeMap;

use super::{
    CheckInput, DagsError, Distribution, Exceptions, ModuleUniverse, ProjectLayout, PythonVersion,
    SourceFile, top_level_from_record, top_level_from_top_level_txt,
};
use crate::image::BaseFacts;
use crate::project::{DAGS_DIR, Project, WalkedKind, walk};

/// The project folders whose `.py` files are checked.
pub const CHECKED_DIRS: [&str; 3] = [DAGS_DIR, "plugins", "include"];

/// The base's Python version: the newest `python3.N` interpreter it carries.
fn python_of(facts: &BaseFacts) -> Option<PythonVersion> {
    facts
        .interpreters
        .iter()
        .filter_map(|path| path.rsplit_once("python3.").map(|(_, minor)| minor))
        .filter_map(|minor| minor.parse::<u8>().ok())
        .filter_map(|minor| PythonVersion::new(3, minor).ok())
        .max()
}

/// Installed distributions of the base, from their `*.dist-info` directories.
pub fn distributions_of(facts: &BaseFacts) -> Vec<Distribution> {
    let mut by_dir: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    for (path, text) in &facts.files {
        if let Some((dir, name)) = path.rsplit_once('/')
            && dir.ends_with(".dist-info")
        {
            by_dir.entry(dir).or_default().insert(name, text.as_str());
        }
    }
    by_dir
        .into_iter()
        .map(|(dir, files)| {
            let dir_name = dir.rsplit('/').next().unwrap_or(dir);
            let fallback = dir_name.split('-').next().unwrap_or(dir_name);
            let name = files
                .get("METADATA")
                .and_then(|meta| {
                    meta.lines()
                        .take_while(|l| !l.is_empty())
                        .find_map(|l| l.strip_prefix("Name:"))
                })
                .map_or(fallback, str::trim)
                .to_string();
            let top_level = match (files.get("top_level.txt"), files.get("RECORD")) {
                (Some(text), _) => top_level_from_top_level_txt(text),
                (None, Some(record)) => top_level_from_record(record),
                (None, None) => Default::default(),
            };
            Distribution { name, top_level }
        })
        .collect()
}

/// Everything `check_project` needs for `project` on its base.
pub fn input_from_project(
    project: &Project,
    facts: &BaseFacts,
    python: Option<PythonVersion>,
) -> Result<CheckInput, DagsError> {
    let python = python
        .or_else(|| python_of(facts))
        .ok_or(DagsError::NoPython)?;
    let walked = walk(
        &project.root,
        &project.dockerignore,
        project.settings.dags.ignore_syntax,
    )?;
    let all = walked.project.iter().chain(walked.dags.iter());
    let mut py_files = Vec::new();
    let mut package_dirs = Vec::new();
    let mut files = Vec::new();
    for entry in all {
        match &entry.kind {
            WalkedKind::Dir => package_dirs.push(entry.rel.clone()),
            WalkedKind::File { .. } if entry.rel.ends_with(".py") => {
                py_files.push(entry.rel.clone());
                let top = entry.rel.split('/').next().unwrap_or("");
                if CHECKED_DIRS.contains(&top) {
                    let contents =
                        std::fs::read(&entry.host).map_err(|source| DagsError::Read {
                            path: entry.host.clone(),
                            source,
                        })?;
                    files.push(SourceFile {
                        path: entry.rel.clone(),
                        contents,
                    });
                }
            }
            _ => {}
        }
    }
    let layout = ProjectLayout::new(&py_files, &package_dirs);
    let universe = ModuleUniverse::new(python, distributions_of(facts), layout);
    Ok(CheckInput {
        files,
        universe,
        exceptions: Exceptions::load(&project.root)?,
    })
}
