//! The PostgreSQL Connect tenant store (feature `connect`) against a real PostgreSQL server:
//! the same store contract as the in-memory and Redis stores (run on all three), unreadable
//! rows, concurrent installs of one tenant, and the database going away (a 503, not an unknown
//! tenant).

use std::sync::Arc;

use asap_redis::RedisTenantStore;
use asap_registry::PostgresTenantStore;
use asap_testkit::postgres::PostgresServer;
use asap_testkit::redis::RedisServer;
use connect_qsh::{
    AuthError, Authenticator, ConnectSigner, InMemoryTenantStore, InstallationLinks, SharedSecret,
    SharedSecretStore, StoreError, Tenant, TenantStore,
};
use serde_json::json;

fn payload(client_key: &str, secret: &str) -> String {
    json!({
        "key": "com.example.my-app",
        "clientKey": client_key,
        "sharedSecret": secret,
        "baseUrl": "https://acme.atlassian.net/wiki",
        "oauthClientId": "oauth-client-1",
        "description": "Confluence ünïcödé 'quoted' \"double\"",
        "eventType": "installed",
    })
    .to_string()
}

fn tenant(client_key: &str, secret: &str) -> Tenant {
    Tenant::from_install_payload(&payload(client_key, secret)).expect("valid payload")
}

/// What every tenant store does: a saved tenant reads back whole (as the `TenantStore` and as
/// a `SharedSecretStore`), a re-install replaces it, a conditional replace or removal applies
/// only to the record it names, removal says whether it was there.
async fn contract(store: &(impl TenantStore + SharedSecretStore)) {
    let saved = tenant("client-1", "secret-1");
    store.save(&saved).await.expect("saved");
    let loaded = store
        .tenant("client-1")
        .await
        .expect("answers")
        .expect("installed");
    assert_eq!(loaded.install_payload(), saved.install_payload());
    assert_eq!(loaded.base_url(), "https://acme.atlassian.net/wiki");
    assert_eq!(loaded.app_key(), Some("com.example.my-app"));
    assert_eq!(loaded.oauth_client_id(), Some("oauth-client-1"));
    assert_eq!(
        store.shared_secret("client-1").await.expect("answers"),
        Some(SharedSecret::new("secret-1").expect("secret"))
    );

    store.save(&tenant("client-1", "secret-2")).await.expect("saved");
    let loaded = store
        .tenant("client-1")
        .await
        .expect("answers")
        .expect("installed");
    assert_eq!(loaded.shared_secret().expose(), "secret-2");

    // Over a record that is no longer there (secret-1 was rotated to secret-2): not applied.
    let rotated_back = tenant("client-1", "secret-3");
    assert!(!store.replace(&saved, &rotated_back).await.expect("answers"));
    let secret = |t: Option<Tenant>| t.map(|t| t.shared_secret().expose().to_owned());
    assert_eq!(
        secret(store.tenant("client-1").await.expect("answers")).as_deref(),
        Some("secret-2")
    );
    // Over another client key's record, or over a record never saved: not applied either.
    assert!(
        !store
            .replace(&loaded, &tenant("client-2", "x"))
            .await
            .expect("answers")
    );
    assert!(
        !store
            .replace(&tenant("client-2", "x"), &tenant("client-2", "y"))
            .await
            .expect("answers")
    );
    assert!(store.tenant("client-2").await.expect("answers").is_none());
    // Over the record as it is: applied.
    assert!(store.replace(&loaded, &rotated_back).await.expect("answers"));
    assert_eq!(
        secret(store.tenant("client-1").await.expect("answers")).as_deref(),
        Some("secret-3")
    );
    // A conditional removal likewise: not of a record that changed, nor of one never saved.
    assert!(!store.remove_if(&loaded).await.expect("answers"));
    assert!(!store.remove_if(&tenant("client-2", "x")).await.expect("answers"));
    assert_eq!(
        secret(store.tenant("client-1").await.expect("answers")).as_deref(),
        Some("secret-3")
    );
    assert!(store.remove_if(&rotated_back).await.expect("answers"));
    assert!(store.tenant("client-1").await.expect("answers").is_none());
    store.save(&rotated_back).await.expect("saved again");

    assert!(store.tenant("client-2").await.expect("answers").is_none());
    assert!(store.shared_secret("client-2").await.expect("answers").is_none());
    assert!(store.remove("client-1").await.expect("answers"));
    assert!(!store.remove("client-1").await.expect("answers"));
    assert!(store.tenant("client-1").await.expect("answers").is_none());
}

#[tokio::test]
async fn the_in_memory_store_keeps_the_contract() {
    contract(&InMemoryTenantStore::new()).await;
}

#[tokio::test]
async fn the_redis_store_keeps_the_contract() {
    let Some(redis) = RedisServer::start() else { return };
    contract(&RedisTenantStore::connect(&redis.url()).await.expect("connect")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_postgres_store_keeps_the_contract_across_instances() {
    let Some(pg) = PostgresServer::start() else { return };
    let url = pg.create_database("tenants");
    let store = PostgresTenantStore::connect(&url).await.expect("connect");
    contract(&store).await;

    // Another instance of the app (its own pool, the table already there) sees the same rows.
    store.save(&tenant("client-3", "s3")).await.expect("saved");
    let other = PostgresTenantStore::connect(&url).await.expect("connect again");
    let loaded = other
        .tenant("client-3")
        .await
        .expect("answers")
        .expect("installed");
    assert_eq!(loaded.shared_secret().expose(), "s3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_installs_of_one_tenant_leave_one_whole_row() {
    let Some(pg) = PostgresServer::start() else { return };
    let url = pg.create_database("race");
    // Instances starting together create the table once.
    let stores = futures_join(&url).await;
    let mut installs = Vec::new();
    for i in 0..32 {
        let store = stores[i % stores.len()].clone();
        installs.push(tokio::spawn(async move {
            store.save(&tenant("racing-client", &format!("secret-{i}"))).await
        }));
    }
    for install in installs {
        install.await.expect("joined").expect("saved");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM connect_tenants WHERE client_key = $1")
        .bind("racing-client")
        .fetch_one(&sqlx::PgPool::connect(&url).await.expect("pool"))
        .await
        .expect("count");
    assert_eq!(count, 1);
    let loaded = stores[0]
        .tenant("racing-client")
        .await
        .expect("answers")
        .expect("installed");
    // One of the installs, whole: its secret and its payload belong together.
    let secret = loaded.shared_secret().expose().to_owned();
    assert!(secret.starts_with("secret-"), "{secret}");
    assert_eq!(
        loaded.install_payload().expose(),
        payload("racing-client", &secret)
    );
}

async fn futures_join(url: &str) -> Vec<PostgresTenantStore> {
    let connects: Vec<_> = (0..4)
        .map(|_| {
            let url = url.to_owned();
            tokio::spawn(async move { PostgresTenantStore::connect(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for connect in connects {
        stores.push(connect.await.expect("joined").expect("connect"));
    }
    stores
}

#[tokio::test]
async fn unreadable_rows_are_corrupt_not_missing() {
    let Some(pg) = PostgresServer::start() else { return };
    let url = pg.create_database("corrupt");
    let store = PostgresTenantStore::connect(&url).await.expect("connect");
    let pool = sqlx::PgPool::connect(&url).await.expect("pool");
    for (client_key, row) in [
        ("bad", "not json".to_owned()),
        ("victim", payload("attacker", "s")),
    ] {
        sqlx::query("INSERT INTO connect_tenants (client_key, install_payload) VALUES ($1, $2)")
            .bind(client_key)
            .bind(row)
            .execute(&pool)
            .await
            .expect("insert");
    }
    assert!(matches!(store.tenant("bad").await, Err(StoreError::Corrupt(_))));
    // A row filed under another tenant's key never answers for it.
    assert!(matches!(
        store.shared_secret("victim").await,
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn a_database_that_goes_away_is_a_503_not_an_unknown_tenant() {
    let Some(mut pg) = PostgresServer::start() else {
        return;
    };
    let store = Arc::new(PostgresTenantStore::connect(&pg.url()).await.expect("connect"));
    store.save(&tenant("client-1", "secret-1")).await.expect("saved");
    let authenticator = Authenticator::builder(store.clone()).build().expect("valid");
    let token = ConnectSigner::new("client-1")
        .sign(
            &SharedSecret::new("secret-1").expect("secret"),
            "GET",
            "/panel",
            "",
        )
        .expect("signed");
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "authorization",
        http::HeaderValue::from_str(&format!("JWT {token}")).expect("header"),
    );
    let uri = http::Uri::from_static("/panel");
    let verified = authenticator
        .authenticate(&http::Method::GET, &uri, &headers)
        .await
        .expect("the tenant in PostgreSQL authenticates");
    assert_eq!(verified.client_key(), "client-1");

    pg.stop();
    let err = authenticator
        .authenticate(&http::Method::GET, &uri, &headers)
        .await
        .expect_err("the database is gone");
    assert!(
        matches!(err, AuthError::StoreUnavailable(StoreError::Unavailable(_))),
        "{err}"
    );
    assert_eq!(err.outcome().status(), 503);
}

#[tokio::test]
async fn the_lifecycle_keeps_the_postgres_store_in_step() {
    let Some(pg) = PostgresServer::start() else { return };
    let tenants = Arc::new(
        PostgresTenantStore::connect(&pg.create_database("lifecycle"))
            .await
            .expect("connect"),
    );
    let install_key = asap_core::PrivateKey::generate(asap_core::KeySpec::Rsa(2048)).expect("RSA key");
    let kid = asap_core::KeyId::parse("install-key").expect("kid");
    let keys: Arc<dyn asap_core::PublicKeySource> = Arc::new(
        asap_core::StaticKeySource::new().with_key(kid.clone(), install_key.public_key().expect("public")),
    );
    let app = "https://app.example.com";
    let lifecycle = connect_qsh::Lifecycle::builder(app, keys, tenants.clone())
        .build()
        .expect("valid");
    let callback = |path: &str| {
        let token = ConnectSigner::new("client-1")
            .audience(app)
            .sign_rs256(&install_key, &kid, "POST", path, "")
            .expect("signed");
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "authorization",
            http::HeaderValue::from_str(&format!("JWT {token}")).expect("header"),
        );
        (http::Uri::try_from(path).expect("uri"), headers)
    };
    let (uri, headers) = callback("/installed");
    let body = payload("client-1", "secret-1");
    lifecycle
        .installed(&http::Method::POST, &uri, &headers, body.as_bytes())
        .await
        .expect("installed");
    let saved = tenants
        .tenant("client-1")
        .await
        .expect("answers")
        .expect("in PostgreSQL");
    assert_eq!(saved.install_payload().expose(), body);

    let (uri, headers) = callback("/uninstalled");
    let body = body.replace("\"installed\"", "\"uninstalled\"");
    lifecycle
        .uninstalled(&http::Method::POST, &uri, &headers, body.as_bytes())
        .await
        .expect("uninstalled");
    assert!(tenants.tenant("client-1").await.expect("answers").is_none());
}

/// The Connect-on-Forge link contract, for any store.
async fn links_are_one_to_one(store: &dyn InstallationLinks) {
    let (i1, i2, c1, c2) = ("installation/1", "installation/2", "client-1", "client-2");
    assert_eq!(store.linked_client_key(i1).await.expect("answers"), None);
    store.link(i1, c1).await.expect("linked");
    assert_eq!(
        store.linked_client_key(i1).await.expect("answers").as_deref(),
        Some(c1)
    );
    assert_eq!(
        store.linked_installation(c1).await.expect("answers").as_deref(),
        Some(i1)
    );

    // The installation moves to another tenant: the first tenant is linked to nothing.
    store.link(i1, c2).await.expect("relinked");
    assert_eq!(
        store.linked_client_key(i1).await.expect("answers").as_deref(),
        Some(c2)
    );
    assert_eq!(store.linked_installation(c1).await.expect("answers"), None);

    // The tenant gets a new installation: the old installation is linked to nothing.
    store.link(i2, c2).await.expect("relinked");
    assert_eq!(
        store.linked_installation(c2).await.expect("answers").as_deref(),
        Some(i2)
    );
    assert_eq!(store.linked_client_key(i1).await.expect("answers"), None);
    assert_eq!(
        store.linked_client_key(i2).await.expect("answers").as_deref(),
        Some(c2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installation_links_are_one_to_one_in_every_tenant_store() {
    links_are_one_to_one(&InMemoryTenantStore::new()).await;
    if let Some(redis) = RedisServer::start() {
        let store = RedisTenantStore::connect(&redis.url()).await.expect("connect");
        links_are_one_to_one(&store).await;
        // A client key that looks like a link key names a tenant record, never a link.
        store
            .save(&tenant("installation:installation/2", "secret"))
            .await
            .expect("saved");
        assert_eq!(
            store
                .linked_client_key("installation/2")
                .await
                .expect("answers")
                .as_deref(),
            Some("client-2")
        );
    }
    let Some(pg) = PostgresServer::start() else { return };
    let url = pg.create_database("links");
    let store = PostgresTenantStore::connect(&url).await.expect("connect");
    links_are_one_to_one(&store).await;
    // The links are shared by every instance on the database.
    let other = PostgresTenantStore::connect(&url).await.expect("connect");
    assert_eq!(
        other
            .linked_installation("client-2")
            .await
            .expect("answers")
            .as_deref(),
        Some("installation/2")
    );
}

/// A client key no `TEXT` column can hold (a NUL byte, which PostgreSQL refuses in a query
/// parameter) is an unknown tenant, not a store failure: otherwise any unauthenticated client
/// could make the database look down (a 503, a warning, an alert) with `"iss":"a\u0000b"`.
#[tokio::test]
async fn a_client_key_with_a_nul_byte_is_an_unknown_tenant_not_a_503() {
    let Some(pg) = PostgresServer::start() else {
        return;
    };
    let store = Arc::new(PostgresTenantStore::connect(&pg.url()).await.expect("connect"));
    assert!(store.tenant("a\0b").await.expect("answers").is_none());
    assert!(store.shared_secret("a\0b").await.expect("answers").is_none());
    assert!(!store.remove("a\0b").await.expect("answers"));
    assert!(store.linked_client_key("a\0b").await.expect("answers").is_none());
    assert!(
        store
            .linked_installation("a\0b")
            .await
            .expect("answers")
            .is_none()
    );

    let authenticator = Authenticator::builder(store.clone()).build().expect("valid");
    let token = ConnectSigner::new("a\0b")
        .sign(
            &SharedSecret::new("secret-1").expect("secret"),
            "GET",
            "/panel",
            "",
        )
        .expect("signed");
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "authorization",
        http::HeaderValue::from_str(&format!("JWT {token}")).expect("header"),
    );
    let err = authenticator
        .authenticate(&http::Method::GET, &http::Uri::from_static("/panel"), &headers)
        .await
        .expect_err("no such tenant");
    assert!(matches!(err, AuthError::UnknownIssuer(_)), "{err}");
    assert_eq!(err.outcome().status(), 401);
}
