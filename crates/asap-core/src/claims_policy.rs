//! Claim policies: which extra claims a signer may put in a token ([`ClaimsPolicy`]), and the
//! scopes a verified token carries ([`Claims::scopes`], [`Claims::require_scopes`]).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::claims::Claims;
use crate::error::{SignError, VerifyError};

/// The claim holding scopes as one space-separated string (RFC 8693 §4.2, RFC 6749 §3.3).
pub const SCOPE_CLAIM: &str = "scope";
/// The claim holding scopes as an array of strings.
pub const SCOPES_CLAIM: &str = "scopes";
/// The claim naming the caller's role, unless [`ClaimsPolicy::role_claim`] says otherwise.
pub const DEFAULT_ROLE_CLAIM: &str = "role";

/// An allowed value: a JSON value, or for strings a prefix pattern ending in `*`
/// (`"support:*"` matches `"support:tickets"`; a lone `"*"` matches any string).
#[derive(Debug, Clone, PartialEq)]
enum Allowed {
    Exact(Value),
    Prefix(String),
}

impl Allowed {
    fn new(value: Value) -> Allowed {
        match value {
            Value::String(s) if s.ends_with('*') => Allowed::Prefix(s[..s.len() - 1].to_owned()),
            other => Allowed::Exact(other),
        }
    }

    fn matches(&self, value: &Value) -> bool {
        match self {
            Allowed::Exact(v) => v == value,
            Allowed::Prefix(p) => value.as_str().is_some_and(|s| s.starts_with(p.as_str())),
        }
    }

    fn matches_str(&self, value: &str) -> bool {
        match self {
            Allowed::Exact(v) => v.as_str() == Some(value),
            Allowed::Prefix(p) => value.starts_with(p.as_str()),
        }
    }
}

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allowed::Exact(Value::String(s)) => f.write_str(s),
            Allowed::Exact(v) => write!(f, "{v}"),
            Allowed::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

fn list(allowed: &[Allowed]) -> String {
    if allowed.is_empty() {
        return "nothing".to_owned();
    }
    allowed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which extra claims a [`Signer`](crate::Signer) may put in a token, and with which values;
/// a token outside the policy is not signed ([`SignError::ClaimNotAllowed`] names the claim and
/// the value).
///
/// - [`allow`](Self::allow): a claim may carry one of these values (for an array, every element
///   must be one of them); a string ending in `*` allows every string with that prefix.
/// - [`allow_any`](Self::allow_any): a claim may carry anything.
/// - [`scopes`](Self::scopes): the scopes any token may carry, in `scope` (a space-separated
///   string) or `scopes` (an array of strings).
/// - [`role`](Self::role): a value of the role claim (`role` by default) and the only scopes a
///   token with that role may carry; a role value not declared is refused.
/// - Any other extra claim is refused, unless [`allow_undeclared_claims`](Self::allow_undeclared_claims).
///
/// ```
/// use asap_core::{Audience, ClaimsPolicy, KeyId, KeyKind, KeySpec, PrivateKey, SignError, Signer, SigningKey, TokenRequest};
///
/// let policy = ClaimsPolicy::new()
///     .scopes(["invoices:read", "invoices:write", "support:*"])
///     .role("support", ["support:*"])
///     .role("billing", ["invoices:*"])
///     .allow("acr", ["1", "2"]);
/// let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?;
/// let signer = Signer::builder("auth")
///     .key(SigningKey::new(KeyId::parse("auth/k1")?, key, None)?)
///     .claims_policy(policy)
///     .build()?;
///
/// let ledger = Audience::new("ledger")?;
/// let ok = TokenRequest::new(ledger.clone()).claim("role", "support").claim("scope", "support:tickets");
/// assert!(signer.sign_request(&ok).is_ok());
///
/// let bad = TokenRequest::new(ledger).claim("role", "support").claim("scope", "support:tickets invoices:write");
/// let err = signer.sign_request(&bad).unwrap_err();
/// assert!(matches!(err, SignError::ClaimNotAllowed { .. }));
/// assert_eq!(
///     err.to_string(),
///     "claim \"scope\" may not carry \"invoices:write\": role \"support\" allows only support:*"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct ClaimsPolicy {
    claims: BTreeMap<String, Option<Vec<Allowed>>>,
    scopes: Option<Vec<Allowed>>,
    role_claim: String,
    roles: BTreeMap<String, Vec<Allowed>>,
    allow_undeclared: bool,
}

impl Default for ClaimsPolicy {
    fn default() -> Self {
        ClaimsPolicy::new()
    }
}

impl ClaimsPolicy {
    /// A policy that allows no extra claim at all; add what is allowed.
    pub fn new() -> ClaimsPolicy {
        ClaimsPolicy {
            claims: BTreeMap::new(),
            scopes: None,
            role_claim: DEFAULT_ROLE_CLAIM.to_owned(),
            roles: BTreeMap::new(),
            allow_undeclared: false,
        }
    }

    /// Claim `name` may carry one of `values` (an array: only these as elements). A string
    /// ending in `*` allows every string with that prefix. Calling it again for the same claim
    /// adds values.
    pub fn allow<I, V>(mut self, name: impl Into<String>, values: I) -> ClaimsPolicy
    where
        I: IntoIterator<Item = V>,
        V: Into<Value>,
    {
        let entry = self.claims.entry(name.into()).or_insert_with(|| Some(Vec::new()));
        if let Some(list) = entry {
            list.extend(values.into_iter().map(|v| Allowed::new(v.into())));
        }
        self
    }

    /// Claim `name` may carry any value.
    pub fn allow_any(mut self, name: impl Into<String>) -> ClaimsPolicy {
        self.claims.insert(name.into(), None);
        self
    }

    /// The scopes a token may carry (`scope` or `scopes`); patterns ending in `*` allowed.
    /// Without this, only the scopes of a token's role are allowed (none without a role).
    pub fn scopes<I, S>(mut self, scopes: I) -> ClaimsPolicy
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes
            .get_or_insert_with(Vec::new)
            .extend(scopes.into_iter().map(|s| Allowed::new(Value::String(s.into()))));
        self
    }

    /// Declares role `role` (a value of the role claim) and the only scopes a token with this
    /// role may carry, e.g. `.role("support", ["support:*"])`. Declaring any role makes the
    /// role claim accept declared roles only.
    pub fn role<I, S>(mut self, role: impl Into<String>, scopes: I) -> ClaimsPolicy
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles
            .entry(role.into())
            .or_default()
            .extend(scopes.into_iter().map(|s| Allowed::new(Value::String(s.into()))));
        self
    }

    /// The claim that names the role (default `role`).
    pub fn role_claim(mut self, name: impl Into<String>) -> ClaimsPolicy {
        self.role_claim = name.into();
        self
    }

    /// Let claims the policy does not mention through with any value (off by default).
    pub fn allow_undeclared_claims(mut self, allow: bool) -> ClaimsPolicy {
        self.allow_undeclared = allow;
        self
    }

    /// Checks the extra claims of one token against the policy.
    pub fn check(&self, extra: &Map<String, Value>) -> Result<(), SignError> {
        let role = match extra.get(&self.role_claim) {
            Some(value) if !self.roles.is_empty() => {
                let role = value.as_str().filter(|r| self.roles.contains_key(*r));
                Some(role.ok_or_else(|| {
                    refuse(
                        &self.role_claim,
                        value,
                        format!(
                            "the declared roles are {}",
                            self.roles.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    )
                })?)
            }
            _ => None,
        };
        for (name, value) in extra {
            if name == SCOPE_CLAIM || name == SCOPES_CLAIM {
                self.check_scopes(name, value, role)?;
            } else if role.is_some() && *name == self.role_claim {
                // A declared role (checked above); an `allow` on the same claim still applies.
                if let Some(Some(allowed)) = self.claims.get(name) {
                    check_value(name, value, allowed)?;
                }
            } else {
                match self.claims.get(name) {
                    Some(Some(allowed)) => check_value(name, value, allowed)?,
                    Some(None) => {}
                    None if self.allow_undeclared => {}
                    None => {
                        return Err(refuse(
                            name,
                            value,
                            "the claims policy does not allow this claim".into(),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn check_scopes(&self, name: &str, value: &Value, role: Option<&str>) -> Result<(), SignError> {
        let scopes: Vec<&str> = match (name, value) {
            (SCOPE_CLAIM, Value::String(s)) => s.split(' ').collect(),
            (SCOPE_CLAIM, _) => {
                return Err(refuse(name, value, "it must be a space-separated string".into()));
            }
            (_, Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| refuse(name, v, "it must be an array of strings".into()))
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(refuse(name, value, "it must be an array of strings".into())),
        };
        let role_scopes = role.and_then(|r| self.roles.get(r).map(|s| (r, s)));
        for scope in scopes {
            let shown = Value::String(scope.to_owned());
            if scope.is_empty() || scope.contains(char::is_whitespace) {
                return Err(refuse(
                    name,
                    &shown,
                    "scopes are non-empty and separated by one space".into(),
                ));
            }
            if let Some(global) = &self.scopes
                && !global.iter().any(|a| a.matches_str(scope))
            {
                return Err(refuse(
                    name,
                    &shown,
                    format!("the allowed scopes are {}", list(global)),
                ));
            }
            match role_scopes {
                Some((role, allowed)) if !allowed.iter().any(|a| a.matches_str(scope)) => {
                    return Err(refuse(
                        name,
                        &shown,
                        format!("role {role:?} allows only {}", list(allowed)),
                    ));
                }
                None if self.scopes.is_none() => {
                    return Err(refuse(
                        name,
                        &shown,
                        "the claims policy allows no scopes here".into(),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn check_value(name: &str, value: &Value, allowed: &[Allowed]) -> Result<(), SignError> {
    let values: &[Value] = match value {
        Value::Array(items) => items,
        one => std::slice::from_ref(one),
    };
    match values.iter().find(|v| !allowed.iter().any(|a| a.matches(v))) {
        Some(bad) => Err(refuse(
            name,
            bad,
            format!("the allowed values are {}", list(allowed)),
        )),
        None => Ok(()),
    }
}

fn refuse(claim: &str, value: &Value, reason: String) -> SignError {
    SignError::ClaimNotAllowed {
        claim: crate::truncate(claim),
        value: crate::truncate(&value.to_string()),
        reason,
    }
}

/// Scopes on the verifier side.
impl Claims {
    /// The scopes the token carries: the words of `scope` (a space-separated string) and the
    /// strings of `scopes` (an array), in that order, without duplicates. A claim of another
    /// shape adds nothing (a malformed grant grants nothing).
    ///
    /// ```
    /// # fn f(claims: &asap_core::Claims) {
    /// if claims.scopes().contains(&"invoices:read") { /* … */ }
    /// # }
    /// ```
    pub fn scopes(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let words = self
            .extra
            .get(SCOPE_CLAIM)
            .and_then(Value::as_str)
            .into_iter()
            .flat_map(|s| s.split(' '));
        let items = self
            .extra
            .get(SCOPES_CLAIM)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        for scope in words.chain(items) {
            if !scope.is_empty() && !out.contains(&scope) {
                out.push(scope);
            }
        }
        out
    }

    /// The scope rule: the token must carry every one of `required` (exact names); otherwise
    /// [`VerifyError::InsufficientScope`] (403, `insufficient_scope`) lists the missing ones.
    pub fn require_scopes<S: AsRef<str>>(&self, required: &[S]) -> Result<(), VerifyError> {
        let have = self.scopes();
        let missing: Vec<&str> = required
            .iter()
            .map(AsRef::as_ref)
            .filter(|r| !have.contains(r))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(VerifyError::InsufficientScope {
            required: required.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" "),
            missing: missing.join(" "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(extra: Value) -> Map<String, Value> {
        match extra {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn refused(policy: &ClaimsPolicy, extra: Value) -> (String, String, String) {
        match policy.check(&claims(extra)) {
            Err(SignError::ClaimNotAllowed { claim, value, reason }) => (claim, value, reason),
            other => panic!("expected ClaimNotAllowed, got {other:?}"),
        }
    }

    fn support_policy() -> ClaimsPolicy {
        ClaimsPolicy::new()
            .scopes(["invoices:read", "invoices:write", "support:*"])
            .role("support", ["support:*"])
            .role("admin", ["*"])
            .allow("acr", [json!(1), json!(2)])
            .allow_any("tenant")
    }

    #[test]
    fn an_empty_policy_allows_no_extra_claim() {
        let policy = ClaimsPolicy::new();
        assert!(policy.check(&Map::new()).is_ok());
        let (claim, value, _) = refused(&policy, json!({"tenant": "t1"}));
        assert_eq!((claim.as_str(), value.as_str()), ("tenant", "\"t1\""));
        assert!(
            ClaimsPolicy::new()
                .allow_undeclared_claims(true)
                .check(&claims(json!({"tenant": "t1"})))
                .is_ok()
        );
    }

    #[test]
    fn declared_values_and_prefixes() {
        let policy = support_policy();
        assert!(
            policy
                .check(&claims(json!({"acr": 2, "tenant": {"any": "thing"}})))
                .is_ok()
        );
        let (claim, value, reason) = refused(&policy, json!({"acr": 3}));
        assert_eq!((claim.as_str(), value.as_str()), ("acr", "3"));
        assert_eq!(reason, "the allowed values are 1, 2");
        // Arrays: every element must be allowed.
        assert!(policy.check(&claims(json!({"acr": [1, 2]}))).is_ok());
        assert_eq!(refused(&policy, json!({"acr": [1, 5]})).1, "5");
        let prefixed = ClaimsPolicy::new().allow("team", ["eng-*"]);
        assert!(prefixed.check(&claims(json!({"team": "eng-core"}))).is_ok());
        assert_eq!(
            refused(&prefixed, json!({"team": "sales"})).2,
            "the allowed values are eng-*"
        );
    }

    #[test]
    fn a_role_restricts_its_scopes() {
        let policy = support_policy();
        let ok = json!({"role": "support", "scope": "support:read support:tickets"});
        assert!(policy.check(&claims(ok)).is_ok());
        let (claim, value, reason) = refused(
            &policy,
            json!({"role": "support", "scope": "support:read invoices:write"}),
        );
        assert_eq!(claim, "scope");
        assert_eq!(value, "\"invoices:write\"");
        assert_eq!(reason, "role \"support\" allows only support:*");
        // The same through the array form.
        let (claim, value, _) = refused(&policy, json!({"role": "support", "scopes": ["invoices:read"]}));
        assert_eq!((claim.as_str(), value.as_str()), ("scopes", "\"invoices:read\""));
        // A role with `*` is still held to the global scope list.
        assert!(
            policy
                .check(&claims(json!({"role": "admin", "scope": "invoices:write"})))
                .is_ok()
        );
        assert_eq!(
            refused(&policy, json!({"role": "admin", "scope": "root"})).1,
            "\"root\""
        );
    }

    #[test]
    fn undeclared_roles_and_malformed_scopes_are_refused() {
        let policy = support_policy();
        let (claim, value, reason) = refused(&policy, json!({"role": "superuser"}));
        assert_eq!((claim.as_str(), value.as_str()), ("role", "\"superuser\""));
        assert_eq!(reason, "the declared roles are admin, support");
        assert_eq!(refused(&policy, json!({"role": 7})).1, "7");
        assert_eq!(
            refused(&policy, json!({"scope": ["a"]})).2,
            "it must be a space-separated string"
        );
        assert_eq!(
            refused(&policy, json!({"scopes": "a"})).2,
            "it must be an array of strings"
        );
        assert_eq!(refused(&policy, json!({"scopes": [1]})).1, "1");
        assert_eq!(
            refused(&policy, json!({"scope": "invoices:read  invoices:write"})).2,
            "scopes are non-empty and separated by one space"
        );
    }

    #[test]
    fn without_a_global_list_only_role_scopes_are_allowed() {
        let policy = ClaimsPolicy::new().role("support", ["support:*"]);
        assert!(
            policy
                .check(&claims(json!({"role": "support", "scope": "support:x"})))
                .is_ok()
        );
        assert_eq!(
            refused(&policy, json!({"scope": "support:x"})).2,
            "the claims policy allows no scopes here"
        );
        let custom = ClaimsPolicy::new().role_claim("kind").role("bot", ["bot:*"]);
        assert!(
            custom
                .check(&claims(json!({"kind": "bot", "scope": "bot:run"})))
                .is_ok()
        );
        assert_eq!(refused(&custom, json!({"role": "bot"})).0, "role");
    }

    fn verified(extra: Value) -> Claims {
        Claims {
            iss: "a".into(),
            sub: None,
            aud: vec!["b".into()],
            aud_was_array: false,
            jti: "j".into(),
            iat: 0,
            exp: 60,
            nbf: None,
            extra: claims(extra),
        }
    }

    #[test]
    fn scopes_come_from_scope_and_scopes() {
        assert_eq!(verified(json!({"scope": "a b  a"})).scopes(), ["a", "b"]);
        assert_eq!(verified(json!({"scopes": ["a", "c", 3]})).scopes(), ["a", "c"]);
        assert_eq!(
            verified(json!({"scope": "a", "scopes": ["b", "a"]})).scopes(),
            ["a", "b"]
        );
        assert!(
            verified(json!({"scope": ["a"], "scopes": "b"}))
                .scopes()
                .is_empty()
        );
        assert!(verified(json!({})).scopes().is_empty());
    }

    #[test]
    fn require_scopes_names_the_missing_ones() {
        let claims = verified(json!({"scope": "invoices:read support:read"}));
        assert!(claims.require_scopes(&["invoices:read"]).is_ok());
        assert!(claims.require_scopes::<&str>(&[]).is_ok());
        let err = claims
            .require_scopes(&["invoices:read", "invoices:write", "admin"])
            .expect_err("missing");
        assert_eq!(err.outcome().status(), 403);
        match err {
            VerifyError::InsufficientScope { required, missing } => {
                assert_eq!(required, "invoices:read invoices:write admin");
                assert_eq!(missing, "invoices:write admin");
            }
            other => panic!("{other:?}"),
        }
        // Prefix patterns are a signer-side notion: the verifier compares names exactly.
        assert!(
            verified(json!({"scope": "support:*"}))
                .require_scopes(&["support:read"])
                .is_err()
        );
    }
}
