//! The layer on a plain hyper server, without axum.

use std::convert::Infallible;

use asap_core::Verified;
use asap_tower::AsapLayer;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;

use crate::support::*;

async fn hello(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let issuer = request
        .extensions()
        .get::<Verified>()
        .map_or("nobody", |v| v.issuer())
        .to_owned();
    Ok(Response::new(Full::new(Bytes::from(issuer))))
}

#[tokio::test]
async fn works_with_plain_hyper() {
    let billing = Caller::new("billing");
    let layer = AsapLayer::new(verifier(keys(&[&billing])).build().expect("v"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = ServiceBuilder::new().layer(layer.clone()).service_fn(hello);
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)),
            );
        }
    });
    let client = reqwest::Client::new();
    let ok = client
        .get(format!("http://{addr}/"))
        .bearer_auth(billing.token())
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.expect("body"), "billing");
    let refused = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
}
