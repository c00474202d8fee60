//! Per-user token nonces on Redis: the same `RedisReplayGuard`, under its own key prefix.

/// The key prefix for per-user token nonces (`user_tokens::UserVerifier::nonce_store`).
///
/// A per-user token is used once: its nonce is recorded for `(username, time)` through the
/// core `ReplayGuard` seam, as issuer `username` and id `time:nonce`, until `time` plus the
/// tolerance, after which the token's time refuses it anyway. Nothing new is needed on Redis
/// (`SET key NX PX ttl` is already atomic), only a prefix of its own, so that usernames and
/// ASAP issuers never share entries in one Redis:
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use asap_redis::{RedisReplayGuard, USER_NONCE_PREFIX};
/// let nonces = RedisReplayGuard::connect("redis://127.0.0.1:6379")
///     .await?
///     .key_prefix(USER_NONCE_PREFIX);
/// // user_tokens::UserVerifier::builder(keys).nonce_store(std::sync::Arc::new(nonces))
/// # let _ = nonces; Ok(()) }
/// ```
pub const USER_NONCE_PREFIX: &str = "asap:user-nonce:";
