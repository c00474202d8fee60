//! The verifier's rules and the signer's refusals, each with its typed error.

use std::sync::Arc;
use std::time::Duration;

use asap_core::{Algorithm, KeyKind, KeySpec, ManualClock, PrivateKey, SignError, TokenError};
use asap_testkit::forge;
use issuer_tokens::{IssueRequest, IssuerSigner, IssuerTokenError, IssuerVerifier, MAX_TRUSTED_KEYS};
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000;

struct Fixture {
    key: PrivateKey,
    verifier: IssuerVerifier,
}

fn fixture() -> Fixture {
    let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let verifier = IssuerVerifier::builder()
        .trusted_key(key.public_key().expect("public"))
        .clock(Arc::new(ManualClock::new(NOW)))
        .build()
        .expect("verifier");
    Fixture { key, verifier }
}

impl Fixture {
    fn token(&self, header: &Value, claims: &Value) -> String {
        forge::signed(header, claims, |input| {
            self.key.sign(Algorithm::RS256, input).expect("sign")
        })
    }

    fn verify(&self, claims: &Value) -> Result<issuer_tokens::IssuerClaims, IssuerTokenError> {
        self.verifier
            .verify(&self.token(&json!({"alg": "RS256", "typ": "JWT"}), claims))
    }
}

fn claims() -> Value {
    json!({"iss": "auth_user", "sub": "ann", "exp": NOW + 600, "level": "0.0", "factor": "", "target": "", "dnt": "0", "scopes": ""})
}

#[test]
fn a_token_in_the_packages_shape_verifies_without_a_kid() {
    let f = fixture();
    let claims = f.verify(&claims()).expect("verifies");
    assert_eq!((claims.role(), claims.scopes().len()), ("user", 0));
    // A kid, when sent, is not used to pick a key.
    let token = f.token(&json!({"alg": "RS256", "kid": "anything"}), &self::claims());
    assert!(f.verifier.verify(&token).is_ok());
}

#[test]
fn only_rs256_is_accepted() {
    let f = fixture();
    for alg in ["RS512", "PS256", "HS256", "none", "rs256"] {
        let token = f.token(&json!({ "alg": alg }), &claims());
        assert!(
            matches!(
                f.verifier.verify(&token),
                Err(IssuerTokenError::Token(TokenError::Algorithm(_)))
            ),
            "{alg}"
        );
    }
}

#[test]
fn iss_sub_and_exp_are_required_and_typed() {
    let f = fixture();
    for (name, expected) in [("iss", "iss"), ("sub", "sub"), ("exp", "exp")] {
        let mut c = claims();
        c.as_object_mut().expect("object").remove(name);
        assert!(
            matches!(f.verify(&c), Err(IssuerTokenError::Token(TokenError::MissingClaim(m))) if m == expected),
            "{name}"
        );
    }
    let mut c = claims();
    c["exp"] = json!("1800000600");
    assert!(matches!(
        f.verify(&c),
        Err(IssuerTokenError::Token(TokenError::InvalidClaim {
            claim: "exp",
            ..
        }))
    ));
}

#[test]
fn time_is_checked_by_the_core_rule() {
    let f = fixture();
    let at = |exp: i64, extra: Value| {
        let mut c = claims();
        c["exp"] = json!(exp);
        for (k, v) in extra.as_object().expect("object") {
            c[k] = v.clone();
        }
        f.verify(&c)
    };
    assert!(at(NOW - 30, json!({})).is_ok(), "leeway 30 s");
    assert!(matches!(
        at(NOW - 31, json!({})),
        Err(IssuerTokenError::Token(TokenError::Expired { .. }))
    ));
    assert!(at(NOW + 3600, json!({})).is_ok());
    assert!(matches!(
        at(NOW + 3601, json!({})),
        Err(IssuerTokenError::Token(TokenError::BadLifetime { .. }))
    ));
    assert!(matches!(
        at(NOW + 60, json!({"iat": NOW + 31})),
        Err(IssuerTokenError::Token(TokenError::IssuedInFuture { .. }))
    ));
    assert!(matches!(
        at(NOW + 120, json!({"nbf": NOW + 60})),
        Err(IssuerTokenError::Token(TokenError::NotYetValid { .. }))
    ));
}

#[test]
fn an_issuer_outside_the_roles_is_forbidden_after_the_signature() {
    let f = fixture();
    let mut c = claims();
    c["iss"] = json!("auth_support");
    let err = f.verify(&c).expect_err("unknown role");
    assert!(matches!(err, IssuerTokenError::UnknownIssuer(ref i) if i == "auth_support"));
    assert_eq!(err.outcome().status(), 403);
    // Forged: the signature comes first, so an outsider learns nothing about roles.
    let forged = forge::with_signature(&json!({"alg": "RS256"}), &claims(), &[0; 256]);
    assert!(matches!(
        f.verifier.verify(&forged),
        Err(IssuerTokenError::Token(TokenError::BadSignature))
    ));
}

#[test]
fn the_trusted_key_set_is_bounded_and_rsa_only() {
    let rsa = || {
        PrivateKey::generate(KeySpec::Rsa(2048))
            .expect("rsa")
            .public_key()
            .expect("public")
    };
    assert!(IssuerVerifier::builder().build().is_err());
    let mut too_many = IssuerVerifier::builder();
    for _ in 0..=MAX_TRUSTED_KEYS {
        too_many = too_many.trusted_key(rsa());
    }
    assert!(too_many.build().is_err());
    let ec = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))
        .expect("ec")
        .public_key()
        .expect("public");
    assert!(IssuerVerifier::builder().trusted_key(ec).build().is_err());
    assert!(
        IssuerVerifier::builder()
            .trusted_key(rsa())
            .leeway(Duration::from_secs(301))
            .build()
            .is_err()
    );
}

#[test]
fn the_signer_refuses_what_its_policy_refuses() {
    let signer = IssuerSigner::new(PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa")).expect("signer");
    let refused = |r: IssueRequest| signer.sign(&r).expect_err("refused");
    assert!(
        matches!(refused(IssueRequest::new("ann").role("root")), SignError::ClaimNotAllowed { ref claim, .. } if claim == "role")
    );
    assert!(
        matches!(refused(IssueRequest::new("ann").level(3.1)), SignError::ClaimNotAllowed { ref claim, .. } if claim == "level")
    );
    assert!(
        matches!(refused(IssueRequest::new("ann").dnt(9)), SignError::ClaimNotAllowed { ref claim, .. } if claim == "dnt")
    );
    assert!(matches!(
        refused(IssueRequest::new("ann").scopes(["admin:all"])),
        SignError::ClaimNotAllowed { ref claim, .. } if claim == "scopes"
    ));
    assert!(matches!(refused(IssueRequest::new("")), SignError::Config(_)));
    // The core's lifetime rule: 1 to 3600 whole seconds (500 ms would make exp == iat).
    for lifetime in [
        Duration::from_secs(3601),
        Duration::from_millis(500),
        Duration::from_millis(1500),
    ] {
        assert!(matches!(
            refused(IssueRequest::new("ann").lifetime(lifetime)),
            SignError::Config(_)
        ));
    }
    let ec = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("ec");
    assert!(IssuerSigner::new(ec).is_err());
}

#[test]
fn signed_tokens_round_trip_with_the_packages_encodings() {
    let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let clock = Arc::new(ManualClock::new(NOW));
    let signer = IssuerSigner::new(PrivateKey::from_pem(&key.to_pkcs8_pem().expect("pem")).expect("copy"))
        .expect("signer")
        .clock(clock.clone());
    let token = signer
        .sign(
            &IssueRequest::new("ann")
                .role("admin")
                .level(4.0)
                .dnt(3)
                .scopes(["admin:all"]),
        )
        .expect("token");
    let sent = forge::claims_of(&token);
    assert_eq!(
        sent,
        json!({"iss": "auth_admin", "sub": "ann", "exp": NOW + 3600, "level": "4.0", "factor": "", "target": "", "dnt": "3", "scopes": "admin:all"})
    );
    let verifier = IssuerVerifier::builder()
        .trusted_key(key.public_key().expect("public"))
        .clock(clock)
        .build()
        .expect("verifier");
    let claims = verifier.verify(&token).expect("verifies");
    assert_eq!(
        serde_json::to_value(&claims).expect("json"),
        json!({"iss": "auth_admin", "sub": "ann", "exp": NOW + 3600, "level": 4.0, "factor": "", "target": "", "dnt": 3, "scopes": ["admin:all"]})
    );
}

#[test]
fn the_other_registered_claims_are_typed_and_kept_out_of_extra() {
    let f = fixture();
    let audiences = ["billing", "search"];
    let verifier = IssuerVerifier::builder()
        .trusted_key(f.key.public_key().expect("public"))
        .audience(asap_core::Audience::new("billing").expect("aud"))
        .clock(Arc::new(ManualClock::new(NOW)))
        .build()
        .expect("verifier");
    let mut sent = claims();
    sent["aud"] = json!(audiences);
    sent["jti"] = json!("t-1");
    sent["iat"] = json!(NOW - 5);
    sent["nbf"] = json!(NOW - 5);
    sent["team"] = json!("ops");
    let token = f.token(&json!({"alg": "RS256"}), &sent);
    let verified = verifier.verify(&token).expect("verifies");
    assert_eq!(verified.audience(), audiences);
    assert_eq!(verified.token_id(), Some("t-1"));
    assert_eq!(
        (verified.issued_at(), verified.not_before()),
        (Some(NOW - 5), Some(NOW - 5))
    );
    assert_eq!(Value::Object(verified.extra().clone()), json!({"team": "ops"}));
    // Serialized, every claim is there again, both audiences included.
    let json = serde_json::to_value(&verified).expect("serialize");
    for name in ["aud", "jti", "iat", "nbf", "team"] {
        assert_eq!(json[name], sent[name], "{name}");
    }

    // One audience is written back as it came: a string, or an array of one.
    for aud in [json!("billing"), json!(["billing"])] {
        sent["aud"] = aud;
        let token = f.token(&json!({"alg": "RS256"}), &sent);
        let json = serde_json::to_value(verifier.verify(&token).expect("verifies")).expect("serialize");
        assert_eq!(json["aud"], sent["aud"]);
    }

    // Without them, nothing is made up.
    let plain = f.verify(&claims()).expect("verifies");
    assert!(plain.audience().is_empty());
    assert_eq!(
        (plain.token_id(), plain.issued_at(), plain.not_before()),
        (None, None, None)
    );
    let json = serde_json::to_value(&plain).expect("serialize");
    assert!(
        ["aud", "jti", "iat", "nbf"]
            .iter()
            .all(|name| json.get(name).is_none())
    );
}
