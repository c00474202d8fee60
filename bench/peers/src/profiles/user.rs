//! Per-user tokens (asymmetric-jwt-auth 1.3.0's format): `UserSigner::sign` and
//! `UserVerifier::verify` (key by `(username, fingerprint)` from `StaticUserKeys`, each nonce
//! recorded in the verifier's default in-memory nonce store) per algorithm, next to raw
//! aws-lc-rs on the same key and bytes, and the Python package signing and verifying its own
//! tokens with the same keys in the same run.
//!
//! A nonce is good once, so verification needs a pool of distinct tokens: [`POOL`] of them,
//! verified in turn by a verifier built afresh (an empty nonce store) for each pass over the
//! pool; the rebuild is inside the measured loop, once per [`POOL`] verifications.

use std::cell::RefCell;
use std::hint::black_box;
use std::sync::Arc;

use asap_core::{Algorithm, ManualClock};
use aws_lc_rs::signature::ParsedPublicKey;
use serde_json::{Value, json};
use user_tokens::{StaticUserKeys, UserSigner, UserVerifier};

use super::{Pkcs8, RawSigner, ed25519, profile_n, python, ratio, raw_key, rsa, split};
use crate::{Meter, now, ready};

const USERNAME: &str = "ann";
/// Tokens per pass: under the default store's 1,000 nonces per user.
const POOL: usize = 512;
/// The pool's tokens claim a `time` this far ahead of now, so that they stay within the ±20 s
/// window from 5 s before to 35 s after they were made.
const AHEAD: i64 = 15;

const ALGORITHMS: [(Algorithm, &str); 4] = [
    (Algorithm::RS256, "rs256"),
    (Algorithm::RS384, "rs384"),
    (Algorithm::RS512, "rs512"),
    (Algorithm::EdDSA, "eddsa"),
];

struct Setup {
    signer: UserSigner,
    keys: Arc<StaticUserKeys>,
    raw_signer: RawSigner,
    raw: ParsedPublicKey,
}

fn key_of(alg: Algorithm) -> &'static Pkcs8 {
    match alg {
        Algorithm::EdDSA => ed25519(),
        _ => rsa(0),
    }
}

fn setup(alg: Algorithm) -> Setup {
    let key = key_of(alg);
    Setup {
        signer: UserSigner::with_algorithm(USERNAME, key.private(), alg).expect("signer"),
        keys: Arc::new(StaticUserKeys::new().with_key(USERNAME, key.public.clone())),
        raw_signer: RawSigner::new(alg, &key.der),
        raw: raw_key(alg, &key.public),
    }
}

impl Setup {
    /// `count` distinct fresh tokens claiming `now + AHEAD`.
    fn pool(&self, count: usize) -> Vec<String> {
        let ahead = self.signer.clone().clock(Arc::new(ManualClock::new(
            i64::try_from(now()).expect("now") + AHEAD,
        )));
        (0..count).map(|_| ahead.sign().expect("token")).collect()
    }

    /// A verifier as a service builds it: default tolerance, default in-memory nonce store.
    fn verifier(&self) -> UserVerifier {
        UserVerifier::builder_shared(self.keys.clone())
            .build()
            .expect("verifier")
    }
}

pub(super) fn bench(meter: &Meter, seconds: f64) -> Value {
    let mut rows = serde_json::Map::new();
    for (alg, _) in ALGORITHMS {
        let s = setup(alg);
        let tokens = s.pool(POOL);
        let split: Vec<(String, Vec<u8>)> = tokens.iter().map(|t| split(t)).collect();
        let verifier = RefCell::new(s.verifier());
        let v = meter.compare(&mut [
            &mut |i| {
                if i % POOL == 0 {
                    *verifier.borrow_mut() = s.verifier();
                }
                let verifier = verifier.borrow();
                black_box(ready(verifier.verify(&tokens[i % POOL])).expect("ours"));
            },
            &mut |i| {
                let (input, sig) = &split[i % POOL];
                s.raw
                    .verify_sig(black_box(input.as_bytes()), black_box(sig))
                    .expect("raw");
            },
        ]);
        let input = split[0].0.clone();
        let g = meter.compare(&mut [
            &mut |_| {
                black_box(s.signer.sign().expect("ours"));
            },
            &mut |_| s.raw_signer.sign(black_box(input.as_bytes())),
        ]);
        rows.insert(
            alg.as_str().into(),
            json!({
                "sign_per_s": g[0], "raw_sign_per_s": g[1], "sign_ratio": g[0] / g[1],
                "verify_per_s": v[0], "raw_verify_per_s": v[1], "verify_ratio": v[0] / v[1],
            }),
        );
    }
    let input = json!({
        "username": USERNAME,
        "rsa_private_pem": rsa(0).private_pem(),
        "ed25519_private_pem": ed25519().private_pem(),
        "pool": POOL,
    });
    let py = python(
        "user_tokens_python.py",
        seconds,
        &input,
        "Python asymmetric-jwt-auth",
    );
    for (alg, row) in &mut rows {
        let theirs = &py["algorithms"][alg.as_str()];
        let row = row.as_object_mut().expect("row");
        let (sign, verify) = (row["sign_per_s"].as_f64(), row["verify_per_s"].as_f64());
        row.insert(
            "python".into(),
            json!({
                "sign_per_s": theirs["sign_per_s"], "verify_per_s": theirs["verify_per_s"],
                "sign_via": theirs["sign_via"],
                "our_sign_ratio": ratio(sign.unwrap_or(0.0), &theirs["sign_per_s"]),
                "our_verify_ratio": ratio(verify.unwrap_or(0.0), &theirs["verify_per_s"]),
            }),
        );
    }
    json!({
        "pool": POOL,
        "python_version": py["version"],
        "algorithms": rows,
    })
}

pub(super) fn profile(what: &str, n: usize) -> bool {
    let Some((op, alg)) = what.strip_prefix("user-").and_then(|rest| {
        ["raw-verify-", "raw-sign-", "verify-", "sign-"]
            .into_iter()
            .find_map(|op| {
                let name = rest.strip_prefix(op)?;
                let (alg, _) = ALGORITHMS.into_iter().find(|(_, n)| *n == name)?;
                Some((op, alg))
            })
    }) else {
        return false;
    };
    let s = setup(alg);
    // A token per verification (a nonce is good once), one more for the run outside the frame.
    let tokens = s.pool(if op == "verify-" { n + 1 } else { 1 });
    let (input, sig) = split(&tokens[0]);
    let verifier = s.verifier();
    let mut next = tokens.iter();
    profile_n(n, || match op {
        "verify-" => {
            let token = next.next().expect("a token per verification");
            drop(black_box(ready(verifier.verify(black_box(token))).expect("ours")));
        }
        "raw-verify-" => s
            .raw
            .verify_sig(black_box(input.as_bytes()), black_box(&sig))
            .expect("raw"),
        "sign-" => drop(black_box(s.signer.sign().expect("ours"))),
        _ => s.raw_signer.sign(black_box(input.as_bytes())),
    });
    true
}
