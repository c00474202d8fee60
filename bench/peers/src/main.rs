//! asap-rs next to the Rust JWT libraries a user would pick instead, in one run, with the same
//! keys and the same claims; and Connect HS256 next to raw HMAC-SHA256 and the Python and npm
//! `atlassian-jwt` packages.
//!
//! `cargo run --release -- [--seconds S] [--out FILE]` (what `cargo xtask bench` runs). Every
//! library signs fresh tokens (a new 128-bit `jti` each, made the same way for the peers as ours
//! makes its own) and verifies a pool of 64 of its own fresh tokens with its own claim
//! validation on: issuer, audience, `exp`/`nbf` with leeway. Each comparison is measured in
//! alternating rounds and the best round of each side kept, so that load from other processes
//! hurts every side alike.

use std::collections::BTreeMap;
use std::future::Future;
use std::hint::black_box;
use std::io::Write as _;
use std::path::Path;
use std::pin::pin;
use std::process::{Command, Stdio};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use asap_core::{
    Algorithm, Audience, KeyId, KeyKind, KeySpec, PrivateKey, Signer, SigningKey, StaticKeySource, Verifier,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

mod connect;
mod profiles;

/// Polls a future that completes without waiting (static keys and secrets never wait).
fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("benchmarked future was not immediately ready"),
    }
}

/// Rounds per measurement, each side's rounds interleaved and its best kept: more, shorter
/// rounds give each side more chances at a moment the other core is quiet (on a shared 2-core VM
/// a rate moves by several percent between seconds), at the same total time.
const ROUNDS: usize = 9;

/// Operations per second, best of `rounds` rounds of `round` each, the sides alternating.
struct Meter {
    round: Duration,
    rounds: usize,
}

impl Meter {
    fn compare(&self, ops: &mut [&mut dyn FnMut(usize)]) -> Vec<f64> {
        let mut best = vec![0f64; ops.len()];
        for _ in 0..self.rounds {
            for (op, best) in ops.iter_mut().zip(&mut best) {
                *best = best.max(self.once(op));
            }
        }
        best
    }

    fn once(&self, op: &mut dyn FnMut(usize)) -> f64 {
        let start = Instant::now();
        let mut n = 0usize;
        while start.elapsed() < self.round {
            for _ in 0..16 {
                op(n);
                n += 1;
            }
        }
        n as f64 / start.elapsed().as_secs_f64()
    }
}

const ISSUER: &str = "bench";
const KID: &str = "bench/key";
const AUDIENCE: &str = "svc";
const LIFETIME: u64 = 60;
const LEEWAY: u64 = 30;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// A fresh 128-bit `jti` for the peers, as ours makes its own: aws-lc-rs random bytes in hex.
fn jti() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("random");
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// The claims every library signs: ASAP's set.
#[derive(Serialize, Deserialize)]
struct AsapClaims {
    iss: String,
    sub: String,
    aud: String,
    jti: String,
    iat: u64,
    nbf: u64,
    exp: u64,
}

fn claims() -> AsapClaims {
    let now = now();
    AsapClaims {
        iss: ISSUER.into(),
        sub: ISSUER.into(),
        aud: AUDIENCE.into(),
        jti: jti(),
        iat: now,
        nbf: now,
        exp: now + LIFETIME,
    }
}

struct Keys {
    private: PrivateKey,
    private_pem: String,
    public_pem: String,
}

fn keys(alg: Algorithm) -> Keys {
    let spec = match alg.key_kind() {
        KeyKind::Rsa => KeySpec::Rsa(2048),
        kind => KeySpec::Curve(kind),
    };
    let private = PrivateKey::generate(spec).expect("key");
    let der = private.to_pkcs8_der().expect("pkcs8");
    let private_pem = pem_encode("PRIVATE KEY", &der);
    let public_pem = private.public_key().expect("public").to_pem();
    Keys {
        private,
        private_pem,
        public_pem,
    }
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("ascii"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Our sign and verify for `alg`.
struct Ours {
    signer: Signer,
    verifier: Verifier,
    audience: Audience,
}

fn ours(alg: Algorithm, keys: &Keys) -> Ours {
    let kid = KeyId::parse(KID).expect("kid");
    let public = keys.private.public_key().expect("public");
    let private = PrivateKey::from_pem(&keys.private_pem).expect("same key");
    Ours {
        signer: Signer::builder(ISSUER)
            .key(SigningKey::new(kid.clone(), private, Some(alg)).expect("sk"))
            .lifetime(Duration::from_secs(LIFETIME))
            .build()
            .expect("signer"),
        verifier: Verifier::builder(StaticKeySource::new().with_key(kid, public))
            .audience(Audience::new(AUDIENCE).expect("aud"))
            .leeway(Duration::from_secs(LEEWAY))
            .enable_eddsa(true)
            .build()
            .expect("verifier"),
        audience: Audience::new(AUDIENCE).expect("aud"),
    }
}

/// jsonwebtoken with its aws-lc-rs backend.
mod jsonwebtoken_peer {
    use jsonwebtoken::{Algorithm as A, DecodingKey, EncodingKey, Header, Validation};

    use super::*;

    pub(crate) struct Peer {
        header: Header,
        encoding: EncodingKey,
        decoding: DecodingKey,
        validation: Validation,
    }

    pub(crate) fn new(alg: Algorithm, keys: &Keys) -> Option<Peer> {
        let (a, encoding, decoding) = match alg {
            Algorithm::RS256 | Algorithm::PS256 => (
                if alg == Algorithm::RS256 {
                    A::RS256
                } else {
                    A::PS256
                },
                EncodingKey::from_rsa_pem(keys.private_pem.as_bytes()).ok()?,
                DecodingKey::from_rsa_pem(keys.public_pem.as_bytes()).ok()?,
            ),
            Algorithm::ES256 | Algorithm::ES384 => (
                if alg == Algorithm::ES256 {
                    A::ES256
                } else {
                    A::ES384
                },
                EncodingKey::from_ec_pem(keys.private_pem.as_bytes()).ok()?,
                DecodingKey::from_ec_pem(keys.public_pem.as_bytes()).ok()?,
            ),
            Algorithm::EdDSA => (
                A::EdDSA,
                EncodingKey::from_ed_pem(keys.private_pem.as_bytes()).ok()?,
                DecodingKey::from_ed_pem(keys.public_pem.as_bytes()).ok()?,
            ),
            _ => return None,
        };
        let mut header = Header::new(a);
        header.kid = Some(KID.into());
        let mut validation = Validation::new(a);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY;
        Some(Peer {
            header,
            encoding,
            decoding,
            validation,
        })
    }

    impl Peer {
        pub(crate) fn sign(&self) -> String {
            jsonwebtoken::encode(&self.header, &claims(), &self.encoding).expect("sign")
        }

        pub(crate) fn verify(&self, token: &str) {
            let data =
                jsonwebtoken::decode::<AsapClaims>(token, &self.decoding, &self.validation).expect("verify");
            black_box(data);
        }
    }
}

/// jwt-simple with its pure-Rust backend (`rsa`, `p256`, `p384`, `ed25519-compact`).
mod jwt_simple_peer {
    use jwt_simple::prelude::*;

    use super::{AUDIENCE, Algorithm, ISSUER, KID, Keys, LEEWAY, LIFETIME, jti};

    pub(crate) trait Peer {
        fn sign(&self) -> String;
        fn verify(&self, token: &str);
    }

    fn options() -> VerificationOptions {
        VerificationOptions {
            allowed_issuers: Some(HashSet::from_strings(&[ISSUER])),
            allowed_audiences: Some(HashSet::from_strings(&[AUDIENCE])),
            time_tolerance: Some(Duration::from_secs(LEEWAY)),
            ..Default::default()
        }
    }

    fn claims() -> JWTClaims<NoCustomClaims> {
        Claims::create(Duration::from_secs(LIFETIME))
            .with_issuer(ISSUER)
            .with_subject(ISSUER)
            .with_audience(AUDIENCE)
            .with_jwt_id(jti())
    }

    macro_rules! peer {
        ($name:ident, $pair:ty, $public:ty) => {
            struct $name {
                pair: $pair,
                public: $public,
                options: VerificationOptions,
            }

            impl Peer for $name {
                fn sign(&self) -> String {
                    self.pair.sign(claims()).expect("sign")
                }

                fn verify(&self, token: &str) {
                    let claims = self
                        .public
                        .verify_token::<NoCustomClaims>(token, Some(self.options.clone()))
                        .expect("verify");
                    std::hint::black_box(claims);
                }
            }
        };
    }

    peer!(Rs256, RS256KeyPair, RS256PublicKey);
    peer!(Ps256, PS256KeyPair, PS256PublicKey);
    peer!(Es256, ES256KeyPair, ES256PublicKey);
    peer!(Es384, ES384KeyPair, ES384PublicKey);
    peer!(Ed, Ed25519KeyPair, Ed25519PublicKey);

    pub(crate) fn new(alg: Algorithm, keys: &Keys) -> Option<Box<dyn Peer>> {
        let (private, public) = (keys.private_pem.as_str(), keys.public_pem.as_str());
        let options = options();
        Some(match alg {
            Algorithm::RS256 => Box::new(Rs256 {
                pair: RS256KeyPair::from_pem(private).ok()?.with_key_id(KID),
                public: RS256PublicKey::from_pem(public).ok()?,
                options,
            }),
            Algorithm::PS256 => Box::new(Ps256 {
                pair: PS256KeyPair::from_pem(private).ok()?.with_key_id(KID),
                public: PS256PublicKey::from_pem(public).ok()?,
                options,
            }),
            Algorithm::ES256 => Box::new(Es256 {
                pair: ES256KeyPair::from_pem(private).ok()?.with_key_id(KID),
                public: ES256PublicKey::from_pem(public).ok()?,
                options,
            }),
            Algorithm::ES384 => Box::new(Es384 {
                pair: ES384KeyPair::from_pem(private).ok()?.with_key_id(KID),
                public: ES384PublicKey::from_pem(public).ok()?,
                options,
            }),
            Algorithm::EdDSA => Box::new(Ed {
                pair: Ed25519KeyPair::from_pem(private).ok()?.with_key_id(KID),
                public: Ed25519PublicKey::from_pem(public).ok()?,
                options,
            }),
            _ => return None,
        })
    }
}

fn pool(sign: impl Fn() -> String) -> Vec<String> {
    (0..64).map(|_| sign()).collect()
}

fn bench_algorithm(meter: &Meter, alg: Algorithm) -> Value {
    let keys = keys(alg);
    let us = ours(alg, &keys);
    let jwt = jsonwebtoken_peer::new(alg, &keys);
    let simple = jwt_simple_peer::new(alg, &keys);

    let our_pool: Vec<String> = (0..64)
        .map(|_| us.signer.sign(&us.audience).expect("token").as_str().to_owned())
        .collect();
    let mut row = serde_json::Map::new();
    let mut peer_entry = |name: &str, sign: &dyn Fn() -> String, verify: &dyn Fn(&str)| {
        let theirs = pool(sign);
        let v = meter.compare(&mut [
            &mut |i| {
                black_box(ready(us.verifier.verify(&our_pool[i % 64])).expect("ours"));
            },
            &mut |i| verify(&theirs[i % 64]),
        ]);
        let s = meter.compare(&mut [
            &mut |_| {
                black_box(us.signer.sign(&us.audience).expect("ours"));
            },
            &mut |_| {
                black_box(sign());
            },
        ]);
        row.insert(
            name.into(),
            json!({
                "sign_per_s": s[1], "verify_per_s": v[1],
                "our_sign_per_s": s[0], "our_verify_per_s": v[0],
                "our_sign_ratio": s[0] / s[1], "our_verify_ratio": v[0] / v[1],
            }),
        );
    };
    if let Some(p) = &jwt {
        peer_entry("jsonwebtoken", &|| p.sign(), &|t| p.verify(t));
    }
    if let Some(p) = &simple {
        peer_entry("jwt-simple", &|| p.sign(), &|t| p.verify(t));
    }
    Value::Object(row)
}

/// The algorithms of the side-by-side rows, as `--profile` names them.
const PROFILED_ALGORITHMS: [(Algorithm, &str); 5] = [
    (Algorithm::RS256, "rs256"),
    (Algorithm::PS256, "ps256"),
    (Algorithm::ES256, "es256"),
    (Algorithm::ES384, "es384"),
    (Algorithm::EdDSA, "eddsa"),
];

/// `peer-{sign,verify}-<alg>-{ours,jsonwebtoken}`: the side-by-side rows' operations one at a
/// time, so that callgrind counts ours and jsonwebtoken's (the same aws-lc calls underneath) on
/// the same key and claims, where the wall clock cannot tell them apart.
fn algorithm_profiles() -> String {
    let mut names = Vec::new();
    for (_, alg) in PROFILED_ALGORITHMS {
        for op in ["sign", "verify"] {
            for who in ["ours", "jsonwebtoken"] {
                names.push(format!("peer-{op}-{alg}-{who}"));
            }
        }
    }
    names.join("|")
}

/// Runs one of [`algorithm_profiles`] `n` times inside [`profiled`]; `false` for another name.
fn algorithm_profile(what: &str, n: usize) -> bool {
    let Some(rest) = what.strip_prefix("peer-") else {
        return false;
    };
    let Some((op, rest)) = rest.split_once('-') else {
        return false;
    };
    let Some((name, who)) = rest.split_once('-') else {
        return false;
    };
    let Some(&(alg, _)) = PROFILED_ALGORITHMS.iter().find(|(_, a)| *a == name) else {
        return false;
    };
    let keys = keys(alg);
    let us = ours(alg, &keys);
    let jwt = jsonwebtoken_peer::new(alg, &keys).expect("jsonwebtoken supports every profiled algorithm");
    let ours_pool: Vec<String> = (0..64)
        .map(|_| us.signer.sign(&us.audience).expect("token").as_str().to_owned())
        .collect();
    let theirs_pool = pool(|| jwt.sign());
    let op: &dyn Fn(usize) = match (op, who) {
        ("sign", "ours") => &|_| {
            black_box(us.signer.sign(&us.audience).expect("ours"));
        },
        ("sign", "jsonwebtoken") => &|_| {
            black_box(jwt.sign());
        },
        ("verify", "ours") => &|i| {
            black_box(ready(us.verifier.verify(&ours_pool[i % 64])).expect("ours"));
        },
        ("verify", "jsonwebtoken") => &|i| jwt.verify(&theirs_pool[i % 64]),
        _ => return false,
    };
    for i in 0..n {
        profiled(&mut || op(i));
    }
    true
}

/// The one frame callgrind collects in (`--toggle-collect='*profiled*'`): one operation.
#[inline(never)]
fn profiled(op: &mut dyn FnMut()) {
    op();
}

/// Runs a peer script (`program script seconds`, with `input` as JSON on its stdin when given)
/// that prints one JSON object; `null` with a note when it cannot run.
fn script(program: &str, script: &Path, seconds: f64, input: Option<&Value>, what: &str) -> Value {
    let child = Command::new(program)
        .arg(script)
        .arg(seconds.to_string())
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            eprintln!("note: {what} was not measured ({program}: {e})");
            return Value::Null;
        }
    };
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // A script that exits early (a missing package) closes its end: the note says why.
        let _ = stdin.write_all(input.to_string().as_bytes());
    }
    match child.wait_with_output() {
        Ok(out) if out.status.success() => serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        Ok(out) => {
            eprintln!(
                "note: {what} was not measured: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            Value::Null
        }
        Err(e) => {
            eprintln!("note: {what} was not measured ({e})");
            Value::Null
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut seconds, mut out) = (0.6f64, None::<String>);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().and_then(|s| s.parse().ok()).expect("--seconds S"),
            "--out" => out = args.next(),
            "--profile" => {
                let what = args
                    .next()
                    .unwrap_or_else(|| {
                        panic!(
                            "--profile {}|{}|{} N",
                            algorithm_profiles(),
                            connect::PROFILES,
                            profiles::PROFILES
                        )
                    });
                let n = args.next().and_then(|n| n.parse().ok()).expect("N");
                if !algorithm_profile(&what, n) && !profiles::profile(&what, n) {
                    connect::profile(&what, n);
                }
                return;
            }
            other => panic!("unknown argument {other}"),
        }
    }
    let meter = Meter {
        round: Duration::from_secs_f64(seconds / ROUNDS as f64),
        rounds: ROUNDS,
    };
    let mut algorithms = BTreeMap::new();
    for alg in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ] {
        let row = bench_algorithm(&meter, alg);
        eprintln!("{alg}: {row}");
        algorithms.insert(alg.as_str(), row);
    }
    let connect = connect::bench(&meter, seconds);
    let profiles = profiles::bench(&meter, seconds);
    let report = json!({
        "versions": { "jsonwebtoken": "12", "jwt-simple": "0.15 (pure-rust)" },
        "algorithms": algorithms,
        "connect_hs256": connect,
        "profiles": profiles,
    });
    let text = serde_json::to_string_pretty(&report).expect("json");
    match out {
        Some(path) => std::fs::write(path, text).expect("write report"),
        None => println!("{text}"),
    }
}
