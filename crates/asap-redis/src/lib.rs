//! # asap-redis
//!
//! Replay protection shared by a fleet: [`RedisReplayGuard`] records each `(iss, jti)` with
//! `SET key NX PX ttl`, so a token accepted by one instance is refused by every other one
//! until it expires (`exp + leeway`, kept [`asap_core::SWEEP_GRACE`] longer). The connection
//! reconnects by itself; while Redis cannot answer, verification fails closed with a 503
//! unless [`WhenUnavailable::Allow`] is chosen.
//!
//! The same guard makes Connect lifecycle callbacks single-use across a fleet:
//! `connect_qsh::LifecycleBuilder::replay_guard`, with its own [`RedisReplayGuard::key_prefix`]
//! (such as `connect:lifecycle:`), and per-user token nonces with [`USER_NONCE_PREFIX`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use asap_core::{Audience, StaticKeySource, Verifier};
//! use asap_redis::RedisReplayGuard;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let guard = RedisReplayGuard::connect("redis://127.0.0.1:6379").await?;
//! let verifier = Verifier::builder(StaticKeySource::new())
//!     .audience(Audience::new("ledger")?)
//!     .replay_guard(Arc::new(guard))
//!     .build()?;
//! # let _ = verifier;
//! # Ok(()) }
//! ```

#![deny(unsafe_code)]

#[cfg(feature = "connect")]
mod tenant;
mod user_nonce;

#[cfg(feature = "connect")]
pub use tenant::{DEFAULT_LINK_PREFIX, DEFAULT_TENANT_PREFIX, RedisTenantStore};
pub use user_nonce::USER_NONCE_PREFIX;

use std::time::Duration;

use asap_core::{ReplayError, ReplayFuture, ReplayGuard, TokenUse};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "asap:jti:";

/// The longest issuer and `jti` together kept readable in a key (see [`RedisReplayGuard::key`]).
pub const READABLE_KEY_BYTES: usize = 256;

/// What to do when Redis cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WhenUnavailable {
    /// Refuse the token (503): a replay can never slip through. The default.
    #[default]
    Refuse,
    /// Accept the token and log a warning while Redis cannot be reached or does not answer in
    /// time: availability over replay protection. A Redis that answers with an error (out of
    /// memory under `noeviction`, a read-only replica) is still refused (503): it is up and may
    /// hold the very use, so accepting would accept every replay while the error lasts.
    Allow,
}

/// Why the guard could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisGuardError {
    /// The URL is not a Redis URL, or the first connection failed.
    #[error("cannot connect to Redis: {0}")]
    Connect(#[source] redis::RedisError),
    /// Redis evicts keys under memory pressure (`maxmemory-policy` is not `noeviction`), or does
    /// not say what it does: an evicted use is a token accepted again, silently, so the guard
    /// refuses to run on it.
    #[error(
        "Redis maxmemory-policy is {policy:?}: it may evict recorded token uses, and an evicted use \
         lets its token be replayed; set maxmemory-policy noeviction"
    )]
    EvictingPolicy {
        /// The policy `INFO memory` reported (empty if it reported none).
        policy: String,
    },
}

/// Timeouts for talking to Redis. Short by default: a verifier should answer 503 quickly rather
/// than hold requests while Redis is away.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Per connection attempt.
    pub connect: Duration,
    /// Per command.
    pub response: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_millis(500),
            response: Duration::from_millis(500),
        }
    }
}

/// A [`ReplayGuard`] on Redis.
#[derive(Clone)]
pub struct RedisReplayGuard {
    connection: ConnectionManager,
    prefix: String,
    when_unavailable: WhenUnavailable,
}

impl std::fmt::Debug for RedisReplayGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReplayGuard")
            .field("prefix", &self.prefix)
            .field("when_unavailable", &self.when_unavailable)
            .finish_non_exhaustive()
    }
}

impl RedisReplayGuard {
    /// Connects to `url` (`redis://host:port/db`, `rediss://…` is not compiled in) with the
    /// default timeouts.
    pub async fn connect(url: &str) -> Result<RedisReplayGuard, RedisGuardError> {
        RedisReplayGuard::connect_with(url, Timeouts::default()).await
    }

    /// Connects with the given timeouts.
    ///
    /// Then asks Redis (`INFO memory`) what it does when full, and refuses to run on one that
    /// evicts ([`RedisGuardError::EvictingPolicy`]): under `volatile-lru` (the default of several
    /// managed services) or any `allkeys-*` or `volatile-*` policy, anyone with a valid key who
    /// fills Redis with fresh tokens makes it drop other callers' recorded uses, and each dropped
    /// use is a token that is accepted again, with no error and no log. Under `noeviction` a
    /// full Redis answers writes with an error: a 503, loud, and never a replay accepted. Size
    /// it for the rate of tokens times their retention (`exp` + leeway + a few seconds).
    pub async fn connect_with(url: &str, timeouts: Timeouts) -> Result<RedisReplayGuard, RedisGuardError> {
        let client = redis::Client::open(url).map_err(RedisGuardError::Connect)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(timeouts.connect)
            .set_response_timeout(timeouts.response)
            // No retry inside a reconnect: redis-rs's backoff adds a jitter of up to its 1 s
            // minimum delay whatever the maximum, so one retry held every command 0.2–1.5 s
            // while Redis was down (`cargo xtask soak` measured it). Without one, a failed
            // reconnect answers at once (503) and the next command starts the next attempt.
            .set_number_of_retries(0);
        let mut connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(RedisGuardError::Connect)?;
        check_eviction_policy(&mut connection).await?;
        Ok(RedisReplayGuard::from_connection(connection))
    }

    /// Uses an existing reconnecting connection. Its eviction policy is not checked (see
    /// [`connect_with`](Self::connect_with)): this is the way to run on a Redis that does not
    /// answer `INFO`, knowing that it never evicts.
    pub fn from_connection(connection: ConnectionManager) -> RedisReplayGuard {
        RedisReplayGuard {
            connection,
            prefix: DEFAULT_PREFIX.to_owned(),
            when_unavailable: WhenUnavailable::Refuse,
        }
    }

    /// The prefix of every key (default `asap:jti:`), to share a Redis with other uses.
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> RedisReplayGuard {
        self.prefix = prefix.into();
        self
    }

    /// What to do while Redis cannot answer (default: refuse, a 503).
    #[must_use]
    pub fn when_unavailable(mut self, mode: WhenUnavailable) -> RedisReplayGuard {
        self.when_unavailable = mode;
        self
    }

    /// The Redis key for one use. The issuer's length comes first, so no issuer/jti pair can
    /// collide with another (`a:b` + `c` vs `a` + `b:c`). A pair longer than
    /// [`READABLE_KEY_BYTES`] is kept under the SHA-256 of that same text instead
    /// (`<prefix>h:<64 hex digits>`, which no readable key can be: those start with a digit),
    /// so that a caller sending kilobyte `jti`s cannot make each of its entries cost Redis
    /// kilobytes for an hour.
    pub fn key(&self, issuer: &str, jti: &str) -> String {
        let pair = format!("{}:{issuer}:{jti}", issuer.len());
        if issuer.len() + jti.len() <= READABLE_KEY_BYTES {
            return format!("{}{pair}", self.prefix);
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, pair.as_bytes());
        let mut key = String::with_capacity(self.prefix.len() + 2 + 64);
        key.push_str(&self.prefix);
        key.push_str("h:");
        for byte in digest.as_ref() {
            key.push_str(&format!("{byte:02x}"));
        }
        key
    }

    async fn record(&self, use_: TokenUse<'_>) -> Result<bool, ReplayError> {
        // Already past its expiry by the caller's clock: counted as seen, nothing written.
        // Otherwise the TTL covers the whole second `expires_at` and SWEEP_GRACE after it: with
        // `expires_at - now` alone the entry expired up to a second before its token did (the
        // soak found the replay this let through), and with one second more a replay whose
        // command reached Redis a moment later than the first use's could still find it gone.
        let Some(retention) = use_.retention()? else {
            return Ok(false);
        };
        // In milliseconds, so that no part of the retention is rounded away.
        let ttl_ms = u64::try_from(retention.as_millis()).unwrap_or(u64::MAX);
        let mut connection = self.connection.clone();
        let reply: Result<Option<String>, redis::RedisError> = redis::cmd("SET")
            .arg(self.key(use_.issuer, use_.jti))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut connection)
            .await;
        match reply {
            Ok(set) => Ok(set.is_some()),
            // Fail-open is for a Redis that cannot be reached. One that answers with an error
            // (out of memory under `noeviction`, a read-only replica) is up and may hold this
            // very use: accepting then would accept every replay while it lasts.
            Err(e) if self.when_unavailable == WhenUnavailable::Allow && unreachable(&e) => {
                count_store_error(true);
                tracing::warn!(error = %e, issuer = use_.issuer, "Redis unavailable: token accepted without replay check");
                Ok(true)
            }
            Err(e) => {
                count_store_error(false);
                Err(ReplayError::Unavailable(Box::new(e)))
            }
        }
    }
}

/// Refuses a Redis whose `INFO memory` names a `maxmemory_policy` other than `noeviction`, or
/// none.
async fn check_eviction_policy(connection: &mut ConnectionManager) -> Result<(), RedisGuardError> {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(connection)
        .await
        .map_err(RedisGuardError::Connect)?;
    let policy = info
        .lines()
        .find_map(|line| line.strip_prefix("maxmemory_policy:"))
        .map(str::trim)
        .unwrap_or_default();
    if policy == "noeviction" {
        Ok(())
    } else {
        Err(RedisGuardError::EvictingPolicy {
            policy: asap_core::truncate(policy),
        })
    }
}

/// Whether `e` says Redis could not be reached or did not answer in time, rather than that it
/// answered with an error.
fn unreachable(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
}

/// Counts one Redis failure through the `metrics` facade (docs/metrics.md): `accepted` when the
/// token went through unchecked ([`WhenUnavailable::Allow`]), which nothing else would show.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
fn count_store_error(accepted: bool) {
    #[cfg(feature = "metrics")]
    if accepted {
        metrics::counter!("asap_replay_store_errors_total", "store" => "redis", "error" => "unavailable", "action" => "accepted")
            .increment(1);
    } else {
        metrics::counter!("asap_replay_store_errors_total", "store" => "redis", "error" => "unavailable", "action" => "refused")
            .increment(1);
    }
}

impl ReplayGuard for RedisReplayGuard {
    fn first_use<'a>(&'a self, use_: TokenUse<'a>) -> ReplayFuture<'a> {
        Box::pin(self.record(use_))
    }
}
