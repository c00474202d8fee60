//! Outbound tokens: what an app sends with each request to the product.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use asap_core::{
    Algorithm, Clock, HmacAlgorithm, KeyId, PrivateKey, SystemClock, encode_compact, json_write,
};
use http::HeaderValue;

use crate::canonical::qsh;
use crate::error::{ConfigError, SignError};
use crate::secret::SharedSecret;

/// The default lifetime of an outbound token (the product's own tokens live as long).
pub const DEFAULT_CONNECT_LIFETIME: Duration = Duration::from_secs(180);

/// The longest lifetime a [`ConnectSigner`] accepts.
pub const MAX_CONNECT_LIFETIME: Duration = Duration::from_secs(3600);

/// Makes Connect tokens bound to one request by its `qsh`: HS256 with a shared secret
/// ([`ConnectSigner::sign`]), or RS256 with a private key and its `kid`
/// ([`ConnectSigner::sign_rs256`], the way the product signs lifecycle callbacks).
///
/// Claims: `iss` (the issuer given to [`ConnectSigner::new`]: the app key for calls to the
/// product, or a client key when acting as the product in tests), `iat`, `exp`, `qsh`, and
/// optionally `sub` and `aud`. Cheap to clone.
///
/// ```
/// use connect_qsh::{ConnectSigner, SharedSecret};
/// let signer = ConnectSigner::new("my-app");
/// let secret = SharedSecret::new("tenant secret from the installed callback")?;
/// let header = signer.authorization(
///     &secret,
///     "GET",
///     "https://acme.atlassian.net/wiki/rest/api/space?limit=10",
///     "https://acme.atlassian.net/wiki",
/// )?;
/// assert!(header.to_str()?.starts_with("JWT "));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ConnectSigner {
    issuer: String,
    lifetime: Duration,
    subject: Option<String>,
    audience: Option<String>,
    clock: Arc<dyn Clock>,
}

impl ConnectSigner {
    /// A signer with `iss` = `issuer` and the default lifetime (180 s).
    pub fn new(issuer: impl Into<String>) -> ConnectSigner {
        ConnectSigner {
            issuer: issuer.into(),
            lifetime: DEFAULT_CONNECT_LIFETIME,
            subject: None,
            audience: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Sets the lifetime: at least one second, at most [`MAX_CONNECT_LIFETIME`].
    pub fn lifetime(mut self, lifetime: Duration) -> Result<ConnectSigner, ConfigError> {
        if lifetime < Duration::from_secs(1) || lifetime > MAX_CONNECT_LIFETIME {
            return Err(ConfigError(format!(
                "lifetime {lifetime:?} is outside 1 s..={MAX_CONNECT_LIFETIME:?}"
            )));
        }
        self.lifetime = lifetime;
        Ok(self)
    }

    /// Adds `sub`: the Atlassian account id to act for (user impersonation).
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> ConnectSigner {
        self.subject = Some(subject.into());
        self
    }

    /// Adds `aud` (some products expect the client key there).
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> ConnectSigner {
        self.audience = Some(audience.into());
        self
    }

    /// Uses another clock (tests).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> ConnectSigner {
        self.clock = clock;
        self
    }

    /// A token for `method` on `url`, whose `qsh` is computed relative to `base_url` (the
    /// tenant's `baseUrl`). `url` is the final URL of the request, absolute or origin-form; its
    /// path is hashed raw, as it goes on the wire. An absolute `url` on another origin than an
    /// absolute `base_url` is refused, so that a tenant's token never leaves for another host.
    pub fn sign(
        &self,
        secret: &SharedSecret,
        method: &str,
        url: &str,
        base_url: &str,
    ) -> Result<String, SignError> {
        Ok(self.sign_with_qsh(secret, &qsh(method, url, base_url)?))
    }

    /// A token whose `qsh` claim is `qsh`, as the caller computed it: the [`qsh`](crate::qsh)
    /// of a request, or [`CONTEXT_QSH`](crate::CONTEXT_QSH) for a token bound to no request
    /// (what the product hands a page through `AP.context.getToken()`, for an app that plays
    /// the product in its tests). [`ConnectSigner::sign`] is this on the request's `qsh`.
    ///
    /// ```
    /// use connect_qsh::{CONTEXT_QSH, ConnectSigner, SharedSecret, qsh};
    /// let signer = ConnectSigner::new("client-key");
    /// let secret = SharedSecret::new("s3cr3t")?;
    /// let bound = signer.sign_with_qsh(&secret, &qsh("GET", "/panel?x=1", "")?);
    /// let context = signer.sign_with_qsh(&secret, CONTEXT_QSH);
    /// assert_ne!(bound, context);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sign_with_qsh(&self, secret: &SharedSecret, qsh: &str) -> String {
        encode_hs256(&self.claims_json(qsh), secret)
    }

    /// Like [`ConnectSigner::sign`], but RS256 with `key` (an RSA private key) and `kid` in
    /// the header: the token an [`Authenticator`](crate::Authenticator) with
    /// [`public_keys`](crate::AuthenticatorBuilder::public_keys) or a
    /// [`Lifecycle`](crate::Lifecycle) verifies with the public key it finds for `kid`. Set
    /// [`ConnectSigner::audience`] to the receiving app's base URL, which those require.
    ///
    /// ```
    /// use asap_core::{KeyId, KeySpec, PrivateKey};
    /// use connect_qsh::ConnectSigner;
    /// let key = PrivateKey::generate(KeySpec::Rsa(2048))?;
    /// let kid = KeyId::parse("install-key-1")?;
    /// let token = ConnectSigner::new("client-key")
    ///     .audience("https://app.example.com")
    ///     .sign_rs256(&key, &kid, "POST", "/installed", "")?;
    /// assert_eq!(token.split('.').count(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sign_rs256(
        &self,
        key: &PrivateKey,
        kid: &KeyId,
        method: &str,
        url: &str,
        base_url: &str,
    ) -> Result<String, SignError> {
        let claims = self.claims_json(&qsh(method, url, base_url)?);
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid.as_str()});
        // Serialising a `Value` cannot fail.
        let header = serde_json::to_vec(&header).unwrap_or_default();
        encode_compact(&header, &claims, |input| key.sign(Algorithm::RS256, input)).map_err(SignError::Key)
    }

    /// The claims JSON of a token with this `qsh`: `aud`, `exp`, `iat`, `iss`, `qsh`, `sub`,
    /// written out in that (a `serde_json::Map`'s) order, each string through serde_json.
    fn claims_json(&self, qsh: &str) -> Vec<u8> {
        let now = self.clock.now();
        // Bounded by MAX_CONNECT_LIFETIME, so it fits.
        let lifetime = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX);
        let optional = |claim: &Option<String>| claim.as_ref().map_or(0, String::len);
        let mut json = Vec::with_capacity(
            96 + self.issuer.len() + qsh.len() + optional(&self.subject) + optional(&self.audience),
        );
        json.push(b'{');
        if let Some(aud) = &self.audience {
            push_string_claim(&mut json, "aud", aud);
            json.push(b',');
        }
        push_integer_claim(&mut json, "exp", now.saturating_add(lifetime));
        json.push(b',');
        push_integer_claim(&mut json, "iat", now);
        json.push(b',');
        push_string_claim(&mut json, "iss", &self.issuer);
        json.push(b',');
        push_string_claim(&mut json, "qsh", qsh);
        if let Some(sub) = &self.subject {
            json.push(b',');
            push_string_claim(&mut json, "sub", sub);
        }
        json.push(b'}');
        json
    }

    /// [`ConnectSigner::sign`] as an `Authorization: JWT <token>` header value (marked
    /// sensitive, so HTTP libraries keep it out of their logs).
    pub fn authorization(
        &self,
        secret: &SharedSecret,
        method: &str,
        url: &str,
        base_url: &str,
    ) -> Result<HeaderValue, SignError> {
        let token = self.sign(secret, method, url, base_url)?;
        let mut value = HeaderValue::try_from(format!("JWT {token}")).map_err(|_| SignError::HeaderValue)?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// `"name":"value"`, the value escaped as serde_json escapes it (`name` needs no escaping), by
/// asap-core's one claims writer.
fn push_string_claim(json: &mut Vec<u8>, name: &str, value: &str) {
    push_name(json, name);
    // Writing to a `Vec` cannot fail.
    json_write::string(json, value).unwrap_or_default();
}

/// `"name":value`, as serde_json writes an integer.
fn push_integer_claim(json: &mut Vec<u8>, name: &str, value: i64) {
    push_name(json, name);
    json_write::int(json, value).unwrap_or_default();
}

/// `"name":`.
fn push_name(json: &mut Vec<u8>, name: &str) {
    json.push(b'"');
    json.extend_from_slice(name.as_bytes());
    json.extend_from_slice(b"\":");
}

/// [`encode_hs256`] of a claims `Value`.
pub(crate) fn encode_hs256_value(claims: &serde_json::Value, secret: &SharedSecret) -> String {
    // Serialising a `Value` cannot fail.
    encode_hs256(&serde_json::to_vec(claims).unwrap_or_default(), secret)
}

/// An HS256 compact JWS of the `claims` JSON with header `{"alg":"HS256","typ":"JWT"}`, signed
/// with the secret's prepared key.
pub(crate) fn encode_hs256(claims: &[u8], secret: &SharedSecret) -> String {
    let signed = encode_compact(br#"{"alg":"HS256","typ":"JWT"}"#, claims, |input| {
        Ok::<_, std::convert::Infallible>(secret.hmac_key().sign(HmacAlgorithm::HS256, input))
    });
    match signed {
        Ok(token) => token,
        Err(never) => match never {},
    }
}

impl fmt::Debug for ConnectSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectSigner")
            .field("issuer", &self.issuer)
            .field("lifetime", &self.lifetime)
            .field("subject", &self.subject)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use asap_core::{HmacKey, Jws, ManualClock, RegisteredClaims};

    use super::*;

    #[test]
    fn claims_carry_issuer_times_and_qsh() {
        let signer = ConnectSigner::new("app")
            .clock(Arc::new(ManualClock::new(1_000)))
            .subject("user-1");
        let secret = SharedSecret::new("s").expect("not empty");
        let token = signer
            .sign(
                &secret,
                "get",
                "https://h.example/wiki/x?b=2&a=1",
                "https://h.example/wiki",
            )
            .expect("signed");
        let jws = Jws::parse(&token, 8192).expect("parses");
        jws.header().require_alg("HS256").expect("HS256");
        let key = HmacKey::new(secret.expose().as_bytes());
        jws.signature()
            .expect("signature")
            .verify(&key, HmacAlgorithm::HS256)
            .expect("verifies");
        let other = HmacKey::new(b"other");
        assert!(
            jws.signature()
                .expect("signature")
                .verify(&other, HmacAlgorithm::HS256)
                .is_err()
        );
        let mut claims = RegisteredClaims::decode(&jws.payload().expect("payload")).expect("typed");
        assert_eq!(claims.iss.as_deref(), Some("app"));
        assert_eq!(claims.sub.as_deref(), Some("user-1"));
        assert_eq!((claims.iat, claims.exp), (Some(1_000), Some(1_180)));
        assert_eq!(
            claims.take_string("qsh").expect("qsh"),
            Some(crate::canonical::qsh_of_canonical("GET&/x&a=1&b=2"))
        );
        assert!(claims.aud.is_empty());
    }

    #[test]
    fn claims_json_is_what_serde_json_writes_for_the_same_claims() {
        use serde_json::{Map, Value, json};
        for text in [
            "plain",
            "quote\" back\\slash",
            "ctl\u{0}\u{1f}\u{7f}\n\t",
            "café ☃ 😀",
            "</script>",
            "",
        ] {
            for optional in [false, true] {
                let mut signer = ConnectSigner::new(text).clock(Arc::new(ManualClock::new(-7)));
                // Inserted in key order: the same bytes with or without serde_json's
                // `preserve_order`.
                let mut expected = Map::new();
                if optional {
                    signer = signer.subject(text).audience(text);
                    expected.insert("aud".into(), json!(text));
                }
                expected.insert("exp".into(), json!(-7 + 180));
                expected.insert("iat".into(), json!(-7));
                expected.insert("iss".into(), json!(text));
                expected.insert("qsh".into(), json!(text));
                if optional {
                    expected.insert("sub".into(), json!(text));
                }
                assert_eq!(
                    String::from_utf8(signer.claims_json(text)),
                    String::from_utf8(serde_json::to_vec(&Value::Object(expected)).expect("serialises")),
                    "{text:?} {optional}"
                );
            }
        }
    }

    #[test]
    fn sign_is_sign_with_qsh_on_the_requests_qsh() {
        let signer = ConnectSigner::new("app").clock(Arc::new(ManualClock::new(1_000)));
        let secret = SharedSecret::new("s").expect("not empty");
        let qsh = crate::canonical::qsh("GET", "/x?b=2&a=1", "").expect("qsh");
        assert_eq!(
            signer.sign(&secret, "GET", "/x?b=2&a=1", "").expect("signed"),
            signer.sign_with_qsh(&secret, &qsh)
        );
    }

    #[test]
    fn lifetime_is_bounded() {
        assert!(ConnectSigner::new("a").lifetime(Duration::ZERO).is_err());
        assert!(
            ConnectSigner::new("a")
                .lifetime(Duration::from_secs(3601))
                .is_err()
        );
        assert!(
            ConnectSigner::new("a")
                .lifetime(Duration::from_secs(3600))
                .is_ok()
        );
    }

    #[test]
    fn refuses_a_url_on_another_host() {
        let err = ConnectSigner::new("a")
            .sign(
                &SharedSecret::new("s").expect("not empty"),
                "GET",
                "https://evil.example/x",
                "https://h.example",
            )
            .expect_err("must be refused");
        assert!(matches!(err, SignError::Url(_)));
    }

    #[test]
    fn authorization_header_is_sensitive() {
        let value = ConnectSigner::new("a")
            .authorization(&SharedSecret::new("s").expect("not empty"), "GET", "/x", "")
            .expect("signed");
        assert!(value.is_sensitive());
    }
}
