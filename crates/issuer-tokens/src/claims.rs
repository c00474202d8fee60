//! The claims of a central-issuer token, typed from the string encodings api_jwt sends.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use asap_core::{ClaimValue, TokenError, TypedClaims};
use serde::de::Deserializer;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// An authentication level (`level`): api_jwt sends a number as a string, `"3.1"`; `"0.0"`
/// (no authentication) when the issuer set none.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Level(f64);

impl Level {
    /// Level 0.0: no authentication, what a token without `level` says.
    pub const ZERO: Level = Level(0.0);

    /// A finite level, or `None`.
    pub fn new(level: f64) -> Option<Level> {
        level.is_finite().then_some(Level(level))
    }

    /// The level as a number.
    pub fn value(self) -> f64 {
        self.0
    }

    /// The string api_jwt puts in a token: Python's `str(float)`, so `3.0` is `"3.0"` and
    /// `3.1` is `"3.1"`.
    pub fn encode(self) -> String {
        if self.0.fract() == 0.0 && self.0.abs() < 1e16 {
            format!("{:.1}", self.0)
        } else {
            self.0.to_string()
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

/// Role names and the issuer name (`iss`) each role's tokens carry: api_jwt's `allowed['keys']`.
/// By default its own, `user` → `auth_user` and `admin` → `auth_admin`.
///
/// ```
/// use issuer_tokens::Roles;
/// let roles = Roles::new().role("user", "auth_user").role("support", "auth_support");
/// assert_eq!(roles.issuer_of("support"), Some("auth_support"));
/// assert_eq!(roles.role_of("auth_user"), Some("user"));
/// assert_eq!(Roles::default().role_of("auth_admin"), Some("admin"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles(BTreeMap<Arc<str>, String>);

impl Default for Roles {
    fn default() -> Roles {
        Roles::new().role("user", "auth_user").role("admin", "auth_admin")
    }
}

impl Roles {
    /// No roles; add them with [`Roles::role`].
    pub fn new() -> Roles {
        Roles(BTreeMap::new())
    }

    /// Role `role`'s tokens carry `iss` = `issuer`.
    #[must_use]
    pub fn role(mut self, role: impl Into<String>, issuer: impl Into<String>) -> Roles {
        self.0.insert(Arc::from(role.into()), issuer.into());
        self
    }

    /// The issuer name of `role`.
    pub fn issuer_of(&self, role: &str) -> Option<&str> {
        self.0.get(role).map(String::as_str)
    }

    /// The role whose tokens carry `issuer`; `None` when no role does, or when several do (an
    /// ambiguous configuration refuses those tokens rather than picking one role's scopes).
    pub fn role_of(&self, issuer: &str) -> Option<&str> {
        self.shared_role_of(issuer).map(|role| &**role)
    }

    /// [`role_of`](Roles::role_of), shared: what a verified token keeps without a copy.
    pub(crate) fn shared_role_of(&self, issuer: &str) -> Option<&Arc<str>> {
        let mut roles = self.0.iter().filter(|(_, i)| *i == issuer);
        match (roles.next(), roles.next()) {
            (Some((role, _)), None) => Some(role),
            _ => None,
        }
    }

    /// Whether no role is declared.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The claims of a verified central-issuer token: `iss` and its role, `sub`, `exp`, and the
/// extras typed from their string encodings — `level` (`"3.1"`), `factor`, `target`, `dnt`
/// (`"0"`), `scopes` (`"a,b"`). An extra the token does not carry reads as api_jwt reads it:
/// level 0.0, empty strings, dnt 0, no scopes. The other registered claims (`aud`, `jti`,
/// `iat`, `nbf`) are typed when sent; every other claim is kept as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuerClaims {
    pub(crate) issuer: String,
    pub(crate) role: Arc<str>,
    pub(crate) subject: String,
    pub(crate) expires_at: i64,
    pub(crate) audience: Vec<String>,
    /// Whether `aud` came as an array, so that it is written back as it was sent.
    pub(crate) aud_was_array: bool,
    pub(crate) token_id: Option<String>,
    pub(crate) issued_at: Option<i64>,
    pub(crate) not_before: Option<i64>,
    pub(crate) level: Level,
    pub(crate) factor: String,
    pub(crate) target: String,
    pub(crate) dnt: i64,
    pub(crate) scopes: Vec<String>,
    pub(crate) extra: Map<String, Value>,
}

impl IssuerClaims {
    /// `iss`: the issuer name of the key role that signed.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The role whose issuer name `iss` is (see [`Roles`]).
    pub fn role(&self) -> &str {
        &self.role
    }

    /// `sub`: whom the token is about.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// `exp`, seconds since the Unix epoch.
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// `aud`: the audiences the token names (one string or an array of them), empty when it
    /// names none.
    pub fn audience(&self) -> &[String] {
        &self.audience
    }

    /// `jti`, when sent.
    pub fn token_id(&self) -> Option<&str> {
        self.token_id.as_deref()
    }

    /// `iat`, seconds since the Unix epoch, when sent.
    pub fn issued_at(&self) -> Option<i64> {
        self.issued_at
    }

    /// `nbf`, seconds since the Unix epoch, when sent.
    pub fn not_before(&self) -> Option<i64> {
        self.not_before
    }

    /// `level`: the authentication level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// `factor`: the authentication factor (`password`, `otp`, …), empty when not said.
    pub fn factor(&self) -> &str {
        &self.factor
    }

    /// `target`: whom the scopes apply to when not the subject; empty when not said.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// `dnt`: do-not-track (0 normal, 1 do not track, 2 not anonymous, 3 test user).
    pub fn dnt(&self) -> i64 {
        self.dnt
    }

    /// `scopes`: the scopes granted.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Every claim not typed above, as JSON.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }
}

/// The extras (`level`, `dnt`, `scopes`, `factor`, `target`) as the claims walk hands them over
/// ([`Jws::decode_claims_with`](asap_core::Jws::decode_claims_with)), instead of kept in the
/// claims' `extra` map and taken out again; [`typed`](ExtraClaims::typed) then reads each from
/// its string encoding.
#[derive(Debug, Default)]
pub(crate) struct ExtraClaims {
    level: Option<Value>,
    dnt: Option<Value>,
    scopes: Option<Value>,
    factor: Option<Value>,
    target: Option<Value>,
}

impl TypedClaims for ExtraClaims {
    const NAMES: &'static [&'static str] = &["level", "dnt", "scopes", "factor", "target"];
    type Error = TokenError;

    fn type_claim<'de, D: Deserializer<'de>>(
        &mut self,
        name: &'static str,
        value: ClaimValue<'_, D>,
    ) -> Result<(), D::Error> {
        let slot = match name {
            "level" => &mut self.level,
            "dnt" => &mut self.dnt,
            "scopes" => &mut self.scopes,
            "factor" => &mut self.factor,
            _ => &mut self.target,
        };
        // Only a claim the token carries is handed over: `None` here is a `null`, which the
        // typing below refuses like any other value of the wrong kind (absent is the default).
        *slot = Some(value.json()?.unwrap_or(Value::Null));
        Ok(())
    }

    fn refused(claim: &'static str, _reason: String) -> TokenError {
        // Any JSON is taken here; what is refused (a repeated key, broken JSON) is the core's.
        TokenError::InvalidClaim {
            claim,
            reason: "is not JSON",
        }
    }
}

impl ExtraClaims {
    /// Each extra typed from its string encoding; an extra not sent reads as api_jwt reads it.
    pub(crate) fn typed(self) -> Result<Extras, TokenError> {
        let ExtraClaims {
            level,
            dnt,
            scopes,
            factor,
            target,
        } = self;
        let level = match level {
            None => Level::ZERO,
            Some(v) => number_claim(&v)
                .and_then(Level::new)
                .ok_or(TokenError::InvalidClaim {
                    claim: "level",
                    reason: "must be a finite number, as a string such as \"3.1\"",
                })?,
        };
        let dnt = match dnt {
            None => 0,
            Some(v) => integer_claim(&v).ok_or(TokenError::InvalidClaim {
                claim: "dnt",
                reason: "must be an integer, as a string such as \"0\"",
            })?,
        };
        let scopes = match scopes {
            None => Vec::new(),
            Some(Value::String(s)) if s.is_empty() => Vec::new(),
            Some(Value::String(s)) => {
                let scopes: Vec<String> = s.split(',').map(str::to_owned).collect();
                if scopes.iter().any(String::is_empty) {
                    return Err(TokenError::InvalidClaim {
                        claim: "scopes",
                        reason: "must be scopes joined by single commas",
                    });
                }
                scopes
            }
            Some(_) => {
                return Err(TokenError::InvalidClaim {
                    claim: "scopes",
                    reason: "must be a string of comma-joined scopes",
                });
            }
        };
        Ok(Extras {
            level,
            factor: text_claim(factor, "factor")?,
            target: text_claim(target, "target")?,
            dnt,
            scopes,
        })
    }
}

pub(crate) struct Extras {
    pub(crate) level: Level,
    pub(crate) factor: String,
    pub(crate) target: String,
    pub(crate) dnt: i64,
    pub(crate) scopes: Vec<String>,
}

/// A string extra that may be empty (api_jwt sends `""` for an unset `factor` or `target`).
fn text_claim(value: Option<Value>, claim: &'static str) -> Result<String, TokenError> {
    match value {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(TokenError::InvalidClaim {
            claim,
            reason: "must be a string",
        }),
    }
}

/// A number sent as a string (`"3.1"`, api_jwt's encoding) or, from other issuers, as a JSON
/// number; decimal notation only (no `inf`, `NaN`, hex or blanks).
fn number_claim(value: &Value) -> Option<f64> {
    match value {
        Value::String(s) if is_decimal(s) => s.parse().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

fn integer_claim(value: &Value) -> Option<i64> {
    match value {
        Value::String(s)
            if !s.is_empty()
                && s.strip_prefix('-')
                    .unwrap_or(s)
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            s.parse().ok()
        }
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// Serializes the claims typed: `level` a number, `dnt` an integer, `scopes` an array, keys
/// sorted, other claims as sent.
impl Serialize for IssuerClaims {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut all: BTreeMap<&str, Value> =
            self.extra.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        all.insert("iss", Value::from(self.issuer.as_str()));
        all.insert("sub", Value::from(self.subject.as_str()));
        all.insert("exp", Value::from(self.expires_at));
        match self.audience.as_slice() {
            [] if !self.aud_was_array => {}
            [one] if !self.aud_was_array => {
                all.insert("aud", Value::from(one.as_str()));
            }
            all_of_them => {
                all.insert("aud", Value::from(all_of_them.to_vec()));
            }
        }
        let optional = [
            ("jti", self.token_id.as_deref().map(Value::from)),
            ("iat", self.issued_at.map(Value::from)),
            ("nbf", self.not_before.map(Value::from)),
        ];
        all.extend(
            optional
                .into_iter()
                .filter_map(|(name, value)| Some((name, value?))),
        );
        all.insert("level", Value::from(self.level.0));
        all.insert("factor", Value::from(self.factor.as_str()));
        all.insert("target", Value::from(self.target.as_str()));
        all.insert("dnt", Value::from(self.dnt));
        all.insert("scopes", Value::from(self.scopes.clone()));
        let mut map = serializer.serialize_map(Some(all.len()))?;
        for (k, v) in &all {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use asap_core::RegisteredClaims;
    use serde_json::json;

    use super::*;

    #[test]
    fn an_issuer_name_two_roles_share_maps_to_no_role() {
        let roles = Roles::new()
            .role("user", "auth")
            .role("admin", "auth")
            .role("ops", "auth_ops");
        assert_eq!(roles.role_of("auth"), None);
        assert_eq!(roles.role_of("auth_ops"), Some("ops"));
    }

    fn extras(v: &Value) -> Result<Extras, TokenError> {
        let mut own = ExtraClaims::default();
        RegisteredClaims::decode_with(v.to_string().as_bytes(), &mut own)?;
        own.typed()
    }

    #[test]
    fn levels_encode_as_python_str_of_a_float() {
        assert_eq!(Level(3.0).encode(), "3.0");
        assert_eq!(Level(3.1).encode(), "3.1");
        assert_eq!(Level(0.0).encode(), "0.0");
        assert!(Level::new(f64::NAN).is_none());
    }

    #[test]
    fn extras_are_read_from_their_string_encodings() {
        let e = extras(&json!({"level":"3.1","factor":"otp","target":"","dnt":"2","scopes":"a:b,c"}))
            .expect("ok");
        assert_eq!(e.level, Level(3.1));
        assert_eq!((e.factor.as_str(), e.target.as_str(), e.dnt), ("otp", "", 2));
        assert_eq!(e.scopes, ["a:b", "c"]);
        let defaults = extras(&json!({})).expect("ok");
        assert_eq!(
            (defaults.level, defaults.dnt, defaults.scopes.len()),
            (Level(0.0), 0, 0)
        );
        assert!(extras(&json!({"scopes":""})).expect("ok").scopes.is_empty());
    }

    #[test]
    fn extras_are_taken_and_other_claims_stay() {
        let mut own = ExtraClaims::default();
        let claims = RegisteredClaims::decode_with(
            json!({"level":"2.0","dnt":"1","team":"ops","n":[1]})
                .to_string()
                .as_bytes(),
            &mut own,
        )
        .expect("json");
        let e = own.typed().expect("ok");
        assert_eq!((e.level, e.dnt), (Level(2.0), 1));
        assert_eq!(Value::Object(claims.extra), json!({"team":"ops","n":[1]}));
    }

    #[test]
    fn malformed_extras_are_typed_errors() {
        for (bad, claim) in [
            (json!({"level":"high"}), "level"),
            (json!({"level":"inf"}), "level"),
            (json!({"level":"NaN"}), "level"),
            (json!({"level":" 3"}), "level"),
            (json!({"level":[3]}), "level"),
            (json!({"dnt":"1.5"}), "dnt"),
            (json!({"dnt":""}), "dnt"),
            (json!({"scopes":"a,,b"}), "scopes"),
            (json!({"scopes":["a"]}), "scopes"),
            (json!({"factor":1}), "factor"),
            // `null` is a value of the wrong kind, not an absent extra (which has a default).
            (json!({"level":null}), "level"),
            (json!({"dnt":null}), "dnt"),
            (json!({"scopes":null}), "scopes"),
            (json!({"factor":null}), "factor"),
            (json!({"target":null}), "target"),
        ] {
            assert!(
                matches!(extras(&bad), Err(TokenError::InvalidClaim { claim: c, .. }) if c == claim),
                "{bad}"
            );
        }
    }
}
