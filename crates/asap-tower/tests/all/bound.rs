//! Routes that require request-bound tokens (`AsapLayer::require_bound_token`): the token's
//! `qsh` must be the hash of the request received, by Connect's canonical request.

use asap_core::*;
use asap_tower::{AsapLayer, Authenticated};
use axum::Router;
use axum::body::Body;
use axum::routing::{any, get};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

use crate::support::*;

struct Fixture {
    caller: Caller,
    app: Router,
}

/// `/open` accepts any token of the audience; `/pay` and everything under `/nested/api`
/// (mounted with `Router::nest`, so axum strips the prefix) require bound tokens.
fn fixture() -> Fixture {
    let caller = Caller::new("billing");
    let service = AsapLayer::new(verifier(keys(&[&caller])).build().expect("verifier"));
    let bound = service.narrow().require_bound_token("").expect("base URL");
    let whoami = |Authenticated(c): Authenticated| async move { c.issuer().to_owned() };
    let nested = Router::new().route("/api/{*rest}", any(whoami).layer(bound.clone()));
    let app = Router::new()
        .route("/open", get(whoami))
        .route("/pay", any(whoami).layer(bound))
        .route(
            "/a/{*rest}",
            any(whoami).layer(service.narrow().require_bound_token("/a").expect("base")),
        )
        .nest("/nested", nested)
        .layer(service);
    Fixture { caller, app }
}

impl Fixture {
    /// A token bound to `method` `url` relative to `base_url`, as a client computes it.
    fn bound_token(&self, method: &str, url: &str, base_url: &str) -> String {
        let qsh = connect_qsh::qsh(method, url, base_url).expect("qsh");
        let request =
            TokenRequest::new(Audience::new(AUDIENCE).expect("aud")).bind(Qsh::new(&qsh).expect("qsh"));
        self.caller.token_for(&request)
    }

    async fn send(&self, method: &str, target: &str, token: &str) -> (StatusCode, Value, String) {
        let request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(target)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().expect("ascii").to_owned())
            .unwrap_or_default();
        let body = response.into_body().collect().await.expect("body").to_bytes();
        let body =
            serde_json::from_slice(&body).unwrap_or(Value::String(String::from_utf8_lossy(&body).into()));
        (status, body, challenge)
    }
}

#[tokio::test]
async fn a_bound_token_is_accepted_on_the_request_it_was_made_for() {
    let f = fixture();
    for (method, target) in [
        ("GET", "/pay"),
        ("POST", "/pay?amount=3&to=acme"),
        ("DELETE", "/pay"),
    ] {
        let token = f.bound_token(method, target, "");
        let (status, body, _) = f.send(method, target, &token).await;
        assert_eq!(status, StatusCode::OK, "{method} {target}: {body}");
        assert_eq!(body, "billing");
    }
}

#[tokio::test]
async fn a_bound_token_is_refused_on_another_path_query_or_method() {
    let f = fixture();
    let token = f.bound_token("POST", "/pay?amount=3", "");
    for (method, target) in [
        ("POST", "/nested/api/pay?amount=3"),
        ("POST", "/pay?amount=300"),
        ("POST", "/pay?amount=3&amount=4"),
        ("POST", "/pay"),
        ("PUT", "/pay?amount=3"),
        // Methods are case-sensitive; the canonical request upper-cases them, so a lower-case
        // method never matches rather than matching the upper-case one.
        ("post", "/pay?amount=3"),
    ] {
        let (status, body, challenge) = f.send(method, target, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {target}");
        assert_eq!(body["error"], "invalid_token", "{method} {target}");
        assert_eq!(
            body["error_description"], "the token is bound to another request (qsh mismatch)",
            "{method} {target}"
        );
        assert_eq!(challenge, "Bearer error=\"invalid_token\"");
    }
}

#[tokio::test]
async fn a_reordered_query_is_accepted_only_when_the_canonical_form_is_the_same() {
    let f = fixture();
    let token = f.bound_token("GET", "/pay?b=2&a=1&a=0", "");
    // The canonical query sorts keys and a key's repeated values, and form-decodes `+`.
    for same in [
        "/pay?a=1&b=2&a=0",
        "/pay?a=0&a=1&b=2",
        "/pay?b=2&a=0&a=1&jwt=ignored",
    ] {
        let (status, body, _) = f.send("GET", same, &token).await;
        assert_eq!(status, StatusCode::OK, "{same}: {body}");
    }
    let token = f.bound_token("GET", "/pay?q=a+b&r=x%26y", "");
    assert_eq!(
        f.send("GET", "/pay?r=x%26y&q=a%20b", &token).await.0,
        StatusCode::OK
    );
    // Not the same canonical form: `,` inside a value is not two values, `&` not a separator.
    let token = f.bound_token("GET", "/pay?a=1&a=2", "");
    assert_eq!(
        f.send("GET", "/pay?a=1%2C2", &token).await.0,
        StatusCode::UNAUTHORIZED
    );
    let token = f.bound_token("GET", "/pay?r=x%26y", "");
    assert_eq!(
        f.send("GET", "/pay?r=x&y", &token).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_unbound_token_is_refused_where_binding_is_required() {
    let f = fixture();
    let (status, body, challenge) = f.send("GET", "/pay", &f.caller.token()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "unbound_token");
    assert_eq!(
        body["error_description"],
        "this route requires a token bound to the request (a `qsh` claim); the token is not bound"
    );
    assert_eq!(challenge, "Bearer error=\"invalid_token\"");
}

#[tokio::test]
async fn a_bound_token_verifies_on_routes_that_do_not_require_binding() {
    let f = fixture();
    let token = f.bound_token("POST", "/pay", "");
    let (status, body, _) = f.send("GET", "/open", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_received_path_is_hashed_even_under_a_nested_router() {
    let f = fixture();
    let target = "/nested/api/reports?year=2026";
    let token = f.bound_token("GET", target, "");
    assert_eq!(f.send("GET", target, &token).await.0, StatusCode::OK);
    // The path axum hands the nested router (prefix stripped) is not what the client bound.
    let stripped = f.bound_token("GET", "/api/reports?year=2026", "");
    assert_eq!(f.send("GET", target, &stripped).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_binding_is_relative_to_the_base_url() {
    let f = fixture();
    let token = f.bound_token(
        "GET",
        "https://ledger.example/a/b?x=1",
        "https://ledger.example/a",
    );
    assert_eq!(f.send("GET", "/a/b?x=1", &token).await.0, StatusCode::OK);
    // Bound relative to no base (path `/a/b`): not what a route with base `/a` computes (`/b`).
    let absolute = f.bound_token("GET", "/a/b?x=1", "");
    assert_eq!(
        f.send("GET", "/a/b?x=1", &absolute).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_path_rules_are_connects_inbound_ones() {
    let f = fixture();
    // A client that hashed the decoded form of a resource-preserving escape is accepted…
    let decoded = f.bound_token("GET", "/a/caf\u{e9} x", "/a");
    assert_eq!(
        f.send("GET", "/a/caf%C3%A9%20x", &decoded).await.0,
        StatusCode::OK
    );
    // …but an encoded `/` is one segment, never two.
    let two_segments = f.bound_token("GET", "/a/users/1/delete", "/a");
    assert_eq!(
        f.send("GET", "/a/users/1%2Fdelete", &two_segments).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn a_base_url_that_is_neither_a_url_nor_a_path_is_a_configuration_error() {
    let caller = Caller::new("billing");
    let layer = AsapLayer::new(verifier(keys(&[&caller])).build().expect("verifier"));
    let err = layer
        .require_bound_token("ledger.example/api")
        .expect_err("refused");
    assert!(
        err.to_string().contains("neither an absolute URL nor a path"),
        "{err}"
    );
}

#[tokio::test]
async fn a_layer_with_its_own_verifier_checks_the_binding_too() {
    let caller = Caller::new("billing");
    let layer = AsapLayer::new(verifier(keys(&[&caller])).build().expect("verifier"))
        .require_bound_token("")
        .expect("base URL");
    let f = Fixture {
        app: Router::new().route("/pay", any(|| async { "paid" })).layer(layer),
        caller,
    };
    let token = f.bound_token("POST", "/pay", "");
    assert_eq!(f.send("POST", "/pay", &token).await.0, StatusCode::OK);
    assert_eq!(f.send("PUT", "/pay", &token).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        f.send("POST", "/pay", &f.caller.token()).await.1["error"],
        "unbound_token"
    );
}

#[tokio::test]
async fn a_bound_route_with_its_own_replay_guard_admits_each_bound_request_once() {
    // The service reuses tokens everywhere (no replay guard); the bound route verifies again
    // with a verifier that remembers every jti, which costs bound clients nothing: their tokens
    // are fresh per request.
    let caller = Caller::new("billing");
    let service = AsapLayer::new(verifier(keys(&[&caller])).build().expect("verifier"));
    let once = AsapLayer::new(
        verifier(keys(&[&caller]))
            .replay_guard(std::sync::Arc::new(InMemoryReplayGuard::new(1000)))
            .build()
            .expect("verifier"),
    )
    .require_bound_token("")
    .expect("base URL");
    let f = Fixture {
        app: Router::new()
            .route("/pay", any(|| async { "paid" }).layer(once))
            .route("/open", get(|| async { "open" }))
            .layer(service),
        caller,
    };
    let token = f.bound_token("POST", "/pay", "");
    assert_eq!(f.send("POST", "/pay", &token).await.0, StatusCode::OK);
    let (status, body, _) = f.send("POST", "/pay", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error_description"], "token was already used (jti replay)");
    let second = f.bound_token("POST", "/pay", "");
    assert_eq!(f.send("POST", "/pay", &second).await.0, StatusCode::OK);
    let unbound = f.caller.token();
    assert_eq!(f.send("GET", "/open", &unbound).await.0, StatusCode::OK);
    assert_eq!(
        f.send("GET", "/open", &unbound).await.0,
        StatusCode::OK,
        "reused elsewhere"
    );
}
