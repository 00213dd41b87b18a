//! Gathers a check's input from a project (walked as the image will hold it) and the
//! facts of its base image (Python version, installed distributions).

use std::collections::BTreeMap;

use super::{
    CheckInput, DagsError, Distribution, Exceptions, ModuleUniverse, ProjectLayout, PythonVersion,
    SourceFile, top_level_from_record, top_level_from_top_level_txt,
};
use crate::image::BaseFacts;
use crate::lock::Lockfile;
use crate::project::{DAGS_DIR, Project, WalkedKind, walk};
use crate::store::Store;

/// The project folders whose `.py` files are checked.
pub(super) const CHECKED_DIRS: [&str; 3] = [DAGS_DIR, "plugins", "include"];

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
pub(super) fn distributions_of(facts: &BaseFacts) -> Vec<Distribution> {
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

/// The top-level modules of a wheel held by the store: its `top_level.txt`, else its
/// `RECORD`. `None` when the wheel cannot be read.
fn wheel_top_level(path: &std::path::Path) -> Option<std::collections::BTreeSet<String>> {
    let file = std::fs::File::open(path).ok()?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file)).ok()?;
    let mut read = |suffix: &str| -> Option<String> {
        let name = archive
            .file_names()
            .filter_map(Result::ok)
            .find(|n| n.ends_with(suffix) && n.split('/').count() == 2)?
            .to_string();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut archive.by_name(&name).ok()?, &mut text).ok()?;
        Some(text)
    };
    match read(".dist-info/top_level.txt") {
        Some(text) => Some(top_level_from_top_level_txt(&text)),
        None => read(".dist-info/RECORD").map(|text| top_level_from_record(&text)),
    }
}

/// The distributions the locked Python layer adds, read from the wheels in the store;
/// a wheel not downloaded yet counts by its normalized name (`PyYAML` → `pyyaml`).
pub(super) fn locked_distributions(
    store: &crate::store::Store,
    lock: &crate::lock::Lockfile,
) -> Vec<Distribution> {
    lock.wheels
        .iter()
        .map(|wheel| {
            let top_level = store
                .has_blob(&wheel.sha256)
                .then(|| wheel_top_level(&store.blob_path(&wheel.sha256)))
                .flatten()
                .unwrap_or_else(|| {
                    [wheel.name.replace('-', "_").to_lowercase()]
                        .into_iter()
                        .collect()
                });
            Distribution {
                name: wheel.name.clone(),
                top_level,
            }
        })
        .collect()
}

/// The check input of `project` as it will be built on the base whose `facts` the
/// caller read (the base the lock pins): those facts, and the distributions of the
/// locked Python layer (`lock`, read from the wheels in `store`).
pub(crate) fn project_check_input(
    store: &Store,
    project: &Project,
    facts: &BaseFacts,
    lock: Option<&Lockfile>,
    python: Option<PythonVersion>,
) -> Result<CheckInput, DagsError> {
    let locked = lock
        .map(|lock| locked_distributions(store, lock))
        .unwrap_or_default();
    input_from_project(project, facts, python, locked)
}

/// Everything `check_project` needs for `project` on its base, plus the distributions
/// of the locked Python layer (`locked`).
pub(super) fn input_from_project(
    project: &Project,
    facts: &BaseFacts,
    python: Option<PythonVersion>,
    locked: Vec<Distribution>,
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
    let mut distributions = distributions_of(facts);
    distributions.extend(locked);
    let universe = ModuleUniverse::new(python, distributions, layout);
    Ok(CheckInput {
        files,
        universe,
        exceptions: Exceptions::load(&project.root)?,
    })
}
