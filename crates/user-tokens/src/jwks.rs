//! The JWKS view of a service's own signing keys, as the package's `/.well-known/jwks.json`
//! publishes them, so that peers can register the service's JWKS URL as one of its users.

use asap_core::{KeyId, KeyKind, PublicKey};
use asap_keys::JwkSet;
use serde_json::{Value, json};

use crate::fingerprint::Fingerprint;

/// The JWK of one public key: `kty`, `use: "sig"`, `alg` (the profile's preferred one), `kid`
/// (the [`Fingerprint`]) and the key's public parameters — RSA `n` and `e`, Ed25519
/// (`kty: "OKP"`, `crv: "Ed25519"`) `x`. `None` for a key this profile does not sign with (EC).
///
/// The members other than `alg` are asap-keys's one JWK writer ([`JwkSet::key_json`]). The
/// package itself describes RSA keys only (its Ed25519 keys have no JWK form); the OKP form is
/// RFC 8037's, which PyJWT reads.
pub fn user_jwk(key: &PublicKey) -> Option<Value> {
    let alg = match key.kind() {
        KeyKind::Rsa => "RS512",
        KeyKind::Ed25519 => "EdDSA",
        _ => return None,
    };
    // A fingerprint (64 lowercase hex digits) is always a valid kid.
    let kid = KeyId::parse(Fingerprint::of(key).as_str()).ok()?;
    let mut jwk = JwkSet::key_json(&kid, key)?;
    jwk.insert("alg".to_owned(), Value::from(alg));
    Some(Value::Object(jwk))
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

#[cfg(test)]
mod tests {
    use asap_core::{KeySpec, PrivateKey};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    #[test]
    fn rsa_numbers_come_out_of_the_spki() {
        let key = PrivateKey::generate(KeySpec::Rsa(2048))
            .and_then(|k| k.public_key())
            .expect("key");
        let jwk = user_jwk(&key).expect("jwk");
        let n = URL_SAFE_NO_PAD
            .decode(jwk["n"].as_str().expect("n"))
            .expect("base64url");
        let e = URL_SAFE_NO_PAD
            .decode(jwk["e"].as_str().expect("e"))
            .expect("base64url");
        assert_eq!(n.len(), 256);
        assert_eq!(e, [1, 0, 1]);
        assert_eq!(jwk["alg"], "RS512");
    }

    #[test]
    fn every_jwk_reads_back_as_its_key_under_its_fingerprint() {
        for spec in [KeySpec::Rsa(2048), KeySpec::Curve(KeyKind::Ed25519)] {
            let key = PrivateKey::generate(spec)
                .and_then(|k| k.public_key())
                .expect("key");
            let set = JwkSet::parse(user_jwks([&key]).to_string().as_bytes()).expect("a JWK set");
            let kid = KeyId::parse(Fingerprint::of(&key).as_str()).expect("kid");
            assert_eq!(set.get(&kid).map(|jwk| &**jwk.key()), Some(&key));
        }
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
