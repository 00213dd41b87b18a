//! The shared HTTP client trusts the system store as `SSL_CERT_FILE` names it. Its
//! own test binary, since it sets process environment.

use crate::support;

use std::collections::HashMap;
use std::sync::Arc;

use airlock::http::{HttpClient, HttpSettings};
use airlock::registry::{
    Credential, RegistryClient, RegistryConfig, Repository, Secret, StaticCredentials,
};

use support::registry::Registry;

#[test]
fn ssl_cert_file_is_the_trust_store() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let registry = runtime.block_on(async { Registry::tls_basic(&[("alice", "wonderland")]) });
    let ca = registry.ca_file.clone().expect("ca");
    let empty_dir = tempfile::tempdir().expect("tempdir");
    // SAFETY: the only test in this binary; no other thread reads the environment
    // while it is changed (the runtime's workers only run the futures below).
    unsafe {
        std::env::set_var("SSL_CERT_FILE", &ca);
        std::env::set_var("SSL_CERT_DIR", empty_dir.path());
    }
    let address = registry.address();
    let http = HttpClient::new(&HttpSettings::default()).expect("client from SSL_CERT_FILE");
    let credentials = StaticCredentials(HashMap::from([(
        address.clone(),
        Credential::Basic {
            username: "alice".into(),
            password: Secret::new("wonderland"),
        },
    )]));
    let client = RegistryClient::new(http, Arc::new(credentials), RegistryConfig::default());
    let repository = Repository::new(&address, "team/app").expect("repo");
    let exists = runtime
        .block_on(client.blob_exists(&repository, &airlock::digest::Digest::of(b"nothing")))
        .expect("TLS handshake trusted through SSL_CERT_FILE");
    assert_eq!(exists, None);

    // An external HTTPS URL through this machine's trust store, when one is given.
    if let Ok(url) = std::env::var("AIRLOCK_TEST_HTTPS_URL") {
        unsafe {
            std::env::remove_var("SSL_CERT_DIR");
            std::env::set_var("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt");
        }
        let http = HttpClient::new(&HttpSettings::default()).expect("client");
        let status = runtime
            .block_on(http.send(|| http.reqwest().get(&url)))
            .expect("external HTTPS through the system store")
            .status();
        assert!(status.is_success() || status.is_redirection(), "{status}");
    }
}
