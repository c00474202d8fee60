//! JSON Web Key Sets: [`JwkSet`] (strict RFC 7517/7518 parsing, and writing for the key
//! server) and [`JwksKeySource`], a [`PublicKeySource`] over a JWKS URL.

mod builder;
mod jwk;

use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use asap_core::{Clock, KeyFuture, KeyId, KeySourceError, PublicKey, PublicKeySource};

pub use builder::{JwksKeySourceBuilder, JwksPolicy};
pub use jwk::{Jwk, JwkError, JwkSet, MAX_JWKS_KEYS, PRIVATE_JWK_MEMBERS};

use crate::error::FetchError;
use crate::http::{CachePolicy, Directives, HttpGet, Lifetimes, Response, SharedFetch, SingleFlight};

/// The media type of a JWK set document (RFC 7517 §8.5.1), sent as `Accept`. `application/json`
/// is accepted too, as most servers label the document so.
pub const JWKS_CONTENT_TYPE: &str = "application/jwk-set+json";

/// A JSON Web Key Set fetched over HTTPS, as a [`PublicKeySource`]: a token's kid is looked
/// up in the set.
///
/// The download is the key repository's ([`HttpKeyRepository`](crate::HttpKeyRepository)):
/// `https` only (plain `http` only to loopback, when allowed), no redirects, a connect and a
/// total timeout, the body capped at [`MAX_KEY_BODY_BYTES`](crate::MAX_KEY_BODY_BYTES) while it
/// streams, `Content-Type` `application/jwk-set+json` or `application/json`, and the same
/// reading of `Cache-Control` (`max-age`, `stale-while-revalidate`, `stale-if-error` within a
/// [`CachePolicy`]). On top of that, what a key set needs (each has a test):
///
/// - **One fetch at a time.** However many lookups need the set, one request is in flight. A
///   fetch whose task panics, or whose tokio runtime shuts down mid-fetch, is forgotten: its
///   waiters get a 503 (or the held set within `stale-if-error`) and the next lookup fetches
///   again.
/// - **A new kid is one refetch.** A kid the cached set does not hold makes the set be fetched
///   again — a key rotation shows up as a new kid — but at most once per
///   [`refetch_cooldown`](JwksPolicy::refetch_cooldown), whether the set is fresh or stale (a
///   server that allows no caching, or one that is down): however many tokens name unknown
///   kids, the server sees one request per cooldown, and the others are answered "not found"
///   (401) at once (503 when the set is down and too old to answer), or wait for the refetch
///   already in flight.
/// - **A JWK's `alg` is kept.** A key whose JWK names an `alg` verifies that algorithm only
///   ([`Jwk`]); one without verifies every algorithm of its type.
/// - **A maximum age.** A set is used for at most [`max_age`](JwksPolicy::max_age) after it
///   was fetched, whatever its `Cache-Control` asks and however long refreshes fail
///   (`stale-if-error`): past it, a set that cannot be refreshed is no longer trusted and
///   lookups fail with [`KeySourceError::Unavailable`] (503). A kid removed from the published
///   set therefore stops verifying at the next refresh, and at the latest after `max_age`.
/// - **A failure is remembered** for [`error_ttl`](CachePolicy::error_ttl), so a server that
///   is down is not asked again on every request.
/// - **Bounded memory.** One set of at most [`MAX_JWKS_KEYS`] keys per source, whatever the
///   server sends; [`for_url`](JwksKeySource::for_url) makes a source for another URL (a user's
///   own key set) sharing this one's HTTP client and settings.
///
/// A set that is not a valid [`JwkSet`] (a private member, an unknown `kty`, duplicate kids,
/// weak RSA…) is a failure of the server ([`FetchError::InvalidKeySet`]): the previous set
/// keeps answering within `stale-if-error`.
///
/// The kids of a JWK set are opaque names of keys, not ASAP's `<issuer>/<key name>`: the ASAP
/// kid-ownership rule has no meaning for them, and a profile that uses a key set (Forge)
/// checks its issuer by other means. A kid must still be a valid [`KeyId`].
///
/// ```no_run
/// use std::time::Duration;
/// use asap_keys::{JwksKeySource, JwksPolicy};
///
/// let mut policy = JwksPolicy::default();
/// policy.refetch_cooldown = Duration::from_secs(60);
/// let keys = JwksKeySource::builder("https://issuer.example/.well-known/jwks.json")
///     .policy(policy)
///     .build()?;
/// // Another set with the same client and settings (a user's own JWKS URL, say).
/// let user_keys = keys.for_url("https://users.example/ann/jwks.json")?;
/// # Ok::<(), asap_keys::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct JwksKeySource {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    allow_insecure_loopback: bool,
    get: Arc<HttpGet>,
    cache: CachePolicy,
    policy: JwksPolicy,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    flight: SingleFlight<Result<(), FetchError>, ()>,
}

/// What the source holds between lookups.
#[derive(Default)]
struct State {
    set: Option<Loaded>,
    /// When the last refetch for an unknown kid started (clock seconds).
    kid_refetch_at: Option<i64>,
    /// The last failure and until when it is the answer.
    failure: Option<(FetchError, i64)>,
}

/// A fetched set and how long it may be used, in clock seconds, every window ending at the
/// latest at `fetched_at + max_age`.
struct Loaded {
    set: Arc<JwkSet>,
    /// When it was fetched: the lookups that waited for this fetch answer from it even when the
    /// server allowed no caching at all (`no-store`, `max-age=0`).
    fetched_at: i64,
    fresh_until: i64,
    revalidate_until: i64,
    serve_on_error_until: i64,
}

impl Loaded {
    fn new(set: JwkSet, lifetimes: Lifetimes, now: i64, max_age: i64) -> Loaded {
        let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let trusted_until = now.saturating_add(max_age);
        let fresh_until = now.saturating_add(secs(lifetimes.fresh)).min(trusted_until);
        Loaded {
            set: Arc::new(set),
            fetched_at: now,
            fresh_until,
            revalidate_until: fresh_until
                .saturating_add(secs(lifetimes.stale_while_revalidate))
                .min(trusted_until),
            serve_on_error_until: fresh_until
                .saturating_add(secs(lifetimes.stale_if_error))
                .min(trusted_until),
        }
    }
}

/// What a lookup does after reading the state.
enum Step {
    Answer(Result<Arc<PublicKey>, KeySourceError>),
    /// Wait for the fetch, then look again.
    Wait(SharedFetch<Result<(), FetchError>>),
}

impl fmt::Debug for JwksKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksKeySource")
            .field("url", &self.inner.url)
            .field("timeout", &self.inner.get.timeout)
            .field("cache", &self.inner.cache)
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

impl JwksKeySource {
    /// The URL of the key set.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The set as last fetched, if one is held (however stale).
    pub fn key_set(&self) -> Option<Arc<JwkSet>> {
        self.inner.lock().set.as_ref().map(|loaded| loaded.set.clone())
    }

    /// A source for the key set at `url` with this source's HTTP client, settings and clock,
    /// and nothing cached: for many key sets of one kind (one per user, say), one client.
    pub fn for_url(&self, url: &str) -> Result<JwksKeySource, crate::ConfigError> {
        let allow_insecure_loopback = self.inner.allow_insecure_loopback;
        let url = crate::http::checked_url(url, allow_insecure_loopback)?;
        Ok(JwksKeySource::from_parts(
            url.to_string(),
            allow_insecure_loopback,
            self.inner.get.clone(),
            self.inner.cache,
            self.inner.policy,
            self.inner.clock.clone(),
        ))
    }

    fn from_parts(
        url: String,
        allow_insecure_loopback: bool,
        get: Arc<HttpGet>,
        cache: CachePolicy,
        policy: JwksPolicy,
        clock: Arc<dyn Clock>,
    ) -> JwksKeySource {
        JwksKeySource {
            inner: Arc::new(Inner {
                url,
                allow_insecure_loopback,
                get,
                cache,
                policy,
                clock,
                state: Mutex::new(State::default()),
                flight: SingleFlight::new(),
            }),
        }
    }

    /// Fetches the set now, or joins the fetch in flight: to warm a source at start-up so that
    /// lookups are answered from the cache. A failure is remembered as a lookup's would be.
    ///
    /// # Errors
    ///
    /// [`KeySourceError::Unavailable`] when the set cannot be fetched or is not acceptable.
    pub async fn refresh(&self) -> Result<(), KeySourceError> {
        let step = {
            let mut state = self.inner.lock();
            match self.inner.flight.join(&()) {
                Some(fetch) => Step::Wait(fetch),
                None => self.inner.start(&mut state),
            }
        };
        match step {
            Step::Wait(fetch) => fetch.await.map_err(|e| KeySourceError::Unavailable(Box::new(e))),
            Step::Answer(answer) => answer.map(|_| ()),
        }
    }

    async fn lookup(&self, kid: &KeyId) -> Result<Arc<PublicKey>, KeySourceError> {
        // At most two rounds: the set as held (or fetched), then once more after a refetch
        // for an unknown kid.
        let mut waited = false;
        let mut failed = None;
        loop {
            match self.inner.step(kid, waited, failed.as_ref()) {
                Step::Answer(answer) => return answer,
                Step::Wait(fetch) => {
                    // The outcome is in the state; read it from there. The error is kept for
                    // a fetch that stored nothing (its task panicked or its runtime shut down).
                    failed = fetch.await.err();
                    waited = true;
                }
            }
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Decides under the lock, so that however many lookups run at once, one of them starts a
    /// fetch and the cooldown is read and set in one step. `failed` is how the fetch this
    /// lookup waited for failed, if it did.
    fn step(self: &Arc<Self>, kid: &KeyId, waited: bool, failed: Option<&FetchError>) -> Step {
        let now = self.clock.now();
        let mut state = self.lock();
        let unavailable =
            |error: &FetchError| Step::Answer(Err(KeySourceError::Unavailable(Box::new(error.clone()))));
        if let Some(loaded) = &state.set {
            let found = loaded.set.get(kid).map(|jwk| jwk.key().clone());
            // The set the fetch this lookup waited for has just stored (within the clock's
            // second), whatever freshness the server gave it.
            let just_fetched =
                waited && state.failure.is_none() && now <= loaded.fetched_at.saturating_add(1);
            if now < loaded.fresh_until || just_fetched || (waited && now < loaded.serve_on_error_until) {
                return match found {
                    Some(key) => Step::Answer(Ok(key)),
                    None if waited => Step::Answer(Err(KeySourceError::NotFound(kid.clone()))),
                    None => self.refetch_for_unknown_kid(&mut state, kid, now),
                };
            }
            if now < loaded.revalidate_until
                && let Some(key) = found
            {
                // stale-while-revalidate: answer now, refresh in the background.
                if self.flight.join(&()).is_none() && !state.failed_recently(now) {
                    let _ = self.start(&mut state);
                }
                return Step::Answer(Ok(key));
            }
            if found.is_none() && !waited {
                // A kid the held set lacks, the set stale: the cooldown holds as when it is
                // fresh, or a server that allows no caching (or is down) would be asked once
                // per token that names a made-up kid.
                return self.refetch_for_unknown_kid(&mut state, kid, now);
            }
        }
        if waited {
            // The fetch this lookup waited for failed, and nothing held may answer. A fetch
            // abandoned unfinished stored no failure: its error is a 503 (the next lookup
            // fetches again), not "not found".
            return match state.failure.as_ref().map(|(error, _)| error).or(failed) {
                Some(error) => unavailable(error),
                None => Step::Answer(Err(KeySourceError::NotFound(kid.clone()))),
            };
        }
        if let Some(fetch) = self.flight.join(&()) {
            return Step::Wait(fetch);
        }
        if state.failed_recently(now) {
            return match &state.failure {
                Some((error, _)) => self.answer_on_error(&state, kid, error, now),
                None => Step::Answer(Err(KeySourceError::NotFound(kid.clone()))),
            };
        }
        self.start(&mut state)
    }

    /// A kid the held set does not hold, fresh or stale: one refetch per cooldown, shared by
    /// every lookup that arrives while it runs; for the rest "not found", or the failure when
    /// the set is down and nothing held may answer.
    fn refetch_for_unknown_kid(self: &Arc<Self>, state: &mut State, kid: &KeyId, now: i64) -> Step {
        if let Some(fetch) = self.flight.join(&()) {
            return Step::Wait(fetch);
        }
        let cooldown = i64::try_from(self.policy.refetch_cooldown.as_secs()).unwrap_or(i64::MAX);
        let cooling = state
            .kid_refetch_at
            .is_some_and(|at| now < at.saturating_add(cooldown));
        if cooling || state.failed_recently(now) {
            return match &state.failure {
                Some((error, _)) => self.answer_on_error(state, kid, error, now),
                None => Step::Answer(Err(KeySourceError::NotFound(kid.clone()))),
            };
        }
        state.kid_refetch_at = Some(now);
        tracing::debug!(url = %self.url, %kid, "unknown kid; fetching the key set again");
        self.start(state)
    }

    /// stale-if-error: the key from a set that may still be served, else 503.
    fn answer_on_error(&self, state: &State, kid: &KeyId, error: &FetchError, now: i64) -> Step {
        match &state.set {
            Some(loaded) if now < loaded.serve_on_error_until => Step::Answer(
                loaded
                    .set
                    .get(kid)
                    .map(|jwk| jwk.key().clone())
                    .ok_or_else(|| KeySourceError::NotFound(kid.clone())),
            ),
            _ => Step::Answer(Err(KeySourceError::Unavailable(Box::new(error.clone())))),
        }
    }

    /// Starts the one fetch of the set. Takes the state to show that it is called under the
    /// lock, so that no second lookup can decide to start one meanwhile.
    fn start(self: &Arc<Self>, _state: &mut State) -> Step {
        let task = {
            let inner = self.clone();
            async move { inner.fetch_and_store().await }
        };
        let url = self.url.clone();
        match self.flight.start(
            &(),
            || Ok::<(), Infallible>(()),
            task,
            move |abandoned| {
                Err(FetchError::Transport {
                    url,
                    source: Arc::new(abandoned),
                })
            },
        ) {
            Ok(fetch) => Step::Wait(fetch),
            Err(_) => Step::Answer(Err(KeySourceError::Unavailable(
                "the JWKS key source needs a tokio runtime".into(),
            ))),
        }
    }

    async fn fetch_and_store(&self) -> Result<(), FetchError> {
        tracing::debug!(url = %self.url, "fetching the key set");
        let fetched = self.fetch().await;
        let now = self.clock.now();
        let mut state = self.lock();
        match fetched {
            Ok((set, directives, age)) => {
                let max_age = i64::try_from(self.policy.max_age.as_secs()).unwrap_or(i64::MAX);
                let lifetimes = self.cache.lifetimes(&directives, age);
                state.set = Some(Loaded::new(set, lifetimes, now, max_age));
                state.failure = None;
                Ok(())
            }
            Err(error) => {
                tracing::warn!(url = %self.url, %error, "the key set cannot be fetched");
                let ttl = i64::try_from(self.cache.error_ttl.as_secs()).unwrap_or(i64::MAX);
                state.failure = Some((error.clone(), now.saturating_add(ttl)));
                Err(error)
            }
        }
    }

    async fn fetch(&self) -> Result<(JwkSet, Directives, u64), FetchError> {
        match self.get.get(&self.url).await? {
            Response::Body {
                body,
                directives,
                age,
            } => {
                let set = JwkSet::parse(&body).map_err(|source| FetchError::InvalidKeySet {
                    url: self.url.clone(),
                    source,
                })?;
                Ok((set, directives, age))
            }
            // The set itself is missing: the server's trouble, not the token's.
            Response::NotFound => Err(FetchError::Status {
                url: self.url.clone(),
                status: 404,
            }),
        }
    }
}

impl State {
    fn failed_recently(&self, now: i64) -> bool {
        self.failure.as_ref().is_some_and(|(_, until)| now < *until)
    }
}

impl PublicKeySource for JwksKeySource {
    fn public_key<'a>(&'a self, kid: &'a KeyId) -> KeyFuture<'a> {
        Box::pin(self.lookup(kid))
    }
}

/// The media types a JWK set is accepted with.
pub(crate) fn jwks_content_types() -> Vec<String> {
    vec![JWKS_CONTENT_TYPE.to_owned(), "application/json".to_owned()]
}
