//! Errors of the registry: what a caller (an admin, the CLI) can act on.

use asap_core::{KeyError, KeyId, KidError};

/// Why a public key text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFormatError {
    /// Nothing that looks like a key.
    #[error("no key found: expected a PEM public key or one OpenSSH authorized_keys line")]
    Empty,
    /// More than one OpenSSH key line.
    #[error("found {0} keys; register one key at a time")]
    SeveralKeys(usize),
    /// The text is implausibly long for a public key.
    #[error("the key text is longer than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// A private key was given.
    #[error("this is a private key; register the public key (the .pub file, or `PUBLIC KEY` PEM)")]
    PrivateKey,
    /// An OpenSSH key type that is not accepted (DSA, security keys, certificates…).
    #[error("{0}")]
    UnsupportedType(String),
    /// The OpenSSH line or key blob is malformed.
    #[error("malformed OpenSSH public key: {0}")]
    Malformed(String),
    /// The key itself is refused (an RSA key under 2048 bits, a point off the curve, bad PEM).
    #[error(transparent)]
    Key(KeyError),
}

/// An error of the key registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The database URL names no supported database.
    #[error(
        "unsupported database URL {0:?}: use sqlite:PATH (or a plain file path) or postgres://USER@HOST:PORT/DB"
    )]
    UnsupportedUrl(String),
    /// The database could not be opened or reached.
    #[error("cannot connect to the key registry database: {0}")]
    Connect(#[source] sqlx::Error),
    /// The schema could not be created or brought up to date.
    #[error("cannot migrate the key registry schema: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
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
