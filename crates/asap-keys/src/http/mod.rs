//! The HTTP(S) public key repository client: `GET <base>/<kid>` for a PEM public key, with
//! failover across mirrors, an HTTP-semantics cache, one fetch per kid at a time and a budget
//! for fetches of kids nobody has seen.
//!
//! By concern: [`builder`] configures, [`url`] says which repository URLs are acceptable,
//! [`env`] reads them from the environment, [`fetch`] asks the repositories in order,
//! [`cache`] remembers their answers, [`budget`] bounds what lookups may cost upstream and
//! [`single_flight`] shares one fetch between the lookups that wait for it; this module ties
//! them into one lookup. [`client`], the bounded download of [`fetch`], the `Cache-Control`
//! reading of [`cache`] and [`single_flight`] serve the JWKS key source too, so both fetch keys
//! by the same rules.

mod budget;
mod builder;
mod cache;
mod client;
mod env;
mod fetch;
mod single_flight;
mod url;

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use asap_core::{KeyFuture, KeyId, KeySourceError, PublicKey, PublicKeySource};

pub use budget::{BudgetScope, FetchBudget};
pub use builder::HttpKeyRepositoryBuilder;
pub use cache::CachePolicy;
pub use env::{ENV_FALLBACK_REPOSITORY_URL, ENV_REPOSITORY_URL};
pub use fetch::{MAX_KEY_BODY_BYTES, PEM_CONTENT_TYPE};
pub use url::is_loopback;

pub(crate) use cache::{Directives, Lifetimes};
pub(crate) use client::ClientSettings;
pub(crate) use fetch::{HttpGet, Response};
pub(crate) use single_flight::{NotStarted, SharedFetch, SingleFlight};
pub(crate) use url::checked_url;

use crate::error::FetchError;
use crate::metrics::CacheLookup;
use budget::Budgets;
use cache::{Answer, AnswerCache, Cached, Decision};
use fetch::{Fetched, Fetcher};

/// A public key repository reached over HTTPS: `GET <base-url>/<kid>` answers the PEM public
/// key published for the kid.
///
/// What it guarantees (each has a test):
///
/// - **Where it connects.** `https` only; plain `http` only to a loopback address
///   ([`is_loopback`]), and only with
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
/// - **Failover.** Repositories are tried in order. 404, 410 and 403 mean the key is not
///   published: that is answered at once ([`KeySourceError::NotFound`], HTTP 401), unless
///   [`failover_on_not_found`](HttpKeyRepositoryBuilder::failover_on_not_found) is set. Every
///   other failure is the repository's, and the next one is tried: a connection error, a
///   timeout, a 5xx or 429, a redirect, another 4xx, a wrong `Content-Type`, a body too large.
/// - **Caching.** `Cache-Control: max-age`, `stale-while-revalidate` and `stale-if-error` are
///   honoured within the [`CachePolicy`]; a stale key within `stale-while-revalidate` is
///   answered at once while one background refresh runs; within `stale-if-error` it is
///   answered while every repository fails. Negative answers are kept too: not found and
///   unacceptable keys for [`negative_ttl`](CachePolicy::negative_ttl) (30 s), a failure of
///   every repository for [`error_ttl`](CachePolicy::error_ttl) (5 s). Keys and negative
///   answers are bounded apart ([`max_keys`](CachePolicy::max_keys),
///   [`max_negative`](CachePolicy::max_negative)), so made-up kids cannot evict good keys.
/// - **Single flight.** However many lookups wait for the same kid, one request is sent. A
///   fetch whose task panics, or whose tokio runtime shuts down mid-fetch, fails its waiters
///   with [`KeySourceError::Unavailable`] (a stale key within `stale-if-error` still answers)
///   and is forgotten: the next lookup fetches again.
/// - **Budget.** Each issuer may cause a burst of fetches for kids with no cached key, then
///   one per interval, and only so many fetches run at once ([`FetchBudget`]): a caller that
///   makes up kids for an allowed issuer costs the repositories a bounded number of requests.
///   A key within `stale-if-error` is answered when no fetch is admitted, as when every
///   repository fails.
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

/// What one fetch for a kid came to, shared by every lookup that waited for it.
type FetchOutcome = Result<Answer, FetchError>;

struct Inner {
    fetcher: Fetcher,
    cache: AnswerCache,
    budgets: Budgets,
    flights: SingleFlight<FetchOutcome>,
}

impl fmt::Debug for HttpKeyRepository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("HttpKeyRepository")
            .field("repositories", &inner.fetcher.bases)
            .field("timeout", &inner.fetcher.get.timeout)
            .field("failover_on_not_found", &inner.fetcher.failover_on_not_found)
            .field("policy", inner.cache.policy())
            .field("budget", inner.budgets.budget())
            .finish_non_exhaustive()
    }
}

impl HttpKeyRepository {
    /// The repository base URLs in failover order, each with one trailing `/`.
    pub fn repositories(&self) -> &[String] {
        &self.inner.fetcher.bases
    }

    /// How many kids have a cached key, at most [`CachePolicy::max_keys`].
    pub async fn cached_keys(&self) -> u64 {
        self.inner.cache.key_count().await
    }

    /// How many kids have a cached negative answer (not found, unacceptable key, every
    /// repository failed), at most [`CachePolicy::max_negative`].
    pub async fn cached_negative_answers(&self) -> u64 {
        self.inner.cache.negative_count().await
    }

    /// Forgets every cached answer.
    pub fn clear_cache(&self) {
        self.inner.cache.clear();
    }

    async fn lookup(&self, kid: &KeyId) -> Result<Arc<PublicKey>, KeySourceError> {
        let inner = &self.inner;
        if let Some(answer) = inner.answer_from_cache(kid, &inner.cache.get(kid).await) {
            return answer;
        }
        let fetch = match inner.flights.join(kid) {
            Some(fetch) => fetch,
            None => {
                // A fetch may have filled the cache between the read above and now.
                let cached = inner.cache.get(kid).await;
                if let Some(answer) = inner.answer_from_cache(kid, &cached) {
                    return answer;
                }
                match inner.start_fetch(kid, !cached.has_key()) {
                    Ok(fetch) => fetch,
                    // A full fetch pool is the repositories' unavailability as far as this
                    // lookup goes: stale-if-error applies, as when every repository fails. (A
                    // spent issuer budget only refuses kids with no cached key.)
                    Err(Refused::Budget(error)) => {
                        let answer = cached.on_error(&error, Instant::now());
                        if answer.is_ok() {
                            tracing::warn!(%kid, %error, "no fetch admitted; answering with the cached key");
                        }
                        return answer;
                    }
                    Err(refused) => return Err(refused.into()),
                }
            }
        };
        crate::metrics::key_cache_lookup(CacheLookup::Miss);
        match fetch.await {
            Ok(answer) => answer.to_result(kid),
            // stale-if-error: the key, if it may still be served.
            Err(error) => {
                let answer = inner.cache.get(kid).await.on_error(&error, Instant::now());
                if answer.is_ok() {
                    tracing::warn!(%kid, %error, "key repository failed; answering with the cached key");
                }
                answer
            }
        }
    }
}

impl Inner {
    /// The answer the cache can give now without waiting for a fetch, if any; starts a
    /// background refresh for a key within `stale-while-revalidate`.
    fn answer_from_cache(
        self: &Arc<Self>,
        kid: &KeyId,
        cached: &Cached,
    ) -> Option<Result<Arc<PublicKey>, KeySourceError>> {
        match cached.decide(kid) {
            Decision::Answer(answer) => {
                let found = if answer.is_ok() {
                    CacheLookup::Hit
                } else {
                    CacheLookup::Negative
                };
                crate::metrics::key_cache_lookup(found);
                Some(answer)
            }
            Decision::Revalidate(key) => {
                crate::metrics::key_cache_lookup(CacheLookup::Stale);
                if let Err(e) = self.start_fetch(kid, false) {
                    tracing::debug!(%kid, error = %KeySourceError::from(e), "no background refresh");
                }
                Some(Ok(key))
            }
            Decision::Fetch => None,
        }
    }

    /// Starts the fetch for `kid` (or joins one that started meanwhile) within the budget; a
    /// kid with no cached key (`unknown`) costs its issuer a token.
    fn start_fetch(
        self: &Arc<Self>,
        kid: &KeyId,
        unknown: bool,
    ) -> Result<SharedFetch<FetchOutcome>, Refused> {
        // The common case, without making a task that would be dropped: `start` decides again
        // under its lock.
        if let Some(fetch) = self.flights.join(kid) {
            return Ok(fetch);
        }
        let url = format!("{}{kid}", self.fetcher.bases[0]);
        let task = {
            let inner = self.clone();
            let kid = kid.clone();
            async move { inner.fetch_and_store(&kid).await }
        };
        // Admitted under the single-flight lock: lookups that join a fetch spend nothing.
        let admit = || self.budgets.admit(kid, unknown, Instant::now());
        let abandoned = move |abandoned| {
            Err(FetchError::Transport {
                url,
                source: Arc::new(abandoned),
            })
        };
        self.flights
            .start(kid, admit, task, abandoned)
            .map_err(|not_started| match not_started {
                NotStarted::Refused(e) => {
                    crate::metrics::budget_refusal(&e);
                    Refused::Budget(e)
                }
                NotStarted::NoRuntime => Refused::NoRuntime,
            })
    }

    async fn fetch_and_store(&self, kid: &KeyId) -> FetchOutcome {
        let fetched = self.fetcher.fetch(kid).await;
        let now = Instant::now();
        let outcome = fetched.map(|fetched| match fetched {
            Fetched::Key { key, directives, age } => Answer::Key(self.cache.key(key, &directives, age, now)),
            Fetched::NotFound => Answer::NotFound,
            Fetched::Invalid(error) => Answer::Invalid(error),
        });
        self.cache.store(kid, &outcome, now).await;
        outcome
    }
}

/// Why no fetch was started.
enum Refused {
    /// The [`FetchBudget`] admits no fetch now.
    Budget(FetchError),
    /// No tokio runtime to run the fetch on.
    NoRuntime,
}

impl From<Refused> for KeySourceError {
    fn from(refused: Refused) -> KeySourceError {
        match refused {
            Refused::Budget(error) => KeySourceError::Unavailable(Box::new(error)),
            Refused::NoRuntime => {
                KeySourceError::Unavailable("the key repository needs a tokio runtime".into())
            }
        }
    }
}

impl PublicKeySource for HttpKeyRepository {
    fn public_key<'a>(&'a self, kid: &'a KeyId) -> KeyFuture<'a> {
        Box::pin(self.lookup(kid))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::FetchBudget;

    /// A fleet switching to a new kid at once sends a herd of first lookups of it: the one that
    /// starts the fetch spends a token of the issuer's budget, and every later one joins that
    /// fetch without spending any (the budget is charged under the single-flight lock), so none
    /// is refused for a budget its own herd spent.
    #[tokio::test(flavor = "current_thread")]
    async fn a_start_of_a_kid_in_flight_joins_it_without_spending_budget() {
        let budget = FetchBudget {
            burst: 1,
            refill_interval: Duration::from_secs(3600),
            ..FetchBudget::default()
        };
        let repo = HttpKeyRepository::builder("https://keys.example.com/")
            .fetch_budget(budget)
            .build()
            .expect("repo");
        let kid = KeyId::parse("billing/new").expect("kid");
        // The fetch task does not run before this test yields: the first stays in flight.
        let Ok(first) = repo.inner.start_fetch(&kid, true) else {
            panic!("the first start is admitted");
        };
        for _ in 0..10 {
            let Ok(joined) = repo.inner.start_fetch(&kid, true) else {
                panic!("a start of a kid in flight is refused");
            };
            assert!(joined.ptr_eq(&first));
        }
        let other = KeyId::parse("billing/other").expect("kid");
        assert!(
            matches!(repo.inner.start_fetch(&other, true), Err(Refused::Budget(_))),
            "the one token was spent"
        );
    }
}
