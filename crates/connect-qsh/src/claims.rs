//! The claims of a Connect token: the registered claims typed by asap-core, and `qsh`.

use asap_core::{RegisteredClaims, TimeClaims, TokenError};
use serde_json::{Map, Value};

/// The `qsh` value of a token bound to the page context rather than to one request (issued by
/// the product for `AP.context.getToken()`).
pub const CONTEXT_QSH: &str = "context-qsh";

/// The claims of a verified Connect token.
#[derive(Clone, PartialEq)]
pub struct ConnectClaims {
    iss: String,
    /// `None` only for the app's own session tokens, which carry no `qsh`.
    qsh: Option<String>,
    time: TimeClaims,
    registered: RegisteredClaims,
}

impl ConnectClaims {
    /// The Connect required-claims rule, on claims typed by asap-core: `iss`, `qsh` (a
    /// non-empty string), `iat` and `exp` present; `sub`, `aud`, `jti` and `nbf` optional.
    pub(crate) fn decode(json: &[u8]) -> Result<ConnectClaims, TokenError> {
        ConnectClaims::decode_request(RegisteredClaims::decode(json)?)
    }

    /// [`ConnectClaims::decode`] on claims already typed.
    pub(crate) fn decode_request(mut registered: RegisteredClaims) -> Result<ConnectClaims, TokenError> {
        let iss = registered.iss.take().ok_or(TokenError::MissingClaim("iss"))?;
        let qsh = registered
            .take_string("qsh")?
            .ok_or(TokenError::MissingClaim("qsh"))?;
        let time = registered.time_claims()?;
        Ok(ConnectClaims {
            iss,
            qsh: Some(qsh),
            time,
            registered,
        })
    }

    /// The session-token claims rule: `iss`, `iat`, `exp` and exactly one `aud` (the tenant's
    /// client key) present, and **no** `qsh`. The absence of `qsh` is what tells a session token
    /// from the app's outbound tokens to the product (same issuer, same secret, always a
    /// `qsh`), so that one of those can never be replayed to the app as a session.
    pub(crate) fn decode_session(mut registered: RegisteredClaims) -> Result<ConnectClaims, TokenError> {
        let iss = registered.iss.take().ok_or(TokenError::MissingClaim("iss"))?;
        if registered.extra.contains_key("qsh") {
            return Err(TokenError::InvalidClaim {
                claim: "qsh",
                reason: "an app session token carries no qsh",
            });
        }
        match registered.aud.len() {
            0 => return Err(TokenError::MissingClaim("aud")),
            1 => {}
            _ => {
                return Err(TokenError::InvalidClaim {
                    claim: "aud",
                    reason: "an app session token names exactly one tenant",
                });
            }
        }
        let time = registered.time_claims()?;
        Ok(ConnectClaims {
            iss,
            qsh: None,
            time,
            registered,
        })
    }

    /// `iss`: the tenant's client key (inbound), or the app key (outbound to the product).
    pub fn issuer(&self) -> &str {
        &self.iss
    }

    /// `sub`: the user the request acts for (an Atlassian account id), when present.
    pub fn subject(&self) -> Option<&str> {
        self.registered.sub.as_deref()
    }

    /// `aud`, as a list (empty when absent).
    pub fn audiences(&self) -> &[String] {
        &self.registered.aud
    }

    /// `jti`, when present.
    pub fn jti(&self) -> Option<&str> {
        self.registered.jti.as_deref()
    }

    /// `iat`, seconds since the Unix epoch.
    pub fn issued_at(&self) -> i64 {
        self.time.issued_at
    }

    /// `exp`, seconds since the Unix epoch.
    pub fn expires_at(&self) -> i64 {
        self.time.expires_at
    }

    /// `nbf`, when present.
    pub fn not_before(&self) -> Option<i64> {
        self.time.not_before
    }

    /// `iat`, `nbf` and `exp` for the time rule.
    pub(crate) fn time_claims(&self) -> &TimeClaims {
        &self.time
    }

    /// `qsh`: the query string hash, or [`CONTEXT_QSH`]; empty for the app's own session
    /// tokens, which carry none.
    pub fn qsh(&self) -> &str {
        self.qsh.as_deref().unwrap_or_default()
    }

    /// The `context` claim (user, license, product details), when present.
    pub fn context(&self) -> Option<&Value> {
        self.registered.extra.get("context")
    }

    /// A claim other than the registered ones and `qsh`, by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.registered.extra.get(name)
    }

    /// The claims other than the registered ones and `qsh`.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.registered.extra
    }
}

impl std::fmt::Debug for ConnectClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectClaims")
            .field("iss", &self.iss)
            .field("sub", &self.registered.sub)
            .field("aud", &self.registered.aud)
            .field("iat", &self.time.issued_at)
            .field("exp", &self.time.expires_at)
            .field("qsh", &self.qsh)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[allow(clippy::needless_pass_by_value)] // callers build the value inline
    fn claims(v: Value) -> Result<ConnectClaims, TokenError> {
        ConnectClaims::decode(v.to_string().as_bytes())
    }

    #[test]
    fn required_claims_are_strictly_typed() {
        let ok = json!({"iss": "k", "qsh": "h", "iat": 1, "exp": 2, "aud": ["a"], "sub": "u", "context": {}});
        let c = claims(ok).expect("valid");
        assert_eq!(
            (c.issuer(), c.subject(), c.audiences(), c.qsh()),
            ("k", Some("u"), &["a".to_owned()][..], "h")
        );
        assert_eq!(c.extra().len(), 1, "qsh is typed, not an extra claim");
        assert!(c.context().is_some());
        for (v, missing) in [
            (json!({"qsh": "h", "iat": 1, "exp": 2}), "iss"),
            (json!({"iss": "k", "iat": 1, "exp": 2}), "qsh"),
            (json!({"iss": "k", "qsh": "h", "exp": 2}), "iat"),
            (json!({"iss": "k", "qsh": "h", "iat": 1}), "exp"),
        ] {
            assert!(
                matches!(claims(v), Err(TokenError::MissingClaim(m)) if m == missing),
                "{missing}"
            );
        }
        for (v, invalid) in [
            (json!({"iss": "k", "qsh": "h", "iat": 1.5, "exp": 2}), "iat"),
            (json!({"iss": "", "qsh": "h", "iat": 1, "exp": 2}), "iss"),
            (json!({"iss": "k", "qsh": 7, "iat": 1, "exp": 2}), "qsh"),
            (
                json!({"iss": "k", "qsh": "h", "iat": 1, "exp": 2, "aud": [1]}),
                "aud",
            ),
        ] {
            assert!(
                matches!(claims(v), Err(TokenError::InvalidClaim { claim, .. }) if claim == invalid),
                "{invalid}"
            );
        }
    }
}
