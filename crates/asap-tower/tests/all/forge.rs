//! The Forge layer (feature `forge`): an axum app over loopback, called with invocation tokens
//! built to the documented layout; the verifier's keys from a static source (the JWKS path end
//! to end is in the examples' tests).

use std::sync::Arc;

use asap_core::{
    Algorithm, KeyFuture, KeyId, KeySourceError, KeySpec, PrivateKey, PublicKeySource, StaticKeySource,
};
use asap_testkit::http::spawn_http;
use asap_tower::{ForgeInvocation, ForgeLayer};
use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use forge_remote::{InvocationVerifier, SYSTEM_TOKEN_HEADER, USER_TOKEN_HEADER};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use serde_json::{Value, json};

const APP_ID: &str = "ari:cloud:ecosystem::app/5e3a1c52-7d7c-4d55-9d8b-0c1e6c2b8d11";

fn now() -> i64 {
    asap_core::Clock::now(&asap_core::SystemClock)
}

fn claims() -> Value {
    json!({
        "iss": "forge/invocation-token",
        "aud": APP_ID,
        "iat": now(), "nbf": now(), "exp": now() + 60,
        "jti": "jti-1",
        "app": {
            "id": APP_ID,
            "installationId": "ari:cloud:ecosystem::installation/1",
            "apiBaseUrl": "https://api.atlassian.com/ex/jira/c1",
        },
        "context": {"cloudId": "c1"},
        "principal": "account-1",
    })
}

fn token(key: &PrivateKey, claims: &Value) -> String {
    asap_testkit::forge::signed(&json!({"alg": "RS256", "kid": "k1"}), claims, |input| {
        key.sign(Algorithm::RS256, input).expect("sign")
    })
}

/// The handler reports what it saw: the tenant, the principal, and whether the secrets it was
/// handed are hidden from `Debug` of the headers.
async fn invoked(ForgeInvocation(invocation): ForgeInvocation, headers: HeaderMap) -> String {
    let debug = format!("{headers:?}");
    format!(
        "{} {} hidden={}",
        invocation.installation_id(),
        invocation.principal().unwrap_or("-"),
        !debug.contains("system-secret") && !debug.contains("eyJ")
    )
}

async fn app(keys: impl PublicKeySource + 'static) -> String {
    let verifier = InvocationVerifier::builder(APP_ID)
        .key_source(Arc::new(keys))
        .build()
        .expect("verifier");
    let router = Router::new()
        .route("/invoke", post(invoked))
        .layer(ForgeLayer::new(verifier))
        .merge(Router::new().route("/unguarded", post(invoked)));
    format!("http://{}", spawn_http(router).await)
}

fn keys(key: &PrivateKey) -> StaticKeySource {
    StaticKeySource::new().with_key(
        KeyId::parse("k1").expect("kid"),
        key.public_key().expect("public"),
    )
}

#[tokio::test]
async fn a_valid_invocation_reaches_the_handler_with_its_secrets_hidden() {
    let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let base = app(keys(&key)).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/invoke"))
        .header(AUTHORIZATION, format!("Bearer {}", token(&key, &claims())))
        .header(SYSTEM_TOKEN_HEADER, "system-secret")
        .header(USER_TOKEN_HEADER, "user-secret")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.expect("body"),
        "ari:cloud:ecosystem::installation/1 account-1 hidden=true"
    );
}

#[tokio::test]
async fn refusals_are_401_with_a_bearer_challenge() {
    let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let base = app(keys(&key)).await;
    let client = reqwest::Client::new();
    let missing = client.post(format!("{base}/invoke")).send().await.expect("send");
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers()[WWW_AUTHENTICATE], "Bearer");

    let mut wrong_aud = claims();
    wrong_aud["aud"] = json!("ari:cloud:ecosystem::app/other");
    let other_key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    for bad in [
        token(&key, &wrong_aud),
        token(&other_key, &claims()),
        "a.b.c".to_owned(),
    ] {
        let response = client
            .post(format!("{base}/invoke"))
            .header(AUTHORIZATION, format!("Bearer {bad}"))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\""
        );
        let body: Value = serde_json::from_str(&response.text().await.expect("body")).expect("json");
        assert_eq!(body["error"], "invalid_token");
        assert!(!body.to_string().contains(&bad), "the token is never echoed");
    }
    // The extractor alone, without the layer, admits nobody.
    let unguarded = client
        .post(format!("{base}/unguarded"))
        .header(AUTHORIZATION, format!("Bearer {}", token(&key, &claims())))
        .send()
        .await
        .expect("send");
    assert_eq!(unguarded.status(), StatusCode::UNAUTHORIZED);
}

/// A key source that cannot answer: Forge's key set is down.
#[derive(Debug)]
struct Down;

impl PublicKeySource for Down {
    fn public_key<'a>(&'a self, _: &'a KeyId) -> KeyFuture<'a> {
        Box::pin(async {
            Err(KeySourceError::Unavailable(
                "forge.cdn.example unreachable".into(),
            ))
        })
    }
}

#[tokio::test]
async fn keys_that_cannot_be_fetched_are_a_503_naming_no_dependency() {
    let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let base = app(Down).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/invoke"))
        .header(AUTHORIZATION, format!("Bearer {}", token(&key, &claims())))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[RETRY_AFTER], "5");
    assert!(!response.text().await.expect("body").contains("forge.cdn"));
}

#[tokio::test]
async fn with_a_replay_guard_a_replayed_invocation_is_401_with_the_bearer_challenge() {
    let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let verifier = InvocationVerifier::builder(APP_ID)
        .key_source(Arc::new(keys(&key)))
        .build()
        .expect("verifier");
    let guard = Arc::new(asap_core::InMemoryReplayGuard::new(100));
    let router = Router::new()
        .route("/invoke", post(invoked))
        .layer(ForgeLayer::new(verifier).replay_guard(guard));
    let base = format!("http://{}", spawn_http(router).await);
    let client = reqwest::Client::new();
    let token = token(&key, &claims());
    let send = || {
        client
            .post(format!("{base}/invoke"))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
    };
    assert_eq!(send().await.expect("send").status(), StatusCode::OK);
    let replayed = send().await.expect("send");
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        replayed.headers()[WWW_AUTHENTICATE],
        "Bearer error=\"invalid_token\""
    );
    let body: Value = serde_json::from_str(&replayed.text().await.expect("body")).expect("json");
    assert_eq!(body["error"], "invalid_token");
    assert!(!body.to_string().contains(&token), "the token is never echoed");
}

/// Under one replay guard, a layer inside a clone of itself (or another over the same shared
/// verifier) takes the outer layer's admission instead of recording the token again, which
/// would refuse every fresh invocation as a replay of itself. A layer over another verifier
/// still verifies in full.
#[tokio::test]
async fn a_nested_forge_layer_sharing_the_verifier_admits_a_fresh_invocation_once() {
    let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let verifier = || {
        InvocationVerifier::builder(APP_ID)
            .key_source(Arc::new(keys(&key)))
            .build()
            .expect("verifier")
    };
    let guard = Arc::new(asap_core::InMemoryReplayGuard::new(100));
    let layer = ForgeLayer::new(verifier()).replay_guard(guard.clone());
    let shared = Arc::new(verifier().with_replay_guard(guard.clone()));
    let router = Router::new()
        .route("/cloned", post(invoked).route_layer(layer.clone()))
        .layer(layer)
        .merge(
            Router::new()
                .route(
                    "/shared",
                    post(invoked).route_layer(ForgeLayer::from_shared(shared.clone())),
                )
                .layer(ForgeLayer::from_shared(shared)),
        )
        .merge(
            Router::new()
                .route(
                    "/other",
                    post(invoked).route_layer(ForgeLayer::new(verifier()).replay_guard(guard.clone())),
                )
                .layer(ForgeLayer::new(verifier()).replay_guard(guard)),
        );
    let base = format!("http://{}", spawn_http(router).await);
    let client = reqwest::Client::new();
    let send = |path: &'static str, token: String| {
        client
            .post(format!("{base}{path}"))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
    };
    let fresh = |jti: &str| {
        let mut claims = claims();
        claims["jti"] = json!(jti);
        token(&key, &claims)
    };
    for path in ["/cloned", "/shared"] {
        let token = fresh(path);
        let first = send(path, token.clone()).await.expect("send");
        assert_eq!(first.status(), StatusCode::OK, "{path}");
        let replayed = send(path, token).await.expect("send");
        assert_eq!(
            replayed.status(),
            StatusCode::UNAUTHORIZED,
            "{path}: still single-use"
        );
    }
    // Two verifiers that only share the guard: the inner one records the token again.
    let refused = send("/other", fresh("/other")).await.expect("send");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}
