//! The install lifecycle end to end: an RS256 install key served by a key repository on
//! 127.0.0.1, the tenant store, the re-install rule, single-use callback tokens and the tenant
//! base URL rule.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use asap_core::{
    AlgorithmError, KeyId, KeySpec, PrivateKey, PublicKeySource, ReplayError, ReplayFuture, ReplayGuard,
    StaticKeySource, TokenError, TokenUse,
};
use connect_qsh::{
    AuthError, Authenticator, CallbackSignature, InMemoryTenantStore, Lifecycle, LifecycleBuilder,
    LifecycleEvent, PayloadError, SharedSecret, StoreFuture, Tenant, TenantSecrets, TenantStore, qsh,
};
use http::{HeaderMap, HeaderValue, Method, Uri};
use serde_json::{Value, json};

use crate::support::{KeyRepository, hs256_token, hs512_token, install_keys, none_token, now, rs256_token};

const APP_BASE_URL: &str = "https://app.example.com/connect";
const CLIENT_KEY: &str = "7f3a1c2e-tenant-client-key";
const KID: &str = "0e50fccb-239d-4991-a5db-dc850ba3f236";

fn payload(event: &str, client_key: &str, secret: &str) -> Vec<u8> {
    payload_at(event, client_key, secret, "https://acme.atlassian.net/wiki")
}

fn payload_at(event: &str, client_key: &str, secret: &str, base_url: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "key": "my-app",
        "clientKey": client_key,
        "sharedSecret": secret,
        "baseUrl": base_url,
        "productType": "confluence",
        "eventType": event,
    }))
    .expect("serialises")
}

/// `iat` a little earlier for each token made: two callbacks made in the same second are two
/// tokens, as two callbacks of the product are (each callback token is accepted once).
fn issued_at() -> i64 {
    static EARLIER: AtomicI64 = AtomicI64::new(0);
    now() - EARLIER.fetch_add(1, Ordering::Relaxed) % 60
}

fn rs256_callback(key: &PrivateKey, kid: &str, path: &str, iss: &str, aud: &str) -> String {
    let claims = json!({
        "iss": iss,
        "aud": aud,
        "iat": issued_at(),
        "exp": now() + 180,
        "qsh": qsh("POST", path, "").expect("qsh"),
    });
    rs256_token(&json!({"alg": "RS256", "typ": "JWT", "kid": kid}), &claims, key)
}

fn hs256_callback(secret: &str, path: &str, iss: &str) -> String {
    let claims = json!({
        "iss": iss,
        "iat": issued_at(),
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
    fixture_with(|builder| builder, |tenants| tenants).await
}

/// A lifecycle that also accepts installs and uninstalls signed with the tenant's secret.
async fn shared_secret_fixture() -> Fixture {
    fixture_with(|builder| builder.shared_secret_installs(true), |tenants| tenants).await
}

/// [`fixture`] with the lifecycle configured by `configure`, on the store `store` makes of the
/// fixture's in-memory store.
async fn fixture_with(
    configure: impl FnOnce(LifecycleBuilder) -> LifecycleBuilder,
    store: impl FnOnce(Arc<dyn TenantStore>) -> Arc<dyn TenantStore>,
) -> Fixture {
    let install_key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("RSA key");
    let repository = KeyRepository::default();
    repository.publish(KID, &install_key.public_key().expect("public key"));
    let base = repository.serve().await;
    let keys: Arc<dyn PublicKeySource> = Arc::new(install_keys(&base));
    let tenants = Arc::new(InMemoryTenantStore::new());
    let lifecycle = configure(Lifecycle::builder(APP_BASE_URL, keys, store(tenants.clone())))
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
            &SharedSecret::new("secret-1").expect("a non-empty secret"),
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
async fn what_the_lifecycle_hands_back_never_shows_the_shared_secret() {
    let f = fixture().await;
    let token = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    let tenant = install(&f, &token, &payload("installed", CLIENT_KEY, "secret-1"))
        .await
        .expect("installed");
    let token = rs256_callback(&f.install_key, KID, "/uninstalled", CLIENT_KEY, APP_BASE_URL);
    let body = payload("uninstalled", CLIENT_KEY, "secret-1");
    let verified = f
        .lifecycle
        .uninstalled(&Method::POST, &uninstalled_uri(), &jwt(&token), &body)
        .await
        .expect("uninstalled");
    assert_eq!(verified.payload().expose().as_bytes(), body);
    for shown in [
        format!("{tenant:?}"),
        format!("{:?}", tenant.install_payload()),
        format!("{verified:?}"),
        format!("{:?}", verified.payload()),
    ] {
        assert!(!shown.contains("secret-1"), "{shown}");
        assert!(!shown.contains("sharedSecret"), "{shown}");
    }
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
    let f = shared_secret_fixture().await;
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
    let f = shared_secret_fixture().await;
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

#[tokio::test]
async fn installs_and_uninstalls_signed_with_the_shared_secret_are_refused_by_default() {
    let f = fixture().await;
    let signed = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    install(&f, &signed, &payload("installed", CLIENT_KEY, "secret-1"))
        .await
        .expect("first install");

    // Signed with the tenant's current secret, which a leak would give away: refused.
    let reinstall = hs256_callback("secret-1", "/installed", CLIENT_KEY);
    let err = install(&f, &reinstall, &payload("installed", CLIENT_KEY, "secret-2"))
        .await
        .expect_err("must be refused");
    assert!(
        matches!(
            err,
            AuthError::Token(TokenError::Algorithm(AlgorithmError::NotAccepted { .. }))
        ),
        "{err}"
    );
    assert_eq!(err.outcome().status(), 401);
    let uninstall = hs256_callback("secret-1", "/uninstalled", CLIENT_KEY);
    let err = f
        .lifecycle
        .uninstalled(
            &Method::POST,
            &uninstalled_uri(),
            &jwt(&uninstall),
            &payload("uninstalled", CLIENT_KEY, "secret-1"),
        )
        .await
        .expect_err("must be refused");
    assert!(
        matches!(
            err,
            AuthError::Token(TokenError::Algorithm(AlgorithmError::NotAccepted { .. }))
        ),
        "{err}"
    );
    assert_eq!(
        stored_secret(&f).await.as_deref(),
        Some("secret-1"),
        "still installed, unchanged"
    );

    // The same secret still signs the tenant's enabled and disabled events.
    let enabled = hs256_callback("secret-1", "/enabled", CLIENT_KEY);
    enable(&f, &enabled, &payload("enabled", CLIENT_KEY, "secret-1"))
        .await
        .expect("enabled");
}

#[tokio::test]
async fn a_reinstall_signed_with_the_shared_secret_cannot_move_the_tenant_to_another_site() {
    let f = shared_secret_fixture().await;
    let signed = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    install(&f, &signed, &payload("installed", CLIENT_KEY, "secret-1"))
        .await
        .expect("first install");

    let victim = "https://victim.atlassian.net";
    let reinstall = hs256_callback("secret-1", "/installed", CLIENT_KEY);
    let err = install(
        &f,
        &reinstall,
        &payload_at("installed", CLIENT_KEY, "secret-1", victim),
    )
    .await
    .expect_err("must be refused");
    assert!(matches!(err, AuthError::BaseUrlChanged), "{err}");
    assert_eq!(err.outcome().status(), 401);
    let tenant = f
        .tenants
        .tenant(CLIENT_KEY)
        .await
        .expect("store answers")
        .expect("installed");
    assert_eq!(tenant.base_url(), "https://acme.atlassian.net/wiki");
    assert!(!tenant.is_site(victim));

    // The install key can move it.
    let signed = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    install(
        &f,
        &signed,
        &payload_at("installed", CLIENT_KEY, "secret-2", victim),
    )
    .await
    .expect("signed re-install");
    assert_eq!(stored_base_url(&f).await.as_deref(), Some(victim));
}

/// A tenant store whose next lookup, once armed, waits (after reading the record) until the
/// test releases it: a lookup that races a write.
#[derive(Debug)]
struct HeldLookup {
    inner: Arc<dyn TenantStore>,
    hold: std::sync::Mutex<
        Option<(
            tokio::sync::oneshot::Sender<()>,
            tokio::sync::oneshot::Receiver<()>,
        )>,
    >,
}

impl TenantStore for HeldLookup {
    fn tenant<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        let hold = self.hold.lock().expect("not poisoned").take();
        Box::pin(async move {
            let found = self.inner.tenant(client_key).await?;
            if let Some((looked_up, release)) = hold {
                looked_up.send(()).expect("the test waits");
                release.await.expect("the test releases");
            }
            Ok(found)
        })
    }
    fn save<'a>(&'a self, tenant: &'a Tenant) -> StoreFuture<'a, ()> {
        self.inner.save(tenant)
    }
    fn replace<'a>(&'a self, current: &'a Tenant, tenant: &'a Tenant) -> StoreFuture<'a, bool> {
        self.inner.replace(current, tenant)
    }
    fn remove<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, bool> {
        self.inner.remove(client_key)
    }
    fn remove_if<'a>(&'a self, current: &'a Tenant) -> StoreFuture<'a, bool> {
        self.inner.remove_if(current)
    }
}

/// A fixture whose store's next lookup can be held (see [`HeldLookup`]).
async fn held_fixture() -> (Fixture, Arc<HeldLookup>) {
    let held = Arc::new(std::sync::OnceLock::<Arc<HeldLookup>>::new());
    let f = fixture_with(|builder| builder.shared_secret_installs(true), {
        let held = held.clone();
        move |tenants| {
            let store = Arc::new(HeldLookup {
                inner: tenants,
                hold: std::sync::Mutex::new(None),
            });
            held.set(store.clone()).expect("set once");
            store
        }
    })
    .await;
    let store = held.get().expect("set").clone();
    (f, store)
}

/// Holds the store's next lookup: resolves once it has read the record, and releases it when
/// the returned sender is used.
fn hold_next_lookup(
    store: &HeldLookup,
) -> (
    tokio::sync::oneshot::Receiver<()>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (looked_up_tx, looked_up) = tokio::sync::oneshot::channel();
    let (release, release_rx) = tokio::sync::oneshot::channel();
    *store.hold.lock().expect("not poisoned") = Some((looked_up_tx, release_rx));
    (looked_up, release)
}

/// Installs the tenant with `secret-1`, then sends `event` (`installed` or `uninstalled`)
/// signed with that secret, now leaked, and holds its lookup of the tenant until a genuine
/// rotation to `secret-3` has landed: the leaked-secret callback's outcome.
async fn leaked_secret_callback_racing_a_rotation(
    f: &Fixture,
    store: &HeldLookup,
    event: LifecycleEvent,
) -> Result<(), AuthError> {
    let signed = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    install(f, &signed, &payload("installed", CLIENT_KEY, "secret-1"))
        .await
        .expect("first install");
    let (looked_up, release) = hold_next_lookup(store);
    let lifecycle = f.lifecycle.clone();
    let path = format!("/{}", event.as_str());
    let uri = Uri::try_from(format!("/connect{path}")).expect("uri");
    let leaked = hs256_callback("secret-1", &path, CLIENT_KEY);
    let body = payload(event.as_str(), CLIENT_KEY, "secret-1");
    let racing = tokio::spawn(async move {
        let headers = jwt(&leaked);
        match event {
            LifecycleEvent::Installed => lifecycle
                .installed(&Method::POST, &uri, &headers, &body)
                .await
                .map(drop),
            _ => lifecycle
                .uninstalled(&Method::POST, &uri, &headers, &body)
                .await
                .map(drop),
        }
    });
    looked_up.await.expect("the callback read the tenant");
    // The genuine rotation lands while the leaked-secret callback is between read and write.
    let rotation = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    install(f, &rotation, &payload("installed", CLIENT_KEY, "secret-3"))
        .await
        .expect("rotation");
    release.send(()).expect("still waiting");
    racing.await.expect("no panic")
}

/// A re-install signed with a leaked secret that read the tenant before a rotation and would
/// save after it: the rotation stands.
#[tokio::test]
async fn a_reinstall_checked_against_a_rotated_secret_does_not_undo_the_rotation() {
    let (f, store) = held_fixture().await;
    let err = leaked_secret_callback_racing_a_rotation(&f, &store, LifecycleEvent::Installed)
        .await
        .expect_err("must not be applied");
    assert!(matches!(err, AuthError::TenantChanged), "{err}");
    assert_eq!(err.outcome().status(), 401);
    assert_eq!(stored_secret(&f).await.as_deref(), Some("secret-3"));
}

/// With the app key configured, a callback whose payload names another app (or none) installs
/// nothing, whoever signed it.
#[tokio::test]
async fn an_install_for_another_app_key_is_refused() {
    let f = fixture_with(|builder| builder.app_key("my-app"), |tenants| tenants).await;
    let mut other: Value =
        serde_json::from_slice(&payload("installed", CLIENT_KEY, "secret-1")).expect("json");
    for key in [json!("someone-else"), json!(null), json!(7)] {
        other["key"] = key.clone();
        let token = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
        let err = install(&f, &token, &serde_json::to_vec(&other).expect("json"))
            .await
            .expect_err("another app's install");
        assert!(matches!(err, AuthError::AppKeyMismatch), "{key}: {err}");
        assert_eq!(err.outcome().status(), 401);
    }
    other.as_object_mut().expect("object").remove("key");
    let token = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    let err = install(&f, &token, &serde_json::to_vec(&other).expect("json"))
        .await
        .expect_err("no key");
    assert!(matches!(err, AuthError::AppKeyMismatch), "{err}");
    assert_eq!(stored_secret(&f).await, None);
    // This app's own install goes through.
    let token = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    install(&f, &token, &payload("installed", CLIENT_KEY, "secret-1"))
        .await
        .expect("this app's install");
}

/// The same race for an uninstall signed with a leaked secret: it does not remove the tenant a
/// rotation re-installed meanwhile.
#[tokio::test]
async fn an_uninstall_checked_against_a_rotated_secret_does_not_remove_the_rotated_tenant() {
    let (f, store) = held_fixture().await;
    let err = leaked_secret_callback_racing_a_rotation(&f, &store, LifecycleEvent::Uninstalled)
        .await
        .expect_err("must not be applied");
    assert!(matches!(err, AuthError::TenantChanged), "{err}");
    assert_eq!(stored_secret(&f).await.as_deref(), Some("secret-3"));

    // Signed with the current secret and unraced, it removes the tenant.
    let uninstall = hs256_callback("secret-3", "/uninstalled", CLIENT_KEY);
    f.lifecycle
        .uninstalled(
            &Method::POST,
            &uninstalled_uri(),
            &jwt(&uninstall),
            &payload("uninstalled", CLIENT_KEY, "secret-3"),
        )
        .await
        .expect("uninstalled");
    assert_eq!(stored_secret(&f).await, None);
}

/// `verify` applies the same rule as `installed`: a callback signed with the secret that moves
/// the tenant is refused before anything is recorded.
#[tokio::test]
async fn verify_refuses_a_shared_secret_install_that_moves_the_tenant() {
    let f = shared_secret_fixture().await;
    let signed = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    install(&f, &signed, &payload("installed", CLIENT_KEY, "secret-1"))
        .await
        .expect("first install");
    let reinstall = hs256_callback("secret-1", "/installed", CLIENT_KEY);
    let moved = payload_at(
        "installed",
        CLIENT_KEY,
        "secret-1",
        "https://victim.atlassian.net",
    );
    let err = f
        .lifecycle
        .verify(
            LifecycleEvent::Installed,
            &Method::POST,
            &installed_uri(),
            &jwt(&reinstall),
            &moved,
        )
        .await
        .expect_err("moves the tenant");
    assert!(matches!(err, AuthError::BaseUrlChanged), "{err}");
    // Nothing was recorded: the same token with the tenant's own base URL still passes.
    f.lifecycle
        .verify(
            LifecycleEvent::Installed,
            &Method::POST,
            &installed_uri(),
            &jwt(&reinstall),
            &payload("installed", CLIENT_KEY, "secret-1"),
        )
        .await
        .expect("same site");
}

/// A holder of one tenant's current secret can mint `enabled` callbacks without end; the
/// default guard keeps at most a small number of one tenant's, so the others (and every new
/// install) are still served.
#[tokio::test]
async fn one_tenants_secret_cannot_fill_the_default_lifecycle_guard_for_the_others() {
    let f = fixture().await;
    for (client_key, secret) in [(CLIENT_KEY, "secret-1"), ("other-tenant", "secret-o")] {
        let token = rs256_callback(&f.install_key, KID, "/installed", client_key, APP_BASE_URL);
        install(&f, &token, &payload("installed", client_key, secret))
            .await
            .expect("installed");
    }
    let enabled = |client_key: &str, secret: &str, n: i64| {
        let claims = json!({
            "iss": client_key,
            "iat": now(),
            "exp": now() + 180 + n,
            "qsh": qsh("POST", "/enabled", "").expect("qsh"),
        });
        hs256_token(&json!({"alg": "HS256", "typ": "JWT"}), &claims, secret)
    };
    let body = payload("enabled", CLIENT_KEY, "secret-1");
    // The tenant's own install callback is the first of its share.
    for n in 1..connect_qsh::DEFAULT_MAX_LIFECYCLE_REPLAY_ENTRIES_PER_TENANT as i64 {
        enable(&f, &enabled(CLIENT_KEY, "secret-1", n), &body)
            .await
            .expect("within the tenant's share");
    }
    let err = enable(&f, &enabled(CLIENT_KEY, "secret-1", -1), &body)
        .await
        .expect_err("the tenant's share is full");
    assert!(
        matches!(err, AuthError::ReplayUnavailable(ReplayError::IssuerFull { .. })),
        "{err}"
    );
    // Another tenant, and a new install, are still served.
    enable(
        &f,
        &enabled("other-tenant", "secret-o", 0),
        &payload("enabled", "other-tenant", "secret-o"),
    )
    .await
    .expect("another tenant");
    let token = rs256_callback(&f.install_key, KID, "/installed", "new-tenant", APP_BASE_URL);
    install(&f, &token, &payload("installed", "new-tenant", "s"))
        .await
        .expect("a new install");
}

async fn stored_base_url(f: &Fixture) -> Option<String> {
    let tenant = f.tenants.tenant(CLIENT_KEY).await.expect("store answers")?;
    Some(tenant.base_url().to_owned())
}

fn replayed(err: &AuthError) {
    assert!(matches!(err, AuthError::Replayed), "{err}");
    assert_eq!(err.outcome().status(), 401);
}

/// A clock one second later at every reading, from `next`.
#[derive(Debug)]
struct Ticking {
    next: AtomicI64,
}

impl asap_core::Clock for Ticking {
    fn now(&self) -> i64 {
        self.next.fetch_add(1, Ordering::SeqCst)
    }
}

/// A callback whose token expires between the time check and the single-use rule (the clock's
/// second turns over in between) is refused as expired, by the clock the rule reads, not
/// counted as a replay by the guard.
#[tokio::test]
async fn a_callback_that_expires_before_its_use_is_recorded_is_expired_not_replayed() {
    let f = fixture().await;
    let exp = now() + 180;
    let claims = json!({
        "iss": CLIENT_KEY,
        "aud": APP_BASE_URL,
        "iat": exp - 180,
        "exp": exp,
        "qsh": qsh("POST", "/installed", "").expect("qsh"),
    });
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": KID});
    let token = rs256_token(&header, &claims, &f.install_key);
    // The leeway is 30 s: the first reading is the token's last second.
    let clock = Arc::new(Ticking {
        next: AtomicI64::new(exp + 30),
    });
    let keys: Arc<dyn PublicKeySource> = Arc::new(install_keys(&f.repository.serve().await));
    let lifecycle = Lifecycle::builder(APP_BASE_URL, keys, f.tenants.clone())
        .clock(clock)
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
        .expect_err("expired meanwhile");
    assert!(
        matches!(err, AuthError::Token(TokenError::Expired { .. })),
        "{err}"
    );
    assert_eq!(err.outcome().status(), 401);
    assert_eq!(stored_secret(&f).await, None);
}

#[tokio::test]
async fn a_signed_install_replayed_with_another_body_is_refused() {
    let f = fixture().await;
    let token = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    install(&f, &token, &payload("installed", CLIENT_KEY, "secret-1"))
        .await
        .expect("installed");

    // The same genuine token, with a secret and a base URL of the attacker's choosing.
    let evil = payload_at("installed", CLIENT_KEY, "attacker-secret", "https://evil.example");
    let err = install(&f, &token, &evil).await.expect_err("a replay");
    replayed(&err);
    // And with the very same body: still a second use.
    let err = install(&f, &token, &payload("installed", CLIENT_KEY, "secret-1"))
        .await
        .expect_err("a replay");
    replayed(&err);
    assert_eq!(stored_secret(&f).await.as_deref(), Some("secret-1"));
    assert_eq!(
        stored_base_url(&f).await.as_deref(),
        Some("https://acme.atlassian.net/wiki")
    );
}

#[tokio::test]
async fn a_reinstall_signed_with_the_current_secret_is_single_use_too() {
    let f = shared_secret_fixture().await;
    let signed = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    install(&f, &signed, &payload("installed", CLIENT_KEY, "secret-1"))
        .await
        .expect("first install");
    // A re-install that keeps the secret (so the token's secret stays current)…
    let reinstall = hs256_callback("secret-1", "/installed", CLIENT_KEY);
    install(&f, &reinstall, &payload("installed", CLIENT_KEY, "secret-1"))
        .await
        .expect("re-install");
    // …cannot be replayed to set another one.
    let err = install(&f, &reinstall, &payload("installed", CLIENT_KEY, "secret-evil"))
        .await
        .expect_err("a replay");
    replayed(&err);
    assert_eq!(stored_secret(&f).await.as_deref(), Some("secret-1"));
}

#[tokio::test]
async fn a_replayed_uninstall_does_not_remove_a_reinstalled_tenant() {
    let f = fixture().await;
    let body = payload("installed", CLIENT_KEY, "secret-1");
    let first = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    install(&f, &first, &body).await.expect("installed");
    let uninstall = rs256_callback(&f.install_key, KID, "/uninstalled", CLIENT_KEY, APP_BASE_URL);
    let uninstalled_body = payload("uninstalled", CLIENT_KEY, "secret-1");
    f.lifecycle
        .uninstalled(
            &Method::POST,
            &uninstalled_uri(),
            &jwt(&uninstall),
            &uninstalled_body,
        )
        .await
        .expect("uninstalled");
    let again = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    install(&f, &again, &payload("installed", CLIENT_KEY, "secret-2"))
        .await
        .expect("installed again");

    let err = f
        .lifecycle
        .uninstalled(
            &Method::POST,
            &uninstalled_uri(),
            &jwt(&uninstall),
            &uninstalled_body,
        )
        .await
        .expect_err("a replay");
    replayed(&err);
    assert_eq!(stored_secret(&f).await.as_deref(), Some("secret-2"));
}

#[tokio::test]
async fn verify_consumes_the_token() {
    let f = fixture().await;
    let token = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    let body = payload("installed", CLIENT_KEY, "secret-1");
    f.lifecycle
        .verify(
            LifecycleEvent::Installed,
            &Method::POST,
            &installed_uri(),
            &jwt(&token),
            &body,
        )
        .await
        .expect("verified");
    let err = install(&f, &token, &body).await.expect_err("a second use");
    replayed(&err);
    assert!(stored_secret(&f).await.is_none());
}

#[tokio::test]
async fn a_token_is_recorded_only_after_every_other_check_passed() {
    let f = fixture().await;
    let token = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    // Refused for its body (another tenant, then a base URL in clear): not burnt.
    let err = install(&f, &token, &payload("installed", "another-tenant", "s"))
        .await
        .expect_err("wrong client key");
    assert!(matches!(err, AuthError::ClientKeyMismatch), "{err}");
    let in_clear = payload_at("installed", CLIENT_KEY, "s", "http://acme.atlassian.net/wiki");
    let err = install(&f, &token, &in_clear).await.expect_err("http base URL");
    assert!(
        matches!(err, AuthError::Payload(PayloadError::InsecureBaseUrl)),
        "{err}"
    );
    install(&f, &token, &payload("installed", CLIENT_KEY, "secret-1"))
        .await
        .expect("the first use that passes every check");
    assert_eq!(stored_secret(&f).await.as_deref(), Some("secret-1"));
}

#[derive(Debug)]
struct DownGuard;

impl ReplayGuard for DownGuard {
    fn first_use<'a>(&'a self, _: TokenUse<'a>) -> ReplayFuture<'a> {
        Box::pin(std::future::ready(Err(ReplayError::Unavailable("down".into()))))
    }
}

/// Records what it was asked, and says every use is the first.
#[derive(Debug, Default)]
struct Recording(std::sync::Mutex<Vec<(String, String, i64)>>);

impl ReplayGuard for Recording {
    fn first_use<'a>(&'a self, u: TokenUse<'a>) -> ReplayFuture<'a> {
        self.0
            .lock()
            .expect("lock")
            .push((u.issuer.to_owned(), u.jti.to_owned(), u.expires_at - u.now));
        Box::pin(std::future::ready(Ok(true)))
    }
}

#[tokio::test]
async fn an_unavailable_replay_guard_is_503_and_changes_nothing() {
    let f = fixture().await;
    let keys: Arc<dyn PublicKeySource> = Arc::new(install_keys(&f.repository.serve().await));
    let lifecycle = Lifecycle::builder(APP_BASE_URL, keys, f.tenants.clone())
        .replay_guard(Arc::new(DownGuard))
        .build()
        .expect("valid");
    let token = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    let err = lifecycle
        .installed(
            &Method::POST,
            &installed_uri(),
            &jwt(&token),
            &payload("installed", CLIENT_KEY, "s"),
        )
        .await
        .expect_err("cannot check for a replay");
    assert!(matches!(err, AuthError::ReplayUnavailable(_)), "{err}");
    assert_eq!(err.outcome().status(), 503);
    assert!(stored_secret(&f).await.is_none());
}

#[tokio::test]
async fn the_guard_keeps_the_token_until_exp_plus_leeway_keyed_by_its_signed_part() {
    let f = fixture().await;
    let keys: Arc<dyn PublicKeySource> = Arc::new(install_keys(&f.repository.serve().await));
    let guard = Arc::new(Recording::default());
    let lifecycle = Lifecycle::builder(APP_BASE_URL, keys, f.tenants.clone())
        .replay_guard(guard.clone())
        .leeway(std::time::Duration::from_secs(30))
        .build()
        .expect("valid");
    let token = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    lifecycle
        .installed(
            &Method::POST,
            &installed_uri(),
            &jwt(&token),
            &payload("installed", CLIENT_KEY, "s"),
        )
        .await
        .expect("installed");
    let (signed_part, _) = token.rsplit_once('.').expect("three segments");
    let recorded = guard.0.lock().expect("lock").clone();
    assert_eq!(recorded.len(), 1);
    let (issuer, id, ttl) = &recorded[0];
    assert_eq!(issuer, CLIENT_KEY);
    assert_eq!(
        id,
        &connect_qsh::qsh_of_canonical(signed_part),
        "SHA-256 hex of the signed part"
    );
    // exp = now + 180, plus the 30 s leeway (give or take the second the test may straddle).
    assert!((209..=210).contains(ttl), "{ttl}");
}

#[tokio::test]
async fn a_tenant_base_url_must_be_https_unless_loopback_is_allowed() {
    let f = fixture().await;
    for base_url in ["http://acme.atlassian.net/wiki", "http://127.0.0.1:8080/wiki"] {
        let token = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
        let err = install(&f, &token, &payload_at("installed", CLIENT_KEY, "s", base_url))
            .await
            .expect_err("in clear");
        assert!(
            matches!(err, AuthError::Payload(PayloadError::InsecureBaseUrl)),
            "{base_url}: {err}"
        );
        assert_eq!(err.outcome().status(), 401);
    }
    assert!(stored_secret(&f).await.is_none());

    let keys: Arc<dyn PublicKeySource> = Arc::new(install_keys(&f.repository.serve().await));
    let dev = Lifecycle::builder(APP_BASE_URL, keys, f.tenants.clone())
        .allow_insecure_loopback(true)
        .build()
        .expect("valid");
    let install_dev = |base_url: &'static str| {
        let token = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
        let dev = dev.clone();
        async move {
            dev.installed(
                &Method::POST,
                &installed_uri(),
                &jwt(&token),
                &payload_at("installed", CLIENT_KEY, "s", base_url),
            )
            .await
        }
    };
    let err = install_dev("http://acme.atlassian.net/wiki")
        .await
        .expect_err("only loopback may be http");
    assert!(
        matches!(err, AuthError::Payload(PayloadError::InsecureBaseUrl)),
        "{err}"
    );
    let tenant = install_dev("http://127.0.0.1:8080/wiki")
        .await
        .expect("loopback allowed");
    assert_eq!(tenant.base_url(), "http://127.0.0.1:8080/wiki");
}

async fn enable(f: &Fixture, token: &str, body: &[u8]) -> Result<connect_qsh::VerifiedCallback, AuthError> {
    f.lifecycle
        .enabled(
            &Method::POST,
            &Uri::from_static("/connect/enabled"),
            &jwt(token),
            body,
        )
        .await
}

async fn disable(f: &Fixture, token: &str, body: &[u8]) -> Result<connect_qsh::VerifiedCallback, AuthError> {
    f.lifecycle
        .disabled(
            &Method::POST,
            &Uri::from_static("/connect/disabled"),
            &jwt(token),
            body,
        )
        .await
}

#[tokio::test]
async fn enabled_and_disabled_are_authenticated_single_use_and_keep_the_tenant() {
    let f = fixture().await;
    let token = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    install(&f, &token, &payload("installed", CLIENT_KEY, "secret-1"))
        .await
        .expect("installed");

    let enabled = rs256_callback(&f.install_key, KID, "/enabled", CLIENT_KEY, APP_BASE_URL);
    let body = payload("enabled", CLIENT_KEY, "secret-1");
    let verified = enable(&f, &enabled, &body).await.expect("enabled");
    assert_eq!(verified.event(), LifecycleEvent::Enabled);
    assert_eq!(verified.client_key(), CLIENT_KEY);
    replayed(&enable(&f, &enabled, &body).await.expect_err("replay"));

    // Signed with the tenant's current secret, as products that do not sign lifecycle events do.
    let disabled = hs256_callback("secret-1", "/disabled", CLIENT_KEY);
    let body = payload("disabled", CLIENT_KEY, "secret-1");
    let verified = disable(&f, &disabled, &body).await.expect("disabled");
    assert_eq!(verified.event(), LifecycleEvent::Disabled);
    assert_eq!(verified.signature(), &CallbackSignature::CurrentSharedSecret);
    replayed(&disable(&f, &disabled, &body).await.expect_err("replay"));
    assert_eq!(
        stored_secret(&f).await.as_deref(),
        Some("secret-1"),
        "still installed"
    );

    // Another secret, no token, the wrong event, the wrong path: refused.
    let wrong_secret = hs256_callback("secret-0", "/disabled", CLIENT_KEY);
    let err = disable(&f, &wrong_secret, &body).await.expect_err("wrong secret");
    assert!(matches!(err, AuthError::Token(TokenError::BadSignature)), "{err}");
    let err = f
        .lifecycle
        .disabled(
            &Method::POST,
            &Uri::from_static("/connect/disabled"),
            &HeaderMap::new(),
            &body,
        )
        .await
        .expect_err("no token");
    assert!(matches!(err, AuthError::MissingToken), "{err}");
    let token = rs256_callback(&f.install_key, KID, "/disabled", CLIENT_KEY, APP_BASE_URL);
    let err = disable(&f, &token, &payload("enabled", CLIENT_KEY, "s"))
        .await
        .expect_err("an enabled body");
    assert!(matches!(err, AuthError::EventMismatch { .. }), "{err}");
    let token = rs256_callback(&f.install_key, KID, "/enabled", CLIENT_KEY, APP_BASE_URL);
    let err = disable(&f, &token, &body).await.expect_err("made for /enabled");
    assert!(matches!(err, AuthError::QshMismatch), "{err}");
}

#[tokio::test]
async fn enabled_for_a_tenant_never_installed_is_refused_and_not_consumed() {
    let f = fixture().await;
    let enabled = rs256_callback(&f.install_key, KID, "/enabled", CLIENT_KEY, APP_BASE_URL);
    let body = payload("enabled", CLIENT_KEY, "s");
    let err = enable(&f, &enabled, &body).await.expect_err("not installed");
    assert!(matches!(err, AuthError::UnknownIssuer(_)), "{err}");
    assert_eq!(err.outcome().status(), 401);

    // Once installed, the same (still fresh) token is accepted: the refusal did not record it.
    let token = rs256_callback(&f.install_key, KID, "/installed", CLIENT_KEY, APP_BASE_URL);
    install(&f, &token, &payload("installed", CLIENT_KEY, "secret-1"))
        .await
        .expect("installed");
    enable(&f, &enabled, &body).await.expect("enabled");
}
