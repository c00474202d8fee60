//! `BindToRequest`: the middleware binds the token of one request to its method and URL, and a
//! route that requires binding (asap-tower) checks it.

use asap_core::*;
use asap_reqwest::{AsapMiddleware, AsapMiddlewareError, BindToRequest};
use asap_testkit::http::spawn_http;
use asap_tower::{AsapLayer, Authenticated};
use axum::Router;
use axum::routing::any;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use serde_json::{Value, json};

struct Setup {
    client: ClientWithMiddleware,
    base: String,
}

/// `/echo/…` echoes the verified claims; `/api/pay` requires tokens bound relative to `/api`.
async fn setup(middleware: impl FnOnce(AsapMiddleware) -> AsapMiddleware) -> Setup {
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
    let kid = KeyId::parse("billing/k1").expect("kid");
    let keys = StaticKeySource::new().with_key(kid.clone(), key.public_key().expect("public"));
    let signer = Signer::builder("billing")
        .key(SigningKey::new(kid, key, None).expect("sk"))
        .build()
        .expect("signer");
    let verifier = Verifier::builder(keys)
        .audience(Audience::new("ledger").expect("aud"))
        .build()
        .expect("verifier");
    let service = AsapLayer::new(verifier);
    let echo = |Authenticated(caller): Authenticated| async move { axum::Json(caller.claims().to_json()) };
    let app = Router::new()
        .route("/echo/{*rest}", any(echo))
        .route(
            "/api/pay",
            any(echo).layer(service.narrow().require_bound_token("/api").expect("base")),
        )
        .layer(service);
    let addr = spawn_http(app).await;
    let base = format!("http://{addr}");
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(middleware(AsapMiddleware::new(
            &signer,
            Audience::new("ledger").expect("aud"),
        )))
        .build();
    Setup { client, base }
}

async fn claims(request: reqwest_middleware::RequestBuilder) -> Value {
    let response = request.send().await.expect("send");
    assert_eq!(response.status(), 200);
    serde_json::from_str(&response.text().await.expect("body")).expect("json")
}

#[tokio::test]
async fn a_bound_request_carries_the_qsh_of_its_method_and_url() {
    let s = setup(|m| m).await;
    let url = format!("{}/echo/a%20b?z=1&a=2", s.base);
    let claims = claims(s.client.post(&url).with_extension(BindToRequest)).await;
    let expected = connect_qsh::qsh("POST", &url, "").expect("qsh");
    assert_eq!(claims["qsh"], json!(expected));
    let unbound = self::claims(s.client.post(&url)).await;
    assert!(unbound.get("qsh").is_none(), "binding is opt-in per request");
}

#[tokio::test]
async fn bound_tokens_are_fresh_per_request_while_unbound_ones_are_reused() {
    let s = setup(|m| m).await;
    let url = format!("{}/echo/x", s.base);
    let a = claims(s.client.get(&url).with_extension(BindToRequest)).await;
    let b = claims(s.client.get(&url).with_extension(BindToRequest)).await;
    assert_eq!(a["qsh"], b["qsh"]);
    assert_ne!(a["jti"], b["jti"], "the same request twice gets two tokens");
    let c = claims(s.client.get(&url)).await;
    let d = claims(s.client.get(&url)).await;
    assert_eq!(c["jti"], d["jti"], "unbound tokens are reused");
    assert_ne!(c["jti"], a["jti"]);
}

#[tokio::test]
async fn a_route_that_requires_binding_accepts_bound_requests_relative_to_its_base_url() {
    let s = setup(|m| m.bind_relative_to("/api")).await;
    let url = format!("{}/api/pay?amount=3", s.base);
    let claims = claims(s.client.post(&url).with_extension(BindToRequest)).await;
    assert_eq!(
        claims["qsh"],
        json!(connect_qsh::qsh("POST", "/pay?amount=3", "").expect("qsh")),
        "the path is relative to the base URL"
    );
    let unbound = s.client.post(&url).send().await.expect("send");
    assert_eq!(unbound.status(), 401);
}

#[tokio::test]
async fn a_request_outside_the_base_url_is_not_sent() {
    let s = setup(|m| m.bind_relative_to("/api")).await;
    let err = s
        .client
        .get(format!("{}/apis/pay", s.base))
        .with_extension(BindToRequest)
        .send()
        .await
        .expect_err("not under /api");
    let reqwest_middleware::Error::Middleware(inner) = err else {
        panic!("not a middleware error: {err}")
    };
    let typed = inner.downcast_ref::<AsapMiddlewareError>().expect("typed error");
    assert!(
        matches!(
            typed,
            AsapMiddlewareError::Bind(connect_qsh::QshError::NotUnderBaseUrl)
        ),
        "{typed}"
    );
}
