//! What a cache hit costs through `AsapLayer`, for callgrind: a trivial `tower::service_fn`
//! route called N times with one cached token, through the layer (`layer`) or without it
//! (`route`), each request inside `profiled` so that only the requests are counted:
//!
//! ```text
//! cargo build --release -p asap-examples --example layer_hit
//! valgrind --tool=callgrind --toggle-collect='*profiled*' \
//!     target/release/examples/layer_hit --profile layer|route N
//! ```
//!
//! Instructions per request are the collected total over N; the layer's own cost is the
//! difference between the two. The request (with its `Authorization` header) is built outside
//! `profiled`; the layer's work on it — verification, extensions, the response future — and
//! dropping it inside the route are counted.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use asap_core::*;
use asap_tower::AsapLayer;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service, ServiceExt, service_fn};

/// The output of a future that must be ready at once (a cache hit never waits).
fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a cache hit through the layer waited"),
    }
}

/// The route: nothing but a response.
async fn route(_: Request<()>) -> Result<Response<String>, Infallible> {
    Ok(Response::new(String::new()))
}

/// One request through `service`, ready then called.
fn request<S, B>(service: &mut S, request: Request<()>) -> StatusCode
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    let response = ready(async {
        let ready = service.ready().await?;
        ready.call(request).await
    });
    let response = black_box(response.expect("response"));
    response.status()
}

#[inline(never)]
fn profiled(op: impl FnOnce()) {
    op();
}

/// A verifier with the verified-token cache for an ES256 key, and a token it accepts.
fn verifier_and_header() -> (Verifier, HeaderValue) {
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
    let kid = KeyId::parse("billing/k1").expect("kid");
    let keys = StaticKeySource::new().with_key(kid.clone(), key.public_key().expect("public"));
    let signer = Signer::builder("billing")
        .key(SigningKey::new(kid, key, Some(Algorithm::ES256)).expect("signing key"))
        .lifetime(Duration::from_secs(3600))
        .build()
        .expect("signer");
    let audience = Audience::new("svc").expect("audience");
    let token = signer.sign(&audience).expect("token");
    let verifier = Verifier::builder(keys)
        .audience(audience)
        .cache_verified_tokens(100)
        .build()
        .expect("verifier");
    let header = HeaderValue::from_str(&format!("Bearer {token}")).expect("header");
    (verifier, header)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (what, n) = match (args.next().as_deref(), args.next(), args.next()) {
        (Some("--profile"), Some(what), Some(n)) => (what, n.parse::<usize>().expect("N")),
        _ => {
            eprintln!("usage: layer_hit --profile layer|route N");
            std::process::exit(2);
        }
    };
    let (verifier, header) = verifier_and_header();
    let make = || {
        Request::get("/invoices")
            .header(AUTHORIZATION, header.clone())
            .body(())
            .expect("request")
    };
    match what.as_str() {
        "layer" => {
            let mut service = AsapLayer::new(verifier).layer(service_fn(route));
            // The first request verifies the signature and fills the cache.
            assert_eq!(request(&mut service, make()), StatusCode::OK);
            for _ in 0..n {
                let req = make();
                profiled(|| assert_eq!(request(&mut service, req), StatusCode::OK));
            }
        }
        "route" => {
            let mut service = service_fn(route);
            for _ in 0..n {
                let req = make();
                profiled(|| assert_eq!(request(&mut service, req), StatusCode::OK));
            }
        }
        other => panic!("--profile {other}?"),
    }
}
