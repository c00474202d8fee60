//! The response sent for a refused per-user request: one function, replaceable by the caller.

use asap_core::Outcome;
use http::Response;
use user_tokens::UserTokenError;

use crate::refusal::{Scheme, challenge, refusal};

/// The machine-readable error code for a refused per-user request (RFC 6750 codes where they
/// fit): `missing_token`, `invalid_token` or `temporarily_unavailable`.
pub fn user_error_code(error: &UserTokenError) -> &'static str {
    match (error, error.outcome()) {
        (UserTokenError::MissingToken, _) => "missing_token",
        (_, Outcome::Unavailable) => "temporarily_unavailable",
        _ => "invalid_token",
    }
}

/// The default refusal of a per-user request: 401 with `WWW-Authenticate: JWT` (plus
/// `error="invalid_token"` when a token was sent), or 503 with `Retry-After`; a small JSON body
/// naming the failed rule. Never includes the token; a 503 names no dependency.
///
/// ```
/// use asap_tower::user_response;
/// use user_tokens::UserTokenError;
///
/// let response = user_response(&UserTokenError::NoMatchingKey);
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["www-authenticate"], "JWT error=\"invalid_token\"");
/// ```
pub fn user_response(error: &UserTokenError) -> Response<String> {
    let code = user_error_code(error);
    refusal(error.outcome(), code, error, challenge(Scheme::Jwt, code))
}
