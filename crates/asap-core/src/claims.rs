//! Claims: the strict typing every token profile shares ([`RegisteredClaims`]), the claims of a
//! verified ASAP token ([`Claims`]), the audience type and the audience rule.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::TokenError;
use crate::json::{TypedClaims, Untyped, WalkError, walk_object_typed};
use crate::jws::walk_error;
use crate::time::TimeClaims;

/// The registered claim names ASAP gives a meaning to. Extra claims may not reuse them.
pub const REGISTERED_CLAIMS: [&str; 7] = ["iss", "sub", "aud", "jti", "iat", "exp", "nbf"];

/// A value that must be a non-empty string was empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} must not be empty")]
pub struct EmptyValue(pub &'static str);

/// An audience: the name a service is known by, as it appears in `aud`. Never empty.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Audience(Arc<str>);

impl Audience {
    /// Wraps a non-empty audience name.
    pub fn new(name: &str) -> Result<Audience, EmptyValue> {
        if name.is_empty() {
            return Err(EmptyValue("audience"));
        }
        Ok(Audience(Arc::from(name)))
    }

    /// The audience as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Audience({:?})", &*self.0)
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Audience {
    type Err = EmptyValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Audience::new(s)
    }
}

/// The claim that binds a token to one request: the `qsh` (query string hash) of Atlassian
/// Connect, which request-bound ASAP tokens carry too (docs/asap-rules.md, "Request-bound
/// tokens").
pub const QSH_CLAIM: &str = "qsh";

/// A `qsh` value: the lowercase hex SHA-256 of one canonical request (`METHOD&path&query`).
/// asap-core has no canonicalisation of its own: the crates that see requests compute it with
/// `connect_qsh::qsh` and wrap it here, so that a token is bound by one rule, Connect's.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Qsh(Arc<str>);

/// A `qsh` that is not 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a qsh is 64 lowercase hex digits (the SHA-256 of a canonical request)")]
pub struct InvalidQsh;

impl Qsh {
    /// Wraps the hex SHA-256 of a canonical request.
    ///
    /// ```
    /// use asap_core::Qsh;
    /// assert!(Qsh::new("c88caad15a1c1a900b8ac08aa9686f4e8184539bea1deda36e2f649430df3239").is_ok());
    /// assert!(Qsh::new("context-qsh").is_err());
    /// ```
    pub fn new(hex: &str) -> Result<Qsh, InvalidQsh> {
        // Only a full hash: a `context-qsh`, an upper-case or a truncated value would be a token
        // that no request matches, or one Connect reads as bound to a page rather than a request.
        if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Qsh(Arc::from(hex)))
        } else {
            Err(InvalidQsh)
        }
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Qsh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Qsh({})", &*self.0)
    }
}

/// The registered claims of RFC 7519 §4.1, strictly typed, and every other claim as JSON: what
/// [`RegisteredClaims::decode`] makes of a token's payload, before a profile says which claims
/// it requires (ASAP: `iss`, `aud`, `jti`, `iat`, `exp`; Connect: `iss`, `iat`, `exp` and its
/// own `qsh`).
///
/// Typing: `iss`, `sub`, `jti` non-empty strings; `aud` a non-empty string or a non-empty array
/// of non-empty strings; `iat`, `exp`, `nbf` JSON integers (no `1.0`, no `"1"`); no key repeated
/// at any depth.
///
/// ```
/// use asap_core::{RegisteredClaims, TokenError};
/// // A profile whose claims are `{username, time, nonce}`.
/// let mut claims = RegisteredClaims::decode(br#"{"username":"ann","time":1700000000,"nonce":"n1"}"#)?;
/// assert_eq!(claims.take_string("username")?.as_deref(), Some("ann"));
/// assert_eq!(claims.take_time("time")?, Some(1_700_000_000));
/// assert!(claims.iss.is_none() && claims.extra.len() == 1);
/// assert!(matches!(
///     RegisteredClaims::decode(br#"{"exp":1.5}"#),
///     Err(TokenError::InvalidClaim { claim: "exp", .. })
/// ));
/// # Ok::<(), TokenError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct RegisteredClaims {
    /// `iss`.
    pub iss: Option<String>,
    /// `sub`.
    pub sub: Option<String>,
    /// `aud`, as a list; empty when absent.
    pub aud: Vec<String>,
    /// Whether `aud` was sent as an array (so that it serializes back the same way).
    pub aud_was_array: bool,
    /// `jti`.
    pub jti: Option<String>,
    /// `iat`.
    pub iat: Option<i64>,
    /// `exp`.
    pub exp: Option<i64>,
    /// `nbf`.
    pub nbf: Option<i64>,
    /// Every other claim.
    pub extra: Map<String, Value>,
}

impl RegisteredClaims {
    /// Types a token's payload in one pass, without building an intermediate map: one JSON
    /// object, no key repeated at any depth, registered claims typed, the rest kept as JSON.
    pub fn decode(json: &[u8]) -> Result<RegisteredClaims, TokenError> {
        RegisteredClaims::decode_with(json, &mut Untyped)
    }

    /// [`decode`](Self::decode), with the profile's own claims ([`T::NAMES`](TypedClaims::NAMES))
    /// typed by `typed` straight from the text instead of kept in `extra` as JSON: the same
    /// strict rules inside them (see [`TypedClaims`]), and for a refused one the profile's
    /// error ([`TypedClaims::refused`]).
    pub fn decode_with<T: TypedClaims>(json: &[u8], typed: &mut T) -> Result<RegisteredClaims, T::Error> {
        // A profile that named `nbf` or `aud` would take its check away from the core: refused
        // when the profile is compiled, not in debug builds only.
        const {
            assert!(
                none_registered(T::NAMES),
                "TypedClaims::NAMES names a registered claim, which the core types"
            );
        }
        let mut c = RegisteredClaims::default();
        walk_object_typed(json, typed, |name, value| {
            let value = value.into_value();
            match &*name {
                "iss" => c.iss = Some(string_claim("iss", value)?),
                "sub" => c.sub = Some(string_claim("sub", value)?),
                "aud" => (c.aud, c.aud_was_array) = audience_claim(value)?,
                "jti" => c.jti = Some(string_claim("jti", value)?),
                "iat" => c.iat = Some(time_claim("iat", &value)?),
                "exp" => c.exp = Some(time_claim("exp", &value)?),
                "nbf" => c.nbf = Some(time_claim("nbf", &value)?),
                _ => {
                    c.extra.insert(name.into_owned(), value);
                }
            }
            Ok(())
        })
        .map_err(|e| match e {
            WalkError::Refused { field, reason } => T::refused(field, reason),
            other => walk_error("claims are not a JSON object")(other).into(),
        })?;
        Ok(c)
    }

    /// Removes the extra claim `name` and types it as a non-empty string (for a profile's own
    /// claims, such as Connect's `qsh`).
    pub fn take_string(&mut self, name: &'static str) -> Result<Option<String>, TokenError> {
        self.extra.remove(name).map(|v| string_claim(name, v)).transpose()
    }

    /// Removes the extra claim `name` and types it as a time: a JSON integer of seconds.
    pub fn take_time(&mut self, name: &'static str) -> Result<Option<i64>, TokenError> {
        self.extra.remove(name).map(|v| time_claim(name, &v)).transpose()
    }

    /// `iat`, `nbf` and `exp` for the [`TimeRule`](crate::TimeRule), `iat` and `exp` required.
    pub fn time_claims(&self) -> Result<TimeClaims, TokenError> {
        Ok(TimeClaims {
            issued_at: self.iat.ok_or(TokenError::MissingClaim("iat"))?,
            not_before: self.nbf,
            expires_at: self.exp.ok_or(TokenError::MissingClaim("exp"))?,
        })
    }
}

/// Whether no name in `names` is one of [`REGISTERED_CLAIMS`] (a `const fn`, for
/// [`RegisteredClaims::decode_with`]'s compile-time check).
const fn none_registered(names: &[&str]) -> bool {
    const fn same(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
    let mut i = 0;
    while i < names.len() {
        let mut j = 0;
        while j < REGISTERED_CLAIMS.len() {
            if same(names[i], REGISTERED_CLAIMS[j]) {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

fn string_claim(claim: &'static str, value: Value) -> Result<String, TokenError> {
    match value {
        Value::String(s) if !s.is_empty() => Ok(s),
        Value::String(_) => Err(TokenError::InvalidClaim {
            claim,
            reason: "must not be empty",
        }),
        _ => Err(TokenError::InvalidClaim {
            claim,
            reason: "must be a string",
        }),
    }
}

fn time_claim(claim: &'static str, value: &Value) -> Result<i64, TokenError> {
    // `Number::as_i64` is `None` for floats (`1.0`, `1e3`) and for integers beyond i64.
    value
        .as_number()
        .and_then(serde_json::Number::as_i64)
        .ok_or(TokenError::InvalidClaim {
            claim,
            reason: "must be a JSON integer number of seconds",
        })
}

fn audience_claim(value: Value) -> Result<(Vec<String>, bool), TokenError> {
    const CLAIM: &str = "aud";
    match value {
        Value::String(s) if !s.is_empty() => Ok((vec![s], false)),
        Value::Array(items) if !items.is_empty() => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) if !s.is_empty() => out.push(s),
                    _ => {
                        return Err(TokenError::InvalidClaim {
                            claim: CLAIM,
                            reason: "every audience must be a non-empty string",
                        });
                    }
                }
            }
            Ok((out, true))
        }
        _ => Err(TokenError::InvalidClaim {
            claim: CLAIM,
            reason: "must be a non-empty string or a non-empty array of strings",
        }),
    }
}

/// The audience rule: at least one of the token's audiences exactly equals one this service
/// answers to (no case folding, no trimming).
///
/// ```
/// use asap_core::{Audience, check_audience};
/// let mine = [Audience::new("ledger")?];
/// assert!(check_audience(&["other".into(), "ledger".into()], &mine).is_ok());
/// assert!(check_audience(&["Ledger".into()], &mine).is_err());
/// # Ok::<(), asap_core::EmptyValue>(())
/// ```
pub fn check_audience(token_audiences: &[String], accepted: &[Audience]) -> Result<(), TokenError> {
    let matches = token_audiences
        .iter()
        .any(|a| accepted.iter().any(|mine| mine.as_str() == a.as_str()));
    if matches {
        Ok(())
    } else {
        Err(TokenError::AudienceMismatch)
    }
}

/// The claims of a token that passed every rule.
///
/// Registered claims have typed accessors; every other claim is an extra claim, available as JSON
/// ([`Claims::extra`], [`Claims::get`]) or as the caller's own type ([`Claims::extra_as`]).
/// Serializes back to the token's JSON object with keys in a stable (sorted) order.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    pub(crate) iss: String,
    pub(crate) sub: Option<String>,
    pub(crate) aud: Vec<String>,
    pub(crate) aud_was_array: bool,
    pub(crate) jti: String,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
    pub(crate) nbf: Option<i64>,
    pub(crate) extra: Map<String, Value>,
}

impl Claims {
    /// The ASAP required-claims rule: `iss`, `aud`, `jti`, `iat` and `exp` present.
    pub(crate) fn from_registered(c: RegisteredClaims) -> Result<Claims, TokenError> {
        let iss = c.iss.ok_or(TokenError::MissingClaim("iss"))?;
        if c.aud.is_empty() {
            return Err(TokenError::MissingClaim("aud"));
        }
        Ok(Claims {
            iss,
            sub: c.sub,
            aud: c.aud,
            aud_was_array: c.aud_was_array,
            jti: c.jti.ok_or(TokenError::MissingClaim("jti"))?,
            iat: c.iat.ok_or(TokenError::MissingClaim("iat"))?,
            exp: c.exp.ok_or(TokenError::MissingClaim("exp"))?,
            nbf: c.nbf,
            extra: c.extra,
        })
    }

    /// `iat`, `nbf` and `exp`, for the [`TimeRule`](crate::TimeRule).
    pub fn time_claims(&self) -> TimeClaims {
        TimeClaims {
            issued_at: self.iat,
            not_before: self.nbf,
            expires_at: self.exp,
        }
    }

    /// About how many heap bytes these claims hold, counted from above
    /// ([`crate::json::heap_bytes`] for the extra claims): what the verified-token cache charges
    /// an entry.
    pub(crate) fn heap_bytes(&self) -> usize {
        let strings = [&self.iss, &self.jti]
            .into_iter()
            .chain(&self.sub)
            .chain(&self.aud)
            .map(|s| crate::json::allocation(s.capacity()))
            .sum::<usize>();
        strings
            .saturating_add(crate::json::allocation(self.aud.capacity() * size_of::<String>()))
            .saturating_add(crate::json::heap_bytes(&self.extra))
    }

    /// `iss`: the service that signed the token.
    pub fn issuer(&self) -> &str {
        &self.iss
    }

    /// The effective subject: `sub` when present, otherwise `iss`.
    pub fn subject(&self) -> &str {
        self.sub.as_deref().unwrap_or(&self.iss)
    }

    /// The `sub` claim as sent, if any.
    pub fn sub_claim(&self) -> Option<&str> {
        self.sub.as_deref()
    }

    /// `aud`, always as a list.
    pub fn audiences(&self) -> &[String] {
        &self.aud
    }

    /// `jti`: the token's unique id.
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// `iat`, seconds since the Unix epoch.
    pub fn issued_at(&self) -> i64 {
        self.iat
    }

    /// `exp`, seconds since the Unix epoch.
    pub fn expires_at(&self) -> i64 {
        self.exp
    }

    /// `nbf` if sent.
    pub fn not_before(&self) -> Option<i64> {
        self.nbf
    }

    /// The [`QSH_CLAIM`] when it is a string: what a request-bound token was bound to (the
    /// layer that requires binding compares it with the request it received).
    pub fn qsh(&self) -> Option<&str> {
        self.extra.get(QSH_CLAIM).and_then(Value::as_str)
    }

    /// The extra (non-registered) claims.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }

    /// One extra claim.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.extra.get(name)
    }

    /// The extra claims deserialized into the caller's type.
    ///
    /// ```
    /// # fn f(claims: &asap_core::Claims) -> Result<(), serde_json::Error> {
    /// #[derive(serde::Deserialize)]
    /// struct Mine { tenant: String }
    /// let mine: Mine = claims.extra_as()?;
    /// # Ok(()) }
    /// ```
    pub fn extra_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.extra).or_else(|_| serde_json::from_value(Value::Object(self.extra.clone())))
    }

    /// All claims, registered and extra, as one JSON object.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl Serialize for Claims {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Sorted keys: registered and extra claims merged in one order, stable across runs.
        let mut entries: Vec<(&str, Value)> = vec![
            ("iss", Value::from(self.iss.as_str())),
            ("jti", Value::from(self.jti.as_str())),
            ("iat", Value::from(self.iat)),
            ("exp", Value::from(self.exp)),
        ];
        if self.aud_was_array {
            entries.push(("aud", Value::from(self.aud.clone())));
        } else {
            entries.push(("aud", Value::from(self.aud.first().map_or("", String::as_str))));
        }
        if let Some(sub) = &self.sub {
            entries.push(("sub", Value::from(sub.as_str())));
        }
        if let Some(nbf) = self.nbf {
            entries.push(("nbf", Value::from(nbf)));
        }
        entries.extend(self.extra.iter().map(|(k, v)| (k.as_str(), v.clone())));
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let mut map = serializer.serialize_map(Some(entries.len()))?;
        for (k, v) in entries {
            map.serialize_entry(k, &v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_profile_may_not_type_a_registered_claim() {
        assert!(none_registered(&[]));
        assert!(none_registered(&["app", "context", "nbf2", "ex"]));
        for name in REGISTERED_CLAIMS {
            assert!(!none_registered(&["app", name]), "{name}");
        }
    }

    #[allow(clippy::needless_pass_by_value)] // callers build the value inline
    fn claims(v: Value) -> Result<Claims, TokenError> {
        Claims::from_registered(RegisteredClaims::decode(v.to_string().as_bytes())?)
    }

    fn good() -> Value {
        json!({"iss":"a","aud":"b","jti":"j","iat":1000,"exp":1060})
    }

    #[test]
    fn every_required_claim_is_required() {
        for name in ["iss", "aud", "jti", "iat", "exp"] {
            let mut v = good();
            v.as_object_mut().map(|m| m.remove(name));
            assert!(
                matches!(claims(v), Err(TokenError::MissingClaim(n)) if n == name),
                "{name}"
            );
        }
        assert!(claims(good()).is_ok());
    }

    /// Asserts that every claim of `names` set to every value of `bad` is an invalid claim.
    fn refused_as_invalid(names: &[&str], bad: &[Value]) {
        for name in names {
            for value in bad {
                let mut v = good();
                v[*name] = value.clone();
                assert!(
                    matches!(claims(v), Err(TokenError::InvalidClaim { claim, .. }) if claim == *name),
                    "{name} {value}"
                );
            }
        }
    }

    #[test]
    fn strings_must_be_non_empty_strings() {
        refused_as_invalid(
            &["iss", "jti", "sub"],
            &[json!(""), json!(1), json!(null), json!(["a"])],
        );
    }

    #[test]
    fn times_must_be_json_integers() {
        refused_as_invalid(
            &["iat", "exp", "nbf"],
            &[
                json!(1000.0),
                json!(1.5),
                json!("1000"),
                json!(null),
                json!(1e3),
                json!(u64::MAX),
            ],
        );
    }

    #[test]
    fn audience_is_string_or_non_empty_array_of_strings() {
        for bad in [
            json!([]),
            json!(""),
            json!([""]),
            json!(["a", 1]),
            json!(1),
            json!({"a":1}),
        ] {
            let mut v = good();
            v["aud"] = bad.clone();
            assert!(
                matches!(claims(v), Err(TokenError::InvalidClaim { claim: "aud", .. })),
                "{bad}"
            );
        }
        let mut v = good();
        v["aud"] = json!(["x", "b"]);
        let c = claims(v).expect("array aud");
        assert_eq!(c.audiences(), ["x", "b"]);
        assert!(check_audience(c.audiences(), &[Audience::new("b").expect("aud")]).is_ok());
        assert!(check_audience(c.audiences(), &[Audience::new("B").expect("aud")]).is_err());
        assert!(check_audience(c.audiences(), &[Audience::new("bb").expect("aud")]).is_err());
    }

    #[test]
    fn extra_claims_are_kept() {
        let mut v = good();
        v["scope"] = json!("read write");
        let c = claims(v).expect("valid");
        assert_eq!(c.get("scope"), Some(&json!("read write")));
        assert_eq!(c.extra().len(), 1);
    }

    #[test]
    fn profile_claims_are_typed_when_taken() {
        let mut c = RegisteredClaims::decode(br#"{"qsh":"h","n":"","t":1.5,"u":7}"#).expect("valid");
        assert_eq!(c.take_string("qsh").expect("typed").as_deref(), Some("h"));
        assert_eq!(c.take_string("absent").expect("absent"), None);
        assert!(matches!(
            c.take_string("n"),
            Err(TokenError::InvalidClaim { claim: "n", .. })
        ));
        assert!(matches!(
            c.take_time("t"),
            Err(TokenError::InvalidClaim { claim: "t", .. })
        ));
        assert_eq!(c.take_time("u").expect("typed"), Some(7));
        assert!(c.extra.is_empty());
        assert!(matches!(c.time_claims(), Err(TokenError::MissingClaim("iat"))));
    }
}
