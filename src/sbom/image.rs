//! What an SBOM is made from: an image's manifest, config and layer blobs, walked
//! once. Only the files that name packages are kept (the dpkg database, Python
//! `*.dist-info/METADATA`, os-release and the project's `airlock.lock`), each with
//! the index of the layer that last wrote it; whiteouts apply layer by layer, so
//! what is kept is what the running image has.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use serde_json::Value;

use super::SbomError;
use crate::digest::Digest;
use crate::image::open_layer;
use crate::layer::{LayerChange, NamelessWhiteout, layer_change, layer_path};
use crate::oci::{DescriptorExt as _, ImageManifest};
use crate::store::Store;

/// An image on disk: its manifest bytes, config bytes and where each layer blob is.
#[derive(Debug, Clone)]
pub(crate) struct ImageInput {
    pub manifest_bytes: Vec<u8>,
    pub manifest: ImageManifest,
    pub config: Value,
    /// Each layer's digest (sha256, checked), in manifest order.
    pub layer_digests: Vec<Digest>,
    pub layer_paths: Vec<PathBuf>,
}

impl ImageInput {
    fn new(
        manifest_bytes: Vec<u8>,
        config_bytes: &[u8],
        blob_path: impl Fn(&Digest) -> PathBuf,
    ) -> Result<Self, SbomError> {
        let manifest: ImageManifest =
            serde_json::from_slice(&manifest_bytes).map_err(|source| SbomError::Json {
                what: "manifest",
                source,
            })?;
        let config = serde_json::from_slice(config_bytes).map_err(|source| SbomError::Json {
            what: "config",
            source,
        })?;
        let layer_digests = manifest
            .layers()
            .iter()
            .map(|l| l.sha256())
            .collect::<Result<Vec<_>, _>>()?;
        let layer_paths = layer_digests.iter().map(blob_path).collect();
        Ok(Self {
            manifest_bytes,
            manifest,
            config,
            layer_digests,
            layer_paths,
        })
    }

    /// The image whose manifest (and every blob) is in the store.
    pub(crate) fn from_store(store: &Store, manifest: &Digest) -> Result<Self, SbomError> {
        let manifest_bytes = store.read_blob(manifest)?;
        let parsed: ImageManifest =
            serde_json::from_slice(&manifest_bytes).map_err(|source| SbomError::Json {
                what: "manifest",
                source,
            })?;
        let config = store.read_blob(&parsed.config().sha256()?)?;
        Self::new(manifest_bytes, &config, |d| store.blob_path(d))
    }

    /// An image from its manifest bytes and its blobs on disk (config and layers).
    pub(crate) fn from_blobs(
        manifest_bytes: Vec<u8>,
        blobs: &[crate::registry::BlobSource],
    ) -> Result<Self, SbomError> {
        let paths: BTreeMap<Digest, PathBuf> = blobs
            .iter()
            .map(|b| (b.digest.clone(), b.path.clone()))
            .collect();
        let parsed: ImageManifest =
            serde_json::from_slice(&manifest_bytes).map_err(|source| SbomError::Json {
                what: "manifest",
                source,
            })?;
        let config_path = paths
            .get(&parsed.config().sha256()?)
            .cloned()
            .unwrap_or_default();
        let config = std::fs::read(&config_path).map_err(|source| SbomError::Read {
            path: config_path,
            source,
        })?;
        Self::new(manifest_bytes, &config, |d| {
            paths.get(d).cloned().unwrap_or_default()
        })
    }

    pub(crate) fn digest(&self) -> Digest {
        Digest::of(&self.manifest_bytes)
    }

    /// What each layer is, from the config's history: `debian`, `python`, `project`,
    /// `dags` for the layers airlock made (their history comment is
    /// `airlock KIND layer`), `base` for the others.
    pub(crate) fn layer_kinds(&self) -> Vec<String> {
        let history = self
            .config
            .get("history")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut kinds: Vec<String> = history
            .iter()
            .filter(|h| h.get("empty_layer").and_then(Value::as_bool) != Some(true))
            .map(|h| {
                h.get("comment")
                    .and_then(Value::as_str)
                    .and_then(|c| c.strip_prefix("airlock "))
                    .and_then(|c| c.strip_suffix(" layer"))
                    .unwrap_or("base")
                    .to_string()
            })
            .collect();
        if kinds.len() != self.manifest.layers().len() {
            kinds = vec!["base".to_string(); self.manifest.layers().len()];
        }
        kinds
    }

    /// A config label.
    pub(crate) fn label(&self, name: &str) -> Option<&str> {
        self.config
            .get("config")
            .and_then(|c| c.get("Labels"))
            .and_then(|l| l.get(name))
            .and_then(Value::as_str)
    }

    /// Walks every layer, bottom to top, keeping the files that name packages.
    pub(crate) fn contents(&self) -> Result<Contents, SbomError> {
        let mut contents = Contents::default();
        for (index, (digest, path)) in self.layer_digests.iter().zip(&self.layer_paths).enumerate()
        {
            let err = |source| SbomError::Layer {
                digest: digest.clone(),
                source,
            };
            let reader = open_layer(path).map_err(err)?;
            contents.apply_layer(index, reader).map_err(err)?;
        }
        Ok(contents)
    }
}

/// One kept file: the layer that last wrote it and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kept {
    pub layer: usize,
    pub bytes: Vec<u8>,
}

/// The package-naming files of an image's final filesystem, by path (no leading `/`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Contents {
    pub files: BTreeMap<String, Kept>,
    /// dpkg status paragraphs by (package, architecture): the layer that introduced
    /// the installed version, and the paragraph's text.
    pub dpkg: BTreeMap<(String, String), (usize, String)>,
}

/// The files the SBOM reads.
pub(crate) fn kept(path: &str) -> bool {
    if matches!(
        path,
        "var/lib/dpkg/status" | "etc/os-release" | "usr/lib/os-release"
    ) || path.starts_with("var/lib/dpkg/status.d/")
        || path == "airlock.lock"
        || path.ends_with("/airlock.lock")
    {
        return true;
    }
    path.strip_suffix("/METADATA")
        .is_some_and(is_site_dist_info)
}

/// A `NAME-VERSION.dist-info` directory directly inside a `site-packages` or
/// `dist-packages` directory.
pub(crate) fn is_site_dist_info(dir: &str) -> bool {
    dir.rsplit_once('/').is_some_and(|(parent, name)| {
        name.ends_with(".dist-info")
            && (parent.ends_with("/site-packages") || parent.ends_with("/dist-packages"))
    })
}

impl Contents {
    fn apply_layer(&mut self, index: usize, reader: impl Read) -> std::io::Result<()> {
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let raw = entry.path()?.to_string_lossy().into_owned();
            let change = layer_change(&raw).map_err(|NamelessWhiteout| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("`/{}`: {}", layer_path(&raw), NamelessWhiteout::RULE),
                )
            })?;
            let path = match change {
                LayerChange::Opaque { dir } => {
                    let prefix = format!("{dir}/");
                    self.files
                        .retain(|k, _| !(dir.is_empty() || k.starts_with(&prefix)));
                    continue;
                }
                LayerChange::Hide { target } => {
                    self.remove(&target);
                    continue;
                }
                LayerChange::Write { path } if path.is_empty() => continue,
                LayerChange::Write { path } => path,
            };
            let kind = entry.header().entry_type();
            // Anything written at a path replaces what was there (a directory only
            // replaces a non-directory).
            if !kind.is_dir() {
                self.remove(&path);
            } else {
                self.files.remove(&path);
            }
            if kind.is_file() && kept(&path) {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes)?;
                self.files.insert(
                    path,
                    Kept {
                        layer: index,
                        bytes,
                    },
                );
            }
        }
        self.update_dpkg(index);
        Ok(())
    }

    fn remove(&mut self, path: &str) {
        let prefix = format!("{path}/");
        self.files
            .retain(|k, _| k != path && !k.starts_with(&prefix));
    }

    /// Re-reads the dpkg database after layer `index`: a package whose installed
    /// version is new (or newly installed) belongs to this layer.
    fn update_dpkg(&mut self, index: usize) {
        let mut now = BTreeMap::new();
        for (path, kept) in &self.files {
            if path != "var/lib/dpkg/status" && !path.starts_with("var/lib/dpkg/status.d/") {
                continue;
            }
            let in_status_d = path.starts_with("var/lib/dpkg/status.d/");
            let text = String::from_utf8_lossy(&kept.bytes);
            for paragraph in text.split("\n\n") {
                let fields = super::model::fields(paragraph);
                let Some(name) = fields.get("Package") else {
                    continue;
                };
                // distroless `status.d` entries carry no `Status`: they are installed.
                let installed = match fields.get("Status") {
                    Some(status) => status.split_whitespace().last() == Some("installed"),
                    None => in_status_d,
                };
                if !installed {
                    continue;
                }
                let arch = fields.get("Architecture").cloned().unwrap_or_default();
                now.insert((name.clone(), arch), paragraph.trim().to_string());
            }
        }
        let version = |p: &str| super::model::fields(p).get("Version").cloned();
        let mut next = BTreeMap::new();
        for (key, paragraph) in now {
            let layer = match self.dpkg.get(&key) {
                Some((layer, old)) if version(old) == version(&paragraph) => *layer,
                _ => index,
            };
            next.insert(key, (layer, paragraph));
        }
        self.dpkg = next;
    }
}
