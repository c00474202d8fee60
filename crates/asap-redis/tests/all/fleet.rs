//! Two verifiers sharing one Redis, Redis going away and coming back, and a Redis that would
//! evict recorded uses refused.

use std::sync::Arc;
use std::time::{Duration, Instant};

use asap_core::*;
use asap_redis::{RedisGuardError, RedisReplayGuard, WhenUnavailable};
use asap_testkit::http::spawn_http;
use asap_testkit::redis::RedisServer;
use asap_tower::AsapLayer;
use axum::Router;
use axum::routing::get;

struct Keys {
    signer: Signer,
    source: StaticKeySource,
}

fn keys() -> Keys {
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
    let kid = KeyId::parse("billing/k1").expect("kid");
    let source = StaticKeySource::new().with_key(kid.clone(), key.public_key().expect("public"));
    let signer = Signer::builder("billing")
        .key(SigningKey::new(kid, key, None).expect("sk"))
        .build()
        .expect("signer");
    Keys { signer, source }
}

fn token(keys: &Keys) -> String {
    keys.signer
        .sign(&Audience::new("ledger").expect("aud"))
        .expect("token")
        .to_string()
}

fn verifier(keys: &Keys, guard: RedisReplayGuard) -> Verifier {
    Verifier::builder(keys.source.clone())
        .audience(Audience::new("ledger").expect("aud"))
        .replay_guard(Arc::new(guard))
        .build()
        .expect("verifier")
}

/// A service instance: an axum server behind the layer with its own Redis connection.
async fn instance(keys: &Keys, guard: RedisReplayGuard) -> String {
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(AsapLayer::new(verifier(keys, guard)));
    format!("http://{}/", spawn_http(app).await)
}

async fn call(url: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_token_accepted_by_one_instance_is_refused_by_another() {
    let Some(redis) = RedisServer::start() else { return };
    let keys = keys();
    let first = instance(
        &keys,
        RedisReplayGuard::connect(&redis.url()).await.expect("connect"),
    )
    .await;
    let second = instance(
        &keys,
        RedisReplayGuard::connect(&redis.url()).await.expect("connect"),
    )
    .await;
    let t = token(&keys);
    assert_eq!(call(&first, &t).await, 200);
    assert_eq!(call(&second, &t).await, 401);
    assert_eq!(call(&first, &t).await, 401);
    // Another token still goes through.
    assert_eq!(call(&second, &token(&keys)).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_across_instances_exactly_one_succeeds() {
    let Some(redis) = RedisServer::start() else { return };
    let keys = keys();
    let mut verifiers = Vec::new();
    for _ in 0..4 {
        verifiers.push(verifier(
            &keys,
            RedisReplayGuard::connect(&redis.url()).await.expect("connect"),
        ));
    }
    let t = Arc::new(token(&keys));
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let v = verifiers[i % verifiers.len()].clone();
            let t = t.clone();
            tokio::spawn(async move { v.verify(&t).await })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.expect("join") {
            Ok(_) => ok += 1,
            Err(e) => assert!(matches!(e, VerifyError::Replayed), "{e}"),
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn an_entry_outlives_the_last_second_its_token_is_accepted() {
    let Some(redis) = RedisServer::start() else { return };
    let guard = RedisReplayGuard::connect(&redis.url()).await.expect("connect");
    let use_ = TokenUse {
        issuer: "billing",
        jti: "j1",
        now: 1000,
        expires_at: 1090,
    };
    let before_set = std::time::Instant::now();
    assert!(guard.first_use(use_).await.expect("first"));
    assert!(!guard.first_use(use_).await.expect("second"));
    let client = redis::Client::open(redis.url()).expect("client");
    let mut conn = client.get_multiplexed_async_connection().await.expect("conn");
    // The token is accepted while the clock reads 1090 (exp + leeway), a second that ends at
    // 1091, and a replay checked then may reach Redis a moment after the first use did: the
    // entry must still be there SWEEP_GRACE past that, so more than 92 s from `now`.
    let pttl: i64 = redis::cmd("PTTL")
        .arg(guard.key("billing", "j1"))
        .query_async(&mut conn)
        .await
        .expect("pttl");
    let grace = i64::try_from(SWEEP_GRACE.as_millis()).expect("ms");
    // Set to 91 s + grace; what Redis reports has run down by at most the time since the set
    // (and a millisecond of rounding).
    let since_set = i64::try_from(before_set.elapsed().as_millis()).expect("ms");
    assert!(
        (91_000 + grace - since_set - 1..=91_000 + grace).contains(&pttl),
        "pttl {pttl} ms, {since_set} ms after the set"
    );
    // Keys cannot collide across issuer/jti boundaries.
    assert_ne!(guard.key("a:b", "c"), guard.key("a", "b:c"));
}

/// Whether Redis holds `key`.
async fn exists(redis: &RedisServer, key: &str) -> bool {
    let client = redis::Client::open(redis.url()).expect("client");
    let mut conn = client.get_multiplexed_async_connection().await.expect("conn");
    redis::cmd("EXISTS")
        .arg(key)
        .query_async(&mut conn)
        .await
        .expect("exists")
}

/// Redis keeps no entry further ahead than the in-memory guard would: the same typed refusal,
/// whichever `WhenUnavailable` is chosen (it is not Redis that failed), and nothing written.
#[tokio::test]
async fn an_expiry_beyond_the_horizon_is_refused_and_writes_nothing() {
    let Some(redis) = RedisServer::start() else { return };
    let guard = RedisReplayGuard::connect(&redis.url())
        .await
        .expect("connect")
        .when_unavailable(WhenUnavailable::Allow);
    let horizon = i64::try_from(MAX_REPLAY_HORIZON.as_secs()).expect("secs");
    let far = TokenUse {
        issuer: "billing",
        jti: "far",
        now: 1000,
        expires_at: 1000 + horizon + 1,
    };
    match guard.first_use(far).await {
        Err(ReplayError::ExpiresTooLate { expires_at, latest }) => {
            assert_eq!((expires_at, latest), (1001 + horizon, 1000 + horizon));
        }
        other => panic!("expected ExpiresTooLate, got {other:?}"),
    }
    assert!(!exists(&redis, &guard.key("billing", "far")).await);
    let at_horizon = TokenUse {
        expires_at: 1000 + horizon,
        ..far
    };
    assert!(
        guard
            .first_use(at_horizon)
            .await
            .expect("the horizon itself is within")
    );
}

/// A use whose caller's clock is already past its `expires_at` (its token expired while it
/// was being checked) counts as seen, and leaves nothing in Redis: with a one-second entry, a
/// replay a second later would have been a first use.
#[tokio::test]
async fn a_use_already_past_its_expiry_counts_as_seen_and_writes_nothing() {
    let Some(redis) = RedisServer::start() else { return };
    let guard = RedisReplayGuard::connect(&redis.url()).await.expect("connect");
    let late = TokenUse {
        issuer: "billing",
        jti: "late",
        now: 1091,
        expires_at: 1090,
    };
    assert!(!guard.first_use(late).await.expect("answered"));
    assert!(!exists(&redis, &guard.key("billing", "late")).await);
    let last_second = TokenUse { now: 1090, ..late };
    assert!(
        guard
            .first_use(last_second)
            .await
            .expect("the last second is within")
    );
}

#[tokio::test]
async fn redis_down_gives_503_quickly_and_recovers_when_it_returns() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let keys = keys();
    let url = instance(
        &keys,
        RedisReplayGuard::connect(&redis.url()).await.expect("connect"),
    )
    .await;
    assert_eq!(call(&url, &token(&keys)).await, 200);

    redis.stop();
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(call(&url, &token(&keys)).await, 503);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "fails fast, took {:?}",
            started.elapsed()
        );
    }

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = call(&url, &token(&keys)).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(Instant::now() < deadline, "did not recover after Redis came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn fail_open_mode_accepts_while_redis_is_down() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let keys = keys();
    let guard = RedisReplayGuard::connect(&redis.url())
        .await
        .expect("connect")
        .when_unavailable(WhenUnavailable::Allow);
    let v = verifier(&keys, guard);
    redis.stop();
    let t = token(&keys);
    v.verify(&t).await.expect("accepted while down");
    v.verify(&t).await.expect("and, by choice, not replay-checked");
}

/// A caller with a valid key cannot make each of its entries cost Redis kilobytes: a long
/// issuer/jti pair is kept under a fixed-size hashed key, still one entry per pair, still
/// distinct from every other pair, and replays of it are still refused.
#[tokio::test]
async fn a_long_jti_is_kept_under_a_fixed_size_key() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let guard = RedisReplayGuard::connect(&redis.url()).await.expect("connect");
    let long = "j".repeat(6000);
    let key = guard.key("billing", &long);
    assert_eq!(key.len(), asap_redis::DEFAULT_PREFIX.len() + 2 + 64, "{key}");
    assert_ne!(key, guard.key("billing", &"j".repeat(6001)));
    assert_ne!(key, guard.key("billing2", &long));
    // Short pairs keep their readable form.
    assert_eq!(guard.key("billing", "j1"), "asap:jti:7:billing:j1");
    let use_ = TokenUse {
        issuer: "billing",
        jti: &long,
        now: 1000,
        expires_at: 1090,
    };
    assert!(guard.first_use(use_).await.expect("first"));
    assert!(!guard.first_use(use_).await.expect("second"));
    assert!(exists(&redis, &key).await);
}

/// Fail-open is for a Redis that cannot be reached: one that answers with an error (here out
/// of memory under `noeviction`) is up and may hold the very use, so even in
/// [`WhenUnavailable::Allow`] a replay of a recorded token is refused (503), never accepted.
#[tokio::test]
async fn fail_open_mode_refuses_when_redis_answers_with_an_error() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let keys = keys();
    let guard = RedisReplayGuard::connect(&redis.url())
        .await
        .expect("connect")
        .when_unavailable(WhenUnavailable::Allow);
    let v = verifier(&keys, guard);
    let t = token(&keys);
    v.verify(&t).await.expect("first use");
    config_set(&redis, "maxmemory-policy", "noeviction").await;
    config_set(&redis, "maxmemory", "1").await;
    let replay = v.verify(&t).await.expect_err("a replay is never accepted");
    assert!(matches!(replay, VerifyError::ReplayUnavailable(_)), "{replay}");
    let fresh = v
        .verify(&token(&keys))
        .await
        .expect_err("nothing can be recorded");
    assert!(matches!(fresh, VerifyError::ReplayUnavailable(_)), "{fresh}");
}

/// A Redis that evicts under memory pressure would drop recorded uses, each one a token accepted
/// again without a sound: whoever holds one valid key and fills it reopens everyone's tokens.
/// The guard refuses to connect to one, naming the policy; `noeviction` is accepted.
#[tokio::test]
async fn a_redis_that_evicts_is_refused_when_the_guard_connects() {
    let Some(redis) = RedisServer::start() else { return };
    for policy in ["volatile-lru", "allkeys-lru", "volatile-ttl", "allkeys-random"] {
        config_set(&redis, "maxmemory-policy", policy).await;
        let err = RedisReplayGuard::connect(&redis.url())
            .await
            .expect_err("an evicting Redis");
        assert!(
            matches!(&err, RedisGuardError::EvictingPolicy { policy: found } if found == policy),
            "{policy}: {err}"
        );
        assert!(err.to_string().contains("noeviction"), "{err}");
    }
    config_set(&redis, "maxmemory-policy", "noeviction").await;
    RedisReplayGuard::connect(&redis.url()).await.expect("noeviction");
}

/// `CONFIG SET name value` on `redis`, through a connection of its own.
pub(crate) async fn config_set(redis: &RedisServer, name: &str, value: &str) {
    let client = redis::Client::open(redis.url()).expect("client");
    let mut conn = client.get_multiplexed_async_connection().await.expect("conn");
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("CONFIG SET {name} {value}: {e}"));
}
