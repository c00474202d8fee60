//! The per-user token layer (feature `user-tokens`) over loopback: headers made by
//! asymmetric-jwt-auth 1.3.0 itself accepted, each refusal a 401 (or 503) and never a 500.

use std::sync::Arc;

use asap_core::{BoxError, KeyKind, KeySpec, PrivateKey, PublicKey};
use asap_testkit::http::spawn_http;
use asap_testkit::jwt_peers;
use asap_tower::{UserAuthenticated, UserLayer};
use axum::Router;
use axum::routing::get;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use user_tokens::{Fingerprint, StaticUserKeys, UserKeyFuture, UserKeySource, UserSigner, UserVerifier};

async fn whoami(UserAuthenticated(user): UserAuthenticated) -> String {
    user.username().to_owned()
}

async fn serve(keys: impl UserKeySource + 'static) -> String {
    let verifier = UserVerifier::builder(keys).build().expect("verifier");
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route(
            "/maybe",
            get(|user: Option<UserAuthenticated>| async move {
                user.map_or_else(|| "anonymous".to_owned(), |u| u.username().to_owned())
            }),
        )
        .layer(UserLayer::new(verifier.clone()));
    let open = Router::new()
        .route(
            "/open",
            get(|user: Option<UserAuthenticated>| async move {
                user.map_or_else(|| "anonymous".to_owned(), |u| u.username().to_owned())
            }),
        )
        .layer(UserLayer::new(verifier).allow_anonymous(true));
    format!("http://{}", spawn_http(app.merge(open)).await)
}

async fn get_with(base: &str, path: &str, headers: &[&str]) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    for value in headers {
        request = request.header(AUTHORIZATION, *value);
    }
    request.send().await.expect("request")
}

fn keys_for(key: &PrivateKey) -> StaticUserKeys {
    StaticUserKeys::new().with_key("ann", key.public_key().expect("public"))
}

#[tokio::test]
async fn the_packages_headers_are_accepted_for_rsa_and_ed25519() {
    let Some(py) = jwt_peers::asymmetric_jwt_auth() else {
        return;
    };
    for key in [
        PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa"),
        PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("ed25519"),
    ] {
        let base = serve(keys_for(&key)).await;
        let header = jwt_peers::auth_header(&py, "ann", &key.to_pkcs8_pem().expect("pem"), None);
        let response = get_with(&base, "/whoami", &[&header]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.expect("body"), "ann");
        let replayed = get_with(&base, "/whoami", &[&header]).await;
        assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
        assert!(replayed.text().await.expect("body").contains("replay"));
    }
}

#[tokio::test]
async fn refusals_are_401_with_the_jwt_challenge_and_one_body_for_unknown_users() {
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("ed25519");
    let base = serve(keys_for(&key)).await;

    let missing = get_with(&base, "/whoami", &[]).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers()[WWW_AUTHENTICATE], "JWT");

    let stranger = UserSigner::new(
        "mallory",
        PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("k"),
    )
    .expect("signer")
    .authorization()
    .expect("header");
    let wrong_key = UserSigner::new(
        "ann",
        PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("k"),
    )
    .expect("signer")
    .authorization()
    .expect("header");
    let mut bodies = Vec::new();
    for header in [stranger, wrong_key] {
        let response = get_with(&base, "/whoami", &[&header]).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            "JWT error=\"invalid_token\""
        );
        bodies.push(response.text().await.expect("body"));
    }
    assert_eq!(bodies[0], bodies[1], "an unknown user reads like a wrong key");

    let good = UserSigner::new("ann", key).expect("signer");
    for bad in [
        vec!["Bearer abc".to_owned()],
        vec!["JWT not-a-token".to_owned()],
        vec![good.authorization().expect("h"), good.authorization().expect("h")],
        vec![format!("JWT {}", "x".repeat(10_000))],
    ] {
        let values: Vec<&str> = bad.iter().map(String::as_str).collect();
        let response = get_with(&base, "/whoami", &values).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{:?}",
            &bad[0][..bad[0].len().min(20)]
        );
        let body = response.text().await.expect("body");
        assert!(!body.contains("eyJ"), "the token is never echoed: {body}");
    }

    let anonymous = get_with(&base, "/open", &[]).await;
    assert_eq!(anonymous.text().await.expect("body"), "anonymous");
    let signed = get_with(&base, "/open", &[&good.authorization().expect("h")]).await;
    assert_eq!(signed.text().await.expect("body"), "ann");
    let bad_on_open = get_with(&base, "/open", &["JWT a.b.c"]).await;
    assert_eq!(bad_on_open.status(), StatusCode::UNAUTHORIZED);
}

/// A key store that cannot answer.
#[derive(Debug)]
struct Down;

impl UserKeySource for Down {
    fn user_key<'a>(&'a self, _: &'a str, _: &'a Fingerprint) -> UserKeyFuture<'a> {
        Box::pin(async { Err::<Option<Arc<PublicKey>>, BoxError>("database on fire at 10.0.0.7".into()) })
    }
}

#[tokio::test]
async fn a_key_store_that_cannot_answer_is_a_503_naming_nothing() {
    let base = serve(Down).await;
    let header = UserSigner::new(
        "ann",
        PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("k"),
    )
    .expect("signer")
    .authorization()
    .expect("header");
    let response = get_with(&base, "/whoami", &[&header]).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    assert!(!response.text().await.expect("body").contains("10.0.0.7"));
}
