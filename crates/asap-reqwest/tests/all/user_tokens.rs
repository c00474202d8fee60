//! The per-user token middleware against the per-user token layer over loopback: a fresh
//! single-use token on every request, never sent in clear to another host, and only to the
//! allowed origins once there are some.

use asap_core::{KeyKind, KeySpec, PrivateKey};
use asap_reqwest::{Origin, OtherOrigins, UserTokenMiddleware, UserTokenMiddlewareError};
use asap_testkit::http::spawn_http;
use asap_tower::{UserAuthenticated, UserLayer};
use axum::Router;
use axum::routing::get;
use reqwest_middleware::ClientBuilder;
use user_tokens::{StaticUserKeys, UserSigner, UserVerifier};

#[tokio::test]
async fn every_request_carries_a_fresh_token_the_layer_accepts() {
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("key");
    let verifier =
        UserVerifier::builder(StaticUserKeys::new().with_key("ann", key.public_key().expect("public")))
            .build()
            .expect("verifier");
    let app = Router::new()
        .route(
            "/whoami",
            get(|UserAuthenticated(user): UserAuthenticated| async move { user.username().to_owned() }),
        )
        .layer(UserLayer::new(verifier));
    let base = format!("http://{}", spawn_http(app).await);
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(UserTokenMiddleware::new(
            UserSigner::new("ann", key).expect("signer"),
        ))
        .build();
    // Many requests in the same second: each has its own nonce, none is a replay.
    for _ in 0..5 {
        let response = client
            .get(format!("{base}/whoami"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.expect("body"), "ann");
    }
}

#[tokio::test]
async fn a_token_is_never_sent_in_clear_to_another_host() {
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("key");
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(UserTokenMiddleware::new(
            UserSigner::new("ann", key).expect("signer"),
        ))
        .build();
    let err = client
        .get("http://example.com/x")
        .send()
        .await
        .expect_err("refused");
    let reqwest_middleware::Error::Middleware(err) = err else {
        panic!("not the middleware: {err}")
    };
    assert!(matches!(
        err.downcast_ref::<UserTokenMiddlewareError>(),
        Some(UserTokenMiddlewareError::InsecureUrl(origin)) if origin == "http://example.com"
    ));
}

/// A server answering `/echo` with the request's `Authorization` header, or `none`.
async fn echo_authorization() -> String {
    let app = Router::new().route(
        "/echo",
        get(|headers: http::HeaderMap| async move {
            headers
                .get("authorization")
                .map_or("none".to_owned(), |v| v.to_str().unwrap_or_default().to_owned())
        }),
    );
    format!("http://{}", spawn_http(app).await)
}

#[tokio::test]
async fn a_token_goes_only_to_the_allowed_origins() {
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("key");
    let verifier =
        UserVerifier::builder(StaticUserKeys::new().with_key("ann", key.public_key().expect("public")))
            .build()
            .expect("verifier");
    let app = Router::new()
        .route(
            "/whoami",
            get(|UserAuthenticated(user): UserAuthenticated| async move { user.username().to_owned() }),
        )
        .layer(UserLayer::new(verifier));
    let allowed = format!("http://{}", spawn_http(app).await);
    let other = echo_authorization().await;
    let middleware = UserTokenMiddleware::new(UserSigner::new("ann", key).expect("signer"))
        .allow_origins([Origin::parse(&allowed).expect("origin")]);

    let client = ClientBuilder::new(reqwest::Client::new())
        .with(middleware.clone())
        .build();
    let response = client
        .get(format!("{allowed}/whoami"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.text().await.expect("body"), "ann");
    let err = client
        .get(format!("{other}/echo?q=1"))
        .send()
        .await
        .expect_err("refused");
    let reqwest_middleware::Error::Middleware(err) = err else {
        panic!("not the middleware: {err}")
    };
    assert!(matches!(
        err.downcast_ref::<UserTokenMiddlewareError>(),
        Some(UserTokenMiddlewareError::OriginNotAllowed { origin }) if *origin == other
    ));

    let passing = ClientBuilder::new(reqwest::Client::new())
        .with(middleware.other_origins(OtherOrigins::SendUnsigned))
        .build();
    let response = passing.get(format!("{other}/echo")).send().await.expect("sent");
    assert_eq!(response.text().await.expect("body"), "none");
}
