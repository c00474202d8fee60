//! The scenarios on a real PostgreSQL server on 127.0.0.1 (one server, one database per
//! scenario).

use std::time::Duration;

use asap_registry::KeyRegistry;
use asap_testkit::postgres::PostgresServer;

use crate::scenarios;
use crate::support::{p256, status, token, verifier};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_scenario_on_postgres() {
    let Some(pg) = PostgresServer::start() else { return };
    let registry = KeyRegistry::open(&pg.url()).await.expect("open");
    assert_eq!(registry.backend(), "postgres");
    registry.close().await;

    scenarios::lifecycle(&pg.create_database("lifecycle")).await;
    scenarios::duplicates_and_unknown_keys(&pg.create_database("duplicates")).await;
    scenarios::revocation_bound(&pg.create_database("revocation")).await;
    scenarios::concurrent(&pg.create_database("concurrent")).await;
    crate::openssh::every_key_type(&pg.create_database("openssh")).await;

    // Migrations run once: a second open of a migrated database changes nothing.
    let url = pg.create_database("reopen");
    let first = KeyRegistry::open(&url).await.expect("open");
    first.add("svc", Some("k1"), &p256().1).await.expect("add");
    let second = KeyRegistry::open(&url).await.expect("reopen");
    assert_eq!(second.list(Some("svc")).await.expect("list").len(), 1);
}

#[tokio::test]
async fn an_unreachable_database_is_a_503_not_an_accept_or_a_401() {
    let Some(mut pg) = PostgresServer::start() else {
        return;
    };
    let registry = KeyRegistry::builder(pg.url())
        .cache_ttl(Duration::ZERO)
        .acquire_timeout(Duration::from_secs(2))
        .open()
        .await
        .expect("open");
    let (private, pem) = p256();
    registry.add("svc", Some("k1"), &pem).await.expect("add");
    let verifier = verifier(&registry);
    let token = token("svc", "k1", private);
    assert_eq!(status(&verifier, &token).await, 200);

    pg.stop();
    assert_eq!(status(&verifier, &token).await, 503);
}
