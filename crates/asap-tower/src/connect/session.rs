//! Sending the app session token to the page: the `X-acpt` response header.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use connect_qsh::{SESSION_TOKEN_HEADER, VerifiedRequest};
use http::header::{CACHE_CONTROL, HeaderName, HeaderValue};
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

/// Adds the app session token that a [`ConnectLayer`](crate::ConnectLayer) minted for a page
/// load to its response, in the `X-acpt` header ([`SESSION_TOKEN_HEADER`], as
/// atlassian-connect-express does), marked sensitive, with `Cache-Control: no-store` unless the
/// handler set a policy that already keeps shared caches out (`private` or `no-store`).
/// Requests without a minted token (no session tokens configured,
/// a session or `context-qsh` token, an anonymous request) pass unchanged.
///
/// Put it **inside** the `ConnectLayer` (applied before it), so it sees the tenant context:
///
/// ```
/// # use asap_tower::{ConnectLayer, SessionTokenHeaderLayer};
/// # use axum::{Router, routing::get};
/// # fn app(authenticator: connect_qsh::Authenticator) -> Router {
/// Router::new()
///     .route("/panel", get(|| async { "<html>…</html>" }))
///     .route_layer(SessionTokenHeaderLayer)
///     .route_layer(ConnectLayer::new(authenticator))
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionTokenHeaderLayer;

impl<S> Layer<S> for SessionTokenHeaderLayer {
    type Service = SessionTokenHeaderService<S>;

    fn layer(&self, inner: S) -> SessionTokenHeaderService<S> {
        SessionTokenHeaderService { inner }
    }
}

/// The service made by [`SessionTokenHeaderLayer`].
#[derive(Debug, Clone)]
pub struct SessionTokenHeaderService<S> {
    inner: S,
}

/// The future of [`SessionTokenHeaderService`].
pub type SessionTokenFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, B, RB> Service<Request<B>> for SessionTokenHeaderService<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = SessionTokenFuture<Response<RB>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let token = request
            .extensions()
            .get::<VerifiedRequest>()
            .and_then(VerifiedRequest::session_token)
            // A JWT is base64url and dots: always a valid header value.
            .and_then(|token| HeaderValue::from_str(token).ok())
            .map(|mut value| {
                value.set_sensitive(true);
                value
            });
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            if let Some(value) = token {
                let headers = response.headers_mut();
                headers.insert(HeaderName::from_static(SESSION_TOKEN_HEADER), value);
                if !kept_from_shared_caches(&headers.get_all(CACHE_CONTROL)) {
                    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                }
            }
            Ok(response)
        })
    }
}

/// Whether the handler's `Cache-Control` already keeps the response out of shared caches
/// (`private` or `no-store`): then it is left as the handler set it. Anything else (none,
/// `public`, a bare `max-age`) could let a shared cache hand one user's session token to
/// others, so it is replaced.
fn kept_from_shared_caches(values: &http::header::GetAll<'_, HeaderValue>) -> bool {
    values
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|directive| directive.split('=').next().unwrap_or("").trim())
        .any(|name| name.eq_ignore_ascii_case("private") || name.eq_ignore_ascii_case("no-store"))
}
