//! App session tokens: minted after a page load the product signed, accepted only where the
//! route allows them, and never confused with the app's outbound tokens.

use std::sync::Arc;
use std::time::Duration;

use asap_core::{Jws, ManualClock, RegisteredClaims, TokenError};
use connect_qsh::{
    AuthError, Authenticator, ConnectSigner, InMemorySharedSecretStore, QshBinding, QshPolicy, SharedSecret,
    VerifiedRequest,
};
use http::{HeaderMap, HeaderValue, Method, Uri};
use serde_json::json;

use crate::support::hs256_token;

const APP_KEY: &str = "com.example.my-app";
const CLIENT_KEY: &str = "jira:tenant-1";
const SECRET: &str = "tenant-1-shared-secret";
const OTHER_CLIENT: &str = "jira:tenant-2";
const OTHER_SECRET: &str = "tenant-2-shared-secret";
const NOW: i64 = 1_800_000_000;

fn authenticator(clock: &Arc<ManualClock>) -> Authenticator {
    let secrets = InMemorySharedSecretStore::new();
    secrets.insert(CLIENT_KEY, SharedSecret::new(SECRET).expect("a non-empty secret"));
    secrets.insert(
        OTHER_CLIENT,
        SharedSecret::new(OTHER_SECRET).expect("a non-empty secret"),
    );
    Authenticator::builder(secrets)
        .base_url("https://app.example.com")
        .session_tokens(APP_KEY)
        .clock(clock.clone())
        .build()
        .expect("valid")
}

fn jwt(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("JWT {token}")).expect("header"),
    );
    headers
}

/// The product loads the app's page `/panel` for user `acc-1`.
async fn page_load(authenticator: &Authenticator, clock: &Arc<ManualClock>) -> VerifiedRequest {
    let token = ConnectSigner::new(CLIENT_KEY)
        .subject("acc-1")
        .clock(clock.clone())
        .sign(
            &SharedSecret::new(SECRET).expect("a non-empty secret"),
            "GET",
            "/panel?lic=active",
            "",
        )
        .expect("signed");
    let uri = Uri::from_static("/panel?lic=active");
    authenticator
        .authenticate(&Method::GET, &uri, &jwt(&token))
        .await
        .expect("page load authenticated")
}

async fn call(
    authenticator: &Authenticator,
    token: &str,
    policy: QshPolicy,
) -> Result<VerifiedRequest, AuthError> {
    let uri = Uri::from_static("/api/issues?page=2");
    authenticator
        .authenticate_with(&Method::POST, &uri, &jwt(token), policy)
        .await
}

#[tokio::test]
async fn a_page_load_mints_a_session_token_with_the_ace_claims() {
    let clock = Arc::new(ManualClock::new(NOW));
    let authenticator = authenticator(&clock);
    let page = page_load(&authenticator, &clock).await;
    let session = page.session_token().expect("minted");
    assert!(
        !format!("{page:?}").contains(session),
        "Debug hides the session token"
    );

    let jws = Jws::parse(session, 8192).expect("a JWS");
    jws.header().require_alg("HS256").expect("HS256");
    let mut claims = RegisteredClaims::decode(&jws.payload().expect("payload")).expect("typed");
    assert_eq!(claims.iss.as_deref(), Some(APP_KEY));
    assert_eq!(claims.sub.as_deref(), Some("acc-1"));
    assert_eq!(claims.aud, [CLIENT_KEY]);
    assert_eq!((claims.iat, claims.exp), (Some(NOW), Some(NOW + 900)));
    assert_eq!(claims.take_string("qsh").expect("typed"), None, "no qsh");

    // The page calls the app back with it, on any method and URL of a route that allows it.
    let ok = call(&authenticator, session, QshPolicy::AllowSession)
        .await
        .expect("accepted");
    assert_eq!(ok.client_key(), CLIENT_KEY);
    assert_eq!(ok.subject(), Some("acc-1"));
    assert_eq!(ok.binding(), QshBinding::Session);
    assert!(
        ok.session_token().is_none(),
        "a session token never mints another"
    );
    call(&authenticator, session, QshPolicy::AllowContextOrSession)
        .await
        .expect("accepted");
}

#[tokio::test]
async fn a_session_token_is_refused_where_a_request_bound_token_is_required() {
    let clock = Arc::new(ManualClock::new(NOW));
    let authenticator = authenticator(&clock);
    let page = page_load(&authenticator, &clock).await;
    let session = page.session_token().expect("minted");
    for policy in [QshPolicy::RequestOnly, QshPolicy::AllowContext] {
        let err = call(&authenticator, session, policy)
            .await
            .expect_err("must be refused");
        assert!(
            matches!(err, AuthError::SessionTokenNotAllowed),
            "{policy:?}: {err}"
        );
        assert_eq!(err.outcome().status(), 403);
    }
}

#[tokio::test]
async fn the_apps_outbound_tokens_are_not_sessions() {
    let clock = Arc::new(ManualClock::new(NOW));
    let authenticator = authenticator(&clock);
    // What the app sends the product: iss = app key, the tenant's secret, a qsh (and here an
    // aud naming the tenant). Replayed to the app, it is not a session token.
    let outbound = ConnectSigner::new(APP_KEY)
        .audience(CLIENT_KEY)
        .clock(clock.clone())
        .sign(
            &SharedSecret::new(SECRET).expect("a non-empty secret"),
            "POST",
            "/api/issues?page=2",
            "",
        )
        .expect("signed");
    let err = call(&authenticator, &outbound, QshPolicy::AllowSession)
        .await
        .expect_err("must be refused");
    assert!(
        matches!(
            err,
            AuthError::Token(TokenError::InvalidClaim { claim: "qsh", .. })
        ),
        "{err}"
    );
    assert_eq!(err.outcome().status(), 401);
}

#[tokio::test]
async fn a_session_token_is_checked_against_the_tenant_it_names() {
    let clock = Arc::new(ManualClock::new(NOW));
    let authenticator = authenticator(&clock);
    let claims = |aud: serde_json::Value| json!({"iss": APP_KEY, "aud": aud, "sub": "acc-1", "iat": NOW, "exp": NOW + 60});
    let header = json!({"alg": "HS256", "typ": "JWT"});

    // Tenant 2 (who knows its own secret) names tenant 1.
    let forged = hs256_token(&header, &claims(json!([CLIENT_KEY])), OTHER_SECRET);
    let err = call(&authenticator, &forged, QshPolicy::AllowSession)
        .await
        .expect_err("forged");
    assert!(matches!(err, AuthError::Token(TokenError::BadSignature)), "{err}");

    let unknown = hs256_token(&header, &claims(json!(["jira:nobody"])), SECRET);
    let err = call(&authenticator, &unknown, QshPolicy::AllowSession)
        .await
        .expect_err("unknown");
    assert!(matches!(err, AuthError::UnknownIssuer(_)), "{err}");

    let none = hs256_token(
        &header,
        &json!({"iss": APP_KEY, "iat": NOW, "exp": NOW + 60}),
        SECRET,
    );
    let err = call(&authenticator, &none, QshPolicy::AllowSession)
        .await
        .expect_err("no aud");
    assert!(
        matches!(err, AuthError::Token(TokenError::MissingClaim("aud"))),
        "{err}"
    );

    let two = hs256_token(&header, &claims(json!([CLIENT_KEY, OTHER_CLIENT])), SECRET);
    let err = call(&authenticator, &two, QshPolicy::AllowSession)
        .await
        .expect_err("two auds");
    assert!(
        matches!(
            err,
            AuthError::Token(TokenError::InvalidClaim { claim: "aud", .. })
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_session_token_expires_and_its_lifetime_is_capped() {
    let clock = Arc::new(ManualClock::new(NOW));
    let authenticator = authenticator(&clock);
    let page = page_load(&authenticator, &clock).await;
    let session = page.session_token().expect("minted").to_owned();
    let later = NOW + 900 + 31;
    clock.set(later);
    let err = call(&authenticator, &session, QshPolicy::AllowSession)
        .await
        .expect_err("expired");
    assert!(
        matches!(err, AuthError::Token(TokenError::Expired { .. })),
        "{err}"
    );

    // Minted by someone with the secret to live a day: longer than the session lifetime.
    let day = hs256_token(
        &json!({"alg": "HS256", "typ": "JWT"}),
        &json!({"iss": APP_KEY, "aud": [CLIENT_KEY], "iat": later, "exp": later + 86_400}),
        SECRET,
    );
    let err = call(&authenticator, &day, QshPolicy::AllowSession)
        .await
        .expect_err("too long");
    assert!(
        matches!(err, AuthError::Token(TokenError::BadLifetime { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn without_session_tokens_nothing_is_minted_or_accepted() {
    let clock = Arc::new(ManualClock::new(NOW));
    let secrets = InMemorySharedSecretStore::new();
    secrets.insert(CLIENT_KEY, SharedSecret::new(SECRET).expect("a non-empty secret"));
    let plain = Authenticator::builder(secrets)
        .clock(clock.clone())
        .build()
        .expect("valid");
    let page = page_load(&plain, &clock).await;
    assert!(page.session_token().is_none());

    let session = page_load(&authenticator(&clock), &clock).await;
    let err = call(
        &plain,
        session.session_token().expect("minted"),
        QshPolicy::AllowSession,
    )
    .await
    .expect_err("not a tenant token");
    assert!(
        matches!(err, AuthError::Token(TokenError::MissingClaim("qsh"))),
        "{err}"
    );
}

#[tokio::test]
async fn a_context_token_mints_no_session() {
    let clock = Arc::new(ManualClock::new(NOW));
    let authenticator = authenticator(&clock);
    let context = hs256_token(
        &json!({"alg": "HS256", "typ": "JWT"}),
        &json!({"iss": CLIENT_KEY, "qsh": "context-qsh", "iat": NOW, "exp": NOW + 60}),
        SECRET,
    );
    let ok = call(&authenticator, &context, QshPolicy::AllowContext)
        .await
        .expect("accepted");
    assert_eq!(ok.binding(), QshBinding::Context);
    assert!(ok.session_token().is_none());
}

#[test]
fn the_session_lifetime_is_bounded() {
    let build = |secs| {
        Authenticator::builder(InMemorySharedSecretStore::new())
            .session_tokens(APP_KEY)
            .session_lifetime(Duration::from_secs(secs))
            .build()
    };
    assert!(build(3600).is_ok());
    assert!(build(3601).is_err());
    assert!(build(0).is_err());
    assert!(
        Authenticator::builder(InMemorySharedSecretStore::new())
            .session_tokens("")
            .build()
            .is_err()
    );
}
