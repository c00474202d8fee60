//! `serve-keys` over HTTPS with a certificate made in the test, read by the HTTP repository that
//! trusts only that certificate's CA.

use std::net::SocketAddr;

use asap_core::*;
use asap_keys::HttpKeyRepository;
use asap_keys::server::{KeyServer, KeyServerConfig};
use asap_testkit::tls::TestCa;

#[tokio::test]
async fn a_verifier_reads_keys_from_serve_keys_over_https() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P384)).expect("key");
    let kid = KeyId::parse("billing/k1.pem").expect("kid");
    std::fs::create_dir_all(dir.path().join("billing")).expect("mkdir");
    std::fs::write(
        dir.path().join(kid.as_str()),
        key.public_key().expect("public").to_pem(),
    )
    .expect("write");

    let ca = TestCa::new();
    let config = KeyServerConfig::new(dir.path()).tls(ca.server_config());
    let server = KeyServer::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config)
        .await
        .expect("bind");
    let url = server.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    tokio::spawn(server.serve(std::future::pending()));

    let keys = HttpKeyRepository::builder(&url)
        .root_certificates_pem(ca.root_pem())
        .build()
        .expect("repository");
    let verifier = Verifier::builder(keys)
        .audience(Audience::new("ledger").expect("aud"))
        .build()
        .expect("verifier");
    let signer = Signer::builder("billing")
        .key(SigningKey::new(kid, key, None).expect("sk"))
        .build()
        .expect("signer");
    let token = signer
        .sign(&Audience::new("ledger").expect("aud"))
        .expect("token");
    let verified = verifier
        .verify(token.as_str())
        .await
        .expect("verified over https");
    assert_eq!(verified.algorithm(), Algorithm::ES384);

    // A client that does not trust the test CA gets no key: 503, not a silent accept.
    let untrusting = HttpKeyRepository::builder(&url)
        .root_certificates_pem(TestCa::new().root_pem())
        .build()
        .expect("r");
    let verifier = Verifier::builder(untrusting)
        .audience(Audience::new("ledger").expect("aud"))
        .build()
        .expect("v");
    let err = verifier
        .verify(token.as_str())
        .await
        .expect_err("untrusted certificate");
    assert_eq!(err.outcome().status(), 503, "{err}");
}
