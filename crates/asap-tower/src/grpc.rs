//! Refusals of gRPC requests: the same decision as the HTTP refusal, written the way a gRPC
//! client reads it (a trailers-only response: HTTP 200, `grpc-status` and `grpc-message` in the
//! headers, no body).
//!
//! A request is a gRPC request when it is a `POST` whose `content-type` is `application/grpc`,
//! alone or with a `+format` or parameters (the gRPC over HTTP/2 specification). The choice is
//! made per request, not per layer, because one server often answers both (an axum router with
//! tonic services, a gRPC gateway beside a REST API): each client is told "no" in the form it
//! can read. Who
//! chooses does not matter for security: the decision, the logging and the reason are the same;
//! only the encoding of the refusal follows the request.

use std::fmt;

use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::refusal::UNAVAILABLE;

/// Whether a request is gRPC: a `POST` (every gRPC call is one) with `content-type:
/// application/grpc`, optionally followed by `+format` (`+proto`, `+json`) or `;parameters`, in
/// any case. Any other method gets the HTTP refusal whatever its `content-type`, so that no
/// `GET` is refused with an HTTP 200 (the trailers-only form), which caches and monitors would
/// take for a success. gRPC-Web (`application/grpc-web…`) is not gRPC: it has its own framing;
/// put the layer inside the gRPC-Web translation (tonic-web), which turns such requests into
/// gRPC ones.
pub(crate) fn is_grpc_request(method: &Method, headers: &HeaderMap) -> bool {
    const GRPC: &[u8] = b"application/grpc";
    if method != Method::POST {
        return false;
    }
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return false;
    };
    let value = value.as_bytes();
    value.len() >= GRPC.len()
        && value[..GRPC.len()].eq_ignore_ascii_case(GRPC)
        && matches!(value.get(GRPC.len()), None | Some(b'+' | b';'))
}

/// gRPC status codes (`google.rpc.Code`) the refusals use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    Unknown = 2,
    Internal = 13,
    Unimplemented = 12,
    PermissionDenied = 7,
    Unavailable = 14,
    Unauthenticated = 16,
}

impl Code {
    /// The code for the status an HTTP refusal would have had: the HTTP-to-gRPC status
    /// mapping of the gRPC specification (the one gRPC clients apply to a response without
    /// `grpc-status`), so that a replaced responder (`on_rejection`) keeps its meaning for
    /// gRPC clients too.
    fn for_status(status: StatusCode) -> Code {
        match status.as_u16() {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502..=504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
}

/// The longest `grpc-message` sent, in bytes before percent-encoding. Reasons can quote the
/// unverified token (an issuer of several KiB); a header that large can exceed the client's
/// header-list limit, and the client would then see a protocol error instead of the status.
pub(crate) const MAX_GRPC_MESSAGE: usize = 1024;

/// What `grpc-message` percent-encodes (gRPC over HTTP/2: every byte outside 0x20–0x7E, and
/// `%`); non-ASCII bytes are always encoded. So no reason can end a header or inject one.
const GRPC_MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

/// The trailers-only refusal of a gRPC request whose HTTP refusal has `status`: the code for
/// that status, `reason` as the message — except for a 5xx, whose reason names the dependency
/// that failed and goes to the logs only, as in the HTTP body.
pub(crate) fn grpc_refusal(status: StatusCode, reason: &dyn fmt::Display) -> Response<String> {
    let message = if status.is_server_error() {
        UNAVAILABLE.to_owned()
    } else {
        truncate(reason.to_string(), MAX_GRPC_MESSAGE)
    };
    let mut response = Response::new(String::new());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from(Code::for_status(status) as u16));
    let encoded = utf8_percent_encode(&message, GRPC_MESSAGE).to_string();
    // Percent-encoded text is visible ASCII only: always a valid header value.
    if let Ok(value) = HeaderValue::try_from(encoded) {
        headers.insert("grpc-message", value);
    }
    response
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).expect("value"));
        headers
    }

    #[test]
    fn grpc_requests_are_posts_told_by_their_content_type() {
        for grpc in [
            "application/grpc",
            "application/grpc+proto",
            "Application/GRPC+json",
            "application/grpc;charset=utf-8",
        ] {
            assert!(is_grpc_request(&Method::POST, &headers(grpc)), "{grpc}");
            for method in [Method::GET, Method::HEAD, Method::PUT, Method::OPTIONS] {
                assert!(!is_grpc_request(&method, &headers(grpc)), "{method} {grpc}");
            }
        }
        for other in [
            "application/json",
            "application/grpc-web",
            "application/grpc-web-text",
            "application/grpcx",
            "text/application/grpc",
            "",
        ] {
            assert!(!is_grpc_request(&Method::POST, &headers(other)), "{other}");
        }
        assert!(!is_grpc_request(&Method::POST, &HeaderMap::new()));
    }

    #[test]
    fn statuses_map_to_the_codes_of_the_grpc_specification() {
        let code = |status: u16| Code::for_status(StatusCode::from_u16(status).expect("status"));
        assert_eq!(code(401), Code::Unauthenticated);
        assert_eq!(code(403), Code::PermissionDenied);
        assert_eq!(code(503), Code::Unavailable);
        assert_eq!(code(429), Code::Unavailable);
        assert_eq!(code(400), Code::Internal);
        assert_eq!(code(404), Code::Unimplemented);
        assert_eq!(code(500), Code::Unknown);
        assert_eq!(code(418), Code::Unknown);
    }

    #[test]
    fn the_message_is_percent_encoded_so_no_reason_can_break_a_header() {
        let response = grpc_refusal(
            StatusCode::FORBIDDEN,
            &"issuer \"a\r\nx-injected: 1\" is 100% not allowed — é",
        );
        assert_eq!(response.headers()["grpc-status"], "7");
        assert_eq!(
            response.headers()["grpc-message"],
            "issuer \"a%0D%0Ax-injected: 1\" is 100%25 not allowed %E2%80%94 %C3%A9"
        );
        assert!(!response.headers().contains_key("x-injected"));
        assert!(response.body().is_empty());
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/grpc");
    }

    #[test]
    fn the_message_is_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_GRPC_MESSAGE);
        let cut = truncate(long, MAX_GRPC_MESSAGE);
        assert_eq!(cut.len(), MAX_GRPC_MESSAGE);
        let odd = truncate(format!("x{}", "é".repeat(MAX_GRPC_MESSAGE)), MAX_GRPC_MESSAGE);
        assert_eq!(odd.len(), MAX_GRPC_MESSAGE - 1);
    }

    #[test]
    fn a_5xx_message_names_no_dependency() {
        let response = grpc_refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            &"GET https://keys.internal/k1: refused",
        );
        assert_eq!(response.headers()["grpc-status"], "14");
        let message = response.headers()["grpc-message"].to_str().expect("ascii");
        assert!(!message.contains("keys.internal"), "{message}");
    }
}
