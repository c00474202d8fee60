//! The verifier, through its public interface: one test per rule, hostile inputs, check order.

use std::sync::Arc;
use std::time::Duration;

use asap_core::*;
use serde_json::{Value, json};

use crate::support::*;

async fn verify(f: &Fixture, token: &str) -> Result<Verified, VerifyError> {
    f.verifier().build().expect("verifier").verify(token).await
}

#[tokio::test]
async fn tokens_of_every_algorithm_round_trip() {
    for alg in Algorithm::ALL {
        let f = Fixture::new(alg);
        let token = f.signer().build().expect("signer").sign(&aud()).expect("token");
        let verified = verify(&f, token.as_str())
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(verified.algorithm(), alg);
        assert_eq!(verified.issuer(), ISSUER);
        assert_eq!(verified.kid(), &f.kid);
    }
}

#[tokio::test]
async fn eddsa_is_refused_unless_enabled() {
    let f = Fixture::new(Algorithm::EdDSA);
    let token = f.signer().build().expect("signer").sign(&aud()).expect("token");
    let verifier = f.verifier().enable_eddsa(false).build().expect("verifier");
    assert!(matches!(
        verifier.verify(token.as_str()).await,
        Err(VerifyError::AlgorithmNotEnabled(Algorithm::EdDSA))
    ));
    assert_eq!(f.source.count(), 0);
}

#[tokio::test]
async fn alg_none_in_any_case_is_refused_before_any_key_lookup() {
    let f = Fixture::new(Algorithm::ES256);
    for none in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": none, "kid": f.kid.as_str()});
        let token = format!(
            "{}.{}.",
            b64(header.to_string().as_bytes()),
            b64(f.claims().to_string().as_bytes())
        );
        let err = verify(&f, &token).await.expect_err(none);
        assert!(
            matches!(
                err,
                VerifyError::Token(TokenError::Algorithm(AlgorithmError::Forbidden(_)))
            ),
            "{none}: {err}"
        );
        // And with a signature segment present.
        let err = verify(&f, &format!("{token}AAAA")).await.expect_err(none);
        assert!(
            matches!(
                err,
                VerifyError::Token(TokenError::Algorithm(AlgorithmError::Forbidden(_)))
            ),
            "{none}: {err}"
        );
    }
    assert_eq!(f.source.count(), 0);
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_bytes_is_refused() {
    // The classic confusion attack: sign with HMAC using the RSA public key as the secret.
    let f = Fixture::new(Algorithm::RS256);
    let public_pem = f.private.public_key().expect("public").to_pem();
    for alg in ["HS256", "HS384", "HS512", "hs256"] {
        let header = json!({"alg": alg, "kid": f.kid.as_str()});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(f.claims().to_string().as_bytes())
        );
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public_pem.as_bytes());
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        let token = format!("{input}.{}", b64(tag.as_ref()));
        let err = verify(&f, &token).await.expect_err(alg);
        assert!(
            matches!(
                err,
                VerifyError::Token(TokenError::Algorithm(AlgorithmError::Forbidden(_)))
            ),
            "{alg}: {err}"
        );
    }
    assert_eq!(f.source.count(), 0);
}

#[tokio::test]
async fn key_type_must_match_alg() {
    // A P-384 key published under a kid, and a token claiming ES256 signed by that key's owner.
    let p384 = PrivateKey::generate(KeySpec::Curve(KeyKind::P384)).expect("key");
    let f = Fixture::with_key(Algorithm::ES384, p384);
    let mut header = f.header();
    header["alg"] = json!("ES256");
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(f.claims().to_string().as_bytes())
    );
    let sig = f.private.sign(Algorithm::ES384, input.as_bytes()).expect("sign");
    let token = format!("{input}.{}", b64(&sig));
    assert!(matches!(
        verify(&f, &token).await,
        Err(VerifyError::Token(TokenError::KeyAlgorithmMismatch {
            alg: Algorithm::ES256,
            key: KeyKind::P384
        }))
    ));
    // An RSA key named by an ES256 token.
    let rsa = Fixture::new(Algorithm::RS256);
    let mut header = rsa.header();
    header["alg"] = json!("ES256");
    let token = rsa.forge_raw(&header.to_string(), &rsa.claims().to_string());
    assert!(matches!(
        verify(&rsa, &token).await,
        Err(VerifyError::Token(TokenError::KeyAlgorithmMismatch { .. }))
    ));
}

#[tokio::test]
async fn forbidden_header_parameters_are_refused() {
    let f = Fixture::new(Algorithm::ES256);
    for name in FORBIDDEN_HEADERS {
        let mut header = f.header();
        header[name] = json!(if name == "crit" {
            json!(["exp"])
        } else {
            json!("https://evil.example/k")
        });
        let err = verify(&f, &f.forge(&header, &f.claims())).await.expect_err(name);
        assert!(
            matches!(err, VerifyError::Token(TokenError::ForbiddenHeader(n)) if n == name),
            "{name}: {err}"
        );
    }
    assert_eq!(f.source.count(), 0);
}

#[tokio::test]
async fn kid_syntax_is_checked_before_any_key_lookup() {
    let f = Fixture::new(Algorithm::ES256);
    for kid in [
        "billing/../admin/key",
        "../billing/key",
        "billing/%2e%2e/key",
        "billing/key?x=1",
        "billing/key#f",
        "https://evil.example/billing/key",
        "billing//key",
        "billing/key\n",
        "billing/kеy", // Cyrillic е
        "/billing/key",
        &format!("billing/{}", "k".repeat(600)),
    ] {
        let mut header = f.header();
        header["kid"] = json!(kid);
        let err = verify(&f, &f.forge(&header, &f.claims())).await.expect_err(kid);
        assert!(matches!(err, VerifyError::Kid(_)), "{kid:?}: {err}");
        assert_eq!(err.outcome(), Outcome::Unauthorized);
    }
    assert_eq!(f.source.count(), 0);
}

#[tokio::test]
async fn kid_must_be_owned_by_the_issuer_before_any_key_lookup() {
    let f = Fixture::new(Algorithm::ES256);
    for iss in ["payroll", "bill", "billing/ES256", "billin"] {
        let mut claims = f.claims();
        claims["iss"] = json!(iss);
        claims["sub"] = json!(iss);
        let err = verify(&f, &f.forge(&f.header(), &claims)).await.expect_err(iss);
        assert!(
            matches!(err, VerifyError::Kid(KidError::NotOwnedByIssuer { .. })),
            "{iss}: {err}"
        );
    }
    assert_eq!(f.source.count(), 0);
}

#[tokio::test]
async fn kid_equal_to_issuer_needs_the_legacy_switch() {
    let private = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
    let public = private.public_key().expect("public");
    let f = Fixture::with_key(Algorithm::ES256, private);
    let kid = KeyId::parse(ISSUER).expect("kid");
    let source = StaticKeySource::new().with_key(kid.clone(), public);
    let mut header = f.header();
    header["kid"] = json!(ISSUER);
    let token = f.forge(&header, &f.claims());
    let strict = Verifier::builder(source.clone())
        .audience(aud())
        .clock(f.clock.clone())
        .build()
        .expect("v");
    assert!(matches!(
        strict.verify(&token).await,
        Err(VerifyError::Kid(KidError::NotOwnedByIssuer { .. }))
    ));
    let legacy = Verifier::builder(source)
        .audience(aud())
        .clock(f.clock.clone())
        .allow_legacy_kid_equals_issuer(true)
        .build()
        .expect("v");
    legacy.verify(&token).await.expect("accepted with the switch");
}

#[tokio::test]
async fn issuer_allow_list_is_checked_before_any_key_lookup_and_gives_403() {
    let f = Fixture::new(Algorithm::ES256);
    let token = f.signer().build().expect("signer").sign(&aud()).expect("token");
    let verifier = f
        .verifier()
        .allowed_issuers(["payroll"])
        .build()
        .expect("verifier");
    let err = verifier.verify(token.as_str()).await.expect_err("not allowed");
    assert!(matches!(err, VerifyError::IssuerNotAllowed(_)));
    assert_eq!(err.outcome().status(), 403);
    assert_eq!(f.source.count(), 0);
    let verifier = f
        .verifier()
        .allowed_issuers(["payroll", ISSUER])
        .build()
        .expect("verifier");
    verifier.verify(token.as_str()).await.expect("allowed");
}

#[tokio::test]
async fn size_is_checked_before_parsing() {
    let f = Fixture::new(Algorithm::ES256);
    let huge = "a".repeat(1 << 20);
    assert!(matches!(
        verify(&f, &huge).await,
        Err(VerifyError::Token(TokenError::TooLarge {
            len: 1_048_576,
            max: 8192
        }))
    ));
    // A valid token with a padded claim just over the limit is refused; at the limit it is not.
    let mut claims = f.claims();
    claims["pad"] = json!("");
    let base = f.forge(&f.header(), &claims).len();
    // Every 3 bytes of claim JSON add 4 bytes of base64.
    let pad_for = |target: usize| "x".repeat((target - base) * 3 / 4);
    claims["pad"] = json!(pad_for(8192 + 8));
    let over = f.forge(&f.header(), &claims);
    assert!(over.len() > 8192);
    assert!(matches!(
        verify(&f, &over).await,
        Err(VerifyError::Token(TokenError::TooLarge { .. }))
    ));
    claims["pad"] = json!(pad_for(8192 - 8));
    let under = f.forge(&f.header(), &claims);
    assert!(under.len() <= 8192);
    verify(&f, &under).await.expect("under the limit");
}

#[tokio::test]
async fn framing_attacks_are_malformed_not_panics() {
    let f = Fixture::new(Algorithm::ES256);
    let good = f.forge(&f.header(), &f.claims());
    let (h, rest) = good.split_once('.').expect("dot");
    let (c, s) = rest.split_once('.').expect("dot");
    let cases: Vec<String> = vec![
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        ".".repeat(5000),
        format!("{h}.{c}"),
        format!("{h}.{c}.{s}.{s}"),
        format!("{h}=.{c}.{s}"),
        format!("{h}.{c}.{s}="),
        format!("{h}.{c}.!!!"),
        format!("{}.{c}.{s}", b64(b"[]")),
        format!("{}.{c}.{s}", b64(b"\"str\"")),
        format!("{h}.{}.{s}", b64(b"null")),
        format!("{h}.{}.{s}", b64(b"{\"iss\":")),
        format!("{h}.{}.{s}", b64(&[0xff, 0xfe, 0x00])),
        format!(" {good}"),
        format!("{good} "),
    ];
    for token in cases {
        let err = verify(&f, &token).await.expect_err(&token);
        assert!(
            matches!(
                err,
                VerifyError::Token(TokenError::Malformed(_))
                    | VerifyError::Token(TokenError::TooLarge { .. })
            ),
            "{token:?}: {err:?}"
        );
        assert_eq!(err.outcome().status(), 401);
    }
    assert_eq!(f.source.count(), 0);
}

#[tokio::test]
async fn duplicate_keys_in_header_or_claims_are_refused() {
    let f = Fixture::new(Algorithm::ES256);
    let header = format!(r#"{{"alg":"ES256","kid":"{}","kid":"{}"}}"#, f.kid, f.kid);
    let err = verify(&f, &f.forge_raw(&header, &f.claims().to_string()))
        .await
        .expect_err("dup header");
    assert!(
        matches!(&err, VerifyError::Token(TokenError::DuplicateKey(k)) if k == "kid"),
        "{err}"
    );
    let claims = f.claims().to_string().replacen('{', r#"{"iss":"payroll","#, 1);
    let err = verify(&f, &f.forge_raw(&f.header().to_string(), &claims))
        .await
        .expect_err("dup claims");
    assert!(
        matches!(&err, VerifyError::Token(TokenError::DuplicateKey(k)) if k == "iss"),
        "{err}"
    );
    let claims = f
        .claims()
        .to_string()
        .replacen('{', r#"{"ctx":{"a":1,"a":2},"#, 1);
    let err = verify(&f, &f.forge_raw(&f.header().to_string(), &claims))
        .await
        .expect_err("nested dup");
    assert!(
        matches!(&err, VerifyError::Token(TokenError::DuplicateKey(k)) if k == "a"),
        "{err}"
    );
}

#[tokio::test]
async fn times_must_be_json_integers() {
    let f = Fixture::new(Algorithm::ES256);
    for (name, value) in [
        ("iat", json!(NOW as f64)),
        ("exp", json!(format!("{}", NOW + 60))),
        ("exp", json!((NOW + 60) as f64 + 0.5)),
        ("nbf", json!(null)),
        ("iat", json!(true)),
    ] {
        let mut claims = f.claims();
        claims[name] = value.clone();
        let err = verify(&f, &f.forge(&f.header(), &claims)).await.expect_err(name);
        assert!(
            matches!(err, VerifyError::Token(TokenError::InvalidClaim { claim, .. }) if claim == name),
            "{name}={value}: {err}"
        );
    }
    // `1.8e9` is a float in JSON even though it is a whole number.
    let claims = f
        .claims()
        .to_string()
        .replace(&format!("\"iat\":{NOW}"), "\"iat\":1.8e9");
    let err = verify(&f, &f.forge_raw(&f.header().to_string(), &claims))
        .await
        .expect_err("exponent");
    assert!(
        matches!(
            err,
            VerifyError::Token(TokenError::InvalidClaim { claim: "iat", .. })
        ),
        "{err}"
    );
}

#[tokio::test]
async fn required_claims_are_required_and_non_empty() {
    let f = Fixture::new(Algorithm::ES256);
    for name in ["iss", "aud", "jti", "iat", "exp"] {
        let mut claims = f.claims();
        claims.as_object_mut().map(|m| m.remove(name));
        let err = verify(&f, &f.forge(&f.header(), &claims)).await.expect_err(name);
        assert!(
            matches!(err, VerifyError::Token(TokenError::MissingClaim(n)) if n == name),
            "{name}: {err}"
        );
    }
    for (name, value) in [
        ("jti", json!("")),
        ("aud", json!([])),
        ("aud", json!([""])),
        ("sub", json!("")),
    ] {
        let mut claims = f.claims();
        claims[name] = value;
        let err = verify(&f, &f.forge(&f.header(), &claims)).await.expect_err(name);
        assert!(
            matches!(err, VerifyError::Token(TokenError::InvalidClaim { claim, .. }) if claim == name),
            "{name}: {err}"
        );
    }
}

#[tokio::test]
async fn time_boundaries_with_default_leeway() {
    let f = Fixture::new(Algorithm::ES256);
    let token = f.forge(&f.header(), &f.claims());
    let verifier = f.verifier().build().expect("verifier");
    // exp is inclusive, and the default leeway is 30 s.
    f.clock.set(NOW + 60 + 30);
    verifier.verify(&token).await.expect("at exp + leeway");
    f.clock.set(NOW + 60 + 31);
    assert!(matches!(
        verifier.verify(&token).await,
        Err(VerifyError::Token(TokenError::Expired { .. }))
    ));
    // iat and nbf may be up to the leeway in the future.
    f.clock.set(NOW - 30);
    verifier.verify(&token).await.expect("iat = now + leeway");
    f.clock.set(NOW - 31);
    assert!(matches!(
        verifier.verify(&token).await,
        Err(VerifyError::Token(TokenError::IssuedInFuture { .. }))
    ));
}

#[tokio::test]
async fn zero_leeway_makes_exp_exact() {
    let f = Fixture::new(Algorithm::ES256);
    let token = f.forge(&f.header(), &f.claims());
    let verifier = f.verifier().leeway(Duration::ZERO).build().expect("verifier");
    f.clock.set(NOW + 60);
    verifier.verify(&token).await.expect("exactly at exp");
    f.clock.set(NOW + 61);
    assert!(
        matches!(verifier.verify(&token).await, Err(VerifyError::Token(TokenError::Expired { exp, now })) if exp == NOW + 60 && now == NOW + 61)
    );
}

#[tokio::test]
async fn nbf_in_the_future_is_refused() {
    let f = Fixture::new(Algorithm::ES256);
    let mut claims = f.claims();
    claims["nbf"] = json!(NOW + 31);
    let err = verify(&f, &f.forge(&f.header(), &claims)).await.expect_err("nbf");
    assert!(
        matches!(err, VerifyError::Token(TokenError::NotYetValid { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn lifetime_of_3600_passes_and_3601_fails() {
    let f = Fixture::new(Algorithm::ES256);
    let mut claims = f.claims();
    claims["exp"] = json!(NOW + 3600);
    verify(&f, &f.forge(&f.header(), &claims)).await.expect("3600 s");
    claims["exp"] = json!(NOW + 3601);
    let err = verify(&f, &f.forge(&f.header(), &claims))
        .await
        .expect_err("3601 s");
    assert!(
        matches!(
            err,
            VerifyError::Token(TokenError::BadLifetime {
                lifetime: 3601,
                max: 3600
            })
        ),
        "{err}"
    );
    // A lower configured maximum.
    claims["exp"] = json!(NOW + 301);
    let verifier = f
        .verifier()
        .max_lifetime(Duration::from_secs(300))
        .build()
        .expect("verifier");
    assert!(matches!(
        verifier.verify(&f.forge(&f.header(), &claims)).await,
        Err(VerifyError::Token(TokenError::BadLifetime { .. }))
    ));
    // exp before iat.
    claims["exp"] = json!(NOW - 1);
    claims["nbf"] = json!(NOW - 10);
    f.clock.set(NOW - 5);
    assert!(matches!(
        verify(&f, &f.forge(&f.header(), &claims)).await,
        Err(VerifyError::Token(TokenError::BadLifetime { .. }))
    ));
}

#[tokio::test]
async fn audience_must_match_exactly() {
    let f = Fixture::new(Algorithm::ES256);
    for (aud, ok) in [
        (json!(AUDIENCE), true),
        (json!(["other", AUDIENCE]), true),
        (json!("Ledger"), false),
        (json!("ledger "), false),
        (json!(["other"]), false),
    ] {
        let mut claims = f.claims();
        claims["aud"] = aud.clone();
        let result = verify(&f, &f.forge(&f.header(), &claims)).await;
        assert_eq!(result.is_ok(), ok, "{aud}");
        if !ok {
            assert!(matches!(
                result,
                Err(VerifyError::Token(TokenError::AudienceMismatch))
            ));
        }
    }
}

#[tokio::test]
async fn subject_rules() {
    let f = Fixture::new(Algorithm::ES256);
    let mut claims = f.claims();
    claims["sub"] = json!("user-1");
    let token = f.forge(&f.header(), &claims);
    let err = verify(&f, &token).await.expect_err("sub != iss");
    assert!(matches!(err, VerifyError::SubjectMismatch { .. }));
    assert_eq!(err.outcome().status(), 403);
    let open = f
        .verifier()
        .allow_subject_other_than_issuer(true)
        .build()
        .expect("v");
    assert_eq!(open.verify(&token).await.expect("allowed").subject(), "user-1");
    let listed = f
        .verifier()
        .allow_subject_other_than_issuer(true)
        .allowed_subjects(["user-2"])
        .build()
        .expect("v");
    let err = listed.verify(&token).await.expect_err("not listed");
    assert!(matches!(err, VerifyError::SubjectNotAllowed(_)));
    assert_eq!(err.outcome().status(), 403);
    // Without `sub` the effective subject is the issuer.
    let mut claims = f.claims();
    claims.as_object_mut().map(|m| m.remove("sub"));
    let verified = verify(&f, &f.forge(&f.header(), &claims)).await.expect("no sub");
    assert_eq!(verified.subject(), ISSUER);
}

#[tokio::test]
async fn forged_signatures_fail() {
    let f = Fixture::new(Algorithm::ES256);
    let other = Fixture::new(Algorithm::ES256);
    // Signed by another key under our kid.
    let token = other.forge(&f.header(), &f.claims());
    assert!(matches!(
        verify(&f, &token).await,
        Err(VerifyError::Token(TokenError::BadSignature))
    ));
    // Claims swapped after signing.
    let good = f.forge(&f.header(), &f.claims());
    let parts: Vec<&str> = good.split('.').collect();
    let mut claims = f.claims();
    claims["aud"] = json!("other");
    let swapped = format!("{}.{}.{}", parts[0], b64(claims.to_string().as_bytes()), parts[2]);
    assert!(matches!(
        verify(&f, &swapped).await,
        Err(VerifyError::Token(TokenError::BadSignature))
    ));
    // Empty and wrong-length signatures.
    for sig in ["", "AAAA", &b64(&[0u8; 64])] {
        let t = format!("{}.{}.{sig}", parts[0], parts[1]);
        let err = verify(&f, &t).await.expect_err(sig);
        assert!(
            matches!(
                err,
                VerifyError::Token(TokenError::BadSignature) | VerifyError::Token(TokenError::Malformed(_))
            ),
            "{err}"
        );
    }
}

#[tokio::test]
async fn unknown_kid_is_401() {
    let f = Fixture::new(Algorithm::ES256);
    let mut header = f.header();
    header["kid"] = json!("billing/unknown");
    let err = verify(&f, &f.forge(&header, &f.claims()))
        .await
        .expect_err("unknown");
    assert!(matches!(err, VerifyError::KeyNotFound(_)));
    assert_eq!(err.outcome().status(), 401);
}

#[derive(Debug)]
struct DownSource;

impl PublicKeySource for DownSource {
    fn public_key<'a>(&'a self, _kid: &'a KeyId) -> KeyFuture<'a> {
        Box::pin(async { Err(KeySourceError::Unavailable("connection refused".into())) })
    }
}

#[tokio::test]
async fn unavailable_key_source_is_503() {
    let f = Fixture::new(Algorithm::ES256);
    let verifier = Verifier::builder(DownSource)
        .audience(aud())
        .clock(f.clock.clone())
        .build()
        .expect("v");
    let err = verifier
        .verify(&f.forge(&f.header(), &f.claims()))
        .await
        .expect_err("down");
    assert!(matches!(err, VerifyError::KeyUnavailable(_)));
    assert_eq!(err.outcome().status(), 503);
}

fn replay_verifier(f: &Fixture, guard: Arc<InMemoryReplayGuard>) -> Verifier {
    f.verifier().replay_guard(guard).build().expect("verifier")
}

#[tokio::test]
async fn replay_is_off_by_default() {
    let f = Fixture::new(Algorithm::ES256);
    let token = f.forge(&f.header(), &f.claims());
    let verifier = f.verifier().build().expect("verifier");
    verifier.verify(&token).await.expect("first");
    verifier
        .verify(&token)
        .await
        .expect("second: clients reuse tokens");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_of_one_jti_exactly_one_succeeds() {
    let f = Fixture::new(Algorithm::ES256);
    let token = Arc::new(f.forge(&f.header(), &f.claims()));
    let verifier = replay_verifier(&f, Arc::new(InMemoryReplayGuard::new(1000)));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let v = verifier.clone();
            let t = token.clone();
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
async fn replay_entries_are_keyed_by_issuer_and_kept_sweep_grace_past_exp_plus_leeway() {
    let f = Fixture::new(Algorithm::ES256);
    let guard = Arc::new(InMemoryReplayGuard::new(1000));
    let verifier = replay_verifier(&f, guard.clone());
    verifier
        .verify(&f.forge(&f.header(), &f.claims()))
        .await
        .expect("first");
    // Same jti from another issuer is not a replay.
    let use_ = TokenUse {
        issuer: "payroll",
        jti: "j-1",
        now: NOW,
        expires_at: NOW + 90,
    };
    assert!(guard.first_use(use_).await.expect("guard"));
    // The entry is recorded until exp + leeway (NOW + 90), kept SWEEP_GRACE longer, and no
    // longer than that.
    let at = |now| TokenUse {
        issuer: ISSUER,
        jti: "j-1",
        now,
        expires_at: now + 90,
    };
    let grace = i64::try_from(SWEEP_GRACE.as_secs()).expect("small");
    assert!(!guard.first_use(at(NOW + 90)).await.expect("guard"));
    assert!(!guard.first_use(at(NOW + 90 + grace)).await.expect("guard"));
    assert!(guard.first_use(at(NOW + 91 + grace)).await.expect("guard"));
}

#[tokio::test]
async fn a_jti_is_not_burned_unless_every_other_check_passed() {
    let f = Fixture::new(Algorithm::ES256);
    let guard = Arc::new(InMemoryReplayGuard::new(1000));
    let verifier = replay_verifier(&f, guard.clone());
    let mut claims = f.claims();
    claims["aud"] = json!("someone-else");
    let err = verifier
        .verify(&f.forge(&f.header(), &claims))
        .await
        .expect_err("wrong aud");
    assert!(matches!(err, VerifyError::Token(TokenError::AudienceMismatch)));
    let forged = Fixture::new(Algorithm::ES256).forge(&f.header(), &f.claims());
    assert!(matches!(
        verifier.verify(&forged).await,
        Err(VerifyError::Token(TokenError::BadSignature))
    ));
    // The legitimate token with the same jti still goes through once.
    verifier
        .verify(&f.forge(&f.header(), &f.claims()))
        .await
        .expect("not burned");
    assert!(matches!(
        verifier.verify(&f.forge(&f.header(), &f.claims())).await,
        Err(VerifyError::Replayed)
    ));
}

#[tokio::test]
async fn full_replay_store_fails_closed_with_503() {
    let f = Fixture::new(Algorithm::ES256);
    let verifier = replay_verifier(&f, Arc::new(InMemoryReplayGuard::new(1)));
    let mut claims = f.claims();
    verifier
        .verify(&f.forge(&f.header(), &claims))
        .await
        .expect("first");
    claims["jti"] = json!("j-2");
    let err = verifier
        .verify(&f.forge(&f.header(), &claims))
        .await
        .expect_err("full");
    assert!(matches!(
        err,
        VerifyError::ReplayUnavailable(ReplayError::Full(1))
    ));
    assert_eq!(err.outcome().status(), 503);
}

#[tokio::test]
async fn verified_claims_expose_extras_as_json_and_as_a_type() {
    let f = Fixture::new(Algorithm::ES256);
    let mut claims = f.claims();
    claims["tenant"] = json!("acme");
    claims["limits"] = json!({"rps": 10});
    let verified = verify(&f, &f.forge(&f.header(), &claims)).await.expect("valid");
    assert_eq!(verified.claims().get("tenant"), Some(&json!("acme")));
    #[derive(serde::Deserialize)]
    struct Mine {
        tenant: String,
        limits: Value,
    }
    let mine: Mine = verified.claims().extra_as().expect("typed");
    assert_eq!(mine.tenant, "acme");
    assert_eq!(mine.limits["rps"], 10);
    // Serialized back with sorted keys.
    let text = serde_json::to_string(verified.claims()).expect("json");
    assert!(text.starts_with(r#"{"aud":"ledger","exp":"#), "{text}");
}

#[test]
fn verifier_needs_an_audience() {
    assert!(Verifier::builder(StaticKeySource::new()).build().is_err());
}

#[test]
fn verify_future_is_send() {
    fn assert_send<T: Send>(_: T) {}
    let verifier = Verifier::builder(StaticKeySource::new())
        .audience(aud())
        .build()
        .expect("v");
    assert_send(async move { verifier.verify("x").await });
}

#[tokio::test]
async fn verified_token_cache_skips_the_signature_check_until_exp() {
    let f = Fixture::new(Algorithm::ES256);
    let verifier = f.verifier().cache_verified_tokens(100).build().expect("verifier");
    assert!(verifier.caches_tokens());
    let token = f.forge(&f.header(), &f.claims());
    verifier.verify(&token).await.expect("first");
    verifier.verify(&token).await.expect("cached");
    assert_eq!(f.source.count(), 1, "the second call used the cache");
    // At exp the cached entry still answers; after exp the token is verified again and, past
    // exp + leeway, refused.
    f.clock.set(NOW + 60);
    verifier.verify(&token).await.expect("cached at exp");
    assert_eq!(f.source.count(), 1);
    f.clock.set(NOW + 61);
    verifier
        .verify(&token)
        .await
        .expect("within leeway, verified again");
    assert_eq!(f.source.count(), 2);
    f.clock.set(NOW + 91);
    assert!(matches!(
        verifier.verify(&token).await,
        Err(VerifyError::Token(TokenError::Expired { .. }))
    ));
    // A different token (even one differing in its signature only) is not a hit.
    let mut tampered = token.clone();
    tampered.push('A');
    f.clock.set(NOW);
    assert!(verifier.verify(&tampered).await.is_err());
}

#[tokio::test]
async fn verified_token_cache_is_off_with_replay_protection() {
    let f = Fixture::new(Algorithm::ES256);
    let verifier = f
        .verifier()
        .cache_verified_tokens(100)
        .replay_guard(Arc::new(InMemoryReplayGuard::new(100)))
        .build()
        .expect("verifier");
    assert!(!verifier.caches_tokens());
    let token = f.forge(&f.header(), &f.claims());
    verifier.verify(&token).await.expect("first");
    assert!(matches!(
        verifier.verify(&token).await,
        Err(VerifyError::Replayed)
    ));
}

#[tokio::test]
async fn verified_token_cache_is_bounded() {
    let f = Fixture::new(Algorithm::ES256);
    let verifier = f.verifier().cache_verified_tokens(2).build().expect("verifier");
    let tokens: Vec<String> = (0..3)
        .map(|i| {
            let mut c = f.claims();
            c["jti"] = json!(format!("j{i}"));
            f.forge(&f.header(), &c)
        })
        .collect();
    for t in &tokens {
        verifier.verify(t).await.expect("valid");
    }
    assert_eq!(f.source.count(), 3);
    // The third did not fit; the first two are cached.
    verifier.verify(&tokens[0]).await.expect("cached");
    verifier.verify(&tokens[1]).await.expect("cached");
    assert_eq!(f.source.count(), 3);
    verifier.verify(&tokens[2]).await.expect("not cached");
    assert_eq!(f.source.count(), 4);
}

#[tokio::test]
async fn an_unencoded_payload_token_is_refused_before_any_key_lookup() {
    // RFC 7797: with `b64: false` the signature covers the raw payload, not its base64url; a
    // verifier that ignored the header would check one byte string and read another.
    let f = Fixture::new(Algorithm::ES256);
    let mut header = f.header();
    header["b64"] = json!(false);
    header["crit"] = json!(["b64"]);
    let claims = f.claims().to_string();
    let input = format!("{}.{claims}", b64(header.to_string().as_bytes()));
    let sig = f.private.sign(f.alg, input.as_bytes()).expect("sign");
    let token = format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.as_bytes()),
        b64(&sig)
    );
    let err = verify(&f, &token).await.expect_err("b64: false");
    assert!(
        matches!(
            err,
            VerifyError::Token(TokenError::ForbiddenHeader("crit" | "b64"))
        ),
        "{err}"
    );
    for (name, value) in [
        ("b64", json!(false)),
        ("zip", json!("DEF")),
        ("enc", json!("A256GCM")),
    ] {
        let mut header = f.header();
        header[name] = value;
        let err = verify(&f, &f.forge(&header, &f.claims())).await.expect_err(name);
        assert!(
            matches!(err, VerifyError::Token(TokenError::ForbiddenHeader(n)) if n == name),
            "{name}: {err}"
        );
    }
    assert_eq!(f.source.count(), 0);
}

#[test]
fn leeway_above_300_s_is_a_configuration_error() {
    let f = Fixture::new(Algorithm::ES256);
    f.verifier()
        .leeway(MAX_LEEWAY)
        .build()
        .expect("300 s is the maximum");
    let err = f
        .verifier()
        .leeway(Duration::from_secs(301))
        .build()
        .expect_err("301 s");
    assert_eq!(
        err.to_string(),
        "invalid verifier configuration: leeway 301 s is larger than the maximum 300 s"
    );
}

#[tokio::test]
async fn a_token_that_expired_in_1970_fails_at_the_largest_leeway() {
    let f = Fixture::new(Algorithm::ES256);
    let mut claims = f.claims();
    claims["iat"] = json!(0);
    claims["nbf"] = json!(0);
    claims["exp"] = json!(60);
    let token = f.forge(&f.header(), &claims);
    let verifier = f.verifier().leeway(MAX_LEEWAY).build().expect("verifier");
    assert!(matches!(
        verifier.verify(&token).await,
        Err(VerifyError::Token(TokenError::Expired { exp: 60, .. }))
    ));
    assert!(
        f.verifier()
            .leeway(Duration::from_secs(u64::MAX))
            .build()
            .is_err()
    );
}
