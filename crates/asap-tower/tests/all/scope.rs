//! Scopes per route, over loopback: the route layer, `AsapLayer::require_scopes`, the `Scoped`
//! extractor and `Authenticated::require_scopes` all answer 403 `insufficient_scope` when a
//! scope is missing.

use asap_core::*;
use asap_testkit::http::spawn_http;
use asap_tower::{AsapLayer, Authenticated, RequireScopesLayer, RequiredScopes, ScopeRejection, Scoped};
use axum::Router;
use axum::routing::get;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};

use crate::support::*;

struct RefundsWrite;
impl RequiredScopes for RefundsWrite {
    const SCOPES: &'static [&'static str] = &["refunds:write"];
}

fn app(verifier: Verifier) -> Router {
    Router::new()
        .route(
            "/invoices",
            get(|| async { "invoices" }).route_layer(RequireScopesLayer::new(["invoices:read"])),
        )
        .route(
            "/invoices/export",
            get(|| async { "export" })
                .route_layer(RequireScopesLayer::new(["invoices:read", "invoices:export"])),
        )
        .route(
            "/refunds",
            get(|caller: Scoped<RefundsWrite>| async move { format!("refunds for {}", caller.issuer()) }),
        )
        .route(
            "/audit",
            get(|caller: Authenticated| async move {
                caller.require_scopes(&["audit:read"])?;
                Ok::<_, ScopeRejection>("audit")
            }),
        )
        .route("/public", get(|| async { "public" }))
        .layer(AsapLayer::new(verifier).allow_anonymous(true))
}

async fn get_status(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
) -> (StatusCode, Option<String>) {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = request.send().await.expect("send");
    let challenge = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().expect("ascii").to_owned());
    (response.status(), challenge)
}

#[tokio::test]
async fn routes_require_their_scopes() {
    let caller = Caller::new("billing");
    let addr = spawn_http(app(verifier(keys(&[&caller])).build().expect("verifier"))).await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{addr}{path}");
    let audience = || TokenRequest::new(Audience::new(AUDIENCE).expect("aud"));

    let reader = caller.token_for(&audience().claim("scope", "invoices:read"));
    let exporter = caller
        .token_for(&audience().claim("scopes", serde_json::json!(["invoices:read", "invoices:export"])));
    let refunder = caller.token_for(&audience().claim("scope", "refunds:write audit:read"));

    assert_eq!(
        get_status(&client, url("/invoices"), Some(&reader)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get_status(&client, url("/invoices/export"), Some(&exporter))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        get_status(&client, url("/refunds"), Some(&refunder)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get_status(&client, url("/audit"), Some(&refunder)).await.0,
        StatusCode::OK
    );
    assert_eq!(get_status(&client, url("/public"), None).await.0, StatusCode::OK);

    for (path, token, scope) in [
        ("/invoices", &refunder, "invoices:read"),
        ("/invoices/export", &reader, "invoices:read invoices:export"),
        ("/refunds", &reader, "refunds:write"),
        ("/audit", &exporter, "audit:read"),
    ] {
        let (status, challenge) = get_status(&client, url(path), Some(token)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            challenge.as_deref(),
            Some(format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\"").as_str()),
            "{path}"
        );
    }
    let body = client
        .get(url("/invoices/export"))
        .header(AUTHORIZATION, format!("Bearer {reader}"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("body");
    let body: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["error"], "insufficient_scope");
    assert_eq!(
        body["error_description"],
        "token lacks the scope(s) invoices:export"
    );

    // An anonymous request on a scoped route is a 401, not a 403.
    for path in ["/invoices", "/refunds", "/audit"] {
        let (status, challenge) = get_status(&client, url(path), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(challenge.as_deref(), Some("Bearer"), "{path}");
    }
}

#[tokio::test]
async fn asap_layer_require_scopes_verifies_then_checks() {
    let caller = Caller::new("billing");
    let verifier = verifier(keys(&[&caller])).build().expect("verifier");
    let router = Router::new().route(
        "/write",
        get(|| async { "written" }).route_layer(AsapLayer::new(verifier).require_scopes(["invoices:write"])),
    );
    let addr = spawn_http(router).await;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/write");
    let audience = || TokenRequest::new(Audience::new(AUDIENCE).expect("aud"));
    let writer = caller.token_for(&audience().claim("scope", "invoices:write"));
    let reader = caller.token_for(&audience().claim("scope", "invoices:read"));
    assert_eq!(
        get_status(&client, url.clone(), Some(&writer)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get_status(&client, url.clone(), Some(&reader)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get_status(&client, url.clone(), Some("not.a.token")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(get_status(&client, url, None).await.0, StatusCode::UNAUTHORIZED);
}

/// `asap_tokens_refused_total` for `insufficient_scope`, recorded by a local recorder while
/// `requests` go through `app` on a current-thread runtime.
fn insufficient_scope_refusals(requests: impl FnOnce() -> Vec<http::Request<axum::body::Body>>) -> u64 {
    use tower::ServiceExt as _;

    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    ::metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async {
                let caller = Caller::new("billing");
                let router = app(verifier(keys(&[&caller])).build().expect("verifier"));
                let reader = caller.token_for(
                    &TokenRequest::new(Audience::new(AUDIENCE).expect("aud")).claim("scope", "invoices:read"),
                );
                for mut request in requests() {
                    request.headers_mut().insert(
                        http::header::AUTHORIZATION,
                        http::HeaderValue::from_str(&format!("Bearer {reader}")).expect("value"),
                    );
                    let response = router.clone().oneshot(request).await.expect("infallible");
                    assert_eq!(response.status(), StatusCode::FORBIDDEN);
                }
            });
    });
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| {
            let labels: Vec<(&str, &str)> = key.key().labels().map(|l| (l.key(), l.value())).collect();
            key.key().name() == "asap_tokens_refused_total"
                && labels.contains(&("rule", "insufficient_scope"))
                && labels.contains(&("outcome", "forbidden"))
        })
        .map(|(.., value)| match value {
            metrics_util::debugging::DebugValue::Counter(n) => n,
            other => panic!("not a counter: {other:?}"),
        })
        .sum()
}

#[test]
fn insufficient_scope_refusals_are_counted_like_the_layers_other_refusals() {
    let get = |path: &str| {
        http::Request::get(path)
            .body(axum::body::Body::empty())
            .expect("request")
    };
    // The route layer, twice; the `Scoped` extractor; `Authenticated::require_scopes`.
    let counted = insufficient_scope_refusals(|| {
        vec![
            get("/invoices/export"),
            get("/invoices/export"),
            get("/refunds"),
            get("/audit"),
        ]
    });
    assert_eq!(counted, 4);
}
