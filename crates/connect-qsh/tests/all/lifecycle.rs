//! The install lifecycle end to end: an RS256 install key served by a key repository on
//! 127.0.0.1, the tenant store, and the re-install rule.

use std::sync::Arc;

use asap_core::{AlgorithmError, KeyId, KeySpec, PrivateKey, PublicKeySource, StaticKeySource, TokenError};
use connect_qsh::{
    AuthError, Authenticator, CallbackSignature, InMemoryTenantStore, Lifecycle, SharedSecret, TenantSecrets,
    TenantStore, qsh,
};
use http::{HeaderMap, HeaderValue, Method, Uri};
use serde_json::{Value, json};

use crate::support::{KeyRepository, hs256_token, hs512_token, install_keys, none_token, now, rs256_token};

const APP_BASE_URL: &str = "https://app.example.com/connect";
const CLIENT_KEY: &str = "7f3a1c2e-tenant-client-key";
const KID: &str = "0e50fccb-239d-4991-a5db-dc850ba3f236";

fn payload(event: &str, client_key: &str, secret: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "key": "my-app",
        "clientKey": client_key,
        "sharedSecret": secret,
        "baseUrl": "https://acme.atlassian.net/wiki",
        "productType": "confluence",
        "eventType": event,
    }))
    .expect("serialises")
}

fn rs256_callback(key: &PrivateKey, kid: &str, path: &str, iss: &str, aud: &str) -> String {
    let claims = json!({
        "iss": iss,
        "aud": aud,
        "iat": now(),
        "exp": now() + 180,
        "qsh": qsh("POST", path, "").expect("qsh"),
    });
    rs256_token(&json!({"alg": "RS256", "typ": "JWT", "kid": kid}), &claims, key)
}

fn hs256_callback(secret: &str, path: &str, iss: &str) -> String {
    let claims = json!({
        "iss": iss,
        "iat": now(),
        "exp": now() + 180,
        "qsh": qsh("POST", path, "").expect("qsh"),
    });
    hs256_token(&json!({"alg": "HS256", "typ": "JWT"}), &claims, secret)
}

fn jwt(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("JWT {token}")).expect("valid header"),
    );
    headers
}

struct Fixture {
    install_key: PrivateKey,
    tenants: Arc<InMemoryTenantStore>,
    lifecycle: Lifecycle,
    repository: KeyRepository,
}

/// An install key published on a key repository served on 127.0.0.1, reached over HTTP.
async fn fixture() -> Fixture {
    let install_key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("RSA key");
    let repository = KeyRepository::default();
    repository.publish(KID, &install_key.public_key().expect("public key"));
    let base = repository.serve().await;
    let keys: Arc<dyn PublicKeySource> = Arc::new(install_keys(&base));
    let tenants = Arc::new(InMemoryTenantStore::new());
    let lifecycle = Lifecycle::builder(APP_BASE_URL, keys, tenants.clone())
        .build()
        .expect("valid");
    Fixture {
        install_key,
        tenants,
        lifecycle,
        repository,
    }
}

fn installed_uri() -> Uri {
    Uri::from_static("/connect/installed")
}

fn uninstalled_uri() -> Uri {
    Uri::from_static("/connect/uninstalled")
}

async fn install(f: &Fixture, token: &str, body: &[u8]) -> Result<connect_qsh::Tenant, AuthError> {
    f.lifecycle
        .installed(&Method::POST, &installed_uri(), &jwt(token), body)
        .await
}

async fn stored_secret(f: &Fixture) -> Option<String> {
    let tenant = f.tenants.tenant(CLIENT_KEY).await.expect("store answers")?;
    Some(tenant.shared_secret().expose().to_owned())
}

#[tokio::test]
async fn install_flow_end_to_end_against_a_local_key_repository() {
    let f = fixture().await;
    let token = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    let tenant = install(&f, &token, &payload("installed", CLIENT_KEY, "secret-1"))
        .await
        .expect("installed");
    assert_eq!(tenant.client_key(), CLIENT_KEY);
    assert_eq!(tenant.base_url(), "https://acme.atlassian.net/wiki");
    assert!(f.repository.hits() >= 1, "the key came from the repository");

    // The tenant's requests now authenticate with its shared secret.
    let authenticator = Authenticator::builder(TenantSecrets::new(f.tenants.clone()))
        .base_url(APP_BASE_URL)
        .build()
        .expect("valid");
    let request_token = connect_qsh::ConnectSigner::new(CLIENT_KEY)
        .sign(
            &SharedSecret::new("secret-1"),
            "GET",
            "/connect/panel?x=1",
            "/connect",
        )
        .expect("signed");
    let uri: Uri = "/connect/panel?x=1".parse().expect("uri");
    let ok = authenticator
        .authenticate(&Method::GET, &uri, &jwt(&request_token))
        .await
        .expect("tenant known");
    assert_eq!(ok.client_key(), CLIENT_KEY);

    // Uninstall, signed the same way, removes the tenant.
    let token = rs256_callback(&f.install_key, KID, "/uninstalled", CLIENT_KEY, APP_BASE_URL);
    let body = payload("uninstalled", CLIENT_KEY, "secret-1");
    let verified = f
        .lifecycle
        .uninstalled(&Method::POST, &uninstalled_uri(), &jwt(&token), &body)
        .await
        .expect("uninstalled");
    assert_eq!(
        verified.signature(),
        &CallbackSignature::InstallKey(KeyId::parse(KID).expect("kid"))
    );
    assert!(stored_secret(&f).await.is_none());
    let err = authenticator
        .authenticate(&Method::GET, &uri, &jwt(&request_token))
        .await
        .expect_err("must be refused");
    assert!(matches!(err, AuthError::UnknownIssuer(_)), "{err}");
}

#[tokio::test]
async fn signed_install_needs_the_app_base_url_as_audience() {
    let f = fixture().await;
    let token = rs256_callback(
        &f.install_key,
        KID,
        "/installed",
        CLIENT_KEY,
        "https://other-app.example.com",
    );
    let err = install(&f, &token, &payload("installed", CLIENT_KEY, "s"))
        .await
        .expect_err("must be refused");
    assert!(
        matches!(err, AuthError::Token(TokenError::AudienceMismatch)),
        "{err}"
    );
    assert!(stored_secret(&f).await.is_none());
}

#[tokio::test]
async fn payload_client_key_must_be_the_issuer() {
    let f = fixture().await;
    let token = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    let err = install(&f, &token, &payload("installed", "another-tenant", "s"))
        .await
        .expect_err("must be refused");
    assert!(matches!(err, AuthError::ClientKeyMismatch), "{err}");
}

#[tokio::test]
async fn the_callback_qsh_must_match() {
    let f = fixture().await;
    let token = rs256_callback(&f.install_key, KID, "/uninstalled", CLIENT_KEY, APP_BASE_URL);
    let err = install(&f, &token, &payload("installed", CLIENT_KEY, "s"))
        .await
        .expect_err("must be refused");
    assert!(matches!(err, AuthError::QshMismatch), "{err}");
}

#[tokio::test]
async fn an_uninstalled_body_is_not_an_install() {
    let f = fixture().await;
    let token = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    let err = install(&f, &token, &payload("uninstalled", CLIENT_KEY, "s"))
        .await
        .expect_err("must be refused");
    assert!(matches!(err, AuthError::EventMismatch { .. }), "{err}");
}

#[tokio::test]
async fn an_unknown_kid_is_401_and_an_unreachable_repository_503() {
    let f = fixture().await;
    let token = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    let unknown = rs256_callback(
        &f.install_key,
        "not-published",
        "/installed",
        CLIENT_KEY,
        APP_BASE_URL,
    );
    let err = install(&f, &unknown, &payload("installed", CLIENT_KEY, "s"))
        .await
        .expect_err("must be refused");
    assert!(matches!(err, AuthError::KeyNotFound(_)), "{err}");
    assert_eq!(err.outcome().status(), 401);

    // A port nobody listens on: bind one, then free it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}/", listener.local_addr().expect("addr"));
    drop(listener);
    let lifecycle = Lifecycle::builder(APP_BASE_URL, Arc::new(install_keys(&dead)), f.tenants.clone())
        .build()
        .expect("valid");
    let err = lifecycle
        .installed(
            &Method::POST,
            &installed_uri(),
            &jwt(&token),
            &payload("installed", CLIENT_KEY, "s"),
        )
        .await
        .expect_err("must be refused");
    assert!(matches!(err, AuthError::KeyUnavailable(_)), "{err}");
    assert_eq!(err.outcome().status(), 503);
}

#[tokio::test]
async fn a_signature_by_another_key_fails() {
    let f = fixture().await;
    let impostor = PrivateKey::generate(KeySpec::Rsa(2048)).expect("RSA key");
    let token = rs256_callback(&impostor, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    let err = install(&f, &token, &payload("installed", CLIENT_KEY, "s"))
        .await
        .expect_err("must be refused");
    assert!(matches!(err, AuthError::Token(TokenError::BadSignature)), "{err}");
}

#[tokio::test]
async fn a_non_rsa_install_key_is_refused() {
    // StaticKeySource: the same trait, no network.
    let ec = PrivateKey::generate(KeySpec::Curve(asap_core::KeyKind::P256)).expect("EC key");
    let keys =
        StaticKeySource::new().with_key(KeyId::parse(KID).expect("kid"), ec.public_key().expect("public"));
    let tenants = Arc::new(InMemoryTenantStore::new());
    let lifecycle = Lifecycle::builder(APP_BASE_URL, Arc::new(keys), tenants)
        .build()
        .expect("valid");
    let rsa = PrivateKey::generate(KeySpec::Rsa(2048)).expect("RSA key");
    let token = rs256_callback(&rsa, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    let err = lifecycle
        .installed(
            &Method::POST,
            &installed_uri(),
            &jwt(&token),
            &payload("installed", CLIENT_KEY, "s"),
        )
        .await
        .expect_err("must be refused");
    assert!(matches!(err, AuthError::InvalidKey { .. }), "{err}");
}

#[tokio::test]
async fn lifecycle_refuses_none_and_hs512() {
    let f = fixture().await;
    let claims: Value = json!({"iss": CLIENT_KEY, "aud": APP_BASE_URL, "iat": now(), "exp": now() + 60,
        "qsh": qsh("POST", "/installed", "").expect("qsh")});
    for token in [
        none_token(&claims),
        hs512_token(&json!({"alg": "HS512"}), &claims, "s"),
    ] {
        let err = install(&f, &token, &payload("installed", CLIENT_KEY, "s"))
            .await
            .expect_err("must be refused");
        assert!(
            matches!(
                err,
                AuthError::Token(TokenError::Algorithm(AlgorithmError::NotAccepted { .. }))
            ),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_first_install_without_a_signature_is_never_accepted() {
    let f = fixture().await;
    let body = payload("installed", CLIENT_KEY, "s");
    let err = f
        .lifecycle
        .installed(&Method::POST, &installed_uri(), &HeaderMap::new(), &body)
        .await
        .expect_err("must be refused");
    assert!(matches!(err, AuthError::MissingToken), "{err}");
    // HS256 for a tenant nobody installed: there is no current secret to check it with.
    let token = hs256_callback("attacker-chosen", "/installed", CLIENT_KEY);
    let err = install(&f, &token, &body).await.expect_err("must be refused");
    assert!(matches!(err, AuthError::UnknownIssuer(_)), "{err}");
    assert!(stored_secret(&f).await.is_none());
}

#[tokio::test]
async fn a_repeated_install_needs_the_current_secret_or_the_install_key() {
    let f = fixture().await;
    let signed = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    install(&f, &signed, &payload("installed", CLIENT_KEY, "secret-1"))
        .await
        .expect("first install");

    // Signed with the attacker's own new secret: refused, the tenant keeps its secret.
    let forged = hs256_callback("secret-2", "/installed", CLIENT_KEY);
    let err = install(&f, &forged, &payload("installed", CLIENT_KEY, "secret-2"))
        .await
        .expect_err("must be refused");
    assert!(matches!(err, AuthError::Token(TokenError::BadSignature)), "{err}");
    assert_eq!(stored_secret(&f).await.as_deref(), Some("secret-1"));

    // No token at all: refused.
    let err = f
        .lifecycle
        .installed(
            &Method::POST,
            &installed_uri(),
            &HeaderMap::new(),
            &payload("installed", CLIENT_KEY, "x"),
        )
        .await
        .expect_err("must be refused");
    assert!(matches!(err, AuthError::MissingToken), "{err}");
    assert_eq!(stored_secret(&f).await.as_deref(), Some("secret-1"));

    // Signed with the current secret: accepted, and the secret rotates.
    let genuine = hs256_callback("secret-1", "/installed", CLIENT_KEY);
    install(&f, &genuine, &payload("installed", CLIENT_KEY, "secret-2"))
        .await
        .expect("re-install");
    assert_eq!(stored_secret(&f).await.as_deref(), Some("secret-2"));

    // Signed with the install key: accepted too.
    let signed = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    install(&f, &signed, &payload("installed", CLIENT_KEY, "secret-3"))
        .await
        .expect("signed re-install");
    assert_eq!(stored_secret(&f).await.as_deref(), Some("secret-3"));
}
