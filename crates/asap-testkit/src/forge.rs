//! Tokens made by hand for attack tests: any header, any claims (including JSON no serializer
//! would write, such as repeated keys), any signature.
//!
//! The signer is the caller's closure over the signing input (`base64url(header) "."
//! base64url(claims)`), so these forgers depend on none of the crates under test and an attack
//! that needs a valid signature can still sign through the real seam:
//!
//! ```
//! use asap_testkit::forge::{self, Hmac};
//! use serde_json::json;
//!
//! let header = json!({"alg": "HS256", "kid": "svc/k1"});
//! let claims = json!({"iss": "svc", "aud": "api"});
//! // HMAC keyed with bytes the attacker knows (the classic algorithm confusion)…
//! let confused = forge::signed(&header, &claims, |input| Hmac::Sha256.sign(b"public key bytes", input));
//! // …or no signature at all, or one chosen byte by byte.
//! let unsigned = forge::unsigned(&json!({"alg": "none"}), &claims);
//! let chosen = forge::with_signature(&header, &claims, &[0; 64]);
//! assert_eq!(forge::claims_of(&confused), claims);
//! assert!(unsigned.ends_with('.'));
//! assert_eq!(chosen.split('.').count(), 3);
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// Unpadded base64url, the JWS segment encoding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `base64url(header) "." base64url(claims)` from raw JSON texts: what a JWS signature covers.
pub fn signing_input(header: &str, claims: &str) -> String {
    format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()))
}

/// A token from raw JSON texts (for repeated keys, deep nesting, non-objects), signed by `sign`
/// over the signing input.
pub fn signed_text(header: &str, claims: &str, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = signing_input(header, claims);
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

/// A token from JSON values, signed by `sign` over the signing input.
pub fn signed(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    signed_text(&header.to_string(), &claims.to_string(), sign)
}

/// A token whose signature segment is exactly `signature` (zero, truncated, swapped halves…).
pub fn with_signature(header: &Value, claims: &Value, signature: &[u8]) -> String {
    signed(header, claims, |_| signature.to_vec())
}

/// A token with an empty signature segment, as `alg: none` tokens are written.
pub fn unsigned(header: &Value, claims: &Value) -> String {
    with_signature(header, claims, &[])
}

/// The claims segment of `token`, decoded.
///
/// # Panics
///
/// When the token has no second segment or it is not base64url-encoded JSON: a test's own token
/// is broken.
pub fn claims_of(token: &str) -> Value {
    let segment = token.split('.').nth(1).expect("a token with a claims segment");
    let bytes = URL_SAFE_NO_PAD.decode(segment).expect("base64url claims");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// The signature segment of `token`, decoded.
///
/// # Panics
///
/// When the token has no third segment or it is not base64url: a test's own token is broken.
pub fn signature_of(token: &str) -> Vec<u8> {
    let segment = token.split('.').nth(2).expect("a token with a signature segment");
    URL_SAFE_NO_PAD.decode(segment).expect("base64url signature")
}

/// The HMAC functions of the `HS*` algorithms, for tokens signed with a secret the attacker
/// chose or guessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hmac {
    /// HMAC-SHA-256 (`HS256`).
    Sha256,
    /// HMAC-SHA-384 (`HS384`).
    Sha384,
    /// HMAC-SHA-512 (`HS512`).
    Sha512,
}

impl Hmac {
    /// Every `HS*` algorithm.
    pub const ALL: [Hmac; 3] = [Hmac::Sha256, Hmac::Sha384, Hmac::Sha512];

    /// The JWS `alg` name: `HS256`, `HS384` or `HS512`.
    pub fn jws_name(self) -> &'static str {
        match self {
            Hmac::Sha256 => "HS256",
            Hmac::Sha384 => "HS384",
            Hmac::Sha512 => "HS512",
        }
    }

    /// The tag of `input` under `secret`.
    pub fn sign(self, secret: &[u8], input: &[u8]) -> Vec<u8> {
        let algorithm = match self {
            Hmac::Sha256 => aws_lc_rs::hmac::HMAC_SHA256,
            Hmac::Sha384 => aws_lc_rs::hmac::HMAC_SHA384,
            Hmac::Sha512 => aws_lc_rs::hmac::HMAC_SHA512,
        };
        let key = aws_lc_rs::hmac::Key::new(algorithm, secret);
        aws_lc_rs::hmac::sign(&key, input).as_ref().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_signature_covers_exactly_the_first_two_segments() {
        let token = signed_text(r#"{"alg":"X","alg":"Y"}"#, "[]", |input| input.to_vec());
        let (input, signature) = token.rsplit_once('.').expect("three segments");
        assert_eq!(input, signing_input(r#"{"alg":"X","alg":"Y"}"#, "[]"));
        assert_eq!(URL_SAFE_NO_PAD.decode(signature).expect("b64"), input.as_bytes());
    }

    #[test]
    fn chosen_and_empty_signatures_are_written_as_given() {
        let (header, claims) = (json!({"alg": "none"}), json!({"iss": "svc"}));
        assert!(unsigned(&header, &claims).ends_with('.'));
        let token = with_signature(&header, &claims, &[0xff, 0]);
        assert!(token.ends_with("._wA"), "{token}");
        assert_eq!(signature_of(&token), [0xff, 0]);
        assert_eq!(claims_of(&token), claims);
    }

    #[test]
    fn hmac_tags_match_rfc_4231_test_case_2() {
        let input = b"what do ya want for nothing?";
        let tag = |alg: Hmac| hex(&alg.sign(b"Jefe", input));
        assert_eq!(
            tag(Hmac::Sha256),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(tag(Hmac::Sha384).starts_with("af45d2e376484031617f78d2b58a6b1b"));
        assert!(tag(Hmac::Sha512).starts_with("164b7a7bfcf819e2e395fbe73b56e0a3"));
        let names: Vec<&str> = Hmac::ALL.iter().map(|a| a.jws_name()).collect();
        assert_eq!(names, ["HS256", "HS384", "HS512"]);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
