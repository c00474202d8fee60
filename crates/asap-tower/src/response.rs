//! The response sent for a refused request: one function, replaceable by the caller.

use asap_core::{Outcome, VerifyError};
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};

/// The machine-readable error code for a refusal (RFC 6750 codes where they fit).
pub fn error_code(error: &VerifyError) -> &'static str {
    match (error, error.outcome()) {
        (VerifyError::MissingToken, _) => "missing_token",
        (VerifyError::InsufficientScope { .. }, _) => "insufficient_scope",
        (_, Outcome::Forbidden) => "access_denied",
        (_, Outcome::Unavailable) => "temporarily_unavailable",
        _ => "invalid_token",
    }
}

/// The default refusal: 401 with `WWW-Authenticate: Bearer` (plus `error="invalid_token"` when a
/// token was sent, per RFC 6750), 403 (with `WWW-Authenticate: Bearer error="insufficient_scope"`
/// for a missing scope), or 503 with `Retry-After`; a small JSON body naming the
/// failed rule. Never includes the token.
pub fn default_response(error: &VerifyError) -> Response<String> {
    let outcome = error.outcome();
    let status = StatusCode::from_u16(outcome.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let body = serde_json::json!({
        "error": error_code(error),
        "error_description": error.to_string(),
    })
    .to_string();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    match outcome {
        Outcome::Unauthorized if matches!(error, VerifyError::MissingToken) => {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        Outcome::Unauthorized => {
            headers.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        Outcome::Unavailable => {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
        }
        Outcome::Forbidden if matches!(error, VerifyError::InsufficientScope { .. }) => {
            headers.insert(
                WWW_AUTHENTICATE,
                crate::scope::insufficient_scope_challenge(error),
            );
        }
        _ => {}
    }
    response
}
