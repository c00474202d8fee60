//! Inbound Atlassian Connect (feature `connect`): the layer, its service, the refusal response
//! and the axum extractor.
//!
//! The rules (token location, HS256 only, shared secret by `iss`, time claims, `qsh`) all live
//! in [`connect_qsh::Authenticator`]; this module only wires it into tower and axum.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use asap_core::Outcome;
use connect_qsh::{AuthError, Authenticator, QshBinding, QshPolicy};
use http::header::HeaderValue;
use http::{Request, Response, Uri};
use tower_layer::Layer;
use tower_service::Service;

use crate::gate::{self, Gate, refusal};
use crate::layer::ResponseFuture;

type Responder = Arc<dyn Fn(&AuthError) -> Response<String> + Send + Sync>;

/// Authenticates every request the product (Jira, Confluence, …) sends to a Connect app with a
/// [`connect_qsh::Authenticator`]: the token comes from `Authorization: JWT <token>` or the
/// `jwt` query parameter, and must be bound to this request by its `qsh`. The tenant's
/// [`connect_qsh::Authenticated`] context goes into the request extensions (handlers take it
/// with `ConnectAuthenticated`); anything else is refused:
///
/// | what happened | status |
/// |---|---|
/// | no token, malformed/forged/expired token, unknown `iss`, `qsh` of another request | 401 + `WWW-Authenticate: JWT` |
/// | a `context-qsh` token on a route that did not opt in | 403 |
/// | the shared-secret store cannot answer | 503 + `Retry-After` |
///
/// Bad input never becomes a 500; the body is small JSON naming the failed rule, never the
/// token (replace it with [`ConnectLayer::on_rejection`]).
///
/// `context-qsh` tokens (from `AP.context.getToken()`, not bound to any request) are accepted
/// only by a layer built with [`ConnectLayer::allow_context_qsh`], so the opt-in is per route:
/// apply the layers with `route_layer` on the routes or routers they protect. The lifecycle
/// callbacks (`/installed`, `/uninstalled`) are verified by [`connect_qsh::Lifecycle`] instead
/// and stay outside these layers.
///
/// ```
/// use asap_tower::{ConnectAuthenticated, ConnectLayer};
/// use axum::{Router, routing::get};
/// use connect_qsh::{Authenticator, InMemoryTenantStore};
///
/// # fn app() -> Result<Router, Box<dyn std::error::Error>> {
/// let tenants = std::sync::Arc::new(InMemoryTenantStore::new());
/// let authenticator = Authenticator::builder(tenants)
///     .base_url("https://app.example.com")
///     .build()?;
///
/// // Pages the product loads: the token must be bound to the request.
/// let pages = Router::new()
///     .route("/panel", get(|ConnectAuthenticated(tenant): ConnectAuthenticated| async move {
///         format!("hello {}", tenant.client_key())
///     }))
///     .route_layer(ConnectLayer::new(authenticator.clone()));
/// // The app's own AJAX endpoints also take the page's context token.
/// let ajax = Router::new()
///     .route("/api/issues", get(|ConnectAuthenticated(tenant): ConnectAuthenticated| async move {
///         format!("issues of {}", tenant.client_key())
///     }))
///     .route_layer(ConnectLayer::new(authenticator).allow_context_qsh(true));
/// let app = pages.merge(ajax);
/// # Ok(app) }
/// ```
///
/// A layer inside another one (a `route_layer` under a `layer`) does not authenticate again:
/// it sees the outer layer's context and only applies its own `context-qsh` rule, so it can
/// narrow a route but never widen it.
///
/// The `qsh` is computed on the request URI as the app received it: with axum, the original
/// URI (before `Router::nest` strips a prefix) is used when axum recorded it.
#[derive(Clone)]
#[must_use]
pub struct ConnectLayer {
    shared: Arc<Shared>,
}

#[derive(Clone)]
struct Shared {
    authenticator: Authenticator,
    qsh_policy: QshPolicy,
    allow_anonymous: bool,
    responder: Responder,
}

impl fmt::Debug for ConnectLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectLayer")
            .field("authenticator", &self.shared.authenticator)
            .field("qsh_policy", &self.shared.qsh_policy)
            .field("allow_anonymous", &self.shared.allow_anonymous)
            .finish_non_exhaustive()
    }
}

impl ConnectLayer {
    /// A layer that authenticates with `authenticator` and accepts only tokens bound to the
    /// request (no `context-qsh`).
    pub fn new(authenticator: Authenticator) -> ConnectLayer {
        ConnectLayer {
            shared: Arc::new(Shared {
                authenticator,
                qsh_policy: QshPolicy::RequestOnly,
                allow_anonymous: false,
                responder: Arc::new(connect_response),
            }),
        }
    }

    fn map(self, f: impl FnOnce(&mut Shared)) -> ConnectLayer {
        let mut shared = Arc::unwrap_or_clone(self.shared);
        f(&mut shared);
        ConnectLayer {
            shared: Arc::new(shared),
        }
    }

    /// Whether this route also accepts `context-qsh` tokens (default: no, a 403).
    pub fn allow_context_qsh(self, allow: bool) -> ConnectLayer {
        let policy = if allow {
            QshPolicy::AllowContext
        } else {
            QshPolicy::RequestOnly
        };
        self.qsh_policy(policy)
    }

    /// Sets the route's [`QshPolicy`] ([`ConnectLayer::allow_context_qsh`] is the short form).
    pub fn qsh_policy(self, policy: QshPolicy) -> ConnectLayer {
        self.map(|s| s.qsh_policy = policy)
    }

    /// Let requests that carry no token at all through, unauthenticated (handlers use
    /// `Option<ConnectAuthenticated>`). A request with a bad token is still refused.
    pub fn allow_anonymous(self, allow: bool) -> ConnectLayer {
        self.map(|s| s.allow_anonymous = allow)
    }

    /// Replaces the response built for a refused request (the default is
    /// [`connect_response`]).
    pub fn on_rejection<F>(self, respond: F) -> ConnectLayer
    where
        F: Fn(&AuthError) -> Response<String> + Send + Sync + 'static,
    {
        self.map(|s| s.responder = Arc::new(respond))
    }
}

impl<S> Layer<S> for ConnectLayer {
    type Service = ConnectService<S>;

    fn layer(&self, inner: S) -> ConnectService<S> {
        ConnectService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service made by [`ConnectLayer`].
#[derive(Clone)]
pub struct ConnectService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for ConnectService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Gate for Shared {
    type Error = AuthError;
    const KIND: &'static str = "Connect";

    /// Authenticates `request` in place: on success the tenant context is in its extensions
    /// (or it is an allowed anonymous request).
    async fn admit<B: Send>(&self, request: &mut Request<B>) -> Result<(), AuthError> {
        if let Some(outer) = request.extensions().get::<connect_qsh::Authenticated>() {
            // An outer layer authenticated the request; this one only narrows where a
            // context token may go (the same rule the authenticator applies to fresh tokens).
            let context_allowed = matches!(self.qsh_policy, QshPolicy::AllowContext);
            return match outer.binding() {
                QshBinding::Context if !context_allowed => Err(AuthError::ContextQshNotAllowed),
                _ => Ok(()),
            };
        }
        let uri = received_uri(request);
        let result = self
            .authenticator
            .authenticate_with(request.method(), &uri, request.headers(), self.qsh_policy)
            .await;
        let authenticated = match result {
            Err(AuthError::MissingToken) if self.allow_anonymous => return Ok(()),
            other => other?,
        };
        tracing::debug!(
            client_key = authenticated.client_key(),
            subject = authenticated.subject(),
            binding = ?authenticated.binding(),
            "Connect request accepted"
        );
        request.extensions_mut().insert(authenticated);
        Ok(())
    }

    fn outcome(error: &AuthError) -> Outcome {
        error.outcome()
    }

    fn respond(&self, error: &AuthError) -> Response<String> {
        (self.responder)(error)
    }
}

/// The URI the `qsh` is computed on: the one the app received. axum's `Router::nest` strips
/// its prefix from the request URI, but the product signed the full path, so prefer the
/// original URI axum recorded.
fn received_uri<B>(request: &Request<B>) -> Uri {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::OriginalUri(uri)) = request.extensions().get() {
        return uri.clone();
    }
    request.uri().clone()
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ConnectService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        gate::call(&mut self.inner, &self.shared, request)
    }
}

/// The machine-readable error code for a refused Connect request (RFC 6750 codes where they
/// fit).
pub fn connect_error_code(error: &AuthError) -> &'static str {
    match (error, error.outcome()) {
        (AuthError::MissingToken, _) => "missing_token",
        (_, Outcome::Forbidden) => "access_denied",
        (_, Outcome::Unavailable) => "temporarily_unavailable",
        _ => "invalid_token",
    }
}

/// The default refusal of a Connect request: 401 with `WWW-Authenticate: JWT` (plus
/// `error="invalid_token"` when a token was sent), 403, or 503 with `Retry-After`; a small JSON
/// body naming the failed rule. Never includes the token.
///
/// Also the natural answer for a refused lifecycle callback ([`connect_qsh::Lifecycle`]
/// returns the same [`AuthError`]).
///
/// ```
/// use asap_tower::connect_response;
/// use connect_qsh::AuthError;
///
/// let response = connect_response(&AuthError::QshMismatch);
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["www-authenticate"], "JWT error=\"invalid_token\"");
/// assert_eq!(connect_response(&AuthError::ContextQshNotAllowed).status(), 403);
/// ```
pub fn connect_response(error: &AuthError) -> Response<String> {
    let outcome = error.outcome();
    let challenge = match outcome {
        Outcome::Unauthorized if matches!(error, AuthError::MissingToken) => {
            Some(HeaderValue::from_static("JWT"))
        }
        Outcome::Unauthorized => Some(HeaderValue::from_static("JWT error=\"invalid_token\"")),
        _ => None,
    };
    refusal(outcome, connect_error_code(error), &error.to_string(), challenge)
}

#[cfg(feature = "axum")]
pub use extract::{ConnectAuthenticated, NotConnectAuthenticated};

#[cfg(feature = "axum")]
mod extract {
    use axum::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum::response::{IntoResponse, Response};
    use connect_qsh::{AuthError, Authenticated};
    use http::request::Parts;

    /// The authenticated tenant context of a request that passed a
    /// [`ConnectLayer`](crate::ConnectLayer): the tenant's client key, the user (`sub`), every
    /// claim, and whether the token was bound to the request or to the page context.
    ///
    /// Use `Option<ConnectAuthenticated>` on routes where the layer allows anonymous requests.
    /// Extracting `ConnectAuthenticated` where no tenant was authenticated (no layer, or an
    /// anonymous request) answers 401.
    #[derive(Debug, Clone)]
    pub struct ConnectAuthenticated(pub Authenticated);

    impl std::ops::Deref for ConnectAuthenticated {
        type Target = Authenticated;
        fn deref(&self) -> &Authenticated {
            &self.0
        }
    }

    /// The rejection when no authenticated tenant is present: the same 401 the layer sends.
    #[derive(Debug)]
    pub struct NotConnectAuthenticated;

    impl IntoResponse for NotConnectAuthenticated {
        fn into_response(self) -> Response {
            crate::connect_response(&AuthError::MissingToken).into_response()
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for ConnectAuthenticated {
        type Rejection = NotConnectAuthenticated;

        async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
            parts
                .extensions
                .get::<Authenticated>()
                .cloned()
                .map(ConnectAuthenticated)
                .ok_or(NotConnectAuthenticated)
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for ConnectAuthenticated {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts
                .extensions
                .get::<Authenticated>()
                .cloned()
                .map(ConnectAuthenticated))
        }
    }
}

#[cfg(test)]
mod tests {
    use connect_qsh::StoreError;
    use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};

    use super::*;

    #[test]
    fn refusals_map_to_status_challenge_and_code() {
        let missing = connect_response(&AuthError::MissingToken);
        assert_eq!(missing.status(), 401);
        assert_eq!(missing.headers()[WWW_AUTHENTICATE], "JWT");
        assert!(missing.body().contains("missing_token"));

        let forbidden = connect_response(&AuthError::ContextQshNotAllowed);
        assert_eq!(forbidden.status(), 403);
        assert!(!forbidden.headers().contains_key(WWW_AUTHENTICATE));
        assert!(forbidden.body().contains("access_denied"));

        let down = connect_response(&AuthError::from(StoreError::Unavailable("down".into())));
        assert_eq!(down.status(), 503);
        assert_eq!(down.headers()[RETRY_AFTER], "5");
        assert_eq!(down.headers()[CONTENT_TYPE], "application/json");
    }
}
