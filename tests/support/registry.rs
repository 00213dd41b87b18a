//! Real registries (the CNCF distribution binary, `docker-registry` as Debian ships
//! it) on 127.0.0.1 with free ports and temporary storage, killed on drop. Three
//! kinds: plain HTTP (optionally with htpasswd), TLS with a test CA plus htpasswd
//! Basic auth, and token auth with a token issuer running in the test.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, PublicKeyData as _};
use sha2::Digest as _;
use tokio::io::AsyncWriteExt as _;

use super::wire::{query_values, read_head};

/// The registry binary; `AIRLOCK_TEST_REGISTRY_BIN` overrides it.
pub fn registry_binary() -> PathBuf {
    std::env::var_os("AIRLOCK_TEST_REGISTRY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/docker-registry"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("free port")
}

/// A running registry process.
pub struct Registry {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// The CA that signed the TLS certificate, for `--ca-file`.
    pub ca_file: Option<PathBuf>,
    pub issuer: Option<TokenIssuer>,
    log: PathBuf,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Auth<'a> {
    None,
    Htpasswd(&'a [(&'a str, &'a str)]),
    Token { realm: String, cert: PathBuf },
}

impl Registry {
    /// Plain HTTP, anonymous.
    pub fn plain() -> Self {
        Self::start(false, Auth::None, None)
    }

    /// Plain HTTP with htpasswd Basic auth.
    pub fn plain_basic(users: &[(&str, &str)]) -> Self {
        Self::start(false, Auth::Htpasswd(users), None)
    }

    /// TLS with a certificate from a test CA, and htpasswd Basic auth.
    pub fn tls_basic(users: &[(&str, &str)]) -> Self {
        Self::start(true, Auth::Htpasswd(users), None)
    }

    /// Plain HTTP with token auth, tokens from an issuer run by this test.
    pub fn token(policy: TokenPolicy) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let issuer = TokenIssuer::start(policy, dir.path());
        let auth = Auth::Token {
            realm: issuer.realm(),
            cert: issuer.cert_file.clone(),
        };
        let mut registry = Self::start_in(dir, false, auth);
        registry.issuer = Some(issuer);
        registry
    }

    fn start(tls: bool, auth: Auth<'_>, dir: Option<tempfile::TempDir>) -> Self {
        let dir = dir.unwrap_or_else(|| tempfile::tempdir().expect("tempdir"));
        Self::start_in(dir, tls, auth)
    }

    fn start_in(dir: tempfile::TempDir, tls: bool, auth: Auth<'_>) -> Self {
        let port = free_port();
        let root = dir.path();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: airlock-test-secret\n",
            data = root.join("data").display(),
        );
        let mut ca_file = None;
        if tls {
            let (ca, cert, key) = write_tls_files(root);
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
            ca_file = Some(ca);
        }
        match auth {
            Auth::None => {}
            Auth::Htpasswd(users) => {
                let path = root.join("htpasswd");
                let lines: String = users
                    .iter()
                    .map(|(user, password)| {
                        let hash = bcrypt::hash(password, 5).expect("bcrypt");
                        format!("{user}:{hash}\n")
                    })
                    .collect();
                std::fs::write(&path, lines).expect("write htpasswd");
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: airlock-test\n    path: {}\n",
                    path.display()
                ));
            }
            Auth::Token { realm, cert } => {
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                    cert.display()
                ));
            }
        }
        let config_path = root.join("config.yml");
        std::fs::write(&config_path, config).expect("write config");
        let log = root.join("registry.log");
        let log_file = std::fs::File::create(&log).expect("create log");
        let child = Command::new(registry_binary())
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start `{}` (install the `docker-registry` package): {error}",
                    registry_binary().display()
                )
            });
        let mut registry = Self {
            child,
            port,
            dir,
            ca_file,
            issuer: None,
            log,
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("registry exited ({status}):\n{}", self.log());
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "registry not ready:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A test CA and a server certificate for 127.0.0.1 and localhost signed by it.
fn write_tls_files(root: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "airlock test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("server params");
    let cert = params.signed_by(&key, &issuer).expect("server cert");
    let ca_path = root.join("ca.pem");
    let cert_path = root.join("server.pem");
    let key_path = root.join("server.key");
    std::fs::write(&ca_path, ca_cert.pem()).expect("write ca");
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    (ca_path, cert_path, key_path)
}

pub const SERVICE: &str = "airlock-test-registry";
pub const ISSUER: &str = "airlock-test-issuer";

/// Who gets which token.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    /// user → password.
    pub users: HashMap<String, String>,
    /// Users that may only pull, whatever they ask for.
    pub pull_only: Vec<String>,
    /// `expires_in` of issued tokens.
    pub lifetime: Duration,
}

impl TokenPolicy {
    pub fn user(user: &str, password: &str) -> Self {
        Self {
            users: HashMap::from([(user.to_string(), password.to_string())]),
            pull_only: Vec::new(),
            lifetime: Duration::from_secs(300),
        }
    }
}

/// A token service: `GET /token?service=…&scope=…` with Basic auth, answering
/// ES256 JWTs the registry verifies against `cert_file`.
pub struct TokenIssuer {
    pub port: u16,
    pub cert_file: PathBuf,
    /// Token requests answered (granted or refused).
    pub requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TokenIssuer {
    pub fn start(policy: TokenPolicy, dir: &Path) -> Self {
        let key = KeyPair::generate().expect("token key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, ISSUER);
        let cert = params.self_signed(&key).expect("token cert");
        let cert_file = dir.join("token.pem");
        std::fs::write(&cert_file, cert.pem()).expect("write token cert");
        let kid = libtrust_key_id(&key.subject_public_key_info());
        let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.serialize_der(),
            &ring::rand::SystemRandom::new(),
        )
        .expect("signing key");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let requests = Arc::new(AtomicUsize::new(0));
        let state = Arc::new(IssuerState {
            policy,
            kid,
            signer,
            requests: Arc::clone(&requests),
        });
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let _ = state.serve(stream).await;
                });
            }
        });
        Self {
            port,
            cert_file,
            requests,
            task,
        }
    }

    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

struct IssuerState {
    policy: TokenPolicy,
    kid: String,
    signer: ring::signature::EcdsaKeyPair,
    requests: Arc<AtomicUsize>,
}

impl IssuerState {
    async fn serve(&self, mut stream: tokio::net::TcpStream) -> std::io::Result<()> {
        let Some((head, _)) = read_head(&mut stream).await? else {
            return Ok(());
        };
        self.requests.fetch_add(1, Ordering::SeqCst);
        let user = head
            .header("authorization")
            .and_then(|value| value.strip_prefix("Basic "))
            .and_then(|encoded| {
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .ok()
            })
            .and_then(|decoded| String::from_utf8(decoded).ok())
            .and_then(|text| {
                let (user, password) = text.split_once(':')?;
                Some((user.to_string(), password.to_string()))
            });
        let (status, body) = match user {
            Some((user, password)) if self.policy.users.get(&user) == Some(&password) => {
                let scopes = query_values(&head.target, "scope");
                (200, self.token_answer(&user, &scopes))
            }
            Some(_) => (
                401,
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid user name or password"}]}"#
                    .to_string(),
            ),
            // Anonymous: a token with no access at all.
            None => (200, self.token_answer("", &[])),
        };
        let reason = if status == 200 { "OK" } else { "Unauthorized" };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    }

    fn token_answer(&self, user: &str, scopes: &[String]) -> String {
        let pull_only = self.policy.pull_only.iter().any(|u| u == user);
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .filter(|_| !user.is_empty())
            .flat_map(|scope| scope.split(' '))
            .filter_map(|scope| {
                let mut parts = scope.splitn(3, ':');
                let kind = parts.next()?;
                let name = parts.next()?;
                let actions: Vec<&str> = parts
                    .next()?
                    .split(',')
                    .filter(|action| !pull_only || *action == "pull")
                    .collect();
                Some(serde_json::json!({ "type": kind, "name": name, "actions": actions }))
            })
            .collect();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let lifetime = self.policy.lifetime.as_secs();
        let header = serde_json::json!({ "typ": "JWT", "alg": "ES256", "kid": self.kid });
        let claims = serde_json::json!({
            "iss": ISSUER,
            "sub": user,
            "aud": SERVICE,
            "exp": now + lifetime,
            "nbf": now - 5,
            "iat": now,
            "jti": format!("{now}-{}", self.requests.load(Ordering::SeqCst)),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .signer
            .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
            .expect("sign");
        let token = format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        );
        serde_json::json!({ "token": token, "expires_in": lifetime }).to_string()
    }
}

/// The key id libtrust (and so the registry) gives a public key: the first 240 bits
/// of the SHA-256 of its DER SubjectPublicKeyInfo, base32, in groups of four.
fn libtrust_key_id(spki_der: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let hash = sha2::Sha256::digest(spki_der);
    let bytes = &hash[..30];
    let mut text = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            text.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    text.as_bytes()
        .chunks(4)
        .map(|group| String::from_utf8_lossy(group).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// The `artifactType` of every manifest a referrers index lists, sorted (an entry
/// without one counts as "").
pub fn artifact_types(index: &serde_json::Value) -> Vec<String> {
    let mut types: Vec<String> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| m["artifactType"].as_str().unwrap_or("").to_string())
        .collect();
    types.sort();
    types
}
