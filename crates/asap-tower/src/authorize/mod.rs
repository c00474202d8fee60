//! The one authorizing middleware: [`AuthorizeLayer`] puts an [`Authorize`] in front of a
//! service. For each request, the authorizer either admits it (after putting the verified
//! identity into its extensions) or refuses it with a response; the inner service is called only
//! for admitted requests. [`AsapLayer`](crate::AsapLayer),
//! [`RequireScopesLayer`](crate::RequireScopesLayer) and `ConnectLayer` (feature `connect`) are
//! this layer with this crate's authorizers; any other scheme fits the same shape:
//!
//! ```
//! use std::convert::Infallible;
//!
//! use asap_tower::{Authorize, AuthorizeLayer};
//! use http::{Method, Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! /// A read-only replica: only safe methods are authorized.
//! struct ReadOnly;
//!
//! #[derive(Debug)]
//! struct WriteRefused(Method);
//!
//! impl std::fmt::Display for WriteRefused {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         write!(f, "{} is not allowed on a read-only replica", self.0)
//!     }
//! }
//!
//! impl Authorize for ReadOnly {
//!     type Error = WriteRefused;
//!     const KIND: &'static str = "read-only";
//!
//!     async fn authorize<B: Send>(&self, request: &mut Request<B>) -> Result<(), WriteRefused> {
//!         match *request.method() {
//!             Method::GET | Method::HEAD => Ok(()),
//!             ref other => Err(WriteRefused(other.clone())),
//!         }
//!     }
//!
//!     fn refuse(&self, error: &WriteRefused) -> Response<String> {
//!         let mut response = Response::new(error.to_string());
//!         *response.status_mut() = StatusCode::FORBIDDEN;
//!         response
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let service = ServiceBuilder::new()
//!     .layer(AuthorizeLayer::with_authorizer(ReadOnly))
//!     .service(service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(String::from("ok"))) }));
//!
//! let read = service.clone().oneshot(Request::get("/").body(())?).await?;
//! assert_eq!(read.status(), StatusCode::OK);
//! let write = service.oneshot(Request::post("/").body(())?).await?;
//! assert_eq!(write.status(), StatusCode::FORBIDDEN);
//! # Ok(()) }
//! ```
//!
//! The shape is tower-http's `AsyncRequireAuthorization`; the differences are why this crate has
//! its own: the authorizer works on the request in place (no body type change), refusals are
//! logged in one place with the authorizer's reason, and the inner service that was polled ready
//! is the one called (see [`AuthorizeService`]).

mod admitted;
mod body;
mod future;
mod layer;
mod service;

use std::future::Future;

use http::{Request, Response};

pub(crate) use admitted::SharedVerifier;
pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use layer::AuthorizeLayer;
pub use service::AuthorizeService;
#[cfg(feature = "axum")]
pub(crate) use service::log_refusal;

/// One way of authorizing requests (ASAP bearer tokens, Connect JWTs, required scopes, …): the
/// configuration an [`AuthorizeLayer`] applies to every request.
pub trait Authorize: Send + Sync + 'static {
    /// Why a request was refused (logged, and given to [`Authorize::refuse`]).
    type Error: std::fmt::Display + Send + 'static;

    /// What the logs call the requests this authorizes ("ASAP", "Connect").
    const KIND: &'static str;

    /// Admits `request` — after putting the verified identity into its extensions, for the
    /// handlers — or says why not. Only admitted requests reach the inner service.
    fn authorize<B: Send>(
        &self,
        request: &mut Request<B>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The decision [`Authorize::authorize`] reaches for `request` when it can be reached
    /// without waiting — a token the verifier has cached, a missing or malformed header —
    /// with the same effects on the request; `None` when it has to wait (a key fetch, a replay
    /// guard), and then `authorize` is called on the same request. [`AuthorizeService`] answers
    /// a request decided here without boxing a future. The default decides nothing.
    ///
    /// It must decide exactly as `authorize` would, and when it answers `None` it must leave the
    /// request as `authorize` can take it.
    fn authorize_now<B: Send>(&self, request: &mut Request<B>) -> Option<Result<(), Self::Error>> {
        let _ = request;
        None
    }

    /// The response sent instead of calling the inner service.
    fn refuse(&self, error: &Self::Error) -> Response<String>;
}

/// The URI a request-bound token (Connect's `qsh`, a bound ASAP token) is checked against: the
/// one the server received. axum's `Router::nest` strips its prefix from the request URI, but
/// the client hashed the full path, so the original URI axum recorded comes first.
pub(crate) fn received_uri<B>(request: &Request<B>) -> &http::Uri {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::OriginalUri(uri)) = request.extensions().get() {
        return uri;
    }
    request.uri()
}
