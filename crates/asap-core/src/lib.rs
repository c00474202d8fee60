//! # asap-core
//!
//! The token model of ASAP (Atlassian Service Authentication Protocol) and every rule that
//! protects it, with no network and no file access: a [`Signer`] that makes tokens and a
//! [`Verifier`] that checks them against a [`PublicKeySource`].
//!
//! ```
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use asap_core::*;
//!
//! // The calling service owns a key pair; its public key is published under the kid.
//! let private = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?;
//! let kid = KeyId::parse("billing/2026-11-01")?;
//! let public_keys = StaticKeySource::new().with_key(kid.clone(), private.public_key()?);
//!
//! let signer = Signer::builder("billing")
//!     .key(SigningKey::new(kid, private, None)?)
//!     .build()?;
//! let verifier = Verifier::builder(public_keys)
//!     .audience(Audience::new("ledger")?)
//!     .allowed_issuers(["billing"])
//!     .build()?;
//!
//! let token = signer.sign(&Audience::new("ledger")?)?;
//! let verified = verifier.verify(token.as_str()).await?;
//! assert_eq!(verified.issuer(), "billing");
//!
//! // Every failure names its rule and maps to an HTTP status in one place.
//! let err = verifier.verify("not.a.token").await.unwrap_err();
//! assert_eq!(err.outcome().status(), 401);
//! # Ok(()) }
//! ```
//!
//! The rules, the reasons behind them and their tests are listed in `docs/asap-rules.md`.
//!
//! ## Other token profiles
//!
//! The pieces the [`Verifier`] is made of are public, so that another kind of token (Atlassian
//! Connect's HS256 tenant tokens, JWKS-published keys, per-user keys, a central issuer) is
//! checked by the same rules rather than by a copy: [`Jws::parse`] (size, framing, strict
//! header), [`Jws::decode_claims`] (claim typing, as [`RegisteredClaims`]; a profile's own
//! nested claims typed straight from the text by [`Jws::decode_claims_with`] and
//! [`TypedClaims`]), the
//! [`VerifyingKey`] signature seam ([`PublicKey`], [`HmacKey`]), the [`TimeRule`] and
//! [`check_audience`]; their failures are a [`TokenError`], which each profile's error nests.
//! `jws.rs` shows a whole profile in a few lines.
//!
//! Keys from files, environment variables and HTTP(S) repositories come from `asap-keys`.

#![deny(unsafe_code)]

mod algorithm;
mod claims;
mod claims_policy;
mod clock;
mod der;
mod error;
mod expiry;
mod hmac;
mod json;
mod jws;
mod keys;
mod kid;
pub mod metrics;
mod policy;
mod replay;
mod rules;
mod signer;
mod source;
mod time;
mod verified_cache;
mod verifier;

pub use algorithm::{Algorithm, KeyKind, truncate};
pub use claims::{
    Audience, Claims, EmptyValue, InvalidQsh, QSH_CLAIM, Qsh, REGISTERED_CLAIMS, RegisteredClaims,
    check_audience,
};
pub use claims_policy::{ClaimsPolicy, DEFAULT_ROLE_CLAIM, SCOPE_CLAIM, SCOPES_CLAIM};
pub use clock::{Clock, ManualClock, SystemClock};
pub use der::oid;
pub use error::{
    AlgorithmError, BoxError, ConfigError, KeyError, KeySourceError, KidError, Outcome, ReplayError,
    SignError, TokenError, VerifyError,
};
pub use hmac::{HmacAlgorithm, HmacKey};
pub use json::write as json_write;
pub use json::{
    ClaimValue, FromJsonObject, Member, Members, TypedClaims, deserialize_object, parse_json_object,
};
pub use jws::{
    DEFAULT_MAX_TOKEN_BYTES, FORBIDDEN_HEADERS, Jws, JwsHeader, JwsSignature, VerifyingKey, encode_compact,
};
pub use keys::{KeySpec, MIN_RSA_BITS, PrivateKey, PublicKey};
pub use kid::{KeyId, KidOwnership, MAX_KID_LEN};
pub use policy::AccessPolicy;
pub use replay::{InMemoryReplayGuard, MAX_REPLAY_HORIZON, ReplayFuture, ReplayGuard, SWEEP_GRACE, TokenUse};
pub use rules::{bearer_token, is_loopback_host};
pub use signer::{
    DEFAULT_LIFETIME, MAX_LIFETIME, Signer, SignerBuilder, SigningKey, SigningKeySource, Token, TokenRequest,
    check_lifetime,
};
pub use source::{KeyFuture, PublicKeySource, StaticKeySource};
pub use time::{MAX_LEEWAY, TimeClaims, TimeRule};
pub use verifier::{DEFAULT_LEEWAY, Verified, Verifier, VerifierBuilder};
