//! The SBOM's model: every package the image contains, gathered from the image's
//! own files (dpkg status, `*.dist-info/METADATA`) and, for what airlock fetched,
//! from the lock the image was built with (the `.deb` and wheel hashes, where they
//! came from). Sorted, so the writers' output is a function of the image alone.

use std::collections::BTreeMap;

use super::image::{Contents, ImageInput};
use super::{SbomError, purl};
use crate::digest::Digest;
use crate::lock::Lockfile;
use crate::oci::annotation;

/// The project an image was built from (from its directory and git, when known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProjectInfo {
    pub name: String,
    pub commit: Option<String>,
    /// The `origin` remote, without credentials.
    pub remote: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layer {
    pub digest: Digest,
    pub size: u64,
    /// `base`, `debian`, `python`, `project`, `dags`.
    pub kind: String,
}

/// The image's base, from the manifest's standard annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseRef {
    pub name: String,
    pub digest: Digest,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DebPackage {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub source: String,
    pub source_version: String,
    /// Index into [`Sbom::layers`].
    pub layer: usize,
    /// The `.deb`'s sha256 when airlock fetched it.
    pub sha256: Option<Digest>,
    pub download: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum License {
    /// `License-Expression` (an SPDX expression).
    Expression(String),
    /// A one-line `License` field, as written.
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PythonDist {
    /// Normalized (PEP 503) name.
    pub name: String,
    pub version: String,
    /// The `*.dist-info` directory (no leading `/`).
    pub path: String,
    pub layer: usize,
    pub license: Option<License>,
    /// The wheel's sha256 when airlock installed it.
    pub sha256: Option<Digest>,
    pub download: Option<String>,
    /// The index the wheel came from, without credentials.
    pub index: Option<String>,
}

/// An image the build read besides its base (an earlier stage's `FROM`, a
/// `COPY --from=<image>`), as the lock pins it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ImageMaterial {
    /// The reference as the Dockerfile names it, without credentials.
    pub name: String,
    pub digest: Digest,
    /// The Dockerfile lines that read it.
    pub lines: Vec<usize>,
}

/// A file an `ADD --checksum=<digest> <URL>` downloaded, as the lock pins it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct UrlMaterial {
    /// The URL, credentials and query values redacted (as the lock keeps it).
    pub url: String,
    pub checksum: Digest,
    /// The `ADD`'s Dockerfile line.
    pub line: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct Sbom {
    pub image: Digest,
    /// RFC 3339, the image config's `created` (from `SOURCE_DATE_EPOCH`).
    pub created: String,
    pub base: Option<BaseRef>,
    pub layers: Vec<Layer>,
    /// The distribution for Debian purls (`debian`, `bookworm`).
    pub distro: Option<(String, String)>,
    pub debs: Vec<DebPackage>,
    pub dists: Vec<PythonDist>,
    pub project: Option<ProjectInfo>,
    /// The other images the lock pins (sorted).
    pub images: Vec<ImageMaterial>,
    /// The `ADD <URL>` downloads the lock pins (sorted).
    pub downloads: Vec<UrlMaterial>,
    /// sha256 of the lock the image was built with (its `airlock.lock.sha256` label).
    pub lock: Option<Digest>,
}

/// RFC 822-style header fields of a dpkg paragraph or a METADATA header block:
/// first occurrence wins, continuation lines joined with `\n`.
pub(crate) fn fields(text: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(key) = &current
                && let Some(value) = out.get_mut(key)
            {
                value.push('\n');
                value.push_str(line.trim());
            }
            continue;
        }
        current = None;
        if let Some((key, value)) = line.split_once(':') {
            let key = key.trim().to_string();
            if !out.contains_key(&key) {
                out.insert(key.clone(), value.trim().to_string());
                current = Some(key);
            }
        }
    }
    out
}

/// `url` without any user or password.
pub(crate) fn strip_credentials(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => text.to_string(),
    }
}

/// The lock the image was built with: the project layer's `airlock.lock` whose
/// sha256 is the config's `airlock.lock.sha256` label, else `outside` if it has
/// that hash.
fn image_lock(
    image: &ImageInput,
    contents: &Contents,
    kinds: &[String],
    outside: Option<&str>,
) -> Option<Lockfile> {
    let wanted = image.label("airlock.lock.sha256")?;
    let inside = contents.files.iter().find(|(path, kept)| {
        path.ends_with("airlock.lock")
            && kinds.get(kept.layer).is_some_and(|k| k == "project")
            && Digest::of(&kept.bytes).hex() == wanted
    });
    let text = match inside {
        Some((_, kept)) => String::from_utf8_lossy(&kept.bytes).into_owned(),
        None => outside
            .filter(|t| Digest::of(t.as_bytes()).hex() == wanted)?
            .to_string(),
    };
    toml::from_str(&text).ok()
}

fn os_release(contents: &Contents) -> Option<(String, String)> {
    let kept = contents
        .files
        .get("etc/os-release")
        .or_else(|| contents.files.get("usr/lib/os-release"))?;
    let text = String::from_utf8_lossy(&kept.bytes);
    let mut values = BTreeMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            values.insert(k.trim(), v.trim().trim_matches('"').to_string());
        }
    }
    let id = values.get("ID")?.clone();
    let release = values
        .get("VERSION_CODENAME")
        .or_else(|| values.get("VERSION_ID"))
        .cloned()?;
    Some((id, release))
}

fn license(fields: &BTreeMap<String, String>) -> Option<License> {
    if let Some(expr) = fields.get("License-Expression").filter(|e| !e.is_empty()) {
        return Some(License::Expression(expr.clone()));
    }
    fields
        .get("License")
        .filter(|l| !l.is_empty() && !l.contains('\n') && l.len() <= 100 && l != &"UNKNOWN")
        .map(|l| License::Name(l.clone()))
}

/// Gathers the model of `image`. `lock_text` is the project's `airlock.lock`, used
/// only when the image has none of its own with the hash its label names.
pub(crate) fn gather(
    image: &ImageInput,
    lock_text: Option<&str>,
    project: Option<ProjectInfo>,
) -> Result<Sbom, SbomError> {
    let contents = image.contents()?;
    let kinds = image.layer_kinds();
    let lock = image_lock(image, &contents, &kinds, lock_text);
    let layers = image
        .manifest
        .layers()
        .iter()
        .zip(&image.layer_digests)
        .zip(&kinds)
        .map(|((d, digest), kind)| Layer {
            digest: digest.clone(),
            size: d.size(),
            kind: kind.clone(),
        })
        .collect();
    let annotations = image.manifest.annotations();
    let base = match (
        annotation(annotations, crate::image::BASE_NAME_ANNOTATION),
        annotation(annotations, crate::image::BASE_DIGEST_ANNOTATION)
            .and_then(|d| d.parse::<Digest>().ok()),
    ) {
        (Some(name), Some(digest)) => Some(BaseRef {
            name: strip_credentials(name),
            digest,
        }),
        _ => None,
    };

    let mut debs = Vec::new();
    for ((name, arch), (layer, paragraph)) in &contents.dpkg {
        let f = fields(paragraph);
        let version = f.get("Version").cloned().unwrap_or_default();
        let (source, source_version) = match f.get("Source") {
            Some(text) => match text.split_once(' ') {
                Some((s, v)) => (
                    s.to_string(),
                    v.trim()
                        .trim_start_matches('(')
                        .trim_end_matches(')')
                        .to_string(),
                ),
                None => (text.clone(), version.clone()),
            },
            None => (name.clone(), version.clone()),
        };
        let locked = lock.as_ref().and_then(|l| {
            let deb = l
                .debs
                .iter()
                .chain(l.steps.iter().flat_map(|step| &step.debs))
                .find(|d| &d.name == name && d.version == version && &d.architecture == arch)?;
            let uri = l.debian.as_ref()?.sources.get(deb.source)?.uri.clone();
            Some((
                deb.sha256.clone(),
                strip_credentials(&format!("{}/{}", uri.trim_end_matches('/'), deb.filename)),
            ))
        });
        debs.push(DebPackage {
            name: name.clone(),
            version,
            arch: arch.clone(),
            source,
            source_version,
            layer: *layer,
            sha256: locked.as_ref().map(|(d, _)| d.clone()),
            download: locked.map(|(_, u)| u),
        });
    }
    debs.sort();

    let mut dists = Vec::new();
    for (path, kept) in &contents.files {
        let Some(dir) = path.strip_suffix("/METADATA") else {
            continue;
        };
        if !super::image::is_site_dist_info(dir) {
            continue;
        }
        let text = String::from_utf8_lossy(&kept.bytes);
        let f = fields(&text);
        let (Some(raw_name), Some(version)) = (f.get("Name"), f.get("Version")) else {
            continue;
        };
        let name = crate::python::normalize_name(raw_name);
        let locked = lock.as_ref().and_then(|l| {
            let mut wheels = l
                .wheels
                .iter()
                .chain(l.steps.iter().flat_map(|step| &step.wheels));
            let wheel = wheels.find(|w| {
                crate::python::normalize_name(&w.name) == name && &w.version == version
            })?;
            let indexes = l
                .python
                .as_ref()
                .map(|p| p.indexes.clone())
                .unwrap_or_default();
            let host = |u: &str| {
                url::Url::parse(u)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
            };
            let index = indexes
                .iter()
                .find(|i| host(i).is_some() && host(i) == host(&wheel.url))
                .or(indexes.first())
                .map(|i| strip_credentials(i));
            Some((wheel.sha256.clone(), strip_credentials(&wheel.url), index))
        });
        dists.push(PythonDist {
            name,
            version: version.clone(),
            path: dir.to_string(),
            layer: kept.layer,
            license: license(&f),
            sha256: locked.as_ref().map(|l| l.0.clone()),
            download: locked.as_ref().map(|l| l.1.clone()),
            index: locked.and_then(|l| l.2),
        });
    }
    dists.sort();

    let created = image
        .config
        .get("created")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("1970-01-01T00:00:00Z")
        .to_string();
    let (images, downloads) = lock.as_ref().map(materials).unwrap_or_default();
    Ok(Sbom {
        image: image.digest(),
        created,
        base,
        layers,
        distro: os_release(&contents),
        debs,
        dists,
        project,
        images,
        downloads,
        lock: image
            .label("airlock.lock.sha256")
            .and_then(|hex| format!("sha256:{hex}").parse().ok()),
    })
}

/// The images and `ADD <URL>` downloads `lock` pins besides the base and the
/// packages, sorted.
fn materials(lock: &Lockfile) -> (Vec<ImageMaterial>, Vec<UrlMaterial>) {
    let mut images: Vec<ImageMaterial> = lock
        .images
        .iter()
        .map(|image| ImageMaterial {
            name: strip_credentials(&image.reference),
            digest: image.manifest.clone(),
            lines: image.lines.clone(),
        })
        .collect();
    images.sort();
    let mut downloads: Vec<UrlMaterial> = lock
        .steps
        .iter()
        .filter_map(|step| {
            Some(UrlMaterial {
                url: step.url.clone()?,
                checksum: step.checksum.clone()?,
                line: step.line,
            })
        })
        .collect();
    downloads.sort();
    (images, downloads)
}

impl Sbom {
    pub(crate) fn deb_purl(&self, deb: &DebPackage) -> String {
        purl::deb(self.distro.as_ref(), &deb.name, &deb.version, &deb.arch)
    }
}

/// Stable, unique element ids (`[A-Za-z0-9.-]`), shared by both formats.
#[derive(Debug, Clone)]
pub(crate) struct Ids {
    pub debs: Vec<String>,
    pub dists: Vec<String>,
    /// Of [`Sbom::images`].
    pub images: Vec<String>,
    /// Of [`Sbom::downloads`].
    pub downloads: Vec<String>,
}

fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

impl Sbom {
    pub(crate) fn ids(&self) -> Ids {
        let mut seen = std::collections::BTreeSet::new();
        let mut unique = |raw: String| {
            let base = sanitize(&raw);
            let mut id = base.clone();
            let mut n = 1;
            while !seen.insert(id.clone()) {
                n += 1;
                id = format!("{base}-{n}");
            }
            id
        };
        let debs = self
            .debs
            .iter()
            .map(|d| unique(format!("deb-{}-{}-{}", d.name, d.version, d.arch)))
            .collect();
        let dists = self
            .dists
            .iter()
            .map(|d| unique(format!("pypi-{}-{}", d.name, d.version)))
            .collect();
        let images = (1..=self.images.len())
            .map(|n| unique(format!("image-{n}")))
            .collect();
        let downloads = (1..=self.downloads.len())
            .map(|n| unique(format!("download-{n}")))
            .collect();
        Ids {
            debs,
            dists,
            images,
            downloads,
        }
    }

    pub(crate) fn layer_id(index: usize) -> String {
        format!("layer-{index}")
    }

    pub(crate) fn layer_name(&self, index: usize) -> String {
        let kind = self.layers.get(index).map_or("base", |l| l.kind.as_str());
        format!("layer {index} ({kind})")
    }
}
