//! The response sent for a refused Connect request: one function, replaceable by the caller.

use asap_core::Outcome;
use connect_qsh::AuthError;
use http::Response;

use crate::refusal::{Scheme, challenge, refusal};

/// The machine-readable error code for a refused Connect request (RFC 6750 codes where they
/// fit). The one place where [`AuthError`] variants become codes; the default response's
/// challenge follows the code.
pub fn connect_error_code(error: &AuthError) -> &'static str {
    match (error, error.outcome()) {
        (AuthError::MissingToken, _) => "missing_token",
        (_, Outcome::Forbidden) => "access_denied",
        (_, Outcome::Unavailable) => "temporarily_unavailable",
        _ => "invalid_token",
    }
}

/// The default refusal of a Connect request: 401 with `WWW-Authenticate: JWT` (plus
/// `error="invalid_token"` when a token was sent), 403, or 503 with `Retry-After`; a small JSON
/// body naming the failed rule. Never includes the token; a 503 names no dependency (the reason
/// goes to the logs).
///
/// Also the natural answer for a refused lifecycle callback ([`connect_qsh::Lifecycle`]
/// returns the same [`AuthError`]).
///
/// ```
/// use asap_tower::connect_response;
/// use connect_qsh::AuthError;
///
/// let response = connect_response(&AuthError::QshMismatch);
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["www-authenticate"], "JWT error=\"invalid_token\"");
/// assert_eq!(connect_response(&AuthError::ContextQshNotAllowed).status(), 403);
/// ```
pub fn connect_response(error: &AuthError) -> Response<String> {
    let code = connect_error_code(error);
    refusal(error.outcome(), code, error, challenge(Scheme::Jwt, code))
}

#[cfg(test)]
mod tests {
    use connect_qsh::StoreError;
    use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};

    use super::*;

    #[test]
    fn refusals_map_to_status_challenge_and_code() {
        let missing = connect_response(&AuthError::MissingToken);
        assert_eq!(missing.status(), 401);
        assert_eq!(missing.headers()[WWW_AUTHENTICATE], "JWT");
        assert!(missing.body().contains("missing_token"));

        let forbidden = connect_response(&AuthError::ContextQshNotAllowed);
        assert_eq!(forbidden.status(), 403);
        assert!(!forbidden.headers().contains_key(WWW_AUTHENTICATE));
        assert!(forbidden.body().contains("access_denied"));

        let down = connect_response(&AuthError::from(StoreError::Unavailable("down".into())));
        assert_eq!(down.status(), 503);
        assert_eq!(down.headers()[RETRY_AFTER], "5");
        assert_eq!(down.headers()[CONTENT_TYPE], "application/json");
    }
}
