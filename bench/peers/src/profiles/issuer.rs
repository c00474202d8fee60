//! Central-issuer tokens (api-jwt-2 1.3.2's format): `IssuerVerifier::verify` and a route's
//! `IssuerPolicy` with 1 trusted key and with 4 (tokens name no key, so the verifier tries them
//! in order; here the signing key is the last), next to raw aws-lc-rs RS256 doing the same (one
//! key; four keys tried in the same order), and `IssuerSigner::sign` next to a raw RS256
//! signature. Python api_jwt's `APIJwt.decode()` and PyJWT's `jwt.decode` verify the same
//! tokens in the same run, and `APIJwt.encode()` signs its own.

use std::hint::black_box;

use asap_core::{Algorithm, Audience};
use aws_lc_rs::signature::ParsedPublicKey;
use issuer_tokens::{IssueRequest, IssuerPolicy, IssuerSigner, IssuerVerifier};
use serde_json::{Value, json};

use super::{RawSigner, profile_n, python, ratio, raw_key, rsa, split};
use crate::Meter;

/// The audience api_jwt's `decode()` requires of every token.
const AUDIENCE: &str = "aud";

struct Setup {
    signer: IssuerSigner,
    request: IssueRequest,
    one: IssuerVerifier,
    four: IssuerVerifier,
    policy: IssuerPolicy,
    raw_signer: RawSigner,
    /// The trusted keys in the order the 4-key verifier tries them; the signing key last.
    raw: Vec<ParsedPublicKey>,
    tokens: Vec<String>,
    split: Vec<(String, Vec<u8>)>,
}

fn setup() -> Setup {
    let signing = rsa(0);
    let signer = IssuerSigner::new(signing.private())
        .expect("signer")
        .audience(AUDIENCE);
    let request = IssueRequest::new("ann@example.com")
        .role("user")
        .level(3.0)
        .factor("password")
        .scopes(["user:all"]);
    let verifier = |trusted: &[&super::Pkcs8]| {
        trusted
            .iter()
            .fold(IssuerVerifier::builder(), |b, k| b.trusted_key(k.public.clone()))
            .audience(Audience::new(AUDIENCE).expect("audience"))
            .build()
            .expect("verifier")
    };
    let order = [rsa(1), rsa(2), rsa(3), signing];
    let tokens: Vec<String> = (0..64).map(|_| signer.sign(&request).expect("token")).collect();
    Setup {
        one: verifier(&[signing]),
        four: verifier(&order),
        policy: IssuerPolicy::new()
            .min_level(3.0)
            .require_scopes(["user:all"])
            .role_scopes("user", ["user:all"]),
        raw_signer: RawSigner::new(Algorithm::RS256, &signing.der),
        raw: order
            .iter()
            .map(|k| raw_key(Algorithm::RS256, &k.public))
            .collect(),
        split: tokens.iter().map(|t| split(t)).collect(),
        tokens,
        signer,
        request,
    }
}

impl Setup {
    fn verify(&self, verifier: &IssuerVerifier, token: &str) {
        let claims = verifier.verify(token).expect("ours");
        self.policy.check(&claims).expect("policy");
        black_box(claims);
    }

    /// Raw RS256 against the first `keys` of the 4-key order, ending with the signing key:
    /// what a caller of aws-lc-rs does for a token that names no key.
    fn raw_verify(&self, keys: usize, (input, sig): &(String, Vec<u8>)) {
        let tried = &self.raw[self.raw.len() - keys..];
        let ok = tried.iter().any(|key| {
            key.verify_sig(black_box(input.as_bytes()), black_box(sig))
                .is_ok()
        });
        assert!(ok, "raw");
    }
}

pub(super) fn bench(meter: &Meter, seconds: f64) -> Value {
    let s = setup();
    let n = s.tokens.len();
    let one = meter.compare(&mut [&mut |i| s.verify(&s.one, &s.tokens[i % n]), &mut |i| {
        s.raw_verify(1, &s.split[i % n])
    }]);
    let four = meter.compare(&mut [&mut |i| s.verify(&s.four, &s.tokens[i % n]), &mut |i| {
        s.raw_verify(4, &s.split[i % n])
    }]);
    let input = s.split[0].0.clone();
    let sign = meter.compare(&mut [
        &mut |_| {
            black_box(s.signer.sign(&s.request).expect("ours"));
        },
        &mut |_| s.raw_signer.sign(black_box(input.as_bytes())),
    ]);
    let public_pems = [1, 2, 3, 0].map(|i| rsa(i).public.to_pem());
    let py = python(
        "issuer_tokens_python.py",
        seconds,
        &json!({
            "tokens": s.tokens,
            // The 4-key order; the 1-key rows use the last.
            "public_pems": public_pems,
            "private_pem": rsa(0).private_pem(),
        }),
        "Python api-jwt-2",
    );
    let with_python = |ours: f64, key: &str| {
        json!({
            "api_jwt_decode_per_s": py[key]["api_jwt_decode_per_s"],
            "pyjwt_decode_per_s": py[key]["pyjwt_decode_per_s"],
            "our_ratio_to_api_jwt": ratio(ours, &py[key]["api_jwt_decode_per_s"]),
            "our_ratio_to_pyjwt": ratio(ours, &py[key]["pyjwt_decode_per_s"]),
        })
    };
    json!({
        "token_bytes": s.tokens[0].len(),
        "python_version": py["version"],
        "keys_1": {
            "verify_per_s": one[0], "raw_verify_per_s": one[1], "verify_ratio": one[0] / one[1],
            "python": with_python(one[0], "keys_1"),
        },
        "keys_4_last_matches": {
            "verify_per_s": four[0], "raw_verify_per_s": four[1], "verify_ratio": four[0] / four[1],
            "python": with_python(four[0], "keys_4_last_matches"),
        },
        "sign": {
            "sign_per_s": sign[0], "raw_sign_per_s": sign[1], "sign_ratio": sign[0] / sign[1],
            "python_api_jwt_encode_per_s": py["api_jwt_encode_per_s"],
            "our_ratio_to_api_jwt": ratio(sign[0], &py["api_jwt_encode_per_s"]),
        },
    })
}

pub(super) fn profile(what: &str, n: usize) -> bool {
    let known = [
        "issuer-verify-1",
        "issuer-verify-4",
        "issuer-raw-verify-1",
        "issuer-raw-verify-4",
        "issuer-sign",
        "issuer-raw-sign",
    ];
    if !known.contains(&what) {
        return false;
    }
    let s = setup();
    let (token, split) = (&s.tokens[0], &s.split[0]);
    profile_n(n, || match what {
        "issuer-verify-1" => s.verify(&s.one, black_box(token)),
        "issuer-verify-4" => s.verify(&s.four, black_box(token)),
        "issuer-raw-verify-1" => s.raw_verify(1, split),
        "issuer-raw-verify-4" => s.raw_verify(4, split),
        "issuer-sign" => drop(black_box(s.signer.sign(&s.request).expect("ours"))),
        _ => s.raw_signer.sign(black_box(split.0.as_bytes())),
    });
    true
}
