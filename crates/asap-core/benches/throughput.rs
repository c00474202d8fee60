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
use std::sync::Arc;
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

/// Rounds per measurement, each side's rounds interleaved and its best kept: more, shorter
/// rounds give each side more chances at a moment the other core is quiet (on a shared 2-core VM
/// a rate moves by several percent between seconds), at the same total time.
const ROUNDS: usize = 9;

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

    /// Signs and hands the signature bytes to `black_box`, as any real use would read them (a
    /// length alone lets the compiler skip materialising aws-lc-rs's `Signature`). An Ed25519
    /// signature is copied out first, as the signer does: the compiler then skips zeroing the
    /// 4.6 KB of aws-lc-rs's `Signature` that are never written, and the baseline must get that
    /// saving too (a curve's ECDSA signature is written by C, so it is zeroed either way).
    fn sign(&self, message: &[u8]) {
        let rng = SystemRandom::new();
        match self {
            RawSigner::Rsa(pair, encoding) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(*encoding, &rng, message, &mut sig).expect("sign");
                black_box(&sig);
            }
            RawSigner::Ec(pair) => {
                black_box(pair.sign(&rng, message).expect("sign").as_ref());
            }
            RawSigner::Ed(pair) => {
                let sig = pair.try_sign(message).expect("sign");
                let mut out = [0u8; 64];
                out.copy_from_slice(sig.as_ref());
                black_box(out);
            }
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
            s.raw_signer.sign(black_box(input.as_bytes()));
        },
    );
    json!({
        "sign_per_s": sign, "raw_sign_per_s": raw_sign, "sign_ratio": sign / raw_sign,
        "verify_per_s": verify, "raw_verify_per_s": raw_verify, "verify_ratio": verify / raw_verify,
    })
}

/// The verified-token cache rows' parties: the service's own issuer `bench` and an attacker
/// issuer `mallory` whose tokens live an hour, both ES256 and trusted by one key source.
struct CacheParties {
    keys: StaticKeySource,
    audience: Audience,
    signer: Signer,
    attacker: Signer,
}

impl CacheParties {
    fn new() -> CacheParties {
        let kid = |name: &str| KeyId::parse(&format!("{name}/key")).expect("kid");
        let (ours, theirs) = (
            PrivateKey::generate(spec(Algorithm::ES256)).expect("key"),
            PrivateKey::generate(spec(Algorithm::ES256)).expect("key"),
        );
        let keys = StaticKeySource::new()
            .with_key(kid("bench"), ours.public_key().expect("public"))
            .with_key(kid("mallory"), theirs.public_key().expect("public"));
        let signer = Signer::builder("bench")
            .key(SigningKey::new(kid("bench"), ours, None).expect("sk"))
            .build()
            .expect("s");
        let attacker = Signer::builder("mallory")
            .key(SigningKey::new(kid("mallory"), theirs, None).expect("sk"))
            .lifetime(Duration::from_secs(3600))
            .build()
            .expect("s");
        let audience = Audience::new("svc").expect("aud");
        CacheParties {
            keys,
            audience,
            signer,
            attacker,
        }
    }

    /// A verifier of both issuers' tokens with a verified-token cache of `entries`.
    fn verifier(&self, entries: usize) -> Verifier {
        Verifier::builder(self.keys.clone())
            .audience(self.audience.clone())
            .allowed_issuers(["bench", "mallory"])
            .cache_verified_tokens(entries)
            .build()
            .expect("v")
    }
}

/// Verifying fresh ES256 tokens (every one a cache miss, then kept) with no cache, with a
/// cache that has room, and with a cache that one attacker issuer has filled with
/// `attacker_entries` long-lived tokens of its own (issue 13, item 9: insertion used to scan
/// every entry once full). Each batch of tokens is verified once per verifier, in alternating
/// rounds, best round kept.
fn bench_cache_under_attack(attacker_entries: usize, batch: usize, rounds: usize) -> Value {
    let parties = CacheParties::new();
    let CacheParties {
        audience,
        signer,
        attacker,
        ..
    } = &parties;
    let verifier = |entries: usize| parties.verifier(entries);
    let (plain, room, full) = (
        verifier(0),
        verifier(attacker_entries),
        verifier(attacker_entries),
    );
    for _ in 0..attacker_entries {
        let token = attacker.sign(audience).expect("token");
        ready(full.verify(token.as_str())).expect("attacker token");
    }
    let batches: Vec<Vec<Token>> = (0..rounds)
        .map(|_| {
            (0..batch)
                .map(|_| signer.sign(audience).expect("token"))
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

/// Verify cost as the number of keys held grows: `n` keys (each parsed on its own, as a cache of
/// n distinct keys holds them) under n kids, RS256 (the cheapest signature check, so a lookup
/// cost would show most), a pool of tokens from 64 issuers spread over the key space; and the
/// resident memory per key.
fn bench_key_count(meter: &Meter, n: usize) -> Value {
    let private = PrivateKey::generate(spec(Algorithm::RS256)).expect("key");
    let der = private.to_pkcs8_der().expect("der");
    let pem = private.public_key().expect("public").to_pem();
    let keys = key_source(&pem, n);
    let bytes_per_key = memory_in_fresh_process("keys", n);
    let audience = Audience::new("svc").expect("aud");
    let tokens: Vec<Token> = (0..64)
        .map(|j| {
            let i = j * (n / 64).max(1) % n;
            let issuer = format!("issuer-{i}");
            Signer::builder(issuer.clone())
                .key(
                    SigningKey::new(
                        KeyId::parse(&format!("{issuer}/key")).expect("kid"),
                        PrivateKey::from_pkcs8_der(&der).expect("key"),
                        None,
                    )
                    .expect("sk"),
                )
                .build()
                .expect("s")
                .sign(&audience)
                .expect("token")
        })
        .collect();
    let verifier = Verifier::builder(keys).audience(audience).build().expect("v");
    let per_s = meter.single(|i| {
        black_box(ready(verifier.verify(tokens[i % tokens.len()].as_str())).expect("verify"));
    });
    json!({ "keys": n, "verify_per_s": per_s, "bytes_per_key": bytes_per_key })
}

/// `n` public keys, each parsed on its own (as a cache of n distinct keys holds them) and used
/// once so that its parsed form exists, under kids `issuer-{i}/key`.
fn key_source(pem: &str, n: usize) -> StaticKeySource {
    let mut keys = StaticKeySource::new();
    for i in 0..n {
        let public = PublicKey::from_pem(pem).expect("pem");
        let _ = public.verify(Algorithm::RS256, b"m", b"s");
        keys.insert(KeyId::parse(&format!("issuer-{i}/key")).expect("kid"), public);
    }
    keys
}

/// Bytes of resident memory per entry of `what` at `n` entries, measured in a new process of
/// this bench (`--memory WHAT N`): in this one, memory freed by earlier rows would be reused and
/// hide the growth.
fn memory_in_fresh_process(what: &str, n: usize) -> Option<f64> {
    let out = std::process::Command::new(std::env::current_exe().ok()?)
        .args(["--memory", what, &n.to_string()])
        .output()
        .ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// `--memory WHAT N`: prints the resident bytes per entry that `n` entries of `what` add.
fn memory_per_entry(what: &str, n: usize) -> Option<f64> {
    let before = rss()?;
    let held: Box<dyn std::any::Any> = match what {
        "keys" => {
            let pem = PrivateKey::generate(spec(Algorithm::RS256))
                .ok()?
                .public_key()
                .ok()?
                .to_pem();
            Box::new(key_source(&pem, n))
        }
        "keys-es256" => {
            let pem = PrivateKey::generate(spec(Algorithm::ES256))
                .ok()?
                .public_key()
                .ok()?
                .to_pem();
            let mut keys = StaticKeySource::new();
            for i in 0..n {
                let public = PublicKey::from_pem(&pem).ok()?;
                let _ = public.verify(Algorithm::ES256, b"m", b"s");
                keys.insert(KeyId::parse(&format!("issuer-{i}/key.pem")).ok()?, public);
            }
            Box::new(keys)
        }
        "verified-cache" => {
            // The tokens are made first and their own memory subtracted: only the cache counts.
            let key = PrivateKey::generate(spec(Algorithm::ES256)).ok()?;
            let kid = KeyId::parse("mallory/key").ok()?;
            let verifier =
                Verifier::builder(StaticKeySource::new().with_key(kid.clone(), key.public_key().ok()?))
                    .audience(Audience::new("svc").ok()?)
                    .cache_verified_tokens(n)
                    .build()
                    .ok()?;
            let signer = Signer::builder("mallory")
                .key(SigningKey::new(kid, key, None).ok()?)
                .lifetime(Duration::from_secs(3600))
                .build()
                .ok()?;
            let audience = Audience::new("svc").ok()?;
            let tokens: Vec<Token> = (0..n)
                .map(|_| signer.sign(&audience))
                .collect::<Result<_, _>>()
                .ok()?;
            let with_tokens = rss()?;
            for t in &tokens {
                ready(verifier.verify(t.as_str())).ok()?;
            }
            let grown = rss()?.saturating_sub(with_tokens);
            black_box(&verifier);
            return Some(grown as f64 / n as f64);
        }
        "replay" => Box::new(ReplayLoad::filled(n)),
        _ => return None,
    };
    let grown = rss()?.saturating_sub(before);
    black_box(&held);
    Some(grown as f64 / n as f64)
}

/// A replay guard holding about `entries` live entries of one issuer, in the steady state a
/// service sees: every use is a new `jti` (32 hex characters, like a signer's 128-bit one) kept
/// for [`ReplayLoad::KEPT_SECS`] (a 60 s token and a 30 s leeway), and the clock advances one
/// second every `entries / KEPT_SECS` uses, so that each use also sweeps what expired. The
/// guard's bound leaves room for twice as many, so no use is refused.
struct ReplayLoad {
    guard: Arc<InMemoryReplayGuard>,
    uses: u64,
    per_second: u64,
}

impl ReplayLoad {
    const KEPT_SECS: i64 = 91;
    const ISSUER: &str = "bench";

    fn filled(entries: usize) -> ReplayLoad {
        let guard = Arc::new(InMemoryReplayGuard::new(2 * entries).max_entries_per_issuer(2 * entries));
        let per_second = (entries as u64 / Self::KEPT_SECS as u64).max(1);
        let mut load = ReplayLoad {
            guard,
            uses: 0,
            per_second,
        };
        for _ in 0..entries {
            assert!(load.first_use(), "a new jti is a first use");
        }
        load
    }

    /// One use of a new `jti`; true if the guard recorded it as a first use.
    fn first_use(&mut self) -> bool {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut jti = [0u8; 32];
        let id = u128::from(self.uses) * 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835;
        for (i, c) in jti.iter_mut().enumerate() {
            *c = HEX[(id >> (4 * i) & 0xf) as usize];
        }
        let now = self.instant(self.uses);
        self.uses += 1;
        let jti = std::str::from_utf8(&jti).expect("hex");
        let use_ = TokenUse {
            issuer: Self::ISSUER,
            jti,
            now,
            expires_at: now + Self::KEPT_SECS - 1,
        };
        matches!(ready(self.guard.first_use(black_box(use_))), Ok(true))
    }

    /// The clock at the `k`-th use: one second further every `per_second` uses.
    fn instant(&self, k: u64) -> i64 {
        1_000_000 + (k / self.per_second) as i64
    }
}

/// Fresh-token verification (EdDSA, the cheapest signature check after RSA to sign a large pool
/// with) through a verifier whose replay guard holds `n` entries in the steady state of
/// [`ReplayLoad`]: the verify cost the scale target names. Every token is a new `jti`, signed for
/// the instant the verifier's clock stands at when it checks it (a 60 s lifetime, so its entry is
/// kept `exp` + the 30 s leeway, as the load's are), so each verification records one entry and
/// sweeps what expired. Each size verifies `per_round` of its tokens per round, the sizes
/// alternating round by round; the best round of each is kept.
fn bench_replay_verify(sizes: &[usize], rounds: usize, per_round: usize) -> Vec<Value> {
    let key = PrivateKey::generate(spec(Algorithm::EdDSA)).expect("key");
    let kid = KeyId::parse(&format!("{}/key", ReplayLoad::ISSUER)).expect("kid");
    let audience = Audience::new("svc").expect("aud");
    let public = key.public_key().expect("public");
    let clock = Arc::new(ManualClock::new(0));
    let signer = Signer::builder(ReplayLoad::ISSUER)
        .key(SigningKey::new(kid.clone(), key, None).expect("sk"))
        .lifetime(Duration::from_secs(60))
        .clock(clock.clone())
        .build()
        .expect("signer");
    struct Size {
        entries: usize,
        verifier: Verifier,
        clock: Arc<ManualClock>,
        /// Each token with the instant it is verified at.
        tokens: Vec<(i64, Token)>,
        best: f64,
        _load: ReplayLoad,
    }
    let mut runs: Vec<Size> = sizes
        .iter()
        .map(|&entries| {
            let load = ReplayLoad::filled(entries);
            let tokens = (0..(rounds * per_round) as u64)
                .map(|j| {
                    let at = load.instant(load.uses + j);
                    clock.set(at);
                    (at, signer.sign(&audience).expect("token"))
                })
                .collect();
            let verifier_clock = Arc::new(ManualClock::new(0));
            let verifier = Verifier::builder(StaticKeySource::new().with_key(kid.clone(), public.clone()))
                .audience(audience.clone())
                .enable_eddsa(true)
                .leeway(Duration::from_secs(30))
                .replay_guard(load.guard.clone())
                .clock(verifier_clock.clone())
                .build()
                .expect("verifier");
            Size {
                entries,
                verifier,
                clock: verifier_clock,
                tokens,
                best: 0.0,
                _load: load,
            }
        })
        .collect();
    for round in 0..rounds {
        for run in &mut runs {
            let tokens = &run.tokens[round * per_round..(round + 1) * per_round];
            let start = Instant::now();
            for (at, token) in tokens {
                run.clock.set(*at);
                black_box(ready(run.verifier.verify(black_box(token.as_str()))).expect("first use"));
            }
            run.best = run.best.max(per_round as f64 / start.elapsed().as_secs_f64());
        }
    }
    runs.iter()
        .map(|run| json!({ "entries": run.entries, "verify_per_s": run.best }))
        .collect()
}

/// The verified-token cache holding `n` live entries, all from one attacker issuer with
/// long-lived tokens: the rate of hits on those entries (lookup cost at that size), the rate of
/// fresh tokens from another issuer (each a miss, a signature check and an insert that must
/// evict one of the attacker's entries), and the resident memory per cached token.
fn bench_cache_size(meter: &Meter, n: usize) -> Value {
    let parties = CacheParties::new();
    let CacheParties {
        audience,
        signer,
        attacker,
        ..
    } = &parties;
    let verifier = parties.verifier(n);
    let attacker_tokens: Vec<Token> = (0..n).map(|_| attacker.sign(audience).expect("token")).collect();
    for t in &attacker_tokens {
        ready(verifier.verify(t.as_str())).expect("attacker token");
    }
    // Hits spread uniformly over all n entries (a stride co-prime with n), measured before the
    // hot tokens below displace some of them: at 100,000 entries
    // each lookup misses the CPU caches, so this measures memory latency more than the cache.
    let uniform_hit_per_s = meter.single(|i| {
        let t = &attacker_tokens[i.wrapping_mul(7919) % n];
        black_box(ready(verifier.verify(black_box(t.as_str()))).expect("hit"));
    });
    // The service's own clients: 64 tokens in rotation (cached on first use) while the cache
    // holds n live entries: what the size costs a lookup.
    let hot: Vec<Token> = (0..64).map(|_| signer.sign(audience).expect("token")).collect();
    let hit_per_s = meter.single(|i| {
        black_box(ready(verifier.verify(black_box(hot[i % hot.len()].as_str()))).expect("hit"));
    });
    let bytes_per_entry = memory_in_fresh_process("verified-cache", n);
    let fresh: Vec<Token> = (0..1500).map(|_| signer.sign(audience).expect("token")).collect();
    let start = Instant::now();
    for t in &fresh {
        black_box(ready(verifier.verify(t.as_str())).expect("fresh"));
    }
    let fresh_per_s = fresh.len() as f64 / start.elapsed().as_secs_f64();
    json!({
        "entries": n, "hit_per_s": hit_per_s, "uniform_hit_per_s": uniform_hit_per_s,
        "fresh_token_into_full_cache_per_s": fresh_per_s,
        "bytes_per_entry": bytes_per_entry,
    })
}

/// The in-memory replay guard holding `n` entries (see [`ReplayLoad`]): the rate of first uses
/// (a new jti, recorded, and what expired swept) at that size, and the resident memory per
/// entry.
fn bench_replay_size(meter: &Meter, n: usize) -> Value {
    let mut load = ReplayLoad::filled(n);
    let bytes_per_entry = memory_in_fresh_process("replay", n);
    let first_use_per_s = meter.single(|_| {
        assert!(load.first_use(), "a new jti is a first use");
    });
    json!({ "entries": n, "first_use_per_s": first_use_per_s, "bytes_per_entry": bytes_per_entry })
}

/// `--profile-replay ENTRIES N`: N first uses into a guard holding ENTRIES (see [`ReplayLoad`]),
/// each inside `profiled`, for callgrind.
fn profile_replay(entries: usize, n: usize) {
    let mut load = ReplayLoad::filled(entries);
    for _ in 0..n {
        profiled(|| assert!(load.first_use(), "a new jti is a first use"));
    }
}

/// Each row's rate over the largest's: the slowdown from the smallest to each size.
fn flatness(rows: &[Value], field: &str) -> Value {
    let first = rows.first().and_then(|r| num(&r[field])).unwrap_or(f64::NAN);
    let worst = rows
        .iter()
        .filter_map(|r| num(&r[field]))
        .map(|x| first / x)
        .fold(0f64, f64::max);
    json!({ "rows": rows, "field": field, "worst_slowdown_vs_smallest": worst })
}

/// Resident memory in bytes (Linux), to measure what cached keys cost.
fn rss() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// One operation, `n` times, for a profiler (see `--profile`).
fn profile(what: &str, alg: Algorithm, n: usize) {
    let s = setup(alg);
    let token = s.signer.sign(&s.audience).expect("token");
    let (input, sig) = token.as_str().rsplit_once('.').expect("jws");
    let sig = URL_SAFE_NO_PAD.decode(sig).expect("b64");
    let reusing = s.signer.with_reuse(true);
    let cached = Verifier::builder(
        StaticKeySource::new().with_key(KeyId::parse("bench/key").expect("kid"), s.public.clone()),
    )
    .audience(s.audience.clone())
    .enable_eddsa(true)
    .cache_verified_tokens(100)
    .build()
    .expect("v");
    ready(cached.verify(token.as_str())).expect("warm");
    for _ in 0..n {
        profiled(|| match what {
            "cached-verify" => drop(black_box(
                ready(cached.verify(black_box(token.as_str()))).expect("hit"),
            )),
            "reused-sign" => drop(black_box(reusing.sign(&s.audience).expect("sign"))),
            "verify" => drop(black_box(
                ready(s.verifier.verify(black_box(token.as_str()))).expect("verify"),
            )),
            "sign" => drop(black_box(s.signer.sign(&s.audience).expect("sign"))),
            "raw-verify" => s
                .raw_key
                .verify_sig(black_box(input.as_bytes()), black_box(&sig))
                .expect("raw"),
            "raw-sign" => s.raw_signer.sign(black_box(input.as_bytes())),
            other => panic!("--profile {other}?"),
        });
    }
}

#[inline(never)]
fn profiled(op: impl FnOnce()) {
    op();
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
    // The share of each sign that the jti's random bytes take: ns of the draw over ns of a sign.
    let jti_ns = 1e9 / num(&r["jti_random_bytes_per_s"]).unwrap_or(f64::NAN);
    let share: Vec<String> = r["algorithms"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(alg, a)| {
            let sign_ns = 1e9 / num(&a["sign_per_s"]).unwrap_or(f64::NAN);
            format!("{alg} {:.1}%", 100.0 * jti_ns / sign_ns)
        })
        .collect();
    println!(
        "\na jti's 16 random bytes (aws-lc RAND_bytes): {jti_ns:.0} ns, of each sign: {}",
        share.join(", ")
    );
    println!(
        "reused-token sign (ES256, one core):   {:>12.0}/s",
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
    println!("\npeers (same keys, claims and validation; our rate over theirs, measured side by side):");
    println!(
        "{:<6} {:<13} {:>9} {:>9} {:>7}   {:>9} {:>9} {:>7}",
        "alg", "peer", "sign/s", "ours", "×", "verify/s", "ours", "×"
    );
    for (alg, a) in r["algorithms"].as_object().into_iter().flatten() {
        for (peer, p) in a["peers"].as_object().into_iter().flatten() {
            println!(
                "{alg:<6} {peer:<13} {:>9} {:>9} {:>6.2}×   {:>9} {:>9} {:>6.2}×",
                k(num(&p["sign_per_s"]).unwrap_or(0.0)),
                k(num(&p["our_sign_per_s"]).unwrap_or(0.0)),
                num(&p["our_sign_ratio"]).unwrap_or(0.0),
                k(num(&p["verify_per_s"]).unwrap_or(0.0)),
                k(num(&p["our_verify_per_s"]).unwrap_or(0.0)),
                num(&p["our_verify_ratio"]).unwrap_or(0.0)
            );
        }
    }
    let c = &r["peers"]["connect_hs256"];
    if c.is_object() {
        let o = &c["ours"];
        println!(
            "\nConnect HS256: sign {} /s ({:.0}% of raw HMAC {}), verify {} /s ({:.0}% of raw HMAC {})",
            k(num(&o["sign_per_s"]).unwrap_or(0.0)),
            100.0 * num(&o["sign_ratio"]).unwrap_or(0.0),
            k(num(&o["raw_sign_per_s"]).unwrap_or(0.0)),
            k(num(&o["verify_per_s"]).unwrap_or(0.0)),
            100.0 * num(&o["verify_ratio"]).unwrap_or(0.0),
            k(num(&o["raw_verify_per_s"]).unwrap_or(0.0)),
        );
        for (name, key) in [
            ("Python atlassian-jwt", "python_atlassian_jwt"),
            ("npm atlassian-jwt", "npm_atlassian_jwt"),
        ] {
            match (num(&c[key]["sign_per_s"]), num(&c[key]["verify_per_s"])) {
                (Some(ps), Some(pv)) => println!(
                    "  {name:<21} sign {:>8} /s (ours {:.1}×)   verify {:>8} /s (ours {:.1}×)",
                    k(ps),
                    num(&o["sign_per_s"]).unwrap_or(0.0) / ps,
                    k(pv),
                    num(&o["verify_per_s"]).unwrap_or(0.0) / pv
                ),
                _ => println!("  {name:<21} not measured"),
            }
        }
        println!(
            "  the token alone, the Rust peers and ours, each as a share of raw HMAC in the same rounds:"
        );
        for (peer, p) in c["rust_peers"].as_object().into_iter().flatten() {
            let share = |field: &str, raw: &str| {
                100.0 * num(&p[field]).unwrap_or(0.0) / num(&p[raw]).unwrap_or(f64::NAN)
            };
            println!(
                "  {peer:<13} sign {:>8} /s ({:.0}%; ours {:.0}%, {:.2}×)   verify {:>8} /s ({:.0}%; ours {:.0}%, {:.2}×)",
                k(num(&p["sign_per_s"]).unwrap_or(0.0)),
                share("sign_per_s", "raw_sign_per_s"),
                share("our_sign_per_s", "raw_sign_per_s"),
                num(&p["our_sign_ratio"]).unwrap_or(0.0),
                k(num(&p["verify_per_s"]).unwrap_or(0.0)),
                share("verify_per_s", "raw_verify_per_s"),
                share("our_verify_per_s", "raw_verify_per_s"),
                num(&p["our_verify_ratio"]).unwrap_or(0.0),
            );
        }
    }
    if let Some(rows) = r["scale"]["verified_cache_hits"]["rows"].as_array() {
        let uniform: Vec<String> = rows
            .iter()
            .map(|row| {
                format!(
                    "{}: {}/s",
                    row["entries"],
                    k(num(&row["uniform_hit_per_s"]).unwrap_or(0.0))
                )
            })
            .collect();
        println!(
            "\nverified-cache hits spread uniformly over every entry (memory latency): {}",
            uniform.join("; ")
        );
    }
    println!("scale (each size's rate; worst slowdown against the smallest size, target ≤ 1.5×):");
    // The memory of replay entries is the guard's own, printed on its row.
    for (name, unit) in [
        ("keys", Some("bytes_per_key")),
        ("verified_cache_hits", Some("bytes_per_entry")),
        ("verified_cache_fresh_into_full", Some("bytes_per_entry")),
        ("replay_guard", Some("bytes_per_entry")),
        ("verify_with_replay_guard", None),
    ] {
        let sc = &r["scale"][name];
        let field = sc["field"].as_str().unwrap_or("");
        let rows: Vec<String> = sc["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|row| {
                let size = row
                    .get("keys")
                    .or(row.get("entries"))
                    .cloned()
                    .unwrap_or(Value::Null);
                let rate = format!("{size}: {}/s", k(num(&row[field]).unwrap_or(0.0)));
                match unit {
                    Some(unit) => {
                        let mem = num(&row[unit]).map_or("-".into(), |b| format!("{b:.0} B each"));
                        format!("{rate}, {mem}")
                    }
                    None => rate,
                }
            })
            .collect();
        println!(
            "  {name:<31} {:.2}×   {}",
            num(&sc["worst_slowdown_vs_smallest"]).unwrap_or(f64::NAN),
            rows.join("; ")
        );
    }
    let mem = &r["memory_mib_for_10000_keys"];
    println!(
        "10,000 parsed public keys:             {:.1} MiB (ES256), {:.1} MiB (RS256)",
        num(&mem["ES256"]).unwrap_or(f64::NAN),
        num(&mem["RS256"]).unwrap_or(f64::NAN)
    );
    if let Some(load) = r["load"].as_object() {
        println!(
            "\nload on loopback (concurrency {}; the server on one thread, its CPU time per request):",
            load.get("concurrency").unwrap_or(&Value::Null)
        );
        println!(
            "  {:<24} {:>9} {:>8} {:>8} {:>14} {:>15}",
            "server", "req/s", "p50 ms", "p99 ms", "server µs/req", "in route µs/req"
        );
        for (name, l) in load.iter().filter(|(_, l)| l.get("rps").is_some()) {
            println!(
                "  {name:<24} {:>9.0} {:>8.2} {:>8.2} {:>14.1} {:>15.2}",
                num(&l["rps"]).unwrap_or(0.0),
                num(&l["p50_ms"]).unwrap_or(0.0),
                num(&l["p99_ms"]).unwrap_or(0.0),
                num(&l["server_cpu_us_per_request"]).unwrap_or(f64::NAN),
                num(&l["service_cpu_us_per_request"]).unwrap_or(f64::NAN)
            );
        }
        let cache = &load["server_cpu_with_token_cache"];
        println!(
            "  with the token cache (ES256): {:.2} µs per request in the layer; the server's CPU per \
             request without the layer over with it {:.1}%, req/s {:.1}% (target ≥ 95%)",
            num(&cache["layer_us_beyond_route"]).unwrap_or(f64::NAN),
            100.0 * num(&cache["server_route_over_layer"]).unwrap_or(f64::NAN),
            100.0 * num(&cache["rps_ratio"]).unwrap_or(f64::NAN)
        );
        println!(
            "  without it, CPU µs per request (fresh tokens; medians of rounds paired with the \
             route and raw verify of the same round):"
        );
        println!(
            "  {:<6} {:>10} {:>9} {:>13} {:>14}   {:>9} {:>14} {:>18}",
            "alg",
            "raw verify",
            "in layer",
            "beyond route",
            "beyond crypto",
            "server",
            "beyond crypto",
            "(route+raw)/layer"
        );
        for (alg, c) in load["server_cpu_by_algorithm"].as_object().into_iter().flatten() {
            println!(
                "  {alg:<6} {:>10.1} {:>9.1} {:>13.1} {:>14.1}   {:>9.1} {:>14.1} {:>17.1}%",
                num(&c["raw_verify_us"]).unwrap_or(f64::NAN),
                num(&c["layer_us"]).unwrap_or(f64::NAN),
                num(&c["layer_us_beyond_route"]).unwrap_or(f64::NAN),
                num(&c["layer_us_beyond_crypto"]).unwrap_or(f64::NAN),
                num(&c["server_layer_us"]).unwrap_or(f64::NAN),
                num(&c["server_layer_us_beyond_crypto"]).unwrap_or(f64::NAN),
                100.0 * num(&c["route_and_crypto_over_layer"]).unwrap_or(f64::NAN)
            );
        }
        let s = &load["cold_key_stampede"];
        println!(
            "  cold key stampede: {} concurrent verifications, {} succeeded, {} key fetch(es)",
            s["verifications"], s["succeeded"], s["fetches"]
        );
    }
    print_profiles(&r["peers"]["profiles"]);
    print_instructions(&r["instructions"]);
}

/// The rows of the Forge, per-user and central-issuer profiles (from `bench/peers`).
fn print_profiles(p: &Value) {
    if !p.is_object() {
        return;
    }
    let k = |x: Option<f64>| x.map_or("-".into(), |x| format!("{:.1}k", x / 1000.0));
    let pct = |x: Option<f64>| x.map_or("-".into(), |x| format!("{:.0}%", 100.0 * x));
    let times = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.1}×"));
    println!(
        "
profiles (ours next to raw aws-lc-rs on the same key and bytes, and the Python packages, in one run):"
    );
    let f = &p["forge"];
    println!(
        "Forge invocation token (RS256, {} bytes): JWKS key source {}/s, static key {}/s, raw {}/s: \
         {} of raw (static key {}; the JWKS path at {} of the static key's rate); jsonwebtoken {}/s (ours {})",
        f["token_bytes"],
        k(num(&f["verify_per_s"])),
        k(num(&f["static_key_verify_per_s"])),
        k(num(&f["raw_verify_per_s"])),
        pct(num(&f["verify_ratio"])),
        pct(num(&f["static_key_verify_ratio"])),
        pct(num(&f["jwks_vs_static_ratio"])),
        k(num(&f["jsonwebtoken_verify_per_s"])),
        times(num(&f["our_verify_vs_jsonwebtoken"])),
    );
    let j = &f["jwks_parse"];
    println!(
        "JWK set parse ({} RSA keys, {} bytes): {}/s; jsonwebtoken's JwkSet + DecodingKey::from_jwk {}/s (ours {})",
        j["keys"],
        j["set_bytes"],
        k(num(&j["per_s"])),
        k(num(&j["jsonwebtoken_per_s"])),
        times(num(&j["our_ratio"])),
    );
    let u = &p["user_tokens"];
    println!(
        "per-user tokens (nonces in the in-memory store; Python asymmetric-jwt-auth {}):",
        u["python_version"].as_str().unwrap_or("not measured")
    );
    println!(
        "  {:<6} {:>9} {:>9} {:>6}   {:>9} {:>9} {:>6}   {:>9} {:>7} {:>9} {:>7}",
        "alg", "sign/s", "raw", "ratio", "verify/s", "raw", "ratio", "py sign", "×py", "py verify", "×py"
    );
    for (alg, a) in u["algorithms"].as_object().into_iter().flatten() {
        let py = &a["python"];
        println!(
            "  {alg:<6} {:>9} {:>9} {:>6}   {:>9} {:>9} {:>6}   {:>9} {:>7} {:>9} {:>7}",
            k(num(&a["sign_per_s"])),
            k(num(&a["raw_sign_per_s"])),
            pct(num(&a["sign_ratio"])),
            k(num(&a["verify_per_s"])),
            k(num(&a["raw_verify_per_s"])),
            pct(num(&a["verify_ratio"])),
            k(num(&py["sign_per_s"])),
            times(num(&py["our_sign_ratio"])),
            k(num(&py["verify_per_s"])),
            times(num(&py["our_verify_ratio"])),
        );
    }
    let i = &p["issuer_tokens"];
    println!(
        "central-issuer tokens (RS256, route policy; Python api-jwt-2 {}):",
        i["python_version"].as_str().unwrap_or("not measured")
    );
    for (name, key) in [
        ("1 trusted key", "keys_1"),
        ("4 keys, the last matches", "keys_4_last_matches"),
    ] {
        let row = &i[key];
        println!(
            "  {name:<25} verify {}/s, raw {}/s: {}; api_jwt decode() {}/s (ours {}), PyJWT decode {}/s (ours {})",
            k(num(&row["verify_per_s"])),
            k(num(&row["raw_verify_per_s"])),
            pct(num(&row["verify_ratio"])),
            k(num(&row["python"]["api_jwt_decode_per_s"])),
            times(num(&row["python"]["our_ratio_to_api_jwt"])),
            k(num(&row["python"]["pyjwt_decode_per_s"])),
            times(num(&row["python"]["our_ratio_to_pyjwt"])),
        );
    }
    let sign = &i["sign"];
    println!(
        "  {:<25} {}/s, raw {}/s: {}; api_jwt encode() {}/s (ours {})",
        "sign",
        k(num(&sign["sign_per_s"])),
        k(num(&sign["raw_sign_per_s"])),
        pct(num(&sign["sign_ratio"])),
        k(num(&sign["python_api_jwt_encode_per_s"])),
        times(num(&sign["our_ratio_to_api_jwt"])),
    );
}

/// The callgrind counts per operation (`cargo xtask bench --instructions`), when measured.
fn print_instructions(ins: &Value) {
    let Some(algorithms) = ins["algorithms"].as_object() else {
        return;
    };
    let count = |v: &Value| num(v).map_or("-".into(), |n| format!("{n:.0}"));
    let pct = |v: &Value| num(v).map_or("-".into(), |n| format!("{:.1}%", 100.0 * n));
    println!("\ninstructions per operation under callgrind (ratio = raw / ours):");
    println!(
        "{:<6} {:>11} {:>11} {:>7}   {:>11} {:>11} {:>7}",
        "alg", "sign", "raw", "ratio", "verify", "raw", "ratio"
    );
    for (alg, a) in algorithms {
        println!(
            "{alg:<6} {:>11} {:>11} {:>7}   {:>11} {:>11} {:>7}",
            count(&a["sign"]),
            count(&a["raw_sign"]),
            pct(&a["sign_ratio"]),
            count(&a["verify"]),
            count(&a["raw_verify"]),
            pct(&a["verify_ratio"])
        );
    }
    println!(
        "repeated-token verify, cache hit (ES256): {}; reused-token sign (ES256): {}",
        count(&ins["cached-verify_ES256"]),
        count(&ins["reused-sign_ES256"])
    );
    for (mode, m) in ins["peers"].as_object().into_iter().flatten() {
        let ratio = m
            .get("ratio")
            .map_or(String::new(), |r| format!(" (raw / ours {})", pct(r)));
        println!("bench/peers {mode}: {}{ratio}", count(&m["count"]));
    }
    for note in ins["notes"].as_array().into_iter().flatten() {
        println!("note: {}", note.as_str().unwrap_or(""));
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut seconds, mut out, mut python, mut load, mut peers, mut instructions) = (
        0.3f64,
        None::<String>,
        None::<String>,
        None::<String>,
        None::<String>,
        None::<String>,
    );
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().and_then(|s| s.parse().ok()).expect("--seconds S"),
            "--out" => out = args.next(),
            "--python" => python = args.next(),
            "--load" => load = args.next(),
            "--peers" => peers = args.next(),
            "--instructions" => instructions = args.next(),
            // For profilers (callgrind, perf): only `verify` (or `sign`, `raw-verify`,
            // `raw-sign`) one algorithm's token N times, inside `profiled` (for
            // `valgrind --tool=callgrind --toggle-collect=*profiled*`).
            "--memory" => {
                let what = args.next().expect("--memory WHAT N");
                let n: usize = args.next().and_then(|n| n.parse().ok()).expect("--memory WHAT N");
                if let Some(bytes) = memory_per_entry(&what, n) {
                    println!("{bytes}");
                }
                return;
            }
            "--profile-replay" => {
                let mut next = || {
                    args.next()
                        .and_then(|n| n.parse().ok())
                        .expect("--profile-replay ENTRIES N")
                };
                let (entries, n) = (next(), next());
                profile_replay(entries, n);
                return;
            }
            // The verified-token cache's scale rows alone: `--cache-rows S`.
            "--cache-rows" => {
                let seconds: f64 = args.next().and_then(|s| s.parse().ok()).expect("--cache-rows S");
                let meter = Meter {
                    round: Duration::from_secs_f64(seconds / ROUNDS as f64),
                    rounds: ROUNDS,
                };
                let rows: Vec<Value> = [1_000, 100_000].map(|n| bench_cache_size(&meter, n)).into();
                println!("{}", flatness(&rows, "fresh_token_into_full_cache_per_s"));
                return;
            }
            // The replay rows alone: `--replay-rows S`, S seconds per row.
            "--replay-rows" => {
                let seconds: f64 = args.next().and_then(|s| s.parse().ok()).expect("--replay-rows S");
                let meter = Meter {
                    round: Duration::from_secs_f64(seconds / ROUNDS as f64),
                    rounds: ROUNDS,
                };
                let rows: Vec<Value> = [1_000, 1_000_000].map(|n| bench_replay_size(&meter, n)).into();
                println!("{}", flatness(&rows, "first_use_per_s"));
                let rows = bench_replay_verify(&[1_000, 1_000_000], 3, 20_000);
                println!("{}", flatness(&rows, "verify_per_s"));
                return;
            }
            "--profile" => {
                let mut next = || {
                    args.next()
                        .expect("--profile verify|sign|raw-verify|raw-sign ALG N")
                };
                let (what, alg, n) = (next(), next(), next());
                let alg: Algorithm = alg.parse().expect("ALG");
                let n: usize = n.parse().expect("N");
                profile(&what, alg, n);
                return;
            }
            _ => {} // cargo bench passes --bench
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

    // What a fresh token's `jti` costs on its own: 16 bytes of aws-lc's RAND_bytes, the one
    // part of our signing that the raw signature does not do.
    let jti_draw_per_s = meter.single(|_| {
        let mut bytes = [0u8; 16];
        aws_lc_rs::rand::fill(&mut bytes).expect("random");
        black_box(bytes);
    });

    let cache_under_attack = bench_cache_under_attack(50_000, 1500, 5);
    eprintln!("verified cache under attack: {cache_under_attack}");

    let key_rows: Vec<Value> = [100, 10_000, 100_000].map(|n| bench_key_count(&meter, n)).into();
    let cache_rows: Vec<Value> = [1_000, 100_000].map(|n| bench_cache_size(&meter, n)).into();
    let replay_rows: Vec<Value> = [1_000, 1_000_000].map(|n| bench_replay_size(&meter, n)).into();
    let replay_verify_rows = bench_replay_verify(&[1_000, 1_000_000], 3, 20_000);
    let scale = json!({
        "keys": flatness(&key_rows, "verify_per_s"),
        "verified_cache_hits": flatness(&cache_rows, "hit_per_s"),
        "verified_cache_fresh_into_full": flatness(&cache_rows, "fresh_token_into_full_cache_per_s"),
        "replay_guard": flatness(&replay_rows, "first_use_per_s"),
        "verify_with_replay_guard": flatness(&replay_verify_rows, "verify_per_s"),
    });
    eprintln!("scale: {scale}");

    let read_json = |path: &Option<String>| -> Value {
        path.as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null)
    };
    let python = read_json(&python);
    let load = read_json(&load);
    let peers = read_json(&peers);
    let instructions = read_json(&instructions);
    // One entry per peer under each algorithm, next to our ratios against raw aws-lc-rs.
    for (alg, entry) in algorithms.iter_mut() {
        if let (Some(row), Some(obj)) = (peers["algorithms"][*alg].as_object(), entry.as_object_mut()) {
            obj.insert("peers".into(), Value::Object(row.clone()));
        }
    }
    let report = json!({
        "seconds_per_measurement": seconds,
        "algorithms": algorithms,
        "python_reference": python,
        "load": load,
        "reused_token_sign_per_s": reuse_sign,
        "jti_random_bytes_per_s": jti_draw_per_s,
        "cached_token_verify_per_s": cached_verify,
        "verified_cache_under_attack": cache_under_attack,
        "scale": scale,
        "peers": peers,
        "instructions": instructions,
        "memory_mib_for_10000_keys": {
            "ES256": memory_in_fresh_process("keys-es256", 10_000).map(|b| b * 10_000.0 / (1024.0 * 1024.0)),
            "RS256": memory_in_fresh_process("keys", 10_000).map(|b| b * 10_000.0 / (1024.0 * 1024.0)),
        },
    });
    print_table(&report);
    let text = serde_json::to_string_pretty(&report).expect("json");
    match out {
        Some(path) => std::fs::write(&path, text).expect("write report"),
        None => println!("{text}"),
    }
}
