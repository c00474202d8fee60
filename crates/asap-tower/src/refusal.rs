//! The shape of every default refusal, ASAP and Connect alike.

use std::fmt;

use asap_core::Outcome;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};

/// The outcome's status, a small JSON body `{"error": code, "error_description": …}`, the given
/// `WWW-Authenticate` challenge, and `Retry-After` on a 503. The description is `reason`.
pub(crate) fn refusal(
    outcome: Outcome,
    code: &str,
    reason: &dyn fmt::Display,
    challenge: Option<HeaderValue>,
) -> Response<String> {
    let status = StatusCode::from_u16(outcome.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let body = serde_json::json!({ "error": code, "error_description": reason.to_string() }).to_string();
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
