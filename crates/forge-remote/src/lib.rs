//! # forge-remote
//!
//! Atlassian Forge Remote for Rust: a remote backend (or a Connect-on-Forge app) receives every
//! call from Forge with `Authorization: Bearer <Forge Invocation Token>`, an RS256 JWT signed
//! with a key from Forge's JSON Web Key Set. This crate verifies it as a profile of the same
//! core as ASAP and Connect:
//!
//! - [`InvocationVerifier`] — the token rules (RS256 only, `iss` [`FORGE_ISSUER`], `aud` the
//!   app id, the core's time rule, `jti` (single-use with an opt-in replay guard), a bounded
//!   size), keys from
//!   [`asap_keys::JwksKeySource`] (production or staging Forge key set by configuration, with
//!   the key repository's download rules, a refetch on an unknown kid behind a cooldown, and a
//!   maximum age);
//! - [`InvocationClaims`] — typed `app` (id, installation id, API base URL, version,
//!   environment, module, licence, installation contexts), `context` and `principal`, every
//!   other field kept as JSON;
//! - [`ForgeOAuthToken`] — the app system and user tokens (`x-forge-oauth-system`,
//!   `x-forge-oauth-user`) as opaque secrets: redacted in `Debug`, zeroed on drop;
//! - [`ProductClient`] — requests to the product through `app.apiBaseUrl` with the app's token.
//!
//! `asap-tower`'s `ForgeLayer` (feature `forge`) puts the verifier in front of a tower or axum
//! service, and its `ForgeInvocation` extractor hands the [`Invocation`] to handlers.
//!
//! ```no_run
//! use forge_remote::{ForgeKeys, InvocationVerifier, ProductClient};
//!
//! # async fn run(headers: &http::HeaderMap) -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = InvocationVerifier::builder("ari:cloud:ecosystem::app/5e3a1c52-7d7c-4d55-9d8b-0c1e6c2b8d11")
//!     .keys(ForgeKeys::Production) // or ForgeKeys::Staging
//!     .build()?;
//! let invocation = verifier.verify_request(headers).await?; // 401 / 503 on error: e.outcome()
//! let product = ProductClient::new(reqwest::Client::new());
//! let response = product
//!     .as_app(&invocation, reqwest::Method::GET, "/rest/api/3/serverInfo")?
//!     .send()
//!     .await?;
//! # let _ = response; Ok(()) }
//! ```
//!
//! The guide, with the rules and their reasons, is `docs/forge.md`.

#![deny(unsafe_code)]

mod claims;
mod error;
mod product;
mod secret;
mod verifier;

pub use claims::{
    App, Context, Environment, Installation, InstallationContext, InvocationClaims, License, Module,
};
pub use error::{ConfigError, ForgeError};
pub use product::{ProductClient, ProductError};
pub use secret::{ForgeOAuthToken, MAX_OAUTH_TOKEN_BYTES, SYSTEM_TOKEN_HEADER, USER_TOKEN_HEADER};
pub use verifier::{
    APP_ID_PREFIX, DEFAULT_MAX_INVOCATION_TOKEN_BYTES, DEFAULT_MAX_LIFETIME, FORGE_ISSUER, ForgeKeys,
    Invocation, InvocationVerifier, InvocationVerifierBuilder, MAX_INVOCATION_TOKEN_BYTES,
    PRODUCTION_JWKS_URL, STAGING_JWKS_URL,
};
