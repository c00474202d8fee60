//! # asap-keys
//!
//! Where ASAP keys come from. [`asap_core`] signs and verifies; this crate loads the keys it
//! needs from files, the environment and key repositories, and keeps them fresh.
//!
//! ## Signing: private keys
//!
//! | source | function |
//! |---|---|
//! | PEM text: PKCS#8, PKCS#1, SEC1, encrypted PKCS#8, OpenSSH (`id_ed25519`, `id_ecdsa`, `id_rsa`) | [`parse_private_key`], [`read_private_key`] |
//! | a data URI `data:application/pkcs8;kid=<kid>;base64,<DER>` | [`parse_data_uri`], [`to_data_uri`] |
//! | a repository directory `<dir>/<issuer>/*.pem`, rotating without restart | [`FileKeyRepository`] |
//! | `ASAP_ISSUER`, `ASAP_KEY_ID`, `ASAP_PRIVATE_KEY`, `ASAP_AUDIENCE` | [`EnvSigner`] |
//!
//! Public keys as people hand them in (a PEM `PUBLIC KEY`, or the OpenSSH `.pub` /
//! `authorized_keys` line) are read by [`parse_public_key`]. Each key format has one home, the
//! `formats` module: the readers and writers of private and public keys per format, one SSH
//! wire reader and one DER writer.
//!
//! The signing algorithm follows from the key (RS256 for RSA, ES256/384/512 for the NIST
//! curves, EdDSA for Ed25519) unless one is given.
//!
//! ```no_run
//! use std::sync::Arc;
//! use asap_core::{Audience, KeyId, Signer, SigningKey};
//!
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The key an engineer already has, passphrase and all.
//! let key = asap_keys::read_private_key("/home/me/.ssh/id_ed25519", Some(b"passphrase"))?;
//! let signer = Signer::builder("billing")
//!     .key(SigningKey::new(KeyId::parse("billing/laptop")?, key, None)?)
//!     .build()?;
//!
//! // A service: keys rotate by dropping a new file into /etc/asap/private/billing/.
//! let keys = asap_keys::FileKeyRepository::builder("/etc/asap/private", "billing").build()?;
//! let signer = Signer::builder("billing").key_source(Arc::new(keys)).build()?;
//!
//! // Or from the environment, as the reference implementations configure it.
//! let env = asap_keys::EnvSigner::from_env()?;
//! let token = env.sign()?;
//! # Ok(()) }
//! ```
//!
//! ## Verifying: public keys
//!
//! Each of these is an [`asap_core::PublicKeySource`] to give to [`asap_core::Verifier`]:
//!
//! - [`asap_core::StaticKeySource`]: a fixed map;
//! - [`DirectoryKeySource`]: files in repository layout, `<dir>/<kid>`, read by
//!   [`KeyDirectory`] (the rules a file must pass are listed there; the key server applies the
//!   same ones);
//! - [`HttpKeyRepository`]: an HTTP(S) key repository with mirrors, failover, an
//!   HTTP-semantics cache ([`CachePolicy`]), single flight and a per-issuer budget for unknown
//!   kids ([`FetchBudget`]) (its documentation lists every guarantee);
//!   [`HttpKeyRepository::builder_from_env`] reads `ASAP_PUBLIC_KEY_REPOSITORY_URL` (with the
//!   `url1 | url2` mirror syntax) and `ASAP_PUBLIC_KEY_FALLBACK_REPOSITORY_URL`;
//! - [`JwksKeySource`]: a JSON Web Key Set at a URL (strict [`JwkSet`] parsing, the same
//!   download rules, a refetch on an unknown kid with a cooldown, a maximum age);
//! - [`ChainKeySource`]: several of these in order.
//!
//! ```no_run
//! use asap_core::{Audience, Verifier};
//! use asap_keys::HttpKeyRepository;
//!
//! # async fn run(token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let keys = HttpKeyRepository::builder_from_env()?.build()?;
//! let verifier = Verifier::builder(keys)
//!     .audience(Audience::new("ledger")?)
//!     .allowed_issuers(["billing"])
//!     .build()?;
//! match verifier.verify(token).await {
//!     Ok(verified) => println!("hello {}", verified.subject()),
//!     // 401 for an unknown kid or a bad token, 503 when no repository answers.
//!     Err(e) => println!("{} {e}", e.outcome().status()),
//! }
//! # Ok(()) }
//! ```
//!
//! ## Publishing: the key server
//!
//! With the `server` feature, `asap_keys::server` publishes a directory (or any public key
//! source) as a key repository: a tower `Service` (`KeyService`) and a hyper server around it
//! (`KeyServer`) with bounded connections and TLS, and, when asked, the whole directory as one
//! JWK set at `/.well-known/jwks.json`. `asap serve-keys` runs it.
//!
//! ## Errors
//!
//! Loading errors are [`LoadError`] ([`KeyFormatError`] for public key text); environment errors are [`EnvError`] and name the
//! variable; repository configuration errors are [`ConfigError`]. Lookups fail with
//! [`asap_core::KeySourceError`] (`NotFound` → 401, `InvalidKey` → 401, `Unavailable` → 503);
//! an unavailable HTTP repository carries a [`FetchError`] that says what went wrong. No error
//! or `Debug` output shows key material or a passphrase.

#![deny(unsafe_code)]

mod capped_file;
mod directory;
mod env;
mod error;
mod file_repo;
mod formats;
mod http;
mod jwks;
pub mod metrics;
mod redact;
#[cfg(feature = "server")]
pub mod server;
mod sources;

pub use directory::{DEFAULT_READ_TIMEOUT, DirectoryError, KeyDirectory};
pub use env::{ENV_AUDIENCE, ENV_ISSUER, ENV_KEY_ID, ENV_PRIVATE_KEY, EnvSigner};
pub use error::{ConfigError, EnvError, FetchError, KeyFormatError, LoadError, SharedError};
pub use file_repo::{DEFAULT_RESCAN_INTERVAL, FileKeyRepository, FileKeyRepositoryBuilder};
pub use formats::{
    MAX_KEY_TEXT_BYTES, SSH_KEY_TYPES, parse_data_uri, parse_private_key, parse_public_key, read_private_key,
    signing_key_from_pem, to_data_uri,
};
pub use http::{
    BudgetScope, CachePolicy, ENV_FALLBACK_REPOSITORY_URL, ENV_REPOSITORY_URL, FetchBudget,
    HttpKeyRepository, HttpKeyRepositoryBuilder, MAX_KEY_BODY_BYTES, PEM_CONTENT_TYPE, is_loopback,
};
pub use jwks::{
    JWKS_CONTENT_TYPE, Jwk, JwkError, JwkSet, JwksKeySource, JwksKeySourceBuilder, JwksPolicy, MAX_JWKS_KEYS,
    PRIVATE_JWK_MEMBERS,
};
pub use redact::redact_url;
pub use sources::{ChainKeySource, DirectoryKeySource};
