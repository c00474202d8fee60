//! Per-user and central-issuer tokens end to end over 127.0.0.1: keys in the SQL registry, an
//! axum service behind the layers, clients through the reqwest middleware and the Python
//! packages themselves.

use asap_core::{KeyKind, KeySpec, PrivateKey};
use asap_registry::KeyRegistry;
use asap_reqwest::UserTokenMiddleware;
use asap_testkit::http::spawn_http;
use asap_testkit::jwt_peers;
use asap_tower::{IssuerAuthenticated, IssuerLayer, UserAuthenticated, UserLayer};
use axum::Router;
use axum::routing::get;
use issuer_tokens::{IssueRequest, IssuerPolicy, IssuerSigner, IssuerVerifier};
use reqwest_middleware::ClientBuilder;
use user_tokens::{UserSigner, UserVerifier};

#[tokio::test]
async fn users_sign_with_their_own_keys_registered_in_sql_until_revoked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = KeyRegistry::open(&format!("sqlite:{}", dir.path().join("keys.db").display()))
        .await
        .expect("registry");
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("key");
    let pem = key.to_pkcs8_pem().expect("pem");
    registry
        .add("ann", Some("laptop"), &key.public_key().expect("public").to_pem())
        .await
        .expect("register");
    let verifier = UserVerifier::builder(registry.clone()).build().expect("verifier");
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
    let response = client
        .get(format!("{base}/whoami"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.text().await.expect("body"), "ann");

    if let Some(py) = jwt_peers::asymmetric_jwt_auth() {
        let header = jwt_peers::auth_header(&py, "ann", &pem, None);
        let response = reqwest::Client::new()
            .get(format!("{base}/whoami"))
            .header("authorization", header)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "the package's own client");
    }

    registry.revoke("ann", "laptop").await.expect("revoke");
    let response = client
        .get(format!("{base}/whoami"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_central_issuers_tokens_open_the_routes_their_level_and_scopes_allow() {
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
    let app = Router::new()
        .route(
            "/me",
            get(|IssuerAuthenticated(c): IssuerAuthenticated| async move { c.subject().to_owned() }),
        )
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(
                service.narrow(IssuerPolicy::new().min_level(3.0).require_scopes(["admin:all"])),
            ),
        )
        .layer(service);
    let base = format!("http://{}", spawn_http(app).await);
    let signer = IssuerSigner::new(key).expect("signer");
    let call = |path: &'static str, token: String| {
        let url = format!("{base}{path}");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        }
    };
    let admin = signer
        .sign(
            &IssueRequest::new("ann")
                .role("admin")
                .level(3.0)
                .scopes(["admin:all"]),
        )
        .expect("token");
    let user = signer
        .sign(&IssueRequest::new("bob").level(4.0).scopes(["user:all"]))
        .expect("token");
    let weak_admin = signer
        .sign(
            &IssueRequest::new("eve")
                .role("admin")
                .level(2.0)
                .scopes(["admin:all"]),
        )
        .expect("token");
    assert_eq!(call("/me", user.clone()).await, 200);
    assert_eq!(call("/admin", admin).await, 200);
    assert_eq!(call("/admin", user).await, 403);
    assert_eq!(call("/admin", weak_admin).await, 403);
    assert_eq!(call("/me", "garbage".into()).await, 401);
}
