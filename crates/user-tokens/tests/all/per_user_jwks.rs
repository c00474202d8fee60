//! A user's keys from the JWKS URL registered for that user (`PerUserJwks`), served on
//! 127.0.0.1: the set is fetched once, answers for its user only, and a set that cannot be
//! fetched is a 503, not "no key".

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use asap_core::{KeyKind, KeySpec, PrivateKey};
use asap_keys::JwksKeySource;
use asap_testkit::http::spawn_http;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use user_tokens::{PerUserJwks, UserSigner, UserTokenError, UserVerifier, user_jwks};

fn ed25519() -> PrivateKey {
    PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("ed25519")
}

#[tokio::test]
async fn a_users_key_set_answers_for_that_user_only_and_is_fetched_once() {
    let ann = ed25519();
    // The set ann registered: her key as the service's own JWKS view writes it (kid =
    // fingerprint), read back through the strict JWKS parser.
    let ann_set = user_jwks([&ann.public_key().expect("public")]).to_string();
    let fetches = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .route(
            "/{name}",
            get(
                |State((set, fetches)): State<(String, Arc<AtomicUsize>)>, Path(name): Path<String>| async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    if name == "ann.json" {
                        ([("content-type", "application/json")], set).into_response()
                    } else {
                        StatusCode::NOT_FOUND.into_response()
                    }
                },
            ),
        )
        .with_state((ann_set, fetches.clone()));
    let addr = spawn_http(router).await;
    let template = JwksKeySource::builder(format!("http://{addr}/template.json"))
        .allow_insecure_loopback(true)
        .build()
        .expect("template");
    let keys = PerUserJwks::new(template)
        .with_user("ann", &format!("http://{addr}/ann.json"))
        .expect("ann's URL")
        .with_user("bob", &format!("http://{addr}/gone.json"))
        .expect("bob's URL");
    keys.warm().await;
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "each registered set fetched once"
    );
    let verifier = UserVerifier::builder(keys).build().expect("verifier");

    let token = UserSigner::new("ann", ann)
        .expect("signer")
        .sign()
        .expect("token");
    let user = verifier.verify(&token).await.expect("ann's key is in ann's set");
    assert_eq!(user.username(), "ann");

    // Another key under ann's name, and a user without a set: one answer, no key.
    let forged = UserSigner::new("ann", ed25519())
        .expect("signer")
        .sign()
        .expect("token");
    assert!(matches!(
        verifier.verify(&forged).await,
        Err(UserTokenError::NoMatchingKey)
    ));
    let carol = UserSigner::new("carol", ed25519())
        .expect("signer")
        .sign()
        .expect("token");
    assert!(matches!(
        verifier.verify(&carol).await,
        Err(UserTokenError::NoMatchingKey)
    ));

    // Bob's set cannot be fetched: the service cannot check him now (503), it does not say
    // he has no key.
    let bob = UserSigner::new("bob", ed25519())
        .expect("signer")
        .sign()
        .expect("token");
    let err = verifier.verify(&bob).await.expect_err("no set");
    assert!(matches!(err, UserTokenError::KeysUnavailable(_)), "{err}");
}

#[test]
fn a_users_key_set_must_be_fetched_over_https() {
    let template = JwksKeySource::builder("https://keys.example.com/template.json")
        .build()
        .expect("template");
    let err = PerUserJwks::new(template)
        .with_user("ann", "http://keys.example.com/ann.json")
        .expect_err("plain http to another host");
    assert!(err.to_string().contains("key set URL"), "{err}");
}
