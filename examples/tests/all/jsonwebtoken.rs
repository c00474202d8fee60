//! Good neighbours with the `jsonwebtoken` crate (its aws-lc-rs backend, keys as PEM files as
//! services share them): for every algorithm both have, its tokens verify here and ours verify
//! there. Then each place where our rules are stricter than its defaults, shown on a token it
//! makes and accepts: what such a token needs to pass here (docs/jsonwebtoken.md lists them).

use std::time::{SystemTime, UNIX_EPOCH};

use asap_core::{
    Algorithm, Audience, KeyId, KeyKind, KeySpec, PrivateKey, Signer, SigningKey, StaticKeySource,
    TokenError, Verifier, VerifyError,
};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

/// Every algorithm jsonwebtoken signs and verifies with that ASAP accepts (jsonwebtoken has no
/// ES512; its HS* are never ASAP algorithms, see below).
const SHARED: [(Algorithm, jsonwebtoken::Algorithm); 9] = [
    (Algorithm::RS256, jsonwebtoken::Algorithm::RS256),
    (Algorithm::RS384, jsonwebtoken::Algorithm::RS384),
    (Algorithm::RS512, jsonwebtoken::Algorithm::RS512),
    (Algorithm::PS256, jsonwebtoken::Algorithm::PS256),
    (Algorithm::PS384, jsonwebtoken::Algorithm::PS384),
    (Algorithm::PS512, jsonwebtoken::Algorithm::PS512),
    (Algorithm::ES256, jsonwebtoken::Algorithm::ES256),
    (Algorithm::ES384, jsonwebtoken::Algorithm::ES384),
    (Algorithm::EdDSA, jsonwebtoken::Algorithm::EdDSA),
];

const ISSUER: &str = "billing";
const KID: &str = "billing/k1";
const AUDIENCE: &str = "ledger";

fn now() -> i64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    i64::try_from(seconds).expect("in range")
}

/// One key per kind (an RSA key serves all six RSA algorithms: key generation is slow).
struct Keys {
    rsa: PrivateKey,
    p256: PrivateKey,
    p384: PrivateKey,
    ed25519: PrivateKey,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            rsa: PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa"),
            p256: PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("p256"),
            p384: PrivateKey::generate(KeySpec::Curve(KeyKind::P384)).expect("p384"),
            ed25519: PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("ed25519"),
        }
    }

    fn for_alg(&self, alg: Algorithm) -> &PrivateKey {
        match alg.key_kind() {
            KeyKind::Rsa => &self.rsa,
            KeyKind::P256 => &self.p256,
            KeyKind::P384 => &self.p384,
            KeyKind::Ed25519 => &self.ed25519,
            other => panic!("no {other:?} key in this test"),
        }
    }

    /// jsonwebtoken's signing key, from our key's PKCS#8 PEM.
    fn encoding(&self, alg: Algorithm) -> EncodingKey {
        let pem = self.for_alg(alg).to_pkcs8_pem().expect("pem");
        let made = match alg.key_kind() {
            KeyKind::Rsa => EncodingKey::from_rsa_pem(pem.as_bytes()),
            KeyKind::Ed25519 => EncodingKey::from_ed_pem(pem.as_bytes()),
            _ => EncodingKey::from_ec_pem(pem.as_bytes()),
        };
        made.expect("jsonwebtoken reads the PEM")
    }

    /// jsonwebtoken's verifying key, from our public key's SPKI PEM.
    fn decoding(&self, alg: Algorithm) -> DecodingKey {
        let pem = self.for_alg(alg).public_key().expect("public").to_pem();
        let made = match alg.key_kind() {
            KeyKind::Rsa => DecodingKey::from_rsa_pem(pem.as_bytes()),
            KeyKind::Ed25519 => DecodingKey::from_ed_pem(pem.as_bytes()),
            _ => DecodingKey::from_ec_pem(pem.as_bytes()),
        };
        made.expect("jsonwebtoken reads the PEM")
    }

    /// Our verifier, trusting `alg`'s key as billing's `k1`.
    fn verifier(&self, alg: Algorithm) -> Verifier {
        let mut keys = StaticKeySource::new();
        keys.insert(
            KeyId::parse(KID).expect("kid"),
            self.for_alg(alg).public_key().expect("public"),
        );
        Verifier::builder(keys)
            .audience(Audience::new(AUDIENCE).expect("aud"))
            .enable_eddsa(true)
            .build()
            .expect("verifier")
    }

    /// A jsonwebtoken header for `alg` naming billing's key.
    fn header(alg: jsonwebtoken::Algorithm) -> Header {
        let mut header = Header::new(alg);
        header.kid = Some(KID.to_owned());
        header
    }
}

/// The claims a jsonwebtoken-made token needs here: `iss`, `aud`, `jti`, `iat`, `exp` (at most
/// an hour after `iat`).
fn asap_claims() -> Value {
    let now = now();
    json!({ "iss": ISSUER, "aud": AUDIENCE, "jti": "c0ffee-1", "iat": now, "exp": now + 60 })
}

/// What jsonwebtoken needs to accept our tokens: the audience (a token with `aud` fails
/// otherwise) and, to check as much as we do, the issuer and `nbf`.
fn their_validation(alg: jsonwebtoken::Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.validate_nbf = true;
    validation
}

#[tokio::test]
async fn tokens_made_by_jsonwebtoken_verify_here_for_every_algorithm_both_have() {
    let keys = Keys::new();
    for (ours, theirs) in SHARED {
        let token = jsonwebtoken::encode(&Keys::header(theirs), &asap_claims(), &keys.encoding(ours))
            .unwrap_or_else(|e| panic!("{ours}: jsonwebtoken signs: {e}"));
        let verified = keys
            .verifier(ours)
            .verify(&token)
            .await
            .unwrap_or_else(|e| panic!("{ours}: {e}"));
        assert_eq!(
            (verified.issuer(), verified.claims().jti()),
            (ISSUER, "c0ffee-1"),
            "{ours}"
        );
    }
}

#[test]
fn our_tokens_verify_in_jsonwebtoken_for_every_algorithm_both_have() {
    let keys = Keys::new();
    for (ours, theirs) in SHARED {
        let pem = keys.for_alg(ours).to_pkcs8_pem().expect("pem");
        let key = SigningKey::new(
            KeyId::parse(KID).expect("kid"),
            PrivateKey::from_pem(&pem).expect("key"),
            Some(ours),
        )
        .expect("signing key");
        let signer = Signer::builder(ISSUER)
            .key(key)
            .claim("scope", "invoices:read")
            .build()
            .expect("signer");
        let token = signer
            .sign(&Audience::new(AUDIENCE).expect("aud"))
            .expect("token");

        let data =
            jsonwebtoken::decode::<Value>(token.as_str(), &keys.decoding(ours), &their_validation(theirs))
                .unwrap_or_else(|e| panic!("{ours}: jsonwebtoken refuses our token: {e}"));
        assert_eq!(data.header.alg, theirs);
        assert_eq!(data.header.kid.as_deref(), Some(KID));
        assert_eq!(data.claims["iss"], ISSUER, "{ours}");
        assert_eq!(data.claims["sub"], ISSUER, "{ours}");
        assert_eq!(data.claims["scope"], "invoices:read", "{ours}");
        assert!(
            data.claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()),
            "{ours}"
        );
    }
}

#[test]
fn jsonwebtoken_needs_the_audience_set_to_accept_our_tokens() {
    let keys = Keys::new();
    let key = SigningKey::new(
        KeyId::parse(KID).expect("kid"),
        PrivateKey::from_pem(&keys.p256.to_pkcs8_pem().expect("pem")).expect("key"),
        None,
    )
    .expect("signing key");
    let signer = Signer::builder(ISSUER).key(key).build().expect("signer");
    let token = signer
        .sign(&Audience::new(AUDIENCE).expect("aud"))
        .expect("token");
    let defaults = Validation::new(jsonwebtoken::Algorithm::ES256);
    let refused = jsonwebtoken::decode::<Value>(token.as_str(), &keys.decoding(Algorithm::ES256), &defaults)
        .expect_err("an aud claim with no audience configured");
    assert_eq!(refused.kind(), &jsonwebtoken::errors::ErrorKind::InvalidAudience);
}

/// Signs `claims` under `header` with jsonwebtoken (ES256 key), checks jsonwebtoken itself
/// accepts the token with its default validation (plus the audience where the token has one),
/// and returns what our verifier says.
async fn theirs_accept_ours_say(keys: &Keys, header: &Header, claims: &Value) -> Result<(), VerifyError> {
    let alg = Algorithm::ES256;
    let encoding = if header.alg == jsonwebtoken::Algorithm::HS256 {
        EncodingKey::from_secret(b"a shared secret").expect("secret")
    } else {
        keys.encoding(alg)
    };
    let token = jsonwebtoken::encode(header, claims, &encoding).expect("jsonwebtoken signs");

    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[AUDIENCE]);
    validation.required_spec_claims.clear();
    let decoding = if header.alg == jsonwebtoken::Algorithm::HS256 {
        DecodingKey::from_secret(b"a shared secret").expect("secret")
    } else {
        keys.decoding(alg)
    };
    jsonwebtoken::decode::<Value>(&token, &decoding, &validation)
        .unwrap_or_else(|e| panic!("jsonwebtoken accepts {claims}: {e}"));

    keys.verifier(alg).verify(&token).await.map(|_| ())
}

fn without(claim: &str) -> Value {
    let mut claims = asap_claims();
    claims.as_object_mut().expect("object").remove(claim);
    claims
}

fn with(claim: &str, value: Value) -> Value {
    let mut claims = asap_claims();
    claims[claim] = value;
    claims
}

#[tokio::test]
async fn where_our_rules_are_stricter_than_jsonwebtoken_s_defaults() {
    let keys = Keys::new();
    let es256 = Keys::header(jsonwebtoken::Algorithm::ES256);
    let now = now();
    let says = |header: Header, claims: Value| {
        let keys = &keys;
        async move { theirs_accept_ours_say(keys, &header, &claims).await }
    };

    // The baseline passes both.
    says(es256.clone(), asap_claims())
        .await
        .expect("an ASAP-shaped token passes here");

    // `jti`, `iat` and `iss` are required here (jsonwebtoken requires only `exp`).
    for claim in ["jti", "iat", "iss"] {
        let said = says(es256.clone(), without(claim)).await;
        assert!(
            matches!(&said, Err(VerifyError::Token(TokenError::MissingClaim(c))) if *c == claim),
            "{claim}: {said:?}"
        );
    }

    // A `kid` is required (jsonwebtoken's `Header::new` has none), and it must be
    // `<iss>/<key name>`: a key of the issuer, checked before any key lookup.
    let mut no_kid = es256.clone();
    no_kid.kid = None;
    assert!(matches!(
        says(no_kid, asap_claims()).await,
        Err(VerifyError::Token(TokenError::MissingHeader("kid")))
    ));
    let mut foreign = es256.clone();
    foreign.kid = Some("payroll/k1".to_owned());
    assert!(
        matches!(says(foreign, asap_claims()).await, Err(VerifyError::Kid(_))),
        "a kid of another issuer"
    );

    // A header may not name or carry a key (jsonwebtoken's `Header` has `jku` and `jwk`).
    let mut jku = es256.clone();
    jku.jku = Some("https://keys.attacker.example/".to_owned());
    assert!(matches!(
        says(jku, asap_claims()).await,
        Err(VerifyError::Token(TokenError::ForbiddenHeader("jku")))
    ));

    // HMAC is never an ASAP algorithm (HS256 is jsonwebtoken's default).
    let hs256 = Header {
        kid: Some(KID.to_owned()),
        ..Header::default()
    };
    assert!(matches!(
        says(hs256, asap_claims()).await,
        Err(VerifyError::Token(TokenError::Algorithm(_)))
    ));

    // A token lives at most an hour (jsonwebtoken has no bound). The lifetime counts from the
    // token's own `iat`, which may be a second after `now`.
    let mut too_long = asap_claims();
    too_long["exp"] = json!(too_long["iat"].as_i64().expect("iat") + 3601);
    assert!(matches!(
        says(es256.clone(), too_long).await,
        Err(VerifyError::Token(TokenError::BadLifetime { .. }))
    ));

    // Leeway 30 s here, 60 s there: a token expired 45 s ago passes there only.
    let stale =
        json!({ "iss": ISSUER, "aud": AUDIENCE, "jti": "c0ffee-2", "iat": now - 105, "exp": now - 45 });
    assert!(matches!(
        says(es256.clone(), stale).await,
        Err(VerifyError::Token(TokenError::Expired { .. }))
    ));

    // `nbf` is checked here (jsonwebtoken: only with `validate_nbf`), and so is an `iat` in
    // the future.
    assert!(matches!(
        says(es256.clone(), with("nbf", json!(now + 120))).await,
        Err(VerifyError::Token(TokenError::NotYetValid { .. }))
    ));
    assert!(matches!(
        says(es256.clone(), with("iat", json!(now + 120))).await,
        Err(VerifyError::Token(TokenError::IssuedInFuture { .. }))
    ));

    // `sub`, when present, must be the issuer unless the service allows other subjects (403).
    assert!(matches!(
        says(es256.clone(), with("sub", json!("alice"))).await,
        Err(VerifyError::SubjectMismatch { .. })
    ));

    // A token larger than 8 KiB is refused before parsing.
    assert!(matches!(
        says(es256.clone(), with("note", json!("x".repeat(9 * 1024)))).await,
        Err(VerifyError::Token(TokenError::TooLarge { .. }))
    ));

    // `aud` is required (jsonwebtoken checks it only when the token has one).
    assert!(matches!(
        says(es256, without("aud")).await,
        Err(VerifyError::Token(TokenError::MissingClaim("aud")))
    ));
}
