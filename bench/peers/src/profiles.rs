//! The profiles beyond ASAP and Connect, each next to the raw aws-lc-rs operation on the same key
//! and the same bytes, and next to the Python package it interoperates with:
//!
//! - Forge Invocation Tokens through `forge_remote::InvocationVerifier` with keys from an
//!   `asap_keys::JwksKeySource` (fetched once from a loopback server, then answered from its
//!   cache), the same verifier on a static key, and strict JWK set parsing ([`forge`]);
//! - per-user tokens (`user-tokens`, asymmetric-jwt-auth's format): sign, and verify with each
//!   nonce recorded in the default in-memory nonce store, per algorithm ([`user`]);
//! - central-issuer tokens (`issuer-tokens`, api-jwt-2's format): sign, and verify with a route
//!   policy against 1 and 4 trusted keys ([`issuer`]).
//!
//! [`profile`] runs one of these operations N times inside a function whose name contains
//! `profiled`, for `valgrind --tool=callgrind --toggle-collect='*profiled*'`.

mod forge;
mod issuer;
mod user;

use std::hint::black_box;
use std::path::Path;
use std::sync::OnceLock;

use asap_core::{Algorithm, KeyKind, KeySpec, PrivateKey, PublicKey};
use aws_lc_rs::signature::{self, ParsedPublicKey};
use serde_json::{Value, json};

use crate::Meter;

/// Every row of the profiles, as the `profiles` member of the peers report.
pub(crate) fn bench(meter: &Meter, seconds: f64) -> Value {
    let forge = forge::bench(meter);
    eprintln!("Forge: {forge}");
    let user = user::bench(meter, seconds);
    eprintln!("per-user tokens: {user}");
    let issuer = issuer::bench(meter, seconds);
    eprintln!("central-issuer tokens: {issuer}");
    json!({ "forge": forge, "user_tokens": user, "issuer_tokens": issuer })
}

/// The operations [`profile`] knows, for the usage message.
pub(crate) const PROFILES: &str = "forge-verify|forge-verify-static|forge-raw-verify|\
     forge-verify-jsonwebtoken|jwks-parse|jwks-parse-jsonwebtoken|\
     user-sign-rs256|user-raw-sign-rs256|user-verify-rs256|user-raw-verify-rs256|\
     user-sign-rs384|user-raw-sign-rs384|user-verify-rs384|user-raw-verify-rs384|\
     user-sign-rs512|user-raw-sign-rs512|user-verify-rs512|user-raw-verify-rs512|\
     user-sign-eddsa|user-raw-sign-eddsa|user-verify-eddsa|user-raw-verify-eddsa|\
     issuer-sign|issuer-raw-sign|issuer-verify-1|issuer-verify-4|issuer-raw-verify-1|\
     issuer-raw-verify-4";

/// Runs `what` `n` times inside [`crate::profiled`]; `false` when `what` is not one of these profiles.
pub(crate) fn profile(what: &str, n: usize) -> bool {
    forge::profile(what, n) || user::profile(what, n) || issuer::profile(what, n)
}

/// The keys every profile signs with, each made once per process when first used: four
/// RSA-2048 keys (the issuer profile trusts all four; the others use the first) and one Ed25519
/// key.
fn rsa(index: usize) -> &'static Pkcs8 {
    static RSA: [OnceLock<Pkcs8>; RSA_KEYS] = [const { OnceLock::new() }; RSA_KEYS];
    RSA[index].get_or_init(|| Pkcs8::generate(KeySpec::Rsa(2048)))
}

const RSA_KEYS: usize = 4;

fn ed25519() -> &'static Pkcs8 {
    static ED25519: OnceLock<Pkcs8> = OnceLock::new();
    ED25519.get_or_init(|| Pkcs8::generate(KeySpec::Curve(KeyKind::Ed25519)))
}

/// A private key kept as PKCS#8, so that each signer (ours, raw, Python) gets its own copy.
struct Pkcs8 {
    der: Vec<u8>,
    public: PublicKey,
}

impl Pkcs8 {
    fn generate(spec: KeySpec) -> Pkcs8 {
        let key = PrivateKey::generate(spec).expect("key");
        Pkcs8 {
            der: key.to_pkcs8_der().expect("pkcs8"),
            public: key.public_key().expect("public"),
        }
    }

    fn private(&self) -> PrivateKey {
        PrivateKey::from_pkcs8_der(&self.der).expect("same key")
    }

    fn private_pem(&self) -> String {
        crate::pem_encode("PRIVATE KEY", &self.der)
    }
}

/// Runs `op` once (what runs once per process: lazy tables, first allocations), then `n` times
/// inside [`crate::profiled`].
fn profile_n(n: usize, mut op: impl FnMut()) {
    op();
    for _ in 0..n {
        crate::profiled(&mut op);
    }
}

/// The raw aws-lc-rs verification for `alg`: the public key parsed once, as any user of
/// aws-lc-rs would keep it.
fn raw_key(alg: Algorithm, public: &PublicKey) -> ParsedPublicKey {
    let verification: &'static dyn signature::VerificationAlgorithm = match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::EdDSA => &signature::ED25519,
        other => panic!("no raw verifier for {other}"),
    };
    ParsedPublicKey::new(verification, public.spki_der()).expect("parsed")
}

/// The raw aws-lc-rs signature for `alg` with the key pair parsed once.
enum RawSigner {
    Rsa(signature::RsaKeyPair, &'static dyn signature::RsaEncoding),
    Ed(signature::Ed25519KeyPair),
}

impl RawSigner {
    fn new(alg: Algorithm, der: &[u8]) -> RawSigner {
        let rsa = |encoding| RawSigner::Rsa(signature::RsaKeyPair::from_pkcs8(der).expect("rsa"), encoding);
        match alg {
            Algorithm::RS256 => rsa(&signature::RSA_PKCS1_SHA256),
            Algorithm::RS384 => rsa(&signature::RSA_PKCS1_SHA384),
            Algorithm::RS512 => rsa(&signature::RSA_PKCS1_SHA512),
            Algorithm::EdDSA => {
                RawSigner::Ed(signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).expect("ed25519"))
            }
            other => panic!("no raw signer for {other}"),
        }
    }

    /// Signs and hands the signature bytes to `black_box`, as any real use would read them.
    fn sign(&self, message: &[u8]) {
        match self {
            RawSigner::Rsa(pair, encoding) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(
                    *encoding,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    message,
                    &mut sig,
                )
                .expect("sign");
                black_box(&sig);
            }
            RawSigner::Ed(pair) => {
                black_box(pair.sign(message).as_ref());
            }
        }
    }
}

/// A token split into what the raw side verifies: the signing input and the decoded signature.
fn split(token: &str) -> (String, Vec<u8>) {
    use base64::Engine as _;
    let (input, sig) = token.rsplit_once('.').expect("jws");
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .expect("b64");
    (input.to_owned(), sig)
}

/// Runs a Python peer script with `input` (JSON) on stdin and the round length as its argument;
/// its one JSON object, or `null` with a note when it cannot run.
fn python(script: &str, seconds: f64, input: &Value, what: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join(script);
    crate::script("python3", &path, seconds, Some(input), what)
}

/// `ours / theirs`, or `null` when either side is missing.
fn ratio(ours: f64, theirs: &Value) -> Value {
    match theirs.as_f64() {
        Some(theirs) if theirs > 0.0 => json!(ours / theirs),
        _ => Value::Null,
    }
}
