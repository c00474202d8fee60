//! Interop with the Python reference `atlassian-jwt-auth`, in both directions, for every
//! algorithm both sides share. Skips with a printed reason when python3 or the package is
//! missing locally; fails when `CI` is set (see asap-testkit).

use asap_core::*;
use asap_testkit::python::{self, Python};
use serde_json::{Value, json};

const ISSUER: &str = "interop-client";
const AUDIENCE: &str = "interop-server";

/// Verifies argv[1] (token) for audience argv[2] with `JWTAuthVerifier`, trusting the PEM on
/// stdin under kid argv[3] only. Prints `{"claims": ..., "header": ...}` or `{"error": ...}`.
const PY_VERIFY: &str = r#"
import json, sys
import jwt
from atlassian_jwt_auth import JWTAuthVerifier
from atlassian_jwt_auth.key import BasePublicKeyRetriever

token, audience, trusted_kid = sys.argv[1], sys.argv[2], sys.argv[3]
pem = sys.stdin.read()

class OneKey(BasePublicKeyRetriever):
    def retrieve(self, key_identifier, **kwargs):
        if key_identifier.key_id != trusted_kid:
            raise KeyError(key_identifier.key_id)
        return pem

try:
    claims = JWTAuthVerifier(OneKey()).verify_jwt(token, audience)
    print(json.dumps({"claims": claims, "header": jwt.get_unverified_header(token)}))
except Exception as e:
    print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
"#;

/// Signs a token for audience argv[4] with `create_signer(issuer=argv[1], kid=argv[2],
/// private PEM on stdin, algorithm=argv[3])` and extra claims argv[5] (JSON); prints it.
const PY_SIGN: &str = r#"
import json, sys
from atlassian_jwt_auth import create_signer

issuer, kid, alg, audience, extra = sys.argv[1:6]
signer = create_signer(issuer, kid, sys.stdin.read(), algorithm=alg)
token = signer.generate_jwt(audience, additional_claims=json.loads(extra))
print(token.decode("ascii"))
"#;

const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::ES512,
];

fn python() -> Option<Python> {
    python::require(&["atlassian_jwt_auth", "jwt", "cryptography"])
}

fn kid_for(alg: Algorithm) -> KeyId {
    KeyId::parse(&format!("{ISSUER}/{alg}-key")).expect("valid kid")
}

fn key_for(alg: Algorithm) -> PrivateKey {
    PrivateKey::generate(KeySpec::for_algorithm(alg)).expect("generate key")
}

fn signer_for(alg: Algorithm, key: PrivateKey) -> Signer {
    Signer::builder(ISSUER)
        .key(SigningKey::new(kid_for(alg), key, Some(alg)).expect("key fits alg"))
        .build()
        .expect("signer")
}

fn python_verify(py: &Python, token: &str, kid: &KeyId, public_pem: &str) -> Value {
    let out = py.run(PY_VERIFY, &[token, AUDIENCE, kid.as_str()], public_pem);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("python printed non-JSON ({e}): {out}"))
}

#[test]
fn tokens_signed_here_verify_in_python() {
    let Some(py) = python() else { return };
    for alg in ALGORITHMS {
        let key = key_for(alg);
        let public_pem = key.public_key().expect("public key").to_pem();
        let signer = signer_for(alg, key);
        let request = TokenRequest::new(Audience::new(AUDIENCE).expect("audience")).claim("scope", "read");
        let token = signer.sign_request(&request).expect("sign");

        let result = python_verify(&py, token.as_str(), &kid_for(alg), &public_pem);
        assert!(
            result.get("error").is_none(),
            "{alg}: python rejected our token: {result}"
        );
        let (claims, header) = (&result["claims"], &result["header"]);
        assert_eq!(header["alg"], alg.to_string(), "{alg}");
        assert_eq!(header["kid"], kid_for(alg).as_str(), "{alg}");
        assert_eq!(claims["iss"], ISSUER, "{alg}");
        assert_eq!(claims["sub"], ISSUER, "{alg}");
        assert_eq!(claims["aud"], AUDIENCE, "{alg}");
        assert_eq!(claims["scope"], "read", "{alg}");
    }
}

#[test]
fn python_rejects_a_token_signed_here_with_another_key() {
    // The control for the test above: the Python harness really checks signatures.
    let Some(py) = python() else { return };
    for alg in [Algorithm::RS256, Algorithm::ES512] {
        let signer = signer_for(alg, key_for(alg));
        let other_public = key_for(alg).public_key().expect("public key").to_pem();
        let token = signer
            .sign(&Audience::new(AUDIENCE).expect("audience"))
            .expect("sign");

        let result = python_verify(&py, token.as_str(), &kid_for(alg), &other_public);
        let error = result["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("InvalidSignature"),
            "{alg}: expected a signature error, got {result}"
        );
    }
}

#[tokio::test]
async fn tokens_signed_by_python_verify_here() {
    let Some(py) = python() else { return };
    for alg in ALGORITHMS {
        let key = key_for(alg);
        let kid = kid_for(alg);
        let keys = StaticKeySource::new().with_key(kid.clone(), key.public_key().expect("public key"));
        let verifier = Verifier::builder(keys)
            .audience(Audience::new(AUDIENCE).expect("audience"))
            .allowed_issuers([ISSUER])
            .build()
            .expect("verifier");
        let private_pem = key.to_pkcs8_pem().expect("pkcs8 pem");
        let extra = json!({ "scope": "write" }).to_string();

        let token = py.run(
            PY_SIGN,
            &[ISSUER, kid.as_str(), &alg.to_string(), AUDIENCE, &extra],
            &private_pem,
        );
        let verified = verifier
            .verify(&token)
            .await
            .unwrap_or_else(|e| panic!("{alg}: python's token rejected: {e}"));
        assert_eq!(verified.algorithm(), alg);
        assert_eq!(verified.kid(), &kid);
        assert_eq!(verified.issuer(), ISSUER);
        // Python sets `sub` to the issuer, which the default subject rule requires.
        assert_eq!(verified.claims().sub_claim(), Some(ISSUER));
        assert_eq!(verified.claims().audiences(), [AUDIENCE.to_owned()]);
        assert_eq!(verified.claims().get("scope"), Some(&json!("write")));
        assert!(!verified.claims().jti().is_empty());
    }
}

#[tokio::test]
async fn a_python_token_for_another_audience_is_rejected_here() {
    let Some(py) = python() else { return };
    let alg = Algorithm::ES256;
    let key = key_for(alg);
    let kid = kid_for(alg);
    let keys = StaticKeySource::new().with_key(kid.clone(), key.public_key().expect("public key"));
    let verifier = Verifier::builder(keys)
        .audience(Audience::new(AUDIENCE).expect("audience"))
        .build()
        .expect("verifier");
    let token = py.run(
        PY_SIGN,
        &[ISSUER, kid.as_str(), "ES256", "someone-else", "{}"],
        &key.to_pkcs8_pem().expect("pkcs8 pem"),
    );
    let err = verifier
        .verify(&token)
        .await
        .expect_err("wrong audience must fail");
    assert_eq!(err.outcome().status(), 401, "{err}");
}
