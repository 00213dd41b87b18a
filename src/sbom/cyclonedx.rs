//! CycloneDX 1.6 JSON: the image is the BOM's subject; the base, the other images
//! the build read, its `ADD <URL>` downloads, the project, each layer and each
//! package are components. The dependency graph says what contains what: the image
//! depends on its base, the other images, the downloads, the project and its layers,
//! each layer on the packages it installed. Each package also names its layer in an
//! `airlock:layer` property.

use serde_json::{Value, json};

use super::model::{License, Sbom};
use super::purl;

fn hashes(hex: &str) -> Value {
    json!([{"alg": "SHA-256", "content": hex}])
}

fn property(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

/// Dockerfile lines as a property value: `3,8`.
fn lines(lines: &[usize]) -> String {
    let text: Vec<String> = lines.iter().map(usize::to_string).collect();
    text.join(",")
}

/// A UUID (version 5 layout) made from the image digest: one image, one serial.
fn serial(sbom: &Sbom) -> String {
    let hex = crate::digest::Digest::of(format!("cyclonedx {}", sbom.image).as_bytes())
        .hex()
        .to_string();
    let variant = ["8", "9", "a", "b"][usize::from(hex.as_bytes()[16] % 4)];
    format!(
        "urn:uuid:{}-{}-5{}-{}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        variant,
        &hex[17..20],
        &hex[20..32]
    )
}

/// The document as canonical JSON bytes (sorted keys, two-space indent).
pub(crate) fn write(sbom: &Sbom) -> Vec<u8> {
    let ids = sbom.ids();
    let mut components = Vec::new();
    let mut image_deps = Vec::new();
    let mut layer_deps: Vec<Vec<String>> = vec![Vec::new(); sbom.layers.len()];
    if let Some(base) = &sbom.base {
        components.push(json!({
            "type": "container",
            "bom-ref": "base-image",
            "name": base.name,
            "version": base.digest.to_string(),
            "hashes": hashes(base.digest.hex()),
            "purl": purl::oci(&base.name, &base.digest),
        }));
        image_deps.push("base-image".to_string());
    }
    for (image, id) in sbom.images.iter().zip(&ids.images) {
        components.push(json!({
            "type": "container",
            "bom-ref": id,
            "name": image.name,
            "version": image.digest.to_string(),
            "hashes": hashes(image.digest.hex()),
            "purl": purl::oci(&image.name, &image.digest),
            "properties": [property("airlock:dockerfile:lines", &lines(&image.lines))],
        }));
        image_deps.push(id.clone());
    }
    for (download, id) in sbom.downloads.iter().zip(&ids.downloads) {
        components.push(json!({
            "type": "file",
            "bom-ref": id,
            "name": download.url,
            "hashes": hashes(download.checksum.hex()),
            "externalReferences": [{"type": "distribution", "url": download.url}],
            "properties": [property("airlock:dockerfile:lines", &download.line.to_string())],
        }));
        image_deps.push(id.clone());
    }
    if let Some(project) = &sbom.project {
        let mut c = json!({
            "type": "application",
            "bom-ref": "project",
            "name": project.name,
        });
        if let Some(commit) = &project.commit {
            c["version"] = json!(commit);
            c["properties"] = json!([property("airlock:git:commit", commit)]);
        }
        if let Some(remote) = &project.remote {
            c["externalReferences"] = json!([{"type": "vcs", "url": remote}]);
        }
        components.push(c);
        image_deps.push("project".to_string());
    }
    for (index, layer) in sbom.layers.iter().enumerate() {
        let id = Sbom::layer_id(index);
        components.push(json!({
            "type": "file",
            "bom-ref": id,
            "name": sbom.layer_name(index),
            "version": layer.digest.to_string(),
            "hashes": hashes(layer.digest.hex()),
            "properties": [property("airlock:layer:kind", &layer.kind)],
        }));
        image_deps.push(id);
    }
    for (deb, id) in sbom.debs.iter().zip(&ids.debs) {
        let mut c = json!({
            "type": "library",
            "bom-ref": id,
            "name": deb.name,
            "version": deb.version,
            "purl": sbom.deb_purl(deb),
            "properties": [
                property("airlock:debian:architecture", &deb.arch),
                property("airlock:debian:source", &format!("{} {}", deb.source, deb.source_version)),
                property("airlock:layer", &Sbom::layer_id(deb.layer)),
            ],
        });
        if let Some(digest) = &deb.sha256 {
            c["hashes"] = hashes(digest.hex());
        }
        if let Some(url) = &deb.download {
            c["externalReferences"] = json!([{"type": "distribution", "url": url}]);
        }
        components.push(c);
        if let Some(deps) = layer_deps.get_mut(deb.layer) {
            deps.push(id.clone());
        }
    }
    for (dist, id) in sbom.dists.iter().zip(&ids.dists) {
        let mut properties = vec![
            property("airlock:layer", &Sbom::layer_id(dist.layer)),
            property("airlock:python:dist-info", &format!("/{}", dist.path)),
        ];
        if let Some(index) = &dist.index {
            properties.push(property("airlock:python:index", index));
        }
        let mut c = json!({
            "type": "library",
            "bom-ref": id,
            "name": dist.name,
            "version": dist.version,
            "purl": purl::pypi(&dist.name, &dist.version),
            "properties": properties,
        });
        match &dist.license {
            Some(License::Expression(e)) => c["licenses"] = json!([{"expression": e}]),
            Some(License::Name(n)) => c["licenses"] = json!([{"license": {"name": n}}]),
            None => {}
        }
        if let Some(digest) = &dist.sha256 {
            c["hashes"] = hashes(digest.hex());
        }
        if let Some(url) = &dist.download {
            c["externalReferences"] = json!([{"type": "distribution", "url": url}]);
        }
        components.push(c);
        if let Some(deps) = layer_deps.get_mut(dist.layer) {
            deps.push(id.clone());
        }
    }
    let mut dependencies = vec![json!({"ref": "image", "dependsOn": image_deps})];
    for (index, deps) in layer_deps.into_iter().enumerate() {
        dependencies.push(json!({"ref": Sbom::layer_id(index), "dependsOn": deps}));
    }
    let document = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial(sbom),
        "version": 1,
        "metadata": {
            "timestamp": sbom.created,
            "tools": {"components": [{
                "type": "application",
                "name": "airlock",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": {
                "type": "container",
                "bom-ref": "image",
                "name": "image",
                "version": sbom.image.to_string(),
                "hashes": hashes(sbom.image.hex()),
            },
        },
        "components": components,
        "dependencies": dependencies,
    });
    super::canonical(&document)
}
