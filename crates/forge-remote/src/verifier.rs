//! [`InvocationVerifier`]: the Forge Invocation Token profile, composed of the core's pieces
//! ([`Jws::parse`], [`Jws::decode_claims_with`], [`check_audience`], [`TimeRule`], the signature seam)
//! and a [`PublicKeySource`] (Forge's JWKS).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use asap_core::{
    Algorithm, Audience, Clock, DEFAULT_LEEWAY, Jws, KeyId, PublicKeySource, ReplayGuard, SystemClock,
    TimeRule, TokenError, bearer_token, check_audience,
};
use asap_keys::JwksKeySource;
use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::claims::{App, ForgeClaims, InvocationClaims};
use crate::error::{ConfigError, ForgeError};
use crate::secret::{ForgeOAuthToken, SYSTEM_TOKEN_HEADER, USER_TOKEN_HEADER};

/// The `iss` of every Forge Invocation Token.
pub const FORGE_ISSUER: &str = "forge/invocation-token";

/// The prefix of a Forge app id (`ari:cloud:ecosystem::app/<uuid>`), the token's audience.
pub const APP_ID_PREFIX: &str = "ari:cloud:ecosystem::app/";

/// The key set Forge signs production invocations with.
pub const PRODUCTION_JWKS_URL: &str = "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json";

/// The key set Forge signs staging invocations with.
pub const STAGING_JWKS_URL: &str = "https://forge.cdn.stg.atlassian-dev.net/.well-known/jwks.json";

/// The largest invocation token accepted by default (32 KiB): its `context` carries the
/// product's extension data and can be far larger than an ASAP token, but a bound there must be.
pub const DEFAULT_MAX_INVOCATION_TOKEN_BYTES: usize = 32 * 1024;

/// The largest token cap that can be configured (256 KiB).
pub const MAX_INVOCATION_TOKEN_BYTES: usize = 256 * 1024;

/// The longest `exp - iat` accepted by default: 1 hour.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// Which Forge key set verifies the tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForgeKeys {
    /// [`PRODUCTION_JWKS_URL`] (the default).
    Production,
    /// [`STAGING_JWKS_URL`].
    Staging,
}

impl ForgeKeys {
    /// The JWKS URL.
    pub fn url(&self) -> &'static str {
        match self {
            ForgeKeys::Production => PRODUCTION_JWKS_URL,
            ForgeKeys::Staging => STAGING_JWKS_URL,
        }
    }
}

/// A verified invocation: its claims and the OAuth tokens Forge sent with it.
///
/// `Debug` shows the claims and whether each token is present, never a token.
#[derive(Clone)]
pub struct Invocation {
    claims: Arc<InvocationClaims>,
    system_token: Option<ForgeOAuthToken>,
    user_token: Option<ForgeOAuthToken>,
}

impl fmt::Debug for Invocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invocation")
            .field("claims", &self.claims)
            .field("system_token", &self.system_token.as_ref().map(|_| "<redacted>"))
            .field("user_token", &self.user_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Invocation {
    /// The claims.
    pub fn claims(&self) -> &InvocationClaims {
        &self.claims
    }

    /// `app`.
    pub fn app(&self) -> &App {
        &self.claims.app
    }

    /// The installation id: the tenant.
    pub fn installation_id(&self) -> &str {
        &self.claims.app.installation_id
    }

    /// `principal`, the account id of the user, when there is one.
    pub fn principal(&self) -> Option<&str> {
        self.claims.principal.as_deref()
    }

    /// The app system token (`x-forge-oauth-system`), when the manifest asks for it.
    pub fn system_token(&self) -> Option<&ForgeOAuthToken> {
        self.system_token.as_ref()
    }

    /// The app user token (`x-forge-oauth-user`), when the manifest asks for it.
    pub fn user_token(&self) -> Option<&ForgeOAuthToken> {
        self.user_token.as_ref()
    }
}

/// Verifies Forge Invocation Tokens for one app.
///
/// The rules, cheapest first, each with a test:
///
/// 1. the token is at most [`max_token_bytes`](InvocationVerifierBuilder::max_token_bytes)
///    long, a compact JWS with a strict header ([`Jws::parse`]);
/// 2. `alg` is `RS256`, nothing else (no HS256 keyed with the public key, no `none`, no other
///    RSA padding); a `kid` is present and a valid key id;
/// 3. the claims are strict JSON with typed registered claims
///    ([`RegisteredClaims`](asap_core::RegisteredClaims)), and `app` and `context` typed from
///    the text with their documented types ([`Jws::decode_claims_with`]: `app.id`,
///    `app.installationId` or `app.apiBaseUrl` missing, or a member of another type, refuses
///    the token here, before any key lookup);
///    `iss` is [`FORGE_ISSUER`]; `aud` is the app id; `iat`, `exp` (and `nbf`) pass the core
///    [`TimeRule`]; `jti` is present;
/// 4. the key for the `kid` comes from the key source (Forge's JWKS), is an RSA key of at least
///    2048 bits, and the signature verifies;
/// 5. `app` is present, its `id` equal to the audience; `principal` is a string when sent. Members Forge adds are kept;
/// 6. with a [`replay_guard`](InvocationVerifierBuilder::replay_guard) (off by default), the
///    `jti` is single-use: recorded after every other check (the OAuth token headers too, in
///    [`verify_request`](InvocationVerifier::verify_request)), keyed by
///    `(app.installationId, jti)` until `exp` plus the leeway (the installation is the guard's
///    issuer, so its per-issuer quota is per tenant); a second use is [`ForgeError::Replayed`] (401), a guard that cannot
///    answer [`ForgeError::ReplayUnavailable`] (503).
///
/// A JWKS kid is an opaque name, not ASAP's `<issuer>/<key name>`, so the ASAP kid-ownership
/// rule does not apply: the issuer is fixed, and every key in Forge's set signs for it.
///
/// ```no_run
/// use forge_remote::{ForgeKeys, InvocationVerifier};
///
/// # async fn run(headers: &http::HeaderMap) -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = InvocationVerifier::builder("ari:cloud:ecosystem::app/5e3a1c52-7d7c-4d55-9d8b-0c1e6c2b8d11")
///     .keys(ForgeKeys::Production)
///     .build()?;
/// let invocation = verifier.verify_request(headers).await?;
/// println!("{} for {:?}", invocation.installation_id(), invocation.principal());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct InvocationVerifier {
    app_id: Audience,
    keys: Arc<dyn PublicKeySource>,
    time: TimeRule,
    clock: Arc<dyn Clock>,
    max_token_bytes: usize,
    replay: Option<Arc<dyn ReplayGuard>>,
}

impl fmt::Debug for InvocationVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvocationVerifier")
            .field("app_id", &self.app_id)
            .field("keys", &self.keys)
            .field("time", &self.time)
            .field("max_token_bytes", &self.max_token_bytes)
            .field("replay", &self.replay.is_some())
            .finish_non_exhaustive()
    }
}

/// Configures an [`InvocationVerifier`].
#[must_use]
pub struct InvocationVerifierBuilder {
    app_id: String,
    keys: Option<Arc<dyn PublicKeySource>>,
    forge_keys: ForgeKeys,
    leeway: Duration,
    max_lifetime: Duration,
    clock: Arc<dyn Clock>,
    max_token_bytes: usize,
    replay: Option<Arc<dyn ReplayGuard>>,
}

impl fmt::Debug for InvocationVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvocationVerifierBuilder")
            .field("app_id", &self.app_id)
            .field("forge_keys", &self.forge_keys)
            .field("leeway", &self.leeway)
            .field("max_lifetime", &self.max_lifetime)
            .field("max_token_bytes", &self.max_token_bytes)
            .field("replay", &self.replay.is_some())
            .finish_non_exhaustive()
    }
}

impl InvocationVerifier {
    /// Starts a verifier for the app `app_id` (`ari:cloud:ecosystem::app/<uuid>`, the app id of
    /// the manifest).
    pub fn builder(app_id: impl Into<String>) -> InvocationVerifierBuilder {
        InvocationVerifierBuilder {
            app_id: app_id.into(),
            keys: None,
            forge_keys: ForgeKeys::Production,
            leeway: DEFAULT_LEEWAY,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            clock: Arc::new(SystemClock),
            max_token_bytes: DEFAULT_MAX_INVOCATION_TOKEN_BYTES,
            replay: None,
        }
    }

    /// The app id tokens must be addressed to.
    pub fn app_id(&self) -> &str {
        self.app_id.as_str()
    }

    /// Verifies the invocation of a request: `Authorization: Bearer <token>` (the core's
    /// transport rule: one header, one space), then the token, then the OAuth token headers.
    pub async fn verify_request(&self, headers: &HeaderMap) -> Result<Invocation, ForgeError> {
        let token = bearer_token(headers.get_all(AUTHORIZATION).iter().map(|v| v.as_bytes())).map_err(
            |e| match e {
                asap_core::VerifyError::MissingToken => ForgeError::MissingToken,
                asap_core::VerifyError::BadAuthorization(reason) => ForgeError::BadAuthorization(reason),
                _ => ForgeError::BadAuthorization("expected \"Bearer <token>\""),
            },
        )?;
        let claims = self.verify_unrecorded(token).await?;
        let system_token = ForgeOAuthToken::from_headers(headers, SYSTEM_TOKEN_HEADER)?;
        let user_token = ForgeOAuthToken::from_headers(headers, USER_TOKEN_HEADER)?;
        self.record_use(&claims).await?;
        Ok(Invocation {
            claims: Arc::new(claims),
            system_token,
            user_token,
        })
    }

    /// This verifier with `guard` as its replay guard (see
    /// [`InvocationVerifierBuilder::replay_guard`]), for a layer that adds one to a verifier
    /// already built.
    #[must_use]
    pub fn with_replay_guard(mut self, guard: Arc<dyn ReplayGuard>) -> InvocationVerifier {
        self.replay = Some(guard);
        self
    }

    /// Verifies a Forge Invocation Token (the rules are listed at [`InvocationVerifier`]).
    pub async fn verify(&self, token: &str) -> Result<InvocationClaims, ForgeError> {
        let claims = self.verify_unrecorded(token).await?;
        self.record_use(&claims).await?;
        Ok(claims)
    }

    /// The last rules: the token is still within its window after the awaits of the checks (a
    /// key fetch may take seconds), and, when a guard is set, its `jti` is used once while it
    /// lives.
    async fn record_use(&self, claims: &InvocationClaims) -> Result<(), ForgeError> {
        // Recorded under the installation, not the one fixed `iss`: a guard's per-issuer quota
        // (an in-memory guard gives each issuer an eighth) is then per tenant, so one
        // installation's invocations cannot fill it for every other installation.
        let use_ = self.time.admit(
            &claims.time_claims(),
            self.clock.now(),
            claims.installation_id(),
            &claims.token_id,
        )?;
        let Some(guard) = &self.replay else {
            return Ok(());
        };
        match guard.first_use(use_).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(ForgeError::Replayed),
            Err(e) => Err(ForgeError::ReplayUnavailable(e)),
        }
    }

    /// Every rule but the replay guard's.
    async fn verify_unrecorded(&self, token: &str) -> Result<InvocationClaims, ForgeError> {
        let jws = Jws::parse(token, self.max_token_bytes)?;
        jws.header().require_alg("RS256")?;
        let kid = KeyId::parse(jws.header().require_kid()?)?;
        // `app` and `context` typed straight from the text, refused here when not of their type.
        let mut typed = ForgeClaims::default();
        let mut claims = jws.decode_claims_with(&mut typed)?;
        match claims.iss.as_deref() {
            Some(FORGE_ISSUER) => {}
            Some(other) => return Err(ForgeError::WrongIssuer(asap_core::truncate(other))),
            None => return Err(TokenError::MissingClaim("iss").into()),
        }
        check_audience(&claims.aud, std::slice::from_ref(&self.app_id))?;
        let times = claims.time_claims()?;
        self.time.check(&times, self.clock.now())?;
        let token_id = claims.jti.take().ok_or(TokenError::MissingClaim("jti"))?;
        // Only now, with a token that could be genuine, is a key looked up.
        let key = self.keys.public_key(&kid).await?;
        jws.signature()?.verify(&*key, Algorithm::RS256)?;

        let app = typed.app.ok_or(ForgeError::InvalidClaim {
            claim: "app",
            reason: "is missing".to_owned(),
        })?;
        if app.id != self.app_id.as_str() {
            return Err(ForgeError::AppMismatch);
        }
        let principal = claims.take_string("principal")?;
        Ok(InvocationClaims {
            issuer: FORGE_ISSUER.to_owned(),
            audience: self.app_id.as_str().to_owned(),
            token_id,
            issued_at: times.issued_at,
            not_before: times.not_before,
            expires_at: times.expires_at,
            app,
            context: typed.context,
            principal,
            extra: std::mem::take(&mut claims.extra),
        })
    }
}

impl InvocationVerifierBuilder {
    /// Which Forge key set to fetch ([`ForgeKeys::Production`] unless set); ignored when
    /// [`key_source`](Self::key_source) is given.
    pub fn keys(mut self, keys: ForgeKeys) -> Self {
        self.forge_keys = keys;
        self
    }

    /// Takes keys from `source` instead of Forge's published set: a [`JwksKeySource`] with its
    /// own settings, or a stand-in in tests.
    pub fn key_source(mut self, source: Arc<dyn PublicKeySource>) -> Self {
        self.keys = Some(source);
        self
    }

    /// The clock leeway for `iat`, `nbf` and `exp` (default [`DEFAULT_LEEWAY`], at most
    /// [`MAX_LEEWAY`](asap_core::MAX_LEEWAY)).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The longest `exp - iat` accepted ([`DEFAULT_MAX_LIFETIME`] unless set).
    pub fn max_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = max;
        self
    }

    /// The clock (the system clock unless set).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The largest token accepted, in bytes ([`DEFAULT_MAX_INVOCATION_TOKEN_BYTES`] unless set;
    /// at most [`MAX_INVOCATION_TOKEN_BYTES`]).
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
        self
    }

    /// Makes every `jti` single-use while its token lives (`exp` plus the leeway): a replayed
    /// invocation is refused with [`ForgeError::Replayed`] (401). Off by default: Forge's
    /// documentation does not say whether a retried event or trigger invocation carries a new
    /// token (see `docs/forge.md`). An `asap_core::InMemoryReplayGuard` serves one process; a
    /// fleet shares one store (`asap_redis::RedisReplayGuard`), or a token can be used once per
    /// instance.
    pub fn replay_guard(mut self, guard: Arc<dyn ReplayGuard>) -> Self {
        self.replay = Some(guard);
        self
    }

    /// Checks the settings and builds the verifier.
    pub fn build(self) -> Result<InvocationVerifier, ConfigError> {
        let valid_app_id = self
            .app_id
            .strip_prefix(APP_ID_PREFIX)
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if !valid_app_id {
            return Err(ConfigError::AppId(self.app_id));
        }
        if self.max_token_bytes == 0 || self.max_token_bytes > MAX_INVOCATION_TOKEN_BYTES {
            return Err(ConfigError::Setting(format!(
                "the token cap must be between 1 and {MAX_INVOCATION_TOKEN_BYTES} bytes"
            )));
        }
        let time = TimeRule::new(self.leeway, self.max_lifetime)?;
        let keys = match self.keys {
            Some(keys) => keys,
            None => Arc::new(
                JwksKeySource::builder(self.forge_keys.url())
                    .clock(self.clock.clone())
                    .build()?,
            ),
        };
        Ok(InvocationVerifier {
            app_id: Audience::new(&self.app_id).map_err(|e| ConfigError::Setting(e.to_string()))?,
            keys,
            time,
            clock: self.clock,
            max_token_bytes: self.max_token_bytes,
            replay: self.replay,
        })
    }
}
