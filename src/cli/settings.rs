//! The settings a command runs with, resolved once before any work starts: the
//! global flags, the environment and the `airlock.toml` that applies.
//!
//! Every command that reads `airlock.toml` reads it here, so a file that does not
//! parse is one error naming the file and the line, whatever the command.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::args::GlobalArgs;
use crate::env_vars;
use crate::pipeline::CacheOptions;
use crate::project::{ProjectError, Settings};
use crate::registry::RemoteOptions;

/// One command's resolved settings.
#[derive(Debug)]
pub(super) struct Resolved {
    /// The content store: `--cache-dir` (or `AIRLOCK_CACHE_DIR`), else the user's
    /// cache directory.
    pub store_dir: PathBuf,
    /// The directory whose `airlock.toml` applies; its relative paths are relative to it.
    pub root: PathBuf,
    /// That `airlock.toml`, or the defaults when there is none or the command reads none.
    pub file: Settings,
    /// `SOURCE_DATE_EPOCH` for the commands that build ([`Resolved::with_source_date_epoch`]), else 0.
    pub source_date_epoch: u64,
    insecure: Vec<String>,
    ca_files: Vec<PathBuf>,
}

impl Resolved {
    /// For a command that reads no `airlock.toml`.
    pub(super) fn global(global: &GlobalArgs) -> Self {
        Self {
            store_dir: store_dir(global),
            root: PathBuf::from("."),
            file: Settings::default(),
            source_date_epoch: 0,
            insecure: global.insecure_registries.clone(),
            ca_files: global.ca_file.clone(),
        }
    }

    /// For a command on the project `dir`: its `airlock.toml` is read (absent is the
    /// defaults; unreadable or invalid is an error naming the file and the line).
    pub(super) fn project(global: &GlobalArgs, dir: &Path) -> Result<Self, ProjectError> {
        Ok(Self {
            root: dir.to_path_buf(),
            file: read_settings(dir)?,
            ..Self::global(global)
        })
    }

    /// Adds `SOURCE_DATE_EPOCH`, for the commands that build.
    pub(super) fn with_source_date_epoch(self) -> anyhow::Result<Self> {
        Ok(Self {
            source_date_epoch: source_date_epoch()?,
            ..self
        })
    }

    /// Registry options from the flags alone, for the library entries that read the
    /// project themselves and add its `[registry]` (build, lock, deploy).
    pub(super) fn flags_remote(&self, offline: bool) -> RemoteOptions {
        RemoteOptions {
            insecure: self.insecure.clone(),
            ca_files: self.ca_files.clone(),
            offline,
            ..RemoteOptions::default()
        }
    }

    /// Registry options: the flags, then the `[registry]` of `airlock.toml`.
    pub(super) fn remote(&self, offline: bool) -> RemoteOptions {
        self.flags_remote(offline)
            .with_settings(&self.file.registry, &self.root)
    }
}

impl Resolved {
    /// The registry layer cache: each of `from` and `to` from the flags when given,
    /// else from `AIRLOCK_CACHE_FROM` / `AIRLOCK_CACHE_TO` (comma- or
    /// space-separated) when set and not empty, else from `[cache]` of `airlock.toml`.
    pub(super) fn cache(
        &self,
        from: &[String],
        to: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> CacheOptions {
        let env = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        let from = if !from.is_empty() {
            from.to_vec()
        } else if let Some(value) = env(env_vars::AIRLOCK_CACHE_FROM) {
            value
                .split([',', ' ', '\n', '\t'])
                .filter(|part| !part.is_empty())
                .map(str::to_string)
                .collect()
        } else {
            self.file.cache.from.clone()
        };
        let to = to
            .map(str::to_string)
            .or_else(|| env(env_vars::AIRLOCK_CACHE_TO).map(|value| value.trim().to_string()))
            .or_else(|| self.file.cache.to.clone());
        CacheOptions { from, to }
    }
}

/// `dir/airlock.toml`, or the defaults when there is none (or `dir` is no directory:
/// the command then says so itself).
fn read_settings(dir: &Path) -> Result<Settings, ProjectError> {
    let path = dir.join("airlock.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            Settings::parse(&text).map_err(|source| ProjectError::Settings { path, source })
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(Settings::default())
        }
        Err(source) => Err(ProjectError::Io { path, source }),
    }
}

fn store_dir(global: &GlobalArgs) -> PathBuf {
    global
        .cache_dir
        .clone()
        .unwrap_or_else(|| crate::store::default_cache_dir(&|name| std::env::var(name).ok()))
}

/// `SOURCE_DATE_EPOCH` as Unix seconds; unset or empty means 0.
fn source_date_epoch() -> anyhow::Result<u64> {
    match std::env::var(env_vars::SOURCE_DATE_EPOCH) {
        Ok(text) if !text.trim().is_empty() => text.trim().parse().with_context(|| {
            format!("`SOURCE_DATE_EPOCH` must be whole Unix seconds, got `{text}`")
        }),
        _ => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_airlock_toml_names_the_file_and_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("airlock.toml"),
            "[registry]\ninsecure = 1\n",
        )
        .expect("write");
        let err = read_settings(dir.path()).expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("airlock.toml"), "{text}");
        assert!(text.contains("line 2"), "{text}");
    }

    #[test]
    fn no_airlock_toml_is_the_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = read_settings(dir.path()).expect("defaults");
        assert!(settings.deployments.is_empty());
        let file = dir.path().join("file");
        std::fs::write(&file, "").expect("write");
        assert!(
            read_settings(&file).is_ok(),
            "a file is left to the command"
        );
    }

    #[test]
    fn cache_settings_are_the_flags_then_the_environment_then_airlock_toml() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("airlock.toml"),
            "[cache]\nfrom = [\"127.0.0.1:5000/file-a\", \"127.0.0.1:5000/file-b\"]\nto = \"127.0.0.1:5000/file-to\"\n",
        )
        .expect("write");
        let global = GlobalArgs {
            quiet: false,
            verbose: 0,
            cache_dir: None,
            ca_file: Vec::new(),
            insecure_registries: Vec::new(),
        };
        let resolved = Resolved::project(&global, dir.path()).expect("valid");
        let no_env = |_: &str| None;
        let file = resolved.cache(&[], None, &no_env);
        assert_eq!(
            file.from,
            ["127.0.0.1:5000/file-a", "127.0.0.1:5000/file-b"]
        );
        assert_eq!(file.to.as_deref(), Some("127.0.0.1:5000/file-to"));
        let env = |name: &str| match name {
            "AIRLOCK_CACHE_FROM" => Some("127.0.0.1:5000/env-a, 127.0.0.1:5000/env-b".into()),
            "AIRLOCK_CACHE_TO" => Some("127.0.0.1:5000/env-to".into()),
            _ => None,
        };
        let from_env = resolved.cache(&[], None, &env);
        assert_eq!(
            from_env.from,
            ["127.0.0.1:5000/env-a", "127.0.0.1:5000/env-b"]
        );
        assert_eq!(from_env.to.as_deref(), Some("127.0.0.1:5000/env-to"));
        let flags = resolved.cache(
            &["127.0.0.1:5000/flag".into()],
            Some("127.0.0.1:5000/flag-to"),
            &env,
        );
        assert_eq!(flags.from, ["127.0.0.1:5000/flag"]);
        assert_eq!(flags.to.as_deref(), Some("127.0.0.1:5000/flag-to"));
        let empty_env = |_: &str| Some(" ".to_string());
        assert_eq!(resolved.cache(&[], None, &empty_env), file);
    }

    #[test]
    fn the_registry_settings_follow_the_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("airlock.toml"),
            "[registry]\ndefault = \"127.0.0.1:5000\"\ninsecure = [\"127.0.0.1:5001\"]\n",
        )
        .expect("write");
        let global = GlobalArgs {
            quiet: false,
            verbose: 0,
            cache_dir: Some(dir.path().join("cache")),
            ca_file: Vec::new(),
            insecure_registries: vec!["127.0.0.1:5002".into()],
        };
        let resolved = Resolved::project(&global, dir.path()).expect("valid");
        assert_eq!(resolved.store_dir, dir.path().join("cache"));
        let remote = resolved.remote(true);
        assert_eq!(remote.default_registry.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(remote.insecure, ["127.0.0.1:5002", "127.0.0.1:5001"]);
        assert!(remote.offline);
        let flags = resolved.flags_remote(false);
        assert_eq!(flags.default_registry, None);
        assert_eq!(flags.insecure, ["127.0.0.1:5002"]);
    }
}
