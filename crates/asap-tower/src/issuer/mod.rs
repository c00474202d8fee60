//! Inbound central-issuer tokens (feature `issuer-tokens`): [`IssuerLayer`] verifies
//! `Authorization: Bearer <token>` — an api_jwt token from the fleet's auth service — with an
//! [`issuer_tokens::IssuerVerifier`], applies the route's [`issuer_tokens::IssuerPolicy`]
//! (minimum level, required scopes, scopes per role), puts the [`issuer_tokens::IssuerClaims`]
//! into the request extensions (handlers take them with [`IssuerAuthenticated`], feature
//! `axum`), and refuses the rest:
//!
//! | what happened | status |
//! |---|---|
//! | no token, malformed/forged/expired token, a key outside the trusted set, an `aud` not for this service | 401 + `WWW-Authenticate: Bearer` |
//! | an issuer outside the roles, a level below the route's, a scope the role may not carry | 403 |
//! | a scope the route requires is missing | 403 + `WWW-Authenticate: Bearer error="insufficient_scope"` |
//!
//! Bad input never becomes a 500; the body is small JSON naming the failed rule, never the
//! token.
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use asap_core::{KeySpec, PrivateKey};
//! use asap_tower::{IssuerAuthenticated, IssuerLayer};
//! use axum::{Router, routing::get};
//! use issuer_tokens::{IssuerPolicy, IssuerVerifier};
//!
//! # fn app() -> Result<Router, Box<dyn std::error::Error>> {
//! # let issuer_key = PrivateKey::generate(KeySpec::Rsa(2048))?.public_key()?;
//! let verifier = IssuerVerifier::builder().trusted_key(issuer_key).build()?;
//! let service = IssuerLayer::new(verifier)
//!     .policy(IssuerPolicy::new().role_scopes("user", ["user:all"]).role_scopes("admin", ["admin:all"]));
//! let app = Router::new()
//!     .route("/me", get(|IssuerAuthenticated(claims): IssuerAuthenticated| async move { claims.subject().to_owned() }))
//!     .route(
//!         "/admin",
//!         get(|| async { "admin" }).route_layer(service.narrow(IssuerPolicy::new().min_level(3.0).require_scopes(["admin:all"]))),
//!     )
//!     .layer(service);
//! # Ok(app) }
//! # }
//! ```
//!
//! A layer made with [`IssuerLayer::narrow`] shares the outer layer's verifier: a request the
//! outer layer admitted is not verified again, only the inner layer's policy is applied — in
//! addition to the outer one's, which already passed.

mod authorizer;
#[cfg(feature = "axum")]
mod extract;
mod response;

pub use authorizer::IssuerAuthorizer;
#[cfg(feature = "axum")]
pub use extract::{IssuerAuthenticated, NotIssuerAuthenticated};
pub use response::{issuer_error_code, issuer_response};

use crate::authorize::{AuthorizeLayer, AuthorizeService};

/// Verifies every request's central-issuer token and applies a route policy; puts the
/// [`issuer_tokens::IssuerClaims`] into its extensions, or refuses it with 401 or 403. Built with
/// [`IssuerLayer::new`].
pub type IssuerLayer = AuthorizeLayer<IssuerAuthorizer>;

/// The service made by [`IssuerLayer`].
pub type IssuerService<S> = AuthorizeService<S, IssuerAuthorizer>;
