//! The HTTP(S) public key repository client: `GET <base>/<kid>` for a PEM public key, with
//! failover across mirrors, an HTTP-semantics cache and one fetch per kid at a time.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use asap_core::{KeyError, KeyFuture, KeyId, KeySourceError, PublicKey, PublicKeySource};
use futures_util::FutureExt as _;
use futures_util::future::Shared;
use reqwest::header::{ACCEPT, AGE, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};

use crate::error::{ConfigError, EnvError, FetchError};

/// The largest response body accepted. An RSA 8192 public key is under 1.5 KiB.
pub const MAX_KEY_BODY_BYTES: usize = 64 * 1024;

/// The media type a key repository serves, sent as `Accept` and required as `Content-Type`.
pub const PEM_CONTENT_TYPE: &str = "application/x-pem-file";

/// Environment variable naming the key repository (`url1 | url2` for mirrors).
pub const ENV_REPOSITORY_URL: &str = "ASAP_PUBLIC_KEY_REPOSITORY_URL";
/// Environment variable naming the fallback repository, tried after the first one fails.
pub const ENV_FALLBACK_REPOSITORY_URL: &str = "ASAP_PUBLIC_KEY_FALLBACK_REPOSITORY_URL";

type FetchOutcome = Result<Entry, FetchError>;
type SharedFetch = Shared<Pin<Box<dyn Future<Output = FetchOutcome> + Send>>>;

/// A cached answer for one kid.
#[derive(Clone)]
enum Entry {
    Key {
        key: Arc<PublicKey>,
        /// Served without asking the repository until then (`max-age`).
        fresh_until: Instant,
        /// Served at once while a background refresh runs until then (`stale-while-revalidate`).
        revalidate_until: Instant,
        /// Served when every repository fails until then (`stale-if-error`).
        serve_on_error_until: Instant,
        /// After a failed refresh, the repositories are not asked again before then.
        retry_after: Option<Instant>,
    },
    Missing {
        until: Instant,
    },
    Invalid {
        until: Instant,
        error: KeyError,
    },
}

impl Entry {
    /// How long the cache should hold the entry at all.
    fn lifetime(&self, now: Instant) -> Duration {
        match self {
            Entry::Key {
                revalidate_until,
                serve_on_error_until,
                ..
            } => (*revalidate_until)
                .max(*serve_on_error_until)
                .saturating_duration_since(now),
            Entry::Missing { until } | Entry::Invalid { until, .. } => until.saturating_duration_since(now),
        }
    }
}

struct EntryExpiry;

impl moka::Expiry<KeyId, Entry> for EntryExpiry {
    fn expire_after_create(&self, _: &KeyId, value: &Entry, created_at: Instant) -> Option<Duration> {
        Some(value.lifetime(created_at))
    }

    fn expire_after_update(
        &self,
        _: &KeyId,
        value: &Entry,
        updated_at: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.lifetime(updated_at))
    }
}

/// How long answers are kept: defaults apply when the repository sends no `Cache-Control`
/// directive, and caps bound what a repository may ask for.
#[derive(Debug, Clone, Copy)]
struct CachePolicy {
    default_max_age: Duration,
    max_age_cap: Duration,
    default_stale_while_revalidate: Duration,
    stale_while_revalidate_cap: Duration,
    default_stale_if_error: Duration,
    stale_if_error_cap: Duration,
    negative_ttl: Duration,
    error_retry_interval: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            default_max_age: Duration::from_secs(300),
            max_age_cap: Duration::from_secs(24 * 3600),
            default_stale_while_revalidate: Duration::from_secs(60),
            stale_while_revalidate_cap: Duration::from_secs(3600),
            default_stale_if_error: Duration::from_secs(3600),
            stale_if_error_cap: Duration::from_secs(24 * 3600),
            negative_ttl: Duration::from_secs(30),
            error_retry_interval: Duration::from_secs(5),
        }
    }
}

/// The `Cache-Control` directives this client acts on.
#[derive(Debug, Default, PartialEq, Eq)]
struct Directives {
    max_age: Option<u64>,
    stale_while_revalidate: Option<u64>,
    stale_if_error: Option<u64>,
    no_store: bool,
    no_cache: bool,
    must_revalidate: bool,
}

impl Directives {
    fn parse<'a>(values: impl Iterator<Item = &'a str>) -> Directives {
        let mut d = Directives::default();
        for directive in values.flat_map(|v| v.split(',')) {
            let (name, value) = match directive.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            let seconds = value.and_then(|v| v.parse::<u64>().ok());
            match name.to_ascii_lowercase().as_str() {
                "max-age" => d.max_age = d.max_age.or(seconds),
                "stale-while-revalidate" => d.stale_while_revalidate = d.stale_while_revalidate.or(seconds),
                "stale-if-error" => d.stale_if_error = d.stale_if_error.or(seconds),
                "no-store" => d.no_store = true,
                "no-cache" => d.no_cache = true,
                "must-revalidate" | "proxy-revalidate" => d.must_revalidate = true,
                _ => {}
            }
        }
        d
    }
}

impl CachePolicy {
    fn entry(&self, key: Arc<PublicKey>, d: &Directives, age: u64, now: Instant) -> Entry {
        let pick = |given: Option<u64>, default: Duration, cap: Duration| {
            given.map_or(default, Duration::from_secs).min(cap)
        };
        let fresh = if d.no_store || d.no_cache {
            Duration::ZERO
        } else {
            pick(d.max_age, self.default_max_age, self.max_age_cap).saturating_sub(Duration::from_secs(age))
        };
        // must-revalidate forbids serving a stale response, no-store forbids keeping one.
        let (revalidate, on_error) = if d.no_store || d.must_revalidate {
            (Duration::ZERO, Duration::ZERO)
        } else {
            (
                pick(
                    d.stale_while_revalidate,
                    self.default_stale_while_revalidate,
                    self.stale_while_revalidate_cap,
                ),
                pick(
                    d.stale_if_error,
                    self.default_stale_if_error,
                    self.stale_if_error_cap,
                ),
            )
        };
        let fresh_until = now + fresh;
        Entry::Key {
            key,
            fresh_until,
            revalidate_until: fresh_until + revalidate,
            serve_on_error_until: fresh_until + on_error,
            retry_after: None,
        }
    }
}

/// What one repository said.
enum Fetched {
    Key {
        pem: Vec<u8>,
        directives: Directives,
        age: u64,
    },
    NotFound,
}

/// A public key repository reached over HTTPS: `GET <base-url>/<kid>` answers the PEM public
/// key published for the kid.
///
/// What it guarantees (each has a test):
///
/// - **Where it connects.** `https` only; plain `http` only to a loopback address, and only with
///   [`allow_insecure_loopback`](HttpKeyRepositoryBuilder::allow_insecure_loopback). The URL is
///   the base URL (with exactly one trailing `/`) followed by the kid, by string concatenation:
///   the kid has passed the core syntax rule, so it cannot change the host, path prefix or query.
///   Redirects are never followed.
/// - **What it accepts.** `Accept: application/x-pem-file` is sent and the same `Content-Type`
///   required; the body is capped at [`MAX_KEY_BODY_BYTES`] while it streams (a larger
///   `Content-Length` is refused before reading); a public key that is weak (RSA under 2048
///   bits), a private key or a certificate is refused. A key whose type does not fit the
///   token's `alg` (a P-384 key for ES256) is refused by the verifier.
/// - **How long it waits.** A connect timeout (default 2 s) and a total timeout per repository
///   (default 5 s), so a server that trickles its headers or body fails in bounded time.
/// - **Failover.** Repositories are tried in order; the next one is tried after a connection
///   error, a timeout or a 5xx (or 429). 404 and 403 mean the key is not published: that is
///   answered at once ([`KeySourceError::NotFound`], HTTP 401) and kept for the negative TTL
///   (default 30 s), unless [`failover_on_not_found`](HttpKeyRepositoryBuilder::failover_on_not_found)
///   is set.
/// - **Caching.** `Cache-Control: max-age`, `stale-while-revalidate` and `stale-if-error` are
///   honoured (defaults when absent: 300 s, 60 s and 3600 s; caps 1 day, 1 hour, 1 day); a
///   stale key within `stale-while-revalidate` is answered at once while one background
///   refresh runs; within `stale-if-error` it is answered while every repository fails.
///   At most [`max_entries`](HttpKeyRepositoryBuilder::max_entries) kids are kept.
/// - **Single flight.** However many lookups wait for the same kid, one request is sent.
///
/// When no repository answers and nothing cached can, the lookup fails with
/// [`KeySourceError::Unavailable`] (HTTP 503) whose source is a [`FetchError`].
///
/// ```no_run
/// use std::time::Duration;
/// use asap_keys::HttpKeyRepository;
///
/// let keys = HttpKeyRepository::builder("https://keys.example.com/")
///     .fallback("https://keys-backup.example.com/")
///     .timeout(Duration::from_secs(3))
///     .build()?;
/// let verifier = asap_core::Verifier::builder(keys)
///     .audience(asap_core::Audience::new("ledger")?)
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct HttpKeyRepository {
    inner: Arc<Inner>,
}

struct Inner {
    bases: Vec<String>,
    client: reqwest::Client,
    cache: moka::future::Cache<KeyId, Entry>,
    inflight: Mutex<HashMap<KeyId, SharedFetch>>,
    policy: CachePolicy,
    timeout: Duration,
    failover_on_not_found: bool,
    content_types: Vec<String>,
}

impl fmt::Debug for HttpKeyRepository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpKeyRepository")
            .field("repositories", &self.inner.bases)
            .field("timeout", &self.inner.timeout)
            .field("failover_on_not_found", &self.inner.failover_on_not_found)
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

/// Configures an [`HttpKeyRepository`].
#[derive(Debug, Clone)]
#[must_use]
pub struct HttpKeyRepositoryBuilder {
    urls: Vec<String>,
    allow_insecure_loopback: bool,
    connect_timeout: Duration,
    timeout: Duration,
    policy: CachePolicy,
    max_entries: u64,
    failover_on_not_found: bool,
    content_types: Vec<String>,
    roots_only: Option<String>,
    extra_roots: Vec<String>,
}

impl HttpKeyRepositoryBuilder {
    /// Adds a repository, tried after the ones already given (a mirror or a fallback).
    pub fn fallback(mut self, url: impl Into<String>) -> Self {
        self.urls.push(url.into());
        self
    }

    /// Allows plain `http://` URLs whose host is a loopback address (`127.0.0.0/8`, `::1`,
    /// `localhost`), for a repository served by a sidecar or in tests. Off by default.
    pub fn allow_insecure_loopback(mut self, allow: bool) -> Self {
        self.allow_insecure_loopback = allow;
        self
    }

    /// The time allowed to establish a connection (TCP and TLS); default 2 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The time allowed for a whole request to one repository, body included; default 5 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a 404/403 (or an unacceptable key) is remembered; default 30 s.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.policy.negative_ttl = ttl;
        self
    }

    /// The freshness used when a response has no `max-age`; default 300 s.
    pub fn default_max_age(mut self, age: Duration) -> Self {
        self.policy.default_max_age = age;
        self
    }

    /// The longest freshness a repository can ask for; default 1 day.
    pub fn max_age_cap(mut self, cap: Duration) -> Self {
        self.policy.max_age_cap = cap;
        self
    }

    /// The `stale-while-revalidate` window used when a response has none; default 60 s.
    pub fn default_stale_while_revalidate(mut self, window: Duration) -> Self {
        self.policy.default_stale_while_revalidate = window;
        self
    }

    /// The longest `stale-while-revalidate` window honoured; default 1 hour.
    pub fn stale_while_revalidate_cap(mut self, cap: Duration) -> Self {
        self.policy.stale_while_revalidate_cap = cap;
        self
    }

    /// The `stale-if-error` window used when a response has none; default 1 hour.
    pub fn default_stale_if_error(mut self, window: Duration) -> Self {
        self.policy.default_stale_if_error = window;
        self
    }

    /// The longest `stale-if-error` window honoured: the bound on how long a cached key keeps
    /// answering while every repository is down; default 1 day.
    pub fn stale_if_error_cap(mut self, cap: Duration) -> Self {
        self.policy.stale_if_error_cap = cap;
        self
    }

    /// After a refresh failed and a stale key is being served, how long to wait before asking
    /// the repositories again; default 5 s.
    pub fn error_retry_interval(mut self, interval: Duration) -> Self {
        self.policy.error_retry_interval = interval;
        self
    }

    /// The most kids cached (keys and negative answers); default 10 000.
    pub fn max_entries(mut self, max: u64) -> Self {
        self.max_entries = max;
        self
    }

    /// Also try the next repository after a 404/403 (for mirrors that may lag behind). Off by
    /// default: a missing key is usually missing everywhere, and failing over would double
    /// the traffic an attacker can cause with made-up kids.
    pub fn failover_on_not_found(mut self, failover: bool) -> Self {
        self.failover_on_not_found = failover;
        self
    }

    /// Accepts another `Content-Type` besides `application/x-pem-file` (for a repository
    /// behind a store that labels files differently).
    pub fn accept_content_type(mut self, media_type: impl Into<String>) -> Self {
        self.content_types.push(media_type.into().to_ascii_lowercase());
        self
    }

    /// Trusts only the CA certificates in this PEM bundle (a private PKI, tests).
    pub fn root_certificates_pem(mut self, pem: impl Into<String>) -> Self {
        self.roots_only = Some(pem.into());
        self
    }

    /// Trusts the CA certificates in this PEM bundle in addition to the system's.
    pub fn add_root_certificates_pem(mut self, pem: impl Into<String>) -> Self {
        self.extra_roots.push(pem.into());
        self
    }

    /// Checks the URLs and settings and builds the repository.
    pub fn build(self) -> Result<HttpKeyRepository, ConfigError> {
        if self.urls.is_empty() {
            return Err(ConfigError::NoRepository);
        }
        let bases = self
            .urls
            .iter()
            .map(|url| base_url(url, self.allow_insecure_loopback))
            .collect::<Result<Vec<_>, _>>()?;
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(ConfigError::Setting("timeouts must not be zero".into()));
        }
        if self.max_entries == 0 {
            return Err(ConfigError::Setting("max_entries must be at least 1".into()));
        }
        let certs = |pem: &str| {
            reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| ConfigError::Client(e.into()))
        };
        let mut client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .https_only(!self.allow_insecure_loopback)
            .user_agent(concat!("asap-keys/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &self.roots_only {
            client = client.tls_certs_only(certs(pem)?);
        }
        for pem in &self.extra_roots {
            client = client.tls_certs_merge(certs(pem)?);
        }
        let client = client.build().map_err(|e| ConfigError::Client(e.into()))?;
        Ok(HttpKeyRepository {
            inner: Arc::new(Inner {
                bases,
                client,
                cache: moka::future::Cache::builder()
                    .max_capacity(self.max_entries)
                    .expire_after(EntryExpiry)
                    .build(),
                inflight: Mutex::new(HashMap::new()),
                policy: self.policy,
                timeout: self.timeout,
                failover_on_not_found: self.failover_on_not_found,
                content_types: self.content_types,
            }),
        })
    }
}

/// Checks a repository URL and returns it with exactly one trailing `/`.
fn base_url(url: &str, allow_insecure_loopback: bool) -> Result<String, ConfigError> {
    let invalid = |reason: &str| ConfigError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = url::Url::parse(url.trim()).map_err(|e| invalid(&e.to_string()))?;
    if parsed.cannot_be_a_base() {
        return Err(invalid("not a hierarchical URL"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("a query or fragment would swallow the kid"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("credentials in the URL are not supported"));
    }
    match parsed.scheme() {
        "https" => {}
        "http" if allow_insecure_loopback && is_loopback(&parsed) => {}
        "http" => return Err(ConfigError::InsecureUrl(url.to_owned())),
        other => return Err(invalid(&format!("unsupported scheme {other:?}"))),
    }
    let mut base = parsed.as_str().trim_end_matches('/').to_owned();
    base.push('/');
    Ok(base)
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

impl HttpKeyRepository {
    /// Starts a repository client for `url`; add mirrors or fallbacks with
    /// [`fallback`](HttpKeyRepositoryBuilder::fallback).
    pub fn builder(url: impl Into<String>) -> HttpKeyRepositoryBuilder {
        HttpKeyRepositoryBuilder {
            urls: vec![url.into()],
            allow_insecure_loopback: false,
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            policy: CachePolicy::default(),
            max_entries: 10_000,
            failover_on_not_found: false,
            content_types: vec![PEM_CONTENT_TYPE.to_owned()],
            roots_only: None,
            extra_roots: Vec::new(),
        }
    }

    /// A builder from the process environment: [`ENV_REPOSITORY_URL`] (required; `url1 | url2`
    /// lists mirrors in failover order) and [`ENV_FALLBACK_REPOSITORY_URL`] (optional, tried last).
    pub fn builder_from_env() -> Result<HttpKeyRepositoryBuilder, EnvError> {
        HttpKeyRepository::builder_from_vars(|name| std::env::var(name).ok())
    }

    /// Like [`builder_from_env`](HttpKeyRepository::builder_from_env), reading variables
    /// through `vars` (so tests and embedders need not touch the process environment).
    ///
    /// ```
    /// use asap_keys::HttpKeyRepository;
    /// let vars = |name: &str| match name {
    ///     "ASAP_PUBLIC_KEY_REPOSITORY_URL" => Some("https://a.example/ | https://b.example/".to_owned()),
    ///     "ASAP_PUBLIC_KEY_FALLBACK_REPOSITORY_URL" => Some("https://c.example/".to_owned()),
    ///     _ => None,
    /// };
    /// let repo = HttpKeyRepository::builder_from_vars(vars)?.build()?;
    /// assert_eq!(repo.repositories(), ["https://a.example/", "https://b.example/", "https://c.example/"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder_from_vars(
        vars: impl Fn(&str) -> Option<String>,
    ) -> Result<HttpKeyRepositoryBuilder, EnvError> {
        let value = |name| vars(name).filter(|v: &String| !v.trim().is_empty());
        let primary = value(ENV_REPOSITORY_URL).ok_or(EnvError::Missing(ENV_REPOSITORY_URL))?;
        let mut urls = mirror_list(ENV_REPOSITORY_URL, &primary)?;
        if let Some(fallback) = value(ENV_FALLBACK_REPOSITORY_URL) {
            urls.extend(mirror_list(ENV_FALLBACK_REPOSITORY_URL, &fallback)?);
        }
        let mut urls = urls.into_iter();
        let mut builder =
            HttpKeyRepository::builder(urls.next().ok_or(EnvError::Missing(ENV_REPOSITORY_URL))?);
        for url in urls {
            builder = builder.fallback(url);
        }
        // Check the URLs now, so the error names the variable.
        for (name, raw) in [
            (ENV_REPOSITORY_URL, Some(primary)),
            (ENV_FALLBACK_REPOSITORY_URL, value(ENV_FALLBACK_REPOSITORY_URL)),
        ] {
            for url in raw.iter().flat_map(|r| r.split('|')) {
                if let Err(e @ ConfigError::InvalidUrl { .. }) = base_url(url, true) {
                    return Err(EnvError::invalid(name, e));
                }
            }
        }
        Ok(builder)
    }

    /// The repository base URLs in failover order, each with one trailing `/`.
    pub fn repositories(&self) -> &[String] {
        &self.inner.bases
    }

    /// How many kids have a cached answer (keys and negative answers), at most
    /// [`max_entries`](HttpKeyRepositoryBuilder::max_entries).
    pub async fn cached_entries(&self) -> u64 {
        self.inner.cache.run_pending_tasks().await;
        self.inner.cache.entry_count()
    }

    /// Forgets every cached answer.
    pub fn clear_cache(&self) {
        self.inner.cache.invalidate_all();
    }

    async fn lookup(&self, kid: &KeyId) -> Result<Arc<PublicKey>, KeySourceError> {
        let inner = &self.inner;
        let cached = inner.cache.get(kid).await;
        if let Some(answer) = inner.answer_from_cache(kid, cached.as_ref(), Instant::now()) {
            return answer;
        }
        let fetch = match inner.in_flight(kid) {
            Some(fetch) => fetch,
            None => {
                // A fetch may have filled the cache between the read above and now.
                let cached = inner.cache.get(kid).await;
                if let Some(answer) = inner.answer_from_cache(kid, cached.as_ref(), Instant::now()) {
                    return answer;
                }
                inner.fetch_shared(kid)?
            }
        };
        let outcome = fetch.await;
        let now = Instant::now();
        match outcome {
            Ok(entry) => Inner::answer(kid, &entry),
            Err(error) => {
                // stale-if-error: the fetch task kept the stale entry (with its retry time).
                if let Some(Entry::Key {
                    key,
                    serve_on_error_until,
                    ..
                }) = inner.cache.get(kid).await
                    && now < serve_on_error_until
                {
                    tracing::warn!(%kid, %error, "key repository failed; answering with the cached key");
                    return Ok(key);
                }
                Err(KeySourceError::Unavailable(Box::new(error)))
            }
        }
    }
}

fn header_text(value: Option<&reqwest::header::HeaderValue>) -> Option<String> {
    value.map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned())
}

impl Inner {
    /// The answer the cache can give now without waiting for a fetch, if any; starts a
    /// background refresh for a key within `stale-while-revalidate`.
    fn answer_from_cache(
        self: &Arc<Self>,
        kid: &KeyId,
        cached: Option<&Entry>,
        now: Instant,
    ) -> Option<Result<Arc<PublicKey>, KeySourceError>> {
        match cached? {
            Entry::Key {
                key,
                fresh_until,
                revalidate_until,
                serve_on_error_until,
                retry_after,
            } => {
                if now < *fresh_until {
                    return Some(Ok(key.clone()));
                }
                if retry_after.is_some_and(|t| now < t) && now < *serve_on_error_until {
                    // A refresh failed a moment ago: do not hammer a repository that is down.
                    return Some(Ok(key.clone()));
                }
                if now < *revalidate_until {
                    if let Err(e) = self.fetch_shared(kid) {
                        tracing::debug!(%kid, %e, "cannot start a background refresh");
                    }
                    return Some(Ok(key.clone()));
                }
                None
            }
            entry @ (Entry::Missing { until } | Entry::Invalid { until, .. }) => {
                (now < *until).then(|| Inner::answer(kid, entry))
            }
        }
    }

    fn answer(kid: &KeyId, entry: &Entry) -> Result<Arc<PublicKey>, KeySourceError> {
        match entry {
            Entry::Key { key, .. } => Ok(key.clone()),
            Entry::Missing { .. } => Err(KeySourceError::NotFound(kid.clone())),
            Entry::Invalid { error, .. } => Err(KeySourceError::InvalidKey {
                kid: kid.clone(),
                source: error.clone(),
            }),
        }
    }

    fn in_flight(&self, kid: &KeyId) -> Option<SharedFetch> {
        self.inflight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(kid)
            .cloned()
    }

    /// The one fetch in flight for `kid`, started if there is none. The fetch runs in its own
    /// task, so it completes (and fills the cache) even if every caller gives up waiting.
    fn fetch_shared(self: &Arc<Self>, kid: &KeyId) -> Result<SharedFetch, KeySourceError> {
        let mut inflight = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(fetch) = inflight.get(kid) {
            return Ok(fetch.clone());
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| KeySourceError::Unavailable("the key repository needs a tokio runtime".into()))?;
        let task = runtime.spawn({
            let inner = self.clone();
            let kid = kid.clone();
            async move {
                let outcome = inner.fetch_and_store(&kid).await;
                inner
                    .inflight
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&kid);
                outcome
            }
        });
        let url = format!("{}{kid}", self.bases[0]);
        let fetch: Pin<Box<dyn Future<Output = FetchOutcome> + Send>> = Box::pin(async move {
            task.await.unwrap_or_else(|e| {
                Err(FetchError::Transport {
                    url,
                    source: Arc::new(e),
                })
            })
        });
        let fetch = fetch.shared();
        inflight.insert(kid.clone(), fetch.clone());
        Ok(fetch)
    }

    async fn fetch_and_store(&self, kid: &KeyId) -> FetchOutcome {
        let outcome = self.fetch(kid).await;
        let now = Instant::now();
        match &outcome {
            Ok(entry) => self.cache.insert(kid.clone(), entry.clone()).await,
            Err(_) => {
                if let Some(Entry::Key {
                    key,
                    fresh_until,
                    revalidate_until,
                    serve_on_error_until,
                    ..
                }) = self.cache.get(kid).await
                {
                    let retry = Entry::Key {
                        key,
                        fresh_until,
                        revalidate_until,
                        serve_on_error_until,
                        retry_after: Some(now + self.policy.error_retry_interval),
                    };
                    self.cache.insert(kid.clone(), retry).await;
                }
            }
        }
        outcome
    }

    /// Asks the repositories in order.
    async fn fetch(&self, kid: &KeyId) -> Result<Entry, FetchError> {
        let mut errors = Vec::new();
        let mut not_found = false;
        for base in &self.bases {
            // The kid has passed the core syntax rule: plain concatenation cannot leave the base.
            let url = format!("{base}{kid}");
            tracing::debug!(%url, "fetching public key");
            match self.fetch_one(&url).await {
                Ok(Fetched::Key { pem, directives, age }) => {
                    let now = Instant::now();
                    let parsed = std::str::from_utf8(&pem)
                        .map_err(|_| KeyError::Pem("the body is not UTF-8".into()))
                        .and_then(PublicKey::from_pem);
                    return Ok(match parsed {
                        Ok(key) => self.policy.entry(Arc::new(key), &directives, age, now),
                        Err(error) => {
                            tracing::warn!(%url, %error, "key repository served an unacceptable key");
                            Entry::Invalid {
                                until: now + self.policy.negative_ttl,
                                error,
                            }
                        }
                    });
                }
                Ok(Fetched::NotFound) if self.failover_on_not_found => not_found = true,
                Ok(Fetched::NotFound) => return Ok(self.missing()),
                Err(error) if error.fails_over() => {
                    tracing::warn!(%error, "key repository failed; trying the next one");
                    errors.push(error);
                }
                Err(error) => return Err(error),
            }
        }
        if errors.is_empty() && not_found {
            return Ok(self.missing());
        }
        Err(if errors.len() == 1 {
            errors.remove(0)
        } else {
            FetchError::AllFailed(errors)
        })
    }

    fn missing(&self) -> Entry {
        Entry::Missing {
            until: Instant::now() + self.policy.negative_ttl,
        }
    }

    async fn fetch_one(&self, url: &str) -> Result<Fetched, FetchError> {
        // reqwest's own timeout covers the body too; this one also bounds our reads.
        tokio::time::timeout(self.timeout, self.fetch_one_unbounded(url))
            .await
            .unwrap_or_else(|_| Err(FetchError::Timeout { url: url.to_owned() }))
    }

    async fn fetch_one_unbounded(&self, url: &str) -> Result<Fetched, FetchError> {
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                FetchError::Timeout { url: url.to_owned() }
            } else if e.is_connect() {
                FetchError::Connect {
                    url: url.to_owned(),
                    source: Arc::new(e),
                }
            } else {
                FetchError::Transport {
                    url: url.to_owned(),
                    source: Arc::new(e),
                }
            }
        };
        let mut response = self
            .client
            .get(url)
            .header(ACCEPT, PEM_CONTENT_TYPE)
            .send()
            .await
            .map_err(classify)?;
        let status = response.status();
        match status.as_u16() {
            200 => {}
            403 | 404 | 410 => return Ok(Fetched::NotFound),
            300..=399 => {
                return Err(FetchError::Redirect {
                    url: url.to_owned(),
                    location: header_text(response.headers().get(LOCATION)),
                });
            }
            status => {
                return Err(FetchError::Status {
                    url: url.to_owned(),
                    status,
                });
            }
        }
        let headers = response.headers();
        let content_type = headers
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let media_type = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !self.content_types.contains(&media_type) {
            return Err(FetchError::ContentType {
                url: url.to_owned(),
                content_type,
            });
        }
        let too_large = || FetchError::TooLarge {
            url: url.to_owned(),
            limit: MAX_KEY_BODY_BYTES,
        };
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > MAX_KEY_BODY_BYTES as u64) {
            return Err(too_large());
        }
        let directives = Directives::parse(
            headers
                .get_all(CACHE_CONTROL)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        let age = headers
            .get(AGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let mut pem =
            Vec::with_capacity(declared.map_or(4096, |l| usize::try_from(l).unwrap_or(MAX_KEY_BODY_BYTES)));
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if pem.len() + chunk.len() > MAX_KEY_BODY_BYTES {
                return Err(too_large());
            }
            pem.extend_from_slice(&chunk);
        }
        Ok(Fetched::Key { pem, directives, age })
    }
}

/// Splits `url1 | url2` into its URLs; an empty member is an error naming the variable.
fn mirror_list(variable: &'static str, value: &str) -> Result<Vec<String>, EnvError> {
    value
        .split('|')
        .map(|url| {
            let url = url.trim();
            if url.is_empty() {
                Err(EnvError::invalid(variable, "empty URL in the `url1 | url2` list"))
            } else {
                Ok(url.to_owned())
            }
        })
        .collect()
}

impl PublicKeySource for HttpKeyRepository {
    fn public_key<'a>(&'a self, kid: &'a KeyId) -> KeyFuture<'a> {
        Box::pin(self.lookup(kid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_get_exactly_one_trailing_slash() {
        for (given, want) in [
            ("https://keys.example", "https://keys.example/"),
            ("https://keys.example/", "https://keys.example/"),
            ("https://keys.example/asap//", "https://keys.example/asap/"),
            ("https://KEYS.example/Asap", "https://keys.example/Asap/"),
        ] {
            assert_eq!(base_url(given, false).expect(given), want);
        }
    }

    #[test]
    fn plain_http_only_to_loopback_and_only_when_allowed() {
        assert!(matches!(
            base_url("http://127.0.0.1:8080/", false),
            Err(ConfigError::InsecureUrl(_))
        ));
        for ok in [
            "http://127.0.0.1:8080/",
            "http://127.1.2.3/",
            "http://[::1]/",
            "http://localhost/",
        ] {
            assert!(base_url(ok, true).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/",
            "http://keys.example/",
            "http://localhost.evil.example/",
        ] {
            assert!(
                matches!(base_url(bad, true), Err(ConfigError::InsecureUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn urls_that_would_swallow_or_redirect_the_kid_are_refused() {
        for bad in [
            "https://keys.example/?x=",
            "https://keys.example/#",
            "https://user:pw@keys.example/",
            "ftp://keys.example/",
            "keys.example",
            "data:text/plain,x",
        ] {
            assert!(
                matches!(base_url(bad, false), Err(ConfigError::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn cache_control_directives() {
        let d = Directives::parse(
            [
                "public, max-age=60, stale-while-revalidate=30",
                "stale-if-error=\"600\"",
            ]
            .into_iter(),
        );
        assert_eq!(
            d,
            Directives {
                max_age: Some(60),
                stale_while_revalidate: Some(30),
                stale_if_error: Some(600),
                ..Directives::default()
            }
        );
        let d = Directives::parse(["No-Store, MAX-AGE=bogus"].into_iter());
        assert!(d.no_store);
        assert_eq!(d.max_age, None);
    }

    #[test]
    fn policy_applies_defaults_caps_and_age() {
        let policy = CachePolicy::default();
        let key = Arc::new(
            asap_core::PrivateKey::generate(asap_core::KeySpec::Curve(asap_core::KeyKind::P256))
                .and_then(|k| k.public_key())
                .expect("key"),
        );
        let now = Instant::now();
        let Entry::Key {
            fresh_until,
            revalidate_until,
            serve_on_error_until,
            ..
        } = policy.entry(key.clone(), &Directives::default(), 0, now)
        else {
            panic!("a key entry");
        };
        assert_eq!(fresh_until - now, policy.default_max_age);
        assert_eq!(
            revalidate_until - fresh_until,
            policy.default_stale_while_revalidate
        );
        assert_eq!(serve_on_error_until - fresh_until, policy.default_stale_if_error);

        let huge = Directives {
            max_age: Some(u64::MAX / 4),
            stale_if_error: Some(10_000_000),
            ..Directives::default()
        };
        let Entry::Key {
            fresh_until,
            serve_on_error_until,
            ..
        } = policy.entry(key.clone(), &huge, 100, now)
        else {
            panic!("a key entry");
        };
        assert_eq!(fresh_until - now, policy.max_age_cap - Duration::from_secs(100));
        assert_eq!(serve_on_error_until - fresh_until, policy.stale_if_error_cap);

        let strict = Directives {
            max_age: Some(60),
            must_revalidate: true,
            ..Directives::default()
        };
        let Entry::Key {
            fresh_until,
            revalidate_until,
            serve_on_error_until,
            ..
        } = policy.entry(key, &strict, 0, now)
        else {
            panic!("a key entry");
        };
        assert_eq!(revalidate_until, fresh_until);
        assert_eq!(serve_on_error_until, fresh_until);
    }

    #[test]
    fn mirror_syntax_errors_name_the_variable() {
        let err = HttpKeyRepository::builder_from_vars(|n| {
            (n == ENV_REPOSITORY_URL).then(|| "https://a.example/ | | https://b.example/".to_owned())
        })
        .expect_err("empty member");
        assert_eq!(err.variable(), ENV_REPOSITORY_URL);
        let err = HttpKeyRepository::builder_from_vars(|_| None).expect_err("missing");
        assert!(matches!(err, EnvError::Missing(ENV_REPOSITORY_URL)));
        let err = HttpKeyRepository::builder_from_vars(|n| match n {
            ENV_REPOSITORY_URL => Some("https://a.example/".into()),
            _ => Some("https://b.example/?q".into()),
        })
        .expect_err("bad fallback");
        assert_eq!(err.variable(), ENV_FALLBACK_REPOSITORY_URL);
        assert!(err.to_string().contains(ENV_FALLBACK_REPOSITORY_URL));
    }
}
