//! The middleware against a verifying server.

use asap_core::*;
use asap_reqwest::{AsapAudience, AsapClaims, AsapMiddleware, AsapMiddlewareError, AsapSubject};
use asap_testkit::http::spawn_http;
use asap_tower::{AsapLayer, Authenticated};
use axum::Router;
use axum::routing::get;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use serde_json::{Value, json};

struct Setup {
    signer: Signer,
    base: String,
}

/// A server for audiences "ledger" and "audit" that echoes the verified claims and the raw
/// Authorization header.
async fn setup() -> Setup {
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
    let kid = KeyId::parse("billing/k1").expect("kid");
    let keys = StaticKeySource::new().with_key(kid.clone(), key.public_key().expect("public"));
    let signer = Signer::builder("billing")
        .key(SigningKey::new(kid, key, None).expect("sk"))
        .build()
        .expect("signer");
    let verifier = Verifier::builder(keys)
        .audience(Audience::new("ledger").expect("aud"))
        .audience(Audience::new("audit").expect("aud"))
        .allow_subject_other_than_issuer(true)
        .build()
        .expect("verifier");
    let app = Router::new()
        .route(
            "/echo",
            get(
                |Authenticated(caller): Authenticated, headers: http::HeaderMap| async move {
                    axum::Json(json!({
                        "claims": caller.claims().to_json(),
                        "authorization": headers["authorization"].to_str().unwrap_or_default(),
                    }))
                },
            ),
        )
        .layer(AsapLayer::new(verifier));
    let addr = spawn_http(app).await;
    Setup {
        signer,
        base: format!("http://{addr}"),
    }
}

fn client(middleware: AsapMiddleware) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build()
}

async fn echo(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    serde_json::from_str(&response.text().await.expect("body")).expect("json")
}

#[tokio::test]
async fn every_request_carries_a_verifiable_bearer_token() {
    let s = setup().await;
    let c = client(AsapMiddleware::new(
        &s.signer,
        Audience::new("ledger").expect("aud"),
    ));
    let body = echo(c.get(format!("{}/echo", s.base)).send().await.expect("send")).await;
    assert_eq!(body["claims"]["iss"], "billing");
    assert_eq!(body["claims"]["aud"], "ledger");
    assert!(
        body["authorization"]
            .as_str()
            .expect("header")
            .starts_with("Bearer ")
    );
}

#[tokio::test]
async fn tokens_are_reused_by_default_and_fresh_on_request() {
    let s = setup().await;
    let reusing = client(AsapMiddleware::new(
        &s.signer,
        Audience::new("ledger").expect("aud"),
    ));
    let a = echo(
        reusing
            .get(format!("{}/echo", s.base))
            .send()
            .await
            .expect("send"),
    )
    .await;
    let b = echo(
        reusing
            .get(format!("{}/echo", s.base))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(a["authorization"], b["authorization"]);
    assert!(!s.signer.reuses_tokens(), "the caller's signer is left as it was");

    let fresh = client(AsapMiddleware::new(&s.signer, Audience::new("ledger").expect("aud")).fresh_tokens());
    let a = echo(fresh.get(format!("{}/echo", s.base)).send().await.expect("send")).await;
    let b = echo(fresh.get(format!("{}/echo", s.base)).send().await.expect("send")).await;
    assert_ne!(a["claims"]["jti"], b["claims"]["jti"]);
}

#[tokio::test]
async fn audience_subject_and_claims_can_be_set_per_request() {
    let s = setup().await;
    let c = client(AsapMiddleware::new(
        &s.signer,
        Audience::new("ledger").expect("aud"),
    ));
    let mut claims = serde_json::Map::new();
    claims.insert("scope".into(), json!("events:read"));
    let body = echo(
        c.get(format!("{}/echo", s.base))
            .with_extension(AsapAudience(Audience::new("audit").expect("aud")))
            .with_extension(AsapSubject("user-9".into()))
            .with_extension(AsapClaims(claims))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(body["claims"]["aud"], "audit");
    assert_eq!(body["claims"]["sub"], "user-9");
    assert_eq!(body["claims"]["scope"], "events:read");
}

#[tokio::test]
async fn an_explicit_authorization_header_is_left_alone() {
    let s = setup().await;
    let c = client(AsapMiddleware::new(
        &s.signer,
        Audience::new("ledger").expect("aud"),
    ));
    let response = c
        .get(format!("{}/echo", s.base))
        .header("authorization", "Bearer x.y.z")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn signing_errors_surface_typed() {
    let s = setup().await;
    let c = client(AsapMiddleware::new(
        &s.signer,
        Audience::new("ledger").expect("aud"),
    ));
    let mut claims = serde_json::Map::new();
    claims.insert("iss".into(), json!("someone-else"));
    let err = c
        .get(format!("{}/echo", s.base))
        .with_extension(AsapClaims(claims))
        .send()
        .await
        .expect_err("registered claim refused");
    let reqwest_middleware::Error::Middleware(inner) = err else {
        panic!("not a middleware error: {err}")
    };
    let typed = inner.downcast_ref::<AsapMiddlewareError>().expect("typed error");
    assert!(matches!(typed, AsapMiddlewareError::Sign(SignError::Claim { name, .. }) if name == "iss"));
}
