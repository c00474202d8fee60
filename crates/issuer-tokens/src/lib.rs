//! # issuer-tokens
//!
//! Central-issuer tokens on the wire format of the Python package `api-jwt-2` (1.3.2, module
//! `api_jwt`): one auth service signs RS256 tokens for clients with `iss` = the key role's
//! issuer name (`auth_user`, `auth_admin`, …), `sub`, `exp`, and extras sent as strings —
//! `level` (`"3.1"`), `factor`, `target`, `dnt` (`"0"`), `scopes` (`"a,b"`); services verify
//! with one or a few configured public keys, trying each (tokens name no key).
//!
//! - [`IssuerVerifier`]: a bounded set of trusted keys tried in order, RS256 only, `exp`
//!   required, the extras typed ([`IssuerClaims`]), `iss` mapped to a role ([`Roles`]);
//! - [`IssuerPolicy`]: what a route requires — a minimum level, scopes, the scopes each role may
//!   carry (403 otherwise);
//! - [`IssuerSigner`]: the auth service's side, checked by a core [`asap_core::ClaimsPolicy`]
//!   (api_jwt's allowed values by default, [`api_jwt_default_policy`]).
//!
//! This profile is weaker than ASAP by design of the format: no audience (a token is good at
//! every service that trusts the issuer), no `jti` (no replay protection), no `iat` (so the
//! lifetime is bounded from now, [`DEFAULT_MAX_LIFETIME`]). `docs/issuer-tokens.md` says what
//! the defaults do about each.
//!
//! ```
//! use asap_core::{KeySpec, PrivateKey};
//! use issuer_tokens::{IssueRequest, IssuerPolicy, IssuerSigner, IssuerTokenError, IssuerVerifier, Roles};
//!
//! let key = PrivateKey::generate(KeySpec::Rsa(2048))?;
//! let roles = Roles::default().role("support", "auth_support");
//! let verifier = IssuerVerifier::builder().trusted_key(key.public_key()?).roles(roles.clone()).build()?;
//! let policy = asap_core::ClaimsPolicy::new()
//!     .allow("level", [2.0, 3.0, 3.1])
//!     .allow_any("factor")
//!     .role("support", ["support:all", "support:mobile"]);
//! let signer = IssuerSigner::new(key)?.roles(roles).claims_policy(policy);
//!
//! let token = signer.sign(&IssueRequest::new("ann").role("support").level(3.1).factor("yubikey").scopes(["support:mobile"]))?;
//! let claims = verifier.verify(&token)?;
//! let route = IssuerPolicy::new().min_level(3.0).require_scopes(["support:mobile"]);
//! assert!(route.check(&claims).is_ok());
//! let admin_route = IssuerPolicy::new().require_scopes(["admin:all"]);
//! assert_eq!(admin_route.check(&claims).unwrap_err().outcome().status(), 403);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(unsafe_code)]

mod claims;
mod signer;
mod verifier;

pub use claims::{IssuerClaims, Level, Roles};
pub use signer::{DEFAULT_ISSUER_LIFETIME, IssueRequest, IssuerSigner, api_jwt_default_policy};
pub use verifier::{
    DEFAULT_MAX_LIFETIME, IssuerPolicy, IssuerTokenError, IssuerVerifier, IssuerVerifierBuilder,
    MAX_TRUSTED_KEYS,
};
