//! The service side: verify a central-issuer token, then apply a route's policy.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use asap_core::{
    Algorithm, Audience, Clock, ConfigError, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, Jws, KeyKind, Outcome,
    PublicKey, SystemClock, TimeClaims, TimeRule, TokenError, check_audience,
};

use crate::claims::{ExtraClaims, IssuerClaims, Level, Roles};

/// The most trusted keys a verifier holds. A token names no key, so a forged one costs one
/// signature check per trusted key: the bound keeps that cost small (rotation needs two).
pub const MAX_TRUSTED_KEYS: usize = 4;

/// The longest remaining life accepted by default, in seconds: api_jwt's default `ttl`
/// (3600 s). Its tokens carry no `iat`, so this bounds `exp - now` instead of `exp - iat`.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// Why a central-issuer token was refused. [`IssuerTokenError::outcome`] maps each to 401 or
/// 403.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssuerTokenError {
    /// The request carries no `Authorization` header.
    #[error("no Authorization header")]
    MissingToken,
    /// The `Authorization` header is not exactly `Bearer <token>`, or there is more than one.
    #[error("bad Authorization header: {0}")]
    BadAuthorization(&'static str),
    /// A rule every token profile shares: size, framing, strict JSON, `alg` (RS256 only),
    /// claim types, a signature no trusted key verifies, time, audience.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// `iss` is not the issuer name of a declared role.
    #[error("issuer {0:?} is not the issuer of a known role")]
    UnknownIssuer(String),
    /// The token's level is below the route's minimum.
    #[error("authentication level {level} is below the required {min}")]
    LevelTooLow {
        /// The token's level.
        level: Level,
        /// The route's minimum.
        min: Level,
    },
    /// The token lacks scopes the route requires.
    #[error("token lacks the scope(s) {0}")]
    MissingScopes(String),
    /// The token carries a scope its role may not carry.
    #[error("role {role:?} may not carry scope {scope:?}")]
    ScopeNotAllowedForRole {
        /// The token's role.
        role: String,
        /// The scope.
        scope: String,
    },
}

impl IssuerTokenError {
    /// The HTTP outcome: 403 for a valid token the policy refuses, 401 for everything else.
    pub fn outcome(&self) -> Outcome {
        match self {
            IssuerTokenError::UnknownIssuer(_)
            | IssuerTokenError::LevelTooLow { .. }
            | IssuerTokenError::MissingScopes(_)
            | IssuerTokenError::ScopeNotAllowedForRole { .. } => Outcome::Forbidden,
            _ => Outcome::Unauthorized,
        }
    }
}

/// Verifies tokens made by a central issuer in api_jwt's format: RS256, `iss` = a role's issuer
/// name, `sub`, `exp`, extras as strings. In order:
///
/// 1. size, framing, strict header ([`Jws::parse`]); `alg` RS256 only; a `kid` is not needed
///    and not used;
/// 2. claims strictly typed: `iss`, `sub` non-empty strings, `exp` a JSON integer (required),
///    the extras in their string encodings ([`IssuerClaims`]);
/// 3. time by the core [`TimeRule`]: `exp` (inclusive) plus the leeway (default 30 s); `nbf`
///    and `iat` when present; the remaining life (`exp - iat`, or `exp - now` without `iat`) at
///    most [`DEFAULT_MAX_LIFETIME`];
/// 4. the signature, against each trusted key in the order given, the first that verifies
///    wins (at most [`MAX_TRUSTED_KEYS`]);
/// 5. the audience: with audiences configured, `aud` must name one; without, a token that
///    carries an `aud` is refused (it was meant for a particular service, as PyJWT decides);
/// 6. `iss` must be the issuer name of a declared [`Roles`] role (403 otherwise).
///
/// What a route requires on top (level, scopes, scopes per role) is an [`IssuerPolicy`].
///
/// ```
/// use asap_core::{KeySpec, PrivateKey};
/// use issuer_tokens::{IssueRequest, IssuerSigner, IssuerVerifier, Level};
///
/// let key = PrivateKey::generate(KeySpec::Rsa(2048))?;
/// let verifier = IssuerVerifier::builder().trusted_key(key.public_key()?).build()?;
/// let signer = IssuerSigner::new(key)?;
/// let token = signer.sign(&IssueRequest::new("ann@example.com").role("admin").scopes(["admin:all"]))?;
/// let claims = verifier.verify(&token)?;
/// assert_eq!((claims.issuer(), claims.role(), claims.subject()), ("auth_admin", "admin", "ann@example.com"));
/// assert_eq!(claims.level(), Level::new(0.0).expect("finite"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct IssuerVerifier {
    keys: Arc<[PublicKey]>,
    roles: Roles,
    audiences: Vec<Audience>,
    time: TimeRule,
    clock: Arc<dyn Clock>,
    max_token_bytes: usize,
}

impl fmt::Debug for IssuerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerVerifier")
            .field("trusted_keys", &self.keys.len())
            .field("roles", &self.roles)
            .field("audiences", &self.audiences)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

/// Builds an [`IssuerVerifier`].
#[must_use]
pub struct IssuerVerifierBuilder {
    keys: Vec<PublicKey>,
    roles: Roles,
    audiences: Vec<Audience>,
    leeway: Duration,
    max_lifetime: Duration,
    clock: Arc<dyn Clock>,
    max_token_bytes: usize,
}

impl fmt::Debug for IssuerVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerVerifierBuilder")
            .field("trusted_keys", &self.keys.len())
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl IssuerVerifierBuilder {
    /// Trusts `key` (an RSA key: the issuer signs RS256). Keys are tried in the order added.
    pub fn trusted_key(mut self, key: PublicKey) -> IssuerVerifierBuilder {
        self.keys.push(key);
        self
    }

    /// The roles and their issuer names (default [`Roles::default`]: `user` → `auth_user`,
    /// `admin` → `auth_admin`).
    pub fn roles(mut self, roles: Roles) -> IssuerVerifierBuilder {
        self.roles = roles;
        self
    }

    /// An audience this service answers to; with one, every token must carry a matching `aud`.
    pub fn audience(mut self, audience: Audience) -> IssuerVerifierBuilder {
        self.audiences.push(audience);
        self
    }

    /// Clock skew allowed on `exp`, `nbf` and `iat` (default 30 s, at most 300 s).
    pub fn leeway(mut self, leeway: Duration) -> IssuerVerifierBuilder {
        self.leeway = leeway;
        self
    }

    /// The longest remaining life accepted (default [`DEFAULT_MAX_LIFETIME`]).
    pub fn max_lifetime(mut self, max: Duration) -> IssuerVerifierBuilder {
        self.max_lifetime = max;
        self
    }

    /// Reads time from `clock` (for tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> IssuerVerifierBuilder {
        self.clock = clock;
        self
    }

    /// The largest token accepted (default 8 KiB).
    pub fn max_token_bytes(mut self, max: usize) -> IssuerVerifierBuilder {
        self.max_token_bytes = max;
        self
    }

    /// Checks the configuration: 1 to [`MAX_TRUSTED_KEYS`] RSA keys, at least one role, the
    /// leeway and lifetime in range.
    pub fn build(self) -> Result<IssuerVerifier, ConfigError> {
        if self.keys.is_empty() || self.keys.len() > MAX_TRUSTED_KEYS {
            return Err(ConfigError(format!(
                "{} trusted keys given; 1 to {MAX_TRUSTED_KEYS} are needed",
                self.keys.len()
            )));
        }
        if let Some(key) = self.keys.iter().find(|k| k.kind() != KeyKind::Rsa) {
            return Err(ConfigError(format!(
                "a trusted key is {}, but central-issuer tokens are RS256 (RSA keys only)",
                key.kind()
            )));
        }
        if self.roles.is_empty() {
            return Err(ConfigError(
                "no role is declared, so no issuer would be accepted".into(),
            ));
        }
        Ok(IssuerVerifier {
            keys: self.keys.into(),
            roles: self.roles,
            audiences: self.audiences,
            time: TimeRule::new(self.leeway, self.max_lifetime)?,
            clock: self.clock,
            max_token_bytes: self.max_token_bytes,
        })
    }
}

impl IssuerVerifier {
    /// Starts a verifier; add at least one trusted key.
    pub fn builder() -> IssuerVerifierBuilder {
        IssuerVerifierBuilder {
            keys: Vec::new(),
            roles: Roles::default(),
            audiences: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            clock: Arc::new(SystemClock),
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }

    /// The roles this verifier knows.
    pub fn roles(&self) -> &Roles {
        &self.roles
    }

    /// Verifies the token of the request's `Authorization` header values: exactly one,
    /// `Bearer <token>` (the core's [`asap_core::bearer_token`] rule).
    pub fn verify_authorization<'a>(
        &self,
        values: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<IssuerClaims, IssuerTokenError> {
        let token = asap_core::bearer_token(values).map_err(|e| match e {
            asap_core::VerifyError::BadAuthorization(why) => IssuerTokenError::BadAuthorization(why),
            _ => IssuerTokenError::MissingToken,
        })?;
        self.verify(token)
    }

    /// Verifies a token (see [`IssuerVerifier`] for the rules, in order).
    pub fn verify(&self, token: &str) -> Result<IssuerClaims, IssuerTokenError> {
        let jws = Jws::parse(token, self.max_token_bytes)?;
        jws.header().require_alg("RS256")?;
        let mut own = ExtraClaims::default();
        let mut claims = jws.decode_claims_with(&mut own)?;
        let issuer = claims.iss.take().ok_or(TokenError::MissingClaim("iss"))?;
        let subject = claims.sub.take().ok_or(TokenError::MissingClaim("sub"))?;
        let expires_at = claims.exp.ok_or(TokenError::MissingClaim("exp"))?;
        let extras = own.typed()?;

        let now = self.clock.now();
        self.time.check(
            &TimeClaims {
                // Without `iat` the remaining life is what the lifetime bound can see.
                issued_at: claims.iat.unwrap_or(now.min(expires_at)),
                not_before: claims.nbf,
                expires_at,
            },
            now,
        )?;

        let signature = jws.signature()?;
        if !self
            .keys
            .iter()
            .any(|key| signature.verify(key, Algorithm::RS256).is_ok())
        {
            return Err(TokenError::BadSignature.into());
        }

        if self.audiences.is_empty() {
            if !claims.aud.is_empty() {
                return Err(TokenError::AudienceMismatch.into());
            }
        } else {
            check_audience(&claims.aud, &self.audiences)?;
        }
        let role = self
            .roles
            .shared_role_of(&issuer)
            .ok_or_else(|| IssuerTokenError::UnknownIssuer(asap_core::truncate(&issuer)))?
            .clone();
        Ok(IssuerClaims {
            issuer,
            role,
            subject,
            expires_at,
            audience: std::mem::take(&mut claims.aud),
            aud_was_array: claims.aud_was_array,
            token_id: claims.jti.take(),
            issued_at: claims.iat,
            not_before: claims.nbf,
            level: extras.level,
            factor: extras.factor,
            target: extras.target,
            dnt: extras.dnt,
            scopes: extras.scopes,
            extra: std::mem::take(&mut claims.extra),
        })
    }
}

/// What a route requires of a verified central-issuer token: a minimum authentication level,
/// scopes it must carry, and the scopes each role may carry at all (a token of role `user`
/// carrying `admin:all` is refused, whatever the route requires). Every refusal is a 403.
///
/// ```
/// use issuer_tokens::{IssuerPolicy, IssuerTokenError};
/// let policy = IssuerPolicy::new()
///     .min_level(3.0)
///     .require_scopes(["support:mobile"])
///     .role_scopes("support", ["support:all", "support:mobile"]);
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct IssuerPolicy {
    min_level: Option<f64>,
    required: Vec<String>,
    role_scopes: BTreeMap<String, Vec<String>>,
}

impl IssuerPolicy {
    /// A policy that requires nothing.
    pub fn new() -> IssuerPolicy {
        IssuerPolicy::default()
    }

    /// The token's level must be at least `level`.
    pub fn min_level(mut self, level: f64) -> IssuerPolicy {
        self.min_level = Some(level);
        self
    }

    /// The token must carry every one of `scopes`.
    pub fn require_scopes<I, S>(mut self, scopes: I) -> IssuerPolicy
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Tokens of `role` may carry only `scopes` (api_jwt's `allowed['scopes']['PER_KEY']`).
    /// Once any role is declared here, a token of a role not declared may carry no scope.
    pub fn role_scopes<I, S>(mut self, role: impl Into<String>, scopes: I) -> IssuerPolicy
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.role_scopes
            .entry(role.into())
            .or_default()
            .extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Applies the policy to a verified token.
    pub fn check(&self, claims: &IssuerClaims) -> Result<(), IssuerTokenError> {
        if !self.role_scopes.is_empty() {
            let allowed = self
                .role_scopes
                .get(claims.role())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            if let Some(scope) = claims.scopes().iter().find(|s| !allowed.contains(s)) {
                return Err(IssuerTokenError::ScopeNotAllowedForRole {
                    role: claims.role().to_owned(),
                    scope: asap_core::truncate(scope),
                });
            }
        }
        // A minimum that is not a number (NaN) compares as neither less nor greater: refuse
        // every token rather than none (`level < NaN` is always false).
        if let Some(min) = self.min_level
            && !matches!(
                claims.level().value().partial_cmp(&min),
                Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
            )
        {
            return Err(IssuerTokenError::LevelTooLow {
                level: claims.level(),
                min: Level::new(min).unwrap_or(claims.level()),
            });
        }
        let missing: Vec<&str> = self
            .required
            .iter()
            .filter(|s| !claims.scopes().contains(s))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(IssuerTokenError::MissingScopes(missing.join(" ")));
        }
        Ok(())
    }
}
