//! Connect tenants on PostgreSQL (feature `connect`): a [`TenantStore`] shared by every
//! instance of an app, as atlassian-connect-express keeps its `AddonSettings` in SQL.

use std::fmt;
use std::time::Duration;

use connect_qsh::{
    InstallPayload, InstallationLinks, SharedSecret, SharedSecretStore, StoreError, StoreFuture, Tenant,
    TenantStore,
};
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::error::RegistryError;

/// The table of tenant records.
pub const TENANTS_TABLE: &str = "connect_tenants";

/// Creates the table once, under a transaction-scoped advisory lock so that instances starting
/// together do not race on `CREATE TABLE` (PostgreSQL's `IF NOT EXISTS` is not atomic).
const CREATE_TABLE: [&str; 3] = [
    "SELECT pg_advisory_xact_lock(803120260116)",
    "CREATE TABLE IF NOT EXISTS connect_tenants (
        client_key TEXT PRIMARY KEY,
        install_payload TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )",
    // Connect-on-Forge links: one row per pair, each side unique, so that a link is one-to-one
    // by the table's own constraints.
    "CREATE TABLE IF NOT EXISTS connect_forge_links (
        installation_id TEXT PRIMARY KEY,
        client_key TEXT NOT NULL UNIQUE,
        linked_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )",
];

/// A Connect [`TenantStore`] on PostgreSQL: one row per tenant in [`TENANTS_TABLE`], keyed by
/// client key, holding the payload of its last authenticated `installed` callback (as
/// [`Tenant::install_payload`] gives it). Also a [`SharedSecretStore`].
///
/// A save is one `INSERT … ON CONFLICT (client_key) DO UPDATE`: concurrent installs of one
/// tenant leave exactly one row, holding one of the payloads whole, never a mix. A conditional
/// [`TenantStore::replace`] or [`TenantStore::remove_if`] is one `UPDATE` or `DELETE … WHERE
/// install_payload = $current`. While the
/// database cannot answer, lookups fail with [`StoreError::Unavailable`] (a 503), never with
/// "unknown tenant"; a row that no longer parses, or holds another client key, is
/// [`StoreError::Corrupt`].
///
/// It also keeps the Connect-on-Forge [`InstallationLinks`] in `connect_forge_links`, one row
/// per pair with both columns unique; a link replaces either side's previous partner in one
/// transaction (of two links racing for one side, one wins and the other fails as a 503).
///
/// The payload holds the tenant's shared secret: restrict access to the table (and its
/// backups) accordingly.
///
/// ```no_run
/// use std::sync::Arc;
/// use asap_registry::PostgresTenantStore;
/// use connect_qsh::Authenticator;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let tenants = Arc::new(PostgresTenantStore::connect("postgres://app@db/app").await?);
/// let authenticator = Authenticator::builder(tenants.clone()).base_url("https://app.example.com").build()?;
/// # let _ = authenticator; Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresTenantStore {
    pool: PgPool,
}

impl fmt::Debug for PostgresTenantStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresTenantStore")
            .field("table", &TENANTS_TABLE)
            .finish_non_exhaustive()
    }
}

impl PostgresTenantStore {
    /// Connects to `url` (`postgres://…`, a pool of 5 connections, 5 s to get one) and
    /// creates the table if needed.
    pub async fn connect(url: &str) -> Result<PostgresTenantStore, RegistryError> {
        let options = crate::registry::postgres_options(url.trim())?;
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(RegistryError::Connect)?;
        PostgresTenantStore::from_pool(pool).await
    }

    /// Uses an existing pool (the application's own), creating the table if needed.
    pub async fn from_pool(pool: PgPool) -> Result<PostgresTenantStore, RegistryError> {
        let mut tx = pool.begin().await.map_err(RegistryError::Database)?;
        for statement in CREATE_TABLE {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(RegistryError::Database)?;
        }
        tx.commit().await.map_err(RegistryError::Database)?;
        Ok(PostgresTenantStore { pool })
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn load(&self, client_key: &str) -> Result<Option<Tenant>, StoreError> {
        if !storable(client_key) {
            return Ok(None);
        }
        let payload: Option<String> =
            sqlx::query_scalar("SELECT install_payload FROM connect_tenants WHERE client_key = $1")
                .bind(client_key)
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
        let Some(payload) = payload else {
            return Ok(None);
        };
        // The row holds the shared secret: wiped when dropped, like the tenant's own copy.
        let payload = InstallPayload::new(payload);
        // The record passed the lifecycle's base URL rule when it was saved; a loopback `http`
        // base URL can only be there because the app allowed it.
        let tenant = Tenant::from_install_payload_allowing_loopback(payload.expose())
            .map_err(|e| StoreError::Corrupt(format!("tenant row {client_key:?}: {e}")))?;
        // A row saved under one key must never answer for another tenant.
        if tenant.client_key() != client_key {
            return Err(StoreError::Corrupt(format!(
                "tenant row {client_key:?} holds another client key"
            )));
        }
        Ok(Some(tenant))
    }

    async fn store(&self, tenant: &Tenant) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO connect_tenants (client_key, install_payload) VALUES ($1, $2)
             ON CONFLICT (client_key) DO UPDATE
             SET install_payload = EXCLUDED.install_payload, updated_at = now()",
        )
        .bind(tenant.client_key())
        .bind(tenant.install_payload().expose())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    /// One conditional `UPDATE`: the row changes only if it still holds `current`'s payload.
    async fn store_if(&self, current: &Tenant, tenant: &Tenant) -> Result<bool, StoreError> {
        if current.client_key() != tenant.client_key() {
            return Ok(false);
        }
        let done = sqlx::query(
            "UPDATE connect_tenants SET install_payload = $3, updated_at = now()
             WHERE client_key = $1 AND install_payload = $2",
        )
        .bind(tenant.client_key())
        .bind(current.install_payload().expose())
        .bind(tenant.install_payload().expose())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    /// One conditional `DELETE`, as [`store_if`](Self::store_if) is one conditional `UPDATE`.
    async fn delete_if(&self, current: &Tenant) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM connect_tenants WHERE client_key = $1 AND install_payload = $2")
            .bind(current.client_key())
            .bind(current.install_payload().expose())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete(&self, client_key: &str) -> Result<bool, StoreError> {
        if !storable(client_key) {
            return Ok(false);
        }
        let done = sqlx::query("DELETE FROM connect_tenants WHERE client_key = $1")
            .bind(client_key)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() > 0)
    }
}

impl PostgresTenantStore {
    /// Replaces either side's previous partner and links the two, in one transaction.
    async fn store_link(&self, installation_id: &str, client_key: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("DELETE FROM connect_forge_links WHERE installation_id = $1 OR client_key = $2")
            .bind(installation_id)
            .bind(client_key)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query("INSERT INTO connect_forge_links (installation_id, client_key) VALUES ($1, $2)")
            .bind(installation_id)
            .bind(client_key)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn linked(&self, query: &'static str, key: &str) -> Result<Option<String>, StoreError> {
        if !storable(key) {
            return Ok(None);
        }
        sqlx::query_scalar(query)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)
    }
}

impl InstallationLinks for PostgresTenantStore {
    fn link<'a>(&'a self, installation_id: &'a str, client_key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.store_link(installation_id, client_key))
    }
    fn linked_client_key<'a>(&'a self, installation_id: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(self.linked(
            "SELECT client_key FROM connect_forge_links WHERE installation_id = $1",
            installation_id,
        ))
    }
    fn linked_installation<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(self.linked(
            "SELECT installation_id FROM connect_forge_links WHERE client_key = $1",
            client_key,
        ))
    }
}

/// Whether a key can be in a `TEXT` column at all. PostgreSQL refuses a NUL byte in a query
/// parameter with an error, so a client key taken from an unauthenticated token's `iss`
/// (`"a\u0000b"`) would otherwise look like a database outage (a 503) instead of an unknown
/// tenant: no row can have it, so none is asked for.
fn storable(key: &str) -> bool {
    !key.contains('\0')
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

impl TenantStore for PostgresTenantStore {
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

impl SharedSecretStore for PostgresTenantStore {
    fn shared_secret<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<SharedSecret>> {
        Box::pin(async move { Ok(self.load(client_key).await?.map(|t| t.shared_secret().clone())) })
    }
}
