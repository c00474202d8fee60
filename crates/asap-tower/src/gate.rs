//! What the layers share: a gate that admits or refuses each request in front of an inner
//! service, and the shape of every refusal.

use std::future::Future;
use std::sync::Arc;

use asap_core::Outcome;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use tower_service::Service;

use crate::layer::ResponseFuture;

/// One way of authenticating requests (ASAP bearer tokens, Connect JWTs).
pub(crate) trait Gate: Send + Sync + 'static {
    /// Why a request was refused.
    type Error: std::fmt::Display + Send + 'static;

    /// What the logs call the request ("ASAP", "Connect").
    const KIND: &'static str;

    /// Authenticates `request` in place (the caller goes into its extensions), or says why not.
    fn admit<B: Send>(
        &self,
        request: &mut Request<B>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The status class of a refusal.
    fn outcome(error: &Self::Error) -> Outcome;

    /// The response for a refusal (the caller's replacement, or the default).
    fn respond(&self, error: &Self::Error) -> Response<String>;
}

/// Logs a refusal (status and reason, never the token): 5xx as warnings, the rest as info.
pub(crate) fn log_refusal(kind: &'static str, outcome: Outcome, reason: &dyn std::fmt::Display) {
    let status = outcome.status();
    if status >= 500 {
        tracing::warn!(status, %reason, "{kind} request refused");
    } else {
        tracing::info!(status, %reason, "{kind} request refused");
    }
}

/// `Service::call` for a gated service: admit the request, then call the inner service, or answer
/// the refusal without calling it.
pub(crate) fn call<S, G, ReqBody, ResBody>(
    inner: &mut S,
    gate: &Arc<G>,
    mut request: Request<ReqBody>,
) -> ResponseFuture<Response<ResBody>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    G: Gate,
    ReqBody: Send + 'static,
    ResBody: From<String> + 'static,
{
    // The clone is not ready yet; call the one that was, keep the clone for next time.
    let ready = inner.clone();
    let mut inner = std::mem::replace(inner, ready);
    let gate = gate.clone();
    Box::pin(async move {
        match gate.admit(&mut request).await {
            Ok(()) => inner.call(request).await,
            Err(error) => {
                log_refusal(G::KIND, G::outcome(&error), &error);
                Ok(gate.respond(&error).map(ResBody::from))
            }
        }
    })
}

/// The shape of every refusal: the outcome's status, a small JSON body
/// `{"error": code, "error_description": …}`, the given `WWW-Authenticate` challenge, and
/// `Retry-After` on a 503.
pub(crate) fn refusal(
    outcome: Outcome,
    code: &str,
    description: &str,
    challenge: Option<HeaderValue>,
) -> Response<String> {
    let status = StatusCode::from_u16(outcome.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let body = serde_json::json!({ "error": code, "error_description": description }).to_string();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(challenge) = challenge {
        headers.insert(WWW_AUTHENTICATE, challenge);
    }
    if outcome == Outcome::Unavailable {
        headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}
