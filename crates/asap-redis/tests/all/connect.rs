//! The Redis Connect tenant store (feature `connect`) against a real redis-server: install
//! payloads round-trip, the lifecycle keeps it in step, a lifecycle token is used once across
//! instances, and Redis going away is a 503 until it comes back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use asap_core::{PublicKeySource, StaticKeySource};
use asap_redis::{RedisReplayGuard, RedisTenantStore};
use asap_testkit::http::spawn_http;
use asap_testkit::redis::RedisServer;
use asap_tower::{ConnectAuthenticated, ConnectLayer};
use axum::Router;
use axum::routing::get;
use connect_qsh::{
    AuthError, Authenticator, ConnectSigner, InstallationLinks, Lifecycle, SharedSecret, SharedSecretStore,
    StoreError, Tenant, TenantStore,
};
use http::{HeaderMap, HeaderValue, Method, Uri};
use serde_json::json;

const APP_BASE_URL: &str = "https://app.example.com";

fn payload(client_key: &str, secret: &str, event: &str) -> String {
    json!({
        "key": "com.example.my-app",
        "clientKey": client_key,
        "sharedSecret": secret,
        "baseUrl": "https://acme.atlassian.net/wiki",
        "productType": "confluence",
        "description": "Atlassian Confluence at https://acme.atlassian.net/wiki ünïcödé",
        "eventType": event,
    })
    .to_string()
}

fn tenant(client_key: &str, secret: &str) -> Tenant {
    Tenant::from_install_payload(&payload(client_key, secret, "installed")).expect("valid payload")
}

async fn store(redis: &RedisServer) -> RedisTenantStore {
    RedisTenantStore::connect(&redis.url()).await.expect("connect")
}

#[tokio::test]
async fn install_payloads_round_trip() {
    let Some(redis) = RedisServer::start() else { return };
    let store = store(&redis).await;
    let saved = tenant("client-1", "secret-1");
    store.save(&saved).await.expect("saved");

    // Another instance of the app, with its own connection, sees the same tenant.
    let other = self::store(&redis).await;
    let loaded = other
        .tenant("client-1")
        .await
        .expect("store answers")
        .expect("installed");
    assert_eq!(loaded.install_payload(), saved.install_payload());
    assert_eq!(loaded.client_key(), "client-1");
    assert_eq!(loaded.base_url(), "https://acme.atlassian.net/wiki");
    assert_eq!(
        loaded.shared_secret(),
        &SharedSecret::new("secret-1").expect("secret")
    );
    assert_eq!(loaded.app_key(), Some("com.example.my-app"));
    assert_eq!(
        other.shared_secret("client-1").await.expect("store answers"),
        Some(SharedSecret::new("secret-1").expect("secret"))
    );

    // A re-install replaces the record.
    store.save(&tenant("client-1", "secret-2")).await.expect("saved");
    let loaded = other.tenant("client-1").await.expect("ok").expect("installed");
    assert_eq!(loaded.shared_secret().expose(), "secret-2");

    assert!(other.tenant("client-2").await.expect("ok").is_none());
    assert!(store.remove("client-1").await.expect("ok"));
    assert!(!store.remove("client-1").await.expect("ok"));
    assert!(other.tenant("client-1").await.expect("ok").is_none());
}

#[tokio::test]
async fn keys_are_prefixed_and_unreadable_records_are_corrupt_not_missing() {
    let Some(redis) = RedisServer::start() else { return };
    let store = store(&redis).await.key_prefix("myapp:tenants:");
    assert_eq!(store.key("c-1"), "myapp:tenants:c-1");
    store.save(&tenant("c-1", "s")).await.expect("saved");

    let client = redis::Client::open(redis.url()).expect("client");
    let mut conn = client.get_multiplexed_async_connection().await.expect("conn");
    let raw: String = redis::cmd("GET")
        .arg("myapp:tenants:c-1")
        .query_async(&mut conn)
        .await
        .expect("get");
    assert_eq!(raw, tenant("c-1", "s").install_payload().expose());

    let () = redis::cmd("SET")
        .arg("myapp:tenants:bad")
        .arg("not json")
        .query_async(&mut conn)
        .await
        .expect("set");
    let err = store.tenant("bad").await.expect_err("must not read");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");

    // A record filed under another tenant's key never answers for it.
    let () = redis::cmd("SET")
        .arg("myapp:tenants:victim")
        .arg(payload("attacker", "s", "installed"))
        .query_async(&mut conn)
        .await
        .expect("set");
    assert!(matches!(
        store.shared_secret("victim").await,
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn the_store_survives_a_redis_restart() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let store = store(&redis).await;
    store.save(&tenant("c-1", "s")).await.expect("saved");

    redis.stop();
    let started = Instant::now();
    let err = store.tenant("c-1").await.expect_err("Redis is down");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "fails fast, took {:?}",
        started.elapsed()
    );
    assert!(store.save(&tenant("c-1", "s")).await.is_err());

    // The test server keeps nothing across a restart (no persistence): what matters is that
    // the same store reconnects by itself and serves again.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    while store.save(&tenant("c-1", "s2")).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "did not reconnect after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let loaded = store.tenant("c-1").await.expect("ok").expect("saved again");
    assert_eq!(loaded.shared_secret().expose(), "s2");
}

fn callback_headers(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("JWT {token}")).expect("header"),
    );
    headers
}

#[tokio::test]
async fn the_lifecycle_keeps_the_redis_store_in_step() {
    let Some(redis) = RedisServer::start() else { return };
    let tenants: Arc<RedisTenantStore> = Arc::new(store(&redis).await);
    tenants.save(&tenant("c-1", "old")).await.expect("saved");
    // No install key is needed: these callbacks are signed with the tenant's current secret,
    // accepted for installs too here, so that each re-install is a compare-and-set in Redis.
    let keys: Arc<dyn PublicKeySource> = Arc::new(StaticKeySource::new());
    let lifecycle = Lifecycle::builder(APP_BASE_URL, keys, tenants.clone())
        .shared_secret_installs(true)
        .build()
        .expect("valid");
    let sign = |secret: &str, path: &str| {
        ConnectSigner::new("c-1")
            .sign(
                &SharedSecret::new(secret).expect("secret"),
                "POST",
                &format!("{APP_BASE_URL}{path}"),
                APP_BASE_URL,
            )
            .expect("signed")
    };

    // A re-install signed with the current secret rotates it in Redis.
    let body = payload("c-1", "new", "installed");
    lifecycle
        .installed(
            &Method::POST,
            &Uri::from_static("/installed"),
            &callback_headers(&sign("old", "/installed")),
            body.as_bytes(),
        )
        .await
        .expect("re-install accepted");
    let stored = tenants.tenant("c-1").await.expect("ok").expect("installed");
    assert_eq!(stored.shared_secret().expose(), "new");

    // One signed with the old secret is refused and changes nothing.
    let body = payload("c-1", "evil", "installed");
    let err = lifecycle
        .installed(
            &Method::POST,
            &Uri::from_static("/installed"),
            &callback_headers(&sign("old", "/installed")),
            body.as_bytes(),
        )
        .await
        .expect_err("stale secret");
    assert_eq!(err.outcome().status(), 401);
    let stored = tenants.tenant("c-1").await.expect("ok").expect("installed");
    assert_eq!(stored.shared_secret().expose(), "new");

    let body = payload("c-1", "new", "uninstalled");
    lifecycle
        .uninstalled(
            &Method::POST,
            &Uri::from_static("/uninstalled"),
            &callback_headers(&sign("new", "/uninstalled")),
            body.as_bytes(),
        )
        .await
        .expect("uninstalled");
    assert!(tenants.tenant("c-1").await.expect("ok").is_none());
}

async fn call(url: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .get(url)
        .header("authorization", format!("JWT {token}"))
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn redis_down_is_503_for_connect_requests_and_recovers() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let tenants = Arc::new(store(&redis).await);
    tenants.save(&tenant("c-1", "s")).await.expect("saved");
    let authenticator = Authenticator::builder(tenants.clone())
        .base_url(APP_BASE_URL)
        .build()
        .expect("valid");
    let app = Router::new()
        .route(
            "/panel",
            get(|ConnectAuthenticated(t): ConnectAuthenticated| async move { t.client_key().to_owned() }),
        )
        .layer(ConnectLayer::new(authenticator));
    let url = format!("http://{}/panel", spawn_http(app).await);
    let token = || {
        ConnectSigner::new("c-1")
            .sign(&SharedSecret::new("s").expect("secret"), "GET", "/panel", "")
            .expect("signed")
    };
    assert_eq!(call(&url, &token()).await, 200);
    let unknown = ConnectSigner::new("c-2")
        .sign(&SharedSecret::new("s").expect("secret"), "GET", "/panel", "")
        .expect("signed");
    assert_eq!(call(&url, &unknown).await, 401);

    redis.stop();
    assert_eq!(call(&url, &token()).await, 503);
    // Never "unknown tenant" while the store cannot answer.
    assert_eq!(call(&url, &unknown).await, 503);

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    while tenants.save(&tenant("c-1", "s")).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "did not reconnect after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(call(&url, &token()).await, 200);
}

#[tokio::test]
async fn a_lifecycle_callback_used_on_one_instance_is_refused_on_another() {
    let Some(redis) = RedisServer::start() else { return };
    let tenants: Arc<RedisTenantStore> = Arc::new(store(&redis).await);
    tenants.save(&tenant("c-1", "current")).await.expect("saved");
    let keys: Arc<dyn PublicKeySource> = Arc::new(StaticKeySource::new());
    // Two instances of the app: their own connections, one Redis for tenants and used tokens.
    let mut instances = Vec::new();
    for _ in 0..2 {
        let guard = RedisReplayGuard::connect(&redis.url())
            .await
            .expect("connect")
            .key_prefix("connect:lifecycle:");
        let lifecycle = Lifecycle::builder(APP_BASE_URL, keys.clone(), tenants.clone())
            .shared_secret_installs(true)
            .replay_guard(Arc::new(guard))
            .build()
            .expect("valid");
        instances.push(lifecycle);
    }
    // A genuine re-install that keeps the secret, signed with the tenant's current secret.
    let token = ConnectSigner::new("c-1")
        .sign(
            &SharedSecret::new("current").expect("secret"),
            "POST",
            &format!("{APP_BASE_URL}/installed"),
            APP_BASE_URL,
        )
        .expect("signed");
    let install = |lifecycle: &Lifecycle, secret: &str| {
        let body = payload("c-1", secret, "installed");
        let headers = callback_headers(&token);
        let lifecycle = lifecycle.clone();
        async move {
            lifecycle
                .installed(
                    &Method::POST,
                    &Uri::from_static("/installed"),
                    &headers,
                    body.as_bytes(),
                )
                .await
        }
    };
    install(&instances[0], "current")
        .await
        .expect("first use, on the first instance");

    // The same token replayed to the other instance, with the attacker's secret.
    let err = install(&instances[1], "attacker").await.expect_err("a replay");
    assert!(matches!(err, AuthError::Replayed), "{err}");
    assert_eq!(err.outcome().status(), 401);
    let stored = tenants.tenant("c-1").await.expect("ok").expect("installed");
    assert_eq!(stored.shared_secret().expose(), "current");

    // Redis holds the entry under the guard's prefix, with a TTL.
    let client = redis::Client::open(redis.url()).expect("client");
    let mut conn = client.get_multiplexed_async_connection().await.expect("conn");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("connect:lifecycle:*")
        .query_async(&mut conn)
        .await
        .expect("keys");
    assert_eq!(keys.len(), 1, "{keys:?}");
    let ttl: i64 = redis::cmd("TTL")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .expect("ttl");
    // exp (180 s) + leeway (30 s) + the last second, in which the token is still accepted,
    // + SWEEP_GRACE for a replay whose command reaches Redis a moment later.
    let grace = i64::try_from(asap_core::SWEEP_GRACE.as_secs()).expect("secs");
    assert!((1..=211 + grace).contains(&ttl), "{ttl}");
    assert!(ttl > 200, "{ttl}");
}

#[tokio::test]
async fn installation_links_in_redis_are_a_503_while_redis_is_down() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let store = store(&redis).await;
    redis.stop();
    let err = store
        .linked_client_key("installation/1")
        .await
        .expect_err("no answer");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    let err = store
        .link("installation/1", "client-1")
        .await
        .expect_err("no answer");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
}

/// The tenant store connects as the replay guard does, so it refuses an evicting Redis too:
/// under an `allkeys-*` policy a tenant record, kept without expiry, could be dropped.
#[tokio::test]
async fn the_tenant_store_refuses_a_redis_that_evicts() {
    let Some(redis) = RedisServer::start() else { return };
    crate::fleet::config_set(&redis, "maxmemory-policy", "allkeys-lru").await;
    let err = RedisTenantStore::connect(&redis.url())
        .await
        .expect_err("an evicting Redis");
    assert!(
        matches!(&err, asap_redis::RedisGuardError::EvictingPolicy { policy } if policy == "allkeys-lru"),
        "{err}"
    );
}
