//! Sign and verify throughput against the raw aws-lc-rs operation on the same key and bytes.
//!
//! `cargo bench -p asap-core`. The `raw` rows are the crypto limit; the `asap` rows add framing,
//! JSON, every rule and the key lookup (a warm static source).

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use asap_core::*;
use aws_lc_rs::signature::{self, ParsedPublicKey};
use criterion::{Criterion, criterion_group, criterion_main};

/// Polls a future that completes without waiting (a static key source never waits).
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("benchmarked future was not immediately ready"),
    }
}

fn spec(alg: Algorithm) -> KeySpec {
    match alg.key_kind() {
        KeyKind::Rsa => KeySpec::Rsa(2048),
        kind => KeySpec::Curve(kind),
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
        other => panic!("no raw baseline for {other}"),
    }
}

fn bench_alg(c: &mut Criterion, alg: Algorithm) {
    let private = PrivateKey::generate(spec(alg)).expect("key");
    let public = private.public_key().expect("public");
    let der = private.to_pkcs8_der().expect("der");
    let kid = KeyId::parse("bench/key").expect("kid");
    let keys = StaticKeySource::new().with_key(kid.clone(), public.clone());
    let signer = Signer::builder("bench")
        .key(SigningKey::new(kid, PrivateKey::from_pkcs8_der(&der).expect("key"), Some(alg)).expect("sk"))
        .build()
        .expect("signer");
    let audience = Audience::new("svc").expect("aud");
    let verifier = Verifier::builder(keys)
        .audience(audience.clone())
        .enable_eddsa(true)
        .build()
        .expect("v");
    let token = signer.sign(&audience).expect("token");
    let (input, sig) = token.as_str().rsplit_once('.').expect("jws");
    let sig = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig).expect("b64");
    let raw_key = ParsedPublicKey::new(raw_verification(alg), public.spki_der()).expect("parsed");

    let mut group = c.benchmark_group(alg.as_str());
    group.bench_function("raw_verify", |b| {
        b.iter(|| {
            raw_key
                .verify_sig(black_box(input.as_bytes()), black_box(&sig))
                .expect("raw");
        });
    });
    group.bench_function("asap_verify", |b| {
        b.iter(|| ready(verifier.verify(black_box(token.as_str()))).expect("verify"));
    });
    group.bench_function("raw_sign", |b| {
        b.iter(|| private.sign(alg, black_box(input.as_bytes())).expect("sign"));
    });
    group.bench_function("asap_sign", |b| {
        b.iter(|| signer.sign(black_box(&audience)).expect("sign"));
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        bench_alg(c, alg);
    }
}

criterion_group! {
    name = sign_verify;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = benches
}
criterion_main!(sign_verify);
