//! Token verification against a static key source: hostile tokens get an error (401 or 403,
//! never 503 with a static source), never a panic; and whatever is accepted obeys every rule.
//!
//! Input: the first byte picks a mode. Even: the rest is the token itself. Odd: the rest is
//! `header JSON \0 claims JSON`, encoded and signed with one of the fuzz keys (picked by the
//! mode byte), so that the fuzzer reaches the claim rules behind a valid signature.

#![no_main]

use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Waker};

use asap_core::{
    Algorithm, Audience, KeyId, KeyKind, KeySpec, ManualClock, PrivateKey, StaticKeySource, Verified,
    Verifier, VerifyError,
};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_700_000_000;
const ISSUER: &str = "svc";
const AUDIENCE: &str = "fuzz-aud";

struct Fixture {
    keys: Vec<(KeyId, Algorithm, PrivateKey)>,
    strict: Verifier,
    loose: Verifier,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let specs = [
        ("svc/p256", Algorithm::ES256, KeySpec::Curve(KeyKind::P256)),
        ("svc/p521", Algorithm::ES512, KeySpec::Curve(KeyKind::P521)),
        ("svc/ed", Algorithm::EdDSA, KeySpec::Curve(KeyKind::Ed25519)),
        ("svc", Algorithm::ES384, KeySpec::Curve(KeyKind::P384)),
    ];
    let mut source = StaticKeySource::new();
    let mut keys = Vec::new();
    for (kid, alg, spec) in specs {
        let kid = KeyId::parse(kid).expect("kid");
        let private = PrivateKey::generate(spec).expect("generate");
        source.insert(kid.clone(), private.public_key().expect("public"));
        keys.push((kid, alg, private));
    }
    let source = Arc::new(source);
    let clock = Arc::new(ManualClock::new(NOW));
    let builder = || {
        Verifier::builder_shared(source.clone())
            .audience(Audience::new(AUDIENCE).expect("aud"))
            .allowed_issuers([ISSUER])
            .clock(clock.clone())
    };
    Fixture {
        keys,
        strict: builder().build().expect("strict verifier"),
        loose: builder()
            .enable_eddsa(true)
            .allow_legacy_kid_equals_issuer(true)
            .allow_subject_other_than_issuer(true)
            .build()
            .expect("loose verifier"),
    }
});

/// Runs a future that needs no I/O (a static key source, no replay store) to completion.
fn run<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1000 {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("verification with a static key source did not complete");
}

fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fn check(verifier: &Verifier, token: &str, loose: bool) {
    match run(verifier.verify(token)) {
        Ok(verified) => check_accepted(&verified, loose),
        Err(e) => check_refused(&e),
    }
}

/// An accepted token obeys every rule, whatever path it took through the verifier.
fn check_accepted(v: &Verified, loose: bool) {
    let c = v.claims();
    assert_eq!(c.issuer(), ISSUER, "issuer allow-list");
    assert!(c.audiences().iter().any(|a| a == AUDIENCE), "audience");
    let kid = v.kid().as_str();
    assert!(
        kid.starts_with("svc/") || (loose && kid == ISSUER),
        "kid {kid:?} not owned by the issuer"
    );
    assert!(!c.jti().is_empty(), "jti");
    assert!(loose || c.subject() == c.issuer(), "subject must equal issuer");
    assert!(
        loose || v.algorithm() != Algorithm::EdDSA,
        "EdDSA is off by default"
    );
    let (iat, exp) = (c.issued_at(), c.expires_at());
    let leeway = 30;
    assert!(iat <= NOW + leeway, "iat in the future");
    assert!(c.not_before().unwrap_or(iat) <= NOW + leeway, "nbf in the future");
    assert!(NOW <= exp + leeway, "expired");
    assert!(iat <= exp && exp - iat <= 3600, "lifetime");
}

fn check_refused(e: &VerifyError) {
    let status = e.outcome().status();
    assert!(
        status == 401 || status == 403,
        "{e} gave {status} with a static key source"
    );
    // Every error renders (Display must not panic on hostile content).
    let _ = e.to_string();
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fixture = &*FIXTURE;
    let loose = mode & 2 != 0;
    let verifier = if loose { &fixture.loose } else { &fixture.strict };
    if mode & 1 == 0 {
        if let Ok(token) = std::str::from_utf8(rest) {
            check(verifier, token, loose);
        }
        return;
    }
    let (header, claims) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b"{}"[..]),
    };
    let (_, alg, key) = &fixture.keys[usize::from(mode >> 2) % fixture.keys.len()];
    let signing_input = format!("{}.{}", b64(header), b64(claims));
    let sig = key.sign(*alg, signing_input.as_bytes()).expect("sign");
    let token = format!("{signing_input}.{}", b64(&sig));
    check(verifier, &token, loose);
});
