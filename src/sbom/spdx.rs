//! SPDX 2.3 JSON: the image is the described package; it CONTAINS each layer and
//! each package, each layer CONTAINS its packages, the image is a DESCENDANT_OF its
//! base and GENERATED_FROM the project; the other images the build read and its
//! `ADD <URL>` downloads are each a BUILD_DEPENDENCY_OF the image.

use serde_json::{Value, json};

use super::model::{License, Sbom};
use super::purl;

const NOASSERTION: &str = "NOASSERTION";

fn spdx_id(id: &str) -> String {
    format!("SPDXRef-{id}")
}

fn purl_ref(purl: String) -> Value {
    json!([{
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": purl,
    }])
}

fn sha256(hex: &str) -> Value {
    json!([{"algorithm": "SHA256", "checksumValue": hex}])
}

#[allow(clippy::too_many_arguments)]
fn package(
    id: &str,
    name: &str,
    version: &str,
    purpose: &str,
    download: Option<&str>,
    checksum: Option<&str>,
    purl: Option<String>,
    license: Option<&str>,
) -> Value {
    let mut p = json!({
        "SPDXID": spdx_id(id),
        "name": name,
        "versionInfo": version,
        "primaryPackagePurpose": purpose,
        "downloadLocation": download.unwrap_or(NOASSERTION),
        "filesAnalyzed": false,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": license.unwrap_or(NOASSERTION),
        "copyrightText": NOASSERTION,
        "supplier": NOASSERTION,
    });
    if let Some(hex) = checksum {
        p["checksums"] = sha256(hex);
    }
    if let Some(purl) = purl {
        p["externalRefs"] = purl_ref(purl);
    }
    p
}

fn relationship(from: &str, kind: &str, to: &str) -> Value {
    json!({
        "spdxElementId": spdx_id(from),
        "relationshipType": kind,
        "relatedSpdxElement": spdx_id(to),
    })
}

/// A `License-Expression` of plain SPDX tokens; anything else is not asserted.
fn spdx_expression(license: &Option<License>) -> Option<&str> {
    match license {
        Some(License::Expression(e))
            if !e.is_empty()
                && e.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, '.' | '-' | '+' | ' ' | '(' | ')' | ':')
                }) =>
        {
            Some(e.as_str())
        }
        _ => None,
    }
}

/// The document as canonical JSON bytes (sorted keys, two-space indent).
pub(crate) fn write(sbom: &Sbom) -> Vec<u8> {
    let ids = sbom.ids();
    let mut packages = Vec::new();
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": spdx_id("image"),
    })];
    packages.push(package(
        "image",
        &format!("image {}", sbom.image),
        &sbom.image.to_string(),
        "CONTAINER",
        None,
        Some(sbom.image.hex()),
        None,
        None,
    ));
    if let Some(base) = &sbom.base {
        packages.push(package(
            "base-image",
            &base.name,
            &base.digest.to_string(),
            "CONTAINER",
            None,
            Some(base.digest.hex()),
            Some(purl::oci(&base.name, &base.digest)),
            None,
        ));
        relationships.push(relationship("image", "DESCENDANT_OF", "base-image"));
    }
    for (image, id) in sbom.images.iter().zip(&ids.images) {
        let mut p = package(
            id,
            &image.name,
            &image.digest.to_string(),
            "CONTAINER",
            None,
            Some(image.digest.hex()),
            Some(purl::oci(&image.name, &image.digest)),
            None,
        );
        let lines: Vec<String> = image
            .lines
            .iter()
            .map(|l| format!("Dockerfile:{l}"))
            .collect();
        p["sourceInfo"] = json!(format!("read at {}", lines.join(", ")));
        packages.push(p);
        relationships.push(relationship(id, "BUILD_DEPENDENCY_OF", "image"));
    }
    for (download, id) in sbom.downloads.iter().zip(&ids.downloads) {
        let mut p = package(
            id,
            &download.url,
            NOASSERTION,
            "FILE",
            Some(&download.url),
            Some(download.checksum.hex()),
            None,
            None,
        );
        p["sourceInfo"] = json!(format!("ADD at Dockerfile:{}", download.line));
        packages.push(p);
        relationships.push(relationship(id, "BUILD_DEPENDENCY_OF", "image"));
    }
    if let Some(project) = &sbom.project {
        let mut p = package(
            "project",
            &project.name,
            project.commit.as_deref().unwrap_or(NOASSERTION),
            "SOURCE",
            project.remote.as_deref(),
            None,
            None,
            None,
        );
        if let Some(commit) = &project.commit {
            p["sourceInfo"] = json!(format!("git commit {commit}"));
        }
        packages.push(p);
        relationships.push(relationship("image", "GENERATED_FROM", "project"));
    }
    for (index, layer) in sbom.layers.iter().enumerate() {
        let id = Sbom::layer_id(index);
        packages.push(package(
            &id,
            &sbom.layer_name(index),
            &layer.digest.to_string(),
            "ARCHIVE",
            None,
            Some(layer.digest.hex()),
            None,
            None,
        ));
        relationships.push(relationship("image", "CONTAINS", &id));
    }
    for (deb, id) in sbom.debs.iter().zip(&ids.debs) {
        let mut p = package(
            id,
            &deb.name,
            &deb.version,
            "OPERATING-SYSTEM",
            deb.download.as_deref(),
            deb.sha256.as_ref().map(|d| d.hex()),
            Some(sbom.deb_purl(deb)),
            None,
        );
        p["sourceInfo"] = json!(format!(
            "Debian source package {} {}, architecture {}",
            deb.source, deb.source_version, deb.arch
        ));
        packages.push(p);
        relationships.push(relationship("image", "CONTAINS", id));
        relationships.push(relationship(&Sbom::layer_id(deb.layer), "CONTAINS", id));
    }
    for (dist, id) in sbom.dists.iter().zip(&ids.dists) {
        let mut p = package(
            id,
            &dist.name,
            &dist.version,
            "LIBRARY",
            dist.download.as_deref(),
            dist.sha256.as_ref().map(|d| d.hex()),
            Some(purl::pypi(&dist.name, &dist.version)),
            spdx_expression(&dist.license),
        );
        let mut info = format!("installed at /{}", dist.path);
        if let Some(index) = &dist.index {
            info.push_str(&format!(", from the index {index}"));
        }
        p["sourceInfo"] = json!(info);
        if let Some(License::Name(name)) = &dist.license {
            p["licenseComments"] = json!(format!("License: {name}"));
        }
        packages.push(p);
        relationships.push(relationship("image", "CONTAINS", id));
        relationships.push(relationship(&Sbom::layer_id(dist.layer), "CONTAINS", id));
    }
    let document = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("airlock image {}", sbom.image),
        "documentNamespace": format!("urn:airlock:spdx:{}", sbom.image.hex()),
        "creationInfo": {
            "created": sbom.created,
            "creators": [format!("Tool: airlock-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": relationships,
    });
    super::canonical(&document)
}
