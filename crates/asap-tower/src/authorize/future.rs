//! The response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

use super::ResponseBody;

/// The future of a request whose authorization had to wait (a key fetch, a replay guard):
/// boxed, because the authorizer's future borrows the request it authorizes in place.
pub(super) type Waiting<B, E> = Pin<Box<dyn Future<Output = Result<Response<ResponseBody<B>>, E>> + Send>>;

pin_project! {
    /// The response future of [`AuthorizeService`](super::AuthorizeService): the inner service's
    /// response (`F`, with body `B`) for an admitted request, the authorizer's refusal otherwise.
    ///
    /// A request the authorizer decides at once ([`Authorize::authorize_now`](super::Authorize::authorize_now):
    /// a token the verifier has cached, a missing header) is the inner service's own future or
    /// the refusal, with nothing allocated; one whose authorization has to wait is boxed.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProjection]
    enum Kind<F, B, E> {
        Admitted { #[pin] future: F },
        Refused { response: Option<Response<ResponseBody<B>>> },
        Waiting { future: Waiting<B, E> },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    /// The inner service's future, for a request admitted at once.
    pub(super) fn admitted(future: F) -> Self {
        ResponseFuture {
            kind: Kind::Admitted { future },
        }
    }

    /// The refusal of a request refused at once.
    pub(super) fn refused(response: Response<ResponseBody<B>>) -> Self {
        ResponseFuture {
            kind: Kind::Refused {
                response: Some(response),
            },
        }
    }

    /// Authorization, then the inner service, for a request whose authorization has to wait.
    pub(super) fn waiting(
        future: impl Future<Output = Result<Response<ResponseBody<B>>, E>> + Send + 'static,
    ) -> Self {
        ResponseFuture {
            kind: Kind::Waiting {
                future: Box::pin(future),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProjection::Admitted { future } => future
                .poll(cx)
                .map(|result| result.map(|response| response.map(ResponseBody::inner))),
            KindProjection::Refused { response } => Poll::Ready(Ok(response
                .take()
                .expect("ResponseFuture polled after it completed"))),
            KindProjection::Waiting { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F, B, E> fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
