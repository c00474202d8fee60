//! The JWKS view of a service's own signing keys, as the package's `/.well-known/jwks.json`
//! publishes them, so that peers can register the service's JWKS URL as one of its users.

use asap_core::{KeyKind, PublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::fingerprint::Fingerprint;

/// The JWK of one public key: `kty`, `use: "sig"`, `alg` (the profile's preferred one), `kid`
/// (the [`Fingerprint`]) and the key's public parameters — RSA `n` and `e`, Ed25519
/// (`kty: "OKP"`, `crv: "Ed25519"`) `x`. `None` for a key this profile does not sign with (EC).
///
/// The package itself describes RSA keys only (its Ed25519 keys have no JWK form); the OKP
/// form here is RFC 8037's, which PyJWT reads.
pub fn user_jwk(key: &PublicKey) -> Option<Value> {
    let kid = Fingerprint::of(key);
    match key.kind() {
        KeyKind::Rsa => {
            let (n, e) = rsa_public_numbers(key.spki_der())?;
            Some(json!({
                "kty": "RSA",
                "use": "sig",
                "alg": "RS512",
                "kid": kid.as_str(),
                "n": URL_SAFE_NO_PAD.encode(n),
                "e": URL_SAFE_NO_PAD.encode(e),
            }))
        }
        KeyKind::Ed25519 => {
            // An Ed25519 SubjectPublicKeyInfo ends with the 32-byte point.
            let der = key.spki_der();
            let x = der.get(der.len().checked_sub(32)?..)?;
            Some(json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "use": "sig",
                "alg": "EdDSA",
                "kid": kid.as_str(),
                "x": URL_SAFE_NO_PAD.encode(x),
            }))
        }
        _ => None,
    }
}

/// `{"keys": [...]}` of every key this profile signs with.
///
/// ```
/// use asap_core::{KeySpec, PrivateKey};
/// let key = PrivateKey::generate(KeySpec::Rsa(2048))?.public_key()?;
/// let set = user_tokens::user_jwks([&key]);
/// assert_eq!(set["keys"][0]["kty"], "RSA");
/// assert_eq!(set["keys"][0]["kid"], user_tokens::Fingerprint::of(&key).as_str());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn user_jwks<'a>(keys: impl IntoIterator<Item = &'a PublicKey>) -> Value {
    let keys: Vec<Value> = keys.into_iter().filter_map(user_jwk).collect();
    json!({ "keys": keys })
}

/// `(n, e)` of an RSA `SubjectPublicKeyInfo`, without leading zero bytes: SEQUENCE {
/// AlgorithmIdentifier, BIT STRING { SEQUENCE { INTEGER n, INTEGER e } } }.
fn rsa_public_numbers(spki: &[u8]) -> Option<(&[u8], &[u8])> {
    let (outer, _) = der_element(spki, 0x30)?;
    let (_algorithm, rest) = der_element(outer, 0x30)?;
    let (bits, _) = der_element(rest, 0x03)?;
    let (rsa_key, _) = der_element(bits.strip_prefix(&[0])?, 0x30)?;
    let (n, rest) = der_element(rsa_key, 0x02)?;
    let (e, _) = der_element(rest, 0x02)?;
    Some((strip_zeros(n), strip_zeros(e)))
}

fn strip_zeros(mut int: &[u8]) -> &[u8] {
    while let [0, rest @ ..] = int
        && !rest.is_empty()
    {
        int = rest;
    }
    int
}

/// One DER element with tag `tag`: its contents and what follows it.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use asap_core::{KeySpec, PrivateKey};

    use super::*;

    #[test]
    fn rsa_numbers_come_out_of_the_spki() {
        let key = PrivateKey::generate(KeySpec::Rsa(2048))
            .and_then(|k| k.public_key())
            .expect("key");
        let (n, e) = rsa_public_numbers(key.spki_der()).expect("numbers");
        assert_eq!(n.len(), 256);
        assert_eq!(e, [1, 0, 1]);
    }

    #[test]
    fn ec_keys_have_no_jwk_in_this_profile() {
        let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))
            .and_then(|k| k.public_key())
            .expect("key");
        assert!(user_jwk(&key).is_none());
        assert_eq!(user_jwks([&key])["keys"], json!([]));
    }
}
