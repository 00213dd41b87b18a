//! Registry authentication: `WWW-Authenticate` challenges, HTTP Basic, and the Bearer
//! token flow (realm, service, scopes for pull, push and mount sources), with a token
//! cache per registry and scope set that refreshes before expiry.
//!
//! It must not print or log a secret; tokens live in [`Secret`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use url::Url;

use super::credentials::{Credential, CredentialSource, CredentialsError, Secret};
use super::reference::Repository;
use crate::http::{HttpClient, HttpError};

/// Tokens without `expires_in` live this long (the token spec's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("Registry `{registry}` requires authentication and no credentials were found for it")]
    LoginRequired { registry: String },
    #[error("Registry `{registry}` rejected the credentials")]
    Rejected { registry: String },
    #[error(
        "Token service of registry `{registry}` refused the credentials (HTTP {status}){}",
        message_suffix(message)
    )]
    TokenDenied {
        registry: String,
        status: u16,
        message: String,
    },
    #[error("Token service of registry `{registry}` failed (HTTP {status})")]
    TokenService { registry: String, status: u16 },
    #[error("Token service of registry `{registry}` sent an answer without a token")]
    TokenResponse { registry: String },
    #[error("Registry `{registry}` denied access `{scope}`: the credentials do not grant it")]
    InsufficientScope { registry: String, scope: String },
    #[error("Registry `{registry}` sent an unusable authentication challenge `{challenge}`")]
    BadChallenge { registry: String, challenge: String },
}

fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// The access a request needs, as token scopes
/// (`repository:<name>:pull,push`), kept sorted so equal sets compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Scopes(Vec<String>);

impl Scopes {
    pub(crate) fn pull(repository: &Repository) -> Self {
        Self(vec![format!("repository:{}:pull", repository.name())])
    }

    pub(crate) fn push(repository: &Repository) -> Self {
        Self(vec![format!("repository:{}:pull,push", repository.name())])
    }

    /// Adds pull access to `source`, as a cross-repository mount needs.
    pub(crate) fn and_pull(mut self, source: &Repository) -> Self {
        let scope = format!("repository:{}:pull", source.name());
        if !self.0.contains(&scope) {
            self.0.push(scope);
            self.0.sort();
        }
        self
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// What a registry asked for in `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        /// `insufficient_scope`, `invalid_token`, …
        error: Option<String>,
    },
}

/// Parses one `WWW-Authenticate` value: a scheme, then `key=value` or
/// `key="quoted, value"` parameters separated by commas.
pub(super) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            error: get("error"),
        })
    } else {
        None
    }
}

fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            continue;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    other => value.push(other),
                }
            }
        } else {
            value.extend(std::iter::from_fn(|| chars.next_if(|c| *c != ',')));
        }
        params.push((key.trim().to_string(), value.trim().to_string()));
    }
    params
}

#[derive(Clone)]
struct CachedToken {
    token: Secret,
    refresh_at: Instant,
}

#[derive(Default)]
struct State {
    challenges: HashMap<String, Challenge>,
    credentials: HashMap<String, Credential>,
    tokens: HashMap<(String, Scopes), CachedToken>,
}

/// Decides the `Authorization` header of each registry request.
pub(crate) struct Authenticator {
    http: HttpClient,
    credentials: Arc<dyn CredentialSource>,
    state: Mutex<State>,
    /// One token fetch at a time, so parallel requests share the token.
    fetching: tokio::sync::Mutex<()>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

impl Authenticator {
    pub(crate) fn new(http: HttpClient, credentials: Arc<dyn CredentialSource>) -> Self {
        Self {
            http,
            credentials,
            state: Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is plain data, consistent after every statement: a panic elsewhere
        // cannot leave it half-updated.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn credential(&self, registry: &str) -> Result<Credential, AuthError> {
        if let Some(known) = self.state().credentials.get(registry) {
            return Ok(known.clone());
        }
        let credential = self.credentials.credential(registry)?;
        self.state()
            .credentials
            .insert(registry.to_string(), credential.clone());
        Ok(credential)
    }

    /// The `Authorization` value for a request to `registry` needing `scopes`, or
    /// `None` to go anonymous (until a challenge says otherwise).
    pub(crate) async fn authorization(
        &self,
        registry: &str,
        scopes: &Scopes,
    ) -> Result<Option<HeaderValue>, AuthError> {
        let challenge = self.state().challenges.get(registry).cloned();
        let credential = self.credential(registry)?;
        if let Credential::Bearer(token) = &credential {
            return Ok(Some(bearer(token)));
        }
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => match credential {
                Credential::Basic { username, password } => Ok(Some(basic(&username, &password))),
                _ => Err(AuthError::LoginRequired {
                    registry: registry.to_string(),
                }),
            },
            Some(Challenge::Bearer { realm, service, .. }) => {
                let key = (registry.to_string(), scopes.clone());
                if let Some(token) = self.cached_token(&key) {
                    return Ok(Some(bearer(&token)));
                }
                let _fetching = self.fetching.lock().await;
                if let Some(token) = self.cached_token(&key) {
                    return Ok(Some(bearer(&token)));
                }
                let fresh = self
                    .fetch_token(registry, &realm, service.as_deref(), scopes, &credential)
                    .await?;
                let header = bearer(&fresh.token);
                self.state().tokens.insert(key, fresh);
                Ok(Some(header))
            }
        }
    }

    fn cached_token(&self, key: &(String, Scopes)) -> Option<Secret> {
        self.state()
            .tokens
            .get(key)
            .filter(|cached| cached.refresh_at > Instant::now())
            .map(|cached| cached.token.clone())
    }

    /// Learns from a 401. `Ok` means: send again with a fresh [`Self::authorization`];
    /// an error means the request cannot be authorized.
    pub(crate) fn unauthorized(
        &self,
        registry: &str,
        scopes: &Scopes,
        www_authenticate: Option<&str>,
        sent_authorization: bool,
    ) -> Result<(), AuthError> {
        let challenge = www_authenticate.and_then(parse_challenge);
        let mut state = self.state();
        if sent_authorization {
            // The token sent was refused; one fetched meanwhile by a parallel request
            // is kept when nothing was sent.
            state.tokens.remove(&(registry.to_string(), scopes.clone()));
        }
        let Some(challenge) = challenge else {
            return Err(AuthError::Rejected {
                registry: registry.to_string(),
            });
        };
        if let Challenge::Bearer { realm, error, .. } = &challenge {
            if Url::parse(realm).is_err() {
                return Err(AuthError::BadChallenge {
                    registry: registry.to_string(),
                    challenge: www_authenticate.unwrap_or_default().to_string(),
                });
            }
            if sent_authorization && error.as_deref() == Some("insufficient_scope") {
                return Err(AuthError::InsufficientScope {
                    registry: registry.to_string(),
                    scope: scopes.to_string(),
                });
            }
        }
        let is_basic = challenge == Challenge::Basic;
        state.challenges.insert(registry.to_string(), challenge);
        if sent_authorization && is_basic {
            return Err(AuthError::Rejected {
                registry: registry.to_string(),
            });
        }
        Ok(())
    }

    /// The error for a request still unauthorized after a fresh token.
    pub(crate) fn still_unauthorized(
        &self,
        registry: &str,
        scopes: &Scopes,
        www_authenticate: Option<&str>,
    ) -> AuthError {
        self.state()
            .tokens
            .remove(&(registry.to_string(), scopes.clone()));
        match www_authenticate.and_then(parse_challenge) {
            Some(Challenge::Bearer {
                error: Some(error), ..
            }) if error == "insufficient_scope" => AuthError::InsufficientScope {
                registry: registry.to_string(),
                scope: scopes.to_string(),
            },
            _ => AuthError::Rejected {
                registry: registry.to_string(),
            },
        }
    }

    async fn fetch_token(
        &self,
        registry: &str,
        realm: &str,
        service: Option<&str>,
        scopes: &Scopes,
        credential: &Credential,
    ) -> Result<CachedToken, AuthError> {
        let bad_realm = || AuthError::BadChallenge {
            registry: registry.to_string(),
            challenge: format!("Bearer realm=\"{realm}\""),
        };
        let mut url = Url::parse(realm).map_err(|_| bad_realm())?;
        tracing::debug!(registry, scopes = %scopes, "fetching registry token");
        let client = self.http.reqwest();
        let response = match credential {
            Credential::IdentityToken(refresh) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "refresh_token")
                    .append_pair("client_id", "airlock")
                    .append_pair("refresh_token", refresh.expose());
                if let Some(service) = service {
                    form.append_pair("service", service);
                }
                let scope = scopes.to_string();
                if !scope.is_empty() {
                    form.append_pair("scope", &scope);
                }
                let body = form.finish();
                self.http
                    .send(|| {
                        client
                            .post(url.clone())
                            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                            .body(body.clone())
                    })
                    .await?
            }
            _ => {
                {
                    let mut query = url.query_pairs_mut();
                    if let Some(service) = service {
                        query.append_pair("service", service);
                    }
                    for scope in scopes.iter() {
                        query.append_pair("scope", scope);
                    }
                }
                self.http
                    .send(|| {
                        let request = client.get(url.clone());
                        match credential {
                            Credential::Basic { username, password } => {
                                request.header(AUTHORIZATION, basic(username, password))
                            }
                            _ => request,
                        }
                    })
                    .await?
            }
        };
        let status = response.status();
        if status.as_u16() == 401 || status.as_u16() == 403 {
            let body = response.text().await.unwrap_or_default();
            let message = super::error::parse_api_errors(body.as_bytes())
                .first()
                .map(|e| e.message.clone())
                .unwrap_or_default();
            return Err(AuthError::TokenDenied {
                registry: registry.to_string(),
                status: status.as_u16(),
                message,
            });
        }
        if !status.is_success() {
            return Err(AuthError::TokenService {
                registry: registry.to_string(),
                status: status.as_u16(),
            });
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let no_token = || AuthError::TokenResponse {
            registry: registry.to_string(),
        };
        let bytes = response.bytes().await.map_err(|_| no_token())?;
        let answer: TokenAnswer = serde_json::from_slice(&bytes).map_err(|_| no_token())?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(no_token)?;
        let lifetime = answer
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        // Refresh with a tenth of the lifetime to spare, so a token never expires
        // mid-request.
        Ok(CachedToken {
            token: Secret::new(token),
            refresh_at: Instant::now() + lifetime.mul_f64(0.9),
        })
    }
}

fn basic(username: &str, password: &Secret) -> HeaderValue {
    let encoded = BASE64.encode(format!("{username}:{}", password.expose()));
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    value.set_sensitive(true);
    value
}

fn bearer(token: &Secret) -> HeaderValue {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
    value.set_sensitive(true);
    value
}

impl crate::hint::Hint for AuthError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Credentials(error) => error.hints(),
            Self::Http(error) => error.hints(),
            Self::LoginRequired { registry }
            | Self::Rejected { registry }
            | Self::TokenDenied { registry, .. } => vec![format!(
                "run `airlock login {registry}`, or set `AIRLOCK_REGISTRY_USER` and `AIRLOCK_REGISTRY_PASSWORD`"
            )],
            Self::TokenService { .. }
            | Self::TokenResponse { .. }
            | Self::InsufficientScope { .. }
            | Self::BadChallenge { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="http://127.0.0.1:1/token",service="reg, one",scope="repository:a:pull,push",error="insufficient_scope""#
            ),
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:1/token".into(),
                service: Some("reg, one".into()),
                error: Some("insufficient_scope".into()),
            })
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn scopes_are_sorted_sets() {
        let app = Repository::new("127.0.0.1:1", "team/app").expect("repo");
        let base = Repository::new("127.0.0.1:1", "base").expect("repo");
        let scopes = Scopes::push(&app).and_pull(&base).and_pull(&base);
        assert_eq!(
            scopes.to_string(),
            "repository:base:pull repository:team/app:pull,push"
        );
    }
}
