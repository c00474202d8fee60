//! ECDSA signature malleability (issue 13, item 14). `(r, s)` and its twin `(r, n − s)` both
//! verify. High-S signatures are accepted on purpose (docs/asap-rules.md, round 2): the Python and Node
//! peers do not normalise S, so refusing them would refuse about half of their tokens. What
//! must hold instead is that nothing that matters is keyed on the signature bytes: these tests
//! show the twin gains nothing.

use std::sync::Arc;

use asap_core::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::support::*;

/// The order n of each curve's group, big-endian, as wide as `s` in a JWS signature.
fn group_order(alg: Algorithm) -> Vec<u8> {
    let hex = match alg {
        Algorithm::ES256 => "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
        Algorithm::ES384 => {
            "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973"
        }
        Algorithm::ES512 => {
            "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa\
             51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409"
        }
        other => panic!("{other} is not ECDSA"),
    };
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// `n − s` on big-endian numbers of the same width.
fn negate_mod(n: &[u8], s: &[u8]) -> Vec<u8> {
    assert_eq!(n.len(), s.len());
    let mut out = vec![0u8; n.len()];
    let mut borrow = false;
    for i in (0..n.len()).rev() {
        let (d, b1) = n[i].overflowing_sub(s[i]);
        let (d, b2) = d.overflowing_sub(u8::from(borrow));
        out[i] = d;
        borrow = b1 || b2;
    }
    assert!(!borrow, "s < n");
    out
}

/// The same token with `s` replaced by `n − s`.
fn high_s_twin(alg: Algorithm, token: &str) -> String {
    let (input, sig) = token.rsplit_once('.').expect("jws");
    let sig = URL_SAFE_NO_PAD.decode(sig).expect("b64");
    let (r, s) = sig.split_at(sig.len() / 2);
    let mut twin = r.to_vec();
    twin.extend(negate_mod(&group_order(alg), s));
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(twin))
}

/// Accepted by decision: a twin is a valid signature over the same claims, and the peers make
/// high-S signatures themselves half of the time.
#[tokio::test]
async fn the_high_s_twin_of_a_token_verifies_with_the_same_claims() {
    for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::ES512] {
        let f = Fixture::new(alg);
        let verifier = f.verifier().build().expect("verifier");
        let token = f.forge(&f.header(), &f.claims());
        let twin = high_s_twin(alg, &token);
        assert_ne!(twin, token, "{alg}");
        let original = verifier.verify(&token).await.expect("original");
        let twin = verifier.verify(&twin).await.expect("the twin verifies too");
        assert_eq!(twin.claims().to_json(), original.claims().to_json(), "{alg}");
    }
}

/// Replay protection is keyed by `(iss, jti)`, not by the token text: the twin of a used token
/// is a replay, and so is the original after its twin.
#[tokio::test]
async fn the_twin_of_a_used_token_is_refused_as_a_replay() {
    let f = Fixture::new(Algorithm::ES256);
    let verifier = f
        .verifier()
        .replay_guard(Arc::new(InMemoryReplayGuard::new(100)))
        .build()
        .expect("verifier");
    let token = f.forge(&f.header(), &f.claims());
    verifier.verify(&token).await.expect("first use");
    assert!(matches!(
        verifier.verify(&high_s_twin(Algorithm::ES256, &token)).await,
        Err(VerifyError::Replayed)
    ));

    let mut claims = f.claims();
    claims["jti"] = json!("j-2");
    let token = f.forge(&f.header(), &claims);
    verifier
        .verify(&high_s_twin(Algorithm::ES256, &token))
        .await
        .expect("the twin used first");
    assert!(matches!(
        verifier.verify(&token).await,
        Err(VerifyError::Replayed)
    ));
}

/// With the verified-token cache, the twin is a different text: verified in full (a key
/// lookup), then answered with the same claims, and not past the shared `exp`.
#[tokio::test]
async fn the_twin_gains_nothing_from_the_verified_token_cache() {
    let f = Fixture::new(Algorithm::ES256);
    let verifier = f.verifier().cache_verified_tokens(100).build().expect("verifier");
    let token = f.forge(&f.header(), &f.claims());
    let twin = high_s_twin(Algorithm::ES256, &token);
    verifier.verify(&token).await.expect("original");
    verifier.verify(&token).await.expect("cached");
    assert_eq!(f.source.count(), 1);
    let from_twin = verifier.verify(&twin).await.expect("twin");
    assert_eq!(
        f.source.count(),
        2,
        "the twin is not a cache hit for the original"
    );
    verifier.verify(&twin).await.expect("twin cached");
    assert_eq!(f.source.count(), 2);
    assert_eq!(from_twin.claims().jti(), "j-1");
    // Past exp + leeway both are refused: caching the twin did not extend anything.
    f.clock.set(NOW + 91);
    for t in [&token, &twin] {
        assert!(matches!(
            verifier.verify(t).await,
            Err(VerifyError::Token(TokenError::Expired { .. }))
        ));
    }
}

/// Errors (which integrations log) and verified tokens never carry the token text, so no log
/// line can tell a token from its twin, or hand either to a reader.
#[tokio::test]
async fn errors_framed_and_verified_tokens_never_show_the_token_text() {
    let f = Fixture::new(Algorithm::ES256);
    let verifier = f
        .verifier()
        .replay_guard(Arc::new(InMemoryReplayGuard::new(100)))
        .build()
        .expect("verifier");
    let token = f.forge(&f.header(), &f.claims());
    let signature = token.rsplit_once('.').expect("jws").1;
    let verified = verifier.verify(&token).await.expect("first");
    let replayed = verifier.verify(&token).await.expect_err("replay");
    let mut tampered = token.clone();
    tampered.replace_range(token.len() - 4.., "AAAA");
    let forged = verifier.verify(&tampered).await.expect_err("bad signature");
    f.clock.set(NOW + 1000);
    let expired = verifier.verify(&token).await.expect_err("expired");
    let framed = asap_core::Jws::parse(&token, 4096).expect("framing");
    let payload = token.split('.').nth(1).expect("payload");
    let jws = format!("{framed:?}");
    assert!(!jws.contains(payload), "{jws}");
    for text in [
        jws,
        format!("{verified:?}"),
        format!("{replayed} {replayed:?}"),
        format!("{forged} {forged:?}"),
        format!("{expired} {expired:?}"),
    ] {
        assert!(
            !text.contains(signature) && !text.contains(&token[..40]),
            "{text}"
        );
    }
}
