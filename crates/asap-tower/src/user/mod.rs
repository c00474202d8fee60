//! Inbound per-user tokens (feature `user-tokens`): [`UserLayer`] verifies
//! `Authorization: JWT <token>` — asymmetric-jwt-auth's format, a token signed by the user's own
//! key — with a [`user_tokens::UserVerifier`], puts the [`user_tokens::VerifiedUser`] into the
//! request extensions (handlers take it with [`UserAuthenticated`], feature `axum`), and refuses
//! the rest:
//!
//! | what happened | status |
//! |---|---|
//! | no token, malformed token, time outside the window, no key of the user verifies it (unknown users alike), nonce replayed | 401 + `WWW-Authenticate: JWT` |
//! | the key store or nonce store cannot answer | 503 + `Retry-After` |
//!
//! Bad input never becomes a 500; the body is small JSON naming the failed rule, never the
//! token, and the same for an unknown user as for a wrong signature. Every rule lives in
//! [`user_tokens::UserVerifier`]; this module only wires it into tower and axum.
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use asap_tower::{UserAuthenticated, UserLayer};
//! use axum::{Router, routing::get};
//! use user_tokens::{StaticUserKeys, UserVerifier};
//!
//! # fn app() -> Result<Router, Box<dyn std::error::Error>> {
//! let verifier = UserVerifier::builder(StaticUserKeys::new()).build()?; // or an asap_registry::KeyRegistry
//! let app = Router::new()
//!     .route("/whoami", get(|UserAuthenticated(user): UserAuthenticated| async move { user.username().to_owned() }))
//!     .layer(UserLayer::new(verifier));
//! # Ok(app) }
//! # }
//! ```

mod authorizer;
#[cfg(feature = "axum")]
mod extract;
mod response;

pub use authorizer::UserAuthorizer;
#[cfg(feature = "axum")]
pub use extract::{NotUserAuthenticated, UserAuthenticated};
pub use response::{user_error_code, user_response};

use crate::authorize::{AuthorizeLayer, AuthorizeService};

/// Verifies every request's per-user token and puts the [`user_tokens::VerifiedUser`] into its
/// extensions; refuses it with 401 or 503 otherwise. Built with [`UserLayer::new`].
pub type UserLayer = AuthorizeLayer<UserAuthorizer>;

/// The service made by [`UserLayer`].
pub type UserService<S> = AuthorizeService<S, UserAuthorizer>;
