//! Inbound Atlassian Forge Remote (feature `forge`): [`ForgeLayer`] verifies the Forge
//! Invocation Token of every request Forge sends to a remote backend with a
//! [`forge_remote::InvocationVerifier`] and puts the [`forge_remote::Invocation`] (claims, and
//! the app's OAuth tokens as opaque secrets) into the request extensions; handlers take it with
//! [`ForgeInvocation`] (feature `axum`). Anything else is refused:
//!
//! | what happened | status |
//! |---|---|
//! | no token, malformed/forged/expired token, not RS256, wrong `iss` or `aud`, unknown kid, a bad `x-forge-oauth-*` header, a replayed token (with [`ForgeLayer::replay_guard`]) | 401 + `WWW-Authenticate: Bearer` |
//! | Forge's key set cannot be fetched and nothing cached can answer, or the replay guard cannot answer | 503 + `Retry-After` |
//!
//! Bad input never becomes a 500; the body is small JSON naming the failed rule, never the
//! token. The request goes on with its `Authorization`, `x-forge-oauth-system` and
//! `x-forge-oauth-user` headers marked sensitive, so a `{:?}` of the headers shows none of
//! them. The rules all live in [`forge_remote::InvocationVerifier`]; this module only wires it.
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use asap_tower::{ForgeInvocation, ForgeLayer};
//! use axum::{Router, routing::post};
//! use forge_remote::InvocationVerifier;
//!
//! # fn app() -> Result<Router, Box<dyn std::error::Error>> {
//! let verifier = InvocationVerifier::builder("ari:cloud:ecosystem::app/5e3a1c52-7d7c-4d55-9d8b-0c1e6c2b8d11").build()?;
//! let app = Router::new()
//!     .route("/macro", post(|ForgeInvocation(invocation): ForgeInvocation| async move {
//!         format!("hello {}", invocation.installation_id())
//!     }))
//!     .layer(ForgeLayer::new(verifier));
//! # Ok(app) }
//! # }
//! ```

mod authorizer;
#[cfg(feature = "axum")]
mod extract;
mod response;

pub use authorizer::ForgeAuthorizer;
#[cfg(feature = "axum")]
pub use extract::{ForgeInvocation, NotForgeInvocation};
pub use response::{forge_error_code, forge_response};

use crate::authorize::{AuthorizeLayer, AuthorizeService};

/// Verifies the Forge Invocation Token of every request and puts the
/// [`forge_remote::Invocation`] into the request extensions; refuses the request with 401 or
/// 503 otherwise. Built with [`ForgeLayer::new`]; see the [module documentation](crate::forge).
pub type ForgeLayer = AuthorizeLayer<ForgeAuthorizer>;

/// The service made by [`ForgeLayer`].
pub type ForgeService<S> = AuthorizeService<S, ForgeAuthorizer>;
