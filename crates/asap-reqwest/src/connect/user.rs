//! Calling the product as a user: access tokens from the OAuth 2.0 JWT-bearer grant, cached per
//! (tenant, user, scopes), and a middleware that sends them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use asap_core::{Clock, SystemClock, truncate};
use connect_qsh::{JWT_BEARER_GRANT_TYPE, SignError, Tenant, UserAssertion};
use http::Extensions;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};
use serde_json::Value;
use zeroize::Zeroizing;

use super::check_transport;

/// How long before its expiry a cached access token is replaced: 60 s, so a token never expires
/// between the cache and the product.
pub const DEFAULT_REFRESH_BEFORE: Duration = Duration::from_secs(60);

/// How many (tenant, user, scopes) entries the cache keeps at most by default.
pub const DEFAULT_MAX_CACHED_USER_TOKENS: usize = 10_000;

/// The largest token response read from the authorization server.
const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;

/// The longest lifetime a token response may claim; longer ones are cached this long.
const MAX_TOKEN_LIFETIME_SECS: i64 = 24 * 3600;

/// Why no access token for the user could be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserTokenError {
    /// The assertion could not be made (no `oauthClientId` on the tenant, empty account id).
    #[error("cannot make the JWT-bearer assertion: {0}")]
    Assertion(#[source] SignError),
    /// The authorization server could not be reached or did not answer in time.
    #[error("the authorization server is unavailable: {0}")]
    Unavailable(#[source] reqwest::Error),
    /// The authorization server refused the grant.
    #[error("the authorization server refused the grant: HTTP {status}, error {error:?}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The OAuth `error` code of the response (truncated), when there is one.
        error: Option<String>,
    },
    /// The answer is not a usable token response (not JSON, no `access_token`, a token type
    /// other than bearer, a non-positive `expires_in`, or too large).
    #[error("the authorization server's token response is unusable: {0}")]
    BadResponse(&'static str),
}

/// The user a request acts for (`RequestBuilder::with_extension`), with the scopes its access
/// token needs (e.g. `READ`, `WRITE`; compared case-insensitively, in any order).
#[derive(Debug, Clone)]
pub struct ActAsUser {
    /// The tenant, as saved from its `installed` callback (it must carry `oauthClientId`).
    pub tenant: Tenant,
    /// The user's Atlassian account id.
    pub account_id: String,
    /// The scopes to ask for.
    pub scopes: Vec<String>,
}

impl ActAsUser {
    /// `account_id` of `tenant`, with `scopes`.
    pub fn new<S: Into<String>>(
        tenant: Tenant,
        account_id: impl Into<String>,
        scopes: impl IntoIterator<Item = S>,
    ) -> ActAsUser {
        ActAsUser {
            tenant,
            account_id: account_id.into(),
            scopes: scopes.into_iter().map(Into::into).collect(),
        }
    }
}

/// An access token and when it expires (seconds since the Unix epoch). `Debug` hides the token.
#[derive(Clone)]
pub struct AccessToken {
    token: Arc<Zeroizing<String>>,
    expires_at: i64,
}

impl AccessToken {
    /// The token itself: a bearer credential of the user.
    pub fn expose(&self) -> &str {
        &self.token
    }

    /// When it expires, as the authorization server said (`expires_in` after the request).
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    client_key: String,
    account_id: String,
    /// Upper-cased, sorted, without repeats: the same set of scopes is the same entry.
    scopes: Vec<String>,
}

/// One entry: its lock is the single flight (the first caller fetches while the others wait,
/// then they read what it stored).
type Slot = Arc<tokio::sync::Mutex<Option<AccessToken>>>;

/// Access tokens of users from the authorization server, by the JWT-bearer grant
/// ([`UserAssertion`], as atlassian-connect-express does), cached per (tenant, user, scopes)
/// until [`DEFAULT_REFRESH_BEFORE`] ahead of their expiry. Concurrent requests for one entry
/// make one token request (single flight); a failed request is not cached. At most
/// [`DEFAULT_MAX_CACHED_USER_TOKENS`] entries, shared fairly between tenants: when full, expired
/// entries make room (swept at most once a second), then an idle entry of the tenant that holds
/// the most, the new entry counted for its tenant. A tenant with many users replaces its own
/// tokens; another tenant's only when that tenant holds at least as many, and when there is no
/// such entry (all in use) the new token is used once and not kept (and concurrent callers for
/// it each make a token request: no single flight while the cache cannot fairly hold it). A
/// tenant is a client key: one party's many installations are many tenants. Finding the entry
/// to replace tries the tenants largest first and looks at up to 64 entries of each (entries in
/// use are skipped), so a tenant that keeps its own entries busy costs a bounded look per
/// tenant, not a scan of the cache. Cheap to share (`Arc`).
///
/// The authorization server is configuration: [`connect_qsh::ATLASSIAN_AUTHORIZATION_SERVER`]
/// in production, another for staging or FedRAMP hosts. It must be `https` (plain `http` only
/// to a loopback host, for tests).
pub struct UserTokenCache {
    assertion: UserAssertion,
    token_endpoint: reqwest::Url,
    http: reqwest::Client,
    refresh_before: i64,
    max_entries: usize,
    clock: Arc<dyn Clock>,
    entries: Mutex<Entries>,
}

/// How many entries of one tenant [`Entries::victim`] looks at before it moves on to the next
/// tenant: entries in use (a token request in flight) are skipped, and a tenant can hold many.
const VICTIM_LOOKS_PER_TENANT: usize = 64;

/// The cached entries, each tenant's keys, the tenants by how many entries they hold, and when
/// expired entries were last swept.
#[derive(Default)]
struct Entries {
    map: HashMap<CacheKey, Slot>,
    tenants: HashMap<String, HashSet<CacheKey>>,
    by_size: BTreeMap<usize, HashSet<String>>,
    swept_at: i64,
}

impl Entries {
    fn size(&self, tenant: &str) -> usize {
        self.tenants.get(tenant).map_or(0, HashSet::len)
    }

    /// Files `tenant` under its new size.
    fn resize(&mut self, tenant: &str, from: usize, to: usize) {
        if let Some(names) = self.by_size.get_mut(&from) {
            names.remove(tenant);
            if names.is_empty() {
                self.by_size.remove(&from);
            }
        }
        if to > 0 {
            self.by_size.entry(to).or_default().insert(tenant.to_owned());
        }
    }

    fn insert(&mut self, key: CacheKey, slot: Slot) {
        if self.map.insert(key.clone(), slot).is_some() {
            return;
        }
        let tenant = key.client_key.clone();
        let keys = self.tenants.entry(tenant.clone()).or_default();
        keys.insert(key);
        let size = keys.len();
        self.resize(&tenant, size - 1, size);
    }

    fn remove(&mut self, key: &CacheKey) {
        if self.map.remove(key).is_none() {
            return;
        }
        let tenant = key.client_key.as_str();
        let Some(keys) = self.tenants.get_mut(tenant) else {
            return;
        };
        keys.remove(key);
        let size = keys.len();
        if size == 0 {
            self.tenants.remove(tenant);
        }
        self.resize(tenant, size + 1, size);
    }

    /// Drops the entries no caller is using whose token is missing or expired.
    fn sweep(&mut self, now: i64) {
        let gone: Vec<CacheKey> = self
            .map
            .iter()
            .filter(|(_, slot)| {
                Arc::strong_count(slot) == 1
                    && slot
                        .try_lock()
                        .is_ok_and(|t| t.as_ref().is_none_or(|t| now >= t.expires_at))
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in &gone {
            self.remove(key);
        }
        self.swept_at = now;
    }

    /// The entry to make room with for `incoming`: one no caller is using, of the tenant that
    /// holds the most entries (`incoming` counted for its own), and never of a tenant that
    /// holds fewer than `incoming`'s would. Tenants are tried largest first, up to
    /// [`VICTIM_LOOKS_PER_TENANT`] entries each.
    fn victim(&self, incoming: &CacheKey) -> Option<CacheKey> {
        let need = self.size(&incoming.client_key) + 1;
        for (&size, names) in self.by_size.range(need.saturating_sub(1)..).rev() {
            for tenant in names {
                let own = *tenant == incoming.client_key;
                if size + usize::from(own) < need {
                    continue;
                }
                let idle = self.tenants.get(tenant).and_then(|keys| {
                    keys.iter().take(VICTIM_LOOKS_PER_TENANT).find(|key| {
                        self.map
                            .get(*key)
                            .is_some_and(|slot| Arc::strong_count(slot) == 1)
                    })
                });
                if let Some(key) = idle {
                    return Some(key.clone());
                }
            }
        }
        None
    }
}

/// Why a [`UserTokenCache`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserTokenConfigError {
    /// The authorization server URL cannot be parsed.
    #[error("the authorization server URL is invalid: {0}")]
    Url(#[from] url::ParseError),
    /// The authorization server URL is plain `http` to a host that is not loopback.
    #[error("the authorization server must be https (plain http only to a loopback host)")]
    Insecure,
}

impl UserTokenCache {
    /// A cache for `authorization_server` (its base URL; tokens come from
    /// `<authorization_server>/oauth2/token`), with a client that times out after 10 s and
    /// follows no redirects (a 307 would resend the assertion to wherever it points).
    pub fn new(authorization_server: &str) -> Result<UserTokenCache, UserTokenConfigError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        UserTokenCache::with_client(authorization_server, http)
    }

    /// Like [`UserTokenCache::new`], with this HTTP client for the token requests. Give it a
    /// timeout (callers for one entry wait for its token request: single flight) and no
    /// redirects (a 307 or 308 resends the form, assertion included, to its target).
    pub fn with_client(
        authorization_server: &str,
        http: reqwest::Client,
    ) -> Result<UserTokenCache, UserTokenConfigError> {
        let assertion = UserAssertion::new(authorization_server);
        let token_endpoint = reqwest::Url::parse(&assertion.token_endpoint())?;
        check_transport(&token_endpoint).map_err(|_| UserTokenConfigError::Insecure)?;
        Ok(UserTokenCache {
            assertion,
            token_endpoint,
            http,
            refresh_before: i64::try_from(DEFAULT_REFRESH_BEFORE.as_secs()).unwrap_or(i64::MAX),
            max_entries: DEFAULT_MAX_CACHED_USER_TOKENS,
            clock: Arc::new(SystemClock),
            entries: Mutex::new(Entries::default()),
        })
    }

    /// How long before its expiry a token is replaced (default [`DEFAULT_REFRESH_BEFORE`]).
    #[must_use]
    pub fn refresh_before(mut self, margin: Duration) -> UserTokenCache {
        self.refresh_before = i64::try_from(margin.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// The most entries kept (default [`DEFAULT_MAX_CACHED_USER_TOKENS`], at least 1).
    #[must_use]
    pub fn max_entries(mut self, max: usize) -> UserTokenCache {
        self.max_entries = max.max(1);
        self
    }

    /// Uses another clock for assertions and expiry (tests).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> UserTokenCache {
        self.assertion = self.assertion.clock(clock.clone());
        self.clock = clock;
        self
    }

    /// An access token for `user`: the cached one while it is fresh, otherwise a new one from
    /// the authorization server (one request however many callers wait for it).
    pub async fn access_token(&self, user: &ActAsUser) -> Result<AccessToken, UserTokenError> {
        let key = CacheKey {
            client_key: user.tenant.client_key().to_owned(),
            account_id: user.account_id.clone(),
            scopes: normalise(&user.scopes),
        };
        let slot = self.slot(&key);
        let mut cached = slot.lock().await;
        if let Some(token) = cached.as_ref()
            && self.clock.now() < token.expires_at.saturating_sub(self.refresh_before)
        {
            return Ok(token.clone());
        }
        let token = self.request_token(user, &key.scopes).await?;
        *cached = Some(token.clone());
        Ok(token)
    }

    /// How many entries the cache holds.
    pub fn len(&self) -> usize {
        self.lock_entries().map.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock_entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The map is consistent after any panic (whole values are inserted or removed).
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry of `key`, made room for when the cache is full; an entry not kept when no
    /// room can fairly be made.
    fn slot(&self, key: &CacheKey) -> Slot {
        let mut entries = self.lock_entries();
        if let Some(slot) = entries.map.get(key) {
            return slot.clone();
        }
        if entries.map.len() >= self.max_entries {
            let now = self.clock.now();
            if now != entries.swept_at {
                entries.sweep(now);
            }
            if entries.map.len() >= self.max_entries {
                match entries.victim(key) {
                    Some(victim) => entries.remove(&victim),
                    None => return Slot::default(),
                }
            }
        }
        let slot = Slot::default();
        entries.insert(key.clone(), slot.clone());
        slot
    }

    /// The token request of the JWT-bearer grant, and the checks of its answer.
    async fn request_token(
        &self,
        user: &ActAsUser,
        scopes: &[String],
    ) -> Result<AccessToken, UserTokenError> {
        let assertion = Zeroizing::new(
            self.assertion
                .assertion(&user.tenant, &user.account_id)
                .map_err(UserTokenError::Assertion)?,
        );
        let body = Zeroizing::new({
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", JWT_BEARER_GRANT_TYPE);
            form.append_pair("assertion", &assertion);
            if !scopes.is_empty() {
                form.append_pair("scope", &scopes.join(" "));
            }
            form.finish()
        });
        let requested_at = self.clock.now();
        let mut response = self
            .http
            .post(self.token_endpoint.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(UserTokenError::Unavailable)?;
        let status = response.status();
        let mut bytes = Zeroizing::new(Vec::new());
        while let Some(chunk) = response.chunk().await.map_err(UserTokenError::Unavailable)? {
            if bytes.len() + chunk.len() > MAX_TOKEN_RESPONSE_BYTES {
                return Err(UserTokenError::BadResponse("larger than 64 KiB"));
            }
            bytes.extend_from_slice(&chunk);
        }
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        if !status.is_success() {
            let error = json
                .as_ref()
                .and_then(|v| v.get("error"))
                .and_then(Value::as_str)
                .map(truncate);
            return Err(UserTokenError::Refused {
                status: status.as_u16(),
                error,
            });
        }
        let json = json.ok_or(UserTokenError::BadResponse("not JSON"))?;
        parse_token_response(&json, requested_at)
    }
}

/// The token response rule: a non-empty `access_token` that fits in a header, `token_type`
/// bearer (case-insensitive) when present, `expires_in` a positive integer (capped at a day).
fn parse_token_response(json: &Value, requested_at: i64) -> Result<AccessToken, UserTokenError> {
    let token = json
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or(UserTokenError::BadResponse("no usable access_token"))?;
    match json.get("token_type") {
        None => {}
        Some(Value::String(kind)) if kind.eq_ignore_ascii_case("bearer") => {}
        Some(_) => return Err(UserTokenError::BadResponse("token_type is not bearer")),
    }
    let expires_in = json
        .get("expires_in")
        .and_then(Value::as_i64)
        .filter(|s| *s > 0)
        .ok_or(UserTokenError::BadResponse(
            "expires_in is not a positive integer",
        ))?;
    Ok(AccessToken {
        token: Arc::new(Zeroizing::new(token.to_owned())),
        expires_at: requested_at.saturating_add(expires_in.min(MAX_TOKEN_LIFETIME_SECS)),
    })
}

/// Scopes as the cache keys them and the grant sends them (atlassian-connect-express
/// upper-cases them): upper-case, sorted, without repeats.
fn normalise(scopes: &[String]) -> Vec<String> {
    let mut scopes: Vec<String> = scopes.iter().map(|s| s.to_ascii_uppercase()).collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

impl fmt::Debug for UserTokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserTokenCache")
            .field("token_endpoint", &self.token_endpoint.as_str())
            .field("refresh_before", &self.refresh_before)
            .field("max_entries", &self.max_entries)
            .field("entries", &self.len())
            .finish_non_exhaustive()
    }
}

/// Calls the product as a user: each request with an [`ActAsUser`] extension gets
/// `Authorization: Bearer <access token>` of that user, from a shared [`UserTokenCache`].
///
/// As for [`ConnectMiddleware`](crate::ConnectMiddleware), the request must go to a URL under the
/// tenant's base URL, over `https` (plain `http` only to a loopback tenant), or it is refused
/// before it leaves: a user's token never goes to another host. A request that already carries
/// an `Authorization` header is left alone; one without an `ActAsUser` is refused
/// ([`ConnectUserError::NoUser`]).
///
/// ```no_run
/// use std::sync::Arc;
/// use asap_reqwest::{ActAsUser, ConnectUserMiddleware, UserTokenCache};
/// use connect_qsh::{Tenant, ATLASSIAN_AUTHORIZATION_SERVER};
///
/// # async fn run(tenant: Tenant) -> Result<(), Box<dyn std::error::Error>> {
/// let tokens = Arc::new(UserTokenCache::new(ATLASSIAN_AUTHORIZATION_SERVER)?);
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(ConnectUserMiddleware::new(tokens))
///     .build();
/// let me = client
///     .get(format!("{}/rest/api/3/myself", tenant.base_url()))
///     .with_extension(ActAsUser::new(tenant, "5b10ac8d82e05b22cc7d4ef5", ["READ"]))
///     .send()
///     .await?;
/// # let _ = me; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ConnectUserMiddleware {
    tokens: Arc<UserTokenCache>,
}

impl ConnectUserMiddleware {
    /// Takes access tokens from `tokens`.
    pub fn new(tokens: Arc<UserTokenCache>) -> ConnectUserMiddleware {
        ConnectUserMiddleware { tokens }
    }
}

/// Why the user-acting middleware did not send a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectUserError {
    /// The request names no user ([`ActAsUser`] extension).
    #[error("no user to act as: add an ActAsUser extension to the request")]
    NoUser,
    /// The URL is not under the tenant's base URL.
    #[error("the request URL is not under the tenant's base URL: {0}")]
    NotUnderBaseUrl(#[source] connect_qsh::QshError),
    /// The request goes to a plain-`http` URL that is not on a loopback host.
    #[error("refusing to send a user's access token in clear to {0} (https is required)")]
    InsecureUrl(String),
    /// No access token.
    #[error(transparent)]
    Token(#[from] UserTokenError),
}

#[async_trait::async_trait]
impl Middleware for ConnectUserMiddleware {
    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        if !req.headers().contains_key(AUTHORIZATION) {
            let user = extensions
                .get::<ActAsUser>()
                .ok_or(ConnectUserError::NoUser)
                .map_err(reqwest_middleware::Error::middleware)?;
            let value = authorization(&self.tokens, &req, user)
                .await
                .map_err(reqwest_middleware::Error::middleware)?;
            req.headers_mut().insert(AUTHORIZATION, value);
        }
        next.run(req, extensions).await
    }
}

/// The destination rule, then the token: `Authorization: Bearer …`, marked sensitive.
async fn authorization(
    tokens: &UserTokenCache,
    req: &Request,
    user: &ActAsUser,
) -> Result<HeaderValue, ConnectUserError> {
    // The same "under the tenant's base URL" rule as signed requests: the canonical request
    // exists only for such URLs.
    connect_qsh::canonical_request(req.method().as_str(), req.url().as_str(), user.tenant.base_url())
        .map_err(ConnectUserError::NotUnderBaseUrl)?;
    check_transport(req.url())
        .map_err(|_| ConnectUserError::InsecureUrl(req.url().origin().ascii_serialization()))?;
    let token = tokens.access_token(user).await?;
    let mut value = HeaderValue::try_from(format!("Bearer {}", token.expose()))
        .map_err(|_| UserTokenError::BadResponse("the access token is not a header value"))?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn token_responses_are_checked() {
        let ok = parse_token_response(
            &json!({"access_token": "t", "expires_in": 900, "token_type": "Bearer"}),
            100,
        )
        .expect("valid");
        assert_eq!((ok.expose(), ok.expires_at()), ("t", 1_000));
        assert!(!format!("{ok:?}").contains("\"t\""));
        for bad in [
            json!({"expires_in": 900}),
            json!({"access_token": "", "expires_in": 900}),
            json!({"access_token": "a b", "expires_in": 900}),
            json!({"access_token": "t", "expires_in": 0}),
            json!({"access_token": "t", "expires_in": "900"}),
            json!({"access_token": "t", "expires_in": 900, "token_type": "mac"}),
        ] {
            assert!(
                matches!(parse_token_response(&bad, 0), Err(UserTokenError::BadResponse(_))),
                "{bad}"
            );
        }
        let long =
            parse_token_response(&json!({"access_token": "t", "expires_in": i64::MAX}), 0).expect("valid");
        assert_eq!(long.expires_at(), MAX_TOKEN_LIFETIME_SECS);
    }

    /// A cache of at most `max` entries.
    fn holding(max: usize) -> UserTokenCache {
        UserTokenCache::new("https://auth.example")
            .expect("valid")
            .max_entries(max)
    }

    fn key(tenant: &str, user: usize) -> CacheKey {
        CacheKey {
            client_key: tenant.to_owned(),
            account_id: format!("user-{user}"),
            scopes: vec!["READ".to_owned()],
        }
    }

    /// Fills `key`'s slot with a token valid for an hour and lets it go idle.
    fn cache(cache: &UserTokenCache, key: &CacheKey) {
        let slot = cache.slot(key);
        *slot.try_lock().expect("free") = Some(AccessToken {
            token: Arc::new(Zeroizing::new("t".to_owned())),
            expires_at: cache.clock.now() + 3600,
        });
    }

    /// How many entries `tenant` holds, counted in the map, and checked against the tenant's
    /// keys and the tenants by size.
    fn held(cache: &UserTokenCache, tenant: &str) -> usize {
        let entries = cache.lock_entries();
        let counted = entries.map.keys().filter(|k| k.client_key == tenant).count();
        assert_eq!(entries.size(tenant), counted, "{tenant}");
        let filed: Vec<usize> = entries
            .by_size
            .iter()
            .filter(|(_, names)| names.contains(tenant))
            .map(|(size, _)| *size)
            .collect();
        let expected: Vec<usize> = [counted].into_iter().filter(|n| *n > 0).collect();
        assert_eq!(filed, expected, "{tenant} is filed under its size, once");
        assert!(entries.by_size.values().all(|names| !names.is_empty()));
        counted
    }

    fn cached(cache: &UserTokenCache, key: &CacheKey) -> bool {
        cache.lock_entries().map.contains_key(key)
    }

    #[test]
    fn a_tenant_with_many_users_replaces_its_own_tokens_not_other_tenants() {
        let tokens = holding(8);
        for user in 0..3 {
            cache(&tokens, &key("small", user));
        }
        // The large tenant fills the rest, then keeps asking for new users.
        for user in 0..100 {
            cache(&tokens, &key("large", user));
        }
        assert_eq!(tokens.len(), 8);
        assert_eq!(held(&tokens, "small"), 3, "the small tenant kept every token");
        for user in 0..3 {
            assert!(cached(&tokens, &key("small", user)));
        }
        // The small tenant's new users take room from the large one, up to an even share.
        for user in 3..10 {
            cache(&tokens, &key("small", user));
        }
        assert_eq!((held(&tokens, "small"), held(&tokens, "large")), (4, 4));
    }

    #[test]
    fn entries_in_use_are_never_the_ones_replaced() {
        let tokens = holding(4);
        // The largest tenant's entries are all waiting for a token.
        let in_use: Vec<Slot> = (0..3).map(|user| tokens.slot(&key("large", user))).collect();
        cache(&tokens, &key("small", 0));
        cache(&tokens, &key("small", 1));
        for user in 0..3 {
            assert!(cached(&tokens, &key("large", user)));
        }
        assert!(
            !cached(&tokens, &key("small", 0)),
            "the small tenant replaced its own"
        );
        assert!(cached(&tokens, &key("small", 1)));
        drop(in_use);
    }

    #[test]
    fn a_tenant_is_never_pushed_below_the_tenant_that_takes_its_room() {
        let tokens = holding(4);
        let in_use: Vec<Slot> = (0..2).map(|user| tokens.slot(&key("large", user))).collect();
        cache(&tokens, &key("small", 0));
        cache(&tokens, &key("small", 1));
        // The large tenant's third user: its own entries are busy, and the small tenant holds
        // as many as it does now, fewer than it would, so the token is used once and not kept.
        cache(&tokens, &key("large", 2));
        assert!(cached(&tokens, &key("small", 0)) && cached(&tokens, &key("small", 1)));
        assert!(!cached(&tokens, &key("large", 2)));
        assert_eq!(
            (tokens.len(), held(&tokens, "large"), held(&tokens, "small")),
            (4, 2, 2)
        );
        drop(in_use);
    }

    #[test]
    fn a_tenant_whose_entries_are_all_busy_takes_no_room_and_the_others_still_cache() {
        let tokens = holding(200);
        // The large tenant holds 150 entries, every one with a token request in flight.
        let busy: Vec<Slot> = (0..150).map(|user| tokens.slot(&key("large", user))).collect();
        for user in 0..50 {
            cache(&tokens, &key("small", user));
        }
        // Its next users find no idle entry of its own among the ones looked at, and take no
        // room from the smaller tenant: used once, not kept.
        cache(&tokens, &key("large", 1_000));
        assert!(!cached(&tokens, &key("large", 1_000)));
        assert_eq!((held(&tokens, "large"), held(&tokens, "small")), (150, 50));
        // The small tenant's next user replaces one of its own, found at once.
        cache(&tokens, &key("small", 1_000));
        assert!(cached(&tokens, &key("small", 1_000)));
        assert_eq!((held(&tokens, "large"), held(&tokens, "small")), (150, 50));
        drop(busy);
    }

    #[test]
    fn tenants_holding_an_equal_share_keep_it() {
        let tokens = holding(4);
        for user in 0..2 {
            cache(&tokens, &key("a", user));
            cache(&tokens, &key("b", user));
        }
        // b's new users would make it the larger: they replace b's own.
        for user in 2..20 {
            cache(&tokens, &key("b", user));
        }
        assert_eq!((held(&tokens, "a"), held(&tokens, "b")), (2, 2));
    }

    #[test]
    fn expired_entries_make_room_first() {
        let clock = Arc::new(asap_core::ManualClock::new(1_000));
        let tokens = holding(2).clock(clock.clone());
        cache(&tokens, &key("a", 0));
        cache(&tokens, &key("a", 1));
        clock.advance(7_200);
        cache(&tokens, &key("b", 0));
        assert_eq!((tokens.len(), held(&tokens, "a"), held(&tokens, "b")), (1, 0, 1));
    }

    #[test]
    fn scopes_are_one_set_whatever_their_case_and_order() {
        let a = normalise(&["write".into(), "READ".into(), "read".into()]);
        assert_eq!(a, ["READ", "WRITE"]);
        assert_eq!(a, normalise(&["READ".into(), "WRITE".into()]));
    }

    #[test]
    fn the_authorization_server_must_be_https_or_loopback() {
        assert!(UserTokenCache::new("https://auth.example").is_ok());
        assert!(UserTokenCache::new("http://127.0.0.1:9").is_ok());
        assert!(matches!(
            UserTokenCache::new("http://auth.example"),
            Err(UserTokenConfigError::Insecure)
        ));
        assert!(matches!(
            UserTokenCache::new("not a url"),
            Err(UserTokenConfigError::Url(_))
        ));
    }
}
