//! # asap-registry
//!
//! A registry of principals' public keys on SQL, for servers where each user or service
//! registers any number of public keys and signs with its own private key (often its SSH key).
//!
//! - Storage: SQLite as the embedded default (a file, created and migrated on first use) or
//!   PostgreSQL for fleets, through `sqlx`, with one schema and one set of migrations: a table
//!   of principal, key name, public key (SPKI PEM), algorithm, created and revoked times, and
//!   the per-user token fingerprint. From migration 2 on, an older version opens a database a
//!   newer one migrated (a rolling upgrade) unless the newer one marked it as needing more
//!   ([`RegistryError::SchemaTooNew`]); docs/reliability.md has the one step that needs care.
//! - Kids: `<principal>/<key name>`, validated as [`asap_core::KeyId`], so a token from issuer
//!   `alice` may only use keys registered for `alice`.
//! - Keys: PEM (`PUBLIC KEY`, `RSA PUBLIC KEY`) or an OpenSSH `authorized_keys` line
//!   (`ssh-ed25519`, `ecdsa-sha2-nistp256/384/521`, `ssh-rsa` of at least 2048 bits), read by
//!   [`asap_keys::parse_public_key`], the workspace's one home of key formats.
//! - Admin API: [`KeyRegistry::add`], [`KeyRegistry::list`], [`KeyRegistry::revoke`].
//! - Verifying: [`KeyRegistry`] is an [`asap_core::PublicKeySource`]; lookups are cached, and a
//!   revoked key stops verifying within the cache TTL ([`DEFAULT_CACHE_TTL`], 10 s) on every
//!   instance — see "Revocation bound" on [`KeyRegistry`]. A database that cannot answer is a
//!   [`asap_core::KeySourceError::Unavailable`] (503), never a silent accept.
//! - Per-user tokens: [`KeyRegistry`] is also a [`user_tokens::UserKeySource`], finding a
//!   user's active key by the fingerprint asymmetric-jwt-auth sends as `kid`.
//! - Database URLs: errors and `Debug` show them through [`redact_url`] only (no user
//!   information, no query string), and so does the `asap` command.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use asap_core::{Audience, Verifier};
//! use asap_registry::KeyRegistry;
//!
//! let registry = KeyRegistry::open("sqlite:/var/lib/asap/keys.db").await?;
//! let pub_key = std::fs::read_to_string("/home/alice/.ssh/id_ed25519.pub")?;
//! registry.add("alice", Some("laptop"), &pub_key).await?;
//!
//! // Alice signs with `asap token --private-key ~/.ssh/id_ed25519 --kid alice/laptop …`.
//! let verifier = Verifier::builder(registry.clone())
//!     .audience(Audience::new("ledger")?)
//!     .enable_eddsa(true)
//!     .build()?;
//! # let _ = verifier;
//! registry.revoke("alice", "laptop").await?;
//! # Ok(()) }
//! ```

#![deny(unsafe_code)]

mod error;
mod registry;
#[cfg(feature = "connect")]
mod tenant;
mod user_keys;

/// Why a key text was refused ([`RegistryError::BadKey`]): the error of
/// [`asap_keys::parse_public_key`].
pub use asap_keys::KeyFormatError;
/// The one rule for showing a database URL (asap-keys' [`asap_keys::redact_url`]).
pub use asap_keys::redact_url;
pub use error::RegistryError;
pub use registry::{
    DEFAULT_CACHE_TTL, DEFAULT_MAX_CACHED_KEYS, KeyRegistry, KeyRegistryBuilder, MIGRATIONS_TABLE,
    RegisteredKey,
};
#[cfg(feature = "connect")]
pub use tenant::{PostgresTenantStore, TENANTS_TABLE};
