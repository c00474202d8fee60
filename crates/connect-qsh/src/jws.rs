//! Compact JWS: splitting, strict decoding, HS256 with aws-lc-rs `hmac`.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::error::{AuthError, truncate};
use crate::secret::SharedSecret;

/// A token cut into its parts, header and claims decoded but nothing verified yet.
pub(crate) struct Jws<'a> {
    pub(crate) header: Map<String, Value>,
    pub(crate) claims: Map<String, Value>,
    pub(crate) signing_input: &'a str,
    pub(crate) signature: Vec<u8>,
}

impl<'a> Jws<'a> {
    /// The size rule first (before any parsing), then three base64url segments of strict JSON.
    pub(crate) fn parse(token: &'a str, max_bytes: usize) -> Result<Jws<'a>, AuthError> {
        if token.len() > max_bytes {
            return Err(AuthError::TooLarge {
                len: token.len(),
                max: max_bytes,
            });
        }
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed(
                "a token has exactly three dot-separated segments",
            ));
        };
        let signing_input = &token[..header.len() + 1 + claims.len()];
        let header = decode_object(header, "header")?;
        let claims = decode_object(claims, "claims")?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| AuthError::Malformed("the signature is not unpadded base64url"))?;
        if header.contains_key("crit") {
            // RFC 7515: a recipient must refuse extensions it does not understand.
            return Err(AuthError::ForbiddenHeader("crit"));
        }
        Ok(Jws {
            header,
            claims,
            signing_input,
            signature,
        })
    }

    /// The `alg` header, a string.
    pub(crate) fn alg(&self) -> Result<&str, AuthError> {
        match self.header.get("alg") {
            Some(Value::String(alg)) => Ok(alg),
            _ => Err(AuthError::Malformed(
                "the `alg` header is missing or not a string",
            )),
        }
    }

    /// The alg rule: exactly `expected` (case-sensitive, RFC 7515); `none` and everything else
    /// refused.
    pub(crate) fn require_alg(&self, expected: &'static str) -> Result<(), AuthError> {
        let alg = self.alg()?;
        if alg == expected {
            Ok(())
        } else {
            Err(AuthError::Algorithm {
                found: truncate(alg),
                expected,
            })
        }
    }

    /// The HS256 signature rule: an HMAC-SHA256 tag, compared in constant time by aws-lc-rs.
    pub(crate) fn verify_hs256(&self, secret: &SharedSecret) -> Result<(), AuthError> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
        hmac::verify(&key, self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| AuthError::BadSignature)
    }
}

fn decode_object(segment: &str, what: &'static str) -> Result<Map<String, Value>, AuthError> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).map_err(|_| {
        AuthError::Malformed(match what {
            "header" => "the header is not unpadded base64url",
            _ => "the claims are not unpadded base64url",
        })
    })?;
    asap_core::parse_json_object(&bytes).map_err(|dup| match dup {
        Some(key) => AuthError::DuplicateKey(key),
        None => AuthError::Malformed(match what {
            "header" => "the header is not a JSON object",
            _ => "the claims are not a JSON object",
        }),
    })
}

/// An HS256 compact JWS of `claims` with header `{"alg":"HS256","typ":"JWT"}`.
pub(crate) fn encode_hs256(claims: &Value, secret: &SharedSecret) -> String {
    // Serialising a `Value` cannot fail.
    let claims = serde_json::to_vec(claims).unwrap_or_default();
    let mut token = String::with_capacity(claims.len() * 4 / 3 + 128);
    URL_SAFE_NO_PAD.encode_string(br#"{"alg":"HS256","typ":"JWT"}"#, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&claims, &mut token);
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    let tag = hmac::sign(&key, token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(tag.as_ref(), &mut token);
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn hs256_round_trips_and_detects_a_changed_secret() {
        let secret = SharedSecret::new("secret");
        let token = encode_hs256(&serde_json::json!({"iss": "a"}), &secret);
        let jws = Jws::parse(&token, 8192).expect("well formed");
        jws.require_alg("HS256").expect("HS256");
        jws.verify_hs256(&secret).expect("verifies");
        assert!(matches!(
            jws.verify_hs256(&SharedSecret::new("other")),
            Err(AuthError::BadSignature)
        ));
    }

    #[test]
    fn size_is_checked_before_parsing() {
        let junk = "x".repeat(100);
        assert!(matches!(
            Jws::parse(&junk, 10),
            Err(AuthError::TooLarge { len: 100, max: 10 })
        ));
    }

    #[test]
    fn wrong_segment_counts_and_crit_are_refused() {
        assert!(matches!(Jws::parse("a.b", 99), Err(AuthError::Malformed(_))));
        assert!(matches!(Jws::parse("a.b.c.d", 99), Err(AuthError::Malformed(_))));
        let token = format!("{}.{}.", b64(r#"{"alg":"HS256","crit":["x"]}"#), b64("{}"));
        assert!(matches!(
            Jws::parse(&token, 999),
            Err(AuthError::ForbiddenHeader("crit"))
        ));
    }

    #[test]
    fn alg_must_match_exactly() {
        for alg in ["none", "hs256", "HS512", "RS256", "NONE"] {
            let token = format!("{}.{}.", b64(&format!(r#"{{"alg":"{alg}"}}"#)), b64("{}"));
            let jws = Jws::parse(&token, 999).expect("well formed");
            assert!(
                matches!(jws.require_alg("HS256"), Err(AuthError::Algorithm { .. })),
                "{alg}"
            );
        }
    }
}
