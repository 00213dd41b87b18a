//! `deployment update`: settings of a deployment that live in its record.

use super::clock::Timestamp;
use super::git::GitInfo;
use super::record::{Action, RECORD_SCHEMA_VERSION, Record, StoredRecord};
use super::{DeployError, DeploymentRemote};

/// Writes a record that differs from `parent` only in `dag_deploy_enabled`.
pub(crate) fn set_dag_deploy(
    remote: &DeploymentRemote,
    parent: Option<&StoredRecord>,
    enabled: bool,
    project_dir: &std::path::Path,
) -> Result<StoredRecord, DeployError> {
    let time = Timestamp::now();
    let base = parent.map(|p| &p.record);
    let record = Record {
        schema_version: RECORD_SCHEMA_VERSION,
        deployment: remote.deployment.name.clone(),
        image: base.and_then(|r| r.image.clone()),
        dag_bundle: base.and_then(|r| r.dag_bundle.clone()),
        dag_deploy_enabled: enabled,
        action: Action::Update,
        description: Some(format!(
            "DAG-only deploys {}",
            if enabled { "enabled" } else { "disabled" }
        )),
        deployed_at: time.rfc3339(),
        git: GitInfo::read(project_dir),
        parent: parent.map(|p| p.digest.clone()),
    };
    let digest = remote.write_record(&record, parent.map(|p| &p.digest), &time.compact())?;
    Ok(StoredRecord { digest, record })
}

/// The records from the current one back to the first, at most `limit`.
pub fn history(remote: &DeploymentRemote, limit: usize) -> Result<Vec<StoredRecord>, DeployError> {
    let mut out = Vec::new();
    let mut next = remote.read_record()?;
    while let Some(stored) = next {
        if out.len() >= limit {
            break;
        }
        let parent = stored.record.parent.clone();
        out.push(stored);
        next = match parent {
            Some(digest) => remote.read_record_at(&digest.to_string())?,
            None => None,
        };
    }
    Ok(out)
}
