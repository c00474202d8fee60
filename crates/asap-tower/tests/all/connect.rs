//! The Connect layer (feature `connect`): an axum app nested under the app's base path, called
//! over loopback with tokens made as the product makes them.

use std::sync::Arc;

use asap_testkit::http::spawn_http;
use asap_tower::{ConnectAuthenticated, ConnectLayer, SessionTokenHeaderLayer};
use aws_lc_rs::hmac;
use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use connect_qsh::{
    Authenticator, ConnectSigner, InMemorySharedSecretStore, QshBinding, SharedSecret, SharedSecretStore,
    StoreError, StoreFuture,
};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use serde_json::{Value, json};

use crate::support::LogRecorder;

const CLIENT_KEY: &str = "tenant-1";
const SECRET: &str = "tenant-1-shared-secret";
/// The app's base URL: its routes live under `/connect`.
const APP_BASE_URL: &str = "https://app.example.com/connect";

fn authenticator(secrets: impl SharedSecretStore + 'static) -> Authenticator {
    Authenticator::builder(secrets)
        .base_url(APP_BASE_URL)
        .build()
        .expect("valid authenticator")
}

fn secrets() -> InMemorySharedSecretStore {
    let secrets = InMemorySharedSecretStore::new();
    secrets.insert(CLIENT_KEY, SharedSecret::new(SECRET).expect("secret"));
    secrets
}

async fn whoami(ConnectAuthenticated(tenant): ConnectAuthenticated) -> String {
    let binding = match tenant.binding() {
        QshBinding::Request => "request",
        QshBinding::Session => "session",
        _ => "context",
    };
    format!("{} {binding}", tenant.client_key())
}

/// `/connect/panel` and `/connect/other` need request-bound tokens; `/connect/ajax` takes
/// context tokens too; `/connect/maybe` lets anonymous calls through. The routes are nested,
/// so the layer must use the original URI to compute the qsh.
fn app(authenticator: &Authenticator) -> Router {
    let pages = Router::new()
        .route("/panel", get(whoami).post(whoami))
        .route("/other", get(whoami))
        .route_layer(ConnectLayer::new(authenticator.clone()));
    let ajax = Router::new()
        .route("/ajax", get(whoami))
        .route_layer(ConnectLayer::new(authenticator.clone()).allow_context_qsh(true));
    let maybe = Router::new()
        .route(
            "/maybe",
            get(|tenant: Option<ConnectAuthenticated>| async move {
                tenant.map_or_else(|| "anonymous".to_owned(), |t| t.client_key().to_owned())
            }),
        )
        .route_layer(ConnectLayer::new(authenticator.clone()).allow_anonymous(true));
    Router::new().nest("/connect", pages.merge(ajax).merge(maybe))
}

struct Server {
    base: String,
    client: reqwest::Client,
}

impl Server {
    async fn start(router: Router) -> Server {
        Server {
            base: format!("http://{}", spawn_http(router).await),
            client: reqwest::Client::new(),
        }
    }

    async fn send(&self, method: reqwest::Method, target: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.request(method, format!("{}{target}", self.base));
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("JWT {token}"));
        }
        request.send().await.expect("request")
    }

    async fn get(&self, target: &str, token: Option<&str>) -> reqwest::Response {
        self.send(reqwest::Method::GET, target, token).await
    }
}

/// What the product sends: a token for `method` and `target` relative to the app's base URL.
fn product_token(method: &str, target: &str) -> String {
    ConnectSigner::new(CLIENT_KEY)
        .sign(
            &SharedSecret::new(SECRET).expect("secret"),
            method,
            target,
            "/connect",
        )
        .expect("signed")
}

/// A token with any claims, HS256-signed with `secret` (for `context-qsh`, which the signer
/// never makes).
fn hs256_token(claims: &Value, secret: &str) -> String {
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"));
    let input = format!("{}.{}", b64(&json!({"alg": "HS256", "typ": "JWT"})), b64(claims));
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
        input.as_bytes(),
    );
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fn context_token() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    hs256_token(
        &json!({"iss": CLIENT_KEY, "iat": now, "exp": now + 180, "qsh": "context-qsh", "sub": "user-1"}),
        SECRET,
    )
}

async fn refusal(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    serde_json::from_str(&response.text().await.expect("body")).expect("json body")
}

async fn assert_401(response: reqwest::Response) -> Value {
    let challenge = response.headers()[WWW_AUTHENTICATE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(challenge.starts_with("JWT"), "{challenge}");
    refusal(response, StatusCode::UNAUTHORIZED).await
}

#[tokio::test]
async fn product_token_reaches_the_handler_with_the_tenant_context() {
    let server = Server::start(app(&authenticator(secrets()))).await;
    let token = product_token("GET", "/connect/panel?issue=KEY-1&tab=a");
    let response = server.get("/connect/panel?issue=KEY-1&tab=a", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("body"), "tenant-1 request");

    // The same token in the `jwt` query parameter (how the product loads iframes).
    let response = server
        .get(&format!("/connect/panel?issue=KEY-1&jwt={token}&tab=a"), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    // Parameters in another order are the same request.
    let response = server.get("/connect/panel?tab=a&issue=KEY-1", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn tampering_with_method_path_or_query_is_401() {
    let server = Server::start(app(&authenticator(secrets()))).await;
    let token = product_token("GET", "/connect/panel?issue=KEY-1");
    for (method, target) in [
        (reqwest::Method::POST, "/connect/panel?issue=KEY-1"),
        (reqwest::Method::GET, "/connect/other?issue=KEY-1"),
        (reqwest::Method::GET, "/connect/panel?issue=KEY-2"),
        (reqwest::Method::GET, "/connect/panel?issue=KEY-1&admin=true"),
        (reqwest::Method::GET, "/connect/panel"),
    ] {
        let body = assert_401(server.send(method.clone(), target, Some(&token)).await).await;
        assert_eq!(body["error"], "invalid_token", "{method} {target}");
        assert!(
            body["error_description"].as_str().expect("text").contains("qsh"),
            "{body}"
        );
        assert!(!body.to_string().contains(&token), "never echoes the token");
    }
}

#[tokio::test]
async fn missing_forged_unknown_and_ambiguous_tokens_are_401() {
    let server = Server::start(app(&authenticator(secrets()))).await;

    let response = server.get("/connect/panel", None).await;
    assert_eq!(response.headers()[WWW_AUTHENTICATE], "JWT");
    assert_eq!(assert_401(response).await["error"], "missing_token");

    let forged = ConnectSigner::new(CLIENT_KEY)
        .sign(
            &SharedSecret::new("guess").expect("secret"),
            "GET",
            "/connect/panel",
            "/connect",
        )
        .expect("signed");
    assert_401(server.get("/connect/panel", Some(&forged)).await).await;

    let unknown = ConnectSigner::new("no-such-tenant")
        .sign(
            &SharedSecret::new(SECRET).expect("secret"),
            "GET",
            "/connect/panel",
            "/connect",
        )
        .expect("signed");
    let body = assert_401(server.get("/connect/panel", Some(&unknown)).await).await;
    assert!(
        body["error_description"]
            .as_str()
            .expect("text")
            .contains("unknown issuer"),
        "{body}"
    );

    let token = product_token("GET", "/connect/panel");
    let other = product_token("GET", "/connect/other");
    assert_401(
        server
            .get(&format!("/connect/panel?jwt={other}"), Some(&token))
            .await,
    )
    .await;

    for garbage in ["not-a-token", "a.b.c", "JWT"] {
        assert_401(server.get("/connect/panel", Some(garbage)).await).await;
    }

    // Hostile bytes are a 401, never a 500.
    let response = server
        .client
        .get(format!("{}/connect/panel", server.base))
        .header(
            AUTHORIZATION,
            reqwest::header::HeaderValue::from_bytes(b"JWT \xff\xfe.\x80").expect("opaque bytes"),
        )
        .send()
        .await
        .expect("request");
    assert_401(response).await;
    assert_401(server.get("/connect/panel?jwt=%FF%00", None).await).await;
}

#[tokio::test]
async fn context_qsh_is_403_unless_the_route_opts_in() {
    let server = Server::start(app(&authenticator(secrets()))).await;
    let token = context_token();

    let body = refusal(
        server.get("/connect/panel", Some(&token)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(body["error"], "access_denied");

    let response = server.get("/connect/ajax?page=2", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("body"), "tenant-1 context");

    // Request-bound tokens work on the opted-in route too.
    let bound = product_token("GET", "/connect/ajax?page=2");
    let response = server.get("/connect/ajax?page=2", Some(&bound)).await;
    assert_eq!(response.text().await.expect("body"), "tenant-1 request");
}

#[tokio::test]
async fn an_inner_layer_narrows_an_outer_one_that_allows_context_tokens() {
    let authenticator = authenticator(secrets());
    let app = Router::new()
        .route("/connect/open", get(whoami))
        .route(
            "/connect/strict",
            get(whoami).route_layer(ConnectLayer::new(authenticator.clone())),
        )
        .layer(ConnectLayer::new(authenticator).allow_context_qsh(true));
    let server = Server::start(app).await;
    let token = context_token();
    assert_eq!(
        server.get("/connect/open", Some(&token)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        server.get("/connect/strict", Some(&token)).await.status(),
        StatusCode::FORBIDDEN
    );
    let bound = product_token("GET", "/connect/strict");
    assert_eq!(
        server.get("/connect/strict", Some(&bound)).await.status(),
        StatusCode::OK
    );
}

/// A shared-secret store whose backend is down.
#[derive(Debug)]
struct DownStore;

impl SharedSecretStore for DownStore {
    fn shared_secret<'a>(&'a self, _client_key: &'a str) -> StoreFuture<'a, Option<SharedSecret>> {
        Box::pin(async { Err(StoreError::Unavailable("connection refused".into())) })
    }
}

#[tokio::test]
async fn store_outage_is_503_with_retry_after() {
    let server = Server::start(app(&authenticator(DownStore))).await;
    let token = product_token("GET", "/connect/panel");
    let response = server.get("/connect/panel", Some(&token)).await;
    assert_eq!(response.headers()["retry-after"], "5");
    let body = refusal(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["error"], "temporarily_unavailable");
}

#[tokio::test]
async fn anonymous_calls_pass_only_without_a_token() {
    let server = Server::start(app(&authenticator(secrets()))).await;
    let response = server.get("/connect/maybe", None).await;
    assert_eq!(response.text().await.expect("body"), "anonymous");
    let token = product_token("GET", "/connect/maybe");
    let response = server.get("/connect/maybe", Some(&token)).await;
    assert_eq!(response.text().await.expect("body"), "tenant-1");
    let tampered = product_token("GET", "/connect/maybe?x=1");
    assert_401(server.get("/connect/maybe", Some(&tampered)).await).await;
}

#[tokio::test]
async fn the_extractor_without_a_layer_is_401_and_rejections_can_be_replaced() {
    let authenticator = authenticator(secrets());
    let app = Router::new().route("/connect/bare", get(whoami)).route(
        "/connect/custom",
        get(whoami).route_layer(ConnectLayer::new(authenticator).on_rejection(|e| {
            let mut response = http::Response::new(format!("no: {}", e.outcome().status()));
            *response.status_mut() = http::StatusCode::IM_A_TEAPOT;
            response
        })),
    );
    let server = Server::start(app).await;
    assert_401(server.get("/connect/bare", None).await).await;
    let response = server.get("/connect/custom", None).await;
    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(response.text().await.expect("body"), "no: 401");
}

#[test]
fn debug_never_shows_the_shared_secret() {
    let store = Arc::new(secrets());
    let layer = ConnectLayer::new(authenticator(store));
    let shown = format!("{layer:?}");
    assert!(!shown.contains(SECRET), "{shown}");
}

const STORE_ERROR: &str = "redis://tenants.internal.example:6379: connection refused (os error 111)";

/// A shared-secret store whose backend is down, with an error naming its address.
#[derive(Debug)]
struct DownStoreAt;

impl SharedSecretStore for DownStoreAt {
    fn shared_secret<'a>(&'a self, _client_key: &'a str) -> StoreFuture<'a, Option<SharedSecret>> {
        Box::pin(async { Err(StoreError::Unavailable(STORE_ERROR.into())) })
    }
}

#[tokio::test]
async fn a_503_body_names_no_tenant_store_and_the_warn_log_does() {
    let app = Router::new()
        .route("/connect/panel", get(whoami))
        .layer(ConnectLayer::new(authenticator(DownStoreAt)));
    let recorder = LogRecorder::default();
    let _guard = recorder.install();
    let token = product_token("GET", "/connect/panel");
    let request = http::Request::get("/connect/panel")
        .header(AUTHORIZATION, format!("JWT {token}"))
        .body(axum::body::Body::empty())
        .expect("request");
    let response = tower::ServiceExt::oneshot(app, request)
        .await
        .expect("infallible");

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("temporarily_unavailable"), "{text}");
    assert!(!text.contains("tenants.internal"), "{text}");
    assert!(!text.contains("connection refused"), "{text}");

    let events = recorder.events();
    assert!(
        events
            .iter()
            .any(|(level, fields)| *level == tracing::Level::WARN && fields.contains(STORE_ERROR)),
        "{events:?}"
    );
}

/// Counts the secret lookups, to tell whether a layer authenticated.
#[derive(Debug, Default)]
struct CountingStore {
    secrets: InMemorySharedSecretStore,
    lookups: std::sync::atomic::AtomicUsize,
}

impl SharedSecretStore for CountingStore {
    fn shared_secret<'a>(&'a self, client_key: &'a str) -> StoreFuture<'a, Option<SharedSecret>> {
        self.lookups.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.secrets.shared_secret(client_key)
    }
}

#[tokio::test]
async fn a_narrowed_inner_layer_applies_its_qsh_rule_without_authenticating_again() {
    let store = Arc::new(CountingStore::default());
    store
        .secrets
        .insert(CLIENT_KEY, SharedSecret::new(SECRET).expect("secret"));
    let authenticator = Authenticator::builder_shared(store.clone())
        .base_url(APP_BASE_URL)
        .build()
        .expect("valid authenticator");
    let service = ConnectLayer::new(authenticator).allow_context_qsh(true);
    let app = Router::new()
        .route(
            "/connect/strict",
            get(whoami).route_layer(service.narrow().allow_context_qsh(false)),
        )
        .layer(service);
    let server = Server::start(app).await;

    let bound = product_token("GET", "/connect/strict");
    assert_eq!(
        server.get("/connect/strict", Some(&bound)).await.status(),
        StatusCode::OK
    );
    assert_eq!(store.lookups.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(
        server
            .get("/connect/strict", Some(&context_token()))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn an_inner_layer_with_its_own_authenticator_applies_its_tenant_store() {
    // The admin route trusts only the tenants of its own store (none here).
    let admins = authenticator(InMemorySharedSecretStore::new());
    let app = Router::new()
        .route("/connect/open", get(whoami))
        .route(
            "/connect/admin",
            get(whoami).route_layer(ConnectLayer::new(admins)),
        )
        .layer(ConnectLayer::new(authenticator(secrets())));
    let server = Server::start(app).await;
    let open = product_token("GET", "/connect/open");
    assert_eq!(
        server.get("/connect/open", Some(&open)).await.status(),
        StatusCode::OK
    );
    let admin = product_token("GET", "/connect/admin");
    let body = assert_401(server.get("/connect/admin", Some(&admin)).await).await;
    assert!(
        body["error_description"]
            .as_str()
            .expect("text")
            .contains("unknown issuer"),
        "{body}"
    );
}

#[tokio::test]
async fn the_handler_sees_the_product_token_marked_sensitive() {
    let app = Router::new()
        .route(
            "/connect/headers",
            get(|headers: http::HeaderMap| async move {
                let value = &headers[AUTHORIZATION];
                format!("{} {headers:?}", value.is_sensitive())
            }),
        )
        .layer(ConnectLayer::new(authenticator(secrets())));
    let server = Server::start(app).await;
    let token = product_token("GET", "/connect/headers");
    let response = server.get("/connect/headers", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("body");
    assert!(text.starts_with("true "), "{text}");
    assert!(!text.contains(&token), "{text}");
}

#[tokio::test]
async fn a_narrowed_inner_layer_refuses_anonymous_requests_the_service_lets_through() {
    let service = ConnectLayer::new(authenticator(secrets())).allow_anonymous(true);
    let app = Router::new()
        // The handler takes no tenant: the layer alone must refuse an anonymous request.
        .route(
            "/connect/strict",
            get(|| async { "strict" }).route_layer(service.narrow()),
        )
        .route(
            "/connect/maybe",
            get(|tenant: Option<ConnectAuthenticated>| async move {
                tenant.map_or_else(|| "anonymous".to_owned(), |t| t.client_key().to_owned())
            }),
        )
        .layer(service);
    let server = Server::start(app).await;
    let response = server.get("/connect/maybe", None).await;
    assert_eq!(response.text().await.expect("body"), "anonymous");
    let body = assert_401(server.get("/connect/strict", None).await).await;
    assert_eq!(body["error"], "missing_token");
    let bound = product_token("GET", "/connect/strict");
    assert_eq!(
        server.get("/connect/strict", Some(&bound)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn session_tokens_pass_only_where_allowed_and_keep_the_handlers_cache_policy() {
    let authenticator = Authenticator::builder(secrets())
        .base_url(APP_BASE_URL)
        .session_tokens("com.example.my-app")
        .build()
        .expect("valid");
    let service = ConnectLayer::new(authenticator).allow_session_tokens(true);
    let app = Router::new()
        .route(
            "/connect/page",
            get(|| async { ([("cache-control", "private, max-age=60")], "page") }),
        )
        .route(
            "/connect/public",
            get(|| async { ([("cache-control", "public, max-age=600")], "page") }),
        )
        .route("/connect/api", get(whoami))
        .route(
            "/connect/bound",
            get(whoami).route_layer(service.narrow().allow_session_tokens(false)),
        )
        .layer(SessionTokenHeaderLayer)
        .layer(service);
    let addr = spawn_http(app).await;
    let get = |path: &'static str, token: String| async move {
        reqwest::Client::new()
            .get(format!("http://{addr}{path}"))
            .header(AUTHORIZATION, format!("JWT {token}"))
            .send()
            .await
            .expect("answered")
    };
    let bound = |path: &str| {
        ConnectSigner::new(CLIENT_KEY)
            .sign(
                &SharedSecret::new(SECRET).expect("secret"),
                "GET",
                path,
                "/connect",
            )
            .expect("signed")
    };

    let page = get("/connect/page", bound("/connect/page")).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "private, max-age=60");
    let session = page.headers()["x-acpt"].to_str().expect("ASCII").to_owned();
    // A policy that lets a shared cache keep the page would let it hand this user's session
    // token to others: replaced by `no-store`.
    let public = get("/connect/public", bound("/connect/public")).await;
    assert!(public.headers().contains_key("x-acpt"));
    assert_eq!(public.headers()["cache-control"], "no-store");

    let api = get("/connect/api", session.clone()).await;
    assert_eq!(api.status(), StatusCode::OK);
    assert_eq!(api.text().await.expect("body"), "tenant-1 session");

    // The narrowed layer refuses the session the outer one admitted.
    let refused = get("/connect/bound", session).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(!refused.headers().contains_key(WWW_AUTHENTICATE));
    let ok = get("/connect/bound", bound("/connect/bound")).await;
    assert_eq!(ok.text().await.expect("body"), "tenant-1 request");
}
