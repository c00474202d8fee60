//! The HTTP(S) repository's transport rules, against real servers on 127.0.0.1.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use asap_core::{
    KeyError, KeyKind, KeySourceError, KeySpec, PrivateKey, PublicKeySource, TokenError, VerifyError,
};
use asap_keys::{ConfigError, FetchError, HttpKeyRepository};
use asap_testkit::tls::TestCa;
use axum::Router;
use axum::body::Body;
use axum::http::Response;
use axum::routing::get;
use bytes::Bytes;

use crate::support::*;

#[tokio::test]
async fn url_is_base_plus_kid_and_accept_is_pem() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    let key = p256();
    server.publish(
        "keys/billing/k1.pem",
        Reply::pem(key.public_key().expect("pk").to_pem()),
    );
    // Any number of trailing slashes on the base becomes exactly one.
    for base in ["keys", "keys/", "keys//"] {
        let repo = repo(&ca, &format!("{}{base}", server.url()))
            .build()
            .expect("repo");
        let got = repo.public_key(&kid("billing/k1.pem")).await.expect("found");
        assert_eq!(*got, key.public_key().expect("pk"));
    }
    assert_eq!(server.paths(), vec!["/keys/billing/k1.pem"; 3]);
    assert_eq!(server.accept_headers(), vec!["application/x-pem-file"; 3]);
}

#[tokio::test]
async fn plain_http_needs_loopback_and_explicit_permission() {
    let server = KeyServer::start_plain().await;
    let key = p256();
    server.publish_key(&kid("billing/k1"), &key);
    let url = format!("http://127.0.0.1:{}/", server.addr.port());
    let refused = HttpKeyRepository::builder(url.clone()).build();
    assert!(matches!(refused, Err(ConfigError::InsecureUrl(_))));
    let repo = HttpKeyRepository::builder(url)
        .allow_insecure_loopback(true)
        .build()
        .expect("allowed");
    assert!(repo.public_key(&kid("billing/k1")).await.is_ok());
}

#[tokio::test]
async fn a_server_the_client_does_not_trust_is_unavailable() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    server.publish_key(&kid("billing/k1"), &p256());
    let repo = repo(&TestCa::new(), &server.url()).build().expect("repo");
    let err = repo.public_key(&kid("billing/k1")).await.expect_err("untrusted");
    assert!(matches!(fetch_error(&err), FetchError::Connect { .. }), "{err}");
}

#[tokio::test]
async fn slow_headers_time_out_in_bounded_time() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    server.publish(
        "billing/k1",
        Reply::pem(p256().public_key().expect("pk").to_pem()).delay(Duration::from_secs(30)),
    );
    let repo = repo(&ca, &server.url())
        .timeout(Duration::from_millis(500))
        .build()
        .expect("repo");
    let started = Instant::now();
    let err = repo.public_key(&kid("billing/k1")).await.expect_err("slow");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(fetch_error(&err), FetchError::Timeout { .. }), "{err}");
    assert_eq!(asap_core::VerifyError::from(err).outcome().status(), 503);
}

/// A body that sends one byte every 100 ms, forever.
fn trickle() -> Body {
    let stream = futures_util::stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((Ok::<_, std::io::Error>(Bytes::from_static(b"-")), ()))
    });
    Body::from_stream(stream)
}

#[tokio::test]
async fn a_trickled_body_times_out_in_bounded_time() {
    let ca = TestCa::new();
    let router = Router::new().route(
        "/billing/k1",
        get(|| async {
            Response::builder()
                .header("content-type", "application/x-pem-file")
                .body(trickle())
                .expect("response")
        }),
    );
    let addr = asap_testkit::http::spawn_https(router, &ca).await;
    let repo = repo(&ca, &format!("https://127.0.0.1:{}/", addr.port()))
        .timeout(Duration::from_millis(700))
        .build()
        .expect("repo");
    let started = Instant::now();
    let err = repo.public_key(&kid("billing/k1")).await.expect_err("trickled");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(fetch_error(&err), FetchError::Timeout { .. }), "{err}");
}

/// A 10 MB body streamed in 16 KiB chunks, counting what the server produced.
fn huge_body(sent: Arc<AtomicUsize>) -> Body {
    const TOTAL: usize = 10 * 1024 * 1024;
    let stream = futures_util::stream::unfold(0usize, move |done| {
        let sent = sent.clone();
        async move {
            if done >= TOTAL {
                return None;
            }
            sent.fetch_add(16 * 1024, Ordering::SeqCst);
            Some((
                Ok::<_, std::io::Error>(Bytes::from(vec![b'A'; 16 * 1024])),
                done + 16 * 1024,
            ))
        }
    });
    Body::from_stream(stream)
}

#[tokio::test]
async fn a_10_mb_body_is_rejected_without_reading_it_all() {
    let ca = TestCa::new();
    let sent = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .route(
            "/billing/streamed",
            get({
                let sent = sent.clone();
                move || async move {
                    Response::builder()
                        .header("content-type", "application/x-pem-file")
                        .body(huge_body(sent))
                        .expect("response")
                }
            }),
        )
        .route(
            "/billing/declared",
            get(|| async {
                Response::builder()
                    .header("content-type", "application/x-pem-file")
                    .body(Body::from(vec![b'A'; 10 * 1024 * 1024]))
                    .expect("response")
            }),
        );
    let addr = asap_testkit::http::spawn_https(router, &ca).await;
    let repo = repo(&ca, &format!("https://127.0.0.1:{}/", addr.port()))
        .build()
        .expect("repo");

    let err = repo
        .public_key(&kid("billing/streamed"))
        .await
        .expect_err("too large");
    assert!(
        matches!(fetch_error(&err), FetchError::TooLarge { limit: 65536, .. }),
        "{err}"
    );
    // Give the server a moment to notice the closed connection, then see what it produced.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let produced = sent.load(Ordering::SeqCst);
    eprintln!(
        "10 MB body without Content-Length: server produced {produced} bytes before the client hung up"
    );
    assert!(produced < 10 * 1024 * 1024, "{produced}");

    // With a Content-Length the body is refused before reading any of it.
    let err = repo
        .public_key(&kid("billing/declared"))
        .await
        .expect_err("too large");
    assert!(matches!(fetch_error(&err), FetchError::TooLarge { .. }), "{err}");
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed() {
    let ca = TestCa::new();
    let elsewhere = KeyServer::start(&ca).await;
    elsewhere.publish_key(&kid("billing/k1"), &p256());
    let location = format!("https://localhost:{}/billing/k1", elsewhere.addr.port());
    let router = Router::new().route(
        "/billing/k1",
        get(move || {
            let location = location.clone();
            async move {
                Response::builder()
                    .status(302)
                    .header("location", location)
                    .body(Body::empty())
                    .expect("response")
            }
        }),
    );
    let addr = asap_testkit::http::spawn_https(router, &ca).await;
    let repo = repo(&ca, &format!("https://127.0.0.1:{}/", addr.port()))
        .build()
        .expect("repo");
    let err = repo.public_key(&kid("billing/k1")).await.expect_err("redirect");
    match fetch_error(&err) {
        FetchError::Redirect { location, .. } => {
            assert!(
                location.as_deref().is_some_and(|l| l.contains("localhost")),
                "{location:?}"
            );
        }
        other => panic!("expected a redirect error, got {other}"),
    }
    assert_eq!(elsewhere.hits(), 0, "the redirect target must never be contacted");
}

#[tokio::test]
async fn content_type_must_be_a_pem_file() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    let pem = p256().public_key().expect("pk").to_pem();
    server.publish(
        "billing/html",
        Reply::pem(pem.clone()).content_type("text/html; charset=utf-8"),
    );
    server.publish("billing/none", Reply::pem(pem.clone()).content_type(""));
    server.publish(
        "billing/params",
        Reply::pem(pem.clone()).content_type("Application/X-PEM-File; charset=us-ascii"),
    );
    let repo = repo(&ca, &server.url()).build().expect("repo");
    for name in ["billing/html", "billing/none"] {
        let err = repo.public_key(&kid(name)).await.expect_err("wrong type");
        assert!(
            matches!(fetch_error(&err), FetchError::ContentType { .. }),
            "{err}"
        );
    }
    assert!(repo.public_key(&kid("billing/params")).await.is_ok());

    // A repository that labels files otherwise can be allowed explicitly.
    let lenient = crate::support::repo(&ca, &server.url())
        .accept_content_type("text/html")
        .build()
        .expect("repo");
    assert!(lenient.public_key(&kid("billing/html")).await.is_ok());
}

#[tokio::test]
async fn weak_rsa_private_keys_and_certificates_are_invalid_keys() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    let weak = include_str!("../fixtures/rsa1024.pub.pem");
    server.publish("billing/weak", Reply::pem(weak));
    server.publish("billing/private", Reply::pem(p256().to_pkcs8_pem().expect("pem")));
    server.publish("billing/cert", Reply::pem(ca.root_pem()));
    server.publish("billing/junk", Reply::pem("<html>hello</html>"));
    let repo = repo(&ca, &server.url()).build().expect("repo");

    let err = repo.public_key(&kid("billing/weak")).await.expect_err("weak");
    assert!(
        matches!(
            err,
            KeySourceError::InvalidKey {
                source: KeyError::RsaTooSmall { bits: 1024 },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(VerifyError::from(err).outcome().status(), 401);
    for name in ["billing/private", "billing/cert", "billing/junk"] {
        let err = repo.public_key(&kid(name)).await.expect_err("invalid");
        assert!(matches!(err, KeySourceError::InvalidKey { .. }), "{name}: {err}");
    }
    // Invalid answers are cached like a 404: asking again sends nothing.
    let before = server.hits();
    assert!(repo.public_key(&kid("billing/weak")).await.is_err());
    assert_eq!(server.hits(), before);
}

#[tokio::test]
async fn a_p384_key_for_an_es256_token_is_refused() {
    let ca = TestCa::new();
    let server = KeyServer::start(&ca).await;
    let signing = p256();
    let published = PrivateKey::generate(KeySpec::Curve(KeyKind::P384)).expect("p384");
    server.publish_key(&kid("billing/k1"), &published);
    let repo = repo(&ca, &server.url()).build().expect("repo");
    let err = sign_and_verify(repo, "billing", kid("billing/k1"), signing)
        .await
        .expect_err("mismatch");
    assert!(
        matches!(
            err,
            VerifyError::Token(TokenError::KeyAlgorithmMismatch {
                key: KeyKind::P384,
                ..
            })
        ),
        "{err}"
    );
    assert_eq!(err.outcome().status(), 401);
}
