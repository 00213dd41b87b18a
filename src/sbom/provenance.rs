//! An in-toto statement with a SLSA v1 provenance predicate for an image: what
//! was built (the image digest), by what (airlock, its version), how (the build's
//! parameters, no secret values and no host paths) and from what (the base digest,
//! the lock, the git commit, the other images and `ADD <URL>` downloads the lock
//! pins, and every `.deb` and wheel it pins).

use serde_json::{Value, json};

use super::model::Sbom;
use super::purl;

pub(crate) const MEDIA_TYPE: &str = "application/vnd.in-toto+json";
pub(crate) const BUILD_TYPE: &str = "urn:airlock:build:v1";
pub(crate) const BUILDER_ID: &str = "urn:airlock:builder";

/// The invocation's parameters worth recording. Build-argument values may be
/// secrets: only their names are kept.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parameters {
    pub build_arg_names: Vec<String>,
    pub exclude_dags: bool,
    pub locked: bool,
    pub source_date_epoch: u64,
}

fn digest_of(d: &crate::digest::Digest) -> Value {
    json!({"sha256": d.hex()})
}

/// The statement as canonical JSON bytes.
pub(crate) fn write(sbom: &Sbom, parameters: &Parameters) -> Vec<u8> {
    let mut dependencies = Vec::new();
    if let Some(base) = &sbom.base {
        dependencies.push(json!({
            "name": "base",
            "uri": purl::oci(&base.name, &base.digest),
            "digest": digest_of(&base.digest),
        }));
    }
    for image in &sbom.images {
        dependencies.push(json!({
            "name": image.name,
            "uri": purl::oci(&image.name, &image.digest),
            "digest": digest_of(&image.digest),
            "annotations": {"dockerfileLines": image.lines},
        }));
    }
    for download in &sbom.downloads {
        dependencies.push(json!({
            "name": format!("ADD at Dockerfile:{}", download.line),
            "uri": download.url,
            "digest": digest_of(&download.checksum),
        }));
    }
    if let Some(lock) = &sbom.lock {
        dependencies.push(json!({"name": "airlock.lock", "digest": digest_of(lock)}));
    }
    if let Some(project) = &sbom.project
        && let Some(commit) = &project.commit
    {
        let mut dep = json!({"name": "project", "digest": {"gitCommit": commit}});
        if let Some(remote) = &project.remote {
            dep["uri"] = json!(format!("git+{remote}@{commit}"));
        }
        dependencies.push(dep);
    }
    for deb in sbom.debs.iter().filter(|d| d.sha256.is_some()) {
        let mut dep = json!({"name": format!("{}_{}_{}.deb", deb.name, deb.version, deb.arch), "uri": sbom.deb_purl(deb)});
        if let Some(d) = &deb.sha256 {
            dep["digest"] = digest_of(d);
        }
        dependencies.push(dep);
    }
    for dist in sbom.dists.iter().filter(|d| d.sha256.is_some()) {
        let mut dep = json!({"name": format!("{} {}", dist.name, dist.version), "uri": purl::pypi(&dist.name, &dist.version)});
        if let Some(d) = &dist.sha256 {
            dep["digest"] = digest_of(d);
        }
        dependencies.push(dep);
    }
    let mut names = parameters.build_arg_names.clone();
    names.sort();
    names.dedup();
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "image", "digest": digest_of(&sbom.image)}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "dockerfile": "Dockerfile",
                    "buildArgs": names,
                    "excludeDags": parameters.exclude_dags,
                    "locked": parameters.locked,
                    "project": sbom.project.as_ref().map(|p| json!({
                        "name": p.name,
                        "commit": p.commit,
                        "remote": p.remote,
                    })),
                },
                "internalParameters": {
                    "sourceDateEpoch": parameters.source_date_epoch,
                    "platform": "linux/amd64",
                },
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {
                    "id": BUILDER_ID,
                    "version": {"airlock": env!("CARGO_PKG_VERSION")},
                },
                "metadata": {"finishedOn": sbom.created},
            },
        },
    });
    super::canonical(&statement)
}
