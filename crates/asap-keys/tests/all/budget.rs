//! What made-up kids may cost: a budget of upstream fetches per issuer, a bound on fetches in
//! flight, and negative answers kept apart from keys. Requests are counted at the server.

use std::sync::Arc;
use std::time::Duration;

use asap_core::{KeySourceError, PublicKeySource, VerifyError};
use asap_keys::{FetchBudget, FetchError};
use asap_testkit::tls::TestCa;

use crate::support::*;

fn budget(burst: u32, max_in_flight: usize) -> FetchBudget {
    let mut budget = FetchBudget::default();
    budget.burst = burst;
    budget.refill_interval = Duration::from_secs(3600);
    budget.max_in_flight = max_in_flight;
    budget
}

#[tokio::test]
async fn one_issuer_making_up_kids_costs_at_most_its_budget_in_fetches() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    let good = p256();
    server.publish_key(&kid("billing/good"), &good);
    let repo = repo(&ca, &server.url())
        .fetch_budget(budget(5, 64))
        .build()
        .expect("repo");
    repo.public_key(&kid("billing/good")).await.expect("good key");

    let mut refused = 0;
    for i in 0..200 {
        match repo.public_key(&kid(&format!("billing/made-up-{i}"))).await {
            Err(KeySourceError::NotFound(_)) => {}
            Err(err) => {
                assert!(
                    matches!(fetch_error(&err), FetchError::IssuerBudgetExhausted { issuer } if issuer == "billing"),
                    "{err}"
                );
                assert_eq!(VerifyError::from(err).outcome().status(), 503);
                refused += 1;
            }
            Ok(_) => panic!("a made-up kid was found"),
        }
    }
    eprintln!(
        "200 made-up kids of one issuer: {} request(s) at the server",
        server.hits()
    );
    assert_eq!(server.hits(), 5, "the good key and four made-up kids");
    assert_eq!(refused, 196);

    // The good key is still answered from the cache, and other issuers have their own budget.
    let got = repo.public_key(&kid("billing/good")).await.expect("cached");
    assert_eq!(*got, good.public_key().expect("pk"));
    assert_eq!(server.hits(), 5);
    let err = repo.public_key(&kid("ledger/k1")).await.expect_err("absent");
    assert!(matches!(err, KeySourceError::NotFound(_)), "{err}");
    assert_eq!(server.hits(), 6);
}

/// A repository of one signer whose kids are opaque one-segment names (the Connect install
/// keys): charged per issuer, each made-up kid would be an issuer with a fresh burst; with the
/// repository's scope, made-up kids cost at most the one budget in fetches, whatever their
/// names.
#[tokio::test]
async fn made_up_one_segment_kids_cost_at_most_a_repository_scoped_budget() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    let good = p256();
    server.publish_key(&kid("install-key-1"), &good);
    let mut scoped = budget(5, 64);
    scoped.scope = asap_keys::BudgetScope::Repository;
    let scoped_repo = repo(&ca, &server.url())
        .fetch_budget(scoped)
        .build()
        .expect("repo");
    scoped_repo
        .public_key(&kid("install-key-1"))
        .await
        .expect("good key");
    let mut refused = 0;
    for i in 0..200 {
        match scoped_repo.public_key(&kid(&format!("made-up-{i}"))).await {
            Err(KeySourceError::NotFound(_)) => {}
            Err(err) => {
                assert!(
                    matches!(fetch_error(&err), FetchError::IssuerBudgetExhausted { .. }),
                    "{err}"
                );
                assert_eq!(VerifyError::from(err).outcome().status(), 503);
                refused += 1;
            }
            Ok(_) => panic!("a made-up kid was found"),
        }
    }
    assert_eq!(server.hits(), 5, "the good key and four made-up kids");
    assert_eq!(refused, 196);
    // The cached key is still answered.
    scoped_repo
        .public_key(&kid("install-key-1"))
        .await
        .expect("cached");
    assert_eq!(server.hits(), 5);

    // Charged per issuer (the default), every one-segment kid is an issuer of its own.
    let per_kid = repo(&ca, &server.url())
        .fetch_budget(budget(5, 64))
        .build()
        .expect("repo");
    for i in 0..20 {
        let err = per_kid
            .public_key(&kid(&format!("other-{i}")))
            .await
            .expect_err("absent");
        assert!(matches!(err, KeySourceError::NotFound(_)), "{err}");
    }
    assert_eq!(server.hits(), 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_made_up_kids_are_bounded_by_the_fetches_in_flight() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    // Slow answers keep the fetches in flight while every lookup arrives (with room for a
    // loaded machine to schedule all 200).
    server.answer_everything_with(Some(Reply::status(404).delay(Duration::from_secs(2))));
    let repo = Arc::new(
        repo(&ca, &server.url())
            .fetch_budget(budget(100_000, 8))
            .build()
            .expect("repo"),
    );
    let lookups: Vec<_> = (0..200)
        .map(|i| {
            let repo = repo.clone();
            tokio::spawn(async move { repo.public_key(&kid(&format!("issuer-{i}/k"))).await.map(|_| ()) })
        })
        .collect();
    let mut busy = 0;
    for lookup in lookups {
        if let Err(err) = lookup.await.expect("task")
            && !matches!(err, KeySourceError::NotFound(_))
        {
            assert!(
                matches!(fetch_error(&err), FetchError::TooManyInFlight { limit: 8 }),
                "{err}"
            );
            busy += 1;
        }
    }
    eprintln!(
        "200 concurrent made-up kids of 200 issuers: {} request(s) at the server",
        server.hits()
    );
    assert!(server.hits() <= 8, "{} requests", server.hits());
    assert_eq!(busy + server.hits(), 200);
}

#[tokio::test]
async fn negative_answers_do_not_evict_good_keys() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    let keys: Vec<_> = (0..5).map(|_| p256()).collect();
    for (i, key) in keys.iter().enumerate() {
        server.publish_key(&kid(&format!("billing/k{i}")), key);
    }
    let repo = repo(&ca, &server.url())
        .cache_policy(policy(|p| {
            p.max_keys = 5;
            p.max_negative = 5;
        }))
        .fetch_budget(unlimited())
        .build()
        .expect("repo");
    for i in 0..5 {
        repo.public_key(&kid(&format!("billing/k{i}")))
            .await
            .expect("found");
    }
    for i in 0..300 {
        let err = repo
            .public_key(&kid(&format!("billing/made-up-{i}")))
            .await
            .expect_err("made up");
        assert!(matches!(err, KeySourceError::NotFound(_)), "{err}");
    }
    assert_eq!(server.hits(), 305);
    assert!(repo.cached_negative_answers().await <= 5);
    for (i, key) in keys.iter().enumerate() {
        let got = repo
            .public_key(&kid(&format!("billing/k{i}")))
            .await
            .expect("cached");
        assert_eq!(*got, key.public_key().expect("pk"));
    }
    assert_eq!(server.hits(), 305, "every good key is still cached");
    assert_eq!(repo.cached_keys().await, 5);
}

#[tokio::test]
async fn refreshing_a_cached_key_costs_no_budget() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    server.publish(
        "billing/k1",
        Reply::pem(p256().public_key().expect("pk").to_pem())
            .cache_control("max-age=1, stale-while-revalidate=0"),
    );
    let repo = repo(&ca, &server.url())
        .fetch_budget(budget(1, 64))
        .build()
        .expect("repo");
    repo.public_key(&kid("billing/k1")).await.expect("found");
    // The issuer's one token is spent; an unknown kid is refused without a request.
    let err = repo.public_key(&kid("billing/k2")).await.expect_err("no budget");
    assert!(
        matches!(fetch_error(&err), FetchError::IssuerBudgetExhausted { .. }),
        "{err}"
    );
    assert_eq!(server.hits(), 1);
    // Past max-age the cached key is fetched again all the same.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    repo.public_key(&kid("billing/k1")).await.expect("refreshed");
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_full_fetch_pool_answers_with_a_key_within_stale_if_error() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    let key = p256();
    // Stale at once and past stale-while-revalidate: every lookup must fetch, and may be
    // answered with the cached key only when the fetch fails (stale-if-error).
    server.publish(
        "billing/k1",
        Reply::pem(key.public_key().expect("pk").to_pem())
            .cache_control("max-age=0, stale-while-revalidate=0, stale-if-error=3600"),
    );
    let hold = Hold::new();
    server.publish("ledger/held", Reply::status(404).hold(&hold));
    let repo = repo(&ca, &server.url())
        .fetch_budget(budget(100, 1))
        .build()
        .expect("repo");
    repo.public_key(&kid("billing/k1")).await.expect("fetched");

    // The pool's one place is taken by a fetch the server holds.
    let held = tokio::spawn({
        let repo = repo.clone();
        async move { repo.public_key(&kid("ledger/held")).await.map(|_| ()) }
    });
    hold.arrival().await;

    let got = repo
        .public_key(&kid("billing/k1"))
        .await
        .expect("the stale-if-error key, not a 503");
    assert_eq!(*got, key.public_key().expect("pk"));
    assert_eq!(server.hits(), 2, "no request was admitted for it");
    // With nothing cached that may answer, a full pool is still a 503.
    let err = repo.public_key(&kid("billing/k2")).await.expect_err("pool full");
    assert!(
        matches!(fetch_error(&err), FetchError::TooManyInFlight { limit: 1 }),
        "{err}"
    );

    hold.release();
    let err = held.await.expect("task").expect_err("not published");
    assert!(matches!(err, KeySourceError::NotFound(_)), "{err}");
}

/// A bound on fetches in flight beyond what a semaphore counts is a configuration error at
/// `build`, not a panic there.
#[test]
fn a_budget_of_more_fetches_in_flight_than_can_be_counted_is_refused() {
    for max_in_flight in [usize::MAX, tokio::sync::Semaphore::MAX_PERMITS + 1] {
        let built = asap_keys::HttpKeyRepository::builder("https://keys.example.com/")
            .fetch_budget(budget(5, max_in_flight))
            .build();
        assert!(
            matches!(built, Err(asap_keys::ConfigError::Setting(_))),
            "{max_in_flight}"
        );
    }
    asap_keys::HttpKeyRepository::builder("https://keys.example.com/")
        .fetch_budget(budget(5, tokio::sync::Semaphore::MAX_PERMITS))
        .build()
        .expect("the largest count");
}
