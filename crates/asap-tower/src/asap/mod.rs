//! Inbound ASAP: [`AsapLayer`] verifies the `Authorization: Bearer <token>` of each request with
//! an [`asap_core::Verifier`], puts the verified caller ([`asap_core::Verified`]) into the
//! request extensions, and refuses the rest (401, 403 or 503, see the
//! [crate documentation](crate)). [`RequireScopesLayer`] narrows a route to callers whose token
//! carries some scopes. Both are [`AuthorizeLayer`]s; handlers take the caller with
//! [`Authenticated`] or [`Scoped`] (feature `axum`).
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use asap_core::{Audience, StaticKeySource, Verifier};
//! use asap_tower::{AsapLayer, Authenticated, RequireScopesLayer};
//! use axum::{Router, routing::get};
//!
//! # fn app() -> Result<Router, Box<dyn std::error::Error>> {
//! let verifier = Verifier::builder(StaticKeySource::new())
//!     .audience(Audience::new("ledger")?)
//!     .build()?;
//! let service = AsapLayer::new(verifier).allowed_issuers(["billing", "payroll", "ops"]);
//! let app = Router::new()
//!     .route("/balance", get(|Authenticated(caller): Authenticated| async move {
//!         format!("hello {}", caller.issuer())
//!     }))
//!     // Checks its narrower policy on the caller the service's layer verified.
//!     .route("/admin", get(|| async { "admin" }).route_layer(service.narrow().allowed_issuers(["ops"])))
//!     .route("/invoices", get(|| async { "invoices" }).route_layer(RequireScopesLayer::new(["invoices:read"])))
//!     .layer(service);
//! # Ok(app) }
//! # }
//! ```
//!
//! # Layers inside layers
//!
//! A route can be narrower than the service, never wider: every layer on the way applies all
//! of its own rules.
//!
//! - A layer made with [`AsapLayer::narrow`] from the outer one shares its verifier, so it
//!   only checks its own [`AccessPolicy`](asap_core::AccessPolicy) on the caller the outer
//!   layer verified: no second signature check, no second replay record. It refuses anonymous
//!   requests even when the outer layer lets them through.
//! - A layer built with its own `AsapLayer::new(verifier)` verifies the token again with that
//!   verifier: its audiences, keys, issuer allow-list and replay guard all apply. (Two layers
//!   whose verifiers share one replay guard therefore refuse the second check as a replay:
//!   narrow the outer layer instead.)
//! - [`RequireScopesLayer`] has no verifier: it checks the scopes of the caller an outer layer
//!   verified, and answers 401 when there is none.
//!
//! # Scopes
//!
//! Scopes per route: a request passes only if its verified token carries every required scope
//! (from the `scope` string or the `scopes` array; see [`asap_core::Claims::scopes`]).
//! Otherwise the answer is 403 with `WWW-Authenticate: Bearer error="insufficient_scope",
//! scope="…"` (RFC 6750 §3.1); without a verified caller at all, 401.
//!
//! Three ways to ask, for the same rule ([`asap_core::Claims::require_scopes`]):
//!
//! - [`RequireScopesLayer`] as a route layer inside an [`AsapLayer`], or
//!   [`AsapLayer::require_scopes`] for both in one;
//! - in an axum handler, [`Authenticated::require_scopes`](crate::Authenticated::require_scopes);
//! - as an axum extractor, [`Scoped<T>`](crate::Scoped) with a type naming the scopes.
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use asap_core::{Audience, StaticKeySource, Verifier};
//! use asap_tower::{AsapLayer, Authenticated, RequireScopesLayer, RequiredScopes, Scoped};
//! use axum::{Router, routing::{get, post}};
//!
//! struct InvoicesWrite;
//! impl RequiredScopes for InvoicesWrite {
//!     const SCOPES: &'static [&'static str] = &["invoices:write"];
//! }
//!
//! # fn app() -> Result<Router, Box<dyn std::error::Error>> {
//! let verifier = Verifier::builder(StaticKeySource::new()).audience(Audience::new("ledger")?).build()?;
//! let app = Router::new()
//!     .route("/invoices", get(|| async { "list" }).route_layer(RequireScopesLayer::new(["invoices:read"])))
//!     .route("/invoices/new", post(|caller: Scoped<InvoicesWrite>| async move { caller.issuer().to_owned() }))
//!     .route("/refunds", post(|caller: Authenticated| async move {
//!         caller.require_scopes(&["refunds:write"])?;
//!         Ok::<_, asap_tower::ScopeRejection>("refunded")
//!     }))
//!     .layer(AsapLayer::new(verifier));
//! # Ok(app) }
//! # }
//! ```
//!
//! # Request-bound tokens
//!
//! A bearer token that leaks can be replayed on any route of its audience until it expires. A
//! route that does something worth more ([`AsapLayer::require_bound_token`]) can require a
//! token bound to the request: its `qsh` claim is the hash of the request's method, path and
//! query in Atlassian Connect's canonical form (`asap_reqwest::BindToRequest`, `asap token
//! --bind`, `asap curl --bind` make such tokens). The route compares it, in constant time, with
//! the request it received (raw or resource-preserving decoded path, as Connect does); an
//! unbound token is refused there (401 `unbound_token`), one bound to another request too (401
//! `invalid_token`). Everywhere else a bound token is an ordinary token. The body is not
//! covered.
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use asap_core::{Audience, StaticKeySource, Verifier};
//! use asap_tower::AsapLayer;
//! use axum::{Router, routing::{get, post}};
//!
//! # fn app() -> Result<Router, Box<dyn std::error::Error>> {
//! let verifier = Verifier::builder(StaticKeySource::new()).audience(Audience::new("ledger")?).build()?;
//! let service = AsapLayer::new(verifier);
//! let app = Router::new()
//!     .route("/balance", get(|| async { "42" }))
//!     .route("/payments", post(|| async { "paid" }).route_layer(service.narrow().require_bound_token("")?))
//!     .layer(service);
//! # Ok(app) }
//! # }
//! ```

mod authorizer;
mod bound;
#[cfg(feature = "axum")]
mod extract;
mod response;
mod scope;

pub use authorizer::AsapAuthorizer;
#[cfg(feature = "axum")]
pub use extract::{Authenticated, NotAuthenticated};
pub use response::{default_response, error_code};
pub use scope::ScopeAuthorizer;
#[cfg(feature = "axum")]
pub use scope::{RequiredScopes, ScopeRejection, Scoped};

use crate::authorize::{AuthorizeLayer, AuthorizeService};

/// Verifies the ASAP bearer token of every request and puts the [`Verified`](asap_core::Verified)
/// caller into the request extensions; refuses the request with 401, 403 or 503 otherwise.
///
/// Built with [`AsapLayer::new`] and configured with its builder methods (issuer and subject
/// allow-lists, anonymous requests, the refusal response); see the
/// [module documentation](crate::asap) for an example and for layers inside layers.
pub type AsapLayer = AuthorizeLayer<AsapAuthorizer>;

/// The service made by [`AsapLayer`].
pub type AsapService<S> = AuthorizeService<S, AsapAuthorizer>;

/// Lets a request through only if the caller an outer [`AsapLayer`] verified carries every one
/// of the scopes (403 `insufficient_scope` otherwise, 401 when there is no verified caller).
///
/// ```
/// use asap_core::{Audience, StaticKeySource, Verifier};
/// use asap_tower::{AsapLayer, RequireScopesLayer};
/// use axum::{Router, routing::{get, post}};
///
/// # fn app() -> Result<Router, Box<dyn std::error::Error>> {
/// let verifier = Verifier::builder(StaticKeySource::new()).audience(Audience::new("ledger")?).build()?;
/// let app = Router::new()
///     .route("/invoices", get(|| async { "list" }).route_layer(RequireScopesLayer::new(["invoices:read"])))
///     .route("/invoices/new", post(|| async { "created" }).route_layer(RequireScopesLayer::new(["invoices:write"])))
///     .route("/status", get(|| async { "up" }))
///     .layer(AsapLayer::new(verifier).allow_anonymous(true));
/// # Ok(app) }
/// ```
pub type RequireScopesLayer = AuthorizeLayer<ScopeAuthorizer>;

/// The service made by [`RequireScopesLayer`].
pub type RequireScopesService<S> = AuthorizeService<S, ScopeAuthorizer>;
