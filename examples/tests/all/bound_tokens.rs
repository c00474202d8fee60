//! Request-bound ASAP tokens end to end: reqwest middleware (`BindToRequest`) → axum behind
//! `AsapLayer::require_bound_token`, over a real socket. A captured bound token is accepted on
//! the request it was made for, refused on another path, query or method (a reordered query
//! only where the canonical form is the same), and its `qsh` is what Python `atlassian-jwt`'s
//! `hash_url` computes.

use std::sync::{Arc, Mutex};

use asap_core::*;
use asap_reqwest::{AsapMiddleware, BindToRequest};
use asap_testkit::http::spawn_http;
use asap_tower::{AsapLayer, Authenticated};
use axum::Router;
use axum::extract::Request;
use axum::middleware::{Next, from_fn};
use axum::routing::any;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use serde_json::Value;

/// The server, a client that binds relative to `<origin>/api`, and the tokens the server saw.
struct Setup {
    origin: String,
    client: ClientWithMiddleware,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn setup() -> Setup {
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
    let kid = KeyId::parse("billing/k1").expect("kid");
    let keys = StaticKeySource::new().with_key(kid.clone(), key.public_key().expect("public"));
    let signer = Signer::builder("billing")
        .key(SigningKey::new(kid, key, None).expect("signing key"))
        .build()
        .expect("signer");
    let verifier = Verifier::builder(keys)
        .audience(Audience::new("ledger").expect("aud"))
        .build()
        .expect("verifier");
    let service = AsapLayer::new(verifier);
    let bound = service.narrow().require_bound_token("/api").expect("base URL");
    let whoami = |Authenticated(caller): Authenticated| async move { caller.issuer().to_owned() };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = {
        let seen = seen.clone();
        move |request: Request, next: Next| {
            let seen = seen.clone();
            async move {
                if let Some(token) = request
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                {
                    seen.lock().expect("not poisoned").push(token.to_owned());
                }
                next.run(request).await
            }
        }
    };
    let app = Router::new()
        .route("/api/pay", any(whoami).layer(bound.clone()))
        .route("/api/balance", any(whoami).layer(bound))
        .route("/api/open", any(whoami))
        .layer(service)
        .layer(from_fn(record));
    let origin = format!("http://{}", spawn_http(app).await);
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(
            AsapMiddleware::new(&signer, Audience::new("ledger").expect("aud"))
                .bind_relative_to(format!("{origin}/api")),
        )
        .build();
    Setup { origin, client, seen }
}

impl Setup {
    /// Sends `method` `path` through the middleware, bound, and returns its status and token.
    async fn bound(&self, method: &str, path: &str) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = self
            .client
            .request(method, format!("{}{path}", self.origin))
            .with_extension(BindToRequest)
            .send()
            .await
            .expect("send");
        let token = self
            .seen
            .lock()
            .expect("not poisoned")
            .last()
            .cloned()
            .expect("a token was sent");
        (response.status().as_u16(), token)
    }

    /// Replays `token` on `method` `path` without the middleware: status and error code.
    async fn replay(&self, token: &str, method: &str, path: &str) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = reqwest::Client::new()
            .request(method, format!("{}{path}", self.origin))
            .bearer_auth(token)
            .send()
            .await
            .expect("send");
        let status = response.status().as_u16();
        let body: Value = serde_json::from_str(&response.text().await.expect("body")).unwrap_or(Value::Null);
        (status, body["error"].as_str().unwrap_or_default().to_owned())
    }
}

fn qsh_of(token: &str) -> String {
    let jws = Jws::parse(token, DEFAULT_MAX_TOKEN_BYTES).expect("a compact JWS");
    let claims: Value = serde_json::from_slice(&jws.payload().expect("payload")).expect("JSON");
    claims["qsh"].as_str().expect("a qsh claim").to_owned()
}

#[tokio::test]
async fn a_bound_token_is_accepted_on_its_request_and_refused_on_any_other() {
    let s = setup().await;
    let (status, token) = s.bound("POST", "/api/pay?amount=3&to=acme").await;
    assert_eq!(status, 200);
    assert_eq!(
        s.replay(&token, "POST", "/api/pay?amount=3&to=acme").await,
        (200, String::new())
    );
    let mismatch = (401, "invalid_token".to_owned());
    for (method, path) in [
        ("POST", "/api/balance?amount=3&to=acme"),
        ("POST", "/api/pay?amount=3&to=acme&x"),
        ("POST", "/api/pay?amount=30&to=acme"),
        ("POST", "/api/pay?amount=3&to=acme&to=mallory"),
        ("POST", "/api/pay?amount=3"),
        ("PUT", "/api/pay?amount=3&to=acme"),
        ("GET", "/api/pay?amount=3&to=acme"),
    ] {
        assert_eq!(s.replay(&token, method, path).await, mismatch, "{method} {path}");
    }
}

#[tokio::test]
async fn a_reordered_query_is_accepted_only_when_the_canonical_form_is_the_same() {
    let s = setup().await;
    let (status, token) = s.bound("GET", "/api/balance?to=b&to=a&currency=EUR").await;
    assert_eq!(status, 200);
    // Keys are sorted, and so are the values of a repeated key.
    for same in [
        "/api/balance?currency=EUR&to=a&to=b",
        "/api/balance?to=a&currency=EUR&to=b",
    ] {
        assert_eq!(s.replay(&token, "GET", same).await.0, 200, "{same}");
    }
    // One value `a,b` is not the two values `a` and `b`; case is significant.
    for other in [
        "/api/balance?currency=EUR&to=a%2Cb",
        "/api/balance?to=b&to=a&currency=eur",
    ] {
        assert_eq!(s.replay(&token, "GET", other).await.0, 401, "{other}");
    }
}

#[tokio::test]
async fn unbound_tokens_are_refused_where_binding_is_required_and_bound_ones_work_elsewhere() {
    let s = setup().await;
    let unbound = s
        .client
        .post(format!("{}/api/pay", s.origin))
        .send()
        .await
        .expect("send");
    assert_eq!(unbound.status(), 401);
    let body: Value = serde_json::from_str(&unbound.text().await.expect("body")).expect("JSON");
    assert_eq!(body["error"], "unbound_token");
    let (status, token) = s.bound("POST", "/api/pay").await;
    assert_eq!(status, 200);
    assert_eq!(
        s.replay(&token, "GET", "/api/open").await.0,
        200,
        "a route without binding"
    );
}

#[tokio::test]
async fn the_qsh_of_bound_tokens_is_what_python_atlassian_jwt_hashes() {
    let Some(py) = asap_testkit::python::require(&["atlassian_jwt"]) else {
        return;
    };
    let s = setup().await;
    // Requests inside what Python and the host agree on (no `;`, `:` or extra slashes in paths;
    // crates/connect-qsh/tests/all/python.rs lists the differences).
    let requests = [
        ("POST", "/api/pay?amount=3&to=acme"),
        ("GET", "/api/balance?to=b&to=a&currency=EUR"),
        ("GET", "/api/balance?q=caf%C3%A9+au+lait&star=*&tilde=~&empty="),
        ("DELETE", "/api/pay"),
        ("PUT", "/api/pay?a%26b=c%3Dd&jwt=ignored"),
    ];
    let mut cases = Vec::new();
    for (method, path) in requests {
        let (status, token) = s.bound(method, path).await;
        assert_eq!(status, 200, "{method} {path}");
        let relative = path.strip_prefix("/api").expect("under the base URL");
        cases.push(serde_json::json!([method, relative, qsh_of(&token)]));
    }
    let script = r#"
import json, sys
from atlassian_jwt.url_utils import hash_url
print(json.dumps([[m, u, q, hash_url(m, u)] for m, u, q in json.loads(sys.stdin.read())]))
"#;
    let out: Vec<(String, String, String, String)> =
        serde_json::from_str(&py.run(script, &[], &Value::from(cases).to_string())).expect("JSON");
    for (method, url, ours, python) in out {
        assert_eq!(ours, python, "{method} {url}");
    }
}
