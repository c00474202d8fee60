//! A key repository that misbehaves: huge, slow, redirecting, wrong content type, private keys,
//! certificates, two keys in one file, a key of another curve. Each fails closed.

use std::time::{Duration, Instant};

use asap_core::{Algorithm, KeyKind, KeySpec, PrivateKey};
use serde_json::json;

use super::stack::{Answer, Repo, Stack, claims, signed};

#[tokio::test]
async fn hostile_key_repositories_fail_closed() {
    let s = Stack::start().await;
    // The attacker's server, where a redirect would lead: it serves the attacker's key.
    let attacker = Repo::start(&s.ca).await;
    let attacker_key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
    attacker.publish("svc/redirect", &attacker_key);

    let public_pem = s.key.public_key().expect("public").to_pem();
    let attacker_pem = attacker_key.public_key().expect("public").to_pem();
    s.repo.set("svc/huge", Answer::Huge(1 << 20));
    s.repo.set(
        "svc/slow",
        Answer::Slow(Duration::from_secs(10), public_pem.clone()),
    );
    s.repo.set(
        "svc/redirect",
        Answer::Redirect(format!("{}svc/redirect", attacker.url())),
    );
    s.repo
        .set("svc/html", Answer::Body("text/html", public_pem.clone()));
    s.repo.set(
        "svc/private",
        Answer::Body("application/x-pem-file", s.key.to_pkcs8_pem().expect("pem")),
    );
    s.repo.set(
        "svc/certificate",
        Answer::Body("application/x-pem-file", s.ca.server_cert_pem()),
    );
    s.repo.set(
        "svc/two-keys",
        Answer::Body("application/x-pem-file", format!("{attacker_pem}{public_pem}")),
    );
    s.repo.set(
        "svc/p384",
        Answer::Body(
            "application/x-pem-file",
            PrivateKey::generate(KeySpec::Curve(KeyKind::P384))
                .expect("p384")
                .public_key()
                .expect("public")
                .to_pem(),
        ),
    );

    let token_for = |kid: &str, key: &PrivateKey| {
        signed(
            &json!({"alg": "ES256", "kid": kid}),
            &claims(),
            key,
            Algorithm::ES256,
        )
    };
    for (kid, status, refusal) in [
        ("svc/huge", 503, "KeyUnavailable("),
        ("svc/redirect", 503, "KeyUnavailable("),
        ("svc/html", 503, "KeyUnavailable("),
        (
            "svc/private",
            401,
            "InvalidKey { kid: KeyId(\"svc/private\"), source: WrongKeyClass",
        ),
        (
            "svc/certificate",
            401,
            "InvalidKey { kid: KeyId(\"svc/certificate\"), source: Pem(",
        ),
        (
            "svc/two-keys",
            401,
            "InvalidKey { kid: KeyId(\"svc/two-keys\"), source: Pem(",
        ),
        (
            "svc/p384",
            401,
            "Token(KeyAlgorithmMismatch { alg: ES256, key: P384 })",
        ),
        ("svc/absent", 401, "KeyNotFound(KeyId(\"svc/absent\"))"),
    ] {
        s.refused_like(kid, &token_for(kid, &s.key), status, refusal)
            .await;
    }
    // The attacker's own key, behind the redirect, is never fetched, so its token fails too.
    s.refused_like(
        "attacker-signed, redirected",
        &token_for("svc/redirect", &attacker_key),
        503,
        "KeyUnavailable(",
    )
    .await;
    assert_eq!(attacker.hits(), 0, "the redirect was followed");

    let started = Instant::now();
    s.refused_like("svc/slow", &token_for("svc/slow", &s.key), 503, "KeyUnavailable(")
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Refusals that are about the key (not the transport) are remembered: no second fetch.
    let before = s.repo.hits();
    for kid in ["svc/private", "svc/absent"] {
        s.refused_like(kid, &token_for(kid, &s.key), 401, "").await;
    }
    assert_eq!(
        s.repo.hits(),
        before,
        "an invalid or absent key was fetched again at once"
    );
}
