//! An axum service behind the layer, called with reqwest over loopback.

use std::sync::Arc;

use asap_core::*;
use asap_testkit::http::spawn_http;
use asap_tower::{AsapLayer, Authenticated};
use axum::Router;
use axum::routing::get;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};

use crate::support::*;

fn app(layer: AsapLayer, narrow: AsapLayer) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(|Authenticated(caller): Authenticated| async move {
                format!("{} as {}", caller.issuer(), caller.subject())
            }),
        )
        .route(
            "/maybe",
            get(|caller: Option<Authenticated>| async move {
                caller.map_or_else(|| "anonymous".to_owned(), |c| c.issuer().to_owned())
            }),
        )
        .route("/admin", get(|| async { "admin" }).route_layer(narrow))
        .layer(layer)
}

struct Server {
    base: String,
    client: reqwest::Client,
}

impl Server {
    async fn start(router: Router) -> Server {
        let addr = spawn_http(router).await;
        Server {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str, authorization: &[&str]) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.base));
        for value in authorization {
            request = request.header(AUTHORIZATION, *value);
        }
        request.send().await.expect("request")
    }
}

async fn json(response: reqwest::Response) -> serde_json::Value {
    assert_eq!(response.headers()["content-type"], "application/json");
    serde_json::from_str(&response.text().await.expect("body")).expect("json body")
}

#[tokio::test]
async fn valid_token_reaches_the_handler_with_the_caller() {
    let billing = Caller::new("billing");
    let layer = AsapLayer::new(verifier(keys(&[&billing])).build().expect("v"));
    let server = Server::start(app(layer.clone(), layer)).await;
    let response = server
        .get("/whoami", &[&format!("Bearer {}", billing.token())])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("body"), "billing as billing");
}

#[tokio::test]
async fn missing_token_is_401_with_bare_bearer_challenge() {
    let billing = Caller::new("billing");
    let layer = AsapLayer::new(verifier(keys(&[&billing])).build().expect("v"));
    let server = Server::start(app(layer.clone(), layer)).await;
    let response = server.get("/whoami", &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[WWW_AUTHENTICATE], "Bearer");
    assert_eq!(json(response).await["error"], "missing_token");
}

#[tokio::test]
async fn bad_tokens_and_headers_are_401_with_invalid_token() {
    let billing = Caller::new("billing");
    let stranger = Caller::new("billing");
    let layer = AsapLayer::new(verifier(keys(&[&billing])).build().expect("v"));
    let server = Server::start(app(layer.clone(), layer)).await;
    let good = billing.token();
    let cases: Vec<(String, Vec<String>)> = vec![
        ("forged".into(), vec![format!("Bearer {}", stranger.token())]),
        ("garbage".into(), vec!["Bearer not-a-token".into()]),
        ("dots".into(), vec![format!("Bearer {}", ".".repeat(4000))]),
        ("huge".into(), vec![format!("Bearer {}", "a".repeat(9000))]),
        ("double space".into(), vec![format!("Bearer  {good}")]),
        ("wrong scheme".into(), vec![format!("Basic {good}")]),
        ("jwt scheme".into(), vec![format!("JWT {good}")]),
        ("empty".into(), vec!["Bearer ".into()]),
        ("no scheme".into(), vec![good.clone()]),
        (
            "two headers".into(),
            vec![format!("Bearer {good}"), format!("Bearer {good}")],
        ),
        (
            "wrong audience".into(),
            vec![format!(
                "Bearer {}",
                billing.token_for(&TokenRequest::new(Audience::new("other").expect("aud")))
            )],
        ),
    ];
    for (name, headers) in cases {
        let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        let response = server.get("/whoami", &refs).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\"",
            "{name}"
        );
        let body = json(response).await;
        assert_eq!(body["error"], "invalid_token", "{name}");
        assert!(
            !body.to_string().contains(&good),
            "{name}: the token is never echoed"
        );
    }
    // The scheme is case-insensitive.
    let response = server.get("/whoami", &[&format!("bEARER {good}")]).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn expired_token_is_401() {
    let billing = Caller::new("billing");
    let clock = Arc::new(ManualClock::new(SystemClock.now() + 3600));
    let layer = AsapLayer::new(verifier(keys(&[&billing])).clock(clock).build().expect("v"));
    let server = Server::start(app(layer.clone(), layer)).await;
    let response = server
        .get("/whoami", &[&format!("Bearer {}", billing.token())])
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body = json(response).await;
    assert!(
        body["error_description"]
            .as_str()
            .expect("text")
            .contains("expired"),
        "{body}"
    );
}

#[tokio::test]
async fn issuer_refused_by_the_layer_policy_is_403() {
    let billing = Caller::new("billing");
    let payroll = Caller::new("payroll");
    let layer = AsapLayer::new(verifier(keys(&[&billing, &payroll])).build().expect("v"))
        .allowed_issuers(["billing"]);
    let server = Server::start(app(layer.clone(), layer)).await;
    let response = server
        .get("/whoami", &[&format!("Bearer {}", payroll.token())])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
    assert_eq!(json(response).await["error"], "access_denied");
    let response = server
        .get("/whoami", &[&format!("Bearer {}", billing.token())])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_route_layer_can_be_narrower_than_the_service() {
    let billing = Caller::new("billing");
    let ops = Caller::new("ops");
    let service = AsapLayer::new(verifier(keys(&[&billing, &ops])).build().expect("v"));
    // Narrowed from the service's layer: the same verifier, a narrower policy.
    let narrow = service.narrow().allowed_issuers(["ops"]);
    let server = Server::start(app(service, narrow)).await;
    let billing_auth = format!("Bearer {}", billing.token());
    let ops_auth = format!("Bearer {}", ops.token());
    assert_eq!(
        server.get("/whoami", &[&billing_auth]).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        server.get("/admin", &[&billing_auth]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(server.get("/admin", &[&ops_auth]).await.status(), StatusCode::OK);
    assert_eq!(server.get("/admin", &[]).await.status(), StatusCode::UNAUTHORIZED);
}

/// A narrowed layer is never wider than the layer it was narrowed from, even on a route that
/// layer does not wrap (added after the outer `.layer`, so only the narrowed one runs): an
/// issuer it names that the outer policy does not allow is refused.
#[tokio::test]
async fn a_narrowed_layer_reached_alone_is_never_wider_than_its_outer_policy() {
    let billing = Caller::new("billing");
    let ops = Caller::new("ops");
    let intern = Caller::new("intern");
    let service = AsapLayer::new(verifier(keys(&[&billing, &ops, &intern])).build().expect("v"))
        .allowed_issuers(["billing", "ops"]);
    let narrow = service.narrow().allowed_issuers(["ops", "intern"]);
    let router = Router::new()
        .route("/whoami", get(|| async { "me" }))
        .layer(service)
        .route("/admin", get(|| async { "admin" }).route_layer(narrow));
    let server = Server::start(router).await;
    let auth = |c: &Caller| format!("Bearer {}", c.token());
    assert_eq!(
        server.get("/admin", &[&auth(&intern)]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        server.get("/admin", &[&auth(&billing)]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        server.get("/admin", &[&auth(&ops)]).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        server.get("/whoami", &[&auth(&intern)]).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_narrowed_route_layer_checks_its_policy_without_verifying_again() {
    let ops = Caller::new("ops");
    // With a replay guard, a second verification of the same token would be a replay (401).
    let guard = Arc::new(InMemoryReplayGuard::new(100));
    let service = AsapLayer::new(verifier(keys(&[&ops])).replay_guard(guard).build().expect("v"));
    let narrow = service.narrow().allowed_issuers(["ops"]);
    let server = Server::start(app(service, narrow)).await;
    let response = server.get("/admin", &[&format!("Bearer {}", ops.token())]).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// A clone of the service's layer inside it (not made with `narrow`) shares the verifier too:
/// it takes the outer layer's mark and does not verify the token a second time, which the
/// replay guard would refuse as a replay.
#[tokio::test]
async fn a_cloned_route_layer_under_a_replay_guard_does_not_verify_again() {
    let ops = Caller::new("ops");
    let guard = Arc::new(InMemoryReplayGuard::new(100));
    let service = AsapLayer::new(verifier(keys(&[&ops])).replay_guard(guard).build().expect("v"));
    let inner = service.clone().allowed_issuers(["ops"]);
    let server = Server::start(app(service, inner)).await;
    let response = server.get("/admin", &[&format!("Bearer {}", ops.token())]).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_narrowed_route_layer_refuses_anonymous_requests_the_service_lets_through() {
    let ops = Caller::new("ops");
    let service = AsapLayer::new(verifier(keys(&[&ops])).build().expect("v")).allow_anonymous(true);
    let narrow = service.narrow().allowed_issuers(["ops"]);
    let server = Server::start(app(service, narrow)).await;
    let response = server.get("/maybe", &[]).await;
    assert_eq!(response.text().await.expect("body"), "anonymous");
    let response = server.get("/admin", &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[WWW_AUTHENTICATE], "Bearer");
    let response = server.get("/admin", &[&format!("Bearer {}", ops.token())]).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_inner_layer_with_its_own_verifier_applies_its_audience() {
    let billing = Caller::new("billing");
    // The service accepts `ledger` and `ledger-admin`; the admin route only `ledger-admin`.
    let service = AsapLayer::new(
        verifier(keys(&[&billing]))
            .audience(Audience::new("ledger-admin").expect("aud"))
            .build()
            .expect("v"),
    );
    let admin_only = Verifier::builder(keys(&[&billing]))
        .audience(Audience::new("ledger-admin").expect("aud"))
        .build()
        .expect("v");
    let server = Server::start(app(service, AsapLayer::new(admin_only))).await;
    let for_ledger = format!("Bearer {}", billing.token());
    let for_admin = format!(
        "Bearer {}",
        billing.token_for(&TokenRequest::new(Audience::new("ledger-admin").expect("aud")))
    );
    assert_eq!(
        server.get("/whoami", &[&for_ledger]).await.status(),
        StatusCode::OK
    );
    let refused = server.get("/admin", &[&for_ledger]).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let body = json(refused).await;
    assert!(
        body["error_description"]
            .as_str()
            .expect("text")
            .contains("audience"),
        "{body}"
    );
    assert_eq!(server.get("/admin", &[&for_admin]).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_inner_layer_with_its_own_verifier_applies_its_issuer_allow_list() {
    let billing = Caller::new("billing");
    let ops = Caller::new("ops");
    let service = AsapLayer::new(verifier(keys(&[&billing, &ops])).build().expect("v"));
    let ops_only = verifier(keys(&[&billing, &ops]))
        .allowed_issuers(["ops"])
        .build()
        .expect("v");
    let server = Server::start(app(service, AsapLayer::new(ops_only))).await;
    let billing_auth = format!("Bearer {}", billing.token());
    assert_eq!(
        server.get("/whoami", &[&billing_auth]).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        server.get("/admin", &[&billing_auth]).await.status(),
        StatusCode::FORBIDDEN
    );
    let ops_auth = format!("Bearer {}", ops.token());
    assert_eq!(server.get("/admin", &[&ops_auth]).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_inner_layer_with_its_own_verifier_applies_its_keys() {
    let billing = Caller::new("billing");
    let service = AsapLayer::new(verifier(keys(&[&billing])).build().expect("v"));
    // The inner verifier trusts no key: a token the outer one accepted is unknown to it.
    let no_keys = AsapLayer::new(verifier(StaticKeySource::new()).build().expect("v"));
    let server = Server::start(app(service, no_keys)).await;
    let auth = format!("Bearer {}", billing.token());
    assert_eq!(server.get("/whoami", &[&auth]).await.status(), StatusCode::OK);
    assert_eq!(
        server.get("/admin", &[&auth]).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn subject_policy_is_403() {
    let billing = Caller::new("billing");
    let v = verifier(keys(&[&billing]))
        .allow_subject_other_than_issuer(true)
        .build()
        .expect("v");
    let layer = AsapLayer::new(v).allowed_subjects(["user-1"]);
    let server = Server::start(app(layer.clone(), layer)).await;
    let as_user = |sub: &str| {
        format!(
            "Bearer {}",
            billing.token_for(&TokenRequest::new(Audience::new(AUDIENCE).expect("a")).subject(sub))
        )
    };
    let response = server.get("/whoami", &[&as_user("user-1")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("body"), "billing as user-1");
    assert_eq!(
        server.get("/whoami", &[&as_user("user-2")]).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[derive(Debug)]
struct DownSource;

impl PublicKeySource for DownSource {
    fn public_key<'a>(&'a self, _kid: &'a KeyId) -> KeyFuture<'a> {
        Box::pin(async { Err(KeySourceError::Unavailable("repository unreachable".into())) })
    }
}

#[tokio::test]
async fn unreachable_key_repository_is_503() {
    let billing = Caller::new("billing");
    let layer = AsapLayer::new(verifier(DownSource).build().expect("v"));
    let server = Server::start(app(layer.clone(), layer)).await;
    let response = server
        .get("/whoami", &[&format!("Bearer {}", billing.token())])
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(json(response).await["error"], "temporarily_unavailable");
}

#[tokio::test]
async fn anonymous_calls_pass_only_without_a_token() {
    let billing = Caller::new("billing");
    let layer = AsapLayer::new(verifier(keys(&[&billing])).build().expect("v")).allow_anonymous(true);
    let server = Server::start(app(layer.clone(), layer)).await;
    let response = server.get("/maybe", &[]).await;
    assert_eq!(response.text().await.expect("body"), "anonymous");
    let response = server
        .get("/maybe", &[&format!("Bearer {}", billing.token())])
        .await;
    assert_eq!(response.text().await.expect("body"), "billing");
    // A bad token is not anonymous.
    assert_eq!(
        server.get("/maybe", &["Bearer x.y.z"]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The required extractor still refuses an anonymous request.
    assert_eq!(
        server.get("/whoami", &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_rejection_response_can_be_replaced() {
    let billing = Caller::new("billing");
    let layer = AsapLayer::new(verifier(keys(&[&billing])).build().expect("v")).on_rejection(|error| {
        let mut response = http::Response::new(format!("nope: {}", error.outcome().status()));
        *response.status_mut() = http::StatusCode::from_u16(error.outcome().status()).expect("status");
        response
    });
    let server = Server::start(app(layer.clone(), layer)).await;
    let response = server.get("/whoami", &["Bearer x.y.z"]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.text().await.expect("body"), "nope: 401");
}

#[tokio::test]
async fn hostile_header_bytes_are_401_not_500() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let billing = Caller::new("billing");
    let layer = AsapLayer::new(verifier(keys(&[&billing])).build().expect("v"));
    let addr = spawn_http(app(layer.clone(), layer)).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe.a.b\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
}
