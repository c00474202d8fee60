//! RS256 Connect request tokens: signed with a private key the way the product signs lifecycle
//! callbacks, verified by the Authenticator's public-key mode from a key source by `kid`.

use std::sync::Arc;

use asap_core::{
    AlgorithmError, KeyError, KeyId, KeyKind, KeySpec, PrivateKey, PublicKeySource, StaticKeySource,
    TokenError,
};
use connect_qsh::{
    AuthError, Authenticator, ConnectSigner, InMemorySharedSecretStore, QshBinding, SharedSecret, SignError,
};
use http::{HeaderMap, HeaderValue, Method, Uri};

const APP_BASE_URL: &str = "https://app.example.com/connect";
const CLIENT_KEY: &str = "jira:tenant-1";
const SECRET: &str = "tenant-1-shared-secret";
const KID: &str = "install-key-2026-12";
const TARGET: &str = "/connect/panel?issue=KEY-1";

struct Keys {
    product: PrivateKey,
    kid: KeyId,
    authenticator: Authenticator,
}

fn keys() -> Keys {
    let product = PrivateKey::generate(KeySpec::Rsa(2048)).expect("RSA key");
    let kid = KeyId::parse(KID).expect("kid");
    let source: Arc<dyn PublicKeySource> =
        Arc::new(StaticKeySource::new().with_key(kid.clone(), product.public_key().expect("public")));
    let secrets = InMemorySharedSecretStore::new();
    secrets.insert(CLIENT_KEY, SharedSecret::new(SECRET).expect("a non-empty secret"));
    let authenticator = Authenticator::builder(secrets)
        .base_url(APP_BASE_URL)
        .public_keys(source)
        .build()
        .expect("valid");
    Keys {
        product,
        kid,
        authenticator,
    }
}

fn product_signer() -> ConnectSigner {
    ConnectSigner::new(CLIENT_KEY).audience(APP_BASE_URL)
}

fn jwt(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("JWT {token}")).expect("header"),
    );
    headers
}

async fn check(
    authenticator: &Authenticator,
    method: &Method,
    token: &str,
) -> Result<connect_qsh::VerifiedRequest, AuthError> {
    authenticator
        .authenticate(method, &Uri::from_static(TARGET), &jwt(token))
        .await
}

#[tokio::test]
async fn an_rs256_request_token_verifies_with_the_key_of_its_kid() {
    let k = keys();
    let token = product_signer()
        .sign_rs256(&k.product, &k.kid, "GET", TARGET, "/connect")
        .expect("signed");
    let ok = check(&k.authenticator, &Method::GET, &token)
        .await
        .expect("accepted");
    assert_eq!(ok.client_key(), CLIENT_KEY);
    assert_eq!(ok.key_id(), Some(&k.kid));
    assert_eq!(ok.binding(), QshBinding::Request);

    // Bound to the request like any Connect token.
    let err = check(&k.authenticator, &Method::POST, &token)
        .await
        .expect_err("other method");
    assert!(matches!(err, AuthError::QshMismatch), "{err}");

    // HS256 tokens of the tenant keep working in this mode.
    let hs = ConnectSigner::new(CLIENT_KEY)
        .sign(
            &SharedSecret::new(SECRET).expect("a non-empty secret"),
            "GET",
            TARGET,
            "/connect",
        )
        .expect("signed");
    let ok = check(&k.authenticator, &Method::GET, &hs)
        .await
        .expect("accepted");
    assert_eq!(ok.key_id(), None);
}

#[tokio::test]
async fn rs256_refusals_name_the_rule() {
    let k = keys();
    let sign = |signer: ConnectSigner, key: &PrivateKey, kid: &str| {
        signer
            .sign_rs256(key, &KeyId::parse(kid).expect("kid"), "GET", TARGET, "/connect")
            .expect("signed")
    };
    let other_key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("RSA key");

    let forged = sign(product_signer(), &other_key, KID);
    let err = check(&k.authenticator, &Method::GET, &forged)
        .await
        .expect_err("forged");
    assert!(matches!(err, AuthError::Token(TokenError::BadSignature)), "{err}");

    let unknown_kid = sign(product_signer(), &k.product, "another-kid");
    let err = check(&k.authenticator, &Method::GET, &unknown_kid)
        .await
        .expect_err("unknown kid");
    assert!(matches!(err, AuthError::KeyNotFound(_)), "{err}");
    assert_eq!(err.outcome().status(), 401);

    let no_aud = sign(ConnectSigner::new(CLIENT_KEY), &k.product, KID);
    let err = check(&k.authenticator, &Method::GET, &no_aud)
        .await
        .expect_err("no aud");
    assert!(
        matches!(err, AuthError::Token(TokenError::AudienceMismatch)),
        "{err}"
    );

    let other_app = sign(
        ConnectSigner::new(CLIENT_KEY).audience("https://other-app.example.com"),
        &k.product,
        KID,
    );
    let err = check(&k.authenticator, &Method::GET, &other_app)
        .await
        .expect_err("other aud");
    assert!(
        matches!(err, AuthError::Token(TokenError::AudienceMismatch)),
        "{err}"
    );

    let not_installed = sign(
        ConnectSigner::new("jira:not-installed").audience(APP_BASE_URL),
        &k.product,
        KID,
    );
    let err = check(&k.authenticator, &Method::GET, &not_installed)
        .await
        .expect_err("unknown tenant");
    assert!(matches!(err, AuthError::UnknownIssuer(_)), "{err}");
}

#[tokio::test]
async fn without_public_keys_rs256_is_refused() {
    let k = keys();
    let secrets = InMemorySharedSecretStore::new();
    secrets.insert(CLIENT_KEY, SharedSecret::new(SECRET).expect("a non-empty secret"));
    let hs_only = Authenticator::builder(secrets)
        .base_url(APP_BASE_URL)
        .build()
        .expect("valid");
    let token = product_signer()
        .sign_rs256(&k.product, &k.kid, "GET", TARGET, "/connect")
        .expect("signed");
    let err = check(&hs_only, &Method::GET, &token)
        .await
        .expect_err("HS256 only");
    assert!(
        matches!(
            err,
            AuthError::Token(TokenError::Algorithm(AlgorithmError::NotAccepted { .. }))
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_non_rsa_key_for_the_kid_is_an_invalid_key() {
    let ec = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("EC key");
    let kid = KeyId::parse(KID).expect("kid");
    let source: Arc<dyn PublicKeySource> =
        Arc::new(StaticKeySource::new().with_key(kid.clone(), ec.public_key().expect("public")));
    let secrets = InMemorySharedSecretStore::new();
    secrets.insert(CLIENT_KEY, SharedSecret::new(SECRET).expect("a non-empty secret"));
    let authenticator = Authenticator::builder(secrets)
        .base_url(APP_BASE_URL)
        .public_keys(source)
        .build()
        .expect("valid");
    let rsa = PrivateKey::generate(KeySpec::Rsa(2048)).expect("RSA key");
    let token = product_signer()
        .sign_rs256(&rsa, &kid, "GET", TARGET, "/connect")
        .expect("signed");
    let err = check(&authenticator, &Method::GET, &token)
        .await
        .expect_err("EC key");
    assert!(
        matches!(
            err,
            AuthError::InvalidKey {
                source: KeyError::AlgorithmMismatch { .. },
                ..
            }
        ),
        "{err}"
    );

    // And the signer refuses to sign RS256 with it.
    let err = product_signer()
        .sign_rs256(&ec, &kid, "GET", TARGET, "/connect")
        .expect_err("not RSA");
    assert!(matches!(err, SignError::Key(_)), "{err}");
}

#[test]
fn public_keys_need_an_absolute_base_url() {
    let source: Arc<dyn PublicKeySource> = Arc::new(StaticKeySource::new());
    let err = Authenticator::builder(InMemorySharedSecretStore::new())
        .base_url("/connect")
        .public_keys(source)
        .build()
        .expect_err("the aud must be absolute");
    assert!(err.to_string().contains("must be absolute"), "{err}");
}
