//! The shape of every default refusal, ASAP and Connect alike.

use std::fmt;

use asap_core::Outcome;
use http::header::{
    AUTHORIZATION, CONTENT_TYPE, Entry, HeaderMap, HeaderValue, OccupiedEntry, RETRY_AFTER, WWW_AUTHENTICATE,
};
use http::{Response, StatusCode};

/// What a 503 body says instead of the error: the error names the dependency that failed (a key
/// repository URL, a store's address, a transport error), which is for the logs, not for the
/// caller.
pub(crate) const UNAVAILABLE: &str = "credentials cannot be checked right now; try again later";

/// The outcome's status, a small JSON body `{"error": code, "error_description": …}`, the given
/// `WWW-Authenticate` challenge, and `Retry-After` on a 503. The description is `reason`,
/// except on a 503 (see [`UNAVAILABLE`]).
pub(crate) fn refusal(
    outcome: Outcome,
    code: &str,
    reason: &dyn fmt::Display,
    challenge: Option<HeaderValue>,
) -> Response<String> {
    let status = StatusCode::from_u16(outcome.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let description = match outcome {
        Outcome::Unavailable => UNAVAILABLE.to_owned(),
        _ => reason.to_string(),
    };
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

/// The authentication scheme a profile's challenge names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scheme {
    /// `Bearer` (ASAP, Forge, central-issuer tokens).
    Bearer,
    /// `JWT` (Connect, per-user tokens).
    #[cfg_attr(not(any(feature = "connect", feature = "user-tokens")), allow(dead_code))]
    Jwt,
}

/// The `WWW-Authenticate` challenge for a refusal's `code` (RFC 6750 §3): the bare scheme when
/// no token was sent, `error="…"` for an invalid token or (`Bearer`) a missing scope, none for
/// the other codes (403 and 503 carry no challenge).
pub(crate) fn challenge(scheme: Scheme, code: &str) -> Option<HeaderValue> {
    let value = match (scheme, code) {
        (Scheme::Bearer, "missing_token") => "Bearer",
        (Scheme::Bearer, "invalid_token") => "Bearer error=\"invalid_token\"",
        (Scheme::Bearer, "insufficient_scope") => "Bearer error=\"insufficient_scope\"",
        (Scheme::Jwt, "missing_token") => "JWT",
        (Scheme::Jwt, "invalid_token") => "JWT error=\"invalid_token\"",
        _ => return None,
    };
    Some(HeaderValue::from_static(value))
}

/// Marks the request's `Authorization` values sensitive: the token stays readable, but a
/// handler or a later layer that logs the request's headers with `{:?}` prints `Sensitive`
/// instead of a bearer credential that is valid until it expires (and HTTP/2 never indexes it).
pub(crate) fn hide_authorization(headers: &mut HeaderMap) {
    hidden_authorization(headers);
}

/// [`hide_authorization`], handing back the values it hid (`None` without the header), so that
/// a layer that reads them next does not look the header up a second time.
pub(crate) fn hidden_authorization(headers: &mut HeaderMap) -> Option<OccupiedEntry<'_, HeaderValue>> {
    let Entry::Occupied(mut values) = headers.entry(AUTHORIZATION) else {
        return None;
    };
    for value in values.iter_mut() {
        value.set_sensitive(true);
    }
    Some(values)
}
