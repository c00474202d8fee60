//! # user-tokens
//!
//! Per-user key tokens on the wire format of the Python package `asymmetric-jwt-auth` (1.3.0),
//! so a Rust service can sit in a fleet that already uses it, as client or as server:
//!
//! - the client signs `{"username", "time", "nonce"}` with the user's own private key (RSA:
//!   RS512, RS384 or RS256; Ed25519: EdDSA), `kid` = the public key's [`Fingerprint`] (the
//!   lowercase hex SHA-256 of its SPKI PEM text), and sends `Authorization: JWT <token>`
//!   ([`UserSigner`]);
//! - the server finds the key by `(username, fingerprint)` in a [`UserKeySource`] (the key
//!   registry `asap_registry::KeyRegistry` on SQLite or PostgreSQL, [`StaticUserKeys`], a
//!   per-user JWKS), verifies, requires `time` within ±20 s of now, and refuses a nonce already
//!   used for the same `(username, time)` — atomically, where the package's own nonce store is
//!   racy by its own admission ([`UserVerifier`]);
//! - unknown users cost the same work as known ones and get the same answer;
//! - `user_jwks` (feature `jwks`) publishes the service's own signing keys as the package's
//!   JWKS view does.
//!
//! Each rule composes the core: [`asap_core::Jws::parse`] for size and framing,
//! [`asap_core::RegisteredClaims`] for claim typing, [`asap_core::TimeRule`] for the window,
//! the [`asap_core::VerifyingKey`] seam for signatures and [`asap_core::ReplayGuard`] for nonces.
//! Inbound HTTP: `asap_tower::UserLayer` (feature `user-tokens`); outbound:
//! `asap_reqwest::UserTokenMiddleware` (feature `user-tokens`). The guide is
//! `docs/user-tokens.md`.
//!
//! ```
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use asap_core::{KeySpec, PrivateKey};
//! use user_tokens::{StaticUserKeys, UserSigner, UserVerifier};
//!
//! let private = PrivateKey::generate(KeySpec::Rsa(2048))?;
//! let verifier = UserVerifier::builder(StaticUserKeys::new().with_key("ann", private.public_key()?)).build()?;
//! let header = UserSigner::new("ann", private)?.authorization()?; // "JWT eyJ…"
//! assert_eq!(verifier.verify_authorization(&header).await?.username(), "ann");
//! # Ok(()) }
//! ```

#![deny(unsafe_code)]

mod error;
mod fingerprint;
#[cfg(feature = "jwks")]
mod jwks;
#[cfg(feature = "jwks")]
mod per_user_jwks;
mod signer;
mod source;
mod verifier;

pub use error::{UserSignError, UserTokenError};
pub use fingerprint::Fingerprint;
#[cfg(feature = "jwks")]
pub use jwks::{user_jwk, user_jwks};
#[cfg(feature = "jwks")]
pub use per_user_jwks::PerUserJwks;
pub use signer::{AUTH_SCHEME, USER_TOKEN_ALGORITHMS, UserSigner};
pub use source::{StaticUserKeys, UserKeyFuture, UserKeySource};
pub use verifier::{
    DEFAULT_MAX_NONCES, DEFAULT_MAX_NONCES_PER_USER, DEFAULT_TOLERANCE, MAX_NONCE_LEN, UserVerifier,
    UserVerifierBuilder, VerifiedUser, jwt_token,
};
