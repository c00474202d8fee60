//! The response sent for a refused ASAP request: one function, replaceable by the caller.

use asap_core::{Outcome, VerifyError};
use http::Response;

use crate::refusal::{Scheme, challenge, refusal};

/// The machine-readable error code for a refusal (RFC 6750 codes where they fit). The one place
/// where [`VerifyError`] variants become codes; the default response's challenge follows the
/// code.
pub fn error_code(error: &VerifyError) -> &'static str {
    match (error, error.outcome()) {
        (VerifyError::MissingToken, _) => "missing_token",
        (VerifyError::InsufficientScope { .. }, _) => "insufficient_scope",
        (VerifyError::NotBoundToRequest, _) => "unbound_token",
        (_, Outcome::Forbidden) => "access_denied",
        (_, Outcome::Unavailable) => "temporarily_unavailable",
        _ => "invalid_token",
    }
}

/// The default refusal: 401 with `WWW-Authenticate: Bearer` (plus `error="invalid_token"` when a
/// token was sent, per RFC 6750), 403 (with `WWW-Authenticate: Bearer error="insufficient_scope"`
/// for a missing scope), or 503 with `Retry-After`; a small JSON body naming the failed rule.
/// Never includes the token; a 503 names no dependency (the reason goes to the logs).
///
/// ```
/// use asap_core::{TokenError, VerifyError};
/// use asap_tower::default_response;
///
/// let response = default_response(&VerifyError::Token(TokenError::BadSignature));
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["www-authenticate"], "Bearer error=\"invalid_token\"");
///
/// let down = default_response(&VerifyError::KeyUnavailable("https://keys.internal/: connection refused".into()));
/// assert_eq!(down.status(), 503);
/// assert!(!down.body().contains("keys.internal"));
/// ```
pub fn default_response(error: &VerifyError) -> Response<String> {
    let code = error_code(error);
    let challenge = match code {
        // The required scopes go in the challenge.
        "insufficient_scope" => Some(super::scope::insufficient_scope_challenge(error)),
        // A token that is not bound to the request is, for this route, an invalid one.
        "unbound_token" => challenge(Scheme::Bearer, "invalid_token"),
        _ => challenge(Scheme::Bearer, code),
    };
    refusal(error.outcome(), code, error, challenge)
}
