//! Refusals of gRPC requests (`content-type: application/grpc…`): trailers-only responses with
//! `grpc-status` and `grpc-message`, for every authorizer; HTTP requests through the same layer
//! keep their HTTP refusals. (A real tonic server and client: `examples/tests/all/grpc.rs`.)

use std::convert::Infallible;

use asap_core::*;
use asap_tower::{AsapLayer, Authorize, AuthorizeLayer, RequireScopesLayer};
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, Request, Response, StatusCode};
use tower::{Layer, ServiceExt, service_fn};

use crate::support::*;

async fn ok(_: Request<()>) -> Result<Response<String>, Infallible> {
    Ok(Response::new(String::from("ok")))
}

fn grpc_request(token: Option<&str>) -> Request<()> {
    let mut request = Request::post("/ledger.Ledger/Balance")
        .header(CONTENT_TYPE, "application/grpc")
        .body(())
        .expect("request");
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().expect("value");
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    request
}

/// The `grpc-status`, the decoded `grpc-message` and the headers of a trailers-only refusal,
/// after checking what makes it one: HTTP 200, `application/grpc`, a body that ends with the
/// headers.
fn trailers_only<B: http_body::Body>(response: &Response<B>) -> (u16, String, HeaderMap) {
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.body().is_end_stream(),
        "a trailers-only response has no body"
    );
    let headers = response.headers().clone();
    assert_eq!(headers[CONTENT_TYPE], "application/grpc");
    let status = headers["grpc-status"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("number");
    let message = headers["grpc-message"].to_str().expect("ascii");
    let message = percent_decode(message);
    (status, message, headers)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
            out.push(u8::from_str_radix(hex, 16).expect("hex"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

#[derive(Debug)]
struct DownRepository;

impl PublicKeySource for DownRepository {
    fn public_key<'a>(&'a self, _kid: &'a KeyId) -> KeyFuture<'a> {
        Box::pin(async {
            Err(KeySourceError::Unavailable(
                "https://keys.internal/: refused".into(),
            ))
        })
    }
}

#[tokio::test]
async fn refused_grpc_requests_get_unauthenticated_permission_denied_or_unavailable() {
    let billing = Caller::new("billing");
    let payroll = Caller::new("payroll");
    let layer = AsapLayer::new(verifier(keys(&[&billing, &payroll])).build().expect("v"))
        .allowed_issuers(["billing"]);
    let service = layer.layer(service_fn(ok));

    let missing = service
        .clone()
        .oneshot(grpc_request(None))
        .await
        .expect("infallible");
    let (status, message, headers) = trailers_only(&missing);
    assert_eq!(status, 16, "UNAUTHENTICATED");
    assert_eq!(message, VerifyError::MissingToken.to_string());
    assert!(!headers.contains_key(WWW_AUTHENTICATE), "{headers:?}");

    let forged = format!("{}x", billing.token());
    let refused = service
        .clone()
        .oneshot(grpc_request(Some(&forged)))
        .await
        .expect("infallible");
    let (status, message, _) = trailers_only(&refused);
    assert_eq!(status, 16, "UNAUTHENTICATED");
    assert!(
        message.contains("signature") || message.contains("base64"),
        "{message}"
    );

    let denied = service
        .clone()
        .oneshot(grpc_request(Some(&payroll.token())))
        .await
        .expect("infallible");
    let (status, message, _) = trailers_only(&denied);
    assert_eq!(status, 7, "PERMISSION_DENIED");
    assert!(message.contains("payroll"), "{message}");

    let down = AsapLayer::new(verifier(DownRepository).build().expect("v")).layer(service_fn(ok));
    let unavailable = down
        .oneshot(grpc_request(Some(&billing.token())))
        .await
        .expect("infallible");
    let (status, message, _) = trailers_only(&unavailable);
    assert_eq!(status, 14, "UNAVAILABLE");
    assert!(
        !message.contains("keys.internal"),
        "the reason is for the logs: {message}"
    );
}

#[tokio::test]
async fn http_requests_through_the_same_layer_keep_their_http_refusals() {
    let billing = Caller::new("billing");
    let service = AsapLayer::new(verifier(keys(&[&billing])).build().expect("v")).layer(service_fn(ok));
    for content_type in ["application/json", "application/grpc-web"] {
        let request = Request::post("/")
            .header(CONTENT_TYPE, content_type)
            .body(())
            .expect("request");
        let response = service.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{content_type}");
        assert!(!response.headers().contains_key("grpc-status"), "{content_type}");
        assert!(
            body_text(response).await.contains("missing_token"),
            "{content_type}"
        );
    }
}

/// Every gRPC call is a `POST`: another method claiming `application/grpc` is refused with its
/// HTTP status (401), never with the trailers-only HTTP 200.
#[tokio::test]
async fn a_request_other_than_a_post_claiming_grpc_gets_the_http_refusal() {
    let billing = Caller::new("billing");
    let service = AsapLayer::new(verifier(keys(&[&billing])).build().expect("v")).layer(service_fn(ok));
    for method in [http::Method::GET, http::Method::HEAD, http::Method::PUT] {
        let request = Request::builder()
            .method(method.clone())
            .uri("/ledger.Ledger/Balance")
            .header(CONTENT_TYPE, "application/grpc")
            .body(())
            .expect("request");
        let response = service.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method}");
        assert!(!response.headers().contains_key("grpc-status"), "{method}");
    }
}

#[tokio::test]
async fn an_admitted_grpc_request_reaches_the_service_with_the_caller() {
    let billing = Caller::new("billing");
    let service = AsapLayer::new(verifier(keys(&[&billing])).build().expect("v")).layer(service_fn(
        |request: Request<()>| async move {
            let issuer = request
                .extensions()
                .get::<Verified>()
                .map(|v| v.issuer().to_owned());
            Ok::<_, Infallible>(Response::new(issuer.unwrap_or_default()))
        },
    ));
    let response = service
        .oneshot(grpc_request(Some(&billing.token())))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!response.headers().contains_key("grpc-status"));
    assert_eq!(body_text(response).await, "billing");
}

#[tokio::test]
async fn a_missing_scope_is_permission_denied() {
    let billing = Caller::new("billing");
    let service = AsapLayer::new(verifier(keys(&[&billing])).build().expect("v"))
        .layer(RequireScopesLayer::new(["invoices:read"]).layer(service_fn(ok)));
    let response = service
        .oneshot(grpc_request(Some(&billing.token())))
        .await
        .expect("infallible");
    let (status, message, _) = trailers_only(&response);
    assert_eq!(status, 7, "PERMISSION_DENIED");
    assert!(message.contains("invoices:read"), "{message}");
}

#[tokio::test]
async fn a_replaced_responder_keeps_its_meaning_for_grpc_clients() {
    let billing = Caller::new("billing");
    // A deployment that answers every refusal with 403.
    let layer = AsapLayer::new(verifier(keys(&[&billing])).build().expect("v")).on_rejection(|_| {
        let mut response = Response::new(String::from("no"));
        *response.status_mut() = StatusCode::FORBIDDEN;
        response
    });
    let response = layer
        .layer(service_fn(ok))
        .oneshot(grpc_request(None))
        .await
        .expect("infallible");
    assert_eq!(
        trailers_only(&response).0,
        7,
        "PERMISSION_DENIED, as the 403 says"
    );
}

/// An authorizer whose reason is as long as an attacker can make it.
struct Verbose;

impl Authorize for Verbose {
    type Error = String;
    const KIND: &'static str = "verbose";

    async fn authorize<B: Send>(&self, _: &mut Request<B>) -> Result<(), String> {
        Err("é".repeat(8 * 1024))
    }

    fn refuse(&self, _: &String) -> Response<String> {
        let mut response = Response::new(String::new());
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response
    }
}

#[tokio::test]
async fn a_long_reason_is_cut_so_that_the_client_can_still_read_the_status() {
    let service = AuthorizeLayer::with_authorizer(Verbose).layer(service_fn(ok));
    let response = service.oneshot(grpc_request(None)).await.expect("infallible");
    let (status, message, _) = trailers_only(&response);
    assert_eq!(status, 16);
    assert!(message.len() <= 1024, "{} bytes", message.len());
    assert!(message.chars().all(|c| c == 'é'), "cut at a character boundary");
}
