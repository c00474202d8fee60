//! Inbound: authenticating a request the product sent to the app.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use asap_core::{
    Clock, DEFAULT_MAX_TOKEN_BYTES, HmacAlgorithm, Jws, JwsSignature, KeyId, PublicKeySource,
    RegisteredClaims, SystemClock, TimeRule, TokenError,
};
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Method, Uri};

use crate::canonical::{RequestTarget, form_decode, is_plain_origin, qsh_matches_target, query_pairs};
use crate::claims::{CONTEXT_QSH, ConnectClaims};
use crate::error::{AuthError, ConfigError, truncate};
use crate::install_key::InstallKeys;
use crate::session::{DEFAULT_SESSION_LIFETIME, SessionTokens};
use crate::signer::MAX_CONNECT_LIFETIME;
use crate::store::SharedSecretStore;

/// The default clock-skew allowance for Connect tokens (the Python reference uses 90 s); at most
/// [`asap_core::MAX_LEEWAY`] (300 s).
pub const DEFAULT_CONNECT_LEEWAY: Duration = Duration::from_secs(30);

/// The default longest `exp - iat` of an inbound Connect token: one hour. The product's request
/// tokens live 180 s, but the context tokens of `AP.context.getToken()` live longer (Atlassian
/// documents a "longer TTL" without a number; about 15 minutes is seen), and the host's own
/// Java library (`atlassian-jwt`) refuses tokens longer than one hour by default. An hour
/// refuses no genuine host token while refusing tokens minted to live for days; lower it with
/// [`AuthenticatorBuilder::max_lifetime`] on an app that takes no context tokens.
pub const DEFAULT_CONNECT_MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// Which tokens a route accepts besides those bound to the request.
///
/// A `context-qsh` token is not bound to a request: the product hands it to the app's page
/// (`AP.context.getToken()`), and the page may send it to any URL. Neither is an app session
/// token ([`AuthenticatorBuilder::session_tokens`]), which the app hands its own page. Only
/// routes built for that (the app's own AJAX endpoints) should accept them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum QshPolicy {
    /// The `qsh` must be the hash of this request (the default).
    #[default]
    RequestOnly,
    /// The `qsh` must be the hash of this request, or [`CONTEXT_QSH`].
    AllowContext,
    /// A token bound to this request, or an app session token.
    AllowSession,
    /// A token bound to this request, a `context-qsh` token, or an app session token.
    AllowContextOrSession,
}

impl QshPolicy {
    /// The policy that admits `context-qsh` tokens when `context` and app session tokens when
    /// `session`, besides request-bound ones.
    pub const fn new(context: bool, session: bool) -> QshPolicy {
        match (context, session) {
            (false, false) => QshPolicy::RequestOnly,
            (true, false) => QshPolicy::AllowContext,
            (false, true) => QshPolicy::AllowSession,
            (true, true) => QshPolicy::AllowContextOrSession,
        }
    }

    /// Whether `context-qsh` tokens are admitted.
    pub const fn allows_context(self) -> bool {
        matches!(self, QshPolicy::AllowContext | QshPolicy::AllowContextOrSession)
    }

    /// Whether app session tokens are admitted.
    pub const fn allows_session(self) -> bool {
        matches!(self, QshPolicy::AllowSession | QshPolicy::AllowContextOrSession)
    }

    /// The route rule: whether this policy admits a token with `binding`. A request-bound
    /// token is admitted everywhere; a `context-qsh` one only where the route allows it
    /// ([`AuthError::ContextQshNotAllowed`] otherwise), and an app session token likewise
    /// ([`AuthError::SessionTokenNotAllowed`]). A layer nested inside one that already
    /// authenticated the request applies this to the binding it found.
    pub fn admits(self, binding: QshBinding) -> Result<(), AuthError> {
        match binding {
            QshBinding::Context if !self.allows_context() => Err(AuthError::ContextQshNotAllowed),
            QshBinding::Session if !self.allows_session() => Err(AuthError::SessionTokenNotAllowed),
            _ => Ok(()),
        }
    }
}

/// What the token's `qsh` bound it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QshBinding {
    /// This very request (method, path and query).
    Request,
    /// The page context (`qsh` = `context-qsh`), on a route that allows it.
    Context,
    /// Nothing: an app session token, on a route that allows it.
    Session,
}

/// A request that passed authentication: the tenant's client key and the token's claims.
/// `Debug` leaves out the minted session token.
#[derive(Clone)]
pub struct VerifiedRequest {
    client_key: Arc<str>,
    claims: ConnectClaims,
    binding: QshBinding,
    key_id: Option<KeyId>,
    session_token: Option<Arc<str>>,
}

impl VerifiedRequest {
    /// The tenant's client key: the token's `iss`, or for an app session token its `aud`.
    pub fn client_key(&self) -> &str {
        &self.client_key
    }

    /// The `kid` of the public key that verified an RS256 token; `None` for HS256.
    pub fn key_id(&self) -> Option<&KeyId> {
        self.key_id.as_ref()
    }

    /// The app session token minted for this request: present when the authenticator makes
    /// session tokens and the request was bound to a token the product signed (a page load).
    /// Send it to the page (a [`SESSION_TOKEN_HEADER`](crate::SESSION_TOKEN_HEADER) response
    /// header); it is a bearer credential for the tenant and user until it expires.
    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }

    /// The user the request acts for (`sub`), when present.
    pub fn subject(&self) -> Option<&str> {
        self.claims.subject()
    }

    /// Every claim.
    pub fn claims(&self) -> &ConnectClaims {
        &self.claims
    }

    /// Whether the token was bound to this request, to the page context, or is a session.
    pub fn binding(&self) -> QshBinding {
        self.binding
    }
}

impl fmt::Debug for VerifiedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedRequest")
            .field("client_key", &self.client_key)
            .field("claims", &self.claims)
            .field("binding", &self.binding)
            .field("key_id", &self.key_id)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Authenticates inbound Connect requests: finds the token, looks up the tenant's shared secret
/// by `iss`, and checks, in this order: the shared token framing (size, three segments, strict
/// header), HS256 only, the claim types, the signature (through asap-core's signature seam), the
/// time rule (leeway [`DEFAULT_CONNECT_LEEWAY`], lifetime at most
/// [`DEFAULT_CONNECT_MAX_LIFETIME`], `nbf` defaulting to `iat`), then the `qsh` in constant
/// time. Cheap to clone.
///
/// `nbf` defaults to `iat` as for ASAP, although the host's Java reader does not check `iat`:
/// a token whose `iat` may lie in the future escapes the lifetime cap (`iat` a day ahead, `exp`
/// a minute later), and the product's clock does not run ahead of ours by more than the leeway.
///
/// ```
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use connect_qsh::*;
/// use http::{HeaderMap, Method, Uri};
///
/// let secrets = InMemorySharedSecretStore::new();
/// secrets.insert("tenant-1", SharedSecret::new("s3cr3t")?);
/// let authenticator = Authenticator::builder(secrets)
///     .base_url("https://app.example.com/connect")
///     .build()?;
///
/// // What the product would send (here made with the same library).
/// let token = ConnectSigner::new("tenant-1").sign(
///     &SharedSecret::new("s3cr3t")?,
///     "GET",
///     "/connect/panel?issue=KEY-1",
///     "/connect",
/// )?;
/// let uri: Uri = format!("/connect/panel?issue=KEY-1&jwt={token}").parse()?;
/// let ok = authenticator.authenticate(&Method::GET, &uri, &HeaderMap::new()).await?;
/// assert_eq!(ok.client_key(), "tenant-1");
///
/// let tampered: Uri = format!("/connect/panel?issue=KEY-2&jwt={token}").parse()?;
/// let err = authenticator.authenticate(&Method::GET, &tampered, &HeaderMap::new()).await.expect_err("must be refused");
/// assert_eq!(err.outcome().status(), 401);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Authenticator {
    secrets: Arc<dyn SharedSecretStore>,
    base_url: Arc<str>,
    time: TimeRule,
    max_token_bytes: usize,
    clock: Arc<dyn Clock>,
    public_keys: Option<InstallKeys>,
    sessions: Option<SessionTokens>,
}

/// Configures an [`Authenticator`].
pub struct AuthenticatorBuilder {
    secrets: Arc<dyn SharedSecretStore>,
    base_url: String,
    leeway: Duration,
    max_lifetime: Duration,
    max_token_bytes: usize,
    clock: Arc<dyn Clock>,
    public_keys: Option<Arc<dyn PublicKeySource>>,
    session_app_key: Option<String>,
    session_lifetime: Duration,
}

impl AuthenticatorBuilder {
    /// The app's base URL (as in its descriptor), absolute or just its path: the `qsh` is
    /// computed on the request path relative to it. Default: none (paths are taken as they are).
    #[must_use]
    pub fn base_url(mut self, base_url: impl Into<String>) -> AuthenticatorBuilder {
        self.base_url = base_url.into();
        self
    }

    /// The clock-skew allowance for `iat`, `nbf` and `exp`; default 30 s, at most 5 minutes.
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> AuthenticatorBuilder {
        self.leeway = leeway;
        self
    }

    /// The longest `exp - iat` accepted; default [`DEFAULT_CONNECT_MAX_LIFETIME`] (one hour),
    /// at most [`MAX_CONNECT_LIFETIME`].
    #[must_use]
    pub fn max_lifetime(mut self, max: Duration) -> AuthenticatorBuilder {
        self.max_lifetime = max;
        self
    }

    /// The largest token accepted, in bytes (checked before any parsing); default 8 KiB.
    #[must_use]
    pub fn max_token_bytes(mut self, max: usize) -> AuthenticatorBuilder {
        self.max_token_bytes = max;
        self
    }

    /// Uses another clock (tests).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> AuthenticatorBuilder {
        self.clock = clock;
        self
    }

    /// Also accepts RS256 tokens signed by the product's asymmetric key: the public key is
    /// fetched from `keys` by the token's `kid` (the mechanism of signed install callbacks, an
    /// `asap_keys` HTTP repository for the Connect install keys), and the token's `aud` must be
    /// the [base URL](AuthenticatorBuilder::base_url), which must then be absolute. The `iss`
    /// must still be an installed tenant, and the `qsh` and time rules are the same. HS256
    /// tokens keep working. Default: HS256 only.
    #[must_use]
    pub fn public_keys(mut self, keys: Arc<dyn PublicKeySource>) -> AuthenticatorBuilder {
        self.public_keys = Some(keys);
        self
    }

    /// Makes and accepts app session tokens (as atlassian-connect-express does): after a
    /// request bound to a token the product signed (a page load), the [`VerifiedRequest`]
    /// carries a fresh HS256 token, signed with the tenant's shared secret, `iss` = `app_key`
    /// (the app's descriptor key), `sub` = the user, `aud` = `[clientKey]` and no `qsh`, that
    /// the page sends back on its own calls. Routes accept it only when their [`QshPolicy`]
    /// says so ([`AuthError::SessionTokenNotAllowed`], 403, elsewhere). A session token never
    /// mints another, so a leaked one lives at most its lifetime. Default: off.
    #[must_use]
    pub fn session_tokens(mut self, app_key: impl Into<String>) -> AuthenticatorBuilder {
        self.session_app_key = Some(app_key.into());
        self
    }

    /// The lifetime of app session tokens, minted and accepted: default
    /// [`DEFAULT_SESSION_LIFETIME`] (15 minutes), at most
    /// [`MAX_SESSION_LIFETIME`](crate::MAX_SESSION_LIFETIME).
    #[must_use]
    pub fn session_lifetime(mut self, lifetime: Duration) -> AuthenticatorBuilder {
        self.session_lifetime = lifetime;
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<Authenticator, ConfigError> {
        let time = connect_time_rule(self.leeway, self.max_lifetime)?;
        check_base_url(&self.base_url)?;
        let public_keys = self
            .public_keys
            .map(|keys| InstallKeys::new(keys, &self.base_url))
            .transpose()?;
        let sessions = self
            .session_app_key
            .map(|app_key| SessionTokens::new(app_key, self.session_lifetime, self.leeway))
            .transpose()?;
        Ok(Authenticator {
            secrets: self.secrets,
            base_url: Arc::from(self.base_url),
            time,
            max_token_bytes: self.max_token_bytes,
            clock: self.clock,
            public_keys,
            sessions,
        })
    }
}

/// The time rule of inbound Connect tokens and callbacks: asap-core's, with Connect's lifetime
/// ceiling.
pub(crate) fn connect_time_rule(leeway: Duration, max_lifetime: Duration) -> Result<TimeRule, ConfigError> {
    if max_lifetime > MAX_CONNECT_LIFETIME {
        return Err(ConfigError(format!(
            "max_lifetime {} s is longer than {} s",
            max_lifetime.as_secs(),
            MAX_CONNECT_LIFETIME.as_secs()
        )));
    }
    Ok(TimeRule::new(leeway, max_lifetime)?)
}

pub(crate) fn check_base_url(base_url: &str) -> Result<(), ConfigError> {
    if let Some(origin) = RequestTarget::split(base_url).origin {
        // Refused here rather than at every request.
        if !is_plain_origin(origin) {
            return Err(ConfigError(format!(
                "base URL {base_url:?}: the origin must be scheme://host[:port] alone, in ASCII"
            )));
        }
        url::Url::parse(base_url).map_err(|e| ConfigError(format!("base URL {base_url:?}: {e}")))?;
    } else if !base_url.is_empty() && !base_url.starts_with('/') {
        return Err(ConfigError(format!(
            "base URL {base_url:?} is neither an absolute URL nor a path starting with `/`"
        )));
    }
    Ok(())
}

impl Authenticator {
    /// Starts a builder over a shared-secret store.
    pub fn builder(secrets: impl SharedSecretStore + 'static) -> AuthenticatorBuilder {
        Authenticator::builder_shared(Arc::new(secrets))
    }

    /// Starts a builder over a shared store.
    pub fn builder_shared(secrets: Arc<dyn SharedSecretStore>) -> AuthenticatorBuilder {
        AuthenticatorBuilder {
            secrets,
            base_url: String::new(),
            leeway: DEFAULT_CONNECT_LEEWAY,
            max_lifetime: DEFAULT_CONNECT_MAX_LIFETIME,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            clock: Arc::new(SystemClock),
            public_keys: None,
            session_app_key: None,
            session_lifetime: DEFAULT_SESSION_LIFETIME,
        }
    }

    /// Authenticates a request whose token must be bound to it ([`QshPolicy::RequestOnly`]).
    /// `uri` is the request target as received (its path and query are used).
    pub async fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<VerifiedRequest, AuthError> {
        self.authenticate_with(method, uri, headers, QshPolicy::RequestOnly)
            .await
    }

    /// Authenticates a request on a route with its own [`QshPolicy`].
    pub async fn authenticate_with(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        policy: QshPolicy,
    ) -> Result<VerifiedRequest, AuthError> {
        let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
        self.authenticate_target(method.as_str(), RequestTarget::received(target), headers, policy)
            .await
    }

    /// Authenticates a request given as strings: `url` is the request target (origin-form, or
    /// absolute; only its path and query are used). For servers that do not use `http` types.
    pub async fn authenticate_url(
        &self,
        method: &str,
        url: &str,
        headers: &HeaderMap,
        policy: QshPolicy,
    ) -> Result<VerifiedRequest, AuthError> {
        self.authenticate_target(method, RequestTarget::received(url), headers, policy)
            .await
    }

    async fn authenticate_target(
        &self,
        method: &str,
        target: RequestTarget<'_>,
        headers: &HeaderMap,
        policy: QshPolicy,
    ) -> Result<VerifiedRequest, AuthError> {
        let token = find_token(headers, target.query)?;
        let jws = Jws::parse(&token, self.max_token_bytes)?;
        let public_keys = match (jws.header().alg(), &self.public_keys) {
            ("HS256", _) => None,
            ("RS256", Some(keys)) => Some(keys),
            (_, Some(_)) => return Err(jws.header().alg_not_accepted("HS256 or RS256").into()),
            (_, None) => {
                return Err(jws
                    .header()
                    .alg_not_accepted(HmacAlgorithm::HS256.as_str())
                    .into());
            }
        };
        // Read before the signature only to know whose secret to use; trusted only after it.
        let registered = jws.decode_claims()?;
        let signature = jws.signature()?;
        if let Some(sessions) = &self.sessions
            && public_keys.is_none()
            && sessions.is_ours(registered.iss.as_deref())
        {
            return self
                .authenticate_session(sessions, registered, &signature, policy)
                .await;
        }
        let claims = ConnectClaims::decode_request(registered)?;
        let secret = self
            .secrets
            .shared_secret(claims.issuer())
            .await?
            .ok_or_else(|| AuthError::UnknownIssuer(truncate(claims.issuer())))?;
        let key_id = match public_keys {
            Some(keys) => Some(keys.verify(&jws, &signature, &claims).await?),
            None => {
                signature.verify(secret.hmac_key(), HmacAlgorithm::HS256)?;
                None
            }
        };
        let now = self.clock.now();
        self.time.check(claims.time_claims(), now)?;
        let binding = check_qsh(claims.qsh(), method, target, &self.base_url, policy)?;
        let session_token = match (&self.sessions, binding) {
            (Some(sessions), QshBinding::Request) => {
                Some(Arc::from(sessions.mint(&secret, claims.issuer(), &claims, now)))
            }
            _ => None,
        };
        tracing::debug!(
            client_key = claims.issuer(),
            ?binding,
            kid = key_id.as_ref().map(KeyId::as_str),
            "Connect request authenticated"
        );
        Ok(VerifiedRequest {
            client_key: Arc::from(claims.issuer()),
            claims,
            binding,
            key_id,
            session_token,
        })
    }

    /// The session-token rule: the claims of [`ConnectClaims::decode_session`], HS256 with the
    /// shared secret of the tenant its `aud` names, the time rule with the session lifetime as
    /// the cap, then the route's policy.
    async fn authenticate_session(
        &self,
        sessions: &SessionTokens,
        registered: RegisteredClaims,
        signature: &JwsSignature<'_>,
        policy: QshPolicy,
    ) -> Result<VerifiedRequest, AuthError> {
        let claims = ConnectClaims::decode_session(registered)?;
        let client_key: Arc<str> = claims
            .audiences()
            .first()
            .map(|aud| Arc::from(aud.as_str()))
            .ok_or(TokenError::MissingClaim("aud"))?;
        let secret = self
            .secrets
            .shared_secret(&client_key)
            .await?
            .ok_or_else(|| AuthError::UnknownIssuer(truncate(&client_key)))?;
        signature.verify(secret.hmac_key(), HmacAlgorithm::HS256)?;
        sessions.time.check(claims.time_claims(), self.clock.now())?;
        policy.admits(QshBinding::Session)?;
        tracing::debug!(client_key = &*client_key, "Connect session token accepted");
        Ok(VerifiedRequest {
            client_key,
            claims,
            binding: QshBinding::Session,
            key_id: None,
            session_token: None,
        })
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("secrets", &self.secrets)
            .field("base_url", &self.base_url)
            .field("time", &self.time)
            .field("max_token_bytes", &self.max_token_bytes)
            .field("public_keys", &self.public_keys)
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AuthenticatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatorBuilder")
            .field("base_url", &self.base_url)
            .field("leeway", &self.leeway)
            .field("max_lifetime", &self.max_lifetime)
            .finish_non_exhaustive()
    }
}

/// The qsh rule, applied after the signature: `context-qsh` only where the route allows it;
/// otherwise [`qsh_matches_request`](crate::qsh_matches_request) (raw or decoded path, upper-case
/// method, constant time).
pub(crate) fn check_qsh(
    claimed: &str,
    method: &str,
    target: RequestTarget<'_>,
    base_url: &str,
    policy: QshPolicy,
) -> Result<QshBinding, AuthError> {
    if claimed == CONTEXT_QSH {
        return policy.admits(QshBinding::Context).map(|()| QshBinding::Context);
    }
    if qsh_matches_target(claimed, method, target, base_url)? {
        Ok(QshBinding::Request)
    } else {
        Err(AuthError::QshMismatch)
    }
}

/// The transport rule: the token is in `Authorization: JWT <token>` (scheme case-insensitive,
/// one space) or in the `jwt` query parameter; when both are there they must be the same token,
/// and so must repeated `jwt` parameters. An `Authorization` header of another scheme is not
/// a Connect token and is ignored.
pub(crate) fn find_token<'a>(headers: &'a HeaderMap, query: &'a str) -> Result<Cow<'a, str>, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let from_header = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(_), Some(_)) => return Err(AuthError::AmbiguousToken("more than one Authorization header")),
        (Some(value), None) => jwt_from_authorization(value)?,
    };
    let mut from_query: Option<Cow<'a, str>> = None;
    // Only the keys are decoded (a key without `%` or `+` is compared as it is); only the
    // values of `jwt` keys.
    for (key, value) in query_pairs(query) {
        if form_decode(key).as_deref() != Some("jwt") {
            continue;
        }
        let value = form_decode(value).ok_or_else(|| {
            AuthError::Url(crate::QshError::InvalidUrl(
                "the `jwt` query parameter does not decode to UTF-8".into(),
            ))
        })?;
        match &from_query {
            Some(previous) if *previous != value => {
                return Err(AuthError::AmbiguousToken(
                    "several different `jwt` query parameters",
                ));
            }
            Some(_) => {}
            None => from_query = Some(value),
        }
    }
    match (from_header, from_query) {
        (Some(header), Some(query)) if header != query => Err(AuthError::AmbiguousToken(
            "the Authorization header and the `jwt` query parameter carry different tokens",
        )),
        (Some(header), _) => Ok(Cow::Borrowed(header)),
        (None, Some(query)) => Ok(query),
        (None, None) => Err(AuthError::MissingToken),
    }
}

fn jwt_from_authorization(value: &HeaderValue) -> Result<Option<&str>, AuthError> {
    // The usual header in one pass over its bytes, with the same outcome as the rule below:
    // `JWT `, then a token of visible ASCII without a space.
    if let Some((scheme, token)) = value.as_bytes().split_at_checked(4)
        && scheme.eq_ignore_ascii_case(b"JWT ")
        && !token.is_empty()
        && token
            .iter()
            .fold(true, |visible, b| visible & matches!(b, b'!'..=b'~'))
        && let Ok(token) = std::str::from_utf8(token)
    {
        return Ok(Some(token));
    }
    // The scheme first, on the bytes: a header of another scheme is ignored whatever it holds.
    let scheme = value.as_bytes().split(|&b| b == b' ').next().unwrap_or_default();
    if !scheme.eq_ignore_ascii_case(b"JWT") {
        return Ok(None);
    }
    let Ok(value) = value.to_str() else {
        return Err(TokenError::Malformed("the Authorization header is not visible ASCII").into());
    };
    let (_, token) = value.split_once(' ').unwrap_or((value, ""));
    if token.is_empty() || token.contains(' ') {
        return Err(
            TokenError::Malformed("expected `Authorization: JWT <token>` with exactly one space").into(),
        );
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::qsh_of_canonical;

    fn split(target: &str) -> RequestTarget<'_> {
        RequestTarget::split(target)
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(AUTHORIZATION, HeaderValue::from_str(v).expect("valid"));
        }
        map
    }

    #[test]
    fn token_from_header_or_query() {
        assert_eq!(find_token(&headers(&["JWT a.b.c"]), "").expect("found"), "a.b.c");
        assert_eq!(find_token(&headers(&["jwt a.b.c"]), "").expect("found"), "a.b.c");
        assert_eq!(find_token(&headers(&["jWt a\tb"]), "").expect("found"), "a\tb");
        assert_eq!(
            find_token(&headers(&[]), "x=1&jwt=a.b.c").expect("found"),
            "a.b.c"
        );
        assert_eq!(
            find_token(&headers(&["JWT a.b.c"]), "jwt=a.b.c").expect("same token twice is fine"),
            "a.b.c"
        );
    }

    #[test]
    fn disagreeing_tokens_are_refused() {
        for (h, q) in [
            (&["JWT a.b.c"][..], "jwt=d.e.f"),
            (&[][..], "jwt=a.b.c&jwt=d.e.f"),
            (&["JWT a.b.c", "JWT a.b.c"][..], ""),
        ] {
            assert!(
                matches!(find_token(&headers(h), q), Err(AuthError::AmbiguousToken(_))),
                "{h:?} {q}"
            );
        }
    }

    #[test]
    fn other_schemes_are_ignored_and_bad_jwt_headers_refused() {
        assert!(matches!(
            find_token(&headers(&["Bearer x"]), ""),
            Err(AuthError::MissingToken)
        ));
        assert_eq!(find_token(&headers(&["Bearer x"]), "jwt=t").expect("query"), "t");
        for bad in ["JWT", "JWT ", "JWT  a.b.c", "JWT a b", "JWT a.b.c "] {
            assert!(
                matches!(
                    find_token(&headers(&[bad]), ""),
                    Err(AuthError::Token(TokenError::Malformed(_)))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_header_that_is_not_visible_ascii_is_malformed_and_a_tab_is_no_separator() {
        let mut map = HeaderMap::new();
        map.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"JWT a.b\x80c").expect("opaque bytes"),
        );
        assert!(matches!(
            find_token(&map, ""),
            Err(AuthError::Token(TokenError::Malformed(_)))
        ));
        assert!(matches!(
            find_token(&headers(&["JWT\ta.b.c"]), ""),
            Err(AuthError::MissingToken)
        ));
    }

    /// An `Authorization` header of another scheme is ignored whatever its bytes (beyond ASCII
    /// here), so the query's token is the one.
    #[test]
    fn a_header_of_another_scheme_is_ignored_whatever_its_bytes() {
        let mut map = HeaderMap::new();
        map.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Basic dXNlcjpw\xc3\xa4ss").expect("opaque bytes"),
        );
        assert_eq!(find_token(&map, "jwt=t").expect("the query's token"), "t");
    }

    #[test]
    fn context_qsh_needs_the_route_to_opt_in() {
        assert!(matches!(
            check_qsh(CONTEXT_QSH, "GET", split("/x"), "", QshPolicy::RequestOnly),
            Err(AuthError::ContextQshNotAllowed)
        ));
        assert_eq!(
            check_qsh(CONTEXT_QSH, "GET", split("/x"), "", QshPolicy::AllowContext).expect("allowed"),
            QshBinding::Context
        );
    }

    #[test]
    fn qsh_matches_raw_or_decoded_path() {
        let raw = qsh_of_canonical("GET&/a%20b&");
        let decoded = qsh_of_canonical("GET&/a b&");
        for claimed in [&raw, &decoded] {
            assert_eq!(
                check_qsh(claimed, "GET", split("/a%20b"), "", QshPolicy::RequestOnly).expect("matches"),
                QshBinding::Request
            );
        }
        assert!(matches!(
            check_qsh(&raw, "POST", split("/a%20b"), "", QshPolicy::RequestOnly),
            Err(AuthError::QshMismatch)
        ));
    }

    #[test]
    fn base_url_must_be_absolute_or_a_path() {
        assert!(check_base_url("https://app.example.com/c").is_ok());
        assert!(check_base_url("/c").is_ok());
        assert!(check_base_url("").is_ok());
        assert!(check_base_url("app.example.com").is_err());
        assert!(check_base_url("https://user@app.example.com/c").is_err());
        assert!(check_base_url("https://app\u{ff0e}example.com/c").is_err());
    }

    #[test]
    fn leeway_and_lifetime_are_bounded() {
        let rule = |leeway, max| connect_time_rule(Duration::from_secs(leeway), Duration::from_secs(max));
        assert!(rule(300, 3600).is_ok());
        assert_eq!(
            rule(301, 3600).expect_err("leeway").to_string(),
            "invalid Connect configuration: leeway 301 s is larger than the maximum 300 s"
        );
        assert!(rule(30, 3601).is_err());
        assert!(rule(30, 0).is_err());
        let built = |b: AuthenticatorBuilder| b.build().map(|a| a.time.max_lifetime_secs());
        let store = || crate::InMemorySharedSecretStore::new();
        assert_eq!(built(Authenticator::builder(store())), Ok(3600));
        assert_eq!(
            built(Authenticator::builder(store()).max_lifetime(Duration::from_secs(180))),
            Ok(180)
        );
        assert!(
            Authenticator::builder(store())
                .leeway(Duration::from_secs(86_400 * 365 * 60))
                .build()
                .is_err()
        );
    }
}
