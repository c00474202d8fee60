//! The response sent for a refused request: one function, replaceable by the caller.

use asap_core::{Outcome, VerifyError};
use http::Response;
use http::header::HeaderValue;

use crate::gate::refusal;

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
    let challenge = match outcome {
        Outcome::Unauthorized if matches!(error, VerifyError::MissingToken) => {
            Some(HeaderValue::from_static("Bearer"))
        }
        Outcome::Unauthorized => Some(HeaderValue::from_static("Bearer error=\"invalid_token\"")),
        Outcome::Forbidden if matches!(error, VerifyError::InsufficientScope { .. }) => {
            Some(crate::scope::insufficient_scope_challenge(error))
        }
        _ => None,
    };
    refusal(outcome, error_code(error), &error.to_string(), challenge)
}
