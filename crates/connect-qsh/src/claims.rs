//! The claims of a Connect token, strictly typed, and the time rule.

use serde_json::{Map, Value};

use crate::error::AuthError;

/// The `qsh` value of a token bound to the page context rather than to one request (issued by
/// the product for `AP.context.getToken()`).
pub const CONTEXT_QSH: &str = "context-qsh";

/// The claims of a verified Connect token.
#[derive(Clone, PartialEq)]
pub struct ConnectClaims {
    iss: String,
    sub: Option<String>,
    aud: Vec<String>,
    iat: i64,
    exp: i64,
    nbf: Option<i64>,
    qsh: String,
    all: Map<String, Value>,
}

impl ConnectClaims {
    /// Reads and type-checks the claims: `iss` and `qsh` non-empty strings, `iat` and `exp` JSON
    /// integers, optional `sub` (string), `aud` (string or array of strings) and `nbf` (integer).
    pub(crate) fn from_map(all: Map<String, Value>) -> Result<ConnectClaims, AuthError> {
        let iss = required_string(&all, "iss")?;
        let qsh = required_string(&all, "qsh")?;
        let iat = required_time(&all, "iat")?;
        let exp = required_time(&all, "exp")?;
        let nbf = match all.get("nbf") {
            None => None,
            Some(_) => Some(required_time(&all, "nbf")?),
        };
        let sub = match all.get("sub") {
            None => None,
            Some(_) => Some(required_string(&all, "sub")?),
        };
        let aud = match all.get("aud") {
            None => Vec::new(),
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(AuthError::InvalidClaim {
                    claim: "aud",
                    reason: "not a string or an array of strings",
                })?,
            Some(_) => {
                return Err(AuthError::InvalidClaim {
                    claim: "aud",
                    reason: "not a string or an array of strings",
                });
            }
        };
        Ok(ConnectClaims {
            iss,
            sub,
            aud,
            iat,
            exp,
            nbf,
            qsh,
            all,
        })
    }

    /// `iss`: the tenant's client key (inbound), or the app key (outbound to the product).
    pub fn issuer(&self) -> &str {
        &self.iss
    }

    /// `sub`: the user the request acts for (an Atlassian account id), when present.
    pub fn subject(&self) -> Option<&str> {
        self.sub.as_deref()
    }

    /// `aud`, as a list (empty when absent).
    pub fn audiences(&self) -> &[String] {
        &self.aud
    }

    /// `iat`, seconds since the Unix epoch.
    pub fn issued_at(&self) -> i64 {
        self.iat
    }

    /// `exp`, seconds since the Unix epoch.
    pub fn expires_at(&self) -> i64 {
        self.exp
    }

    /// `nbf`, when present.
    pub fn not_before(&self) -> Option<i64> {
        self.nbf
    }

    /// `qsh`: the query string hash, or [`CONTEXT_QSH`].
    pub fn qsh(&self) -> &str {
        &self.qsh
    }

    /// The `context` claim (user, license, product details), when present.
    pub fn context(&self) -> Option<&Value> {
        self.all.get("context")
    }

    /// Any claim by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.all.get(name)
    }

    /// Every claim, as sent.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.all
    }
}

impl std::fmt::Debug for ConnectClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectClaims")
            .field("iss", &self.iss)
            .field("sub", &self.sub)
            .field("aud", &self.aud)
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .field("qsh", &self.qsh)
            .finish_non_exhaustive()
    }
}

fn required_string(map: &Map<String, Value>, claim: &'static str) -> Result<String, AuthError> {
    match map.get(claim) {
        None => Err(AuthError::MissingClaim(claim)),
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(AuthError::InvalidClaim {
            claim,
            reason: "not a non-empty string",
        }),
    }
}

fn required_time(map: &Map<String, Value>, claim: &'static str) -> Result<i64, AuthError> {
    match map.get(claim) {
        None => Err(AuthError::MissingClaim(claim)),
        Some(Value::Number(n)) => n.as_i64().ok_or(AuthError::InvalidClaim {
            claim,
            reason: "not a JSON integer number of seconds",
        }),
        Some(_) => Err(AuthError::InvalidClaim {
            claim,
            reason: "not a JSON integer number of seconds",
        }),
    }
}

/// The time rule: `iat <= now + leeway`, `nbf <= now + leeway`, `now <= exp + leeway` (exp
/// inclusive), `iat <= exp`.
pub(crate) fn check_time(claims: &ConnectClaims, now: i64, leeway: i64) -> Result<(), AuthError> {
    if claims.iat > claims.exp {
        return Err(AuthError::BadLifetime {
            iat: claims.iat,
            exp: claims.exp,
        });
    }
    if claims.iat > now.saturating_add(leeway) {
        return Err(AuthError::IssuedInFuture { iat: claims.iat, now });
    }
    if let Some(nbf) = claims.nbf
        && nbf > now.saturating_add(leeway)
    {
        return Err(AuthError::NotYetValid { nbf, now });
    }
    if now > claims.exp.saturating_add(leeway) {
        return Err(AuthError::Expired { exp: claims.exp, now });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(v: Value) -> Result<ConnectClaims, AuthError> {
        match v {
            Value::Object(map) => ConnectClaims::from_map(map),
            _ => unreachable!(),
        }
    }

    #[test]
    fn required_claims_are_strictly_typed() {
        let ok = json!({"iss": "k", "qsh": "h", "iat": 1, "exp": 2, "aud": ["a"], "sub": "u"});
        let c = claims(ok).expect("valid");
        assert_eq!(
            (c.issuer(), c.subject(), c.audiences()),
            ("k", Some("u"), &["a".to_owned()][..])
        );
        assert!(matches!(
            claims(json!({"qsh": "h", "iat": 1, "exp": 2})),
            Err(AuthError::MissingClaim("iss"))
        ));
        assert!(matches!(
            claims(json!({"iss": "k", "iat": 1, "exp": 2})),
            Err(AuthError::MissingClaim("qsh"))
        ));
        assert!(matches!(
            claims(json!({"iss": "k", "qsh": "h", "iat": 1.5, "exp": 2})),
            Err(AuthError::InvalidClaim { claim: "iat", .. })
        ));
        assert!(matches!(
            claims(json!({"iss": "", "qsh": "h", "iat": 1, "exp": 2})),
            Err(AuthError::InvalidClaim { claim: "iss", .. })
        ));
        assert!(matches!(
            claims(json!({"iss": "k", "qsh": "h", "iat": 1, "exp": 2, "aud": [1]})),
            Err(AuthError::InvalidClaim { claim: "aud", .. })
        ));
    }

    #[test]
    fn time_rule_applies_the_leeway_at_both_ends() {
        let c = claims(json!({"iss": "k", "qsh": "h", "iat": 1000, "exp": 1180})).expect("valid");
        assert!(check_time(&c, 1000, 30).is_ok());
        assert!(check_time(&c, 1210, 30).is_ok());
        assert!(matches!(check_time(&c, 1211, 30), Err(AuthError::Expired { .. })));
        assert!(check_time(&c, 970, 30).is_ok());
        assert!(matches!(
            check_time(&c, 969, 30),
            Err(AuthError::IssuedInFuture { .. })
        ));
        let backwards = claims(json!({"iss": "k", "qsh": "h", "iat": 5, "exp": 4})).expect("valid");
        assert!(matches!(
            check_time(&backwards, 5, 30),
            Err(AuthError::BadLifetime { .. })
        ));
        let nbf = claims(json!({"iss": "k", "qsh": "h", "iat": 1, "exp": 9999, "nbf": 2000})).expect("valid");
        assert!(matches!(
            check_time(&nbf, 1000, 30),
            Err(AuthError::NotYetValid { .. })
        ));
    }
}
