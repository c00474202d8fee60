//! A token the verifier has cached, through the layer: decided when the request is called —
//! the route called then, with no future to wait on — and counted once, as a verification and
//! as a cache hit.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use asap_tower::AsapLayer;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tower::{Layer, Service, ServiceExt, service_fn};

use crate::support::{Caller, keys, verifier};

fn request(token: Option<&str>) -> Request<()> {
    let mut request = Request::get("/").body(()).expect("request");
    if let Some(token) = token {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("value");
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    request
}

#[tokio::test]
async fn a_cached_token_reaches_the_route_when_the_request_is_called() {
    let caller = Caller::new("billing");
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let route = service_fn(move |_: Request<()>| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(String::new())) }
    });
    let verifier = verifier(keys(&[&caller]))
        .cache_verified_tokens(100)
        .build()
        .expect("verifier");
    let mut service = AsapLayer::new(verifier).layer(route);
    let token = caller.token();

    // First use: the signature is checked inside the response future, then the route runs.
    let response = service.ready().await.expect("ready").call(request(Some(&token)));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the route ran before the token was verified"
    );
    assert_eq!(response.await.expect("response").status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Cached: admitted while the request is called; the future is the route's own.
    let response = service.ready().await.expect("ready").call(request(Some(&token)));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "a cached token waited for the future"
    );
    assert_eq!(response.await.expect("response").status(), StatusCode::OK);

    // Refused at once (no token): the route never runs.
    let response = service.ready().await.expect("ready").call(request(None));
    assert_eq!(
        response.await.expect("response").status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// The counters `requests` (each with the same token) leave, by name and the value of their
/// one label.
fn counted(requests: usize) -> Vec<(String, String, u64)> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(async {
                let caller = Caller::new("billing");
                let verifier = verifier(keys(&[&caller]))
                    .cache_verified_tokens(100)
                    .build()
                    .expect("verifier");
                let ok =
                    service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(String::new())) });
                let service = AsapLayer::new(verifier).layer(ok);
                let token = caller.token();
                for _ in 0..requests {
                    let response = service
                        .clone()
                        .oneshot(request(Some(&token)))
                        .await
                        .expect("response");
                    assert_eq!(response.status(), StatusCode::OK);
                }
            });
    });
    let mut counted: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let label = key
                .key()
                .labels()
                .map(|l| l.value().to_owned())
                .collect::<Vec<_>>()
                .join(",");
            let DebugValue::Counter(n) = value else {
                panic!("not a counter: {value:?}")
            };
            (key.key().name().to_owned(), label, n)
        })
        .collect();
    counted.sort();
    counted
}

#[test]
fn a_cache_hit_is_counted_once_as_a_hit_and_as_a_verification_and_a_miss_once() {
    let lookup = |result: &str, n| {
        (
            "asap_verified_cache_lookups_total".to_owned(),
            result.to_owned(),
            n,
        )
    };
    assert_eq!(
        counted(3),
        vec![
            ("asap_tokens_verified_total".to_owned(), "ES256".to_owned(), 3),
            lookup("hit", 2),
            lookup("miss", 1),
        ]
    );
}
