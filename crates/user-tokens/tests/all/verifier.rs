//! The verifier's rules, each refused with its typed error.

use std::sync::Arc;
use std::time::Duration;

use asap_core::{KeyKind, KeySpec, ManualClock, PrivateKey, TokenError};
use asap_testkit::forge;
use user_tokens::{Fingerprint, StaticUserKeys, UserSigner, UserTokenError, UserVerifier};

const NOW: i64 = 1_800_000_000;

fn ed25519() -> PrivateKey {
    PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("ed25519")
}

fn setup(key: &PrivateKey) -> (UserSigner, UserVerifier, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(NOW));
    let public = key.public_key().expect("public");
    let verifier = UserVerifier::builder(StaticUserKeys::new().with_key("ann", public))
        .clock(clock.clone())
        .build()
        .expect("verifier");
    let private = PrivateKey::from_pem(&key.to_pkcs8_pem().expect("pem")).expect("copy");
    let signer = UserSigner::new("ann", private)
        .expect("signer")
        .clock(clock.clone());
    (signer, verifier, clock)
}

#[tokio::test]
async fn a_fresh_token_verifies_once() {
    let (signer, verifier, _) = setup(&ed25519());
    let token = signer.sign().expect("token");
    let user = verifier.verify(&token).await.expect("first use");
    assert_eq!((user.username(), user.time()), ("ann", NOW));
    assert!(matches!(
        verifier.verify(&token).await,
        Err(UserTokenError::Replayed)
    ));
}

#[tokio::test]
async fn the_same_nonce_at_another_time_is_another_token() {
    let (signer, verifier, _) = setup(&ed25519());
    verifier
        .verify(&signer.sign_with(NOW, "n1").expect("t"))
        .await
        .expect("first");
    verifier
        .verify(&signer.sign_with(NOW + 1, "n1").expect("t"))
        .await
        .expect("other time");
    assert!(matches!(
        verifier.verify(&signer.sign_with(NOW, "n1").expect("t")).await,
        Err(UserTokenError::Replayed)
    ));
}

#[tokio::test]
async fn time_must_be_within_the_tolerance_either_way() {
    let (signer, verifier, _) = setup(&ed25519());
    for ok in [NOW - 20, NOW + 20] {
        verifier
            .verify(&signer.sign_with(ok, "edge").expect("t"))
            .await
            .expect("inside");
    }
    assert!(matches!(
        verifier
            .verify(&signer.sign_with(NOW - 21, "old").expect("t"))
            .await,
        Err(UserTokenError::Token(TokenError::Expired { .. }))
    ));
    assert!(matches!(
        verifier
            .verify(&signer.sign_with(NOW + 21, "new").expect("t"))
            .await,
        Err(UserTokenError::Token(TokenError::IssuedInFuture { .. }))
    ));
}

#[tokio::test]
async fn tolerance_is_configurable_and_capped() {
    let key = ed25519();
    let keys = StaticUserKeys::new().with_key("ann", key.public_key().expect("public"));
    assert!(
        UserVerifier::builder(keys.clone())
            .tolerance(Duration::from_secs(301))
            .build()
            .is_err()
    );
    let clock = Arc::new(ManualClock::new(NOW));
    let verifier = UserVerifier::builder(keys)
        .tolerance(Duration::from_secs(5))
        .clock(clock.clone())
        .build()
        .expect("verifier");
    let signer = UserSigner::new("ann", key).expect("signer");
    assert!(
        verifier
            .verify(&signer.sign_with(NOW - 5, "a").expect("t"))
            .await
            .is_ok()
    );
    assert!(
        verifier
            .verify(&signer.sign_with(NOW - 6, "b").expect("t"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn unknown_user_unknown_fingerprint_and_bad_signature_get_one_answer() {
    let key = ed25519();
    let (_, verifier, clock) = setup(&key);
    let stranger = UserSigner::new("mallory", ed25519())
        .expect("signer")
        .clock(clock.clone());
    let other_key = UserSigner::new("ann", ed25519())
        .expect("signer")
        .clock(clock.clone());
    let ann = UserSigner::new("ann", key).expect("signer").clock(clock);
    // A real fingerprint with another key's signature: swap the signature segment.
    let good = ann.sign().expect("t");
    let forged_sig = other_key.sign().expect("t");
    let swapped = format!(
        "{}.{}",
        good.rsplit_once('.').expect("dots").0,
        forged_sig.rsplit_once('.').expect("dots").1
    );
    for token in [stranger.sign().expect("t"), other_key.sign().expect("t"), swapped] {
        // With debug logging on, each answer writes the same one event (only the username and
        // fingerprint the token names differ): the log does not tell a registered key apart.
        let (log, subscriber) = asap_testkit::logs::Captured::subscriber(tracing::Level::DEBUG);
        let err = {
            let _guard = asap_testkit::logs::scoped(subscriber);
            verifier.verify(&token).await.expect_err("refused")
        };
        assert!(matches!(err, UserTokenError::NoMatchingKey), "{err}");
        assert_eq!(
            err.to_string(),
            "no key registered for this user verifies the token"
        );
        let lines = log.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("per-user token: no key of this user verifies it"),
            "{lines:?}"
        );
    }
}

#[tokio::test]
async fn a_key_of_another_kind_than_alg_is_no_matching_key() {
    let rsa = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let (_, verifier, _) = setup(&rsa);
    // An EdDSA token whose kid names the user's RSA key.
    let kid = Fingerprint::of(&rsa.public_key().expect("public"));
    let ed = ed25519();
    let token = forge::signed(
        &serde_json::json!({"alg": "EdDSA", "kid": kid.as_str()}),
        &serde_json::json!({"username": "ann", "time": NOW, "nonce": "x"}),
        |input| ed.sign(asap_core::Algorithm::EdDSA, input).expect("sign"),
    );
    assert!(matches!(
        verifier.verify(&token).await,
        Err(UserTokenError::NoMatchingKey)
    ));
}

#[tokio::test]
async fn header_and_claims_are_strict() {
    let key = ed25519();
    let (_, verifier, _) = setup(&key);
    let kid = Fingerprint::of(&key.public_key().expect("public"));
    let sign = |header: serde_json::Value, claims: serde_json::Value| {
        forge::signed(&header, &claims, |input| {
            key.sign(asap_core::Algorithm::EdDSA, input).expect("sign")
        })
    };
    let claims = serde_json::json!({"username": "ann", "time": NOW, "nonce": "x"});
    type Expected = fn(&UserTokenError) -> bool;
    let cases: Vec<(String, Expected)> = vec![
        (
            sign(
                serde_json::json!({"alg": "ES256", "kid": kid.as_str()}),
                claims.clone(),
            ),
            |e| matches!(e, UserTokenError::Token(TokenError::Algorithm(_))),
        ),
        (
            sign(
                serde_json::json!({"alg": "none", "kid": kid.as_str()}),
                claims.clone(),
            ),
            |e| matches!(e, UserTokenError::Token(TokenError::Algorithm(_))),
        ),
        (sign(serde_json::json!({"alg": "EdDSA"}), claims.clone()), |e| {
            matches!(e, UserTokenError::Token(TokenError::MissingHeader("kid")))
        }),
        (
            sign(
                serde_json::json!({"alg": "EdDSA", "kid": "ann/laptop"}),
                claims.clone(),
            ),
            |e| matches!(e, UserTokenError::BadFingerprint),
        ),
        (
            sign(
                serde_json::json!({"alg": "EdDSA", "kid": kid.as_str()}),
                serde_json::json!({"username": "ann", "time": NOW}),
            ),
            |e| matches!(e, UserTokenError::Token(TokenError::MissingClaim("nonce"))),
        ),
        (
            sign(
                serde_json::json!({"alg": "EdDSA", "kid": kid.as_str()}),
                serde_json::json!({"username": "ann", "time": 1.8e9, "nonce": "x"}),
            ),
            |e| {
                matches!(
                    e,
                    UserTokenError::Token(TokenError::InvalidClaim { claim: "time", .. })
                )
            },
        ),
        (
            sign(
                serde_json::json!({"alg": "EdDSA", "kid": kid.as_str()}),
                serde_json::json!({"username": "", "time": NOW, "nonce": "x"}),
            ),
            |e| {
                matches!(
                    e,
                    UserTokenError::Token(TokenError::InvalidClaim {
                        claim: "username",
                        ..
                    })
                )
            },
        ),
        (
            sign(
                serde_json::json!({"alg": "EdDSA", "kid": kid.as_str()}),
                serde_json::json!({"username": "ann", "time": NOW, "nonce": "n".repeat(129)}),
            ),
            |e| matches!(e, UserTokenError::NonceTooLong(129)),
        ),
        ("x".repeat(9000), |e| {
            matches!(e, UserTokenError::Token(TokenError::TooLarge { .. }))
        }),
        ("a.b".to_owned(), |e| {
            matches!(e, UserTokenError::Token(TokenError::Malformed(_)))
        }),
    ];
    for (token, expected) in cases {
        let err = verifier.verify(&token).await.expect_err("refused");
        assert!(expected(&err), "{err}");
        assert_eq!(err.outcome().status(), 401);
    }
}

#[tokio::test]
async fn a_full_nonce_store_is_a_503_for_that_user_only() {
    let key = ed25519();
    let clock = Arc::new(ManualClock::new(NOW));
    let bob = ed25519();
    let keys = StaticUserKeys::new()
        .with_key("ann", key.public_key().expect("public"))
        .with_key("bob", bob.public_key().expect("public"));
    let verifier = UserVerifier::builder(keys)
        .nonce_store(Arc::new(
            asap_core::InMemoryReplayGuard::new(100).max_entries_per_issuer(2),
        ))
        .clock(clock)
        .build()
        .expect("verifier");
    let ann = UserSigner::new("ann", key).expect("signer");
    for nonce in ["a", "b"] {
        verifier
            .verify(&ann.sign_with(NOW, nonce).expect("t"))
            .await
            .expect("within quota");
    }
    let err = verifier
        .verify(&ann.sign_with(NOW, "c").expect("t"))
        .await
        .expect_err("full");
    assert!(matches!(err, UserTokenError::NonceStoreUnavailable(_)));
    assert_eq!(err.outcome().status(), 503);
    let bob = UserSigner::new("bob", bob).expect("signer");
    verifier
        .verify(&bob.sign_with(NOW, "a").expect("t"))
        .await
        .expect("bob is not affected");
}

#[tokio::test]
async fn concurrent_uses_of_one_token_admit_exactly_one() {
    let (signer, verifier, _) = setup(&ed25519());
    let token = signer.sign().expect("token");
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (verifier, token) = (verifier.clone(), token.clone());
            tokio::spawn(async move { verifier.verify(&token).await.is_ok() })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        admitted += usize::from(task.await.expect("task"));
    }
    assert_eq!(admitted, 1);
}

/// A key source that takes `delay` seconds (on the test clock) to answer, like a slow key set.
#[derive(Debug)]
struct SlowKeys {
    keys: StaticUserKeys,
    clock: Arc<ManualClock>,
    delay: i64,
}

impl user_tokens::UserKeySource for SlowKeys {
    fn user_key<'a>(
        &'a self,
        username: &'a str,
        fingerprint: &'a Fingerprint,
    ) -> user_tokens::UserKeyFuture<'a> {
        Box::pin(async move {
            self.clock.advance(self.delay);
            self.keys.user_key(username, fingerprint).await
        })
    }
}

#[tokio::test]
async fn the_window_holds_at_the_moment_the_token_is_admitted_not_before_its_key_lookup() {
    use asap_core::Clock as _;
    let key = ed25519();
    let clock = Arc::new(ManualClock::new(NOW));
    let slow = |delay| SlowKeys {
        keys: StaticUserKeys::new().with_key("ann", key.public_key().expect("public")),
        clock: clock.clone(),
        delay,
    };
    let private = || PrivateKey::from_pem(&key.to_pkcs8_pem().expect("pem")).expect("copy");
    let signer = UserSigner::new("ann", private())
        .expect("signer")
        .clock(clock.clone());

    // A lookup that takes a second: still inside the ±20 s window.
    let verifier = UserVerifier::builder(slow(1))
        .clock(clock.clone())
        .build()
        .expect("verifier");
    verifier
        .verify(&signer.sign().expect("token"))
        .await
        .expect("in the window");

    // A token at the edge of the window, and a lookup that takes past it: refused.
    let verifier = UserVerifier::builder(slow(5))
        .clock(clock.clone())
        .build()
        .expect("verifier");
    let token = signer.sign_with(clock.now() - 18, "edge").expect("token");
    let err = verifier
        .verify(&token)
        .await
        .expect_err("the window closed during the lookup");
    assert!(
        matches!(err, UserTokenError::Token(TokenError::Expired { .. })),
        "{err}"
    );
}

/// The format has no registered claims, but the package's verifier (PyJWT with its defaults)
/// reads them when a client sends them: a token limited by `aud` or by its times is refused
/// here as there, each with its typed error.
#[tokio::test]
async fn registered_claims_are_read_as_the_package_reads_them() {
    let key = ed25519();
    let (_, verifier, _) = setup(&key);
    let kid = Fingerprint::of(&key.public_key().expect("public"));
    let token = |extra: serde_json::Value| {
        let extra = extra.as_object().expect("object").clone();
        let nonce = extra.keys().cloned().collect::<Vec<_>>().join("-");
        let mut claims = serde_json::json!({"username": "ann", "time": NOW, "nonce": nonce});
        claims.as_object_mut().expect("object").extend(extra);
        forge::signed(
            &serde_json::json!({"alg": "EdDSA", "kid": kid.as_str()}),
            &claims,
            |input| key.sign(asap_core::Algorithm::EdDSA, input).expect("sign"),
        )
    };
    type Expected = fn(&UserTokenError) -> bool;
    let refused: [(serde_json::Value, Expected); 5] = [
        (serde_json::json!({"aud": "billing"}), |e| {
            matches!(e, UserTokenError::Token(TokenError::AudienceMismatch))
        }),
        (serde_json::json!({"exp": NOW - 1}), |e| {
            matches!(e, UserTokenError::Token(TokenError::Expired { .. }))
        }),
        (serde_json::json!({"exp": NOW}), |e| {
            matches!(e, UserTokenError::Token(TokenError::Expired { .. }))
        }),
        (serde_json::json!({"nbf": NOW + 1}), |e| {
            matches!(e, UserTokenError::Token(TokenError::NotYetValid { .. }))
        }),
        (serde_json::json!({"iat": NOW + 1}), |e| {
            matches!(e, UserTokenError::Token(TokenError::IssuedInFuture { .. }))
        }),
    ];
    for (extra, expected) in refused {
        let err = verifier.verify(&token(extra.clone())).await.expect_err("limited");
        assert!(expected(&err), "{extra}: {err}");
        assert_eq!(err.outcome().status(), 401, "{extra}");
    }
    // Within those limits, and with the claims PyJWT does not check: accepted.
    let within =
        serde_json::json!({"exp": NOW + 1, "nbf": NOW, "iat": NOW, "iss": "x", "sub": "y", "jti": "z"});
    verifier.verify(&token(within)).await.expect("within the limits");
}
