//! Errors of the registry: what a caller (an admin, the CLI) can act on.

use asap_core::{KeyId, KidError};
use asap_keys::KeyFormatError;

/// An error of the key registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The database URL names no supported database. It holds the URL as
    /// [`redact_url`](crate::redact_url) shows it: no credentials, no query string.
    #[error(
        "unsupported database URL {0:?}: use sqlite:PATH (or a plain file path) or postgres://USER@HOST:PORT/DB"
    )]
    UnsupportedUrl(String),
    /// The `postgres://` URL has a query parameter the driver does not read (named here; its
    /// value, which may be a secret, is shown nowhere).
    #[error("unsupported parameter {0:?} in the PostgreSQL URL")]
    UnsupportedParameter(String),
    /// The database could not be opened or reached.
    #[error("cannot connect to the key registry database: {0}")]
    Connect(#[source] sqlx::Error),
    /// The schema could not be created or brought up to date.
    #[error("cannot migrate the key registry schema: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A newer version changed the schema in a way this one must not ignore: upgrade it.
    #[error(
        "the key registry database needs schema level {required}; this version understands up to {supported}: upgrade it"
    )]
    SchemaTooNew {
        /// The level the database requires (`asap_registry_schema.min_reader`).
        required: i64,
        /// The level this version understands.
        supported: i64,
    },
    /// A query failed.
    #[error("key registry database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The key text is not an acceptable public key.
    #[error("bad public key: {0}")]
    BadKey(#[from] KeyFormatError),
    /// The principal or key name does not make a valid kid `<principal>/<key name>`.
    #[error("invalid principal or key name: {0}")]
    InvalidName(String),
    /// The kid is taken (revoked keys keep their name, so a revoked kid is never reused).
    #[error("key {kid} is already registered{}", if *.revoked { " (revoked; choose a new key name)" } else { "" })]
    AlreadyExists {
        /// The kid.
        kid: KeyId,
        /// Whether the existing key is revoked.
        revoked: bool,
    },
    /// No such key.
    #[error("no key {0} is registered")]
    NotFound(KeyId),
    /// A stored row no longer parses (edited by hand?).
    #[error("the stored key {kid} is unreadable: {source}")]
    CorruptKey {
        /// The kid.
        kid: KeyId,
        /// What is wrong with it.
        #[source]
        source: KeyFormatError,
    },
}

impl From<KidError> for RegistryError {
    fn from(e: KidError) -> Self {
        RegistryError::InvalidName(e.to_string())
    }
}
