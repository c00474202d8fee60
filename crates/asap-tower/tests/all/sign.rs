//! The outbound layer, `SignRequestsLayer`: every request gets a token the server verifies,
//! reused or fresh, for the layer's audience or the request's own; a request that cannot be
//! signed is not sent. Last, a real hyper-util client through it to a server behind `AsapLayer`.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use asap_core::*;
use asap_tower::{AsapLayer, SignRequestsError, SignRequestsLayer};
use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Request, Response};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

use crate::support::*;

/// A transport that records the `Authorization` header of each request it is given.
#[derive(Clone, Default)]
struct Recorder {
    sent: Arc<Mutex<Vec<Option<http::HeaderValue>>>>,
}

impl Recorder {
    fn service(&self) -> impl Service<Request<()>, Response = Response<()>, Error = Infallible> + Clone {
        let sent = self.sent.clone();
        service_fn(move |request: Request<()>| {
            sent.lock()
                .expect("not poisoned")
                .push(request.headers().get(AUTHORIZATION).cloned());
            async { Ok(Response::new(())) }
        })
    }

    fn tokens(&self) -> Vec<String> {
        let sent = self.sent.lock().expect("not poisoned");
        sent.iter()
            .map(|value| {
                let value = value.as_ref().expect("an Authorization header");
                assert!(value.is_sensitive(), "the bearer token is marked sensitive");
                let text = value.to_str().expect("ascii");
                text.strip_prefix("Bearer ").expect("a bearer token").to_owned()
            })
            .collect()
    }
}

fn audience(name: &str) -> Audience {
    Audience::new(name).expect("audience")
}

fn get() -> Request<()> {
    Request::get("http://ledger.internal/balance")
        .body(())
        .expect("request")
}

#[tokio::test]
async fn each_request_carries_a_token_the_server_verifies_for_the_layer_audience() {
    let billing = Caller::new("billing");
    let recorder = Recorder::default();
    let client = SignRequestsLayer::new(&billing.signer, audience(AUDIENCE)).layer(recorder.service());
    client.oneshot(get()).await.expect("sent");

    let [token] = recorder.tokens().try_into().expect("one request");
    let verified = verifier(keys(&[&billing]))
        .build()
        .expect("v")
        .verify(&token)
        .await
        .expect("verifies");
    assert_eq!(verified.issuer(), "billing");
}

#[tokio::test]
async fn tokens_are_reused_unless_fresh_tokens_are_asked_for() {
    let billing = Caller::new("billing");
    let recorder = Recorder::default();
    let reusing = SignRequestsLayer::new(&billing.signer, audience(AUDIENCE));
    let fresh = reusing.clone().fresh_tokens();
    for layer in [reusing, fresh] {
        let mut client = layer.layer(recorder.service());
        for _ in 0..2 {
            client
                .ready()
                .await
                .expect("ready")
                .call(get())
                .await
                .expect("sent");
        }
    }
    let tokens = recorder.tokens();
    assert_eq!(tokens[0], tokens[1], "reused");
    assert_ne!(tokens[2], tokens[3], "fresh");
}

#[tokio::test]
async fn a_token_request_in_the_extensions_sets_that_request_s_audience() {
    let billing = Caller::new("billing");
    let recorder = Recorder::default();
    let client = SignRequestsLayer::new(&billing.signer, audience(AUDIENCE)).layer(recorder.service());
    let mut request = get();
    request
        .extensions_mut()
        .insert(TokenRequest::new(audience("audit")).claim("scope", "events:read"));
    client.clone().oneshot(request).await.expect("sent");
    client.oneshot(get()).await.expect("sent");

    let [for_audit, for_ledger] = recorder.tokens().try_into().expect("two requests");
    let audit = Verifier::builder(keys(&[&billing]))
        .audience(audience("audit"))
        .build()
        .expect("v");
    let verified = audit.verify(&for_audit).await.expect("for audit");
    assert_eq!(verified.claims().scopes(), ["events:read"]);
    assert!(matches!(
        audit.verify(&for_ledger).await,
        Err(VerifyError::Token(TokenError::AudienceMismatch))
    ));
}

#[tokio::test]
async fn a_request_with_its_own_authorization_header_is_sent_as_it_is() {
    let billing = Caller::new("billing");
    let recorder = Recorder::default();
    let client = SignRequestsLayer::new(&billing.signer, audience(AUDIENCE)).layer(recorder.service());
    let mut request = get();
    request
        .headers_mut()
        .insert(AUTHORIZATION, "Basic b3BzOm9wcw==".parse().expect("value"));
    client.oneshot(request).await.expect("sent");
    let sent = recorder.sent.lock().expect("not poisoned");
    assert_eq!(sent[0].as_ref().expect("header"), "Basic b3BzOm9wcw==");
}

#[tokio::test]
async fn a_request_that_cannot_be_signed_fails_with_the_sign_error_and_is_not_sent() {
    let billing = Caller::new("billing");
    let recorder = Recorder::default();
    let client = SignRequestsLayer::new(&billing.signer, audience(AUDIENCE)).layer(recorder.service());
    let mut request = get();
    // `iss` is the signer's to set: a registered claim cannot be an extra claim.
    request
        .extensions_mut()
        .insert(TokenRequest::new(audience(AUDIENCE)).claim("iss", "ops"));
    let error = client.oneshot(request).await.expect_err("refused");
    let error = error
        .downcast_ref::<SignRequestsError>()
        .expect("a SignRequestsError");
    assert!(
        matches!(error, SignRequestsError::Sign(SignError::Claim { name, .. }) if name == "iss"),
        "{error:?}"
    );
    assert!(
        recorder.sent.lock().expect("not poisoned").is_empty(),
        "nothing was sent"
    );
}

#[derive(Debug)]
struct ConnectionRefused;

impl std::fmt::Display for ConnectionRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection refused")
    }
}

impl std::error::Error for ConnectionRefused {}

#[tokio::test]
async fn the_inner_service_s_error_comes_back_as_it_was() {
    let billing = Caller::new("billing");
    let client = SignRequestsLayer::new(&billing.signer, audience(AUDIENCE)).layer(service_fn(
        |_: Request<()>| async { Err::<Response<()>, _>(ConnectionRefused) },
    ));
    let error = client.oneshot(get()).await.expect_err("fails");
    assert!(error.downcast_ref::<ConnectionRefused>().is_some(), "{error:?}");
}

#[tokio::test]
async fn a_hyper_util_client_signs_for_a_hyper_server_behind_the_layer() {
    let billing = Caller::new("billing");
    let layer = AsapLayer::new(verifier(keys(&[&billing])).build().expect("v"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service =
                ServiceBuilder::new()
                    .layer(layer.clone())
                    .service_fn(|request: Request<_>| async move {
                        let issuer = request
                            .extensions()
                            .get::<Verified>()
                            .map_or("nobody", |v| v.issuer())
                            .to_owned();
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(issuer))))
                    });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)),
            );
        }
    });

    let client = ServiceBuilder::new()
        .layer(SignRequestsLayer::new(&billing.signer, audience(AUDIENCE)))
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
    let request = Request::get(format!("http://{addr}/"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = client.oneshot(request).await.expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(body_text(response).await, "billing");
}
