//! Scenarios run on every backend, given its URL.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use asap_core::{KeyId, VerifyError};
use asap_registry::{KeyRegistry, RegistryError};

use crate::support::{p256, status, token, verifier, verify_err};

/// add → verify → list → revoke → refused; the kid is `<principal>/<name>`.
pub(crate) async fn lifecycle(url: &str) {
    let registry = KeyRegistry::open(url).await.expect("open");
    let verifier = verifier(&registry);
    let (alice_key, alice_pem) = p256();
    let (bob_key, bob_pem) = p256();
    let added = registry
        .add("alice", Some("laptop"), &alice_pem)
        .await
        .expect("add alice");
    assert_eq!(added.kid().as_str(), "alice/laptop");
    assert!(!added.is_revoked());
    // Without a name, the key is named after its SHA-256; the same key gets the same name.
    let unnamed = registry.add("team/bob", None, &bob_pem).await.expect("add bob");
    assert!(unnamed.name().starts_with("sha256-"), "{}", unnamed.name());
    assert_eq!(unnamed.kid().as_str(), format!("team/bob/{}", unnamed.name()));

    let alice_token = token("alice", "laptop", alice_key);
    let bob_token = token("team/bob", unnamed.name(), bob_key);
    let verified = verifier
        .verify(alice_token.as_str())
        .await
        .expect("alice verifies");
    assert_eq!(verified.kid().as_str(), "alice/laptop");
    assert_eq!(status(&verifier, &bob_token).await, 200);

    let all = registry.list(None).await.expect("list");
    let kids: Vec<&str> = all.iter().map(|k| k.kid().as_str()).collect();
    assert_eq!(kids, ["alice/laptop", unnamed.kid().as_str()]);
    assert_eq!(all[0].public_key().to_pem(), alice_pem);
    assert!(all[0].created_at() > 1_700_000_000);
    assert_eq!(registry.list(Some("alice")).await.expect("list").len(), 1);
    assert!(registry.list(Some("carol")).await.expect("list").is_empty());

    // Revoked through this instance: refused at once (401, unknown key), kept in the list.
    let revoked = registry.revoke("alice", "laptop").await.expect("revoke");
    assert!(revoked.is_revoked());
    assert!(matches!(
        verify_err(&verifier, &alice_token).await,
        VerifyError::KeyNotFound(_)
    ));
    assert_eq!(status(&verifier, &bob_token).await, 200);
    let listed = registry.list(Some("alice")).await.expect("list");
    assert_eq!(listed[0].revoked_at(), revoked.revoked_at());
    // Revoking again changes nothing.
    let again = registry.revoke("alice", "laptop").await.expect("revoke again");
    assert_eq!(again.revoked_at(), revoked.revoked_at());
}

pub(crate) async fn duplicates_and_unknown_keys(url: &str) {
    let registry = KeyRegistry::open(url).await.expect("open");
    let (_, pem) = p256();
    registry.add("svc", Some("k1"), &pem).await.expect("add");
    match registry.add("svc", Some("k1"), &p256().1).await {
        Err(RegistryError::AlreadyExists { kid, revoked: false }) => assert_eq!(kid.as_str(), "svc/k1"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    registry.revoke("svc", "k1").await.expect("revoke");
    let err = registry
        .add("svc", Some("k1"), &pem)
        .await
        .expect_err("revoked name");
    assert!(matches!(err, RegistryError::AlreadyExists { revoked: true, .. }));
    assert!(err.to_string().contains("choose a new key name"), "{err}");

    match registry.revoke("svc", "nope").await {
        Err(RegistryError::NotFound(kid)) => assert_eq!(kid.as_str(), "svc/nope"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    for (principal, name) in [("svc", "a/b"), ("s v c", "k"), ("svc", ".."), ("", "k")] {
        assert!(
            matches!(
                registry.add(principal, Some(name), &pem).await,
                Err(RegistryError::InvalidName(_))
            ),
            "{principal:?}/{name:?}"
        );
    }
    assert!(
        registry
            .get(&KeyId::parse("svc/nope").expect("kid"))
            .await
            .expect("get")
            .is_none()
    );
    // A token whose kid nobody registered is a 401.
    let verifier = verifier(&registry);
    assert_eq!(status(&verifier, &token("svc", "nope", p256().0)).await, 401);
}

/// Two instances on one database, as two servers of a fleet: the one that verifies caches,
/// the other revokes. The revocation reaches the verifier within its cache TTL.
pub(crate) async fn revocation_bound(url: &str) {
    let ttl = Duration::from_millis(800);
    let verifying = KeyRegistry::builder(url)
        .cache_ttl(ttl)
        .open()
        .await
        .expect("open");
    let admin = KeyRegistry::builder(url)
        .cache_ttl(Duration::ZERO)
        .open()
        .await
        .expect("open admin");
    assert_eq!(verifying.cache_ttl(), ttl);
    let (private, pem) = p256();
    admin.add("svc", Some("k1"), &pem).await.expect("add");
    let verifier = verifier(&verifying);
    let revoked_token = token("svc", "k1", private);
    assert_eq!(status(&verifier, &revoked_token).await, 200, "fills the cache");

    let revoked_at = Instant::now();
    admin.revoke("svc", "k1").await.expect("revoke");
    let refused_after = loop {
        if status(&verifier, &revoked_token).await == 401 {
            break revoked_at.elapsed();
        }
        assert!(
            revoked_at.elapsed() < ttl * 3,
            "a revoked key still verifies {:?} after revocation with a {ttl:?} cache",
            revoked_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The bound, plus scheduling slack for a busy test machine (a database round trip per
    // poll); less than the TTL, so a cache that kept entries twice as long still fails.
    assert!(
        refused_after <= ttl + Duration::from_millis(600),
        "refused after {refused_after:?}, TTL {ttl:?}"
    );

    // The same bound for a key added after its kid was looked up (a cached "not found").
    let (private, pem) = p256();
    let late = token("svc", "k2", private);
    assert_eq!(status(&verifier, &late).await, 401);
    let added_at = Instant::now();
    admin.add("svc", Some("k2"), &pem).await.expect("add k2");
    while status(&verifier, &late).await != 200 {
        assert!(
            added_at.elapsed() < ttl * 3,
            "a new key is not found after the TTL"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Keys added and revoked by several tasks while others verify: a key never revoked always
/// verifies, no lookup fails as unavailable, and every revoked key ends up refused.
pub(crate) async fn concurrent(url: &str) {
    let ttl = Duration::from_millis(200);
    let registry = KeyRegistry::builder(url)
        .cache_ttl(ttl)
        .open()
        .await
        .expect("open");
    let verifier = verifier(&registry);
    let (stable_key, stable_pem) = p256();
    registry
        .add("stable", Some("k"), &stable_pem)
        .await
        .expect("add stable");
    let stable = token("stable", "k", stable_key);

    let done = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicUsize::new(0));
    let mut verifiers = Vec::new();
    for _ in 0..4 {
        let (verifier, stable, done, checks) =
            (verifier.clone(), stable.clone(), done.clone(), checks.clone());
        verifiers.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                assert_eq!(
                    status(&verifier, &stable).await,
                    200,
                    "the stable key must always verify"
                );
                checks.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        }));
    }

    let mut writers = Vec::new();
    for w in 0..4 {
        let (registry, verifier) = (registry.clone(), verifier.clone());
        writers.push(tokio::spawn(async move {
            let principal = format!("writer{w}");
            let mut revoked = Vec::new();
            for i in 0..8 {
                let name = format!("k{i}");
                let (private, pem) = p256();
                registry.add(&principal, Some(&name), &pem).await.expect("add");
                let t = token(&principal, &name, private);
                assert_eq!(
                    status(&verifier, &t).await,
                    200,
                    "{principal}/{name} verifies once added"
                );
                if i % 2 == 1 {
                    registry.revoke(&principal, &name).await.expect("revoke");
                    revoked.push(t);
                }
            }
            revoked
        }));
    }
    let mut revoked = Vec::new();
    for w in writers {
        revoked.extend(w.await.expect("writer"));
    }
    done.store(true, Ordering::Relaxed);
    for v in verifiers {
        v.await.expect("verifier");
    }
    assert!(checks.load(Ordering::Relaxed) > 0);

    tokio::time::sleep(ttl).await;
    for t in &revoked {
        assert_eq!(status(&verifier, t).await, 401, "a revoked key is refused");
    }
    let all = registry.list(None).await.expect("list");
    assert_eq!(all.len(), 1 + 4 * 8);
    assert_eq!(all.iter().filter(|k| k.is_revoked()).count(), 4 * 4);
}
