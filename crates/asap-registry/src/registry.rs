//! The registry: a table of principals' public keys on SQLite or PostgreSQL, an admin API, and
//! a cached [`PublicKeySource`] over it.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use asap_core::{KeyError, KeyFuture, KeyId, KeyKind, KeySourceError, PublicKey, PublicKeySource};
use asap_keys::{KeyFormatError, parse_public_key};
use moka::Expiry;
use moka::future::Cache;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Row as _, SqlSafeStr as _};
use user_tokens::Fingerprint;

use crate::error::RegistryError;
use asap_keys::redact_url;

/// How long a looked-up key (or its absence) is cached by default: the default bound on how
/// long a revoked key keeps verifying.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(10);
/// How many kids are cached at most by default.
pub const DEFAULT_MAX_CACHED_KEYS: u64 = 10_000;
/// The table that records which registry migrations ran (kept apart from an application's own
/// sqlx migrations in the same database).
pub const MIGRATIONS_TABLE: &str = "asap_registry_migrations";

/// The one set of migrations, written in the SQL both SQLite and PostgreSQL accept. From
/// migration 2 on, a version ignores migrations it does not know unless the database's
/// `min_reader` (table `asap_registry_schema`) is above its [`SCHEMA_LEVEL`]: a rolling upgrade
/// keeps older instances working, and a migration they must not ignore stops them at open.
const MIGRATIONS: [(i64, &str, &str); 2] = [
    (
        1,
        "public keys",
        include_str!("../migrations/0001_public_keys.sql"),
    ),
    (
        2,
        "key fingerprints",
        include_str!("../migrations/0002_key_fingerprints.sql"),
    ),
];

/// The schema this version understands: it opens a database whose `min_reader` is at most this.
/// A migration that older versions must not ignore sets `min_reader` to its own level.
const SCHEMA_LEVEL: i64 = 2;

/// Runs the same statement on whichever pool is open; the SQL is the same for both.
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

/// Decodes a row of `SELECT principal, key_name, public_key, created_at, revoked_at` (the row types differ per database; the code does not).
macro_rules! stored_row {
    ($row:expr) => {{
        let row = $row;
        StoredRow {
            principal: row.try_get(0).map_err(RegistryError::Database)?,
            key_name: row.try_get(1).map_err(RegistryError::Database)?,
            public_key: row.try_get(2).map_err(RegistryError::Database)?,
            created_at: row.try_get(3).map_err(RegistryError::Database)?,
            revoked_at: row.try_get(4).map_err(RegistryError::Database)?,
        }
    }};
}

enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

struct StoredRow {
    principal: String,
    key_name: String,
    public_key: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

/// A registered key, revoked or not, as the admin API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredKey {
    kid: KeyId,
    principal: String,
    name: String,
    public_key: Arc<PublicKey>,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl RegisteredKey {
    /// The kid: `<principal>/<key name>`.
    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    /// The principal (the issuer that signs with this key).
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// The key name (the last kid segment).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The kind of key (RSA, EC P-256…), as stored in the `algorithm` column.
    pub fn kind(&self) -> KeyKind {
        self.public_key.kind()
    }

    /// Its per-user token fingerprint: the `kid` a per-user (asymmetric-jwt-auth) client sends
    /// when it signs with this key, and what [`KeyRegistry`] looks it up by.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.public_key)
    }

    /// When it was added, seconds since the Unix epoch.
    pub fn created_at(&self) -> i64 {
        self.created_at
    }

    /// When it was revoked, seconds since the Unix epoch.
    pub fn revoked_at(&self) -> Option<i64> {
        self.revoked_at
    }

    /// Whether it is revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    fn from_row(row: StoredRow) -> Result<RegisteredKey, RegistryError> {
        let kid = kid_for(&row.principal, &row.key_name)?;
        let public_key = PublicKey::from_pem(&row.public_key).map_err(|e| RegistryError::CorruptKey {
            kid: kid.clone(),
            source: e.into(),
        })?;
        Ok(RegisteredKey {
            kid,
            principal: row.principal,
            name: row.key_name,
            public_key: Arc::new(public_key),
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        })
    }
}

/// A cached lookup: the active key, or none (unknown or revoked), and when the query started.
#[derive(Clone)]
struct Lookup {
    fetched: Instant,
    key: Option<Arc<PublicKey>>,
}

/// The query parameters sqlx-postgres reads from a URL (`PgConnectOptions::from_str`).
const POSTGRES_URL_PARAMETERS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

/// The connect options of a `postgres://` URL. A query parameter sqlx does not read is refused
/// here, by name only: sqlx would ignore it with a warning that logs its value, and a libpq
/// parameter it does not know can be a secret (`sslpassword`, the client key's passphrase).
pub(crate) fn postgres_options(url: &str) -> Result<PgConnectOptions, RegistryError> {
    let parsed = url::Url::parse(url).map_err(|_| RegistryError::UnsupportedUrl(redact_url(url)))?;
    for (key, _) in parsed.query_pairs() {
        let known =
            POSTGRES_URL_PARAMETERS.contains(&&*key) || (key.starts_with("options[") && key.ends_with(']'));
        if !known {
            return Err(RegistryError::UnsupportedParameter(asap_core::truncate(&key)));
        }
    }
    PgConnectOptions::from_str(url).map_err(RegistryError::Connect)
}

/// The most rows a per-user lookup reads: the principal's active keys with the token's
/// fingerprint (one key, or the same key under several names), and those with none stored
/// (written by an older version during a rolling upgrade, until the next open fills them in),
/// whose fingerprints the lookup computes.
const MAX_ROWS_PER_USER_LOOKUP: i64 = 64;

/// How many rows without a fingerprint [`fill_fingerprints`] reads at a time.
const FILL_PAGE: i64 = 256;

/// A per-user lookup's cache key: the principal (the token's username) and the fingerprint.
type UserKeyRef = (String, Fingerprint);

/// Expires an entry `ttl` after its query *started*, not after it was inserted: a lookup that
/// raced a revocation is still gone `ttl` after the revocation committed.
struct FromQueryStart(Duration);

impl FromQueryStart {
    fn remaining(&self, fetched: Instant, created_at: Instant) -> Option<Duration> {
        Some(
            self.0
                .saturating_sub(created_at.saturating_duration_since(fetched)),
        )
    }
}

impl Expiry<KeyId, Lookup> for FromQueryStart {
    fn expire_after_create(&self, _kid: &KeyId, value: &Lookup, created_at: Instant) -> Option<Duration> {
        self.remaining(value.fetched, created_at)
    }
}

impl Expiry<UserKeyRef, Lookup> for FromQueryStart {
    fn expire_after_create(
        &self,
        _key: &UserKeyRef,
        value: &Lookup,
        created_at: Instant,
    ) -> Option<Duration> {
        self.remaining(value.fetched, created_at)
    }
}

/// Public keys of principals (services or users) in a SQL table, by kid `<principal>/<key name>`:
/// an admin API ([`add`](Self::add), [`list`](Self::list), [`revoke`](Self::revoke)) and a
/// [`PublicKeySource`] for [`asap_core::Verifier`]. Cheap to clone.
///
/// The database is SQLite (a file, created and migrated on first use) or PostgreSQL, with the
/// same schema and migrations. A revoked key is kept (so its name is never reused) and stops
/// verifying.
///
/// # Revocation bound
///
/// Lookups are cached for [`cache_ttl`](KeyRegistryBuilder::cache_ttl) (default
/// [`DEFAULT_CACHE_TTL`], 10 s), counted from the start of the query that filled the entry.
/// A key revoked through *any* registry instance on the same database therefore stops verifying
/// on every instance at most `cache_ttl` after the revocation committed; on the instance that
/// revoked it, at once (its entry is dropped). The same bound applies to a newly added key
/// that was looked up (and not found) just before. With a TTL of zero nothing is cached.
/// (A [`Verifier`](asap_core::Verifier) with `cache_verified_tokens` on keeps accepting an
/// already verified token until its `exp`; leave that off where revocation must be quick.)
///
/// ```
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use asap_core::{Audience, Verifier};
/// use asap_registry::KeyRegistry;
///
/// let dir = std::env::temp_dir().join(format!("asap-registry-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let registry = KeyRegistry::open(&format!("sqlite:{}", dir.join("keys.db").display())).await?;
/// let line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDedm9L5Qo8FZBj0F91i0kgqU5jrzQROmqQMwrIuMoIK me@laptop";
/// let added = registry.add("alice", Some("laptop"), line).await?;
/// assert_eq!(added.kid().as_str(), "alice/laptop");
///
/// let verifier = Verifier::builder(registry.clone())
///     .audience(Audience::new("ledger")?)
///     .enable_eddsa(true)
///     .build()?;
/// registry.revoke("alice", "laptop").await?;
/// # let _ = verifier;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KeyRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    cache: Option<Cache<KeyId, Lookup>>,
    /// Per-user token lookups, by principal and fingerprint (the same TTL, so the same
    /// revocation bound).
    user_cache: Option<Cache<UserKeyRef, Lookup>>,
    ttl: Duration,
}

impl fmt::Debug for KeyRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the URL: it may carry a password.
        f.debug_struct("KeyRegistry")
            .field("backend", &self.backend())
            .field("cache_ttl", &self.inner.ttl)
            .finish_non_exhaustive()
    }
}

/// Builds a [`KeyRegistry`].
#[derive(Clone)]
#[must_use]
pub struct KeyRegistryBuilder {
    url: String,
    ttl: Duration,
    max_cached: u64,
    max_connections: u32,
    acquire_timeout: Duration,
}

impl fmt::Debug for KeyRegistryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password, in its user information or its query.
        f.debug_struct("KeyRegistryBuilder")
            .field("url", &redact_url(&self.url))
            .field("cache_ttl", &self.ttl)
            .field("max_cached_keys", &self.max_cached)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

impl KeyRegistryBuilder {
    /// How long a lookup is cached: the bound on how long a revoked key keeps verifying (see
    /// [`KeyRegistry`]). Zero turns the cache off. Default [`DEFAULT_CACHE_TTL`].
    pub fn cache_ttl(mut self, ttl: Duration) -> KeyRegistryBuilder {
        self.ttl = ttl;
        self
    }

    /// How many kids are cached at most. Default [`DEFAULT_MAX_CACHED_KEYS`].
    pub fn max_cached_keys(mut self, max: u64) -> KeyRegistryBuilder {
        self.max_cached = max;
        self
    }

    /// The connection pool size. Default 8.
    pub fn max_connections(mut self, max: u32) -> KeyRegistryBuilder {
        self.max_connections = max.max(1);
        self
    }

    /// How long a query waits for a pooled connection (and a new connection for the database)
    /// before the lookup fails as unavailable (503). Default 5 s.
    pub fn acquire_timeout(mut self, timeout: Duration) -> KeyRegistryBuilder {
        self.acquire_timeout = timeout;
        self
    }

    /// Connects, creates the SQLite file if needed, and runs the migrations.
    pub async fn open(self) -> Result<KeyRegistry, RegistryError> {
        let url = self.url.trim();
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = postgres_options(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(self.max_connections)
                .acquire_timeout(self.acquire_timeout)
                .connect_with(options)
                .await
                .map_err(RegistryError::Connect)?;
            Db::Postgres(pool)
        } else {
            let options = if url.starts_with("sqlite:") {
                SqliteConnectOptions::from_str(url).map_err(RegistryError::Connect)?
            } else if url.is_empty() || url.contains("://") {
                return Err(RegistryError::UnsupportedUrl(redact_url(url)));
            } else {
                SqliteConnectOptions::new().filename(url)
            };
            // WAL: lookups (readers) never wait for an admin's write.
            let options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(self.acquire_timeout);
            let pool = SqlitePoolOptions::new()
                .max_connections(self.max_connections)
                .acquire_timeout(self.acquire_timeout)
                .connect_with(options)
                .await
                .map_err(RegistryError::Connect)?;
            Db::Sqlite(pool)
        };
        let migrator = migrator();
        on_db!(&db, |pool| migrator.run(pool).await).map_err(RegistryError::Migrate)?;
        check_schema_level(&db).await?;
        // Not fatal: a user without UPDATE rights still opens, and lookups compute what is
        // missing (docs/reliability.md says what that costs).
        match fill_fingerprints(&db).await {
            Ok(0) => {}
            Ok(filled) => tracing::info!(
                filled,
                "per-user fingerprints filled in for keys stored without one"
            ),
            Err(e) => tracing::warn!(error = %e, "per-user fingerprints not filled in; lookups compute them"),
        }
        let cache = (!self.ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(self.max_cached)
                .expire_after(FromQueryStart(self.ttl))
                .build()
        });
        let user_cache = (!self.ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(self.max_cached)
                .expire_after(FromQueryStart(self.ttl))
                .build()
        });
        Ok(KeyRegistry {
            inner: Arc::new(Inner {
                db,
                cache,
                user_cache,
                ttl: self.ttl,
            }),
        })
    }
}

fn migrator() -> Migrator {
    let mut migrator = Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    );
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator.set_ignore_missing(true);
    migrator
}

/// Refuses a database that a newer version marked as needing more than [`SCHEMA_LEVEL`].
async fn check_schema_level(db: &Db) -> Result<(), RegistryError> {
    let required: Option<i64> = on_db!(db, |pool| {
        sqlx::query_scalar("SELECT MAX(min_reader) FROM asap_registry_schema")
            .fetch_one(pool)
            .await
    })
    .map_err(RegistryError::Database)?;
    match required {
        Some(required) if required > SCHEMA_LEVEL => Err(RegistryError::SchemaTooNew {
            required,
            supported: SCHEMA_LEVEL,
        }),
        _ => Ok(()),
    }
}

/// Stores the fingerprint of every row that has none (written before migration 2, or by an
/// older version since), a page at a time in key order (one statement a page), and returns
/// how many it filled. Several instances opening at once fill the same rows with the same
/// values. A row whose key does not parse gets `''`, which no lookup reads (a warning names it).
async fn fill_fingerprints(db: &Db) -> Result<u64, RegistryError> {
    let mut after = (String::new(), String::new());
    let mut filled = 0;
    loop {
        let rows: Vec<(String, String, String)> = on_db!(db, |pool| {
            // A row value, so that both databases seek the primary key to the page's start.
            sqlx::query_as(
                "SELECT principal, key_name, public_key FROM asap_public_keys \
                 WHERE fingerprint IS NULL AND (principal, key_name) > ($1, $2) \
                 ORDER BY principal, key_name LIMIT $3",
            )
            .bind(&after.0)
            .bind(&after.1)
            .bind(FILL_PAGE)
            .fetch_all(pool)
            .await
        })
        .map_err(RegistryError::Database)?;
        let Some((principal, name, _)) = rows.last() else {
            return Ok(filled);
        };
        after = (principal.clone(), name.clone());
        let page: Vec<(&str, &str, String)> = rows
            .iter()
            .map(|(principal, name, pem)| {
                let fingerprint = match PublicKey::from_pem(pem) {
                    Ok(key) => Fingerprint::of(&key).as_str().to_owned(),
                    Err(e) => {
                        tracing::warn!(principal, key_name = name, error = %e, "a stored key does not parse; no lookup reads it");
                        String::new()
                    }
                };
                (principal.as_str(), name.as_str(), fingerprint)
            })
            .collect();
        // One statement a page: the page's rows as a VALUES list (only placeholders are
        // formatted into the text).
        let values: Vec<String> = (0..page.len())
            .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
            .collect();
        let statement = format!(
            "WITH page (principal, key_name, fingerprint) AS (VALUES {}) \
             UPDATE asap_public_keys SET fingerprint = page.fingerprint FROM page \
             WHERE asap_public_keys.principal = page.principal \
             AND asap_public_keys.key_name = page.key_name AND asap_public_keys.fingerprint IS NULL",
            values.join(", ")
        );
        filled += on_db!(db, |pool| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(statement));
            for (principal, name, fingerprint) in &page {
                query = query.bind(*principal).bind(*name).bind(fingerprint);
            }
            query.execute(pool).await.map(|done| done.rows_affected())
        })
        .map_err(RegistryError::Database)?;
    }
}

/// The kid of a principal's key: `<principal>/<key name>`. The principal may have `/` in it,
/// the key name may not, so that the owner of a kid is unambiguous ([`KeyId::for_issuer`]):
/// `team` cannot register a key that signs for `team/billing`, nor the other way round.
fn kid_for(principal: &str, name: &str) -> Result<KeyId, RegistryError> {
    if principal.is_empty() || name.is_empty() {
        return Err(RegistryError::InvalidName(
            "the principal and the key name must not be empty".into(),
        ));
    }
    KeyId::for_issuer(principal, name)
        .map_err(|e| RegistryError::InvalidName(format!("principal {principal:?}, key name {name:?}: {e}")))
}

/// `(principal, key name)` of a kid, by the same rule ([`KeyId::owner`]); `None` for a kid
/// with one segment.
fn split_kid(kid: &KeyId) -> Option<(&str, &str)> {
    Some((kid.owner()?, kid.key_name()))
}

/// A name for a key added without one: `sha256-` and the first 16 hex digits of the SHA-256
/// of its `SubjectPublicKeyInfo`, so the same key gets the same name.
fn default_key_name(key: &PublicKey) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.spki_der());
    let hex: String = digest.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256-{hex}")
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A stable text for the `algorithm` column.
fn kind_label(kind: KeyKind) -> String {
    kind.to_string()
}

impl KeyRegistry {
    /// Opens the registry at `url` with the default settings: `sqlite:PATH` (or a plain file
    /// path; the file is created on first use) or `postgres://USER[:PASSWORD]@HOST:PORT/DB`.
    pub async fn open(url: &str) -> Result<KeyRegistry, RegistryError> {
        KeyRegistry::builder(url).open().await
    }

    /// Starts a registry for `url` (see [`open`](Self::open)) with settings.
    pub fn builder(url: impl Into<String>) -> KeyRegistryBuilder {
        KeyRegistryBuilder {
            url: url.into(),
            ttl: DEFAULT_CACHE_TTL,
            max_cached: DEFAULT_MAX_CACHED_KEYS,
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.inner.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// The cache lifetime: the bound on how long a revoked key keeps verifying.
    pub fn cache_ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// Registers `key_text` (a PEM public key or one OpenSSH `authorized_keys` line; see
    /// [`asap_keys::parse_public_key`]) for `principal` as kid
    /// `<principal>/<name>`. Without a name, the key is named after its SHA-256 (`sha256-…`).
    pub async fn add(
        &self,
        principal: &str,
        name: Option<&str>,
        key_text: &str,
    ) -> Result<RegisteredKey, RegistryError> {
        let key = parse_public_key(key_text)?;
        let name = name.map_or_else(|| default_key_name(&key), str::to_owned);
        let kid = kid_for(principal, &name)?;
        let created_at = now_secs();
        let pem = key.to_pem();
        let label = kind_label(key.kind());
        let fingerprint = Fingerprint::of(&key);
        let inserted = on_db!(&self.inner.db, |pool| {
            sqlx::query(
                "INSERT INTO asap_public_keys \
                 (principal, key_name, public_key, algorithm, created_at, fingerprint) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(principal)
            .bind(&name)
            .bind(&pem)
            .bind(&label)
            .bind(created_at)
            .bind(fingerprint.as_str())
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        });
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                let revoked = self.get(&kid).await?.is_some_and(|k| k.is_revoked());
                return Err(RegistryError::AlreadyExists { kid, revoked });
            }
            Err(e) => return Err(RegistryError::Database(e)),
        }
        self.forget_kid(&kid).await;
        self.forget_user_key(principal, &key).await;
        tracing::info!(%kid, kind = %label, "public key registered");
        Ok(RegisteredKey {
            kid,
            principal: principal.to_owned(),
            name,
            public_key: Arc::new(key),
            created_at,
            revoked_at: None,
        })
    }

    /// The registered keys, revoked ones included, of one principal or of all, ordered by
    /// principal and key name.
    pub async fn list(&self, principal: Option<&str>) -> Result<Vec<RegisteredKey>, RegistryError> {
        let rows = on_db!(&self.inner.db, |pool| {
            let query = match principal {
                Some(p) => sqlx::query(
                    "SELECT principal, key_name, public_key, created_at, revoked_at FROM asap_public_keys \
                     WHERE principal = $1 ORDER BY principal, key_name",
                )
                .bind(p),
                None => sqlx::query(
                    "SELECT principal, key_name, public_key, created_at, revoked_at FROM asap_public_keys \
                     ORDER BY principal, key_name",
                ),
            };
            let rows = query.fetch_all(pool).await.map_err(RegistryError::Database)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(stored_row!(row));
            }
            out
        });
        rows.into_iter().map(RegisteredKey::from_row).collect()
    }

    /// One registered key, revoked or not, without the cache.
    pub async fn get(&self, kid: &KeyId) -> Result<Option<RegisteredKey>, RegistryError> {
        let Some((principal, name)) = split_kid(kid) else {
            return Ok(None);
        };
        let row = on_db!(&self.inner.db, |pool| {
            let row = sqlx::query(
                "SELECT principal, key_name, public_key, created_at, revoked_at FROM asap_public_keys \
                 WHERE principal = $1 AND key_name = $2",
            )
            .bind(principal)
            .bind(name)
            .fetch_optional(pool)
            .await
            .map_err(RegistryError::Database)?;
            match row {
                Some(row) => Some(stored_row!(&row)),
                None => None,
            }
        });
        row.map(RegisteredKey::from_row).transpose()
    }

    /// Revokes `<principal>/<name>`: it stops verifying here at once and on every other
    /// instance within the cache TTL. Revoking a revoked key changes nothing and returns it.
    pub async fn revoke(&self, principal: &str, name: &str) -> Result<RegisteredKey, RegistryError> {
        let kid = kid_for(principal, name)?;
        let now = now_secs();
        on_db!(&self.inner.db, |pool| {
            sqlx::query(
                "UPDATE asap_public_keys SET revoked_at = $1 \
                 WHERE principal = $2 AND key_name = $3 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(principal)
            .bind(name)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })
        .map_err(RegistryError::Database)?;
        self.forget_kid(&kid).await;
        // The per-user entry is by fingerprint, so it needs the key: without it, every
        // per-user entry goes, rather than the revoked key staying cached here.
        let key = match self.get(&kid).await {
            Ok(Some(key)) => key,
            Ok(None) => return Err(RegistryError::NotFound(kid)),
            Err(e) => {
                if let Some(cache) = &self.inner.user_cache {
                    cache.invalidate_all();
                }
                return Err(e);
            }
        };
        self.forget_user_key(&key.principal, &key.public_key).await;
        tracing::info!(kid = %key.kid, "public key revoked");
        self.warn_if_still_active(&key).await;
        Ok(key)
    }

    /// The names under which `principal` has `key` registered and not revoked. Per-user tokens
    /// name the key, not the name, so they verify while any of these does: after revoking one
    /// name of a key registered twice, revoke the others too.
    pub async fn active_names_of(
        &self,
        principal: &str,
        key: &PublicKey,
    ) -> Result<Vec<String>, RegistryError> {
        let fingerprint = Fingerprint::of(key);
        Ok(self
            .list(Some(principal))
            .await?
            .into_iter()
            .filter(|k| !k.is_revoked() && k.fingerprint() == fingerprint)
            .map(|k| k.name)
            .collect())
    }

    /// Says when a revoked key is still registered under other names.
    async fn warn_if_still_active(&self, key: &RegisteredKey) {
        if let Ok(others) = self.active_names_of(&key.principal, &key.public_key).await
            && !others.is_empty()
        {
            tracing::warn!(
                kid = %key.kid,
                still_active_as = ?others,
                "the revoked key is still registered under other names: per-user tokens signed with it still verify"
            );
        }
    }

    /// Closes the connection pool.
    pub async fn close(&self) {
        on_db!(&self.inner.db, |pool| pool.close().await);
    }

    /// Drops this instance's cached lookup of `kid`, after its key was added or revoked.
    async fn forget_kid(&self, kid: &KeyId) {
        if let Some(cache) = &self.inner.cache {
            cache.invalidate(kid).await;
        }
    }

    /// Drops this instance's cached per-user lookup of `principal`'s `key`, after it was added
    /// or revoked.
    async fn forget_user_key(&self, principal: &str, key: &PublicKey) {
        if let Some(cache) = &self.inner.user_cache {
            cache
                .invalidate(&(principal.to_owned(), Fingerprint::of(key)))
                .await;
        }
    }

    /// The active key of `principal` whose fingerprint is `fingerprint`, from the database: one
    /// query by the `(principal, fingerprint)` index, the same for a principal that does not
    /// exist, however many keys the principal has. A row stored without a fingerprint (by an
    /// older version) is read too and matched by computing it.
    async fn fetch_user_key(
        &self,
        principal: &str,
        fingerprint: &Fingerprint,
    ) -> Result<Lookup, RegistryError> {
        let fetched = Instant::now();
        // The username is the token's unverified claim. One that no registered principal can
        // have (the kid rule: empty, `\0`, a stray `/`…) has no keys; asking the database
        // would turn such input into a query error, a 503, instead of a 401.
        if kid_for(principal, "k").is_err() {
            return Ok(Lookup { fetched, key: None });
        }
        let rows: Vec<(String, String, Option<String>)> = on_db!(&self.inner.db, |pool| {
            sqlx::query_as(
                // Two index searches (an `OR` would search by the principal alone), each with
                // its own limit, so the stored match is read whatever the order of the union.
                "SELECT key_name, public_key, fingerprint FROM (SELECT key_name, public_key, fingerprint \
                 FROM asap_public_keys WHERE principal = $1 AND fingerprint = $2 AND revoked_at IS NULL \
                 LIMIT 1) AS stored \
                 UNION ALL SELECT key_name, public_key, fingerprint FROM (SELECT key_name, public_key, fingerprint \
                 FROM asap_public_keys WHERE principal = $1 AND fingerprint IS NULL AND revoked_at IS NULL \
                 LIMIT $3) AS unfilled",
            )
            .bind(principal)
            .bind(fingerprint.as_str())
            .bind(MAX_ROWS_PER_USER_LOOKUP)
            .fetch_all(pool)
            .await
        })
        .map_err(RegistryError::Database)?;
        for (name, pem, stored) in rows {
            let kid = kid_for(principal, &name)?;
            let key = match PublicKey::from_pem(&pem) {
                Ok(key) => key,
                // Stored under this fingerprint, so this is the key asked for: a 503.
                Err(e) if stored.is_some() => {
                    return Err(RegistryError::CorruptKey {
                        kid,
                        source: e.into(),
                    });
                }
                // Not filled in yet, and unreadable: it is no key at all.
                Err(_) => continue,
            };
            if Fingerprint::of(&key) == *fingerprint {
                return Ok(Lookup {
                    fetched,
                    key: Some(Arc::new(key)),
                });
            }
        }
        Ok(Lookup { fetched, key: None })
    }

    /// The active key of `principal` whose fingerprint is `fingerprint` (per-user tokens), from
    /// the cache or one query, whether or not the principal exists.
    pub(crate) async fn active_user_key(
        &self,
        principal: &str,
        fingerprint: &Fingerprint,
    ) -> Result<Option<Arc<PublicKey>>, Arc<RegistryError>> {
        let lookup = match &self.inner.user_cache {
            // One query per (principal, fingerprint) however many requests wait for it.
            Some(cache) => {
                cache
                    .try_get_with(
                        (principal.to_owned(), fingerprint.clone()),
                        self.fetch_user_key(principal, fingerprint),
                    )
                    .await?
            }
            None => self
                .fetch_user_key(principal, fingerprint)
                .await
                .map_err(Arc::new)?,
        };
        Ok(lookup.key)
    }

    /// The active key for `kid` from the database, or none (unknown or revoked).
    async fn fetch_active(&self, kid: &KeyId) -> Result<Lookup, RegistryError> {
        let fetched = Instant::now();
        let Some((principal, name)) = split_kid(kid) else {
            return Ok(Lookup { fetched, key: None });
        };
        let row: Option<String> = on_db!(&self.inner.db, |pool| {
            sqlx::query(
                "SELECT public_key FROM asap_public_keys \
                 WHERE principal = $1 AND key_name = $2 AND revoked_at IS NULL",
            )
            .bind(principal)
            .bind(name)
            .fetch_optional(pool)
            .await
            .map_err(RegistryError::Database)?
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(RegistryError::Database)?
        });
        let key = match row {
            None => None,
            Some(pem) => Some(Arc::new(PublicKey::from_pem(&pem).map_err(|e| {
                RegistryError::CorruptKey {
                    kid: kid.clone(),
                    source: e.into(),
                }
            })?)),
        };
        Ok(Lookup { fetched, key })
    }

    async fn lookup(&self, kid: &KeyId) -> Result<Arc<PublicKey>, KeySourceError> {
        let found = match &self.inner.cache {
            // One query per kid however many requests wait for it.
            Some(cache) => cache.try_get_with_by_ref(kid, self.fetch_active(kid)).await,
            None => self.fetch_active(kid).await.map_err(Arc::new),
        };
        match found {
            Ok(Lookup { key: Some(key), .. }) => Ok(key),
            Ok(Lookup { key: None, .. }) => Err(KeySourceError::NotFound(kid.clone())),
            Err(e) => match &*e {
                RegistryError::CorruptKey { kid, source } => Err(KeySourceError::InvalidKey {
                    kid: kid.clone(),
                    source: match source {
                        KeyFormatError::Key(e) => e.clone(),
                        other => KeyError::Malformed(other.to_string()),
                    },
                }),
                _ => {
                    tracing::warn!(%kid, error = %e, "key registry unavailable");
                    Err(KeySourceError::Unavailable(Box::new(e)))
                }
            },
        }
    }
}

impl PublicKeySource for KeyRegistry {
    fn public_key<'a>(&'a self, kid: &'a KeyId) -> KeyFuture<'a> {
        Box::pin(self.lookup(kid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kids_are_principal_slash_name() {
        assert_eq!(kid_for("alice", "laptop").expect("ok").as_str(), "alice/laptop");
        assert_eq!(
            kid_for("team/billing", "k1").expect("ok").as_str(),
            "team/billing/k1"
        );
        for (p, n) in [
            ("alice", "a/b"),
            ("", "k"),
            ("alice", ""),
            ("al ice", "k"),
            ("..", "k"),
            ("a", ".."),
        ] {
            assert!(
                matches!(kid_for(p, n), Err(RegistryError::InvalidName(_))),
                "{p:?} {n:?}"
            );
        }
        let kid = KeyId::parse("team/billing/k1").expect("valid");
        assert_eq!(split_kid(&kid), Some(("team/billing", "k1")));
        assert_eq!(split_kid(&KeyId::parse("single").expect("valid")), None);
    }

    #[test]
    fn entries_expire_from_the_query_start() {
        let expiry = FromQueryStart(Duration::from_secs(10));
        let fetched = Instant::now();
        let lookup = Lookup { fetched, key: None };
        let kid = KeyId::parse("a/b").expect("valid");
        let later = fetched + Duration::from_secs(3);
        assert_eq!(
            expiry.expire_after_create(&kid, &lookup, later),
            Some(Duration::from_secs(7))
        );
        let too_late = fetched + Duration::from_secs(30);
        assert_eq!(
            expiry.expire_after_create(&kid, &lookup, too_late),
            Some(Duration::ZERO)
        );
    }
}
