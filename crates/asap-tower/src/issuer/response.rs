//! The response sent for a refused central-issuer request: one function, replaceable.

use asap_core::Outcome;
use http::Response;
use issuer_tokens::IssuerTokenError;

use crate::refusal::{Scheme, challenge, refusal};

/// The machine-readable error code for a refused central-issuer request (RFC 6750):
/// `missing_token`, `invalid_token`, `insufficient_scope` or `access_denied`.
pub fn issuer_error_code(error: &IssuerTokenError) -> &'static str {
    match (error, error.outcome()) {
        (IssuerTokenError::MissingToken, _) => "missing_token",
        (IssuerTokenError::MissingScopes(_), _) => "insufficient_scope",
        (_, Outcome::Forbidden) => "access_denied",
        (_, Outcome::Unavailable) => "temporarily_unavailable",
        _ => "invalid_token",
    }
}

/// The default refusal of a central-issuer request: 401 with `WWW-Authenticate: Bearer` (plus
/// `error="invalid_token"` when a token was sent), 403 (with `WWW-Authenticate: Bearer
/// error="insufficient_scope"` for a missing scope); a small JSON body naming the failed rule,
/// never the token.
///
/// ```
/// use asap_tower::issuer_response;
/// use issuer_tokens::IssuerTokenError;
///
/// let response = issuer_response(&IssuerTokenError::MissingScopes("admin:all".into()));
/// assert_eq!(response.status(), 403);
/// assert_eq!(response.headers()["www-authenticate"], "Bearer error=\"insufficient_scope\"");
/// ```
pub fn issuer_response(error: &IssuerTokenError) -> Response<String> {
    let code = issuer_error_code(error);
    refusal(error.outcome(), code, error, challenge(Scheme::Bearer, code))
}
