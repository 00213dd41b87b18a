//! The registry client against real registries on loopback.

use crate::support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock::hint::Hint as _;
use airlock::http::{HttpClient, HttpSettings, RetryPolicy};
use airlock::registry::{
    AuthError, BlobOutcome, Credential, Platform, PlatformExt as _, Reference, RegistryClient,
    RegistryConfig, RegistryError, Repository, Secret, StaticCredentials,
};

use support::image::{TestImage, random_bytes, write_blob};
use support::proxy::{Fault, Proxy, Rule};
use support::registry::{Registry, TokenPolicy};

const MIB: usize = 1024 * 1024;

fn test_settings() -> (HttpSettings, RegistryConfig) {
    let http = HttpSettings {
        read_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
        },
        ..HttpSettings::default()
    };
    let config = RegistryConfig {
        monolithic_limit: 512 * 1024,
        chunk_size: MIB as u64,
        ..RegistryConfig::default()
    };
    (http, config)
}

fn client_with(
    credentials: HashMap<String, Credential>,
    tweak: impl FnOnce(&mut HttpSettings, &mut RegistryConfig),
) -> RegistryClient {
    let (mut http, mut config) = test_settings();
    tweak(&mut http, &mut config);
    let http = HttpClient::new(&http).expect("http client");
    RegistryClient::new(http, Arc::new(StaticCredentials(credentials)), config)
}

fn anonymous_client() -> RegistryClient {
    client_with(HashMap::new(), |_, _| {})
}

fn basic(registry: &str, user: &str, password: &str) -> HashMap<String, Credential> {
    HashMap::from([(
        registry.to_string(),
        Credential::Basic {
            username: user.to_string(),
            password: Secret::new(password),
        },
    )])
}

fn repo(registry: &str, name: &str) -> Repository {
    Repository::new(registry, name).expect("repository")
}

fn reference(text: &str) -> Reference {
    text.parse().expect("reference")
}

/// Pulls `text` into `store` and checks it is byte for byte `image`.
async fn pull_and_compare(client: &RegistryClient, text: &str, image: &TestImage, store: &Path) {
    let pulled = client
        .pull_image(&reference(text), &Platform::linux_amd64(), |digest| {
            store.join(digest.hex())
        })
        .await
        .expect("pull");
    assert_eq!(pulled.manifest.digest, image.digest());
    assert_eq!(pulled.manifest.bytes, image.manifest);
    assert!(pulled.index.is_none());
    assert_eq!(
        pulled.config.digest().as_ref(),
        image.config.digest.to_string()
    );
    for blob in std::iter::once(&image.config).chain(&image.layers) {
        let fetched = std::fs::read(store.join(blob.digest.hex())).expect("pulled blob");
        let source = std::fs::read(&blob.path).expect("source blob");
        assert!(fetched == source, "blob {} differs", blob.digest);
    }
}

async fn skopeo(args: &[&str]) -> String {
    let output = tokio::process::Command::new("skopeo")
        .args(args)
        .output()
        .await
        .expect("run skopeo (install the `skopeo` package)");
    assert!(
        output.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_over_plain_http_agrees_with_skopeo() {
    let registry = Registry::plain();
    let work = tempfile::tempdir().expect("tempdir");
    let image = TestImage::new(&work.path().join("src"), 1, &[1000, 3 * MIB + 123]);
    let client = anonymous_client();
    let address = registry.address();
    let repository = repo(&address, "airlock/app");

    let report = client
        .push_image(&repository, &image.push(&["v1", "latest"]))
        .await
        .expect("push");
    assert_eq!(report.manifest_digest, image.digest());
    assert_eq!(report.blobs.len(), 3);
    assert!(
        report
            .blobs
            .iter()
            .all(|(_, o)| *o == BlobOutcome::Uploaded)
    );

    pull_and_compare(
        &client,
        &format!("{address}/airlock/app:v1"),
        &image,
        &work.path().join("store"),
    )
    .await;
    // By digest too, into an empty store.
    pull_and_compare(
        &anonymous_client(),
        &format!("{address}/airlock/app@{}", image.digest()),
        &image,
        &work.path().join("store2"),
    )
    .await;

    let inspected = skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{address}/airlock/app:v1"),
    ])
    .await;
    let inspected: serde_json::Value = serde_json::from_str(&inspected).expect("json");
    assert_eq!(inspected["Digest"], image.digest().to_string());

    let layout = work.path().join("layout");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        // Keep our uncompressed layers as they are, so the manifest is unchanged.
        "--dest-oci-accept-uncompressed-layers",
        &format!("docker://{address}/airlock/app:v1"),
        &format!("oci:{}:v1", layout.display()),
    ])
    .await;
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("json");
    assert_eq!(index["manifests"][0]["digest"], image.digest().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_push_uploads_no_blob() {
    let registry = Registry::plain();
    let proxy = Proxy::start(registry.port).await;
    let work = tempfile::tempdir().expect("tempdir");
    let image = TestImage::new(work.path(), 2, &[2000, 600 * 1024]);
    let client = anonymous_client();
    let repository = repo(&proxy.address(), "airlock/app");
    client
        .push_image(&repository, &image.push(&["v1"]))
        .await
        .expect("first push");
    assert!(proxy.requests().iter().any(|r| r.is_upload()));
    proxy.clear();

    let report = client
        .push_image(&repository, &image.push(&["v1"]))
        .await
        .expect("second push");
    assert!(report.blobs.iter().all(|(_, o)| *o == BlobOutcome::Existed));
    let requests = proxy.requests();
    assert!(
        requests.iter().all(|r| !r.is_upload()),
        "uploads on a no-op push: {requests:#?}"
    );
    assert_eq!(proxy.count("HEAD", "/blobs/"), 3);
    assert_eq!(proxy.count("PUT", "/manifests/"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mounts_blobs_from_another_repository() {
    let registry = Registry::plain();
    let proxy = Proxy::start(registry.port).await;
    let work = tempfile::tempdir().expect("tempdir");
    let base = TestImage::new(&work.path().join("base"), 3, &[3000, 4000]);
    let client = anonymous_client();
    let address = proxy.address();
    client
        .push_image(&repo(&address, "airlock/base"), &base.push(&["1"]))
        .await
        .expect("push base");
    proxy.clear();

    // The app: the base's layers plus one of its own.
    let mut layers = base.layers.clone();
    layers.push(write_blob(work.path(), &random_bytes(99, 5000)));
    let app = TestImage::from_layers(work.path(), 4, layers);
    let mut push = app.push(&["1"]);
    push.mount_from = Some(repo(&address, "airlock/base"));
    let report = client
        .push_image(&repo(&address, "airlock/app"), &push)
        .await
        .expect("push app");
    let outcome = |digest| {
        report
            .blobs
            .iter()
            .find(|(d, _)| d == digest)
            .map(|(_, o)| *o)
    };
    for layer in &base.layers {
        assert_eq!(outcome(&layer.digest), Some(BlobOutcome::Mounted));
    }
    assert_eq!(outcome(&app.layers[2].digest), Some(BlobOutcome::Uploaded));
    assert_eq!(outcome(&app.config.digest), Some(BlobOutcome::Uploaded));
    let mounts = proxy
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.target.contains("mount="))
        .count();
    assert_eq!(mounts, 4);
    // Only the two blobs that were new were sent (monolithic: one PUT each).
    assert_eq!(proxy.count("PUT", "/blobs/uploads/"), 2);

    pull_and_compare(
        &client,
        &format!("{}/airlock/app:1", registry.address()),
        &app,
        &work.path().join("store"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_blobs_go_up_in_chunks_with_content_range() {
    let registry = Registry::plain();
    let proxy = Proxy::start(registry.port).await;
    let work = tempfile::tempdir().expect("tempdir");
    let image = TestImage::new(work.path(), 5, &[3 * MIB + MIB / 2]);
    let client = anonymous_client();
    let report = client
        .push_image(&repo(&proxy.address(), "airlock/big"), &image.push(&[]))
        .await
        .expect("push");
    assert_eq!(report.manifest_digest, image.digest());
    let ranges: Vec<String> = proxy
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .filter_map(|r| r.content_range.clone())
        .collect();
    assert_eq!(
        ranges,
        [
            "0-1048575",
            "1048576-2097151",
            "2097152-3145727",
            "3145728-3670015"
        ]
    );
    let size = client
        .blob_exists(
            &repo(&registry.address(), "airlock/big"),
            &image.layers[0].digest,
        )
        .await
        .expect("head");
    assert_eq!(size, Some(image.layers[0].size));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_honour_the_registry_minimum() {
    let registry = Registry::plain();
    let proxy = Proxy::start(registry.port).await;
    proxy.add(
        Rule::new(
            "POST",
            "/blobs/uploads/",
            Fault::AddHeader("OCI-Chunk-Min-Length", "2097152"),
        )
        .times(10),
    );
    let work = tempfile::tempdir().expect("tempdir");
    let image = TestImage::new(work.path(), 16, &[3 * MIB + MIB / 2]);
    let report = anonymous_client()
        .push_image(&repo(&proxy.address(), "airlock/big"), &image.push(&[]))
        .await
        .expect("push");
    assert_eq!(report.manifest_digest, image.digest());
    let ranges: Vec<String> = proxy
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .filter_map(|r| r.content_range.clone())
        .collect();
    assert_eq!(ranges, ["0-2097151", "2097152-3670015"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_basic_auth_round_trip() {
    let registry = Registry::tls_basic(&[("alice", "wonderland")]);
    let address = registry.address();
    let work = tempfile::tempdir().expect("tempdir");
    let image = TestImage::new(&work.path().join("src"), 6, &[1234, 700 * 1024]);
    let ca = registry.ca_file.clone().expect("ca");
    let client = client_with(basic(&address, "alice", "wonderland"), |http, _| {
        http.ca_files.push(ca);
    });
    let report = client
        .push_image(&repo(&address, "team/app"), &image.push(&["v1"]))
        .await
        .expect("push");
    assert_eq!(report.manifest_digest, image.digest());
    pull_and_compare(
        &client,
        &format!("{address}/team/app:v1"),
        &image,
        &work.path().join("store"),
    )
    .await;
}

/// A TCP front on loopback for `upstream` that hangs up on anything but a TLS
/// handshake, as some TLS servers do when spoken to in plain HTTP; `None` hangs up
/// on everything.
async fn hang_up_front(upstream: Option<u16>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut first = [0u8; 1];
                let is_tls = matches!(client.peek(&mut first).await, Ok(1) if first[0] == 0x16);
                let Some(port) = upstream.filter(|_| is_tls) else {
                    return;
                };
                if let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (address, task)
}

/// Issue item 3, the other side: a loopback TLS registry that hangs up on plain HTTP
/// instead of answering 400 is found to speak TLS once plain HTTP never answers
/// within the retry policy, and the push goes through in TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_tls_registry_that_hangs_up_on_plain_http_gets_tls() {
    let registry = Registry::tls_basic(&[("alice", "wonderland")]);
    let (address, front) = hang_up_front(Some(registry.port)).await;
    let work = tempfile::tempdir().expect("tempdir");
    let image = TestImage::new(&work.path().join("src"), 15, &[1234]);
    let ca = registry.ca_file.clone().expect("ca");
    let client = client_with(basic(&address, "alice", "wonderland"), |http, _| {
        http.ca_files.push(ca);
    });
    let report = client
        .push_image(&repo(&address, "team/app"), &image.push(&["v1"]))
        .await
        .expect("push in TLS");
    assert_eq!(report.manifest_digest, image.digest());
    front.abort();
}

/// Issue item 3: a loopback port that hangs up on plain HTTP and TLS alike is a
/// clear error naming the registry, with a hint, after the retry policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_registry_answering_neither_scheme_is_a_clear_error() {
    let (address, front) = hang_up_front(None).await;
    let work = tempfile::tempdir().expect("tempdir");
    let image = TestImage::new(&work.path().join("src"), 16, &[1234]);
    let error = anonymous_client()
        .push_image(&repo(&address, "team/app"), &image.push(&["v1"]))
        .await
        .expect_err("nothing answers");
    assert!(
        matches!(error, RegistryError::SchemeUnknown { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(&address), "{error}");
    assert!(
        error
            .hints()
            .iter()
            .any(|hint| hint.contains("--insecure-registry"))
    );
    front.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ca_fails_at_once_with_a_hint() {
    let registry = Registry::tls_basic(&[("alice", "wonderland")]);
    let address = registry.address();
    let client = client_with(basic(&address, "alice", "wonderland"), |http, _| {
        http.retry.base_delay = Duration::from_secs(2);
    });
    let started = Instant::now();
    let error = client
        .fetch_manifest(&repo(&address, "team/app"), "v1")
        .await
        .expect_err("untrusted certificate");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "it retried: {error:?}"
    );
    let text = format!(
        "{error}: {}",
        std::error::Error::source(&error)
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    assert!(text.contains("not trusted"), "{text}");
    assert!(error.hints().iter().any(|h| h.contains("--ca-file")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_clear_and_not_retried() {
    let registry = Registry::plain_basic(&[("alice", "wonderland")]);
    let proxy = Proxy::start(registry.port).await;
    let address = proxy.address();
    let client = client_with(basic(&address, "alice", "looking-glass"), |_, _| {});
    let error = client
        .fetch_manifest(&repo(&address, "team/app"), "v1")
        .await
        .expect_err("wrong password");
    assert!(
        matches!(error, RegistryError::Auth(AuthError::Rejected { .. })),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains("rejected the credentials"), "{text}");
    assert!(!text.contains("looking-glass"));
    assert!(!format!("{error:?}").contains("looking-glass"));
    // The plain-HTTP probe, the anonymous try, the one with credentials: no retries.
    assert!(proxy.requests().len() <= 3, "{:#?}", proxy.requests());

    let error = anonymous_client()
        .fetch_manifest(&repo(&address, "team/app"), "v1")
        .await
        .expect_err("no credentials");
    assert!(
        matches!(error, RegistryError::Auth(AuthError::LoginRequired { .. })),
        "{error:?}"
    );
    assert!(error.hints().iter().any(|h| h.contains("airlock login")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_round_trip_shares_tokens() {
    let registry = Registry::token(TokenPolicy::user("bob", "builder"));
    let address = registry.address();
    let work = tempfile::tempdir().expect("tempdir");
    let image = TestImage::new(&work.path().join("src"), 7, &[100, 200, 300, 2 * MIB]);
    let client = client_with(basic(&address, "bob", "builder"), |_, _| {});
    let report = client
        .push_image(&repo(&address, "team/app"), &image.push(&["v1"]))
        .await
        .unwrap_or_else(|error| panic!("push: {error:?}\n{}", registry.log()));
    assert_eq!(report.manifest_digest, image.digest());
    pull_and_compare(
        &client,
        &format!("{address}/team/app:v1"),
        &image,
        &work.path().join("store"),
    )
    .await;
    let issuer = registry.issuer.as_ref().expect("issuer");
    // One token for push, one for pull: shared by all parallel requests.
    assert_eq!(issuer.request_count(), 2);

    // Wrong password at the token service: a clear error, one token request.
    let before = issuer.request_count();
    let error = client_with(basic(&address, "bob", "wrecker"), |_, _| {})
        .fetch_manifest(&repo(&address, "team/app"), "v1")
        .await
        .expect_err("wrong password");
    assert!(
        matches!(
            error,
            RegistryError::Auth(AuthError::TokenDenied { status: 401, .. })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("invalid user name or password"));
    assert_eq!(issuer.request_count(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_push_scope_is_a_clear_error() {
    let mut policy = TokenPolicy::user("reader", "pw");
    policy.pull_only.push("reader".to_string());
    let registry = Registry::token(policy);
    let address = registry.address();
    let work = tempfile::tempdir().expect("tempdir");
    let image = TestImage::new(work.path(), 8, &[100]);
    let client = client_with(basic(&address, "reader", "pw"), |_, _| {});
    let error = client
        .push_image(&repo(&address, "team/app"), &image.push(&["v1"]))
        .await
        .expect_err("no push scope");
    assert!(
        matches!(
            error,
            RegistryError::Auth(AuthError::InsufficientScope { .. })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("repository:team/app:pull,push"));
    let issuer = registry.issuer.as_ref().expect("issuer");
    assert!(issuer.request_count() <= 2, "{}", issuer.request_count());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_refreshed() {
    let mut policy = TokenPolicy::user("bob", "builder");
    policy.lifetime = Duration::from_secs(2);
    let registry = Registry::token(policy);
    let address = registry.address();
    let work = tempfile::tempdir().expect("tempdir");
    let client = client_with(basic(&address, "bob", "builder"), |_, _| {});
    let first = TestImage::new(&work.path().join("a"), 9, &[100]);
    client
        .push_image(&repo(&address, "team/app"), &first.push(&["a"]))
        .await
        .expect("first push");
    let issuer = registry.issuer.as_ref().expect("issuer");
    let before = issuer.request_count();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let second = TestImage::new(&work.path().join("b"), 10, &[100]);
    client
        .push_image(&repo(&address, "team/app"), &second.push(&["b"]))
        .await
        .expect("push after expiry");
    assert!(issuer.request_count() > before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_survives_500_429_and_503() {
    let registry = Registry::plain();
    let proxy = Proxy::start(registry.port).await;
    proxy.add(Rule::new(
        "POST",
        "/blobs/uploads/",
        Fault::Status {
            code: 500,
            retry_after: None,
        },
    ));
    proxy.add(Rule::new(
        "HEAD",
        "/blobs/",
        Fault::Status {
            code: 503,
            retry_after: None,
        },
    ));
    proxy.add(Rule::new(
        "PUT",
        "/manifests/",
        Fault::Status {
            code: 429,
            retry_after: Some(1),
        },
    ));
    let work = tempfile::tempdir().expect("tempdir");
    let image = TestImage::new(work.path(), 11, &[100, 1000]);
    let client = anonymous_client();
    let started = Instant::now();
    let report = client
        .push_image(&repo(&proxy.address(), "airlock/app"), &image.push(&["v1"]))
        .await
        .expect("push");
    assert_eq!(report.manifest_digest, image.digest());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After ignored"
    );
    let statuses: Vec<Option<u16>> = proxy.requests().iter().map(|r| r.status).collect();
    for code in [500, 503, 429] {
        assert!(statuses.contains(&Some(code)), "{statuses:?}");
    }
    pull_and_compare(
        &client,
        &format!("{}/airlock/app:v1", registry.address()),
        &image,
        &work.path().join("store"),
    )
    .await;
}

/// Issue item 3: one failed probe switched a push to https. The plain-HTTP probe of a
/// loopback registry meets a 500, then a dropped connection; the push must stay in
/// plain HTTP (no TLS handshake reaches the proxy) and ask `GET /v2/` once for all
/// its parallel blob tasks, retried like any other request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failed_probe_switches_a_push_to_https() {
    let registry = Registry::plain();
    let proxy = Proxy::start(registry.port).await;
    proxy.add(Rule::new(
        "GET",
        "/v2/",
        Fault::Status {
            code: 500,
            retry_after: None,
        },
    ));
    proxy.add(Rule::new("GET", "/v2/", Fault::DropRequestBody));
    let work = tempfile::tempdir().expect("tempdir");
    let image = TestImage::new(work.path(), 14, &[100, 1000, 2000]);
    let client = anonymous_client();
    let report = client
        .push_image(&repo(&proxy.address(), "airlock/app"), &image.push(&["v1"]))
        .await
        .expect("push over plain HTTP despite a failed probe");
    assert_eq!(report.manifest_digest, image.digest());
    assert_eq!(proxy.tls_handshakes(), 0, "{:#?}", proxy.requests());
    let probes = proxy
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path() == "/v2/")
        .count();
    assert_eq!(
        probes,
        3,
        "one probe, retried twice: {:#?}",
        proxy.requests()
    );
    pull_and_compare(
        &client,
        &format!("{}/airlock/app:v1", registry.address()),
        &image,
        &work.path().join("store"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_chunked_upload_resumes_from_the_registry_range() {
    let registry = Registry::plain();
    let proxy = Proxy::start(registry.port).await;
    proxy.add(Rule::new("PATCH", "/blobs/uploads/", Fault::DropRequestBody).skip(1));
    let work = tempfile::tempdir().expect("tempdir");
    let image = TestImage::new(work.path(), 12, &[3 * MIB]);
    let client = anonymous_client();
    let report = client
        .push_image(&repo(&proxy.address(), "airlock/app"), &image.push(&["v1"]))
        .await
        .expect("push");
    assert_eq!(report.manifest_digest, image.digest());
    let requests = proxy.requests();
    // The status query on the session, and no second session for the layer.
    assert_eq!(proxy.count("GET", "/blobs/uploads/"), 1, "{requests:#?}");
    assert_eq!(proxy.count("POST", "/blobs/uploads/"), 2, "{requests:#?}");
    pull_and_compare(
        &client,
        &format!("{}/airlock/app:v1", registry.address()),
        &image,
        &work.path().join("store"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_monolithic_upload_and_stall_are_retried() {
    let registry = Registry::plain();
    let proxy = Proxy::start(registry.port).await;
    proxy.add(Rule::new("PUT", "/blobs/uploads/", Fault::DropRequestBody));
    proxy.add(Rule::new(
        "HEAD",
        "/blobs/",
        Fault::Stall(Duration::from_secs(4)),
    ));
    let work = tempfile::tempdir().expect("tempdir");
    let image = TestImage::new(work.path(), 13, &[300 * 1024]);
    let client = client_with(HashMap::new(), |http, _| {
        http.read_timeout = Duration::from_secs(1);
    });
    let report = client
        .push_image(&repo(&proxy.address(), "airlock/app"), &image.push(&["v1"]))
        .await
        .expect("push");
    assert_eq!(report.manifest_digest, image.digest());
    assert!(proxy.requests().iter().filter(|r| r.faulted).count() == 2);
    pull_and_compare(
        &client,
        &format!("{}/airlock/app:v1", registry.address()),
        &image,
        &work.path().join("store"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_download_resumes_with_range() {
    let registry = Registry::plain();
    let work = tempfile::tempdir().expect("tempdir");
    let image = TestImage::new(work.path(), 14, &[2 * MIB]);
    let client = anonymous_client();
    client
        .push_image(
            &repo(&registry.address(), "airlock/app"),
            &image.push(&["v1"]),
        )
        .await
        .expect("push");
    let proxy = Proxy::start(registry.port).await;
    proxy.add(Rule::new("GET", "/blobs/sha256:", Fault::DropResponseBody));
    let layer = &image.layers[0];
    let dest = work.path().join("store").join("layer");
    let size = client
        .fetch_blob(&repo(&proxy.address(), "airlock/app"), &layer.digest, &dest)
        .await
        .expect("download");
    assert_eq!(size, layer.size);
    assert!(std::fs::read(&dest).expect("read") == std::fs::read(&layer.path).expect("read"));
    let ranges: Vec<Option<String>> = proxy
        .requests()
        .iter()
        .filter(|r| r.path().contains("/blobs/"))
        .map(|r| r.range.clone())
        .collect();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert!(
        ranges[1]
            .as_deref()
            .is_some_and(|r| r.starts_with("bytes=") && r != "bytes=0-")
    );
    // No partial file left behind under any name.
    let names: Vec<_> = std::fs::read_dir(dest.parent().expect("parent"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["layer"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_that_never_uploads_fails_the_push_before_the_manifest() {
    let registry = Registry::plain();
    let proxy = Proxy::start(registry.port).await;
    proxy.add(
        Rule::new(
            "PUT",
            "/blobs/uploads/",
            Fault::Status {
                code: 500,
                retry_after: None,
            },
        )
        .times(1000),
    );
    let work = tempfile::tempdir().expect("tempdir");
    let image = TestImage::new(work.path(), 15, &[100]);
    let client = anonymous_client();
    let error = client
        .push_image(&repo(&proxy.address(), "airlock/app"), &image.push(&["v1"]))
        .await
        .expect_err("push must fail");
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    assert!(text.contains("Gave up on upload blob `sha256:"), "{text}");
    assert!(
        text.contains("HTTP 500; INJECTED: injected status 500"),
        "{text}"
    );
    assert_eq!(proxy.count("PUT", "/manifests/"), 0);
    // Bounded: the policy's attempts per blob, not a storm.
    assert!(
        proxy.count("PUT", "/blobs/uploads/") <= 2 * 5,
        "{:#?}",
        proxy.requests()
    );
}

#[derive(Default)]
struct Recorder(
    std::sync::Mutex<Vec<(String, BlobOutcome)>>,
    std::sync::atomic::AtomicU64,
);

impl airlock::registry::Progress for Recorder {
    fn blob_position(&self, _digest: &airlock::digest::Digest, position: u64) {
        self.1
            .fetch_max(position, std::sync::atomic::Ordering::SeqCst);
    }

    fn blob_finished(&self, digest: &airlock::digest::Digest, outcome: BlobOutcome) {
        self.0
            .lock()
            .expect("lock")
            .push((digest.to_string(), outcome));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_resolves_to_linux_amd64_with_docker_media_types_and_progress() {
    use airlock::registry::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST};
    let registry = Registry::plain();
    let address = registry.address();
    let work = tempfile::tempdir().expect("tempdir");
    let recorder = Arc::new(Recorder::default());
    let client = anonymous_client().with_progress(recorder.clone());
    let repository = repo(&address, "airlock/multi");

    // Two single-platform images in Docker's media types, and a manifest list.
    let mut digests = Vec::new();
    for (seed, size) in [(20u64, 1000usize), (21, 600 * 1024)] {
        let image = TestImage::new(&work.path().join(seed.to_string()), seed, &[size]);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": image.config.digest.to_string(),
                "size": image.config.size,
            },
            "layers": [{
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar",
                "digest": image.layers[0].digest.to_string(),
                "size": image.layers[0].size,
            }],
        });
        let mut push = image.push(&[]);
        push.manifest = serde_json::to_vec(&manifest).expect("json");
        push.manifest_media_type = DOCKER_MANIFEST.to_string();
        let report = client.push_image(&repository, &push).await.expect("push");
        digests.push((report.manifest_digest, push.manifest.len(), image));
    }
    let entry = |i: usize, arch: &str| {
        serde_json::json!({
            "mediaType": DOCKER_MANIFEST,
            "digest": digests[i].0.to_string(),
            "size": digests[i].1,
            "platform": { "architecture": arch, "os": "linux" },
        })
    };
    let list = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_LIST,
        "manifests": [entry(0, "arm64"), entry(1, "amd64")],
    });
    let list = serde_json::to_vec(&list).expect("json");
    let list_digest = client
        .push_manifest(&repository, "multi", &list, DOCKER_MANIFEST_LIST)
        .await
        .expect("push list");
    assert_eq!(list_digest, airlock::digest::Digest::of(&list));

    let store = work.path().join("store");
    let pulled = client
        .pull_image(
            &reference(&format!("{address}/airlock/multi:multi")),
            &Platform::linux_amd64(),
            |digest| store.join(digest.hex()),
        )
        .await
        .expect("pull");
    let index = pulled.index.expect("came through the list");
    assert_eq!(index.digest, list_digest);
    assert_eq!(index.media_type, DOCKER_MANIFEST_LIST);
    assert_eq!(pulled.manifest.digest, digests[1].0);
    assert_eq!(pulled.manifest.media_type, DOCKER_MANIFEST);
    let amd64 = &digests[1].2;
    assert_eq!(
        pulled.layers[0].digest().as_ref(),
        amd64.layers[0].digest.to_string()
    );
    assert!(store.join(amd64.layers[0].digest.hex()).exists());
    assert!(!store.join(digests[0].2.layers[0].digest.hex()).exists());

    let error = client
        .resolve(
            &reference(&format!("{address}/airlock/multi:multi")),
            &support::platform("s390x", "linux", None),
        )
        .await
        .expect_err("no such platform");
    assert!(error.to_string().contains("linux/s390x"), "{error}");

    let events = recorder.0.lock().expect("lock").clone();
    assert!(events.iter().any(|(_, o)| *o == BlobOutcome::Uploaded));
    assert!(events.iter().any(|(_, o)| *o == BlobOutcome::Downloaded));
    assert!(recorder.1.load(std::sync::atomic::Ordering::SeqCst) >= 600 * 1024);
}

/// A registry serving a manifest without `schemaVersion` and with fields the image
/// spec does not have (crafted here, as no registry stores such a document): the
/// pull reads it through the registry edge and downloads what it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_accepts_a_manifest_without_schema_version() {
    let registry = Registry::plain();
    let proxy = Proxy::start(registry.port).await;
    let work = tempfile::tempdir().expect("tempdir");
    let image = TestImage::new(work.path(), 40, &[10, 20]);
    let client = anonymous_client();
    let repository = repo(&proxy.address(), "airlock/crafted");
    client
        .push_image(&repository, &image.push(&["v1"]))
        .await
        .expect("push");
    let mut crafted: serde_json::Value = serde_json::from_slice(&image.manifest).expect("json");
    let fields = crafted.as_object_mut().expect("object");
    assert!(fields.remove("schemaVersion").is_some());
    fields.insert("x-extra".into(), serde_json::json!({"not": "in the spec"}));
    let crafted = serde_json::to_vec(&crafted).expect("json");
    proxy.add(Rule::new(
        "GET",
        "/manifests/v1",
        Fault::Respond {
            code: 200,
            content_type: airlock::registry::OCI_MANIFEST,
            body: crafted.clone(),
        },
    ));
    let store = work.path().join("store");
    let pulled = client
        .pull_image(
            &reference(&format!("{}/airlock/crafted:v1", proxy.address())),
            &Platform::linux_amd64(),
            |digest| store.join(digest.hex()),
        )
        .await
        .expect("pull");
    assert_eq!(pulled.manifest.bytes, crafted);
    assert_eq!(pulled.layers.len(), 2);
    for blob in std::iter::once(&image.config).chain(&image.layers) {
        assert!(store.join(blob.digest.hex()).exists(), "{}", blob.digest);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_digest_is_verified_against_the_reference() {
    let registry = Registry::plain();
    let proxy = Proxy::start(registry.port).await;
    let work = tempfile::tempdir().expect("tempdir");
    let image = TestImage::new(work.path(), 30, &[10]);
    let other = TestImage::new(&work.path().join("o"), 31, &[10]);
    let client = anonymous_client();
    let repository = repo(&proxy.address(), "airlock/app");
    client
        .push_image(&repository, &image.push(&["v1"]))
        .await
        .expect("push");
    let fetched = client
        .fetch_manifest(&repository, &image.digest().to_string())
        .await
        .expect("by digest");
    assert_eq!(fetched.digest, image.digest());
    assert_eq!(fetched.bytes, image.manifest);

    // Other bytes than the digest names: refused.
    proxy.add(Rule::new(
        "GET",
        "/manifests/",
        Fault::Respond {
            code: 200,
            content_type: airlock::registry::OCI_MANIFEST,
            body: other.manifest.clone(),
        },
    ));
    let error = client
        .fetch_manifest(&repository, &image.digest().to_string())
        .await
        .expect_err("tampered manifest");
    assert!(
        matches!(error, RegistryError::DigestMismatch { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(&image.digest().to_string()));
}
