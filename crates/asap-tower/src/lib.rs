//! # asap-tower
//!
//! Inbound ASAP for any tower/hyper/axum server: [`AsapLayer`] verifies the
//! `Authorization: Bearer <token>` of each request with an [`asap_core::Verifier`], puts the
//! verified caller ([`asap_core::Verified`]) into the request extensions, and refuses the rest:
//!
//! | what happened | status |
//! |---|---|
//! | no token, malformed/forged/expired token, wrong audience, unknown key, replay | 401 + `WWW-Authenticate: Bearer` |
//! | valid token from an issuer or subject the policy refuses | 403 |
//! | valid token without a scope the route requires ([`RequireScopesLayer`], [`Scoped`]) | 403 + `WWW-Authenticate: Bearer error="insufficient_scope"` |
//! | the key repository or replay store cannot answer | 503 + `Retry-After` |
//!
//! Bad input never becomes a 500. The refusal body is small JSON
//! (`{"error":"invalid_token","error_description":"token expired (…)"}`), never echoing the token
//! and, on a 503, never naming the dependency that failed; replace it with
//! [`AsapLayer::on_rejection`]. Accepted and refused calls are logged with `tracing` (issuer,
//! kid, reason — never the token; a 503's reason at `warn`). The request goes on to the inner
//! service with its `Authorization` header marked sensitive, so a `{:?}` of it shows no token.
//!
//! With axum, handlers take the caller with the [`Authenticated`] extractor (feature `axum`,
//! on by default):
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use asap_core::{Audience, StaticKeySource, Verifier};
//! use asap_tower::{AsapLayer, Authenticated};
//! use axum::{Router, routing::get};
//!
//! # fn app() -> Result<Router, Box<dyn std::error::Error>> {
//! let verifier = Verifier::builder(StaticKeySource::new()).audience(Audience::new("ledger")?).build()?;
//! let service = AsapLayer::new(verifier);
//! let app = Router::new()
//!     .route("/whoami", get(|Authenticated(caller): Authenticated| async move { caller.issuer().to_owned() }))
//!     .route("/admin", get(|| async { "admin" }).route_layer(service.narrow().allowed_issuers(["ops"])))
//!     .layer(service);
//! # Ok(app) }
//! # }
//! ```
//!
//! With plain hyper, wrap the layered service in `hyper_util::service::TowerToHyperService`;
//! the response body type only needs `From<String>` (e.g. `http_body_util::Full<Bytes>`).
//!
//! # Layout and names
//!
//! Every middleware here is one generic [`AuthorizeLayer`] / [`AuthorizeService`] /
//! [`ResponseFuture`] ([`authorize`]) configured by an [`Authorize`] implementation; the
//! configurations are aliases:
//!
//! | layer | service | authorizer | identity in the extensions | axum extractor |
//! |---|---|---|---|---|
//! | [`AsapLayer`] | [`AsapService`] | [`AsapAuthorizer`] | [`asap_core::Verified`] | [`Authenticated`], [`Scoped`] |
//! | [`RequireScopesLayer`] | [`RequireScopesService`] | [`ScopeAuthorizer`] | (reads the `Verified`) | |
//! | `ConnectLayer` | `ConnectService` | `ConnectAuthorizer` | `connect_qsh::VerifiedRequest` | `ConnectAuthenticated` |
//! | `UserLayer` | `UserService` | `UserAuthorizer` | `user_tokens::VerifiedUser` | `UserAuthenticated` |
//! | `IssuerLayer` | `IssuerService` | `IssuerAuthorizer` | `issuer_tokens::IssuerClaims` | `IssuerAuthenticated` |
//!
//! The ASAP items live in [`asap`], the Connect ones (feature `connect`) in `connect`, the
//! per-user token ones (feature `user-tokens`, asymmetric-jwt-auth's format) in `user`, the
//! central-issuer ones (feature `issuer-tokens`, api_jwt's format) in `issuer`; all are
//! re-exported here. A route's layer inside the service's layer is always at least as strict
//! as both: see [`asap`](crate::asap#layers-inside-layers).

#![deny(unsafe_code)]

pub mod asap;
pub mod authorize;
#[cfg(feature = "connect")]
pub mod connect;
#[cfg(feature = "issuer-tokens")]
pub mod issuer;
mod refusal;
#[cfg(feature = "user-tokens")]
pub mod user;

pub use asap::{
    AsapAuthorizer, AsapLayer, AsapService, RequireScopesLayer, RequireScopesService, ScopeAuthorizer,
    default_response, error_code,
};
#[cfg(feature = "axum")]
pub use asap::{Authenticated, NotAuthenticated, RequiredScopes, ScopeRejection, Scoped};
pub use authorize::{Authorize, AuthorizeLayer, AuthorizeService, ResponseFuture};
#[cfg(all(feature = "connect", feature = "axum"))]
pub use connect::{ConnectAuthenticated, NotConnectAuthenticated};
#[cfg(feature = "connect")]
pub use connect::{ConnectAuthorizer, ConnectLayer, ConnectService, connect_error_code, connect_response};
#[cfg(all(feature = "issuer-tokens", feature = "axum"))]
pub use issuer::{IssuerAuthenticated, NotIssuerAuthenticated};
#[cfg(feature = "issuer-tokens")]
pub use issuer::{IssuerAuthorizer, IssuerLayer, IssuerService, issuer_error_code, issuer_response};
#[cfg(all(feature = "user-tokens", feature = "axum"))]
pub use user::{NotUserAuthenticated, UserAuthenticated};
#[cfg(feature = "user-tokens")]
pub use user::{UserAuthorizer, UserLayer, UserService, user_error_code, user_response};
