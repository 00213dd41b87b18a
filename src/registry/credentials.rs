//! Where registry credentials come from, and `login` / `logout`.
//!
//! Order, first match wins: `AIRLOCK_REGISTRY_USER` + `AIRLOCK_REGISTRY_PASSWORD` or
//! `AIRLOCK_REGISTRY_TOKEN`; podman's `auth.json` (`REGISTRY_AUTH_FILE`, else
//! `$XDG_RUNTIME_DIR/containers/auth.json`); Docker's `config.json` (`DOCKER_CONFIG`,
//! else `~/.docker`), where `credHelpers` beats `credsStore` beats `auths`; else
//! anonymous. Secrets live in [`Secret`], whose `Debug` never shows them.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use crate::env_vars;

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("Cannot read credentials file `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("Credentials file `{}` is not valid JSON", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("Credentials file `{}` has an invalid `auth` entry for `{registry}`", path.display())]
    BadAuthEntry { path: PathBuf, registry: String },
    #[error("Cannot write credentials file `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("Cannot run credential helper `{helper}`")]
    HelperSpawn {
        helper: String,
        #[source]
        source: io::Error,
    },
    #[error("Credential helper `{helper}` failed: {message}")]
    HelperFailed { helper: String, message: String },
    #[error("Credential helper `{helper}` printed an answer that is not valid JSON")]
    HelperOutput { helper: String },
    #[error("`{0}` is set but `{1}` is not; set both")]
    IncompleteEnv(&'static str, &'static str),
    #[error("No home directory: set `HOME` or `DOCKER_CONFIG`")]
    NoHome,
}

/// A secret string: a password or a token. `Debug` prints no part of it, and it has
/// no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How to authenticate to one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Anonymous,
    Basic {
        username: String,
        password: Secret,
    },
    /// An OAuth2 refresh token (Docker's `identitytoken`), exchanged at the token realm.
    IdentityToken(Secret),
    /// A registry bearer token, sent as is.
    Bearer(Secret),
}

/// Something that knows the credential for a registry (`host[:port]`).
pub trait CredentialSource: Send + Sync {
    fn credential(&self, registry: &str) -> Result<Credential, CredentialsError>;
}

/// Fixed credentials per registry; anonymous elsewhere. For tests and CLI flags.
#[derive(Debug, Clone, Default)]
pub struct StaticCredentials(pub HashMap<String, Credential>);

impl CredentialSource for StaticCredentials {
    fn credential(&self, registry: &str) -> Result<Credential, CredentialsError> {
        Ok(self
            .0
            .get(registry)
            .cloned()
            .unwrap_or(Credential::Anonymous))
    }
}

/// The environment credentials are looked up in, captured once so that tests can
/// build their own.
#[derive(Debug, Clone, Default)]
pub(crate) struct CredentialEnv {
    pub docker_config_dir: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub registry_auth_file: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub token: Option<Secret>,
    /// Where `docker-credential-*` programs are; `None` searches `PATH`.
    pub helper_dir: Option<PathBuf>,
}

impl CredentialEnv {
    pub(crate) fn from_process() -> Self {
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let text = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            docker_config_dir: path(env_vars::DOCKER_CONFIG),
            home: path(env_vars::HOME),
            registry_auth_file: path(env_vars::REGISTRY_AUTH_FILE),
            xdg_runtime_dir: path(env_vars::XDG_RUNTIME_DIR),
            user: text(env_vars::AIRLOCK_REGISTRY_USER),
            password: text(env_vars::AIRLOCK_REGISTRY_PASSWORD).map(Secret::new),
            token: text(env_vars::AIRLOCK_REGISTRY_TOKEN).map(Secret::new),
            helper_dir: None,
        }
    }
}

/// Credentials from the environment, podman's and Docker's files and helpers.
#[derive(Debug, Clone)]
pub(crate) struct CredentialStore {
    env: CredentialEnv,
}

impl CredentialStore {
    pub(crate) fn new(env: CredentialEnv) -> Self {
        Self { env }
    }

    /// Docker's `config.json`, where `login` writes.
    pub(crate) fn docker_config_path(&self) -> Result<PathBuf, CredentialsError> {
        match (&self.env.docker_config_dir, &self.env.home) {
            (Some(dir), _) => Ok(dir.join("config.json")),
            (None, Some(home)) => Ok(home.join(".docker").join("config.json")),
            (None, None) => Err(CredentialsError::NoHome),
        }
    }

    fn podman_auth_path(&self) -> Option<PathBuf> {
        self.env.registry_auth_file.clone().or_else(|| {
            self.env
                .xdg_runtime_dir
                .as_ref()
                .map(|dir| dir.join("containers").join("auth.json"))
        })
    }

    /// Stores a user name and password for `registry` the way Docker does: through the
    /// configured credential helper, else base64 in `auths`. The file is written
    /// atomically with mode 0600.
    pub(crate) fn login(
        &self,
        registry: &str,
        username: &str,
        password: &Secret,
    ) -> Result<PathBuf, CredentialsError> {
        let path = self.docker_config_path()?;
        let mut config = read_json(&path)?.unwrap_or_default();
        if let Some(helper) = helper_for(&config, registry) {
            let input = serde_json::json!({
                "ServerURL": registry,
                "Username": username,
                "Secret": password.expose(),
            });
            self.run_helper(&helper, "store", &input.to_string())?;
            remove_auth_entries(&mut config, registry);
        } else {
            remove_auth_entries(&mut config, registry);
            let encoded = BASE64.encode(format!("{username}:{}", password.expose()));
            let auths = config
                .entry("auths")
                .or_insert_with(|| Value::Object(Map::new()));
            if !auths.is_object() {
                *auths = Value::Object(Map::new());
            }
            if let Some(auths) = auths.as_object_mut() {
                auths.insert(registry.to_string(), serde_json::json!({ "auth": encoded }));
            }
        }
        write_json_atomically(&path, &config)?;
        Ok(path)
    }

    /// Forgets the credentials for `registry`; returns whether there were any.
    pub(crate) fn logout(&self, registry: &str) -> Result<bool, CredentialsError> {
        let path = self.docker_config_path()?;
        let Some(mut config) = read_json(&path)? else {
            return Ok(false);
        };
        let mut removed = false;
        if let Some(helper) = helper_for(&config, registry) {
            match self.run_helper(&helper, "erase", registry) {
                Ok(_) => removed = true,
                Err(CredentialsError::HelperFailed { message, .. }) if is_not_found(&message) => {}
                Err(error) => return Err(error),
            }
        }
        if remove_auth_entries(&mut config, registry) {
            removed = true;
            write_json_atomically(&path, &config)?;
        }
        Ok(removed)
    }

    fn lookup_file(
        &self,
        path: &Path,
        registry: &str,
    ) -> Result<Option<Credential>, CredentialsError> {
        let Some(config) = read_json(path)? else {
            return Ok(None);
        };
        if let Some(helper) = helper_for(&config, registry)
            && let Some(credential) = self.helper_get(&helper, registry)?
        {
            return Ok(Some(credential));
        }
        let Some(auths) = config.get("auths").and_then(Value::as_object) else {
            return Ok(None);
        };
        for (key, entry) in auths {
            if normalize_key(key) != registry {
                continue;
            }
            if let Some(token) = entry.get("identitytoken").and_then(Value::as_str)
                && !token.is_empty()
            {
                return Ok(Some(Credential::IdentityToken(Secret::new(token))));
            }
            let bad = || CredentialsError::BadAuthEntry {
                path: path.to_path_buf(),
                registry: registry.to_string(),
            };
            if let Some(auth) = entry.get("auth").and_then(Value::as_str)
                && !auth.is_empty()
            {
                let decoded = BASE64.decode(auth.trim()).map_err(|_| bad())?;
                let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
                let (username, password) = decoded.split_once(':').ok_or_else(bad)?;
                return Ok(Some(Credential::Basic {
                    username: username.to_string(),
                    password: Secret::new(password),
                }));
            }
        }
        Ok(None)
    }

    fn helper_get(
        &self,
        helper: &str,
        registry: &str,
    ) -> Result<Option<Credential>, CredentialsError> {
        let output = match self.run_helper(helper, "get", registry) {
            Ok(output) => output,
            Err(CredentialsError::HelperFailed { message, .. }) if is_not_found(&message) => {
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(rename = "Username", default)]
            username: String,
            #[serde(rename = "Secret", default)]
            secret: String,
        }
        let answer: Answer =
            serde_json::from_str(&output).map_err(|_| CredentialsError::HelperOutput {
                helper: helper_program(helper),
            })?;
        if answer.secret.is_empty() {
            return Ok(None);
        }
        if answer.username == "<token>" {
            return Ok(Some(Credential::IdentityToken(Secret::new(answer.secret))));
        }
        Ok(Some(Credential::Basic {
            username: answer.username,
            password: Secret::new(answer.secret),
        }))
    }

    /// Runs `docker-credential-<helper> <action>` with `input` on stdin.
    fn run_helper(
        &self,
        helper: &str,
        action: &str,
        input: &str,
    ) -> Result<String, CredentialsError> {
        let program = helper_program(helper);
        let path = match &self.env.helper_dir {
            Some(dir) => dir.join(&program),
            None => PathBuf::from(&program),
        };
        tracing::debug!(%program, action, "running credential helper");
        let spawn_error = |source| CredentialsError::HelperSpawn {
            helper: program.clone(),
            source,
        };
        let mut child = Command::new(path)
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes()).map_err(spawn_error)?;
        }
        let output = child.wait_with_output().map_err(spawn_error)?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            // Helpers report "credentials not found" on stdout; other text is an error
            // message and never a secret.
            let stderr = String::from_utf8_lossy(&output.stderr);
            let message = format!("{} {}", stdout.trim(), stderr.trim());
            return Err(CredentialsError::HelperFailed {
                helper: program,
                message: message.trim().chars().take(300).collect(),
            });
        }
        Ok(stdout)
    }
}

impl CredentialSource for CredentialStore {
    fn credential(&self, registry: &str) -> Result<Credential, CredentialsError> {
        match (&self.env.user, &self.env.password) {
            (Some(user), Some(password)) => {
                return Ok(Credential::Basic {
                    username: user.clone(),
                    password: password.clone(),
                });
            }
            (Some(_), None) => {
                return Err(CredentialsError::IncompleteEnv(
                    env_vars::AIRLOCK_REGISTRY_USER,
                    env_vars::AIRLOCK_REGISTRY_PASSWORD,
                ));
            }
            (None, Some(_)) => {
                return Err(CredentialsError::IncompleteEnv(
                    env_vars::AIRLOCK_REGISTRY_PASSWORD,
                    env_vars::AIRLOCK_REGISTRY_USER,
                ));
            }
            (None, None) => {}
        }
        if let Some(token) = &self.env.token {
            return Ok(Credential::Bearer(token.clone()));
        }
        if let Some(path) = self.podman_auth_path()
            && let Some(credential) = self.lookup_file(&path, registry)?
        {
            return Ok(credential);
        }
        if let Ok(path) = self.docker_config_path()
            && let Some(credential) = self.lookup_file(&path, registry)?
        {
            return Ok(credential);
        }
        Ok(Credential::Anonymous)
    }
}

fn helper_program(helper: &str) -> String {
    format!("docker-credential-{helper}")
}

fn is_not_found(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("credentials not found")
}

/// `credHelpers[registry]`, else `credsStore`.
fn helper_for(config: &Map<String, Value>, registry: &str) -> Option<String> {
    let specific = config
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|helpers| {
            helpers
                .iter()
                .find(|(key, _)| normalize_key(key) == registry)
                .and_then(|(_, helper)| helper.as_str())
        });
    specific
        .or_else(|| config.get("credsStore").and_then(Value::as_str))
        .filter(|helper| !helper.is_empty())
        .map(str::to_string)
}

/// `auths` keys may be URLs (`https://host/v1/`); compare by `host[:port]`.
fn normalize_key(key: &str) -> &str {
    let without_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    without_scheme
        .split_once('/')
        .map_or(without_scheme, |(host, _)| host)
}

fn remove_auth_entries(config: &mut Map<String, Value>, registry: &str) -> bool {
    let Some(auths) = config.get_mut("auths").and_then(Value::as_object_mut) else {
        return false;
    };
    let before = auths.len();
    auths.retain(|key, _| normalize_key(key) != registry);
    auths.len() != before
}

fn read_json(path: &Path) -> Result<Option<Map<String, Value>>, CredentialsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CredentialsError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if text.trim().is_empty() {
        return Ok(Some(Map::new()));
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| CredentialsError::Parse {
            path: path.to_path_buf(),
            source,
        })
}

/// Writes to a 0600 temp file beside `path`, then renames it over `path`.
fn write_json_atomically(path: &Path, config: &Map<String, Value>) -> Result<(), CredentialsError> {
    let write_error = |source| CredentialsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(write_error)?;
    let mut file = tempfile::Builder::new()
        .prefix(".config.json.")
        .tempfile_in(dir)
        .map_err(write_error)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(write_error)?;
    }
    let mut text = serde_json::to_string_pretty(config)
        .map_err(io::Error::other)
        .map_err(write_error)?;
    text.push('\n');
    file.write_all(text.as_bytes()).map_err(write_error)?;
    file.as_file().sync_all().map_err(write_error)?;
    file.persist(path)
        .map_err(|error| write_error(error.error))?;
    Ok(())
}

impl crate::hint::Hint for CredentialsError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Read { .. }
            | Self::Parse { .. }
            | Self::BadAuthEntry { .. }
            | Self::Write { .. }
            | Self::HelperSpawn { .. }
            | Self::HelperFailed { .. }
            | Self::HelperOutput { .. }
            | Self::IncompleteEnv(..)
            | Self::NoHome => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_in(dir: &Path) -> CredentialStore {
        CredentialStore::new(CredentialEnv {
            docker_config_dir: Some(dir.join("docker")),
            helper_dir: Some(dir.to_path_buf()),
            ..CredentialEnv::default()
        })
    }

    #[test]
    fn login_then_lookup_then_logout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_in(dir.path());
        assert_eq!(
            store.credential("127.0.0.1:5000").expect("lookup"),
            Credential::Anonymous
        );
        let path = store
            .login("127.0.0.1:5000", "ci", &Secret::new("s3cret"))
            .expect("login");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            store.credential("127.0.0.1:5000").expect("lookup"),
            Credential::Basic {
                username: "ci".into(),
                password: Secret::new("s3cret")
            }
        );
        assert!(store.logout("127.0.0.1:5000").expect("logout"));
        assert!(!store.logout("127.0.0.1:5000").expect("logout"));
        assert_eq!(
            store.credential("127.0.0.1:5000").expect("lookup"),
            Credential::Anonymous
        );
    }

    #[test]
    fn reads_url_keys_identity_tokens_and_keeps_other_fields() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_in(dir.path());
        let path = store.docker_config_path().expect("path");
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(
            &path,
            r#"{"auths":{"https://localhost:5000/v1/":{"auth":"dTpw"},"127.0.0.1:1":{"identitytoken":"tok"}},"psFormat":"x"}"#,
        )
        .expect("write");
        assert_eq!(
            store.credential("localhost:5000").expect("lookup"),
            Credential::Basic {
                username: "u".into(),
                password: Secret::new("p")
            }
        );
        assert_eq!(
            store.credential("127.0.0.1:1").expect("lookup"),
            Credential::IdentityToken(Secret::new("tok"))
        );
        store
            .login("127.0.0.1:2", "a", &Secret::new("b"))
            .expect("login");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("psFormat"));
    }

    #[cfg(unix)]
    #[test]
    fn uses_credential_helpers() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let helper = dir.path().join("docker-credential-fake");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread server\nif [ \"$1\" = get ] && [ \"$server\" = 127.0.0.1:7 ]; then\n  echo '{\"ServerURL\":\"127.0.0.1:7\",\"Username\":\"h\",\"Secret\":\"hs\"}'\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
        )
        .expect("write helper");
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let store = store_in(dir.path());
        let path = store.docker_config_path().expect("path");
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, r#"{"credHelpers":{"127.0.0.1:7":"fake"}}"#).expect("write");
        assert_eq!(
            store.credential("127.0.0.1:7").expect("lookup"),
            Credential::Basic {
                username: "h".into(),
                password: Secret::new("hs")
            }
        );
        assert_eq!(
            store.credential("127.0.0.1:8").expect("lookup"),
            Credential::Anonymous
        );
    }

    #[test]
    fn environment_wins_and_secrets_stay_hidden() {
        let store = CredentialStore::new(CredentialEnv {
            user: Some("ci".into()),
            password: Some(Secret::new("hunter2")),
            ..CredentialEnv::default()
        });
        let credential = store.credential("127.0.0.1:1").expect("lookup");
        assert!(!format!("{credential:?}").contains("hunter2"));
        let half = CredentialStore::new(CredentialEnv {
            user: Some("ci".into()),
            ..CredentialEnv::default()
        });
        assert!(matches!(
            half.credential("127.0.0.1:1"),
            Err(CredentialsError::IncompleteEnv(..))
        ));
    }
}
