//! The metrics of docs/metrics.md, read back through a real recorder (metrics-util's
//! `DebuggingRecorder`): a verifier with a token cache in front of an HTTP key repository with
//! a failing primary, the in-memory replay guard, and Redis going away.
//!
//! Each test runs on a current-thread runtime inside `metrics::with_local_recorder`, so that the
//! background key fetches (tasks on the same thread) are recorded too, and tests running in
//! parallel do not count into each other's recorder.

use std::future::Future;
use std::sync::Arc;

use asap_core::{
    Audience, InMemoryReplayGuard, KeyId, KeyKind, KeySpec, PrivateKey, Signer, SigningKey, TokenRequest,
    Verifier, VerifyError,
};
use asap_keys::HttpKeyRepository;
use asap_testkit::redis::RedisServer;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};

/// Runs `test` with a fresh recorder installed on this thread; returns what it recorded.
fn recorded<F: Future<Output = ()>>(test: impl FnOnce() -> F) -> Recorded {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(test());
    });
    Recorded::of(&snapshotter)
}

struct Recorded(Vec<(CompositeKey, DebugValue)>);

impl Recorded {
    fn of(snapshotter: &Snapshotter) -> Recorded {
        Recorded(
            snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .map(|(key, _, _, value)| (key, value))
                .collect(),
        )
    }

    fn find(&self, kind: MetricKind, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
        self.0
            .iter()
            .find(|(key, _)| {
                let key_labels: Vec<(&str, &str)> =
                    key.key().labels().map(|l| (l.key(), l.value())).collect();
                key.kind() == kind
                    && key.key().name() == name
                    && key_labels.len() == labels.len()
                    && labels.iter().all(|label| key_labels.contains(label))
            })
            .map(|(_, value)| value)
    }

    /// A counter's value; 0 when it was never incremented.
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.find(MetricKind::Counter, name, labels) {
            Some(DebugValue::Counter(n)) => *n,
            None => 0,
            Some(other) => panic!("{name} is not a counter: {other:?}"),
        }
    }

    /// How many samples a histogram holds.
    fn samples(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        match self.find(MetricKind::Histogram, name, labels) {
            Some(DebugValue::Histogram(samples)) => samples.len(),
            None => 0,
            Some(other) => panic!("{name} is not a histogram: {other:?}"),
        }
    }

    /// Every label value recorded, of every metric.
    fn label_values(&self) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|(key, _)| {
                key.key()
                    .labels()
                    .map(|l| l.value().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

const ISSUER: &str = "billing-svc";
const AUDIENCE: &str = "ledger";

struct Keys {
    known: Signer,
    unpublished: Signer,
    pem: String,
}

fn keys() -> Keys {
    let signer = |name: &str| {
        let private = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
        let pem = private.public_key().expect("public").to_pem();
        let kid = KeyId::parse(&format!("{ISSUER}/{name}")).expect("kid");
        let signer = Signer::builder(ISSUER)
            .key(SigningKey::new(kid, private, None).expect("signing key"))
            .build()
            .expect("signer");
        (signer, pem)
    };
    let (known, pem) = signer("published-key");
    let (unpublished, _) = signer("unpublished-key");
    Keys {
        known,
        unpublished,
        pem,
    }
}

/// A repository whose `/down/` half answers 500 and whose `/up/` half publishes one key.
async fn repository(pem: String) -> HttpKeyRepository {
    let published = format!("/up/{ISSUER}/published-key");
    let router = Router::new()
        .route(
            "/down/{*kid}",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route(
            &published,
            get(move || async move { ([(header::CONTENT_TYPE, "application/x-pem-file")], pem) }),
        );
    let addr = asap_testkit::http::spawn_http(router).await;
    HttpKeyRepository::builder(format!("http://{addr}/down/"))
        .fallback(format!("http://{addr}/up/"))
        .allow_insecure_loopback(true)
        .build()
        .expect("repository")
}

fn audience(name: &str) -> Audience {
    Audience::new(name).expect("audience")
}

#[test]
fn verifications_key_fetches_and_caches_are_counted_with_bounded_labels() {
    let keys = keys();
    let mut refusal_rules = Vec::new();
    let recorded = recorded(|| async {
        let verifier = Verifier::builder(repository(keys.pem.clone()).await)
            .audience(audience(AUDIENCE))
            .cache_verified_tokens(100)
            .build()
            .expect("verifier");
        let token = keys.known.sign(&audience(AUDIENCE)).expect("token");
        for _ in 0..2 {
            verifier.verify(token.as_str()).await.expect("verifies");
        }
        let unpublished = keys.unpublished.sign(&audience(AUDIENCE)).expect("token");
        let other_audience = keys.known.sign(&audience("elsewhere")).expect("token");
        for bad in [unpublished.as_str(), other_audience.as_str(), "not.a.token"] {
            let error = verifier.verify(bad).await.expect_err("refused");
            refusal_rules.push((error.rule(), error.outcome()));
        }
        // The kid nobody publishes again: answered by the negative cache, no second fetch.
        verifier.verify(unpublished.as_str()).await.expect_err("refused");
    });

    assert_eq!(
        recorded.counter("asap_tokens_verified_total", &[("alg", "ES256")]),
        2
    );
    // The second use of the token came from the verified-token cache; each refused token
    // missed it.
    assert_eq!(
        recorded.counter("asap_verified_cache_lookups_total", &[("result", "hit")]),
        1
    );
    assert_eq!(
        recorded.counter("asap_verified_cache_lookups_total", &[("result", "miss")]),
        5
    );
    assert_eq!(
        refusal_rules.iter().map(|(rule, _)| *rule).collect::<Vec<_>>(),
        ["key_not_found", "audience_mismatch", "malformed"]
    );
    for (rule, times) in [("key_not_found", 2), ("audience_mismatch", 1), ("malformed", 1)] {
        assert_eq!(
            recorded.counter(
                "asap_tokens_refused_total",
                &[("rule", rule), ("outcome", "unauthorized")]
            ),
            times,
            "{rule}"
        );
    }

    // Two kids fetched: each tried the failing primary first, then the mirror.
    assert_eq!(
        recorded.counter("asap_key_fetches_total", &[("outcome", "key")]),
        1
    );
    assert_eq!(
        recorded.counter("asap_key_fetches_total", &[("outcome", "not_found")]),
        1
    );
    assert_eq!(
        recorded.samples("asap_key_fetch_duration_seconds", &[("outcome", "key")]),
        1
    );
    assert_eq!(
        recorded.samples("asap_key_fetch_duration_seconds", &[("outcome", "not_found")]),
        1
    );
    assert_eq!(
        recorded.counter("asap_key_repository_errors_total", &[("error", "status")]),
        2
    );
    // The published key was fetched once, then answered from the key cache for the token
    // meant for another audience (the malformed token never reached the key source); the
    // unpublished kid's second lookup was answered by the negative cache.
    assert_eq!(
        recorded.counter("asap_key_cache_lookups_total", &[("result", "miss")]),
        2
    );
    assert_eq!(
        recorded.counter("asap_key_cache_lookups_total", &[("result", "hit")]),
        1
    );
    assert_eq!(
        recorded.counter("asap_key_cache_lookups_total", &[("result", "negative")]),
        1
    );

    // No label carries a kid, an issuer, an audience or any part of a token.
    for value in recorded.label_values() {
        for secret in [
            ISSUER,
            "published-key",
            "unpublished-key",
            AUDIENCE,
            "elsewhere",
            "token",
        ] {
            assert!(
                !value.contains(secret),
                "label value {value:?} contains {secret:?}"
            );
        }
    }
}

#[test]
fn a_full_in_memory_replay_store_is_counted_as_a_store_error_and_a_503_refusal() {
    let keys = keys();
    let recorded = recorded(|| async {
        let verifier = Verifier::builder(repository(keys.pem.clone()).await)
            .audience(audience(AUDIENCE))
            .replay_guard(Arc::new(InMemoryReplayGuard::new(1)))
            .build()
            .expect("verifier");
        let request = || TokenRequest::new(audience(AUDIENCE));
        let first = keys.known.sign_request(&request().claim("n", 1)).expect("token");
        let second = keys.known.sign_request(&request().claim("n", 2)).expect("token");
        verifier.verify(first.as_str()).await.expect("first token");
        let error = verifier.verify(second.as_str()).await.expect_err("store full");
        assert!(matches!(error, VerifyError::ReplayUnavailable(_)), "{error}");
    });
    assert_eq!(
        recorded.counter(
            "asap_replay_store_errors_total",
            &[("store", "memory"), ("error", "full"), ("action", "refused")]
        ),
        1
    );
    assert_eq!(
        recorded.counter(
            "asap_tokens_refused_total",
            &[("rule", "replay_unavailable"), ("outcome", "unavailable")]
        ),
        1
    );
    // No verified-token cache with a replay guard: nothing looked up.
    assert_eq!(
        recorded.counter("asap_verified_cache_lookups_total", &[("result", "miss")]),
        0
    );
}

#[test]
fn redis_failures_are_counted_whether_they_refuse_or_let_the_token_through() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let keys = keys();
    let recorded = recorded(|| async {
        let refusing = asap_redis::RedisReplayGuard::connect(&redis.url())
            .await
            .expect("connect");
        let allowing = refusing
            .clone()
            .when_unavailable(asap_redis::WhenUnavailable::Allow);
        let verifier = |guard: asap_redis::RedisReplayGuard| {
            let pem = keys.pem.clone();
            async move {
                Verifier::builder(repository(pem).await)
                    .audience(audience(AUDIENCE))
                    .replay_guard(Arc::new(guard))
                    .build()
                    .expect("verifier")
            }
        };
        let (refusing, allowing) = (verifier(refusing).await, verifier(allowing).await);
        let token = || {
            keys.known
                .sign_request(&TokenRequest::new(audience(AUDIENCE)).claim("fresh", true))
        };
        refusing
            .verify(token().expect("token").as_str())
            .await
            .expect("Redis is up");
        redis.stop();
        let error = refusing
            .verify(token().expect("token").as_str())
            .await
            .expect_err("Redis is down");
        assert!(matches!(error, VerifyError::ReplayUnavailable(_)), "{error}");
        allowing
            .verify(token().expect("token").as_str())
            .await
            .expect("accepted without a replay check");
    });
    let errors = |action| {
        recorded.counter(
            "asap_replay_store_errors_total",
            &[("store", "redis"), ("error", "unavailable"), ("action", action)],
        )
    };
    assert_eq!(errors("refused"), 1);
    assert_eq!(errors("accepted"), 1);
    assert_eq!(
        recorded.counter("asap_tokens_verified_total", &[("alg", "ES256")]),
        2
    );
}

#[test]
fn every_recorded_metric_is_described() {
    let keys = keys();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        asap_core::metrics::describe();
        asap_keys::metrics::describe();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async {
                let verifier = Verifier::builder(repository(keys.pem.clone()).await)
                    .audience(audience(AUDIENCE))
                    .cache_verified_tokens(10)
                    .build()
                    .expect("verifier");
                let token = keys.known.sign(&audience(AUDIENCE)).expect("token");
                verifier.verify(token.as_str()).await.expect("verifies");
                verifier.verify("x").await.expect_err("refused");
            });
    });
    let snapshot = snapshotter.snapshot().into_vec();
    assert!(snapshot.len() >= 6, "{snapshot:?}");
    for (key, unit, description, _) in snapshot {
        assert!(description.is_some(), "{} has no description", key.key().name());
        if key.key().name().ends_with("_seconds") {
            assert_eq!(unit, Some(metrics::Unit::Seconds));
        }
    }
}

#[test]
fn refusals_the_layer_decides_itself_are_counted_too() {
    let recorded = recorded(|| async {
        use tower::ServiceExt as _;
        let verifier = Verifier::builder(asap_core::StaticKeySource::new())
            .audience(audience(AUDIENCE))
            .build()
            .expect("verifier");
        let app = Router::new()
            .route("/", get(|| async { "ok" }))
            .layer(asap_tower::AsapLayer::new(verifier));
        for authorization in [None, Some("Basic dXNlcjpwYXNz")] {
            let mut request = axum::http::Request::get("/");
            if let Some(value) = authorization {
                request = request.header(header::AUTHORIZATION, value);
            }
            let request = request.body(axum::body::Body::empty()).expect("request");
            let response = app.clone().oneshot(request).await.expect("infallible");
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
    });
    for rule in ["missing_token", "bad_authorization"] {
        assert_eq!(
            recorded.counter(
                "asap_tokens_refused_total",
                &[("rule", rule), ("outcome", "unauthorized")]
            ),
            1,
            "{rule}"
        );
    }
}
