//! Key loading and the signing/verifying seam.

use asap_core::*;

use crate::support::fixture_path;

fn read(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).expect("fixture")
}

#[test]
fn generated_keys_round_trip_through_pkcs8_pem() {
    for spec in [
        KeySpec::Rsa(2048),
        KeySpec::Curve(KeyKind::P256),
        KeySpec::Curve(KeyKind::P384),
        KeySpec::Curve(KeyKind::P521),
        KeySpec::Curve(KeyKind::Ed25519),
    ] {
        let key = PrivateKey::generate(spec).expect("generate");
        let pem = key.to_pkcs8_pem().expect("pem");
        let back = PrivateKey::from_pem(&pem).expect("parse");
        assert_eq!(back.kind(), key.kind());
        let public = PublicKey::from_pem(&key.public_key().expect("public").to_pem()).expect("public pem");
        let alg = key.default_algorithm();
        let sig = back.sign(alg, b"message").expect("sign");
        public.verify(alg, b"message", &sig).expect("verify");
        assert!(public.verify(alg, b"messagE", &sig).is_err());
    }
}

#[test]
fn pkcs1_rsa_and_sec1_ec_keys_load() {
    let rsa = PrivateKey::from_pem(&read("rsa2048-pkcs1.pem")).expect("pkcs1");
    assert_eq!(rsa.kind(), KeyKind::Rsa);
    let p256 = PrivateKey::from_pem(&read("ec-p256-sec1.pem")).expect("sec1 with parameters block");
    assert_eq!(p256.kind(), KeyKind::P256);
    let p384 = PrivateKey::from_pem(&read("ec-p384-sec1.pem")).expect("sec1");
    assert_eq!(p384.kind(), KeyKind::P384);

    let public = PublicKey::from_pem(&read("rsa2048-pkcs1-public.pem")).expect("RSA PUBLIC KEY");
    let sig = rsa.sign(Algorithm::PS256, b"m").expect("sign");
    public.verify(Algorithm::PS256, b"m", &sig).expect("verify");
}

#[test]
fn weak_rsa_keys_are_refused_both_ways() {
    assert!(matches!(
        PrivateKey::from_pem(&read("rsa1024-pkcs8.pem")),
        Err(KeyError::RsaTooSmall { bits: 1024 })
    ));
    assert!(matches!(
        PublicKey::from_pem(&read("rsa1024-public.pem")),
        Err(KeyError::RsaTooSmall { bits: 1024 })
    ));
    assert!(matches!(
        PrivateKey::generate(KeySpec::Rsa(1024)),
        Err(KeyError::RsaTooSmall { .. })
    ));
}

#[test]
fn public_key_sources_refuse_private_keys_certificates_and_garbage() {
    assert!(matches!(
        PublicKey::from_pem(&read("rsa2048-pkcs1.pem")),
        Err(KeyError::WrongKeyClass { expected: "public" })
    ));
    assert!(matches!(
        PublicKey::from_pem(&read("ec-p256-cert.pem")),
        Err(KeyError::Pem(_))
    ));
    assert!(PublicKey::from_pem("<html>hello</html>").is_err());
    assert!(PublicKey::from_pem("").is_err());
    assert!(PublicKey::from_spki_der(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
    assert!(matches!(
        PrivateKey::from_pem(&read("rsa1024-public.pem")),
        Err(KeyError::WrongKeyClass { expected: "private" })
    ));
}

#[test]
fn key_kind_must_fit_the_algorithm() {
    let p384 = PrivateKey::generate(KeySpec::Curve(KeyKind::P384)).expect("p384");
    assert!(matches!(
        p384.sign(Algorithm::ES256, b"m"),
        Err(SignError::Key(KeyError::AlgorithmMismatch { .. }))
    ));
    let public = p384.public_key().expect("public");
    let sig = p384.sign(Algorithm::ES384, b"m").expect("sign");
    assert!(matches!(
        public.verify(Algorithm::ES256, b"m", &sig),
        Err(TokenError::KeyAlgorithmMismatch {
            alg: Algorithm::ES256,
            key: KeyKind::P384
        })
    ));
    assert!(matches!(
        public.verify(Algorithm::RS256, b"m", &sig),
        Err(TokenError::KeyAlgorithmMismatch { .. })
    ));
}

#[test]
fn one_rsa_key_verifies_every_rsa_algorithm() {
    let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let public = key.public_key().expect("public");
    for alg in Algorithm::ALL
        .into_iter()
        .filter(|a| a.key_kind() == KeyKind::Rsa)
    {
        let sig = key.sign(alg, b"m").expect("sign");
        public.verify(alg, b"m", &sig).expect("verify");
    }
    // A PKCS#1 v1.5 signature is not a PSS signature.
    let sig = key.sign(Algorithm::RS256, b"m").expect("sign");
    assert!(public.verify(Algorithm::PS256, b"m", &sig).is_err());
}

#[test]
fn ecdsa_signatures_are_fixed_width() {
    for (kind, alg, len) in [
        (KeyKind::P256, Algorithm::ES256, 64),
        (KeyKind::P384, Algorithm::ES384, 96),
        (KeyKind::P521, Algorithm::ES512, 132),
    ] {
        let key = PrivateKey::generate(KeySpec::Curve(kind)).expect("key");
        let sig = key.sign(alg, b"m").expect("sign");
        assert_eq!(sig.len(), len, "{alg}");
        let public = key.public_key().expect("public");
        // Zero r and s, and truncated or extended signatures, never verify.
        assert!(public.verify(alg, b"m", &vec![0; len]).is_err());
        assert!(public.verify(alg, b"m", &sig[..len - 1]).is_err());
        let mut longer = sig.clone();
        longer.push(0);
        assert!(public.verify(alg, b"m", &longer).is_err());
    }
}

#[test]
fn debug_output_holds_no_key_material() {
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
    let debug = format!("{key:?}");
    assert_eq!(debug, "PrivateKey { kind: P256, .. }");
}
