//! The signer: lifetime, claims it sets, extra claims, and token reuse.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asap_core::*;
use serde_json::{Value, json};

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

/// A clock stepped back makes the cached token one issued in the future, which verifiers with a
/// right clock would refuse: a fresh token is signed for the new time instead.
#[test]
fn reuse_does_not_hand_out_a_token_issued_after_now() {
    let f = Fixture::new(Algorithm::ES256);
    let signer = f.signer().reuse_tokens(true).build().expect("signer");
    let first = signer.sign(&aud()).expect("token");
    f.clock.advance(-100);
    let after_the_step = signer.sign(&aud()).expect("token");
    assert_ne!(after_the_step, first);
    assert_eq!(decode_claims(after_the_step.as_str())["iat"], NOW - 100);
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

/// The claims a request asks for, as they must appear in its token.
fn expected_claims(request: &TokenRequest, subject: Option<&str>) -> (Value, Value, Value) {
    let aud = match request.audiences() {
        [one] => json!(one.as_str()),
        many => json!(many.iter().map(Audience::as_str).collect::<Vec<_>>()),
    };
    (
        aud,
        json!(subject.unwrap_or(ISSUER)),
        Value::Object(request.extra().clone()),
    )
}

fn claims_of(token: &Token) -> (Value, Value, Value) {
    let mut claims = decode_claims(token.as_str());
    let map = claims.as_object_mut().expect("object");
    let (aud, sub) = (map.remove("aud").expect("aud"), map.remove("sub").expect("sub"));
    for registered in ["iss", "jti", "iat", "nbf", "exp"] {
        map.remove(registered);
    }
    (aud, sub, claims)
}

/// Requests that a key joined with separators could not tell apart (issue 13, item 1): each
/// must get a token of its own, carrying its own claims.
#[test]
fn reuse_never_gives_a_request_the_token_of_another() {
    let f = Fixture::new(Algorithm::ES256);
    let signer = f.signer().reuse_tokens(true).build().expect("signer");
    let a = Audience::new("a").expect("aud");
    let b = Audience::new("b").expect("aud");
    let joined = Audience::new("a\0b").expect("aud");
    let cases: Vec<(TokenRequest, Option<&str>)> = vec![
        (
            TokenRequest::new(aud()).subject("alice").claim("role", "admin"),
            Some("alice"),
        ),
        (
            TokenRequest::new(aud()).subject("alice\u{1}{\"role\":\"admin\"}"),
            Some("alice\u{1}{\"role\":\"admin\"}"),
        ),
        (TokenRequest::new(a.clone()).audience(b.clone()), None),
        (TokenRequest::new(joined.clone()), None),
        (TokenRequest::new(joined).subject(""), Some("")),
        (
            TokenRequest::new(a.clone()).audience(b.clone()).subject(""),
            Some(""),
        ),
        (TokenRequest::new(b).audience(a.clone()), None),
        (TokenRequest::new(a.clone()), None),
        (TokenRequest::new(a.clone()).subject(""), Some("")),
        (TokenRequest::new(a.clone()).subject(ISSUER), Some(ISSUER)),
        (TokenRequest::new(a.clone()).claim("k", "1"), None),
        (TokenRequest::new(a.clone()).claim("k", 1), None),
        (TokenRequest::new(a).claim("k\u{1}", json!({"x": 1})), None),
    ];
    // Twice, so that the second round is answered from the cache.
    let mut first = Vec::new();
    for round in 0..2 {
        for (i, (request, subject)) in cases.iter().enumerate() {
            let token = signer.sign_request(request).expect("token");
            assert_eq!(
                claims_of(&token),
                expected_claims(request, *subject),
                "round {round}, case {i}: {request:?}"
            );
            if round == 0 {
                first.push(token);
            } else {
                assert_eq!(token, first[i], "case {i} is reused");
            }
        }
    }
    let distinct: HashSet<&str> = first.iter().map(Token::as_str).collect();
    assert_eq!(distinct.len(), cases.len());
}

/// Every field of a request is part of the reuse key: a key that dropped any one of them would
/// hand one of these requests the other's token.
#[test]
fn reuse_key_covers_every_field_of_the_request() {
    let f = Fixture::new(Algorithm::ES256);
    let signer = f.signer().reuse_tokens(true).build().expect("signer");
    let base = || {
        TokenRequest::new(aud())
            .audience(Audience::new("audit").expect("aud"))
            .subject("user-1")
            .claim("scope", "read")
    };
    let variants: Vec<(&str, TokenRequest, &str)> = vec![
        ("base", base(), "user-1"),
        (
            "audiences",
            TokenRequest::new(aud())
                .audience(Audience::new("audit2").expect("aud"))
                .subject("user-1")
                .claim("scope", "read"),
            "user-1",
        ),
        (
            "subject",
            TokenRequest::new(aud())
                .audience(Audience::new("audit").expect("aud"))
                .subject("user-2")
                .claim("scope", "read"),
            "user-2",
        ),
        ("extra", base().claim("scope", "write"), "user-1"),
    ];
    for _ in 0..2 {
        for (field, request, subject) in &variants {
            let token = signer.sign_request(request).expect("token");
            assert_eq!(
                claims_of(&token),
                expected_claims(request, Some(subject)),
                "{field}"
            );
        }
    }
}

/// A key source that hands out whichever key is current.
#[derive(Debug)]
struct Rotating(Mutex<Arc<SigningKey>>);

impl SigningKeySource for Rotating {
    fn current(&self) -> Result<Arc<SigningKey>, SignError> {
        Ok(self.0.lock().expect("lock").clone())
    }
}

fn header_kid(token: &Token) -> String {
    let header = token.as_str().split('.').next().expect("header");
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).expect("b64"),
    )
    .expect("json");
    header["kid"].as_str().expect("kid").to_owned()
}

/// The signing key (and so the kid) is part of what a reused token must match: after a
/// rotation, the next token is fresh and names the new kid.
#[test]
fn reuse_follows_a_key_rotation() {
    let f = Fixture::new(Algorithm::ES256);
    let key = |name: &str| {
        let private = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
        Arc::new(SigningKey::new(KeyId::parse(name).expect("kid"), private, None).expect("signing key"))
    };
    let source = Arc::new(Rotating(Mutex::new(key("billing/k1"))));
    let signer = Signer::builder(ISSUER)
        .key_source(source.clone())
        .clock(f.clock)
        .reuse_tokens(true)
        .build()
        .expect("signer");
    let first = signer.sign(&aud()).expect("token");
    assert_eq!(signer.sign(&aud()).expect("token"), first);
    *source.0.lock().expect("lock") = key("billing/k2");
    let rotated = signer.sign(&aud()).expect("token");
    assert_ne!(rotated, first);
    assert_eq!(header_kid(&rotated), "billing/k2");
    let request = TokenRequest::new(aud()).subject("u");
    assert_eq!(
        header_kid(&signer.sign_request(&request).expect("token")),
        "billing/k2"
    );
}

/// The reuse cache holds at most its bound of distinct requests: far more distinct requests
/// than that are still each answered with their own token, and the cache does not grow past
/// the bound (observable as: the first requests are no longer reused after many others).
#[test]
fn reuse_cache_is_bounded() {
    let f = Fixture::new(Algorithm::ES256);
    let signer = f.signer().reuse_tokens(true).build().expect("signer");
    let request = |i: usize| TokenRequest::new(aud()).subject(format!("user-{i}"));
    let first = signer.sign_request(&request(0)).expect("token");
    assert_eq!(signer.sign_request(&request(0)).expect("token"), first, "cached");
    for i in 1..3000 {
        let token = signer.sign_request(&request(i)).expect("token");
        assert_eq!(decode_claims(token.as_str())["sub"], format!("user-{i}"));
    }
    assert_ne!(
        signer.sign_request(&request(0)).expect("token"),
        first,
        "the first entry was dropped to stay within the bound"
    );
}

/// A token larger than a default verifier accepts is not kept for reuse (it bounds the
/// cache's memory); it is still signed.
#[test]
fn oversized_tokens_are_not_reused() {
    let f = Fixture::new(Algorithm::ES256);
    let signer = f.signer().reuse_tokens(true).build().expect("signer");
    let big = TokenRequest::new(aud()).claim("blob", "x".repeat(DEFAULT_MAX_TOKEN_BYTES));
    let a = signer.sign_request(&big).expect("token");
    let b = signer.sign_request(&big).expect("token");
    assert!(a.as_str().len() > DEFAULT_MAX_TOKEN_BYTES);
    assert_ne!(a, b);
    let small = TokenRequest::new(aud()).claim("blob", "x");
    assert_eq!(
        signer.sign_request(&small).expect("token"),
        signer.sign_request(&small).expect("token")
    );
}

/// The signer refuses a kid that a default verifier would refuse: a parent issuer cannot sign
/// with a nested issuer's key unless nested key names are switched on.
#[test]
fn signer_refuses_a_nested_key_name_unless_switched_on() {
    let kid = KeyId::parse("team/billing/k1").expect("kid");
    let key = || {
        SigningKey::new(
            kid.clone(),
            PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key"),
            None,
        )
        .expect("signing key")
    };
    assert!(matches!(
        Signer::builder("team").key(key()).build(),
        Err(SignError::Kid(KidError::NotOwnedByIssuer { .. }))
    ));
    Signer::builder("team/billing")
        .key(key())
        .build()
        .expect("the owner signs");
    let nested = Signer::builder("team")
        .key(key())
        .allow_nested_key_names(true)
        .build()
        .expect("switched on");
    let token = nested.sign(&aud()).expect("token");
    assert_eq!(decode_claims(token.as_str())["iss"], "team");
}
