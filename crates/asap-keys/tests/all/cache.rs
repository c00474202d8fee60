//! Caching, single flight and failover of the HTTP(S) repository, counted at the server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use asap_core::{KeySourceError, PublicKeySource, VerifyError};
use asap_keys::FetchError;
use asap_testkit::tls::TestCa;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_lookups_of_an_unknown_kid_send_one_request() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    // A slow answer keeps the fetch in flight while every lookup arrives.
    server.answer_everything_with(Some(Reply::status(404).delay(Duration::from_millis(300))));
    let repo = Arc::new(repo(&ca, &server.url()).build().expect("repo"));
    let unknown = kid("billing/unknown");
    let lookups: Vec<_> = (0..1000)
        .map(|_| {
            let repo = repo.clone();
            let unknown = unknown.clone();
            tokio::spawn(async move { repo.public_key(&unknown).await.map(|_| ()) })
        })
        .collect();
    for lookup in lookups {
        let result = lookup.await.expect("task");
        assert!(matches!(result, Err(KeySourceError::NotFound(_))), "{result:?}");
    }
    eprintln!(
        "1000 concurrent lookups of an unknown kid: {} request(s) at the server",
        server.hits()
    );
    assert_eq!(server.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_lookups_of_a_known_kid_send_one_request() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    let key = p256();
    server.publish(
        "billing/k1",
        Reply::pem(key.public_key().expect("pk").to_pem()).delay(Duration::from_millis(300)),
    );
    let repo = Arc::new(repo(&ca, &server.url()).build().expect("repo"));
    let lookups: Vec<_> = (0..1000)
        .map(|_| {
            let repo = repo.clone();
            tokio::spawn(async move { repo.public_key(&kid("billing/k1")).await.map(|_| ()) })
        })
        .collect();
    for lookup in lookups {
        lookup.await.expect("task").expect("found");
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn max_age_is_respected() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    let key = p256();
    server.publish(
        "billing/k1",
        Reply::pem(key.public_key().expect("pk").to_pem())
            .cache_control("max-age=1, stale-while-revalidate=0"),
    );
    let repo = repo(&ca, &server.url()).build().expect("repo");
    for _ in 0..5 {
        repo.public_key(&kid("billing/k1")).await.expect("found");
    }
    assert_eq!(server.hits(), 1, "no request within max-age");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    repo.public_key(&kid("billing/k1")).await.expect("found");
    assert_eq!(server.hits(), 2, "one request after max-age");
    repo.public_key(&kid("billing/k1")).await.expect("found");
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn stale_while_revalidate_answers_at_once_and_refreshes_in_the_background() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    let (old, new) = (p256(), p256());
    server.publish(
        "billing/k1",
        Reply::pem(old.public_key().expect("pk").to_pem())
            .cache_control("max-age=1, stale-while-revalidate=30"),
    );
    let repo = repo(&ca, &server.url()).build().expect("repo");
    repo.public_key(&kid("billing/k1")).await.expect("found");
    // The repository now publishes a new key, slowly.
    server.publish(
        "billing/k1",
        Reply::pem(new.public_key().expect("pk").to_pem())
            .cache_control("max-age=60")
            .delay(Duration::from_millis(800)),
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let started = Instant::now();
    let got = repo.public_key(&kid("billing/k1")).await.expect("stale key");
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        *got,
        old.public_key().expect("pk"),
        "the stale key answers at once"
    );
    // More lookups while the refresh runs do not start another one.
    for _ in 0..10 {
        repo.public_key(&kid("billing/k1")).await.expect("stale key");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = repo.public_key(&kid("billing/k1")).await.expect("key");
        if *got == new.public_key().expect("pk") {
            break;
        }
        assert!(Instant::now() < deadline, "the background refresh never landed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.hits(), 2, "one background refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_whose_runtime_is_dropped_mid_fetch_is_fetched_again() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    let key = p256();
    let pem = key.public_key().expect("pk").to_pem();
    let hold = Hold::new();
    server.publish("billing/k1", Reply::pem(pem.clone()).hold(&hold));
    let repo = repo(&ca, &server.url())
        .fetch_budget(unlimited())
        .build()
        .expect("repo");

    // A lookup on a runtime of its own, dropped while the server holds its request: the
    // fetch task goes with it, unfinished.
    let (drop_runtime, told) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn({
        let repo = repo.clone();
        move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            let _lookup = runtime.spawn(async move { repo.public_key(&kid("billing/k1")).await.map(|_| ()) });
            told.recv().expect("told");
            drop(runtime);
        }
    });
    hold.arrival().await;
    drop_runtime.send(()).expect("send");
    tokio::task::spawn_blocking(move || other.join())
        .await
        .expect("join")
        .expect("thread");

    // The kid fetches again (before the fix, every later lookup joined the dead fetch).
    server.publish("billing/k1", Reply::pem(pem));
    let got = repo.public_key(&kid("billing/k1")).await.expect("fetched again");
    assert_eq!(*got, key.public_key().expect("pk"));
    assert_eq!(server.hits(), 2);
    hold.release();
}

#[tokio::test]
async fn stale_if_error_answers_while_every_repository_is_down_until_the_bound() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    let key = p256();
    server.publish(
        "billing/k1",
        // The repository asks for an hour; the configured cap of 2 s is the bound.
        Reply::pem(key.public_key().expect("pk").to_pem())
            .cache_control("max-age=1, stale-while-revalidate=0, stale-if-error=3600"),
    );
    let refused = format!("https://127.0.0.1:{}/", refused_port());
    let repo = repo(&ca, &server.url())
        .fallback(refused)
        .cache_policy(policy(|p| {
            p.stale_if_error_cap = Duration::from_secs(2);
            p.error_ttl = Duration::ZERO;
        }))
        .build()
        .expect("repo");
    // The cache's clock starts when the answer arrives, somewhere between these two.
    let before_fetch = Instant::now();
    repo.public_key(&kid("billing/k1")).await.expect("found");
    let fetched = Instant::now();

    // Every repository is down: the first answers 500, the fallback refuses connections.
    server.answer_everything_with(Some(Reply::status(500)));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut answered_while_down = 0;
    while before_fetch.elapsed() < Duration::from_millis(2700) {
        let got = repo
            .public_key(&kid("billing/k1"))
            .await
            .expect("cached key while down");
        assert_eq!(*got, key.public_key().expect("pk"));
        answered_while_down += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(answered_while_down >= 3, "{answered_while_down}");
    assert!(
        server.hits() > 1 + answered_while_down / 2,
        "the repository was retried"
    );

    // Past max-age (1 s) + the stale-if-error bound (2 s): no more stale answers.
    tokio::time::sleep(Duration::from_millis(3200).saturating_sub(fetched.elapsed())).await;
    let err = repo
        .public_key(&kid("billing/k1"))
        .await
        .expect_err("bound reached");
    assert!(
        matches!(fetch_error(&err), FetchError::AllFailed(errors) if errors.len() == 2),
        "{err}"
    );
    assert_eq!(VerifyError::from(err).outcome().status(), 503);

    // The repository comes back: keys are served again.
    server.answer_everything_with(None);
    repo.public_key(&kid("billing/k1")).await.expect("back");
}

#[tokio::test]
async fn while_serving_stale_the_repository_is_not_hammered() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    server.publish(
        "billing/k1",
        Reply::pem(p256().public_key().expect("pk").to_pem())
            .cache_control("max-age=1, stale-while-revalidate=0"),
    );
    let repo = repo(&ca, &server.url())
        .cache_policy(policy(|p| p.error_ttl = Duration::from_secs(60)))
        .build()
        .expect("repo");
    repo.public_key(&kid("billing/k1")).await.expect("found");
    server.answer_everything_with(Some(Reply::status(503)));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..20 {
        repo.public_key(&kid("billing/k1")).await.expect("stale key");
    }
    assert_eq!(server.hits(), 2, "one failed refresh, then the retry interval");
}

#[tokio::test]
async fn a_500_on_the_first_repository_fails_over() {
    let ca = TestCa::new();
    let (first, second) = (KeyServer::start(&ca).await, KeyServer::start(&ca).await);
    first.answer_everything_with(Some(Reply::status(500)));
    let key = p256();
    second.publish_key(&kid("billing/k1"), &key);
    let repo = repo(&ca, &first.url())
        .fallback(second.url())
        .build()
        .expect("repo");
    let got = repo
        .public_key(&kid("billing/k1"))
        .await
        .expect("fallback answers");
    assert_eq!(*got, key.public_key().expect("pk"));
    assert_eq!((first.hits(), second.hits()), (1, 1));
}

#[tokio::test]
async fn a_refused_connection_fails_over() {
    let ca = TestCa::new();
    let second = KeyServer::start(&ca).await;
    let key = p256();
    second.publish_key(&kid("billing/k1"), &key);
    let refused = format!("https://127.0.0.1:{}/", refused_port());
    let repo = repo(&ca, &refused).fallback(second.url()).build().expect("repo");
    assert!(repo.public_key(&kid("billing/k1")).await.is_ok());
    assert_eq!(second.hits(), 1);
}

#[tokio::test]
async fn a_timeout_fails_over() {
    let ca = TestCa::new();
    let (first, second) = (KeyServer::start(&ca).await, KeyServer::start(&ca).await);
    first.answer_everything_with(Some(Reply::status(200).delay(Duration::from_secs(30))));
    second.publish_key(&kid("billing/k1"), &p256());
    let repo = repo(&ca, &first.url())
        .fallback(second.url())
        // Each repository's own bound, so the fallback's TLS handshake gets all of it too.
        .timeout(Duration::from_secs(2))
        .build()
        .expect("repo");
    let started = Instant::now();
    assert!(repo.public_key(&kid("billing/k1")).await.is_ok());
    // Well before the first repository's 30 s answer.
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_404_is_not_found_is_not_failed_over_and_is_cached() {
    let ca = TestCa::new();
    let (first, second) = (KeyServer::start(&ca).await, KeyServer::start(&ca).await);
    second.publish_key(&kid("billing/k1"), &p256());
    let repo = repo(&ca, &first.url())
        .fallback(second.url())
        .cache_policy(policy(|p| p.negative_ttl = Duration::from_millis(800)))
        .build()
        .expect("repo");
    let err = repo.public_key(&kid("billing/k1")).await.expect_err("404");
    assert!(matches!(err, KeySourceError::NotFound(_)), "{err}");
    assert_eq!(VerifyError::from(err).outcome().status(), 401);
    assert_eq!((first.hits(), second.hits()), (1, 0), "not failed over");

    let err = repo.public_key(&kid("billing/k1")).await.expect_err("cached 404");
    assert!(matches!(err, KeySourceError::NotFound(_)));
    assert_eq!(first.hits(), 1, "no request within the negative TTL");

    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(repo.public_key(&kid("billing/k1")).await.is_err());
    assert_eq!(first.hits(), 2, "asked again after the negative TTL");
}

#[tokio::test]
async fn a_403_is_not_found_too() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    server.answer_everything_with(Some(Reply::status(403)));
    let repo = repo(&ca, &server.url()).build().expect("repo");
    let err = repo.public_key(&kid("billing/k1")).await.expect_err("403");
    assert!(matches!(err, KeySourceError::NotFound(_)), "{err}");
}

#[tokio::test]
async fn not_found_fails_over_when_configured() {
    let ca = TestCa::new();
    let (first, second) = (KeyServer::start(&ca).await, KeyServer::start(&ca).await);
    second.publish_key(&kid("billing/k1"), &p256());
    let repo = repo(&ca, &first.url())
        .fallback(second.url())
        .failover_on_not_found(true)
        .build()
        .expect("repo");
    assert!(repo.public_key(&kid("billing/k1")).await.is_ok());
    assert_eq!((first.hits(), second.hits()), (1, 1));
    // Missing everywhere: not found.
    let err = repo.public_key(&kid("billing/k2")).await.expect_err("missing");
    assert!(matches!(err, KeySourceError::NotFound(_)), "{err}");
}

#[tokio::test]
async fn negative_entries_are_bounded() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    let repo = repo(&ca, &server.url())
        .cache_policy(policy(|p| p.max_negative = 10))
        .fetch_budget(unlimited())
        .build()
        .expect("repo");
    for i in 0..100 {
        let _ = repo.public_key(&kid(&format!("billing/k{i}"))).await;
    }
    let cached = repo.cached_negative_answers().await;
    assert!(cached <= 10, "{cached} negative answers cached");
    assert_eq!(server.hits(), 100);
    // Most of the early kids were evicted, so asking again reaches the server.
    for i in 0..100 {
        let _ = repo.public_key(&kid(&format!("billing/k{i}"))).await;
    }
    assert!(server.hits() >= 180, "{}", server.hits());
}
