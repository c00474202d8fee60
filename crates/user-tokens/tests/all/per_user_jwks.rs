//! A user's keys from the JWKS URL registered for that user (`PerUserJwks`), served on
//! 127.0.0.1: the set is fetched once and answers for its user only; a set that cannot be
//! fetched is a 503 for the keys it held, and "no key" for any other fingerprint, as for a user
//! who is not registered.

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

    // Bob's set has never been fetched: whatever key a token names, the answer is the one a
    // user who is not registered gets (before the fix, a 503 that told bob is registered).
    let bob = UserSigner::new("bob", ed25519())
        .expect("signer")
        .sign()
        .expect("token");
    let err = verifier.verify(&bob).await.expect_err("no set");
    assert!(matches!(err, UserTokenError::NoMatchingKey), "{err}");
}

#[tokio::test]
async fn a_set_that_is_down_is_a_503_for_its_users_keys_and_no_key_for_made_up_ones() {
    use std::sync::atomic::AtomicBool;

    let ann = ed25519();
    let ann_set = user_jwks([&ann.public_key().expect("public")]).to_string();
    let down = Arc::new(AtomicBool::new(false));
    let router = Router::new()
        .route(
            "/ann.json",
            get(
                |State((set, down)): State<(String, Arc<AtomicBool>)>| async move {
                    if down.load(Ordering::SeqCst) {
                        StatusCode::SERVICE_UNAVAILABLE.into_response()
                    } else {
                        (
                            [
                                ("content-type", "application/json"),
                                ("cache-control", "max-age=60"),
                            ],
                            set,
                        )
                            .into_response()
                    }
                },
            ),
        )
        .with_state((ann_set, down.clone()));
    let addr = spawn_http(router).await;
    let clock = Arc::new(asap_core::ManualClock::new(asap_core::Clock::now(
        &asap_core::SystemClock,
    )));
    let template = JwksKeySource::builder(format!("http://{addr}/template.json"))
        .allow_insecure_loopback(true)
        .clock(clock.clone())
        .build()
        .expect("template");
    let keys = PerUserJwks::new(template)
        .with_user("ann", &format!("http://{addr}/ann.json"))
        .expect("ann's URL");
    keys.warm().await;
    let verifier = UserVerifier::builder(keys).build().expect("verifier");
    let ann = UserSigner::new("ann", ann).expect("signer");
    verifier.verify(&ann.sign().expect("token")).await.expect("up");

    // Ann's set goes down and stays down past every window that lets it answer.
    down.store(true, Ordering::SeqCst);
    clock.advance(2 * 24 * 3600);
    let err = verifier
        .verify(&ann.sign().expect("token"))
        .await
        .expect_err("down");
    assert!(
        matches!(err, UserTokenError::KeysUnavailable(_)),
        "ann's own key: {err}"
    );
    // A made-up key under ann's name gets what a user who is not registered gets.
    for username in ["ann", "carol"] {
        let made_up = UserSigner::new(username, ed25519())
            .expect("signer")
            .sign()
            .expect("token");
        let err = verifier.verify(&made_up).await.expect_err("no key");
        assert!(matches!(err, UserTokenError::NoMatchingKey), "{username}: {err}");
    }
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
