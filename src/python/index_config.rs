//! Which package indexes a lock is made from, found without any address written in
//! the code: the requirements file's own options, then pip's environment variables
//! (`PIP_INDEX_URL`, `PIP_EXTRA_INDEX_URL`), then `[python]` in `airlock.toml`, then
//! pip's configuration files, in pip's own order; then what the base image's own pip
//! would use (its config's `PIP_INDEX_URL`/`PIP_EXTRA_INDEX_URL`, pip's configuration
//! files inside the base, the built-in default of the pip distribution installed in
//! it, read from its source). With none of these, a clear error.
//!
//! Credentials for an index without user info in its URL come from `.netrc`, as pip
//! reads them. Everything here is pure: files and variables arrive through closures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::index_url::{IndexUrl, IndexUrlError};

use crate::env_vars::{
    HOME, PIP_EXTRA_INDEX_URL, PIP_INDEX_URL, VIRTUAL_ENV, XDG_CONFIG_DIRS, XDG_CONFIG_HOME,
};
pub(super) use crate::env_vars::{NETRC, PIP_CONFIG_FILE};

/// Why no usable index configuration was found.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IndexConfigError {
    /// Nothing names an index.
    #[error("No Python package index is configured")]
    NoIndex,
    /// An index URL from a configuration source is not a URL.
    #[error("Invalid index URL in {source_name}")]
    Url {
        /// Where it was written (a file and key, or a variable).
        source_name: String,
        /// The cause (never the URL, which may hold credentials).
        #[source]
        source: IndexUrlError,
    },
}

/// Index URLs from one source, before precedence is applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IndexSource {
    /// The primary index, if this source names one.
    pub index_url: Option<IndexUrl>,
    /// Extra indexes, in order.
    pub extra_index_urls: Vec<IndexUrl>,
}

impl IndexSource {
    fn is_empty(&self) -> bool {
        self.index_url.is_none() && self.extra_index_urls.is_empty()
    }
}

/// The indexes a resolution reads, in order (primary first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexSelection {
    /// Every index, primary first, duplicates removed.
    pub indexes: Vec<IndexUrl>,
    /// Which source decided the primary index, for logs.
    pub origin: &'static str,
}

/// Applies precedence: each source is `(name, urls)`, most important first. The
/// primary index is the first source's that names one; extra indexes are the
/// requirements file's plus those of the first other source that has any.
pub(crate) fn select_indexes(
    requirements: IndexSource,
    others: Vec<(&'static str, IndexSource)>,
) -> Result<IndexSelection, IndexConfigError> {
    let mut origin = "requirements file";
    let mut primary = requirements.index_url.clone();
    if primary.is_none() {
        for (name, source) in &others {
            if let Some(url) = &source.index_url {
                primary = Some(url.clone());
                origin = name;
                break;
            }
        }
    }
    let primary = primary.ok_or(IndexConfigError::NoIndex)?;
    let mut indexes = vec![primary];
    let extras = requirements.extra_index_urls.into_iter().chain(
        others
            .into_iter()
            .map(|(_, s)| s)
            .find(|s| !s.is_empty() && !s.extra_index_urls.is_empty())
            .map(|s| s.extra_index_urls)
            .unwrap_or_default(),
    );
    for url in extras {
        if !indexes.contains(&url) {
            indexes.push(url);
        }
    }
    Ok(IndexSelection { indexes, origin })
}

/// pip's configuration files, in the order pip reads them (later files override
/// earlier ones): global (`$XDG_CONFIG_DIRS/pip/pip.conf`, `/etc/pip.conf`), user
/// (`~/.pip/pip.conf`, `$XDG_CONFIG_HOME/pip/pip.conf`), site (`$VIRTUAL_ENV/pip.conf`)
/// and `PIP_CONFIG_FILE`.
pub(crate) fn pip_config_files(env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    // pip loads no configuration file at all when this names the null device.
    if env(PIP_CONFIG_FILE).is_some_and(|v| v == "/dev/null") {
        return files;
    }
    let xdg_dirs = env(XDG_CONFIG_DIRS)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "/etc/xdg".to_string());
    for dir in xdg_dirs.split(':').filter(|d| !d.is_empty()) {
        files.push(Path::new(dir).join("pip/pip.conf"));
    }
    files.push(PathBuf::from("/etc/pip.conf"));
    if let Some(home) = env(HOME).filter(|h| !h.is_empty()) {
        files.push(Path::new(&home).join(".pip/pip.conf"));
        let config = env(XDG_CONFIG_HOME)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(&home).join(".config"));
        files.push(config.join("pip/pip.conf"));
    }
    if let Some(venv) = env(VIRTUAL_ENV).filter(|v| !v.is_empty()) {
        files.push(Path::new(&venv).join("pip.conf"));
    }
    if let Some(file) = env(PIP_CONFIG_FILE).filter(|v| !v.is_empty()) {
        files.push(PathBuf::from(file));
    }
    files
}

/// The index settings of pip's configuration files: `index-url` and
/// `extra-index-url` from `[global]`, overridden by `[install]`, later files winning.
/// `read` returns `None` for a file that does not exist.
pub(crate) fn pip_config_indexes(
    files: &[PathBuf],
    read: &dyn Fn(&Path) -> Option<String>,
) -> Result<IndexSource, IndexConfigError> {
    let [index_url, extra] = pip_config_values(files, read, ["index-url", "extra-index-url"]);
    let parse = |(name, value): &(String, String)| {
        IndexUrl::parse(value).map_err(|source| IndexConfigError::Url {
            source_name: name.clone(),
            source,
        })
    };
    let mut source = IndexSource {
        index_url: index_url.as_ref().map(parse).transpose()?,
        extra_index_urls: Vec::new(),
    };
    if let Some((name, value)) = &extra {
        for word in value.split_whitespace() {
            source
                .extra_index_urls
                .push(parse(&(name.clone(), word.to_string()))?);
        }
    }
    Ok(source)
}

/// The values pip takes for `keys` from its configuration `files` (in pip's order,
/// see [`pip_config_files`]), each file read once: `[global]`, overridden by
/// `[install]`, later files winning; each with where it came from
/// (`` `FILE` (section.key) ``). `read` returns `None` for a file that does not exist.
pub(crate) fn pip_config_values<const N: usize>(
    files: &[PathBuf],
    read: &dyn Fn(&Path) -> Option<String>,
    keys: [&str; N],
) -> [Option<(String, String)>; N] {
    let mut found: [Option<(String, String)>; N] = std::array::from_fn(|_| None);
    for file in files {
        let Some(text) = read(file) else { continue };
        for section in ["global", "install"] {
            for (key, slot) in keys.iter().zip(found.iter_mut()) {
                if let Some(v) = ini_value(&text, section, key) {
                    *slot = Some((format!("`{}` ({section}.{key})", file.display()), v));
                }
            }
        }
    }
    found
}

/// The value of `key` in `[section]` of an INI text as Python's configparser reads
/// it: `key = value` or `key: value`, `-` and `_` alike, indented lines continue
/// the value, `#` and `;` start comment lines.
fn ini_value(text: &str, section: &str, key: &str) -> Option<String> {
    let norm = |k: &str| k.trim().to_ascii_lowercase().replace('_', "-");
    let mut in_section = false;
    let mut found: Option<String> = None;
    let mut continuing = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            in_section = name.trim() == section;
            continuing = false;
            continue;
        }
        if !in_section {
            continue;
        }
        if continuing && line.starts_with([' ', '\t']) && !trimmed.is_empty() {
            if let Some(value) = &mut found {
                value.push('\n');
                value.push_str(trimmed);
            }
            continue;
        }
        continuing = false;
        if let Some((k, v)) = trimmed.split_once(['=', ':'])
            && norm(k) == key
        {
            found = Some(v.trim().to_string());
            continuing = true;
        }
    }
    found
}

/// The default index of a pip distribution, read from its `pip/_internal/models/index.py`:
/// the URL `PyPI = …(` is made with, joined with the path its `simple_url` is made
/// from. `None` when the source does not have that shape.
pub(super) fn pip_default_index(source: &str) -> Option<String> {
    let at = source.lines().scan(0usize, |offset, line| {
        let start = *offset;
        *offset += line.len() + 1;
        Some((start, line))
    });
    let (start, _) = at
        .filter(|(_, line)| {
            line.strip_prefix("PyPI")
                .map(str::trim_start)
                .is_some_and(|rest| rest.starts_with('=') && !rest.starts_with("=="))
        })
        .last()?;
    let root = first_string_literal(source.get(start..)?)?;
    let simple = source
        .lines()
        .find(|line| line.trim_start().starts_with("self.simple_url"))
        .and_then(first_string_literal)?;
    let url = url::Url::parse(&root).ok()?.join(&simple).ok()?;
    Some(url.to_string())
}

/// The first `'…'` or `"…"` literal in `text` (no escapes inside).
fn first_string_literal(text: &str) -> Option<String> {
    let open = text.find(['"', '\''])?;
    let quote = text[open..].chars().next()?;
    let body = &text[open + 1..];
    let close = body.find(quote)?;
    Some(body[..close].to_string())
}

/// What a base image says about the index its own pip would use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BasePip<'a> {
    /// The image config's `Env` (`NAME=value`).
    pub env: &'a [String],
    /// The home directory of the user the install runs as (when `HOME` is not set).
    pub home: Option<&'a str>,
    /// Files of the base by path without the leading `/` (pip's configuration files
    /// among them).
    pub files: &'a BTreeMap<String, String>,
    /// The source of the installed pip's `pip/_internal/models/index.py`.
    pub pip_source: Option<&'a str>,
}

/// The base image's own index sources, most important first: its config's
/// `PIP_INDEX_URL`/`PIP_EXTRA_INDEX_URL`, pip's configuration files inside it (in pip's
/// order, with the base's environment), then the installed pip's built-in default.
pub(crate) fn base_index_sources(
    base: &BasePip<'_>,
) -> Result<Vec<(&'static str, IndexSource)>, IndexConfigError> {
    let get = |name: &str| {
        base.env.iter().rev().find_map(|kv| {
            kv.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('='))
                .map(str::to_string)
        })
    };
    let parse = |what: String, value: &str| {
        IndexUrl::parse(value).map_err(|source| IndexConfigError::Url {
            source_name: what,
            source,
        })
    };
    let from_env = IndexSource {
        index_url: get(PIP_INDEX_URL)
            .filter(|v| !v.trim().is_empty())
            .map(|v| parse(format!("the base image's `{PIP_INDEX_URL}`"), &v))
            .transpose()?,
        extra_index_urls: get(PIP_EXTRA_INDEX_URL)
            .unwrap_or_default()
            .split_whitespace()
            .map(|v| parse(format!("the base image's `{PIP_EXTRA_INDEX_URL}`"), v))
            .collect::<Result<_, _>>()?,
    };
    let env_with_home = |name: &str| {
        get(name).or_else(|| {
            (name == HOME)
                .then(|| base.home.map(str::to_string))
                .flatten()
        })
    };
    let files = pip_config_files(&env_with_home);
    let read = |path: &Path| {
        let key = path.to_str()?.trim_start_matches('/');
        base.files.get(key).cloned()
    };
    let from_files = pip_config_indexes(&files, &read).map_err(|e| match e {
        IndexConfigError::Url {
            source_name,
            source,
        } => IndexConfigError::Url {
            source_name: format!("the base image's {source_name}"),
            source,
        },
        other => other,
    })?;
    let default = IndexSource {
        index_url: base
            .pip_source
            .and_then(pip_default_index)
            .map(|v| {
                parse(
                    "the base image's pip (its built-in default index)".into(),
                    &v,
                )
            })
            .transpose()?,
        extra_index_urls: Vec::new(),
    };
    Ok(vec![
        ("the base image's environment", from_env),
        ("the base image's pip configuration", from_files),
        ("the base image's pip default", default),
    ])
}

/// `.netrc` location: `NETRC`, else `~/.netrc`.
pub(crate) fn netrc_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env(NETRC)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| env(HOME).map(|h| Path::new(&h).join(".netrc")))
}

/// `(login, password)` for `host` from a `.netrc` text (`default` as fallback).
pub(super) fn netrc_credentials(text: &str, host: &str) -> Option<(String, String)> {
    // (machine, or `None` for `default`; login; password)
    let mut entries: Vec<(Option<String>, String, Option<String>)> = Vec::new();
    let mut tokens = text.split_whitespace();
    while let Some(token) = tokens.next() {
        match token {
            "machine" => entries.push((tokens.next().map(str::to_string), String::new(), None)),
            "default" => entries.push((None, String::new(), None)),
            "login" | "password" | "account" => {
                let value = tokens.next().map(str::to_string);
                if let Some(entry) = entries.last_mut() {
                    match token {
                        "login" => entry.1 = value.unwrap_or_default(),
                        "password" => entry.2 = value,
                        _ => {}
                    }
                }
            }
            // A macro runs to the next blank line; nothing after it is read.
            "macdef" => break,
            _ => {}
        }
    }
    let pick = |wanted: Option<&str>| {
        entries
            .iter()
            .find(|(machine, _, _)| machine.as_deref() == wanted)
            .and_then(|(_, login, password)| Some((login.clone(), password.clone()?)))
    };
    pick(Some(host)).or_else(|| pick(None))
}

/// Adds `.netrc` credentials to every index without user info whose host it names.
pub(crate) fn with_netrc(indexes: Vec<IndexUrl>, netrc: Option<&str>) -> Vec<IndexUrl> {
    let Some(text) = netrc else { return indexes };
    indexes
        .into_iter()
        .map(|index| {
            if index.has_credentials() {
                return index;
            }
            let Some(host) = index.url().host_str() else {
                return index;
            };
            let Some((login, password)) = netrc_credentials(text, host) else {
                return index;
            };
            let mut url = index.url().clone();
            if url.set_username(&login).is_err() || url.set_password(Some(&password)).is_err() {
                return index;
            }
            IndexUrl::from_url(url).unwrap_or(index)
        })
        .collect()
}

impl crate::hint::Hint for IndexConfigError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::NoIndex => vec![
                "Name an index in one of: `--index-url URL` in requirements.txt, \
                 `index-url = \"URL\"` under `[python]` in airlock.toml, the `PIP_INDEX_URL` \
                 environment variable, or `index-url` in pip's configuration \
                 (`pip config set global.index-url URL`), or in the base image (its \
                 `PIP_INDEX_URL`, its `/etc/pip.conf`, or a pip installed in it); \
                 `airlock init` records the one the host's pip uses"
                    .to_string(),
            ],
            Self::Url { .. } => vec!["An index URL looks like `https://host/simple/`".into()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> IndexUrl {
        IndexUrl::parse(s).expect("url")
    }

    #[test]
    fn precedence_requirements_then_environment_then_settings_then_pip() {
        let reqs = IndexSource {
            index_url: None,
            extra_index_urls: vec![url("http://127.0.0.1/extra-file/")],
        };
        let env = IndexSource {
            index_url: Some(url("http://127.0.0.1/env/")),
            extra_index_urls: vec![],
        };
        let toml = IndexSource {
            index_url: Some(url("http://127.0.0.1/toml/")),
            extra_index_urls: vec![url("http://127.0.0.1/extra-toml/")],
        };
        let selection = select_indexes(
            reqs.clone(),
            vec![("environment", env.clone()), ("airlock.toml", toml.clone())],
        )
        .expect("selection");
        assert_eq!(selection.origin, "environment");
        let shown: Vec<String> = selection.indexes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "http://127.0.0.1/env/",
                "http://127.0.0.1/extra-file/",
                "http://127.0.0.1/extra-toml/"
            ]
        );
        let file = IndexSource {
            index_url: Some(url("http://127.0.0.1/file/")),
            extra_index_urls: vec![],
        };
        let selection = select_indexes(file, vec![("environment", env)]).expect("selection");
        assert_eq!(selection.indexes[0].to_string(), "http://127.0.0.1/file/");
        assert_eq!(
            select_indexes(IndexSource::default(), vec![("x", IndexSource::default())]),
            Err(IndexConfigError::NoIndex)
        );
    }

    #[test]
    fn pip_config_files_in_pips_order() {
        let env = |name: &str| match name {
            "HOME" => Some("/home/u".to_string()),
            "VIRTUAL_ENV" => Some("/venv".to_string()),
            "PIP_CONFIG_FILE" => Some("/x/pip.ini".to_string()),
            _ => None,
        };
        let files: Vec<String> = pip_config_files(&env)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            files,
            [
                "/etc/xdg/pip/pip.conf",
                "/etc/pip.conf",
                "/home/u/.pip/pip.conf",
                "/home/u/.config/pip/pip.conf",
                "/venv/pip.conf",
                "/x/pip.ini"
            ]
        );
    }

    #[test]
    fn reads_pip_ini_files_later_wins_install_overrides_global() {
        let files = vec![PathBuf::from("/a"), PathBuf::from("/b")];
        let read = |p: &Path| {
            match p.to_str() {
            Some("/a") => Some(
                "[global]\nindex_url = http://127.0.0.1/a/\n\n[install]\n; c\nextra-index-url =\n    http://127.0.0.1/x/\n    http://127.0.0.1/y/\n"
                    .to_string(),
            ),
            Some("/b") => Some("[global]\nindex-url: http://127.0.0.1/b/\ntimeout = 3\n".into()),
            _ => None,
        }
        };
        let source = pip_config_indexes(&files, &read).expect("config");
        assert_eq!(
            source.index_url.map(|u| u.to_string()).as_deref(),
            Some("http://127.0.0.1/b/")
        );
        assert_eq!(source.extra_index_urls.len(), 2);
        let bad = |_: &Path| Some("[global]\nindex-url = ftp://u:s3cr3t@h/\n".to_string());
        let err = pip_config_indexes(&files, &bad).expect_err("bad url");
        assert!(!format!("{err:?}").contains("s3cr3t"));
    }

    #[test]
    fn astro_9_pip_default_read_from_pips_source() {
        let source = "import urllib.parse\n\nclass PackageIndex:\n    def __init__(self, url, file_storage_domain):\n        self.url = url\n        self.simple_url = self._url_for_path(\"simple\")\n\n    def _url_for_path(self, path):\n        return urllib.parse.urljoin(self.url, path)\n\n\nPyPI = PackageIndex(\n    'http://127.0.0.1:8080/', file_storage_domain=\"127.0.0.1\"\n)\nTestPyPI = PackageIndex(\"http://127.0.0.1:9/\", file_storage_domain=\"x\")\n";
        assert_eq!(
            pip_default_index(source).as_deref(),
            Some("http://127.0.0.1:8080/simple")
        );
        assert_eq!(pip_default_index("PyPI == 1\n"), None);
        assert_eq!(pip_default_index("x = 1\n"), None);
    }

    #[test]
    fn astro_9_base_sources_in_pips_order() {
        let files: BTreeMap<String, String> = [
            (
                "etc/pip.conf",
                "[global]\nindex-url = http://127.0.0.1/etc/\n",
            ),
            (
                "home/astro/.config/pip/pip.conf",
                "[install]\nindex-url = http://127.0.0.1/user/\n",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let env = vec![
            "PATH=/usr/bin".to_string(),
            "PIP_EXTRA_INDEX_URL=http://127.0.0.1/extra/".to_string(),
        ];
        let shown = |sources: &[(&str, IndexSource)]| -> Vec<Option<String>> {
            sources
                .iter()
                .map(|(_, s)| s.index_url.as_ref().map(ToString::to_string))
                .collect()
        };
        let base = BasePip {
            env: &env,
            home: Some("/home/astro"),
            files: &files,
            pip_source: Some(
                "PyPI = X('http://127.0.0.1/pip/')\n    self.simple_url = f('simple')\n",
            ),
        };
        let sources = base_index_sources(&base).expect("sources");
        assert_eq!(
            shown(&sources),
            [
                None,
                Some("http://127.0.0.1/user/".to_string()),
                Some("http://127.0.0.1/pip/simple".to_string())
            ]
        );
        assert_eq!(sources[0].1.extra_index_urls.len(), 1);
        // Without a home only the global file counts; `/dev/null` turns files off.
        let sources = base_index_sources(&BasePip { home: None, ..base }).expect("sources");
        assert_eq!(
            sources[1]
                .1
                .index_url
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            Some("http://127.0.0.1/etc/")
        );
        let off = vec!["PIP_CONFIG_FILE=/dev/null".to_string()];
        let sources = base_index_sources(&BasePip { env: &off, ..base }).expect("sources");
        assert_eq!(sources[1].1.index_url, None);
        let bad = vec!["PIP_INDEX_URL=ftp://u:s3cr3t@h/".to_string()];
        let err = base_index_sources(&BasePip { env: &bad, ..base }).expect_err("bad");
        assert!(err.to_string().contains("base image"), "{err}");
        assert!(!format!("{err:?}").contains("s3cr3t"));
    }

    #[test]
    fn netrc_fills_in_credentials_by_host() {
        let text = "machine other login a password b\nmachine 127.0.0.1\n  login user\n  password s3cr3t\ndefault login anon password guest\n";
        assert_eq!(
            netrc_credentials(text, "127.0.0.1"),
            Some(("user".into(), "s3cr3t".into()))
        );
        assert_eq!(
            netrc_credentials(text, "elsewhere"),
            Some(("anon".into(), "guest".into()))
        );
        assert_eq!(netrc_credentials("machine x login a password b", "y"), None);
        let indexes = with_netrc(
            vec![
                url("http://127.0.0.1/simple/"),
                url("http://t@other/simple/"),
            ],
            Some(text),
        );
        assert_eq!(indexes[0].url().password(), Some("s3cr3t"));
        assert_eq!(indexes[0].to_string(), "http://****@127.0.0.1/simple/");
        assert_eq!(indexes[1].url().username(), "t");
    }
}
