//! Outbound ASAP for any tower client: [`SignRequestsLayer`] adds `Authorization: Bearer
//! <token>` to every request a `Service<http::Request<B>>` sends — a tonic `Channel`, a
//! hyper-util `Client`, a tower stack — signed by a shared [`Signer`]. The counterpart of
//! `asap_reqwest::AsapMiddleware` for clients that are not reqwest.
//!
//! Tokens are reused until 95% of their lifetime has passed (one signature per minute per
//! audience instead of one per call), unless [`SignRequestsLayer::fresh_tokens`] asks for a new
//! token per request (needed when the server allows one use per `jti`). A [`TokenRequest`] in a
//! request's extensions replaces the layer's audience for that request (and can add a subject
//! and claims); a request that already carries an `Authorization` header is sent as it is.
//!
//! With tonic, wrap the channel; a `tonic::Request`'s extensions travel with it:
//!
//! ```text
//! let channel = Endpoint::from_static("http://127.0.0.1:50051").connect().await?;
//! let channel = ServiceBuilder::new().layer(SignRequestsLayer::new(&signer, Audience::new("ledger")?)).service(channel);
//! let mut client = LedgerClient::new(channel);
//!
//! let mut request = tonic::Request::new(BalanceRequest {});
//! request.extensions_mut().insert(TokenRequest::new(Audience::new("audit")?));
//! client.balance(request).await?;
//! ```
//!
//! (`examples/tests/all/grpc.rs` runs this against a real tonic server.) Any other client:
//!
//! ```
//! use std::convert::Infallible;
//!
//! use asap_core::{Audience, KeyId, KeyKind, KeySpec, PrivateKey, Signer, SigningKey, TokenRequest};
//! use asap_tower::SignRequestsLayer;
//! use http::{Request, Response};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?;
//! let signer = Signer::builder("billing").key(SigningKey::new(KeyId::parse("billing/k1")?, key, None)?).build()?;
//!
//! // Stands for a real client: answers with the header it was given.
//! let transport = service_fn(|request: Request<()>| async move {
//!     let sent = request.headers()["authorization"].to_str().unwrap_or_default().to_owned();
//!     Ok::<_, Infallible>(Response::new(sent))
//! });
//! let client = ServiceBuilder::new()
//!     .layer(SignRequestsLayer::new(&signer, Audience::new("ledger")?))
//!     .service(transport);
//!
//! let response = client.clone().oneshot(Request::get("http://ledger.internal/balance").body(())?).await?;
//! assert!(response.body().starts_with("Bearer ey"));
//!
//! // This one for "audit" instead.
//! let mut request = Request::get("http://audit.internal/events").body(())?;
//! request.extensions_mut().insert(TokenRequest::new(Audience::new("audit")?));
//! client.oneshot(request).await?;
//! # Ok(()) }
//! ```
//!
//! The service's error is a [`BoxError`]: the inner service's error as it was (so that tonic
//! still reads a connection failure as `UNAVAILABLE`), or a [`SignRequestsError`] when no token
//! could be made — the request is then not sent.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use asap_core::{Audience, SignError, Signer, Token, TokenRequest};
use http::Request;
use http::header::{AUTHORIZATION, HeaderValue};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

/// The error type of [`SignRequestsService`], as tower middleware has it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Signs every request sent through the services it makes (see the [module
/// documentation](crate::sign)). Cheap to clone.
#[derive(Debug, Clone)]
#[must_use]
pub struct SignRequestsLayer {
    signer: Signer,
    audience: Audience,
}

impl SignRequestsLayer {
    /// Signs for `audience` with `signer`, reusing tokens (see the [module
    /// documentation](crate::sign)).
    pub fn new(signer: &Signer, audience: Audience) -> SignRequestsLayer {
        SignRequestsLayer {
            signer: signer.with_reuse(true),
            audience,
        }
    }

    /// A fresh token for every request, for servers that allow one use per `jti`.
    pub fn fresh_tokens(self) -> SignRequestsLayer {
        SignRequestsLayer {
            signer: self.signer.with_reuse(false),
            audience: self.audience,
        }
    }
}

impl<S> Layer<S> for SignRequestsLayer {
    type Service = SignRequestsService<S>;

    fn layer(&self, inner: S) -> SignRequestsService<S> {
        SignRequestsService {
            inner,
            signer: self.signer.clone(),
            audience: self.audience.clone(),
        }
    }
}

/// The service made by [`SignRequestsLayer`]: the inner service, with an ASAP token on each
/// request.
#[derive(Debug, Clone)]
pub struct SignRequestsService<S> {
    inner: S,
    signer: Signer,
    audience: Audience,
}

impl<S> SignRequestsService<S> {
    /// The token for one request: the layer's audience, unless a [`TokenRequest`] in the
    /// request's extensions says otherwise.
    fn token<B>(&self, request: &Request<B>) -> Result<Token, SignError> {
        match request.extensions().get::<TokenRequest>() {
            Some(asked) => self.signer.sign_request(asked),
            None => self.signer.sign(&self.audience),
        }
    }
}

/// Why [`SignRequestsService`] did not send a request.
#[derive(Debug)]
#[non_exhaustive]
pub enum SignRequestsError {
    /// No token could be made (the signer refused a claim, the key source failed).
    Sign(SignError),
}

impl fmt::Display for SignRequestsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignRequestsError::Sign(e) => write!(f, "cannot sign the ASAP token: {e}"),
        }
    }
}

impl std::error::Error for SignRequestsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SignRequestsError::Sign(e) => Some(e),
        }
    }
}

impl<S, B> Service<Request<B>> for SignRequestsService<S>
where
    S: Service<Request<B>>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = SignRequestsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // A request that already says who it is (set by the caller on purpose) is left alone.
        if !request.headers().contains_key(AUTHORIZATION) {
            match self.token(&request).and_then(|token| bearer(&token)) {
                Ok(value) => {
                    request.headers_mut().insert(AUTHORIZATION, value);
                }
                Err(error) => return SignRequestsFuture::refused(SignRequestsError::Sign(error)),
            }
        }
        SignRequestsFuture::sent(self.inner.call(request))
    }
}

/// `Bearer <token>`, marked sensitive: never logged by `{:?}` of the headers, never indexed by
/// HTTP/2's header compression.
fn bearer(token: &Token) -> Result<HeaderValue, SignError> {
    // A token is base64url and dots: always a valid header value (as in asap-reqwest).
    let mut value = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| SignError::Crypto)?;
    value.set_sensitive(true);
    Ok(value)
}

pin_project! {
    /// The response future of [`SignRequestsService`].
    #[must_use = "futures do nothing unless polled"]
    pub struct SignRequestsFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<F> {
        Sent { #[pin] future: F },
        Refused { error: Option<SignRequestsError> },
    }
}

impl<F> SignRequestsFuture<F> {
    fn sent(future: F) -> Self {
        SignRequestsFuture {
            state: State::Sent { future },
        }
    }

    fn refused(error: SignRequestsError) -> Self {
        SignRequestsFuture {
            state: State::Refused { error: Some(error) },
        }
    }
}

impl<F> fmt::Debug for SignRequestsFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignRequestsFuture").finish_non_exhaustive()
    }
}

impl<F, T, E> Future for SignRequestsFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProjection::Sent { future } => future.poll(cx).map_err(Into::into),
            StateProjection::Refused { error } => match error.take() {
                Some(error) => Poll::Ready(Err(error.into())),
                None => panic!("SignRequestsFuture polled after completion"),
            },
        }
    }
}
