//! `dags sync`: the Airflow side. Follows the deployment record, unpacks each new DAG
//! bundle (verified) into its own directory next to the destination, and switches
//! the destination symlink to it with one `rename`. Earlier versions stay for a grace
//! period, so a task that started on them finishes on the same code.
//!
//! Layout, for `--dest /opt/airflow/dags`:
//! `/opt/airflow/dags` → `dags.versions/<version>-<digest prefix>` (relative symlink),
//! `/opt/airflow/dags.versions/<id>.retired` marks when `<id>` stopped being current.
//!
//! The record is untrusted input: it is validated on read (`Record::from_json`), the
//! version directory is named only from a checked deploy time and the bundle digest,
//! and before anything is fetched or written the record must be this deployment's,
//! name a bundle on the deployment's registry, and agree with the bundle's manifest.
//! A refused record changes nothing: `DEST` keeps the DAGs it has.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::record::{BundleRef, is_deploy_time, repository};
use super::unpack::unpack_bundle;
use super::{DeployError, DeploymentRemote};
use crate::printable::printable;

/// What one pass did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SyncOutcome {
    /// The destination now points at a new version.
    Switched {
        version: String,
        path: PathBuf,
        files: usize,
    },
    /// The destination already held the current version.
    Current { version: String },
    /// The record names no bundle (DAG-only deploys off, or none pushed yet).
    NoBundle,
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DeployError {
    let path = path.to_path_buf();
    move |source| DeployError::Io {
        action,
        path,
        source,
    }
}

/// `(parent, name)` of the destination.
fn split_dest(dest: &Path) -> Result<(PathBuf, String), DeployError> {
    let name = dest
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| DeployError::Io {
            action: "use",
            path: dest.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the destination needs a UTF-8 final component",
            ),
        })?
        .to_string();
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

/// The name of a bundle's directory in `DEST.versions`: `<version>-<digest prefix>`,
/// from a checked deploy time and the digest only, so always one plain component
/// (never `..`, a path, hidden, or a `.retired` marker).
fn version_dir(bundle: &BundleRef) -> Option<String> {
    is_deploy_time(&bundle.version)
        .then(|| format!("{}-{}", bundle.version, &bundle.digest.hex()[..12]))
}

/// One pass: make `dest` hold the deployment's current bundle.
pub(crate) fn sync_once(
    remote: &DeploymentRemote,
    dest: &Path,
    grace: Duration,
) -> Result<SyncOutcome, DeployError> {
    let deployment = &remote.deployment;
    let name = &deployment.name;
    let stored = remote
        .read_record()?
        .ok_or_else(|| DeployError::NoRecord { name: name.clone() })?;
    let bad = |detail: String| DeployError::BadRecord {
        reference: format!("{}@{}", deployment.images, stored.digest),
        detail,
    };
    let record = stored.record.clone();
    // A deployment named by its repository (`registry/repository`) has no name to
    // compare; names from `airlock.toml` never hold a `/`.
    if !name.contains('/') && record.deployment != *name {
        return Err(bad(format!(
            "it is the record of deployment `{}`, not of `{}`; was it copied from another repository?",
            printable(&record.deployment),
            printable(name)
        )));
    }
    let Some(bundle) = record.dag_bundle else {
        return Ok(SyncOutcome::NoBundle);
    };
    let repository = repository("dag_bundle.repository", &bundle.repository).map_err(bad)?;
    if repository.registry() != deployment.bundles.registry() {
        return Err(bad(format!(
            "`dag_bundle.repository` `{}` is on another registry than deployment `{}` (`{}`); bundles are fetched from the deployment's registry only",
            printable(&bundle.repository),
            printable(name),
            deployment.bundles.registry()
        )));
    }
    let id = version_dir(&bundle).ok_or_else(|| {
        bad(format!(
            "`dag_bundle.version` is `{}`, not a deploy time (`YYYYMMDDTHHMMSS.mmmZ`)",
            printable(&bundle.version)
        ))
    })?;
    // The record must agree with the bundle's manifest, on every pass.
    let layer = remote.bundle_layer(&repository, &bundle.digest)?;
    if layer.digest().as_ref() != bundle.blob.to_string() {
        return Err(bad(format!(
            "`dag_bundle.blob` is `{}` but the bundle's layer is `{}`",
            bundle.blob,
            layer.digest()
        )));
    }
    if layer.size() != bundle.size {
        return Err(bad(format!(
            "`dag_bundle.size` is {} but the bundle's layer has {} bytes",
            bundle.size,
            layer.size()
        )));
    }

    let (parent, dest_name) = split_dest(dest)?;
    let versions_name = format!("{dest_name}.versions");
    let versions = parent.join(&versions_name);
    let link_target = PathBuf::from(&versions_name).join(&id);
    let final_dir = versions.join(&id);

    let previous = match fs::symlink_metadata(dest) {
        Ok(meta) if meta.file_type().is_symlink() => {
            Some(fs::read_link(dest).map_err(io_err("read the symlink", dest))?)
        }
        Ok(meta) if meta.is_dir() => {
            // An empty directory (e.g. made by a volume mount) can be replaced.
            fs::remove_dir(dest).map_err(|_| DeployError::DestNotSymlink {
                path: dest.to_path_buf(),
            })?;
            None
        }
        Ok(_) => {
            return Err(DeployError::DestNotSymlink {
                path: dest.to_path_buf(),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err("inspect", dest)(e)),
    };
    if previous.as_deref() == Some(link_target.as_path()) && final_dir.is_dir() {
        cleanup(&versions, &id, grace)?;
        return Ok(SyncOutcome::Current {
            version: bundle.version,
        });
    }

    let blob = remote.fetch_bundle_blob(&repository, &layer)?;
    fs::create_dir_all(&versions).map_err(io_err("create", &versions))?;
    let mut files = 0;
    if !final_dir.is_dir() {
        let incoming = tempfile::Builder::new()
            .prefix(".incoming-")
            .tempdir_in(&versions)
            .map_err(io_err("create a directory in", &versions))?;
        files = unpack_bundle(&blob, incoming.path())?;
        let staged = incoming.keep();
        fs::rename(&staged, &final_dir).map_err(io_err("move into place", &final_dir))?;
    }

    // The switch: a new symlink beside the destination, renamed over it.
    let temp_link = parent.join(format!(".{dest_name}.switch-{}", fastrand::u64(..)));
    std::os::unix::fs::symlink(&link_target, &temp_link)
        .map_err(io_err("create the symlink", &temp_link))?;
    if let Err(e) = fs::rename(&temp_link, dest) {
        let _ = fs::remove_file(&temp_link);
        return Err(io_err("switch", dest)(e));
    }
    if let Some(old) = previous.as_ref().and_then(|p| p.file_name()) {
        let marker = versions.join(format!("{}.retired", old.to_string_lossy()));
        fs::write(&marker, b"").map_err(io_err("write", &marker))?;
    }
    cleanup(&versions, &id, grace)?;
    tracing::info!(version = %printable(&bundle.version), "DAGs switched");
    Ok(SyncOutcome::Switched {
        version: bundle.version,
        path: final_dir,
        files,
    })
}

fn older_than(path: &Path, grace: Duration) -> bool {
    fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age >= grace)
}

/// Removes versions retired longer than `grace` ago; marks stray ones as retired now.
fn cleanup(versions: &Path, current: &str, grace: Duration) -> Result<(), DeployError> {
    let listing = fs::read_dir(versions).map_err(io_err("list", versions))?;
    for item in listing.flatten() {
        let name = item.file_name().to_string_lossy().into_owned();
        let path = item.path();
        if name == current || name.ends_with(".retired") {
            continue;
        }
        if name.starts_with(".incoming-") {
            if older_than(&path, grace) {
                let _ = fs::remove_dir_all(&path);
            }
            continue;
        }
        let marker = versions.join(format!("{name}.retired"));
        if !marker.exists() {
            fs::write(&marker, b"").map_err(io_err("write", &marker))?;
        } else if older_than(&marker, grace) {
            fs::remove_dir_all(&path).map_err(io_err("remove", &path))?;
            let _ = fs::remove_file(&marker);
            tracing::info!(version = %name, "old DAG version removed");
        }
    }
    // A version that became current again keeps no retirement marker.
    let _ = fs::remove_file(versions.join(format!("{current}.retired")));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

    #[test]
    fn version_directories_are_one_plain_component() {
        let bundle = |version: &str| BundleRef {
            repository: "127.0.0.1:5000/team/airflow".into(),
            digest: Digest::of(b"manifest"),
            version: version.into(),
            blob: Digest::of(b"blob"),
            size: 1,
        };
        let id = version_dir(&bundle("20250601T123005.042Z")).expect("a deploy time");
        assert!(
            id.starts_with("20250601T123005.042Z-") && id.len() == 33,
            "{id}"
        );
        for hostile in [
            "/abs/path",
            "../../x",
            "",
            "..",
            "a\nb",
            "x.retired",
            ".incoming-x",
        ] {
            assert_eq!(version_dir(&bundle(hostile)), None, "{hostile:?}");
        }
    }
}
