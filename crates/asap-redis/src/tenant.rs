//! Connect tenants on Redis (feature `connect`): a [`TenantStore`] shared by every instance
//! of an app, keeping each tenant's install payload.

use std::fmt;

use connect_qsh::{
    InstallPayload, InstallationLinks, SharedSecret, SharedSecretStore, StoreError, StoreFuture, Tenant,
    TenantStore,
};
use redis::aio::ConnectionManager;

use crate::{RedisGuardError, RedisReplayGuard, Timeouts};

/// The default key prefix of tenant records.
pub const DEFAULT_TENANT_PREFIX: &str = "connect:tenant:";

/// The default key prefix of the Connect-on-Forge installation links
/// ([`InstallationLinks`]): `<prefix>installation:<id>` holds a client key,
/// `<prefix>client:<client key>` an installation id. Apart from the tenant records, so that no
/// client key can name a link.
pub const DEFAULT_LINK_PREFIX: &str = "connect:forge-link:";

/// A Connect [`TenantStore`] on Redis: one string key per tenant (`<prefix><clientKey>`)
/// holding the payload of its last authenticated `installed` callback, as
/// [`Tenant::install_payload`] gives it and [`Tenant::from_install_payload`] reads it back.
///
/// It is also a [`SharedSecretStore`], so an [`connect_qsh::Authenticator`] can look up
/// inbound tokens' secrets in it directly. The connection reconnects by itself; while Redis
/// cannot answer, lookups fail with [`StoreError::Unavailable`] (a 503), never with "unknown
/// tenant". A record that no longer parses is [`StoreError::Corrupt`]. A conditional
/// [`TenantStore::replace`] or [`TenantStore::remove_if`] is one Lua script (compare, then
/// `SET` or `DEL`), atomic in Redis: the Redis user needs `EVAL` (and `INFO`, which
/// [`connect`](Self::connect) reads).
///
/// The payload holds the tenant's shared secret: protect the Redis instance accordingly
/// (authentication, network isolation, encrypted persistence).
///
/// ```no_run
/// use std::sync::Arc;
/// use asap_redis::RedisTenantStore;
/// use connect_qsh::Authenticator;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let tenants = Arc::new(RedisTenantStore::connect("redis://127.0.0.1:6379").await?);
/// let authenticator = Authenticator::builder(tenants.clone())
///     .base_url("https://app.example.com")
///     .build()?;
/// # let _ = authenticator;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisTenantStore {
    connection: ConnectionManager,
    prefix: String,
    link_prefix: String,
}

impl fmt::Debug for RedisTenantStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTenantStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisTenantStore {
    /// Connects to `url` (`redis://host:port/db`) with the default timeouts.
    pub async fn connect(url: &str) -> Result<RedisTenantStore, RedisGuardError> {
        RedisTenantStore::connect_with(url, Timeouts::default()).await
    }

    /// Connects with the given timeouts. Like the replay guard, it refuses a Redis that evicts
    /// ([`RedisGuardError::EvictingPolicy`]): under an `allkeys-*` policy a tenant record (kept
    /// without expiry) can be dropped, and the tenant then stops working until it is
    /// re-installed.
    pub async fn connect_with(url: &str, timeouts: Timeouts) -> Result<RedisTenantStore, RedisGuardError> {
        // The same reconnecting connection, with the same short timeouts, as the replay guard.
        let guard = RedisReplayGuard::connect_with(url, timeouts).await?;
        Ok(RedisTenantStore::from_connection(guard.connection))
    }

    /// Uses an existing reconnecting connection.
    pub fn from_connection(connection: ConnectionManager) -> RedisTenantStore {
        RedisTenantStore {
            connection,
            prefix: DEFAULT_TENANT_PREFIX.to_owned(),
            link_prefix: DEFAULT_LINK_PREFIX.to_owned(),
        }
    }

    /// The prefix of every key (default `connect:tenant:`), to share a Redis with other uses.
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> RedisTenantStore {
        self.prefix = prefix.into();
        self
    }

    /// The prefix of the installation links (default [`DEFAULT_LINK_PREFIX`]).
    #[must_use]
    pub fn link_prefix(mut self, prefix: impl Into<String>) -> RedisTenantStore {
        self.link_prefix = prefix.into();
        self
    }

    fn installation_key(&self, installation_id: &str) -> String {
        format!("{}installation:{installation_id}", self.link_prefix)
    }

    fn client_key_link(&self, client_key: &str) -> String {
        format!("{}client:{client_key}", self.link_prefix)
    }

    /// Both links in one transaction; a previous partner of either side keeps a one-way entry
    /// that the lookups ignore (each answers only when both directions agree).
    async fn store_link(&self, installation_id: &str, client_key: &str) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let () = redis::pipe()
            .atomic()
            .set(self.installation_key(installation_id), client_key)
            .ignore()
            .set(self.client_key_link(client_key), installation_id)
            .ignore()
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// `from`'s partner, if `to_key(partner)` points back at `from`.
    async fn agreed(
        &self,
        from_key: String,
        from: &str,
        to_key: impl Fn(&str) -> String,
    ) -> Result<Option<String>, StoreError> {
        let mut connection = self.connection.clone();
        let partner: Option<String> = redis::cmd("GET")
            .arg(from_key)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        let Some(partner) = partner else { return Ok(None) };
        let back: Option<String> = redis::cmd("GET")
            .arg(to_key(&partner))
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok((back.as_deref() == Some(from)).then_some(partner))
    }

    /// The Redis key of a tenant's record.
    pub fn key(&self, client_key: &str) -> String {
        format!("{}{client_key}", self.prefix)
    }

    async fn load(&self, client_key: &str) -> Result<Option<Tenant>, StoreError> {
        let mut connection = self.connection.clone();
        let payload: Option<String> = redis::cmd("GET")
            .arg(self.key(client_key))
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        let Some(payload) = payload else {
            return Ok(None);
        };
        // The record holds the shared secret: wiped when dropped, like the tenant's own copy.
        let payload = InstallPayload::new(payload);
        // The record passed the lifecycle's base URL rule when it was saved; a loopback `http`
        // base URL can only be there because the app allowed it. Plain `http` to any other host
        // is refused here too.
        let tenant = Tenant::from_install_payload_allowing_loopback(payload.expose())
            .map_err(|e| StoreError::Corrupt(format!("tenant record {:?}: {e}", self.key(client_key))))?;
        // A record saved under one key must never answer for another tenant.
        if tenant.client_key() != client_key {
            return Err(StoreError::Corrupt(format!(
                "tenant record {:?} holds another client key",
                self.key(client_key)
            )));
        }
        Ok(Some(tenant))
    }

    async fn store(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let () = redis::cmd("SET")
            .arg(self.key(tenant.client_key()))
            .arg(tenant.install_payload().expose())
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// One script, so that no write lands between the comparison and the `SET`.
    async fn store_if(&self, current: &Tenant, tenant: &Tenant) -> Result<bool, StoreError> {
        if current.client_key() != tenant.client_key() {
            return Ok(false);
        }
        let mut connection = self.connection.clone();
        let replaced: u64 = redis::cmd("EVAL")
            .arg(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                 redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0",
            )
            .arg(1)
            .arg(self.key(tenant.client_key()))
            .arg(current.install_payload().expose())
            .arg(tenant.install_payload().expose())
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(replaced == 1)
    }

    /// One script, as for [`store_if`](Self::store_if).
    async fn delete_if(&self, current: &Tenant) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let removed: u64 = redis::cmd("EVAL")
            .arg("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0")
            .arg(1)
            .arg(self.key(current.client_key()))
            .arg(current.install_payload().expose())
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(removed == 1)
    }

    async fn delete(&self, client_key: &str) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let removed: u64 = redis::cmd("DEL")
            .arg(self.key(client_key))
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(removed > 0)
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

impl TenantStore for RedisTenantStore {
    fn tenant<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<Tenant>> {
        Box::pin(self.load(client_key))
    }

    fn save<'a>(&'a self, tenant: &'a Tenant) -> StoreFuture<'a, ()> {
        Box::pin(self.store(tenant))
    }

    fn replace<'a>(&'a self, current: &'a Tenant, tenant: &'a Tenant) -> StoreFuture<'a, bool> {
        Box::pin(self.store_if(current, tenant))
    }

    fn remove<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(self.delete(client_key))
    }

    fn remove_if<'a>(&'a self, current: &'a Tenant) -> StoreFuture<'a, bool> {
        Box::pin(self.delete_if(current))
    }
}

impl SharedSecretStore for RedisTenantStore {
    fn shared_secret<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<SharedSecret>> {
        Box::pin(async move { Ok(self.load(client_key).await?.map(|t| t.shared_secret().clone())) })
    }
}

impl InstallationLinks for RedisTenantStore {
    fn link<'a>(&'a self, installation_id: &'a str, client_key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.store_link(installation_id, client_key))
    }
    fn linked_client_key<'a>(&'a self, installation_id: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(
            self.agreed(self.installation_key(installation_id), installation_id, |c| {
                self.client_key_link(c)
            }),
        )
    }
    fn linked_installation<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(self.agreed(self.client_key_link(client_key), client_key, |i| {
            self.installation_key(i)
        }))
    }
}
