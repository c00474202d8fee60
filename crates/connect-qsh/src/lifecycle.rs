//! The install lifecycle: verifying the product's `installed` and `uninstalled` callbacks and
//! keeping the tenant store in step with them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use asap_core::{
    Clock, DEFAULT_MAX_TOKEN_BYTES, HmacAlgorithm, InMemoryReplayGuard, Jws, KeyId, PublicKeySource,
    ReplayGuard, SystemClock, TimeRule,
};
use http::{HeaderMap, Method, Uri};
use serde_json::{Map, Value};

use crate::authenticator::{
    DEFAULT_CONNECT_LEEWAY, DEFAULT_CONNECT_MAX_LIFETIME, QshPolicy, check_base_url, check_qsh,
    connect_time_rule, find_token,
};
use crate::canonical::{RequestTarget, sha256_hex};
use crate::claims::ConnectClaims;
use crate::error::{AuthError, ConfigError, PayloadError, truncate};
use crate::install_key::InstallKeys;
use crate::payload::{InstallPayload, PayloadFields};
use crate::store::{BaseUrlRule, Tenant, TenantStore};

/// How many unexpired lifecycle tokens the default in-memory replay guard remembers. Only
/// callbacks that passed every other check are recorded, so only a holder of the install key
/// or of a tenant's current secret adds to it; when it is full, callbacks are refused with a
/// 503 rather than a token forgotten early.
pub const DEFAULT_MAX_LIFECYCLE_REPLAY_ENTRIES: usize = 10_000;

/// How many of those one tenant (client key) may hold. A product sends a tenant a handful of
/// lifecycle callbacks a year; a holder of one leaked secret minting `enabled` callbacks gets
/// [`AuthError::ReplayUnavailable`] for that tenant after this many live ones, and would need
/// the secrets of 157 tenants to fill the guard for everyone (an eighth of it, the core's
/// default share, took eight).
pub const DEFAULT_MAX_LIFECYCLE_REPLAY_ENTRIES_PER_TENANT: usize = 64;

/// A lifecycle callback the product sends to the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LifecycleEvent {
    /// The app was installed, or installed again (the payload carries a new shared secret).
    Installed,
    /// The app was uninstalled.
    Uninstalled,
    /// The app was enabled on an installed tenant.
    Enabled,
    /// The app was disabled on an installed tenant (it stays installed).
    Disabled,
}

impl LifecycleEvent {
    /// The `eventType` of the payload.
    pub const fn as_str(self) -> &'static str {
        match self {
            LifecycleEvent::Installed => "installed",
            LifecycleEvent::Uninstalled => "uninstalled",
            LifecycleEvent::Enabled => "enabled",
            LifecycleEvent::Disabled => "disabled",
        }
    }
}

/// How a lifecycle callback was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackSignature {
    /// RS256 with the product's install key of this kid (signed install).
    InstallKey(KeyId),
    /// HS256 with the current shared secret of the already installed tenant.
    CurrentSharedSecret,
}

/// A lifecycle callback that passed verification. `Debug` leaves out the payload (it holds
/// the shared secret).
#[derive(Clone)]
pub struct VerifiedCallback {
    event: LifecycleEvent,
    claims: ConnectClaims,
    signature: CallbackSignature,
    payload: InstallPayload,
    token_id: Arc<str>,
}

impl VerifiedCallback {
    /// The event.
    pub fn event(&self) -> LifecycleEvent {
        self.event
    }

    /// The tenant's client key (the token's `iss`, equal to the payload's `clientKey`).
    pub fn client_key(&self) -> &str {
        self.claims.issuer()
    }

    /// The token's claims.
    pub fn claims(&self) -> &ConnectClaims {
        &self.claims
    }

    /// How the callback was authenticated.
    pub fn signature(&self) -> &CallbackSignature {
        &self.signature
    }

    /// The JSON body (it holds the shared secret: handle as a secret).
    pub fn payload(&self) -> &InstallPayload {
        &self.payload
    }
}

/// Verifies lifecycle callbacks and applies them to a [`TenantStore`].
///
/// A callback is accepted when it is signed either
/// - with RS256 by the product's install key, fetched by `kid` from the Connect install-keys
///   repository (an `asap_keys` HTTP repository with its cache, as a [`PublicKeySource`]), with
///   `aud` = the app's base URL; or
/// - with HS256 by the **current** shared secret of a tenant already in the store: always for
///   `enabled` and `disabled`; for `installed` and `uninstalled` only with
///   [`LifecycleBuilder::shared_secret_installs`], for tenants installed before the app
///   declared the `signed-install` API migration.
///
/// Anything else is refused: a first install with no signature, or a repeated one signed with
/// anything but the install key (or, where allowed, that tenant's current secret), never
/// replaces a tenant. In all cases the `qsh` must match the callback request, the time rule must hold (as for
/// [`Authenticator`](crate::Authenticator): leeway, lifetime at most
/// [`DEFAULT_CONNECT_MAX_LIFETIME`] by default, `nbf` defaulting to `iat`), the body's
/// `clientKey` must be the token's `iss`, and its `eventType` must be the endpoint's event.
///
/// **Each callback token is accepted once.** The token binds the method and URL but not the
/// body, so a genuine `installed` token replayed within its lifetime with a `sharedSecret` and
/// `baseUrl` of the attacker's choosing would otherwise replace the tenant (or an old
/// `installed` roll a rotated secret back, or an `uninstalled` remove a re-installed tenant).
/// After every other check passed, the token is recorded in a [`ReplayGuard`] until
/// `exp` + leeway, and a second use is [`AuthError::Replayed`] (401). The product's lifecycle
/// tokens carry no `jti` (their claims are `iss`, `iat`, `exp`, `qsh`, `aud`, and sometimes
/// `sub` and `context`), so the token is identified by the SHA-256 of its signed part (header
/// and claims, as signed): any other token needs a new signature. The default guard is in
/// memory ([`DEFAULT_MAX_LIFECYCLE_REPLAY_ENTRIES`]); an app that runs several instances shares
/// one with [`LifecycleBuilder::replay_guard`] (`asap_redis::RedisReplayGuard`, with its own key
/// prefix), or a replay sent to another instance would be accepted there.
///
/// The tenant's `baseUrl` must be `https` ([`Tenant::from_install_payload`]); plain `http` to
/// a loopback host only with [`LifecycleBuilder::allow_insecure_loopback`].
///
/// ```no_run
/// # async fn run(request: http::Request<Vec<u8>>, install_keys: std::sync::Arc<dyn asap_core::PublicKeySource>)
/// # -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use connect_qsh::{InMemoryTenantStore, Lifecycle};
///
/// let tenants = Arc::new(InMemoryTenantStore::new());
/// let lifecycle = Lifecycle::builder("https://app.example.com", install_keys, tenants).build()?;
/// let (parts, body) = request.into_parts();
/// let tenant = lifecycle.installed(&parts.method, &parts.uri, &parts.headers, &body).await?;
/// println!("installed on {}", tenant.base_url());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Lifecycle {
    app_base_url: Arc<str>,
    install_keys: InstallKeys,
    tenants: Arc<dyn TenantStore>,
    time: TimeRule,
    max_token_bytes: usize,
    clock: Arc<dyn Clock>,
    replay: Arc<dyn ReplayGuard>,
    base_url_rule: BaseUrlRule,
    shared_secret_installs: bool,
    app_key: Option<Arc<str>>,
}

/// Configures a [`Lifecycle`].
pub struct LifecycleBuilder {
    app_base_url: String,
    install_keys: Arc<dyn PublicKeySource>,
    tenants: Arc<dyn TenantStore>,
    leeway: Duration,
    max_lifetime: Duration,
    max_token_bytes: usize,
    clock: Arc<dyn Clock>,
    replay: Option<Arc<dyn ReplayGuard>>,
    base_url_rule: BaseUrlRule,
    shared_secret_installs: bool,
    app_key: Option<String>,
}

impl LifecycleBuilder {
    /// The clock-skew allowance; default 30 s, at most 5 minutes.
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> LifecycleBuilder {
        self.leeway = leeway;
        self
    }

    /// The longest `exp - iat` accepted; default [`DEFAULT_CONNECT_MAX_LIFETIME`] (one hour),
    /// at most [`MAX_CONNECT_LIFETIME`](crate::MAX_CONNECT_LIFETIME).
    #[must_use]
    pub fn max_lifetime(mut self, max: Duration) -> LifecycleBuilder {
        self.max_lifetime = max;
        self
    }

    /// The largest token accepted, in bytes; default 8 KiB.
    #[must_use]
    pub fn max_token_bytes(mut self, max: usize) -> LifecycleBuilder {
        self.max_token_bytes = max;
        self
    }

    /// Uses another clock (tests).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> LifecycleBuilder {
        self.clock = clock;
        self
    }

    /// Where used callback tokens are recorded. Default: an in-memory guard for this process
    /// ([`DEFAULT_MAX_LIFECYCLE_REPLAY_ENTRIES`], at most
    /// [`DEFAULT_MAX_LIFECYCLE_REPLAY_ENTRIES_PER_TENANT`] of one tenant); several instances of an app share one, such
    /// as `asap_redis::RedisReplayGuard`, so that a token used on one is refused on all.
    #[must_use]
    pub fn replay_guard(mut self, guard: Arc<dyn ReplayGuard>) -> LifecycleBuilder {
        self.replay = Some(guard);
        self
    }

    /// Accepts tenants whose `baseUrl` is plain `http` to a loopback host (`127.0.0.0/8`, `::1`,
    /// `localhost`): a product simulator in tests or local development. Off by default: a
    /// tenant's base URL must be `https`, since outbound tokens go there.
    #[must_use]
    pub fn allow_insecure_loopback(mut self, allow: bool) -> LifecycleBuilder {
        self.base_url_rule = if allow {
            BaseUrlRule::HttpsOrLoopback
        } else {
            BaseUrlRule::HttpsOnly
        };
        self
    }

    /// Also accepts `installed` and `uninstalled` callbacks signed (HS256) with the tenant's
    /// current shared secret, as a product sends them to an app that has not declared the
    /// `signed-install` API migration. Off by default: then only the install key can install,
    /// re-install or uninstall a tenant, and a leaked shared secret can do neither.
    ///
    /// When on, such a re-install still cannot change the tenant's `baseUrl`
    /// ([`AuthError::BaseUrlChanged`]): the secret is the tenant's own, not proof of where the
    /// tenant lives, and outbound tokens and Connect-on-Forge links ([`Tenant::is_site`]) trust
    /// that URL. A genuine move (a site renamed) then comes signed with the install key. Such a
    /// re-install or uninstall is applied only while the tenant's record is still the one whose
    /// secret signed it ([`TenantStore::replace`], [`TenantStore::remove_if`]), so a rotation
    /// that lands meanwhile is never undone ([`AuthError::TenantChanged`]).
    #[must_use]
    pub fn shared_secret_installs(mut self, accept: bool) -> LifecycleBuilder {
        self.shared_secret_installs = accept;
        self
    }

    /// The app's `key` (from its descriptor): every callback's payload must name it
    /// ([`AuthError::AppKeyMismatch`]), so that callbacks meant for another app, such as a copy
    /// of this one's descriptor published under another key with this base URL, install
    /// nothing here. Unset by default (the payload's `key` is then not compared).
    #[must_use]
    pub fn app_key(mut self, key: impl Into<String>) -> LifecycleBuilder {
        self.app_key = Some(key.into());
        self
    }

    /// Checks the settings: the app base URL must be an absolute URL (it is the `aud`).
    pub fn build(self) -> Result<Lifecycle, ConfigError> {
        let time = connect_time_rule(self.leeway, self.max_lifetime)?;
        check_base_url(&self.app_base_url)?;
        let install_keys = InstallKeys::new(self.install_keys, &self.app_base_url)?;
        Ok(Lifecycle {
            app_base_url: Arc::from(self.app_base_url),
            install_keys,
            tenants: self.tenants,
            time,
            max_token_bytes: self.max_token_bytes,
            clock: self.clock,
            replay: self.replay.unwrap_or_else(|| {
                Arc::new(
                    InMemoryReplayGuard::new(DEFAULT_MAX_LIFECYCLE_REPLAY_ENTRIES)
                        .max_entries_per_issuer(DEFAULT_MAX_LIFECYCLE_REPLAY_ENTRIES_PER_TENANT),
                )
            }),
            base_url_rule: self.base_url_rule,
            shared_secret_installs: self.shared_secret_installs,
            app_key: self.app_key.map(Arc::from),
        })
    }
}

impl Lifecycle {
    /// Starts a builder: `app_base_url` is the `baseUrl` of the app's descriptor, `install_keys`
    /// the Connect install-keys repository, `tenants` where installed tenants are kept.
    pub fn builder(
        app_base_url: impl Into<String>,
        install_keys: Arc<dyn PublicKeySource>,
        tenants: Arc<dyn TenantStore>,
    ) -> LifecycleBuilder {
        LifecycleBuilder {
            app_base_url: app_base_url.into(),
            install_keys,
            tenants,
            leeway: DEFAULT_CONNECT_LEEWAY,
            max_lifetime: DEFAULT_CONNECT_MAX_LIFETIME,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            clock: Arc::new(SystemClock),
            replay: None,
            base_url_rule: BaseUrlRule::HttpsOnly,
            shared_secret_installs: false,
            app_key: None,
        }
    }

    /// Handles an `installed` callback: verifies it and its payload, records its token as
    /// used, then saves the tenant. A callback signed with the install key replaces any previous
    /// record; one signed with the tenant's current secret (only with
    /// [`LifecycleBuilder::shared_secret_installs`]) keeps the tenant's `baseUrl` and replaces
    /// the record only while it still holds that secret.
    pub async fn installed(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Tenant, AuthError> {
        let (verified, signer) = self
            .check_callback(LifecycleEvent::Installed, method, uri, headers, body)
            .await?;
        let tenant = Tenant::parse(verified.payload.clone(), self.base_url_rule)?;
        self.record_use(&verified).await?;
        match &signer {
            None => self.tenants.save(&tenant).await?,
            Some(current) => {
                if !self.tenants.replace(current, &tenant).await? {
                    return Err(AuthError::TenantChanged);
                }
            }
        }
        tracing::info!(
            client_key = tenant.client_key(),
            base_url = tenant.base_url(),
            "Connect tenant installed"
        );
        Ok(tenant)
    }

    /// Handles an `uninstalled` callback: verifies it, records its token as used, then removes
    /// the tenant (one signed with the tenant's secret, only while the record still holds that
    /// secret: [`TenantStore::remove_if`]). Returns the verified callback.
    pub async fn uninstalled(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedCallback, AuthError> {
        let (verified, signer) = self
            .check_callback(LifecycleEvent::Uninstalled, method, uri, headers, body)
            .await?;
        self.record_use(&verified).await?;
        match &signer {
            None => {
                self.tenants.remove(verified.client_key()).await?;
            }
            Some(current) => {
                if !self.tenants.remove_if(current).await? {
                    return Err(AuthError::TenantChanged);
                }
            }
        }
        tracing::info!(client_key = verified.client_key(), "Connect tenant uninstalled");
        Ok(verified)
    }

    /// Handles an `enabled` callback: verifies it (the tenant must be installed, whichever key
    /// signed it) and records its token as used. The tenant store is not changed.
    pub async fn enabled(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedCallback, AuthError> {
        self.installed_tenant_event(LifecycleEvent::Enabled, method, uri, headers, body)
            .await
    }

    /// Handles a `disabled` callback: verifies it (the tenant must be installed, whichever key
    /// signed it) and records its token as used. The tenant stays installed.
    pub async fn disabled(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedCallback, AuthError> {
        self.installed_tenant_event(LifecycleEvent::Disabled, method, uri, headers, body)
            .await
    }

    /// The rule of the events of an installed tenant: a callback signed with the install key
    /// for a client key the app never installed is [`AuthError::UnknownIssuer`].
    async fn installed_tenant_event(
        &self,
        event: LifecycleEvent,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedCallback, AuthError> {
        let (verified, _) = self.check_callback(event, method, uri, headers, body).await?;
        if matches!(verified.signature, CallbackSignature::InstallKey(_))
            && self.tenants.tenant(verified.client_key()).await?.is_none()
        {
            return Err(AuthError::UnknownIssuer(truncate(verified.client_key())));
        }
        self.record_use(&verified).await?;
        tracing::info!(
            client_key = verified.client_key(),
            event = event.as_str(),
            "Connect lifecycle event"
        );
        Ok(verified)
    }

    /// Verifies a lifecycle callback for `event` without changing the tenant store, and records
    /// its token as used: the same token is refused the next time ([`AuthError::Replayed`]).
    /// Every rule of the callback applies (an `installed` signed with the tenant's secret must
    /// keep its `baseUrl`); what [`installed`](Self::installed) and
    /// [`uninstalled`](Self::uninstalled) add is the store's compare-and-set, so an app that
    /// applies a verified callback itself saves it with [`TenantStore::replace`] or
    /// [`TenantStore::remove_if`] when it was signed with the secret.
    pub async fn verify(
        &self,
        event: LifecycleEvent,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedCallback, AuthError> {
        let (verified, _) = self.check_callback(event, method, uri, headers, body).await?;
        self.record_use(&verified).await?;
        Ok(verified)
    }

    /// The single-use rule, after every other check passed: the token is recorded until
    /// `exp` + leeway, keyed by `(iss, SHA-256 of its signed part)`; a second use is a replay.
    async fn record_use(&self, verified: &VerifiedCallback) -> Result<(), AuthError> {
        // A fresh reading of the clock, whose second may have turned since the time check.
        let token_use = self.time.admit(
            verified.claims.time_claims(),
            self.clock.now(),
            verified.client_key(),
            &verified.token_id,
        )?;
        match self.replay.first_use(token_use).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(AuthError::Replayed),
            Err(e) => Err(AuthError::ReplayUnavailable(e)),
        }
    }

    /// Every check of a lifecycle callback but the single-use rule. Also returns the tenant
    /// record whose shared secret signed it, if it was not the install key.
    async fn check_callback(
        &self,
        event: LifecycleEvent,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(VerifiedCallback, Option<Tenant>), AuthError> {
        let target = RequestTarget::received(uri.path_and_query().map_or("/", |pq| pq.as_str()));
        let token = find_token(headers, target.query)?;
        let jws = Jws::parse(&token, self.max_token_bytes)?;
        let installs = matches!(event, LifecycleEvent::Installed | LifecycleEvent::Uninstalled);
        let by_install_key = match jws.header().alg() {
            "RS256" => true,
            "HS256" if installs && !self.shared_secret_installs => {
                return Err(jws
                    .header()
                    .alg_not_accepted("RS256 (an install or uninstall is signed with the install key)")
                    .into());
            }
            "HS256" => false,
            _ => {
                return Err(jws
                    .header()
                    .alg_not_accepted("RS256 (or HS256 with an installed tenant's current secret)")
                    .into());
            }
        };
        let claims = ConnectClaims::decode(&jws.payload()?)?;
        let signed = jws.signature()?;
        let (signature, signer) = if by_install_key {
            let kid = self.install_keys.verify(&jws, &signed, &claims).await?;
            (CallbackSignature::InstallKey(kid), None)
        } else {
            let tenant = self
                .tenants
                .tenant(claims.issuer())
                .await?
                .ok_or_else(|| AuthError::UnknownIssuer(truncate(claims.issuer())))?;
            signed.verify(tenant.shared_secret().hmac_key(), HmacAlgorithm::HS256)?;
            (CallbackSignature::CurrentSharedSecret, Some(tenant))
        };
        self.time.check(claims.time_claims(), self.clock.now())?;
        check_qsh(
            claims.qsh(),
            method.as_str(),
            target,
            &self.app_base_url,
            QshPolicy::RequestOnly,
        )?;
        let payload = std::str::from_utf8(body).map_err(|_| PayloadError::NotAnObject)?;
        let fields = PayloadFields::parse(body)?;
        check_payload(&fields, event, &claims)?;
        // The secret is the tenant's own, not proof of where it lives: only the install key
        // moves a tenant.
        if let Some(current) = &signer
            && event == LifecycleEvent::Installed
            && !matches!(fields.get("baseUrl"), Some(Value::String(url)) if url == current.base_url())
        {
            return Err(AuthError::BaseUrlChanged);
        }
        if let Some(app_key) = &self.app_key
            && !matches!(fields.get("key"), Some(Value::String(key)) if **key == **app_key)
        {
            return Err(AuthError::AppKeyMismatch);
        }
        let verified = VerifiedCallback {
            event,
            claims,
            signature,
            payload: InstallPayload::new(payload),
            // A token with the same signed part is the same token, whatever its signature.
            token_id: Arc::from(sha256_hex(signed.signing_input().as_bytes())),
        };
        Ok((verified, signer))
    }
}

/// The payload rule: `clientKey` is the token's `iss` and `eventType` is this endpoint's event.
fn check_payload(
    payload: &Map<String, Value>,
    event: LifecycleEvent,
    claims: &ConnectClaims,
) -> Result<(), AuthError> {
    let Some(Value::String(client_key)) = payload.get("clientKey") else {
        return Err(PayloadError::Field("clientKey").into());
    };
    if client_key != claims.issuer() {
        return Err(AuthError::ClientKeyMismatch);
    }
    match payload.get("eventType") {
        Some(Value::String(found)) if found == event.as_str() => Ok(()),
        Some(Value::String(found)) => Err(AuthError::EventMismatch {
            expected: event.as_str(),
            found: truncate(found),
        }),
        _ => Err(PayloadError::Field("eventType").into()),
    }
}

impl fmt::Debug for VerifiedCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedCallback")
            .field("event", &self.event)
            .field("client_key", &self.client_key())
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lifecycle")
            .field("app_base_url", &self.app_base_url)
            .field("install_keys", &self.install_keys)
            .field("tenants", &self.tenants)
            .field("time", &self.time)
            .field("replay", &self.replay)
            .field("base_url_rule", &self.base_url_rule)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for LifecycleBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LifecycleBuilder")
            .field("app_base_url", &self.app_base_url)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(iss: &str) -> ConnectClaims {
        let json = json!({"iss": iss, "qsh": "h", "iat": 1, "exp": 2}).to_string();
        ConnectClaims::decode(json.as_bytes()).expect("valid")
    }

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn payload_client_key_must_be_the_issuer() {
        let payload = object(json!({"clientKey": "a", "eventType": "installed"}));
        assert!(check_payload(&payload, LifecycleEvent::Installed, &claims("a")).is_ok());
        assert!(matches!(
            check_payload(&payload, LifecycleEvent::Installed, &claims("b")),
            Err(AuthError::ClientKeyMismatch)
        ));
    }

    #[test]
    fn payload_event_must_be_the_endpoints() {
        let payload = object(json!({"clientKey": "a", "eventType": "installed"}));
        assert!(matches!(
            check_payload(&payload, LifecycleEvent::Uninstalled, &claims("a")),
            Err(AuthError::EventMismatch { .. })
        ));
        let no_event = object(json!({"clientKey": "a"}));
        assert!(matches!(
            check_payload(&no_event, LifecycleEvent::Installed, &claims("a")),
            Err(AuthError::Payload(PayloadError::Field("eventType")))
        ));
    }
}
