//! A primary repository that answers with something other than a key or "not found" is
//! broken, not authoritative: the mirror is asked. When every repository fails, that failure
//! is remembered for the error TTL, so lookups do not turn into upstream requests.

use std::time::Duration;

use asap_core::{KeySourceError, PublicKeySource, VerifyError};
use asap_keys::FetchError;
use asap_testkit::tls::TestCa;

use crate::support::*;

/// A primary that answers `broken` to everything, and a mirror that has the key: the lookup
/// finds the key and each is asked once. Without the mirror, the failure is a 503, and is
/// remembered: asked again within the error TTL, nothing is sent.
async fn assert_fails_over_and_is_remembered(broken: Reply, is_expected: impl Fn(&FetchError) -> bool) {
    let ca = TestCa::new();
    let (primary, mirror) = (KeyServer::start(&ca).await, KeyServer::start(&ca).await);
    primary.answer_everything_with(Some(broken.clone()));
    let key = p256();
    mirror.publish_key(&kid("billing/k1"), &key);
    let with_mirror = repo(&ca, &primary.url())
        .fallback(mirror.url())
        .build()
        .expect("repo");
    let got = with_mirror
        .public_key(&kid("billing/k1"))
        .await
        .unwrap_or_else(|e| panic!("{broken:?}: the mirror should answer: {e}"));
    assert_eq!(*got, key.public_key().expect("pk"));
    assert_eq!((primary.hits(), mirror.hits()), (1, 1), "{broken:?}");

    let alone = repo(&ca, &primary.url())
        .cache_policy(policy(|p| p.error_ttl = Duration::from_millis(800)))
        .build()
        .expect("repo");
    let err = alone.public_key(&kid("billing/k1")).await.expect_err("broken");
    assert!(is_expected(fetch_error(&err)), "{broken:?}: {err}");
    assert_eq!(primary.hits(), 2);
    let err = alone
        .public_key(&kid("billing/k1"))
        .await
        .expect_err("remembered");
    assert!(is_expected(fetch_error(&err)), "{broken:?}: {err}");
    assert_eq!(VerifyError::from(err).outcome().status(), 503);
    assert_eq!(primary.hits(), 2, "{broken:?}: no request within the error TTL");
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(alone.public_key(&kid("billing/k1")).await.is_err());
    assert_eq!(primary.hits(), 3, "{broken:?}: asked again after the error TTL");
}

#[tokio::test]
async fn a_redirect_from_the_primary_fails_over_and_is_remembered() {
    assert_fails_over_and_is_remembered(Reply::status(302), |e| matches!(e, FetchError::Redirect { .. }))
        .await;
}

#[tokio::test]
async fn a_4xx_other_than_not_found_fails_over_and_is_remembered() {
    for status in [400, 401, 405, 451] {
        assert_fails_over_and_is_remembered(
            Reply::status(status),
            |e| matches!(e, FetchError::Status { status: s, .. } if *s == status),
        )
        .await;
    }
}

#[tokio::test]
async fn a_wrong_content_type_fails_over_and_is_remembered() {
    let pem = p256().public_key().expect("pk").to_pem();
    assert_fails_over_and_is_remembered(Reply::pem(pem).content_type("text/html"), |e| {
        matches!(e, FetchError::ContentType { .. })
    })
    .await;
}

#[tokio::test]
async fn an_oversized_body_fails_over_and_is_remembered() {
    assert_fails_over_and_is_remembered(Reply::pem("A".repeat(70_000)), |e| {
        matches!(e, FetchError::TooLarge { .. })
    })
    .await;
}

#[tokio::test]
async fn a_5xx_fails_over_and_is_remembered() {
    assert_fails_over_and_is_remembered(Reply::status(503), |e| {
        matches!(e, FetchError::Status { status: 503, .. })
    })
    .await;
}

#[tokio::test]
async fn the_failure_keeps_its_detail_for_logs() {
    let ca = TestCa::new();
    let primary = KeyServer::start(&ca).await;
    primary.answer_everything_with(Some(Reply::status(500)));
    let refused = format!("https://127.0.0.1:{}/", refused_port());
    let keys = repo(&ca, &primary.url()).fallback(refused).build().expect("repo");
    let err = keys.public_key(&kid("billing/k1")).await.expect_err("down");
    let KeySourceError::Unavailable(source) = &err else {
        panic!("expected Unavailable, got {err:?}");
    };
    // The source names each repository and what it said, and the transport error beneath.
    let detail = source.to_string();
    assert!(
        detail.contains(&primary.url()) && detail.contains("500"),
        "{detail}"
    );
    let FetchError::AllFailed(errors) = fetch_error(&err) else {
        panic!("expected AllFailed: {err}");
    };
    assert!(matches!(errors[1], FetchError::Connect { .. }));
    assert!(
        std::error::Error::source(&errors[1]).is_some(),
        "the transport error is kept"
    );
}
