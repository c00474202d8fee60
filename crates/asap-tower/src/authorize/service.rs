//! The service: authorize the request, then call the inner service, or answer the refusal.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};
use tower_service::Service;

use super::{Authorize, ResponseBody, ResponseFuture};
use crate::grpc::{grpc_refusal, is_grpc_request};

/// The service made by [`AuthorizeLayer`](super::AuthorizeLayer): calls the inner service only
/// for requests its authorizer admits.
///
/// A refused gRPC request (a `POST` with `content-type: application/grpc…`) is answered the way
/// gRPC clients read a refusal: a trailers-only response whose `grpc-status` follows the status
/// of the HTTP refusal (401 → `UNAUTHENTICATED`, 403 → `PERMISSION_DENIED`, 503 →
/// `UNAVAILABLE`) and whose `grpc-message` is the reason (on a 503, a fixed text: the reason is for the logs). See the
/// [crate documentation](crate#grpc).
pub struct AuthorizeService<S, A> {
    inner: S,
    authorizer: Arc<A>,
}

impl<S, A> AuthorizeService<S, A> {
    pub(super) fn new(inner: S, authorizer: Arc<A>) -> Self {
        AuthorizeService { inner, authorizer }
    }
}

impl<S: Clone, A> Clone for AuthorizeService<S, A> {
    fn clone(&self) -> Self {
        AuthorizeService {
            inner: self.inner.clone(),
            authorizer: self.authorizer.clone(),
        }
    }
}

impl<S: fmt::Debug, A: fmt::Debug> fmt::Debug for AuthorizeService<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeService")
            .field("inner", &self.inner)
            .field("authorizer", &self.authorizer)
            .finish()
    }
}

impl<S, A, ReqBody, ResBody> Service<Request<ReqBody>> for AuthorizeService<S, A>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    A: Authorize,
    ReqBody: Send + 'static,
    ResBody: 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        match self.authorizer.authorize_now(&mut request) {
            // Decided at once: the service that was polled ready is called now, or not at all
            // (it stays ready for the next request).
            Some(Ok(())) => return ResponseFuture::admitted(self.inner.call(request)),
            Some(Err(error)) => return ResponseFuture::refused(refusal(&*self.authorizer, &error, &request)),
            None => {}
        }
        // The clone is not ready yet; call the one that was, keep the clone for next time.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let authorizer = self.authorizer.clone();
        ResponseFuture::waiting(async move {
            match authorizer.authorize(&mut request).await {
                Ok(()) => Ok(inner.call(request).await?.map(ResponseBody::inner)),
                Err(error) => Ok(refusal(&*authorizer, &error, &request)),
            }
        })
    }
}

/// The response to a refused request, logged: the authorizer's, or its gRPC form for a gRPC
/// request.
fn refusal<A: Authorize, ReqBody, ResBody>(
    authorizer: &A,
    error: &A::Error,
    request: &Request<ReqBody>,
) -> Response<ResponseBody<ResBody>> {
    let mut response = authorizer.refuse(error);
    log_refusal(A::KIND, response.status(), error);
    if is_grpc_request(request.method(), request.headers()) {
        response = grpc_refusal(response.status(), error);
    }
    response.map(ResponseBody::refusal)
}

/// Logs a refusal (status and reason, never the token): 5xx as warnings — the reason then names
/// the dependency that failed, which the response does not — the rest as info.
pub(crate) fn log_refusal(kind: &'static str, status: StatusCode, reason: &dyn fmt::Display) {
    let status = status.as_u16();
    if status >= 500 {
        tracing::warn!(status, %reason, "{kind} request refused");
    } else {
        tracing::info!(status, %reason, "{kind} request refused");
    }
}
