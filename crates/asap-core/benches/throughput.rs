//! Throughput of every operation next to its crypto limit, measured in one run, as JSON.
//!
//! `cargo bench -p asap-core --bench throughput [-- --seconds S --out FILE]`; `cargo xtask bench`
//! runs it and prints the table. Each pair (ours, raw aws-lc-rs on the same key and bytes) is
//! measured in alternating rounds and the best round of each is kept, so that load from other
//! processes hurts both sides alike.

#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use asap_core::*;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, ParsedPublicKey, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// Polls a future that completes without waiting (a static key source never waits).
fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("benchmarked future was not immediately ready"),
    }
}

/// Operations per second of `op`, best of `rounds` rounds of `round` each.
struct Meter {
    round: Duration,
    rounds: usize,
}

impl Meter {
    fn pair(&self, mut ours: impl FnMut(usize), mut raw: impl FnMut(usize)) -> (f64, f64) {
        let (mut best_ours, mut best_raw) = (0f64, 0f64);
        for _ in 0..self.rounds {
            best_ours = best_ours.max(self.once(&mut ours));
            best_raw = best_raw.max(self.once(&mut raw));
        }
        (best_ours, best_raw)
    }

    fn single(&self, mut op: impl FnMut(usize)) -> f64 {
        (0..self.rounds).map(|_| self.once(&mut op)).fold(0f64, f64::max)
    }

    fn once(&self, op: &mut impl FnMut(usize)) -> f64 {
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

enum RawSigner {
    Rsa(RsaKeyPair, &'static dyn signature::RsaEncoding),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl RawSigner {
    fn new(alg: Algorithm, der: &[u8]) -> RawSigner {
        match alg {
            Algorithm::RS256 => RawSigner::Rsa(
                RsaKeyPair::from_pkcs8(der).expect("rsa"),
                &signature::RSA_PKCS1_SHA256,
            ),
            Algorithm::PS256 => RawSigner::Rsa(
                RsaKeyPair::from_pkcs8(der).expect("rsa"),
                &signature::RSA_PSS_SHA256,
            ),
            Algorithm::ES256 => RawSigner::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der).expect("ec"),
            ),
            Algorithm::ES384 => RawSigner::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, der).expect("ec"),
            ),
            Algorithm::ES512 => RawSigner::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P521_SHA512_FIXED_SIGNING, der).expect("ec"),
            ),
            Algorithm::EdDSA => RawSigner::Ed(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).expect("ed")),
            other => panic!("no raw signer for {other}"),
        }
    }

    fn sign(&self, message: &[u8]) -> usize {
        let rng = SystemRandom::new();
        match self {
            RawSigner::Rsa(pair, encoding) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(*encoding, &rng, message, &mut sig).expect("sign");
                sig.len()
            }
            RawSigner::Ec(pair) => pair.sign(&rng, message).expect("sign").as_ref().len(),
            RawSigner::Ed(pair) => pair.sign(message).as_ref().len(),
        }
    }
}

fn raw_verification(alg: Algorithm) -> &'static dyn signature::VerificationAlgorithm {
    match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::ES512 => &signature::ECDSA_P521_SHA512_FIXED,
        Algorithm::EdDSA => &signature::ED25519,
        other => panic!("no raw verifier for {other}"),
    }
}

fn spec(alg: Algorithm) -> KeySpec {
    match alg.key_kind() {
        KeyKind::Rsa => KeySpec::Rsa(2048),
        kind => KeySpec::Curve(kind),
    }
}

struct Setup {
    signer: Signer,
    verifier: Verifier,
    audience: Audience,
    raw_signer: RawSigner,
    raw_key: ParsedPublicKey,
    public: PublicKey,
}

fn setup(alg: Algorithm) -> Setup {
    let private = PrivateKey::generate(spec(alg)).expect("key");
    let der = private.to_pkcs8_der().expect("der");
    let public = private.public_key().expect("public");
    let kid = KeyId::parse("bench/key").expect("kid");
    let keys = StaticKeySource::new().with_key(kid.clone(), public.clone());
    let signer = Signer::builder("bench")
        .key(SigningKey::new(kid, private, Some(alg)).expect("sk"))
        .build()
        .expect("s");
    let audience = Audience::new("svc").expect("aud");
    let verifier = Verifier::builder(keys)
        .audience(audience.clone())
        .enable_eddsa(true)
        .build()
        .expect("v");
    let raw_key = ParsedPublicKey::new(raw_verification(alg), public.spki_der()).expect("parsed");
    Setup {
        signer,
        verifier,
        audience,
        raw_signer: RawSigner::new(alg, &der),
        raw_key,
        public,
    }
}

fn bench_algorithm(meter: &Meter, alg: Algorithm) -> Value {
    let s = setup(alg);
    // A pool of fresh tokens, each verified in turn (no verified-token cache).
    let tokens: Vec<Token> = (0..64)
        .map(|_| s.signer.sign(&s.audience).expect("token"))
        .collect();
    let split: Vec<(String, Vec<u8>)> = tokens
        .iter()
        .map(|t| {
            let (input, sig) = t.as_str().rsplit_once('.').expect("jws");
            (input.to_owned(), URL_SAFE_NO_PAD.decode(sig).expect("b64"))
        })
        .collect();
    let (verify, raw_verify) = meter.pair(
        |i| {
            black_box(ready(s.verifier.verify(tokens[i % tokens.len()].as_str())).expect("verify"));
        },
        |i| {
            let (input, sig) = &split[i % split.len()];
            s.raw_key
                .verify_sig(black_box(input.as_bytes()), black_box(sig))
                .expect("raw verify");
        },
    );
    let input = split[0].0.clone();
    let (sign, raw_sign) = meter.pair(
        |_| {
            black_box(s.signer.sign(&s.audience).expect("sign"));
        },
        |_| {
            black_box(s.raw_signer.sign(black_box(input.as_bytes())));
        },
    );
    json!({
        "sign_per_s": sign, "raw_sign_per_s": raw_sign, "sign_ratio": sign / raw_sign,
        "verify_per_s": verify, "raw_verify_per_s": raw_verify, "verify_ratio": verify / raw_verify,
    })
}

/// Verifying fresh ES256 tokens (every one a cache miss, then kept) with no cache, with a
/// cache that has room, and with a cache that one attacker issuer has filled with
/// `attacker_entries` long-lived tokens of its own (issue 13, item 9: insertion used to scan
/// every entry once full). Each batch of tokens is verified once per verifier, in alternating
/// rounds, best round kept.
fn bench_cache_under_attack(attacker_entries: usize, batch: usize, rounds: usize) -> Value {
    let kid = |name: &str| KeyId::parse(&format!("{name}/key")).expect("kid");
    let (ours, theirs) = (
        PrivateKey::generate(spec(Algorithm::ES256)).expect("key"),
        PrivateKey::generate(spec(Algorithm::ES256)).expect("key"),
    );
    let keys = StaticKeySource::new()
        .with_key(kid("bench"), ours.public_key().expect("public"))
        .with_key(kid("mallory"), theirs.public_key().expect("public"));
    let audience = Audience::new("svc").expect("aud");
    let signer = Signer::builder("bench")
        .key(SigningKey::new(kid("bench"), ours, None).expect("sk"))
        .build()
        .expect("s");
    let attacker = Signer::builder("mallory")
        .key(SigningKey::new(kid("mallory"), theirs, None).expect("sk"))
        .lifetime(Duration::from_secs(3600))
        .build()
        .expect("s");
    let verifier = |entries: usize| {
        Verifier::builder(keys.clone())
            .audience(audience.clone())
            .allowed_issuers(["bench", "mallory"])
            .cache_verified_tokens(entries)
            .build()
            .expect("v")
    };
    let (plain, room, full) = (
        verifier(0),
        verifier(attacker_entries),
        verifier(attacker_entries),
    );
    for _ in 0..attacker_entries {
        let token = attacker.sign(&audience).expect("token");
        ready(full.verify(token.as_str())).expect("attacker token");
    }
    let batches: Vec<Vec<Token>> = (0..rounds)
        .map(|_| {
            (0..batch)
                .map(|_| signer.sign(&audience).expect("token"))
                .collect()
        })
        .collect();
    let per_s = |v: &Verifier, tokens: &[Token]| {
        let start = Instant::now();
        for t in tokens {
            black_box(ready(v.verify(black_box(t.as_str()))).expect("verify"));
        }
        tokens.len() as f64 / start.elapsed().as_secs_f64()
    };
    let (mut best_plain, mut best_room, mut best_full) = (0f64, 0f64, 0f64);
    for tokens in &batches {
        best_plain = best_plain.max(per_s(&plain, tokens));
        best_room = best_room.max(per_s(&room, tokens));
        best_full = best_full.max(per_s(&full, tokens));
    }
    json!({
        "attacker_entries": attacker_entries,
        "no_cache_per_s": best_plain,
        "cache_with_room_per_s": best_room,
        "cache_full_of_attacker_entries_per_s": best_full,
        "full_vs_room_ratio": best_full / best_room,
        "full_vs_no_cache_ratio": best_full / best_plain,
    })
}

/// Resident memory in bytes (Linux), to measure what cached keys cost.
fn rss() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn memory_of_keys(alg: Algorithm, n: usize) -> Option<f64> {
    // Parse the same public key n times: each copy is an independent parsed key, as a cache of
    // n distinct keys would hold.
    let pem = PrivateKey::generate(spec(alg)).ok()?.public_key().ok()?.to_pem();
    let before = rss()?;
    let mut keys = StaticKeySource::new();
    for i in 0..n {
        let public = PublicKey::from_pem(&pem).ok()?;
        // Use the key once, as verification would, so its parsed form exists.
        let _ = public.verify(alg, b"m", b"s");
        keys.insert(KeyId::parse(&format!("issuer-{i}/key.pem")).ok()?, public);
    }
    let after = rss()?;
    black_box(&keys);
    Some(after.saturating_sub(before) as f64 / (1024.0 * 1024.0))
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// One table for people; the JSON report holds the same numbers for machines.
fn print_table(r: &Value) {
    let k = |x: f64| format!("{:.1}k", x / 1000.0);
    println!(
        "\n{:<6} {:>9} {:>9} {:>6}   {:>9} {:>9} {:>6}   {:>9} {:>7} {:>9} {:>7}",
        "alg", "sign/s", "raw", "ratio", "verify/s", "raw", "ratio", "py sign", "×py", "py verify", "×py"
    );
    for (alg, a) in r["algorithms"].as_object().into_iter().flatten() {
        let py = &r["python_reference"][alg];
        let (sign, verify) = (
            num(&a["sign_per_s"]).unwrap_or(0.0),
            num(&a["verify_per_s"]).unwrap_or(0.0),
        );
        let py_cell = |v: &Value, ours: f64| match num(v) {
            Some(p) => (k(p), format!("{:.1}×", ours / p)),
            None => ("-".into(), "-".into()),
        };
        let (ps, psr) = py_cell(&py["sign_per_s"], sign);
        let (pv, pvr) = py_cell(&py["verify_per_s"], verify);
        println!(
            "{alg:<6} {:>9} {:>9} {:>5.0}%   {:>9} {:>9} {:>5.0}%   {ps:>9} {psr:>7} {pv:>9} {pvr:>7}",
            k(sign),
            k(num(&a["raw_sign_per_s"]).unwrap_or(0.0)),
            100.0 * num(&a["sign_ratio"]).unwrap_or(0.0),
            k(verify),
            k(num(&a["raw_verify_per_s"]).unwrap_or(0.0)),
            100.0 * num(&a["verify_ratio"]).unwrap_or(0.0)
        );
    }
    println!(
        "\nreused-token sign (ES256, one core):   {:>12.0}/s",
        num(&r["reused_token_sign_per_s"]).unwrap_or(0.0)
    );
    println!(
        "repeated-token verify with cache:      {:>12.0}/s",
        num(&r["cached_token_verify_per_s"]).unwrap_or(0.0)
    );
    let attack = &r["verified_cache_under_attack"];
    println!(
        "fresh-token verify (ES256), no cache:   {:>12.0}/s\n\
         \x20 cache with room:                      {:>12.0}/s\n\
         \x20 cache full of {} attacker entries: {:>9.0}/s ({:.2}× the cache with room)",
        num(&attack["no_cache_per_s"]).unwrap_or(0.0),
        num(&attack["cache_with_room_per_s"]).unwrap_or(0.0),
        attack["attacker_entries"],
        num(&attack["cache_full_of_attacker_entries_per_s"]).unwrap_or(0.0),
        num(&attack["full_vs_room_ratio"]).unwrap_or(0.0)
    );
    let mem = &r["memory_mib_for_10000_keys"];
    println!(
        "10,000 parsed public keys:             {:.1} MiB (ES256), {:.1} MiB (RS256)",
        num(&mem["ES256"]).unwrap_or(f64::NAN),
        num(&mem["RS256"]).unwrap_or(f64::NAN)
    );
    if let Some(load) = r["load"].as_object() {
        println!(
            "\nload on loopback (concurrency {}):",
            load.get("concurrency").unwrap_or(&Value::Null)
        );
        for name in ["no_layer", "layer", "layer_with_token_cache"] {
            let l = &load[name];
            println!(
                "  {name:<24} {:>9.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
                num(&l["rps"]).unwrap_or(0.0),
                num(&l["p50_ms"]).unwrap_or(0.0),
                num(&l["p99_ms"]).unwrap_or(0.0)
            );
        }
        let s = &load["cold_key_stampede"];
        println!(
            "  cold key stampede: {} concurrent verifications, {} succeeded, {} key fetch(es)",
            s["verifications"], s["succeeded"], s["fetches"]
        );
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut seconds, mut out, mut python, mut load) =
        (0.3f64, None::<String>, None::<String>, None::<String>);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().and_then(|s| s.parse().ok()).expect("--seconds S"),
            "--out" => out = args.next(),
            "--python" => python = args.next(),
            "--load" => load = args.next(),
            // For profilers (callgrind, perf): only verify one algorithm's token N times.
            "--profile-verify" => {
                let alg: Algorithm = args
                    .next()
                    .and_then(|a| a.parse().ok())
                    .expect("--profile-verify ALG N");
                let n: usize = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--profile-verify ALG N");
                let s = setup(alg);
                let token = s.signer.sign(&s.audience).expect("token");
                for _ in 0..n {
                    black_box(ready(s.verifier.verify(black_box(token.as_str()))).expect("verify"));
                }
                return;
            }
            _ => {} // cargo bench passes --bench
        }
    }
    let meter = Meter {
        round: Duration::from_secs_f64(seconds / 3.0),
        rounds: 3,
    };
    let mut algorithms = BTreeMap::new();
    for alg in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
    ] {
        let result = bench_algorithm(&meter, alg);
        eprintln!("{alg}: {result}");
        algorithms.insert(alg.as_str(), result);
    }

    let es = setup(Algorithm::ES256);
    let reusing = es.signer.with_reuse(true);
    let reuse_sign = meter.single(|_| {
        black_box(reusing.sign(&es.audience).expect("sign"));
    });
    let cached = Verifier::builder(
        StaticKeySource::new().with_key(KeyId::parse("bench/key").expect("kid"), es.public.clone()),
    )
    .audience(es.audience.clone())
    .cache_verified_tokens(10_000)
    .build()
    .expect("v");
    let token = es.signer.sign(&es.audience).expect("token");
    ready(cached.verify(token.as_str())).expect("warm");
    let cached_verify = meter.single(|_| {
        black_box(ready(cached.verify(black_box(token.as_str()))).expect("verify"));
    });

    let cache_under_attack = bench_cache_under_attack(50_000, 1500, 5);
    eprintln!("verified cache under attack: {cache_under_attack}");

    let read_json = |path: &Option<String>| -> Value {
        path.as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null)
    };
    let python = read_json(&python);
    let load = read_json(&load);
    let report = json!({
        "seconds_per_measurement": seconds,
        "algorithms": algorithms,
        "python_reference": python,
        "load": load,
        "reused_token_sign_per_s": reuse_sign,
        "cached_token_verify_per_s": cached_verify,
        "verified_cache_under_attack": cache_under_attack,
        "memory_mib_for_10000_keys": {
            "ES256": memory_of_keys(Algorithm::ES256, 10_000),
            "RS256": memory_of_keys(Algorithm::RS256, 10_000),
        },
    });
    print_table(&report);
    let text = serde_json::to_string_pretty(&report).expect("json");
    match out {
        Some(path) => std::fs::write(&path, text).expect("write report"),
        None => println!("{text}"),
    }
}
