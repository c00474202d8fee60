//! The JOSE header: `alg: none` in any case, HMAC keyed with the public key, headers that name
//! their own key (`jwk`, `jku`, `x5u`, `x5c`) or rules (`crit`), and malformed `alg`/`kid`.

use asap_core::{Algorithm, KeyKind, KeySpec, PrivateKey};
use asap_testkit::forge::{self, Hmac};
use serde_json::json;

use super::stack::{KID, Repo, Stack, claims, es256_header, signed};

#[tokio::test]
async fn header_attacks_none_hmac_embedded_keys_and_crit_never_fetch_a_key() {
    let s = Stack::start().await;
    // A server the attacker controls, named by jku/x5u: it must never be contacted.
    let attacker = Repo::start(&s.ca).await;
    let attacker_key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
    attacker.publish("jwks.json", &attacker_key);
    let c = claims();

    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": alg, "kid": KID});
        let unsigned = forge::unsigned(&header, &c);
        let refusal = format!("Token(Algorithm(Forbidden({alg:?})))");
        s.refused(&format!("alg {alg}, empty signature"), &unsigned, 401, &refusal)
            .await;
        let token = forge::with_signature(&header, &c, b"x");
        s.refused(
            &format!("alg {alg}"),
            &token,
            401,
            &format!("Token(Algorithm(Forbidden({alg:?})))"),
        )
        .await;
    }

    // The classic confusion: HMAC keyed with the verifier's own public key bytes.
    let public = s.key.public_key().expect("public");
    let pem = public.to_pem();
    let secrets: [&[u8]; 2] = [pem.as_bytes(), public.spki_der()];
    for secret in secrets {
        for hmac in Hmac::ALL {
            let name = hmac.jws_name();
            let header = json!({"alg": name, "kid": KID});
            let token = forge::signed(&header, &c, |input| hmac.sign(secret, input));
            s.refused(
                &format!("{name} keyed with the public key"),
                &token,
                401,
                &format!("Token(Algorithm(Forbidden({name:?})))"),
            )
            .await;
        }
    }

    // Headers that would let the token pick its own key or its own rules, each on a token
    // validly signed by the attacker's key.
    let attacker_jwk = json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"});
    let jwks_url = format!("{}jwks.json", attacker.url());
    for (name, value) in [
        ("jwk", attacker_jwk),
        ("jku", json!(jwks_url)),
        ("x5u", json!(jwks_url)),
        ("x5c", json!([forge::b64(b"certificate")])),
        ("crit", json!(["exp"])),
    ] {
        let mut header = es256_header();
        header[name] = value;
        let token = signed(&header, &c, &attacker_key, Algorithm::ES256);
        s.refused(
            &format!("embedded {name}"),
            &token,
            401,
            &format!("Token(ForbiddenHeader({name:?}))"),
        )
        .await;
    }

    for (case, header, refusal) in [
        (
            "alg lower case",
            json!({"alg": "es256", "kid": KID}),
            "Token(Algorithm(Unknown(\"es256\")))",
        ),
        (
            "alg with a space",
            json!({"alg": "ES256 ", "kid": KID}),
            "Token(Algorithm(Unknown(\"ES256 \")))",
        ),
        (
            "alg array",
            json!({"alg": ["ES256"], "kid": KID}),
            "Token(MissingHeader(\"alg\"))",
        ),
        (
            "alg missing",
            json!({"kid": KID}),
            "Token(MissingHeader(\"alg\"))",
        ),
        (
            "kid missing",
            json!({"alg": "ES256"}),
            "Token(MissingHeader(\"kid\"))",
        ),
        (
            "kid number",
            json!({"alg": "ES256", "kid": 1}),
            "Token(MissingHeader(\"kid\"))",
        ),
        (
            "EdDSA not enabled",
            json!({"alg": "EdDSA", "kid": KID}),
            "AlgorithmNotEnabled(EdDSA)",
        ),
    ] {
        let token = forge::with_signature(&header, &c, &[1; 64]);
        s.refused(case, &token, 401, refusal).await;
    }

    assert_eq!(s.repo.hits(), 0, "header attacks reached the key repository");
    assert_eq!(attacker.hits(), 0, "jku/x5u were followed");
}
