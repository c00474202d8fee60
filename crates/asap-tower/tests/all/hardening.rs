//! What a caller learns from, and leaves in, a refused or admitted request: a 503 names no
//! dependency (the log does), and the bearer token reaches the service marked sensitive.

use std::convert::Infallible;

use asap_core::*;
use asap_tower::AsapLayer;
use http::header::AUTHORIZATION;
use http::{Request, Response, StatusCode};
use tower::{ServiceBuilder, ServiceExt, service_fn};

use crate::support::*;

const REPOSITORY_ERROR: &str =
    "GET https://keys.internal.example/billing/k1: connection refused (os error 111)";

#[derive(Debug)]
struct DownRepository;

impl PublicKeySource for DownRepository {
    fn public_key<'a>(&'a self, _kid: &'a KeyId) -> KeyFuture<'a> {
        Box::pin(async { Err(KeySourceError::Unavailable(REPOSITORY_ERROR.into())) })
    }
}

async fn ok(_: Request<()>) -> Result<Response<String>, Infallible> {
    Ok(Response::new(String::from("ok")))
}

#[tokio::test]
async fn a_503_body_names_no_key_repository_and_the_warn_log_does() {
    let billing = Caller::new("billing");
    let layer = AsapLayer::new(verifier(DownRepository).build().expect("v"));
    let service = ServiceBuilder::new().layer(layer).service_fn(ok);
    let recorder = LogRecorder::default();
    let _guard = recorder.install();

    let request = Request::get("/")
        .header(AUTHORIZATION, format!("Bearer {}", billing.token()))
        .body(())
        .expect("request");
    let response = service.oneshot(request).await.expect("infallible");

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = serde_json::from_str(&body_text(response).await).expect("json");
    assert_eq!(body["error"], "temporarily_unavailable");
    let text = body.to_string();
    assert!(!text.contains("keys.internal"), "{text}");
    assert!(!text.contains("connection refused"), "{text}");
    assert!(text.contains("try again later"), "{text}");

    let events = recorder.events();
    assert!(
        events
            .iter()
            .any(|(level, fields)| *level == tracing::Level::WARN && fields.contains(REPOSITORY_ERROR)),
        "{events:?}"
    );
}

#[tokio::test]
async fn the_service_sees_the_bearer_token_marked_sensitive() {
    let billing = Caller::new("billing");
    let token = billing.token();
    let layer = AsapLayer::new(verifier(keys(&[&billing])).build().expect("v"));
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|request: Request<()>| async move {
            let value = &request.headers()[AUTHORIZATION];
            let shown = format!("{:?}", request.headers());
            Ok::<_, Infallible>(Response::new(format!("{} {shown}", value.is_sensitive())))
        }));
    let request = Request::get("/")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(())
        .expect("request");
    let response = service.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let body = body_text(response).await;
    assert!(body.starts_with("true "), "{body}");
    assert!(!body.contains(&token), "{body}");
}
