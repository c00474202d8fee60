//! # asap-tower
//!
//! ASAP for any tower/hyper/axum/tonic server, and for tower clients. Inbound, [`AsapLayer`] verifies the
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
//! With plain hyper, wrap the layered service in `hyper_util::service::TowerToHyperService`.
//! The layer fits any body type: its responses have a [`ResponseBody`] of their own, with the
//! inner body's data and error types.
//!
//! # gRPC
//!
//! The same layer goes in front of a tonic server — `Server::builder().layer(AsapLayer::new(verifier))`
//! — and the handler finds the caller in the request's extensions
//! (`request.extensions().get::<asap_core::Verified>()`). A refused gRPC request (a `POST`
//! whose `content-type` is `application/grpc`, `application/grpc+proto`, …) gets the answer a
//! gRPC client reads: a trailers-only response (HTTP 200, no body) whose `grpc-status` is
//!
//! | HTTP refusal | `grpc-status` | `grpc-message` |
//! |---|---|---|
//! | 401 | `UNAUTHENTICATED` (16) | the reason, as in the HTTP body |
//! | 403 | `PERMISSION_DENIED` (7) | the reason |
//! | 503 | `UNAVAILABLE` (14) | a fixed text (the reason names the dependency: logs only) |
//!
//! The message is percent-encoded and at most 1 KiB. The code follows the status of the HTTP
//! refusal, so a responder replaced with [`AsapLayer::on_rejection`] keeps its meaning (other
//! statuses map as the gRPC specification says: 400 `INTERNAL`, 404 `UNIMPLEMENTED`, 429 and
//! 502–504 `UNAVAILABLE`, the rest `UNKNOWN`). Other requests through the same layer keep
//! their HTTP refusals: the choice is made per request, by its method and `content-type`, so
//! one server can answer REST and gRPC clients alike (see `docs/grpc.md`).
//!
//! # Outbound
//!
//! [`SignRequestsLayer`] is the other side: it signs every request a tower client sends (a
//! tonic channel, a hyper-util client), with token reuse and a per-request audience; see
//! [`sign`].
//!
//! # Layout and names
//!
//! Every inbound middleware here is one generic [`AuthorizeLayer`] / [`AuthorizeService`] /
//! [`ResponseFuture`] / [`ResponseBody`] ([`authorize`]) configured by an [`Authorize`]
//! implementation; the configurations are aliases:
//!
//! | layer | service | authorizer | identity in the extensions | axum extractor |
//! |---|---|---|---|---|
//! | [`AsapLayer`] | [`AsapService`] | [`AsapAuthorizer`] | [`asap_core::Verified`] | [`Authenticated`], [`Scoped`] |
//! | [`RequireScopesLayer`] | [`RequireScopesService`] | [`ScopeAuthorizer`] | (reads the `Verified`) | |
//! | `ConnectLayer` | `ConnectService` | `ConnectAuthorizer` | `connect_qsh::VerifiedRequest` | `ConnectAuthenticated` |
//! | `ForgeLayer` | `ForgeService` | `ForgeAuthorizer` | `forge_remote::Invocation` | `ForgeInvocation` |
//! | `UserLayer` | `UserService` | `UserAuthorizer` | `user_tokens::VerifiedUser` | `UserAuthenticated` |
//! | `IssuerLayer` | `IssuerService` | `IssuerAuthorizer` | `issuer_tokens::IssuerClaims` | `IssuerAuthenticated` |
//!
//! The ASAP items live in [`asap`], the Connect ones (feature `connect`) in `connect`, the
//! outbound [`SignRequestsLayer`] / [`SignRequestsService`] / [`SignRequestsFuture`] in
//! [`sign`], the Forge Remote ones (feature `forge`) in `forge`, the per-user token ones
//! (feature `user-tokens`, asymmetric-jwt-auth's format) in `user`, the central-issuer ones
//! (feature `issuer-tokens`, api_jwt's format) in `issuer`; all are re-exported here. A route's
//! layer inside the service's layer is always at least as strict
//! as both: see [`asap`](crate::asap#layers-inside-layers).

#![deny(unsafe_code)]

pub mod asap;
pub mod authorize;
#[cfg(feature = "connect")]
pub mod connect;
#[cfg(feature = "forge")]
pub mod forge;
mod grpc;
#[cfg(feature = "issuer-tokens")]
pub mod issuer;
mod refusal;
pub mod sign;
#[cfg(feature = "user-tokens")]
pub mod user;

pub use asap::{
    AsapAuthorizer, AsapLayer, AsapService, RequireScopesLayer, RequireScopesService, ScopeAuthorizer,
    default_response, error_code,
};
#[cfg(feature = "axum")]
pub use asap::{Authenticated, NotAuthenticated, RequiredScopes, ScopeRejection, Scoped};
pub use authorize::{Authorize, AuthorizeLayer, AuthorizeService, ResponseBody, ResponseFuture};
#[cfg(all(feature = "connect", feature = "axum"))]
pub use connect::{ConnectAuthenticated, NotConnectAuthenticated};
#[cfg(feature = "connect")]
pub use connect::{
    ConnectAuthorizer, ConnectLayer, ConnectService, SessionTokenFuture, SessionTokenHeaderLayer,
    SessionTokenHeaderService, connect_error_code, connect_response,
};
#[cfg(feature = "forge")]
pub use forge::{ForgeAuthorizer, ForgeLayer, ForgeService, forge_error_code, forge_response};
#[cfg(all(feature = "forge", feature = "axum"))]
pub use forge::{ForgeInvocation, NotForgeInvocation};
#[cfg(all(feature = "issuer-tokens", feature = "axum"))]
pub use issuer::{IssuerAuthenticated, NotIssuerAuthenticated};
#[cfg(feature = "issuer-tokens")]
pub use issuer::{IssuerAuthorizer, IssuerLayer, IssuerService, issuer_error_code, issuer_response};
pub use sign::{SignRequestsError, SignRequestsFuture, SignRequestsLayer, SignRequestsService};
#[cfg(all(feature = "user-tokens", feature = "axum"))]
pub use user::{NotUserAuthenticated, UserAuthenticated};
#[cfg(feature = "user-tokens")]
pub use user::{UserAuthorizer, UserLayer, UserService, user_error_code, user_response};
