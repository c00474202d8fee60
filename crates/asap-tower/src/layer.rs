//! The layer and its service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use asap_core::{AccessPolicy, Verified, Verifier, VerifyError, bearer_token};
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::gate::{self, Gate};
use crate::response::default_response;

type Responder = Arc<dyn Fn(&VerifyError) -> Response<String> + Send + Sync>;

/// Verifies the ASAP bearer token of every request and puts the [`Verified`] caller into the
/// request extensions; refuses the request with 401, 403 or 503 otherwise.
///
/// A route can be narrower than the service: apply a second `AsapLayer` with a stricter
/// [`AccessPolicy`] through `route_layer`; it sees the outer layer's `Verified` and checks only
/// its policy, without verifying the token again.
///
/// ```
/// use asap_core::{Audience, StaticKeySource, Verifier};
/// use asap_tower::{AsapLayer, Authenticated};
/// use axum::{Router, routing::get};
///
/// # fn app() -> Result<Router, Box<dyn std::error::Error>> {
/// let verifier = Verifier::builder(StaticKeySource::new())
///     .audience(Audience::new("ledger")?)
///     .build()?;
/// let app = Router::new()
///     .route("/balance", get(|Authenticated(caller): Authenticated| async move {
///         format!("hello {}", caller.issuer())
///     }))
///     .layer(AsapLayer::new(verifier).allowed_issuers(["billing", "payroll"]));
/// # Ok(app) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct AsapLayer {
    shared: Arc<Shared>,
}

struct Shared {
    verifier: Verifier,
    policy: AccessPolicy,
    allow_anonymous: bool,
    responder: Responder,
}

impl fmt::Debug for AsapLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsapLayer")
            .field("verifier", &self.shared.verifier)
            .field("policy", &self.shared.policy)
            .field("allow_anonymous", &self.shared.allow_anonymous)
            .finish_non_exhaustive()
    }
}

impl AsapLayer {
    /// A layer that verifies with `verifier` and allows every verified caller.
    pub fn new(verifier: Verifier) -> AsapLayer {
        AsapLayer {
            shared: Arc::new(Shared {
                verifier,
                policy: AccessPolicy::new(),
                allow_anonymous: false,
                responder: Arc::new(default_response),
            }),
        }
    }

    fn map(self, f: impl FnOnce(&mut Shared)) -> AsapLayer {
        let mut shared = match Arc::try_unwrap(self.shared) {
            Ok(shared) => shared,
            Err(arc) => Shared {
                verifier: arc.verifier.clone(),
                policy: arc.policy.clone(),
                allow_anonymous: arc.allow_anonymous,
                responder: arc.responder.clone(),
            },
        };
        f(&mut shared);
        AsapLayer {
            shared: Arc::new(shared),
        }
    }

    /// Replaces the access policy (issuer and subject allow-lists; a refusal is a 403).
    pub fn policy(self, policy: AccessPolicy) -> AsapLayer {
        self.map(|s| s.policy = policy)
    }

    /// Only these issuers (403 for others).
    pub fn allowed_issuers<I, S>(self, issuers: I) -> AsapLayer
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.map(|s| s.policy = std::mem::take(&mut s.policy).allowed_issuers(issuers))
    }

    /// Only these effective subjects (403 for others).
    pub fn allowed_subjects<I, S>(self, subjects: I) -> AsapLayer
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.map(|s| s.policy = std::mem::take(&mut s.policy).allowed_subjects(subjects))
    }

    /// Let requests without an `Authorization` header through, unauthenticated (handlers use
    /// `Option<Authenticated>`). A request that sends a bad token is still refused.
    pub fn allow_anonymous(self, allow: bool) -> AsapLayer {
        self.map(|s| s.allow_anonymous = allow)
    }

    /// Replaces the response built for a refused request (the default is
    /// [`default_response`](crate::default_response)).
    pub fn on_rejection<F>(self, respond: F) -> AsapLayer
    where
        F: Fn(&VerifyError) -> Response<String> + Send + Sync + 'static,
    {
        self.map(|s| s.responder = Arc::new(respond))
    }
}

impl<S> Layer<S> for AsapLayer {
    type Service = AsapService<S>;

    fn layer(&self, inner: S) -> AsapService<S> {
        AsapService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service made by [`AsapLayer`].
#[derive(Clone)]
pub struct AsapService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for AsapService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsapService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Gate for Shared {
    type Error = VerifyError;
    const KIND: &'static str = "ASAP";

    /// Authenticates `request` in place: on success the caller is in its extensions (or it is
    /// an allowed anonymous request).
    async fn admit<B: Send>(&self, request: &mut Request<B>) -> Result<(), VerifyError> {
        if let Some(verified) = request.extensions().get::<Verified>() {
            // An outer layer verified the token; this one only narrows who may call.
            return self.policy.check(verified.claims());
        }
        let headers = request.headers().get_all(AUTHORIZATION);
        let token = match bearer_token(headers.iter().map(HeaderValue::as_bytes)) {
            Err(VerifyError::MissingToken) if self.allow_anonymous => return Ok(()),
            other => other?,
        };
        let verified = self.verifier.verify(token).await?;
        self.policy.check(verified.claims())?;
        tracing::debug!(
            issuer = verified.issuer(),
            subject = verified.subject(),
            kid = verified.kid().as_str(),
            "ASAP caller accepted"
        );
        request.extensions_mut().insert(verified);
        Ok(())
    }

    fn outcome(error: &VerifyError) -> asap_core::Outcome {
        error.outcome()
    }

    fn respond(&self, error: &VerifyError) -> Response<String> {
        (self.responder)(error)
    }
}

/// The response future of [`AsapService`].
pub type ResponseFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AsapService<S>
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
