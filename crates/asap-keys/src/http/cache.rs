//! What the repository client remembers: keys, with HTTP caching semantics (RFC 9111
//! `max-age`, RFC 5861 `stale-while-revalidate` and `stale-if-error`), and negative answers
//! (not found, unacceptable key, every repository failed), each in its own bounded cache so
//! made-up kids cannot push good keys out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use asap_core::{KeyError, KeyId, KeySourceError, PublicKey};

use crate::error::FetchError;

/// How long a key repository's answers are kept, and how many: the defaults apply when the
/// repository sends no `Cache-Control` directive, and the caps bound what it may ask for. A
/// duration counts at most a hundred years, so `Duration::MAX` means "no cap".
///
/// ```
/// use std::time::Duration;
/// let mut policy = asap_keys::CachePolicy::default();
/// policy.negative_ttl = Duration::from_secs(10);
/// let keys = asap_keys::HttpKeyRepository::builder("https://keys.example.com/")
///     .cache_policy(policy)
///     .build()?;
/// # Ok::<(), asap_keys::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CachePolicy {
    /// The freshness used when a response has no `max-age`; default 300 s.
    pub default_max_age: Duration,
    /// The longest freshness a repository can ask for; default 1 day.
    pub max_age_cap: Duration,
    /// The `stale-while-revalidate` window used when a response has none: a stale key is
    /// answered at once while one background refresh runs; default 60 s.
    pub default_stale_while_revalidate: Duration,
    /// The longest `stale-while-revalidate` window honoured; default 1 hour.
    pub stale_while_revalidate_cap: Duration,
    /// The `stale-if-error` window used when a response has none: a stale key is answered
    /// while every repository fails; default 1 hour.
    pub default_stale_if_error: Duration,
    /// The longest `stale-if-error` window honoured: the bound on how long a cached key keeps
    /// answering while every repository is down; default 1 day.
    pub stale_if_error_cap: Duration,
    /// How long a 404/403/410 or an unacceptable key is remembered; default 30 s.
    pub negative_ttl: Duration,
    /// After every repository failed for a kid, how long that failure is the answer (a stale
    /// key where one may be served, a 503 otherwise) before the repositories are asked again;
    /// default 5 s.
    pub error_ttl: Duration,
    /// The most keys kept; default 10 000.
    pub max_keys: u64,
    /// The most negative answers kept, apart from the keys so that they cannot evict them;
    /// default 10 000.
    pub max_negative: u64,
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
            error_ttl: Duration::from_secs(5),
            max_keys: 10_000,
            max_negative: 10_000,
        }
    }
}

/// The longest any answer is kept, whatever the policy and the response ask for: a hundred
/// years, which an `Instant` can always hold (`Duration::MAX` could not be added to one).
const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `now` plus `by`, counting at most [`LONGEST`].
fn later(now: Instant, by: Duration) -> Instant {
    now + by.min(LONGEST)
}

/// How long one response may be used, from when it was received: fresh for `fresh`, then
/// served stale while one refresh runs for `stale_while_revalidate`, or while every refresh
/// fails for `stale_if_error` (both counted from the end of freshness).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lifetimes {
    pub(crate) fresh: Duration,
    pub(crate) stale_while_revalidate: Duration,
    pub(crate) stale_if_error: Duration,
}

impl CachePolicy {
    /// The lifetimes a response's `Cache-Control` (and `Age`) ask for, within this policy's
    /// caps: the one reading of HTTP caching for every key document.
    pub(crate) fn lifetimes(&self, d: &Directives, age: u64) -> Lifetimes {
        let pick = |given: Option<u64>, default: Duration, cap: Duration| {
            given.map_or(default, Duration::from_secs).min(cap)
        };
        let fresh = if d.no_store || d.no_cache {
            Duration::ZERO
        } else {
            pick(d.max_age, self.default_max_age, self.max_age_cap).saturating_sub(Duration::from_secs(age))
        };
        // must-revalidate forbids serving a stale response, no-store forbids keeping one.
        let (stale_while_revalidate, stale_if_error) = if d.no_store || d.must_revalidate {
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
        Lifetimes {
            fresh,
            stale_while_revalidate,
            stale_if_error,
        }
    }
}

/// The `Cache-Control` directives this client acts on.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Directives {
    max_age: Option<u64>,
    stale_while_revalidate: Option<u64>,
    stale_if_error: Option<u64>,
    no_store: bool,
    no_cache: bool,
    must_revalidate: bool,
}

impl Directives {
    pub(crate) fn parse<'a>(values: impl Iterator<Item = &'a str>) -> Directives {
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

/// A key and how long it may be used.
#[derive(Clone)]
pub(super) struct CachedKey {
    pub(super) key: Arc<PublicKey>,
    /// Served without asking the repository until then (`max-age`).
    fresh_until: Instant,
    /// Served at once while a background refresh runs until then (`stale-while-revalidate`).
    revalidate_until: Instant,
    /// Served when every repository fails until then (`stale-if-error`).
    serve_on_error_until: Instant,
}

impl CachedKey {
    /// Whether the key may answer now although the repositories failed: within its
    /// `stale-while-revalidate` window it may be served anyway, within `stale-if-error` it
    /// may be served because they failed.
    fn usable_on_error(&self, now: Instant) -> bool {
        now < self.deadline()
    }
}

/// What the repositories answered for a kid, ready to cache.
#[derive(Clone)]
pub(super) enum Answer {
    Key(CachedKey),
    NotFound,
    Invalid(KeyError),
}

impl Answer {
    pub(super) fn to_result(&self, kid: &KeyId) -> Result<Arc<PublicKey>, KeySourceError> {
        match self {
            Answer::Key(cached) => Ok(cached.key.clone()),
            Answer::NotFound => Err(KeySourceError::NotFound(kid.clone())),
            Answer::Invalid(error) => Err(KeySourceError::InvalidKey {
                kid: kid.clone(),
                source: error.clone(),
            }),
        }
    }
}

/// An answer that is not a key, until it expires.
#[derive(Clone)]
struct Negative {
    /// `Err` when every repository failed.
    answer: Result<Answer, FetchError>,
    until: Instant,
}

/// What the cache can do for a lookup.
pub(super) enum Decision {
    /// The answer, without asking a repository.
    Answer(Result<Arc<PublicKey>, KeySourceError>),
    /// A stale key to answer at once, while one background refresh runs.
    Revalidate(Arc<PublicKey>),
    /// Nothing usable: fetch, and wait.
    Fetch,
}

/// The cached state of one kid, as read at `at`.
pub(super) struct Cached {
    key: Option<CachedKey>,
    /// Not read when `key` is fresh at `at`: a fresh key is the answer whatever else is cached.
    negative: Option<Negative>,
    at: Instant,
}

impl Cached {
    /// Whether a key is cached, however stale: its refresh is not a lookup of an unknown kid.
    pub(super) fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// What to do at the time the cache was read: a fresh key first (a key fetched after a
    /// 404 is served at once), then a negative answer, then a stale key.
    pub(super) fn decide(&self, kid: &KeyId) -> Decision {
        let now = self.at;
        if let Some(cached) = self.key.as_ref().filter(|c| now < c.fresh_until) {
            return Decision::Answer(Ok(cached.key.clone()));
        }
        if let Some(negative) = self.negative.as_ref().filter(|n| now < n.until) {
            return Decision::Answer(match &negative.answer {
                Ok(answer) => answer.to_result(kid),
                // A failure moments ago: do not hammer a repository that is down.
                Err(error) => self.on_error(error, now),
            });
        }
        match &self.key {
            Some(cached) if now < cached.revalidate_until => Decision::Revalidate(cached.key.clone()),
            _ => Decision::Fetch,
        }
    }

    /// The answer when every repository failed: a stale key where one may be served.
    pub(super) fn on_error(
        &self,
        error: &FetchError,
        now: Instant,
    ) -> Result<Arc<PublicKey>, KeySourceError> {
        match &self.key {
            Some(cached) if cached.usable_on_error(now) => Ok(cached.key.clone()),
            _ => Err(KeySourceError::Unavailable(Box::new(error.clone()))),
        }
    }
}

/// Cached values that know when the cache may drop them.
trait Deadline {
    fn deadline(&self) -> Instant;
}

impl Deadline for CachedKey {
    /// Past both stale windows the key is of no use.
    fn deadline(&self) -> Instant {
        self.revalidate_until.max(self.serve_on_error_until)
    }
}

impl Deadline for Negative {
    fn deadline(&self) -> Instant {
        self.until
    }
}

/// Drops each value at its deadline.
struct AtDeadline;

impl<V: Deadline> moka::Expiry<KeyId, V> for AtDeadline {
    fn expire_after_create(&self, _: &KeyId, value: &V, created_at: Instant) -> Option<Duration> {
        Some(value.deadline().saturating_duration_since(created_at))
    }

    fn expire_after_update(
        &self,
        _: &KeyId,
        value: &V,
        updated_at: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.deadline().saturating_duration_since(updated_at))
    }
}

/// Keys and negative answers, apart.
pub(super) struct AnswerCache {
    policy: CachePolicy,
    keys: moka::future::Cache<KeyId, CachedKey>,
    negative: moka::future::Cache<KeyId, Negative>,
}

impl AnswerCache {
    pub(super) fn new(policy: CachePolicy) -> AnswerCache {
        AnswerCache {
            policy,
            keys: moka::future::Cache::builder()
                .max_capacity(policy.max_keys)
                .expire_after(AtDeadline)
                .build(),
            negative: moka::future::Cache::builder()
                .max_capacity(policy.max_negative)
                .expire_after(AtDeadline)
                .build(),
        }
    }

    pub(super) fn policy(&self) -> &CachePolicy {
        &self.policy
    }

    /// What is cached for `kid` now. The negative answers are read only when no fresh key
    /// answers (the lookup of every valid token), since [`Cached::decide`] puts a fresh key first.
    pub(super) async fn get(&self, kid: &KeyId) -> Cached {
        let at = Instant::now();
        let key = self.keys.get(kid).await;
        let negative = match &key {
            Some(cached) if at < cached.fresh_until => None,
            _ => self.negative.get(kid).await,
        };
        Cached { key, negative, at }
    }

    /// A fetched key with the lifetimes its `Cache-Control` (and `Age`) ask for, within the
    /// policy's caps.
    pub(super) fn key(&self, key: Arc<PublicKey>, d: &Directives, age: u64, now: Instant) -> CachedKey {
        let lifetimes = self.policy.lifetimes(d, age);
        let fresh_until = later(now, lifetimes.fresh);
        CachedKey {
            key,
            fresh_until,
            revalidate_until: later(fresh_until, lifetimes.stale_while_revalidate),
            serve_on_error_until: later(fresh_until, lifetimes.stale_if_error),
        }
    }

    /// Remembers what the repositories answered. A key replaces any negative answer and a
    /// negative answer any key (the key was withdrawn); a failure leaves the key, for
    /// `stale-if-error`.
    pub(super) async fn store(&self, kid: &KeyId, outcome: &Result<Answer, FetchError>, now: Instant) {
        let ttl = match outcome {
            Ok(Answer::Key(cached)) => {
                self.keys.insert(kid.clone(), cached.clone()).await;
                self.negative.invalidate(kid).await;
                return;
            }
            Ok(Answer::NotFound | Answer::Invalid(_)) => {
                self.keys.invalidate(kid).await;
                self.policy.negative_ttl
            }
            Err(_) => self.policy.error_ttl,
        };
        let negative = Negative {
            answer: outcome.clone(),
            until: later(now, ttl),
        };
        self.negative.insert(kid.clone(), negative).await;
    }

    pub(super) async fn key_count(&self) -> u64 {
        self.keys.run_pending_tasks().await;
        self.keys.entry_count()
    }

    pub(super) async fn negative_count(&self) -> u64 {
        self.negative.run_pending_tasks().await;
        self.negative.entry_count()
    }

    pub(super) fn clear(&self) {
        self.keys.invalidate_all();
        self.negative.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p256() -> Arc<PublicKey> {
        Arc::new(
            asap_core::PrivateKey::generate(asap_core::KeySpec::Curve(asap_core::KeyKind::P256))
                .and_then(|k| k.public_key())
                .expect("key"),
        )
    }

    async fn answer(cache: &AnswerCache, kid: &KeyId) -> Option<Result<Arc<PublicKey>, KeySourceError>> {
        match cache.get(kid).await.decide(kid) {
            Decision::Answer(answer) => Some(answer),
            Decision::Revalidate(_) | Decision::Fetch => None,
        }
    }

    #[tokio::test]
    async fn a_key_fetched_after_a_404_is_the_answer_and_a_failure_does_not_hide_a_fresh_key() {
        let cache = AnswerCache::new(CachePolicy::default());
        let kid = KeyId::parse("billing/k1").expect("kid");
        cache.store(&kid, &Ok(Answer::NotFound), Instant::now()).await;
        let answered = answer(&cache, &kid).await;
        assert!(
            matches!(answered, Some(Err(KeySourceError::NotFound(_)))),
            "{answered:?}"
        );

        let key = p256();
        let fetched = Answer::Key(cache.key(key.clone(), &Directives::default(), 0, Instant::now()));
        cache.store(&kid, &Ok(fetched), Instant::now()).await;
        assert_eq!(answer(&cache, &kid).await.and_then(Result::ok), Some(key.clone()));

        // A failure is remembered beside the key (for stale-if-error); a fresh key still answers.
        let failed = Err(FetchError::Status {
            url: "https://keys.example/billing/k1".into(),
            status: 500,
        });
        cache.store(&kid, &failed, Instant::now()).await;
        assert_eq!(answer(&cache, &kid).await.and_then(Result::ok), Some(key));
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
        let cache = AnswerCache::new(CachePolicy::default());
        let policy = *cache.policy();
        let key = Arc::new(
            asap_core::PrivateKey::generate(asap_core::KeySpec::Curve(asap_core::KeyKind::P256))
                .and_then(|k| k.public_key())
                .expect("key"),
        );
        let now = Instant::now();
        let entry = cache.key(key.clone(), &Directives::default(), 0, now);
        assert_eq!(entry.fresh_until - now, policy.default_max_age);
        assert_eq!(
            entry.revalidate_until - entry.fresh_until,
            policy.default_stale_while_revalidate
        );
        assert_eq!(
            entry.serve_on_error_until - entry.fresh_until,
            policy.default_stale_if_error
        );

        let huge = Directives {
            max_age: Some(u64::MAX / 4),
            stale_if_error: Some(10_000_000),
            ..Directives::default()
        };
        let entry = cache.key(key.clone(), &huge, 100, now);
        assert_eq!(
            entry.fresh_until - now,
            policy.max_age_cap - Duration::from_secs(100)
        );
        assert_eq!(
            entry.serve_on_error_until - entry.fresh_until,
            policy.stale_if_error_cap
        );

        let strict = Directives {
            max_age: Some(60),
            must_revalidate: true,
            ..Directives::default()
        };
        let entry = cache.key(key, &strict, 0, now);
        assert_eq!(entry.revalidate_until, entry.fresh_until);
        assert_eq!(entry.serve_on_error_until, entry.fresh_until);
    }

    /// `Duration::MAX` as a cap ("no cap") with a repository asking for `max-age` of 2⁶⁴ − 1
    /// seconds: the key is kept for a hundred years instead of the fetch panicking (an
    /// `Instant` cannot hold `now + Duration::MAX`).
    #[test]
    fn caps_of_duration_max_keep_an_answer_for_a_century() {
        let policy = CachePolicy {
            max_age_cap: Duration::MAX,
            stale_while_revalidate_cap: Duration::MAX,
            stale_if_error_cap: Duration::MAX,
            negative_ttl: Duration::MAX,
            ..CachePolicy::default()
        };
        let cache = AnswerCache::new(policy);
        let key = Arc::new(
            asap_core::PrivateKey::generate(asap_core::KeySpec::Curve(asap_core::KeyKind::P256))
                .and_then(|k| k.public_key())
                .expect("key"),
        );
        let endless = Directives {
            max_age: Some(u64::MAX),
            stale_while_revalidate: Some(u64::MAX),
            stale_if_error: Some(u64::MAX),
            ..Directives::default()
        };
        let now = Instant::now();
        let entry = cache.key(key, &endless, 0, now);
        assert_eq!(entry.fresh_until - now, LONGEST);
        assert_eq!(entry.serve_on_error_until - entry.fresh_until, LONGEST);
        assert_eq!(later(now, policy.negative_ttl) - now, LONGEST);
    }
}
