//! Inbound Atlassian Connect (feature `connect`): [`ConnectLayer`] authenticates every request
//! the product (Jira, Confluence, …) sends to a Connect app with a
//! [`connect_qsh::Authenticator`]: the token comes from `Authorization: JWT <token>` or the
//! `jwt` query parameter, and must be bound to this request by its `qsh`. The tenant's
//! [`connect_qsh::VerifiedRequest`] context goes into the request extensions (handlers take it
//! with [`ConnectAuthenticated`], feature `axum`); anything else is refused:
//!
//! | what happened | status |
//! |---|---|
//! | no token, malformed/forged/expired token, unknown `iss`, `qsh` of another request | 401 + `WWW-Authenticate: JWT` |
//! | a `context-qsh` token, or an app session token, on a route that did not opt in | 403 |
//! | the shared-secret store cannot answer | 503 + `Retry-After` |
//!
//! Bad input never becomes a 500; the body is small JSON naming the failed rule, never the
//! token (replace it with [`ConnectLayer::on_rejection`]). The rules (token location, HS256
//! only, shared secret by `iss`, time claims, `qsh`) all live in
//! [`connect_qsh::Authenticator`]; this module only wires it into tower and axum.
//!
//! `context-qsh` tokens (from `AP.context.getToken()`, not bound to any request) are accepted
//! only by a layer built with [`ConnectLayer::allow_context_qsh`], so the opt-in is per route:
//! apply the layers with `route_layer` on the routes or routers they protect. The lifecycle
//! callbacks (`/installed`, `/uninstalled`) are verified by [`connect_qsh::Lifecycle`] instead
//! and stay outside these layers.
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use asap_tower::{ConnectAuthenticated, ConnectLayer};
//! use axum::{Router, routing::get};
//! use connect_qsh::{Authenticator, InMemoryTenantStore};
//!
//! # fn app() -> Result<Router, Box<dyn std::error::Error>> {
//! let tenants = std::sync::Arc::new(InMemoryTenantStore::new());
//! let authenticator = Authenticator::builder(tenants)
//!     .base_url("https://app.example.com")
//!     .build()?;
//! let pages_layer = ConnectLayer::new(authenticator);
//!
//! // Pages the product loads: the token must be bound to the request.
//! let pages = Router::new()
//!     .route("/panel", get(|ConnectAuthenticated(tenant): ConnectAuthenticated| async move {
//!         format!("hello {}", tenant.client_key())
//!     }))
//!     .route_layer(pages_layer.clone());
//! // The app's own AJAX endpoints also take the page's context token.
//! let ajax = Router::new()
//!     .route("/api/issues", get(|ConnectAuthenticated(tenant): ConnectAuthenticated| async move {
//!         format!("issues of {}", tenant.client_key())
//!     }))
//!     .route_layer(pages_layer.allow_context_qsh(true));
//! let app = pages.merge(ajax);
//! # Ok(app) }
//! # }
//! ```
//!
//! # App session tokens
//!
//! With [`session_tokens`](connect_qsh::AuthenticatorBuilder::session_tokens) on the
//! authenticator, a page load the product signed gets a short-lived HS256 token for the app's
//! own front end, which [`SessionTokenHeaderLayer`] sends in the `X-acpt` response header; the
//! page sends it back as `Authorization: JWT <token>`, and only layers built with
//! [`ConnectLayer::allow_session_tokens`] accept it.
//!
//! # Layers inside layers
//!
//! A route can be narrower than the service, never wider. A layer made with
//! [`ConnectLayer::narrow`] from the outer one shares its authenticator, so it only applies its
//! own `context-qsh` rule to the tenant the outer layer authenticated (and refuses anonymous
//! requests). A layer built with its own `ConnectLayer::new(authenticator)` authenticates the
//! request again with that authenticator: its tenant store, base URL and `qsh` rule all apply.
//!
//! The `qsh` is computed on the request URI as the app received it: with axum, the original
//! URI (before `Router::nest` strips a prefix) is used when axum recorded it.

mod authorizer;
#[cfg(feature = "axum")]
mod extract;
mod response;
mod session;

pub use authorizer::ConnectAuthorizer;
#[cfg(feature = "axum")]
pub use extract::{ConnectAuthenticated, NotConnectAuthenticated};
pub use response::{connect_error_code, connect_response};
pub use session::{SessionTokenFuture, SessionTokenHeaderLayer, SessionTokenHeaderService};

use crate::authorize::{AuthorizeLayer, AuthorizeService};

/// Authenticates every request with a [`connect_qsh::Authenticator`] and puts the tenant's
/// [`connect_qsh::VerifiedRequest`] context into the request extensions; refuses the request with
/// 401, 403 or 503 otherwise.
///
/// Built with [`ConnectLayer::new`] and configured with its builder methods (`context-qsh`,
/// anonymous requests, the refusal response); see the [module documentation](crate::connect)
/// for an example and for layers inside layers.
pub type ConnectLayer = AuthorizeLayer<ConnectAuthorizer>;

/// The service made by [`ConnectLayer`].
pub type ConnectService<S> = AuthorizeService<S, ConnectAuthorizer>;
