//! The signer: lifetime, claims it sets, extra claims, and token reuse.

use std::collections::HashSet;
use std::time::Duration;

use asap_core::*;
use serde_json::json;

use crate::support::*;

#[test]
fn sets_iat_nbf_exp_jti_and_sub_defaults_to_issuer() {
    let f = Fixture::new(Algorithm::ES256);
    let signer = f.signer().build().expect("signer");
    let claims = decode_claims(signer.sign(&aud()).expect("token").as_str());
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], ISSUER);
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["nbf"], NOW);
    assert_eq!(claims["exp"], NOW + 60, "default lifetime is 60 s");
    let jti = claims["jti"].as_str().expect("jti");
    assert_eq!(jti.len(), 32, "128 bits, hex");
    assert!(jti.chars().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn jti_is_unique_per_token() {
    let f = Fixture::new(Algorithm::ES256);
    let signer = f.signer().build().expect("signer");
    let jtis: HashSet<String> = (0..200)
        .map(|_| decode_claims(signer.sign(&aud()).expect("token").as_str())["jti"].to_string())
        .collect();
    assert_eq!(jtis.len(), 200);
}

#[test]
fn lifetime_is_bounded_to_an_hour() {
    let f = Fixture::new(Algorithm::ES256);
    let at_max = f
        .signer()
        .lifetime(Duration::from_secs(3600))
        .build()
        .expect("3600 s is allowed");
    let claims = decode_claims(at_max.sign(&aud()).expect("token").as_str());
    assert_eq!(claims["exp"], NOW + 3600);
    for bad in [
        Duration::from_secs(3601),
        Duration::ZERO,
        Duration::from_millis(1500),
    ] {
        assert!(
            matches!(f.signer().lifetime(bad).build(), Err(SignError::Config(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn kid_must_belong_to_the_issuer() {
    let f = Fixture::new(Algorithm::ES256);
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
    let other = SigningKey::new(KeyId::parse("payroll/k1").expect("kid"), key, None).expect("signing key");
    assert!(matches!(
        Signer::builder(ISSUER).key(other).build(),
        Err(SignError::Kid(KidError::NotOwnedByIssuer { .. }))
    ));
    drop(f);
}

#[test]
fn algorithm_must_fit_the_key() {
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
    let kid = KeyId::parse("billing/k").expect("kid");
    assert!(matches!(
        SigningKey::new(kid, key, Some(Algorithm::ES384)),
        Err(SignError::Key(KeyError::AlgorithmMismatch { .. }))
    ));
}

#[test]
fn extra_claims_subject_and_multiple_audiences() {
    let f = Fixture::new(Algorithm::ES256);
    let signer = f.signer().claim("tenant", "acme").build().expect("signer");
    let request = TokenRequest::new(aud())
        .audience(Audience::new("audit").expect("aud"))
        .subject("user-7")
        .claim("scope", "read write");
    let claims = decode_claims(signer.sign_request(&request).expect("token").as_str());
    assert_eq!(claims["aud"], json!([AUDIENCE, "audit"]));
    assert_eq!(claims["sub"], "user-7");
    assert_eq!(claims["scope"], "read write");
    assert_eq!(claims["tenant"], "acme");

    #[derive(serde::Serialize)]
    struct Mine {
        role: &'static str,
    }
    let request = TokenRequest::new(aud())
        .claims_from(&Mine { role: "support" })
        .expect("claims");
    let claims = decode_claims(signer.sign_request(&request).expect("token").as_str());
    assert_eq!(claims["role"], "support");
}

#[test]
fn registered_claims_cannot_be_set_as_extra_claims() {
    let f = Fixture::new(Algorithm::ES256);
    for name in REGISTERED_CLAIMS {
        assert!(
            matches!(f.signer().claim(name, "x").build(), Err(SignError::Claim { .. })),
            "{name}"
        );
        let signer = f.signer().build().expect("signer");
        let request = TokenRequest::new(aud()).claim(name, "x");
        assert!(
            matches!(signer.sign_request(&request), Err(SignError::Claim { .. })),
            "{name}"
        );
    }
}

#[test]
fn reuse_returns_the_same_token_until_95_percent_of_its_lifetime() {
    let f = Fixture::new(Algorithm::ES256);
    let signer = f
        .signer()
        .reuse_tokens(true)
        .lifetime(Duration::from_secs(100))
        .build()
        .expect("signer");
    let first = signer.sign(&aud()).expect("token");
    f.clock.advance(94);
    assert_eq!(signer.sign(&aud()).expect("token"), first, "reused at 94%");
    f.clock.advance(1);
    let second = signer.sign(&aud()).expect("token");
    assert_ne!(second, first, "fresh at 95%");
}

#[test]
fn reuse_is_keyed_by_audience_subject_and_extra_claims() {
    let f = Fixture::new(Algorithm::ES256);
    let signer = f.signer().reuse_tokens(true).build().expect("signer");
    let base = signer.sign(&aud()).expect("token");
    let other_aud = signer.sign(&Audience::new("audit").expect("aud")).expect("token");
    let other_sub = signer
        .sign_request(&TokenRequest::new(aud()).subject("u"))
        .expect("token");
    let other_claim = signer
        .sign_request(&TokenRequest::new(aud()).claim("k", 1))
        .expect("token");
    let same_claim = signer
        .sign_request(&TokenRequest::new(aud()).claim("k", 1))
        .expect("token");
    let all: HashSet<String> = [&base, &other_aud, &other_sub, &other_claim]
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(all.len(), 4);
    assert_eq!(same_claim, other_claim);
}

#[test]
fn without_reuse_every_token_is_fresh() {
    let f = Fixture::new(Algorithm::ES256);
    let signer = f.signer().build().expect("signer");
    assert_ne!(signer.sign(&aud()).expect("a"), signer.sign(&aud()).expect("b"));
}

#[test]
fn signer_is_shared_across_threads() {
    let f = Fixture::new(Algorithm::ES256);
    let signer = f.signer().reuse_tokens(true).build().expect("signer");
    let tokens: Vec<Token> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| signer.sign(&aud()).expect("token")))
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    // All threads got a valid token; at most a few raced to sign before the first was cached.
    let distinct: HashSet<String> = tokens.iter().map(ToString::to_string).collect();
    assert!(!distinct.is_empty() && distinct.len() <= 8);
    assert_eq!(
        signer.sign(&aud()).expect("token"),
        signer.sign(&aud()).expect("token")
    );
}

#[test]
fn token_debug_hides_the_token() {
    let f = Fixture::new(Algorithm::ES256);
    let token = f.signer().build().expect("signer").sign(&aud()).expect("token");
    assert!(!format!("{token:?}").contains(token.as_str()));
}

#[test]
fn with_reuse_makes_a_sibling_signer_with_its_own_cache() {
    let f = Fixture::new(Algorithm::ES256);
    let fresh = f.signer().build().expect("signer");
    let reusing = fresh.with_reuse(true);
    assert!(reusing.reuses_tokens() && !fresh.reuses_tokens());
    assert_eq!(reusing.sign(&aud()).expect("a"), reusing.sign(&aud()).expect("b"));
    assert_ne!(fresh.sign(&aud()).expect("a"), fresh.sign(&aud()).expect("b"));
    let back = reusing.with_reuse(false);
    assert_ne!(back.sign(&aud()).expect("a"), back.sign(&aud()).expect("b"));
    assert_eq!(back.issuer(), ISSUER);
}
