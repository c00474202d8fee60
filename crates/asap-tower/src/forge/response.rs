//! The response sent for a refused Forge invocation: one function, replaceable by the caller.

use asap_core::Outcome;
use forge_remote::ForgeError;
use http::Response;

use crate::refusal::{Scheme, challenge, refusal};

/// The machine-readable error code for a refused invocation (RFC 6750 codes). The one place
/// where [`ForgeError`] variants become codes; the default response's challenge follows it.
pub fn forge_error_code(error: &ForgeError) -> &'static str {
    match (error, error.outcome()) {
        (ForgeError::MissingToken, _) => "missing_token",
        (_, Outcome::Unavailable) => "temporarily_unavailable",
        (_, Outcome::Forbidden) => "access_denied",
        _ => "invalid_token",
    }
}

/// The default refusal of a Forge invocation: 401 with `WWW-Authenticate: Bearer` (plus
/// `error="invalid_token"` when a token was sent), or 503 with `Retry-After`; a small JSON
/// body naming the failed rule. Never includes a token; a 503 names no dependency.
///
/// ```
/// use asap_tower::forge_response;
/// use forge_remote::ForgeError;
///
/// let response = forge_response(&ForgeError::AppMismatch);
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["www-authenticate"], "Bearer error=\"invalid_token\"");
/// assert_eq!(forge_response(&ForgeError::MissingToken).headers()["www-authenticate"], "Bearer");
/// ```
pub fn forge_response(error: &ForgeError) -> Response<String> {
    let code = forge_error_code(error);
    refusal(error.outcome(), code, error, challenge(Scheme::Bearer, code))
}

#[cfg(test)]
mod tests {
    use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};

    use super::*;

    #[test]
    fn refusals_map_to_status_challenge_and_code() {
        let down = forge_response(&ForgeError::KeyUnavailable("forge cdn down".into()));
        assert_eq!(down.status(), 503);
        assert_eq!(down.headers()[RETRY_AFTER], "5");
        assert!(!down.headers().contains_key(WWW_AUTHENTICATE));
        assert!(!down.body().contains("forge cdn"), "a 503 names no dependency");
        let bad = forge_response(&ForgeError::WrongIssuer("x".into()));
        assert_eq!(bad.status(), 401);
        assert!(bad.body().contains("invalid_token"));
    }
}
