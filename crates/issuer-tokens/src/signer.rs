//! The issuer side: an auth service signs tokens that api_jwt's consumers read.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use asap_core::{
    Algorithm, ClaimsPolicy, Clock, KeyKind, PrivateKey, SignError, SystemClock, encode_compact,
};
use serde_json::{Map, Value, json};

use crate::claims::{Level, Roles};

/// The default token lifetime: api_jwt's default `ttl`, one hour.
pub const DEFAULT_ISSUER_LIFETIME: Duration = Duration::from_secs(3600);

/// What one token says: the subject, the role whose issuer name becomes `iss`, and the extras.
/// Extras not set are sent as api_jwt sends its defaults: level `"0.0"`, factor and target
/// `""`, dnt `"0"`, scopes `""`.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct IssueRequest {
    subject: String,
    role: String,
    level: Option<f64>,
    factor: Option<String>,
    target: Option<String>,
    dnt: Option<i64>,
    scopes: Vec<String>,
    lifetime: Option<Duration>,
}

impl IssueRequest {
    /// A token about `subject`, of role `user`.
    pub fn new(subject: impl Into<String>) -> IssueRequest {
        IssueRequest {
            subject: subject.into(),
            role: "user".to_owned(),
            level: None,
            factor: None,
            target: None,
            dnt: None,
            scopes: Vec::new(),
            lifetime: None,
        }
    }

    /// The key role (api_jwt's `key`): `iss` is its issuer name.
    pub fn role(mut self, role: impl Into<String>) -> IssueRequest {
        self.role = role.into();
        self
    }

    /// The authentication level.
    pub fn level(mut self, level: f64) -> IssueRequest {
        self.level = Some(level);
        self
    }

    /// The authentication factor (`password`, `otp`, …).
    pub fn factor(mut self, factor: impl Into<String>) -> IssueRequest {
        self.factor = Some(factor.into());
        self
    }

    /// Whom the scopes apply to, when not the subject.
    pub fn target(mut self, target: impl Into<String>) -> IssueRequest {
        self.target = Some(target.into());
        self
    }

    /// Do-not-track.
    pub fn dnt(mut self, dnt: i64) -> IssueRequest {
        self.dnt = Some(dnt);
        self
    }

    /// The scopes granted.
    pub fn scopes<I, S>(mut self, scopes: I) -> IssueRequest
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// This token's lifetime instead of the signer's.
    pub fn lifetime(mut self, lifetime: Duration) -> IssueRequest {
        self.lifetime = Some(lifetime);
        self
    }
}

/// api_jwt's own allowed values, as a core [`ClaimsPolicy`]: levels 0.0 to 4.0, dnt 0 to 3,
/// any factor and target, role `user` with scope `user:all` and role `admin` with
/// `admin:all` (its `PER_KEY` scopes). The policy sees the token's role as claim `role`,
/// `level` and `dnt` as numbers and `scopes` as an array, before they are encoded as strings.
pub fn api_jwt_default_policy() -> ClaimsPolicy {
    ClaimsPolicy::new()
        .allow("level", [0.0, 1.0, 2.0, 3.0, 4.0])
        .allow("dnt", [0, 1, 2, 3])
        .allow_any("factor")
        .allow_any("target")
        .role("user", ["user:all"])
        .role("admin", ["admin:all"])
}

/// Signs central-issuer tokens in api_jwt's format: RS256, no `kid`, `iss` = the role's issuer
/// name, `sub`, `exp`, and the extras as strings (`level` `"3.1"`, `dnt` `"0"`, `scopes`
/// comma-joined). What a token may carry is checked first by a core [`ClaimsPolicy`]
/// (default [`api_jwt_default_policy`]): a token outside it is not signed.
///
/// Like api_jwt's, these tokens carry no `aud`, `jti` or `iat` unless asked: consumers that
/// decode with plain PyJWT refuse a token with an `aud` they did not ask for, and refuse an
/// `iat` ahead of their clock.
///
/// ```
/// use asap_core::{KeySpec, PrivateKey, SignError};
/// use issuer_tokens::{IssueRequest, IssuerSigner};
///
/// let signer = IssuerSigner::new(PrivateKey::generate(KeySpec::Rsa(2048))?)?;
/// let token = signer.sign(&IssueRequest::new("ann").role("admin").level(3.0).scopes(["admin:all"]))?;
/// // A scope the role may not carry is not signed.
/// let refused = signer.sign(&IssueRequest::new("ann").role("user").scopes(["admin:all"]));
/// assert!(matches!(refused, Err(SignError::ClaimNotAllowed { .. })));
/// # let _ = token; Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct IssuerSigner {
    key: Arc<PrivateKey>,
    roles: Roles,
    policy: ClaimsPolicy,
    lifetime: Duration,
    audience: Option<String>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for IssuerSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerSigner")
            .field("roles", &self.roles)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl IssuerSigner {
    /// A signer with an RSA key, api_jwt's roles ([`Roles::default`]), its allowed values
    /// ([`api_jwt_default_policy`]) and a lifetime of one hour.
    pub fn new(key: PrivateKey) -> Result<IssuerSigner, SignError> {
        if key.kind() != KeyKind::Rsa {
            return Err(SignError::Config(format!(
                "central-issuer tokens are RS256: an RSA key is needed, not {}",
                key.kind()
            )));
        }
        Ok(IssuerSigner {
            key: Arc::new(key),
            roles: Roles::default(),
            policy: api_jwt_default_policy(),
            lifetime: DEFAULT_ISSUER_LIFETIME,
            audience: None,
            clock: Arc::new(SystemClock),
        })
    }

    /// The roles and their issuer names.
    #[must_use]
    pub fn roles(mut self, roles: Roles) -> IssuerSigner {
        self.roles = roles;
        self
    }

    /// What tokens may carry.
    #[must_use]
    pub fn claims_policy(mut self, policy: ClaimsPolicy) -> IssuerSigner {
        self.policy = policy;
        self
    }

    /// The default lifetime (at most 3600 s, as for ASAP).
    pub fn lifetime(mut self, lifetime: Duration) -> Result<IssuerSigner, SignError> {
        self.lifetime = checked_lifetime(lifetime)?;
        Ok(self)
    }

    /// Puts `aud` = `audience` in every token. api_jwt's own `decode()` passes
    /// `audience='aud'` to PyJWT, which then refuses any token without `"aud": "aud"` — even the
    /// package's own; set `"aud"` here when the consumers use that method.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> IssuerSigner {
        self.audience = Some(audience.into());
        self
    }

    /// Reads time from `clock` (for tests).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> IssuerSigner {
        self.clock = clock;
        self
    }

    /// Signs one token.
    pub fn sign(&self, request: &IssueRequest) -> Result<String, SignError> {
        let issuer = self
            .roles
            .issuer_of(&request.role)
            .ok_or_else(|| SignError::ClaimNotAllowed {
                claim: "role".into(),
                value: asap_core::truncate(&request.role),
                reason: "it is not a declared role".into(),
            })?;
        if request.subject.is_empty() {
            return Err(SignError::Config("the subject must not be empty".into()));
        }
        let level = request
            .level
            .map(|l| Level::new(l).ok_or_else(|| SignError::Config("the level must be finite".into())))
            .transpose()?;

        // The policy sees the typed values, before their string encodings.
        let mut checked = Map::new();
        checked.insert("role".into(), Value::from(request.role.as_str()));
        if let Some(level) = level {
            checked.insert("level".into(), Value::from(level.value()));
        }
        if let Some(dnt) = request.dnt {
            checked.insert("dnt".into(), Value::from(dnt));
        }
        for (name, value) in [("factor", &request.factor), ("target", &request.target)] {
            if let Some(value) = value {
                checked.insert(name.into(), Value::from(value.as_str()));
            }
        }
        if !request.scopes.is_empty() {
            checked.insert("scopes".into(), Value::from(request.scopes.clone()));
        }
        self.policy.check(&checked)?;
        if let Some(bad) = request.scopes.iter().find(|s| s.is_empty() || s.contains(',')) {
            return Err(SignError::ClaimNotAllowed {
                claim: "scopes".into(),
                value: asap_core::truncate(bad),
                reason: "a scope is non-empty and has no comma (scopes are sent comma-joined)".into(),
            });
        }

        let lifetime = checked_lifetime(request.lifetime.unwrap_or(self.lifetime))?;
        let exp = self
            .clock
            .now()
            .saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(0));
        let mut claims = json!({
            "iss": issuer,
            "sub": request.subject,
            "exp": exp,
            "level": level.unwrap_or(Level::ZERO).encode(),
            "factor": request.factor.as_deref().unwrap_or(""),
            "target": request.target.as_deref().unwrap_or(""),
            "dnt": request.dnt.unwrap_or(0).to_string(),
            "scopes": request.scopes.join(","),
        });
        if let Some(audience) = &self.audience {
            claims["aud"] = Value::from(audience.as_str());
        }
        let claims = serde_json::to_vec(&claims).map_err(|_| SignError::Crypto)?;
        encode_compact(br#"{"alg":"RS256","typ":"JWT"}"#, &claims, |input| {
            self.key.sign(Algorithm::RS256, input)
        })
    }
}

/// The core's lifetime rule ([`asap_core::check_lifetime`]), returning the lifetime.
fn checked_lifetime(lifetime: Duration) -> Result<Duration, SignError> {
    asap_core::check_lifetime(lifetime).map(|()| lifetime)
}
