//! The central-issuer layer (feature `issuer-tokens`) over loopback: tokens made by api_jwt
//! 1.3.2 itself, route policies (level, scopes, scopes per role) as 403s, bad tokens as 401s.

use asap_core::{KeySpec, PrivateKey};
use asap_testkit::http::spawn_http;
use asap_testkit::jwt_peers;
use asap_tower::{IssuerAuthenticated, IssuerLayer};
use axum::Router;
use axum::routing::get;
use issuer_tokens::{IssueRequest, IssuerPolicy, IssuerSigner, IssuerVerifier};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use serde_json::json;

async fn serve(key: &PrivateKey) -> String {
    let verifier = IssuerVerifier::builder()
        .trusted_key(key.public_key().expect("public"))
        .build()
        .expect("verifier");
    let service = IssuerLayer::new(verifier).policy(
        IssuerPolicy::new()
            .role_scopes("user", ["user:all"])
            .role_scopes("admin", ["admin:all"]),
    );
    let app = Router::new()
        .route(
            "/me",
            get(|IssuerAuthenticated(claims): IssuerAuthenticated| async move {
                format!("{} {} {}", claims.subject(), claims.role(), claims.level())
            }),
        )
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(
                service.narrow(IssuerPolicy::new().min_level(3.0).require_scopes(["admin:all"])),
            ),
        )
        .layer(service);
    format!("http://{}", spawn_http(app).await)
}

async fn get_with(base: &str, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn the_packages_tokens_pass_route_policies() {
    let Some(py) = jwt_peers::api_jwt() else { return };
    let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let base = serve(&key).await;
    let pem = key.to_pkcs8_pem().expect("pem");
    let encode = |kwargs: serde_json::Value| jwt_peers::api_jwt_encode(&py, &pem, &json!({}), &kwargs);

    let admin = encode(json!({"subject": "ann", "key": "admin", "level": 4.0, "scopes": ["admin:all"]}));
    let response = get_with(&base, "/me", Some(&admin)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("body"), "ann admin 4.0");
    assert_eq!(
        get_with(&base, "/admin", Some(&admin)).await.status(),
        StatusCode::OK
    );

    let weak = encode(json!({"subject": "ann", "key": "admin", "level": 2.0, "scopes": ["admin:all"]}));
    let response = get_with(&base, "/admin", Some(&weak)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("below the required")
    );

    let user = encode(json!({"subject": "bob", "key": "user", "level": 4.0, "scopes": ["user:all"]}));
    assert_eq!(get_with(&base, "/me", Some(&user)).await.status(), StatusCode::OK);
    let response = get_with(&base, "/admin", Some(&user)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()[WWW_AUTHENTICATE],
        "Bearer error=\"insufficient_scope\""
    );
}

#[tokio::test]
async fn bad_tokens_are_401_and_a_scope_beyond_the_role_is_403() {
    let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let base = serve(&key).await;
    let missing = get_with(&base, "/me", None).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers()[WWW_AUTHENTICATE], "Bearer");

    let stranger = IssuerSigner::new(PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa"))
        .expect("signer")
        .sign(&IssueRequest::new("ann"))
        .expect("token");
    for token in [stranger.as_str(), "a.b.c", "not a token"] {
        let response = get_with(&base, "/me", Some(token)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token}");
    }

    // An issuer whose own policy lets `user` carry `admin:all`: refused by the service's.
    let lax = asap_core::ClaimsPolicy::new()
        .role("user", ["user:all", "admin:all"])
        .allow_any("level");
    let token = IssuerSigner::new(key)
        .expect("signer")
        .claims_policy(lax)
        .sign(&IssueRequest::new("mallory").scopes(["admin:all"]))
        .expect("token");
    let response = get_with(&base, "/me", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.expect("body").contains("may not carry"));
}

/// A route layer made with its own `IssuerLayer::new` (another verifier, other trusted keys)
/// verifies again: the outer layer's admission counts only for layers that share its verifier.
#[tokio::test]
async fn an_inner_layer_with_another_verifier_verifies_again() {
    let (outer_key, inner_key) = (
        PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa"),
        PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa"),
    );
    let layer = |key: &PrivateKey| {
        IssuerLayer::new(
            IssuerVerifier::builder()
                .trusted_key(key.public_key().expect("public"))
                .build()
                .expect("verifier"),
        )
    };
    let app = Router::new()
        .route("/me", get(|| async { "me" }))
        .route("/admin", get(|| async { "admin" }).route_layer(layer(&inner_key)))
        .layer(layer(&outer_key));
    let base = format!("http://{}", spawn_http(app).await);
    let token = IssuerSigner::new(outer_key)
        .expect("signer")
        .sign(&IssueRequest::new("ann"))
        .expect("token");
    assert_eq!(
        get_with(&base, "/me", Some(&token)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get_with(&base, "/admin", Some(&token)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// A narrowed layer keeps the policy it was narrowed from: on a route added after the outer
/// `.layer` (so the outer layer never runs for it), a `user` token signed with `admin:all` by a
/// lax issuer is still refused by the outer `role_scopes`, not only checked against the route's
/// own scope rule.
#[tokio::test]
async fn a_narrowed_layer_reached_alone_still_applies_the_outer_policy() {
    let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let verifier = IssuerVerifier::builder()
        .trusted_key(key.public_key().expect("public"))
        .build()
        .expect("verifier");
    let service = IssuerLayer::new(verifier).policy(
        IssuerPolicy::new()
            .role_scopes("user", ["user:all"])
            .role_scopes("admin", ["admin:all"]),
    );
    let narrowed = service.narrow(IssuerPolicy::new().require_scopes(["admin:all"]));
    let app = Router::new()
        .route("/me", get(|| async { "me" }))
        .layer(service)
        .route("/admin", get(|| async { "admin" }).route_layer(narrowed));
    let base = format!("http://{}", spawn_http(app).await);
    let lax = asap_core::ClaimsPolicy::new()
        .role("user", ["user:all", "admin:all"])
        .role("admin", ["admin:all"])
        .allow_any("level");
    let signer = IssuerSigner::new(key).expect("signer").claims_policy(lax);
    let mallory = signer
        .sign(&IssueRequest::new("mallory").scopes(["admin:all"]))
        .expect("token");
    let response = get_with(&base, "/admin", Some(&mallory)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.expect("body").contains("may not carry"));
    // The route's own rule still holds, and a token that meets both passes.
    let plain = signer.sign(&IssueRequest::new("bob")).expect("token");
    assert_eq!(
        get_with(&base, "/admin", Some(&plain)).await.status(),
        StatusCode::FORBIDDEN
    );
    let admin = signer
        .sign(&IssueRequest::new("ann").role("admin").scopes(["admin:all"]))
        .expect("token");
    let response = get_with(&base, "/admin", Some(&admin)).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text().await);
}
