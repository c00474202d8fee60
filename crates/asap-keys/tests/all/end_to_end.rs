//! End to end: a verifier on the HTTPS repository (configured from the environment) verifies
//! tokens from a signer built from the environment, from a file repository and from the Python
//! reference implementation.

use std::sync::Arc;

use asap_core::{
    Algorithm, KeyKind, KeySourceError, KeySpec, PrivateKey, PublicKeySource, Signer, StaticKeySource,
};
use asap_keys::{
    ChainKeySource, ENV_FALLBACK_REPOSITORY_URL, ENV_REPOSITORY_URL, EnvSigner, FileKeyRepository,
    HttpKeyRepository, to_data_uri,
};
use asap_testkit::tls::TestCa;

use crate::support::*;

fn vars(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
    move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
}

/// A repository configured like a deployment: mirrors in the main variable (the first one
/// refuses connections) and a fallback.
fn repository_from_env(ca: &TestCa, server: &KeyServer) -> HttpKeyRepository {
    let down = format!("https://127.0.0.1:{}/", refused_port());
    let env = vars(vec![
        (ENV_REPOSITORY_URL, format!("{down} | {}", server.url())),
        (
            ENV_FALLBACK_REPOSITORY_URL,
            format!("https://127.0.0.1:{}/", refused_port()),
        ),
    ]);
    let repo = HttpKeyRepository::builder_from_vars(env)
        .expect("env")
        .root_certificates_pem(ca.root_pem())
        .build()
        .expect("repo");
    assert_eq!(repo.repositories().len(), 3);
    repo
}

#[tokio::test]
async fn signer_from_the_environment_verifies_through_the_https_repository() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    let key = p256();
    let kid = kid("billing/2026-11-01");
    server.publish_key(&kid, &key);
    let env = EnvSigner::from_vars(vars(vec![
        ("ASAP_ISSUER", "billing".into()),
        ("ASAP_PRIVATE_KEY", to_data_uri(&kid, &key).expect("uri")),
        ("ASAP_AUDIENCE", "ledger".into()),
    ]))
    .expect("signer from env");
    let token = env.sign().expect("sign");

    let verifier = verifier(repository_from_env(&ca, &server), &["billing"]);
    let verified = verifier.verify(token.as_str()).await.expect("verifies");
    assert_eq!(verified.kid(), &kid);
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn signer_from_a_file_repository_verifies_through_the_https_repository() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    let root = tempfile::tempdir().expect("dir");
    std::fs::create_dir(root.path().join("billing")).expect("mkdir");
    let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    std::fs::write(
        root.path().join("billing/2026-11-01.pem"),
        key.to_pkcs8_pem().expect("pem"),
    )
    .expect("write");
    server.publish_key(&kid("billing/2026-11-01.pem"), &key);

    let keys = FileKeyRepository::builder(root.path(), "billing")
        .algorithm(Algorithm::PS256)
        .build()
        .expect("repo");
    let signer = Signer::builder("billing")
        .key_source(Arc::new(keys))
        .build()
        .expect("signer");
    let verifier = verifier(repository_from_env(&ca, &server), &["billing"]);
    let verified = verifier
        .verify(signer.sign(&aud()).expect("sign").as_str())
        .await
        .expect("verifies");
    assert_eq!(verified.algorithm(), Algorithm::PS256);
    assert_eq!(verified.kid().as_str(), "billing/2026-11-01.pem");
}

const PYTHON_SIGNER: &str = "\
import sys, atlassian_jwt_auth
issuer, kid, audience, algorithm = sys.argv[1:5]
signer = atlassian_jwt_auth.create_signer(issuer, kid, sys.stdin.read(), algorithm=algorithm)
token = signer.generate_jwt(audience)
print(token.decode() if isinstance(token, bytes) else token)
";

#[tokio::test]
async fn tokens_from_the_python_reference_verify_through_the_https_repository() {
    let Some(python) = asap_testkit::python::require(&["atlassian_jwt_auth"]) else {
        return;
    };
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    let verifier = verifier(repository_from_env(&ca, &server), &["python-svc"]);
    for (alg, spec) in [
        (Algorithm::RS256, KeySpec::Rsa(2048)),
        (Algorithm::PS256, KeySpec::Rsa(2048)),
        (Algorithm::ES256, KeySpec::Curve(KeyKind::P256)),
        (Algorithm::ES384, KeySpec::Curve(KeyKind::P384)),
        (Algorithm::ES512, KeySpec::Curve(KeyKind::P521)),
    ] {
        let key = PrivateKey::generate(spec).expect("generate");
        let kid = kid(&format!("python-svc/{}", alg.as_str().to_lowercase()));
        server.publish_key(&kid, &key);
        let pem = key.to_pkcs8_pem().expect("pem");
        let token = python.run(
            PYTHON_SIGNER,
            &["python-svc", kid.as_str(), "ledger", alg.as_str()],
            &pem,
        );
        let verified = verifier
            .verify(&token)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(verified.issuer(), "python-svc");
        assert_eq!(verified.algorithm(), alg);
    }
}

#[tokio::test]
async fn a_chain_asks_sources_in_order() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    let (pinned_key, remote_key) = (p256(), p256());
    server.publish_key(&kid("billing/remote"), &remote_key);
    server.publish(
        "billing/bad",
        Reply::pem(include_str!("../fixtures/rsa1024.pub.pem")),
    );
    let pinned = StaticKeySource::new()
        .with_key(kid("billing/pinned"), pinned_key.public_key().expect("pk"))
        .with_key(kid("billing/remote"), pinned_key.public_key().expect("pk"));
    let chain = ChainKeySource::new()
        .then(pinned)
        .then(repo(&ca, &server.url()).build().expect("repo"));

    assert_eq!(
        *chain.public_key(&kid("billing/pinned")).await.expect("pinned"),
        pinned_key.public_key().expect("pk")
    );
    assert_eq!(server.hits(), 0, "the first source answered");
    // The first source wins even when a later one has a key for the kid.
    assert_eq!(
        *chain
            .public_key(&kid("billing/remote"))
            .await
            .expect("first wins"),
        pinned_key.public_key().expect("pk")
    );
    assert!(matches!(
        chain.public_key(&kid("billing/bad")).await,
        Err(KeySourceError::InvalidKey { .. })
    ));
    assert!(matches!(
        chain.public_key(&kid("billing/none")).await,
        Err(KeySourceError::NotFound(_))
    ));

    // A source that is down makes a miss a 503, not a 401: the key may exist.
    let down = ChainKeySource::new()
        .then(
            repo(&ca, &format!("https://127.0.0.1:{}/", refused_port()))
                .build()
                .expect("repo"),
        )
        .then(StaticKeySource::new());
    assert!(matches!(
        down.public_key(&kid("billing/none")).await,
        Err(KeySourceError::Unavailable(_))
    ));
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<HttpKeyRepository>();
    check::<FileKeyRepository>();
    check::<ChainKeySource>();
    check::<EnvSigner>();
    check::<asap_keys::FetchError>();
    check::<asap_keys::LoadError>();
    fn future_is_send<F: std::future::Future + Send>(_: F) {}
    let repo = HttpKeyRepository::builder("https://keys.example/")
        .build()
        .expect("repo");
    let kid = kid("a/b");
    future_is_send(repo.public_key(&kid));
}
