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

/// `SubjectPublicKeyInfo` of an Ed25519 key (RFC 8410): the fixed 12-byte header, then the point.
fn ed25519_spki(point: &[u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(point);
    der
}

/// p = 2^255 − 19, little-endian.
fn field_prime() -> [u8; 32] {
    let mut p = [0xff; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    p
}

/// `a + b` or `a − b` on little-endian 256-bit numbers (no overflow in the uses below).
fn add_le(a: &[u8; 32], b: &[u8; 32], subtract: bool) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = false;
    for i in 0..32 {
        let (v, c1) = if subtract {
            a[i].overflowing_sub(b[i])
        } else {
            a[i].overflowing_add(b[i])
        };
        let (v, c2) = if subtract {
            v.overflowing_sub(u8::from(carry))
        } else {
            v.overflowing_add(u8::from(carry))
        };
        out[i] = v;
        carry = c1 || c2;
    }
    assert!(!carry, "no overflow");
    out
}

fn small(value: u8) -> [u8; 32] {
    let mut v = [0u8; 32];
    v[0] = value;
    v
}

/// Every encoding of the eight small-order points, stated independently of the library: the
/// y coordinates 1 (identity), p − 1 (order 2), 0 (order 4, x = ±√−1) and y8, p − y8 (order 8),
/// each with both signs of x; plus y = p and y = p + 1, the non-canonical encodings of 0 and 1.
fn small_order_encodings() -> Vec<([u8; 32], String)> {
    let p = field_prime();
    // The y coordinate of a point of order 8 (RFC 8032 test vectors and libsodium agree).
    let hex = "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05";
    let y8: [u8; 32] = std::array::from_fn(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"));
    let ys = [
        (small(1), "1 (identity)"),
        (add_le(&p, &small(1), true), "p-1 (order 2)"),
        (small(0), "0 (order 4)"),
        (y8, "y8 (order 8)"),
        (add_le(&p, &y8, true), "p-y8 (order 8)"),
        (p, "p = 0 non-canonical"),
        (add_le(&p, &small(1), false), "p+1 = 1 non-canonical"),
    ];
    let mut out = Vec::new();
    for (y, name) in ys {
        assert_eq!(y[31] & 0x80, 0, "{name} fits in 255 bits");
        let mut negative = y;
        negative[31] |= 0x80;
        out.push((y, format!("{name}, x sign 0")));
        out.push((negative, format!("{name}, x sign 1")));
    }
    out
}

/// The signature `R` = identity, `s` = 0: valid for every message under a small-order key
/// whenever `[k]A` is the identity (always for the identity key, one message in eight at worst).
fn identity_signature() -> Vec<u8> {
    let mut sig = vec![0u8; 64];
    sig[0] = 1;
    sig
}

/// Issue 13, item 6: small-order Ed25519 public keys are refused when loaded, in every encoding
/// and through every constructor (DER SPKI, PEM). Each canonical one is shown to be dangerous
/// first: raw aws-lc-rs accepts it and verifies a signature made without any private key.
#[test]
fn small_order_ed25519_keys_are_refused_in_every_encoding() {
    use aws_lc_rs::signature::{ED25519, ParsedPublicKey};
    let encodings = small_order_encodings();
    assert_eq!(encodings.len(), 14);
    let mut forgeable = 0;
    for (point, name) in &encodings {
        if let Ok(raw) = ParsedPublicKey::new(&ED25519, ed25519_spki(point)) {
            let forged = (0..256u32).any(|i| {
                raw.verify_sig(format!("token {i}").as_bytes(), &identity_signature())
                    .is_ok()
            });
            if forged {
                forgeable += 1;
            }
        }
        let der = ed25519_spki(point);
        assert_eq!(
            PublicKey::from_spki_der(&der),
            Err(KeyError::SmallOrder),
            "DER {name}"
        );
        let pem = pem::encode(&pem::Pem::new("PUBLIC KEY", der));
        assert_eq!(PublicKey::from_pem(&pem), Err(KeyError::SmallOrder), "PEM {name}");
    }
    assert!(
        forgeable >= 8,
        "only {forgeable} encodings forge with raw aws-lc-rs"
    );
    // Ordinary keys (and the points next to the small-order ones) still load.
    for _ in 0..32 {
        let key = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("key");
        key.public_key().expect("a generated key is never of small order");
    }
}

/// The forgery the rule stops: with the identity point published as a key, a token signed
/// with `R` = identity, `s` = 0 (no private key involved) verifies under raw aws-lc-rs; our key
/// parser refuses the key with a typed error, so no verifier ever holds it.
#[test]
fn identity_key_forgery_is_refused_when_the_key_is_loaded() {
    use aws_lc_rs::signature::{ED25519, ParsedPublicKey};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let identity = small(1);
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","kid":"billing/k1","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(
        r#"{"iss":"billing","sub":"billing","aud":"ledger","jti":"j","iat":1800000000,"exp":1800000060}"#,
    );
    let input = format!("{header}.{claims}");
    let raw =
        ParsedPublicKey::new(&ED25519, ed25519_spki(&identity)).expect("aws-lc-rs takes the identity key");
    raw.verify_sig(input.as_bytes(), &identity_signature())
        .expect("the forgery verifies under the raw identity key");
    let pem = pem::encode(&pem::Pem::new("PUBLIC KEY", ed25519_spki(&identity)));
    assert_eq!(PublicKey::from_pem(&pem), Err(KeyError::SmallOrder));
    assert_eq!(
        KeyError::SmallOrder.to_string(),
        "the Ed25519 public key is a point of small order, which would verify forged signatures"
    );
}
