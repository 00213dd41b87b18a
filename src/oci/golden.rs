//! Golden bytes of the documents this module writes: the bytes are what gets hashed,
//! so a change of model or serializer must leave every one of them as it is.

use std::path::PathBuf;

use std::collections::HashMap;

use super::types::{
    DescriptorExt, ImageIndex, IndexExt, MediaType, Platform, descriptor, media_types,
};
use super::{index_json, write_docker_archive, write_layout};
use crate::digest::Digest;

fn blob(dir: &std::path::Path, bytes: &[u8]) -> (Digest, PathBuf) {
    let digest = Digest::of(bytes);
    let path = dir.join(digest.hex());
    std::fs::write(&path, bytes).expect("write blob");
    (digest, path)
}

const MANIFEST: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

const LAYOUT_INDEX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:f20c43161d73848408ef247f0ec7111b19fe58ffebc0cbcaa0d2c8bda4967268","size":246,"annotations":{"org.opencontainers.image.ref.name":"v1"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:f20c43161d73848408ef247f0ec7111b19fe58ffebc0cbcaa0d2c8bda4967268","size":246,"annotations":{"org.opencontainers.image.ref.name":"v2"}}]}"#;

#[test]
fn golden_layout_index_bytes() {
    let temp = tempfile::tempdir().expect("tempdir");
    let config = blob(temp.path(), b"{}");
    let layout = temp.path().join("layout");
    write_layout(
        &layout,
        "v2",
        std::slice::from_ref(&config),
        MANIFEST,
        media_types::OCI_MANIFEST,
    )
    .expect("write v2");
    write_layout(
        &layout,
        "v1",
        &[config],
        MANIFEST,
        media_types::OCI_MANIFEST,
    )
    .expect("write v1");
    let index = std::fs::read(layout.join("index.json")).expect("index.json");
    assert_eq!(String::from_utf8_lossy(&index), LAYOUT_INDEX);
}

const ARCHIVE_INDEX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:f20c43161d73848408ef247f0ec7111b19fe58ffebc0cbcaa0d2c8bda4967268","size":246,"annotations":{"org.opencontainers.image.ref.name":"quickstart:dev"}}]}"#;

#[test]
fn golden_docker_archive_index_bytes() {
    let temp = tempfile::tempdir().expect("tempdir");
    let config = blob(temp.path(), b"{}");
    let file = temp.path().join("image.tar");
    write_docker_archive(&file, Some("quickstart:dev"), &config, &[], MANIFEST).expect("archive");
    let mut archive = tar::Archive::new(std::fs::File::open(&file).expect("open"));
    let mut index = Vec::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        if entry.path().expect("path").as_os_str() == "index.json" {
            std::io::Read::read_to_end(&mut entry, &mut index).expect("read");
        }
    }
    assert_eq!(String::from_utf8_lossy(&index), ARCHIVE_INDEX);
}

/// Every descriptor field at once, in an index: the order of `platform`,
/// `annotations` and `artifactType`, annotation keys sorted, `os.version` spelled so.
const FULL_INDEX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:f20c43161d73848408ef247f0ec7111b19fe58ffebc0cbcaa0d2c8bda4967268","size":246,"platform":{"architecture":"arm64","os":"linux","os.version":"6.1","variant":"v8"},"annotations":{"a.first":"1","org.opencontainers.image.ref.name":"v1","z.last":"3"},"artifactType":"application/vnd.example+json"},{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:dac1d7cfa95021764849fd102524e141488c5e3a90f861dbb5a12d9ac8584f85","size":5}],"annotations":{"a":"1","b":"2"}}"#;

#[test]
fn golden_index_with_every_descriptor_field() {
    let mut entry = descriptor(
        media_types::OCI_MANIFEST,
        Digest::of(MANIFEST),
        MANIFEST.len() as u64,
    );
    let mut platform = Platform::default();
    platform.set_architecture("arm64".into());
    platform.set_os("linux".into());
    platform.set_os_version(Some("6.1".into()));
    platform.set_variant(Some("v8".into()));
    entry.set_platform(Some(platform));
    for (key, value) in [
        ("z.last", "3"),
        ("a.first", "1"),
        (media_types::REF_NAME, "v1"),
    ] {
        entry.annotate(key, value);
    }
    entry.set_artifact_type(Some(MediaType::from("application/vnd.example+json")));
    let mut index = ImageIndex::empty();
    index.set_manifests(vec![
        entry,
        descriptor(media_types::OCI_LAYER_GZIP, Digest::of(b"layer"), 5),
    ]);
    index.set_annotations(Some(HashMap::from([
        ("b".to_string(), "2".to_string()),
        ("a".to_string(), "1".to_string()),
    ])));
    let bytes = index_json(&index).expect("serialize");
    assert_eq!(String::from_utf8_lossy(&bytes), FULL_INDEX);
}

/// A layout another tool wrote, whose entry has a platform with `os.version`: adding
/// a tag rewrites `index.json` and keeps that entry as airlock always wrote it.
const FOREIGN_INDEX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:f20c43161d73848408ef247f0ec7111b19fe58ffebc0cbcaa0d2c8bda4967268","size":246,"annotations":{"org.opencontainers.image.ref.name":"v1"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:340d600392818df2413382dc7d8325c360d83ea49a262d31760348484bbc10b5","size":7,"platform":{"architecture":"amd64","os":"windows","os.version":"10.0.17763.1"},"annotations":{"a.note":"x","org.opencontainers.image.ref.name":"win"}}]}"#;

#[test]
fn golden_layout_index_keeps_a_foreign_entry() {
    let temp = tempfile::tempdir().expect("tempdir");
    let config = blob(temp.path(), b"{}");
    let layout = temp.path().join("layout");
    std::fs::create_dir_all(layout.join("blobs/sha256")).expect("mkdir");
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    let foreign = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_INDEX,
        "manifests": [{
            "mediaType": media_types::OCI_MANIFEST,
            "digest": Digest::of(b"windows").to_string(),
            "size": 7,
            "annotations": {media_types::REF_NAME: "win", "a.note": "x"},
            "platform": {
                "os.version": "10.0.17763.1",
                "os": "windows",
                "architecture": "amd64",
            },
        }],
    });
    std::fs::write(layout.join("index.json"), foreign.to_string()).expect("index.json");
    write_layout(
        &layout,
        "v1",
        &[config],
        MANIFEST,
        media_types::OCI_MANIFEST,
    )
    .expect("write");
    let index = std::fs::read(layout.join("index.json")).expect("index.json");
    assert_eq!(String::from_utf8_lossy(&index), FOREIGN_INDEX);
}
