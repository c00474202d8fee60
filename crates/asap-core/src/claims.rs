//! The claims of a verified token, and the audience type.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

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
