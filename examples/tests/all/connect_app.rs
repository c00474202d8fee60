//! A Connect app as atlassian-connect-express apps are built, end to end over 127.0.0.1: the
//! product (simulated with this workspace's signers) installs it, enables and disables it with
//! signed lifecycle callbacks, loads its page with an RS256 request token, and the page calls
//! the app back with the session token the app handed it.

use std::sync::Arc;

use asap_core::{KeyId, KeySpec, PrivateKey, PublicKeySource, StaticKeySource};
use asap_testkit::http::spawn_http;
use asap_tower::{ConnectAuthenticated, ConnectLayer, SessionTokenHeaderLayer, connect_response};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use connect_qsh::{
    AuthError, Authenticator, ConnectSigner, InMemoryTenantStore, Lifecycle, SESSION_TOKEN_HEADER,
    SharedSecret, TenantSecrets,
};
use serde_json::json;

const APP_BASE_URL: &str = "https://my-app.example.com";
const APP_KEY: &str = "com.example.my-app";
const CLIENT_KEY: &str = "jira:acme-tenant";
const SECRET: &str = "acme-shared-secret-from-installed";
const KID: &str = "product-install-key-1";

/// The app: lifecycle routes verified by `Lifecycle`, a page bound to the product's request
/// token that hands out session tokens, and an AJAX route that takes them.
async fn app(install_keys: Arc<dyn PublicKeySource>) -> String {
    let tenants = Arc::new(InMemoryTenantStore::new());
    let lifecycle = Lifecycle::builder(APP_BASE_URL, install_keys.clone(), tenants.clone())
        .app_key(APP_KEY)
        .build()
        .expect("valid lifecycle");
    let authenticator = Authenticator::builder(TenantSecrets::new(tenants))
        .base_url(APP_BASE_URL)
        .public_keys(install_keys)
        .session_tokens(APP_KEY)
        .build()
        .expect("valid authenticator");
    let connect = ConnectLayer::new(authenticator);

    async fn event(
        State(lifecycle): State<Lifecycle>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let result: Result<(), AuthError> = match uri.path() {
            "/installed" => lifecycle
                .installed(&method, &uri, &headers, &body)
                .await
                .map(drop),
            "/enabled" => lifecycle.enabled(&method, &uri, &headers, &body).await.map(drop),
            "/disabled" => lifecycle.disabled(&method, &uri, &headers, &body).await.map(drop),
            _ => lifecycle
                .uninstalled(&method, &uri, &headers, &body)
                .await
                .map(drop),
        };
        match result {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => connect_response(&e).into_response(),
        }
    }
    let lifecycle_routes = Router::new()
        .route("/installed", post(event))
        .route("/enabled", post(event))
        .route("/disabled", post(event))
        .route("/uninstalled", post(event))
        .with_state(lifecycle);
    let page = Router::new()
        .route(
            "/panel",
            get(|ConnectAuthenticated(t): ConnectAuthenticated| async move {
                format!("panel of {} for {}", t.client_key(), t.subject().unwrap_or("-"))
            }),
        )
        .route_layer(SessionTokenHeaderLayer)
        .route_layer(connect.clone());
    let ajax = Router::new()
        .route(
            "/api/issues",
            post(|ConnectAuthenticated(t): ConnectAuthenticated| async move {
                format!("issues of {} for {}", t.client_key(), t.subject().unwrap_or("-"))
            }),
        )
        .route_layer(SessionTokenHeaderLayer)
        .route_layer(connect.allow_session_tokens(true));
    let addr = spawn_http(lifecycle_routes.merge(page).merge(ajax)).await;
    format!("http://{addr}")
}

struct Product {
    key: PrivateKey,
    kid: KeyId,
}

impl Product {
    fn new() -> (Product, Arc<dyn PublicKeySource>) {
        let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("RSA key");
        let kid = KeyId::parse(KID).expect("kid");
        let keys = StaticKeySource::new().with_key(kid.clone(), key.public_key().expect("public"));
        (Product { key, kid }, Arc::new(keys))
    }

    /// A token signed the way the product signs lifecycle callbacks: RS256, `kid`, `aud` = the
    /// app's base URL.
    fn rs256(&self, client_key: &str, method: &str, path: &str) -> String {
        ConnectSigner::new(client_key)
            .audience(APP_BASE_URL)
            .subject("557058:alice")
            .sign_rs256(&self.key, &self.kid, method, path, "")
            .expect("signed")
    }
}

fn body(event: &str, client_key: &str) -> String {
    json!({
        "key": APP_KEY,
        "clientKey": client_key,
        "sharedSecret": SECRET,
        "baseUrl": "https://acme.atlassian.net",
        "productType": "jira",
        "eventType": event,
    })
    .to_string()
}

async fn send(method: Method, url: String, token: Option<&str>, body: Option<String>) -> reqwest::Response {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(token) = token {
        request = request.header("authorization", format!("JWT {token}"));
    }
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body);
    }
    request.send().await.expect("answered")
}

#[tokio::test]
async fn lifecycle_events_are_signed_single_use_and_need_an_installed_tenant() {
    let (product, keys) = Product::new();
    let app = app(keys).await;
    let post_event = |event: &'static str, client_key: &'static str, token: Option<String>| {
        let url = format!("{app}/{event}");
        async move { send(Method::POST, url, token.as_deref(), Some(body(event, client_key))).await }
    };

    // Enabled before installed: the install key is genuine but the tenant is unknown.
    let early = product.rs256(CLIENT_KEY, "POST", "/enabled");
    assert_eq!(post_event("enabled", CLIENT_KEY, Some(early)).await.status(), 401);

    let installed = product.rs256(CLIENT_KEY, "POST", "/installed");
    assert_eq!(
        post_event("installed", CLIENT_KEY, Some(installed.clone()))
            .await
            .status(),
        204
    );
    assert_eq!(
        post_event("installed", CLIENT_KEY, Some(installed))
            .await
            .status(),
        401,
        "replay"
    );

    let enabled = product.rs256(CLIENT_KEY, "POST", "/enabled");
    assert_eq!(
        post_event("enabled", CLIENT_KEY, Some(enabled.clone()))
            .await
            .status(),
        204
    );
    let replay = post_event("enabled", CLIENT_KEY, Some(enabled)).await;
    assert_eq!(replay.status(), 401);
    assert_eq!(
        replay.headers()["www-authenticate"],
        "JWT error=\"invalid_token\""
    );

    // Disabled signed with the tenant's shared secret, as products that do not sign it with the
    // install key send it; the tenant stays installed.
    let disabled = ConnectSigner::new(CLIENT_KEY)
        .sign(
            &SharedSecret::new(SECRET).expect("secret"),
            "POST",
            "/disabled",
            "",
        )
        .expect("signed");
    assert_eq!(
        post_event("disabled", CLIENT_KEY, Some(disabled)).await.status(),
        204
    );
    let missing = post_event("disabled", CLIENT_KEY, None).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "JWT");
    let for_enabled = product.rs256(CLIENT_KEY, "POST", "/enabled");
    assert_eq!(
        post_event("disabled", CLIENT_KEY, Some(for_enabled))
            .await
            .status(),
        401,
        "a token made for /enabled"
    );

    let page = product.rs256(CLIENT_KEY, "GET", "/panel");
    assert_eq!(
        send(Method::GET, format!("{app}/panel"), Some(&page), None)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_page_load_hands_the_page_a_session_token_for_the_apps_own_routes_only() {
    let (product, keys) = Product::new();
    let app = app(keys).await;
    let installed = product.rs256(CLIENT_KEY, "POST", "/installed");
    let response = send(
        Method::POST,
        format!("{app}/installed"),
        Some(&installed),
        Some(body("installed", CLIENT_KEY)),
    )
    .await;
    assert_eq!(response.status(), 204);

    // The product loads the page with an RS256 request token.
    let page_token = product.rs256(CLIENT_KEY, "GET", "/panel?lic=active");
    let page = send(
        Method::GET,
        format!("{app}/panel?lic=active"),
        Some(&page_token),
        None,
    )
    .await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let session = page.headers()[SESSION_TOKEN_HEADER]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert_eq!(
        page.text().await.expect("body"),
        "panel of jira:acme-tenant for 557058:alice"
    );

    // The page calls the app's AJAX route with it, any method and URL: the tenant and user.
    let ajax = send(
        Method::POST,
        format!("{app}/api/issues?page=2"),
        Some(&session),
        None,
    )
    .await;
    assert_eq!(ajax.status(), 200);
    assert!(
        ajax.headers().get(SESSION_TOKEN_HEADER).is_none(),
        "a session token never mints another"
    );
    assert_eq!(
        ajax.text().await.expect("body"),
        "issues of jira:acme-tenant for 557058:alice"
    );

    // On the page, which needs a token bound to the request: 403.
    let bound_only = send(
        Method::GET,
        format!("{app}/panel?lic=active"),
        Some(&session),
        None,
    )
    .await;
    assert_eq!(bound_only.status(), 403);
    assert!(bound_only.text().await.expect("body").contains("access_denied"));

    // Edited without the secret: 401. The page-load token on another URL: 401.
    let (head, rest) = session.split_once('.').expect("a JWS");
    let (_, signature) = rest.split_once('.').expect("a JWS");
    let edited_claims = asap_testkit::forge::b64(
        &serde_json::to_vec(
            &json!({"iss": APP_KEY, "aud": ["jira:other"], "iat": 1, "exp": 4_000_000_000_i64}),
        )
        .expect("serialises"),
    );
    let edited = format!("{head}.{edited_claims}.{signature}");
    assert_eq!(
        send(Method::POST, format!("{app}/api/issues"), Some(&edited), None)
            .await
            .status(),
        401
    );
    assert_eq!(
        send(
            Method::GET,
            format!("{app}/panel?lic=expired"),
            Some(&page_token),
            None
        )
        .await
        .status(),
        401
    );
    // A request-bound token also works on the AJAX route (and mints a session there).
    let bound = product.rs256(CLIENT_KEY, "POST", "/api/issues");
    let response = send(Method::POST, format!("{app}/api/issues"), Some(&bound), None).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get(SESSION_TOKEN_HEADER).is_some());
}
