//! An Atlassian Connect app on axum: the lifecycle (installed, enabled, disabled, uninstalled),
//! one page the product shows in an iframe, which hands the page an app session token, an AJAX
//! route that takes it, and one call back to the product's REST API. Copy this into your app.
//!
//! ```text
//! CONNECT_APP_BASE_URL=https://my-app.example.com cargo run --example connect_app
//! ```
//!
//! Then install `https://my-app.example.com/atlassian-connect.json` in a Jira or Confluence
//! Cloud site (development mode). Settings, all optional:
//!
//! - `CONNECT_APP_BASE_URL` — the app's public base URL (the descriptor's `baseUrl`, and the
//!   `aud` of signed install callbacks); default `http://127.0.0.1:8081`.
//! - `CONNECT_APP_KEY` — the app key; default `com.example.asap-rs.connect-demo`.
//! - `CONNECT_INSTALL_KEYS_URL` — where the product publishes the keys that sign the lifecycle
//!   callbacks; default `https://connect-install-keys.atlassian.com/`.
//! - `REDIS_URL` — keep tenants in Redis (shared by every instance, kept across restarts);
//!   in memory otherwise.
//! - `LISTEN` — the address to listen on; default `127.0.0.1:8081`.

use std::sync::Arc;

use asap_keys::{BudgetScope, FetchBudget, HttpKeyRepository};
use asap_redis::RedisTenantStore;
use asap_reqwest::{ConnectMiddleware, ConnectTenant};
use asap_tower::{ConnectAuthenticated, ConnectLayer, SessionTokenHeaderLayer, connect_response};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use connect_qsh::{Authenticator, ConnectSigner, InMemoryTenantStore, Lifecycle, TenantSecrets, TenantStore};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use serde_json::{Value, json};

/// What every handler shares.
struct App {
    key: String,
    base_url: String,
    lifecycle: Lifecycle,
    tenants: Arc<dyn TenantStore>,
    /// Signs every call to a product as this app, for the tenant each request names.
    product: ClientWithMiddleware,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter("info,asap_tower=debug,connect_qsh=debug")
        .init();
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let base_url = env("CONNECT_APP_BASE_URL", "http://127.0.0.1:8081");
    let key = env("CONNECT_APP_KEY", "com.example.asap-rs.connect-demo");
    let listen = env("LISTEN", "127.0.0.1:8081");

    let tenants: Arc<dyn TenantStore> = match std::env::var("REDIS_URL") {
        Ok(url) => Arc::new(RedisTenantStore::connect(&url).await?),
        Err(_) => Arc::new(InMemoryTenantStore::new()),
    };
    // The install keys, fetched by kid and cached by Cache-Control. Their kids are opaque names
    // anyone can make up in an unsigned callback: one fetch budget for the whole repository.
    let mut budget = FetchBudget::default();
    budget.scope = BudgetScope::Repository;
    let install_keys = HttpKeyRepository::builder(env(
        "CONNECT_INSTALL_KEYS_URL",
        "https://connect-install-keys.atlassian.com/",
    ))
    .allow_insecure_loopback(true)
    .fetch_budget(budget)
    .build()?;
    // Callbacks must name this app's key: a copy of the descriptor under another key installs
    // nothing here.
    let lifecycle = Lifecycle::builder(&base_url, Arc::new(install_keys), tenants.clone())
        .app_key(&key)
        .build()?;
    // Requests from the product are signed with the tenant's shared secret. A page load the
    // product signed also mints an app session token (`iss` = app key, `sub` = the user,
    // `aud` = [clientKey], 15 minutes) for the page's own calls, as atlassian-connect-express does.
    let authenticator = Authenticator::builder(TenantSecrets::new(tenants.clone()))
        .base_url(&base_url)
        .session_tokens(&key)
        .build()?;
    let product = ClientBuilder::new(reqwest::Client::new())
        .with(ConnectMiddleware::new(ConnectSigner::new(&key)))
        .build();
    let app = Arc::new(App {
        key,
        base_url,
        lifecycle,
        tenants,
        product,
    });

    // The page the product loads: only tokens bound to this very request. The response carries
    // the session token in `X-acpt` (sensitive, `no-store`).
    let pages = Router::new()
        .route("/page", get(page))
        .route_layer(SessionTokenHeaderLayer)
        .route_layer(ConnectLayer::new(authenticator.clone()));
    // The page's own AJAX calls carry `AP.context.getToken()` or the session token from
    // `X-acpt`: this route opts in to both. Every other route refuses them (403).
    let ajax = Router::new().route("/api/whoami", get(whoami)).route_layer(
        ConnectLayer::new(authenticator)
            .allow_context_qsh(true)
            .allow_session_tokens(true),
    );
    // The descriptor and the lifecycle callbacks are outside the layers: the callbacks are
    // verified by the Lifecycle (RS256 install key, or the tenant's current secret).
    let router = Router::new()
        .route("/atlassian-connect.json", get(descriptor))
        .route("/installed", post(lifecycle_event))
        .route("/enabled", post(lifecycle_event))
        .route("/disabled", post(lifecycle_event))
        .route("/uninstalled", post(lifecycle_event))
        .merge(pages)
        .merge(ajax)
        .with_state(app);

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}

/// The app descriptor the product reads when the app is installed.
async fn descriptor(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({
        "key": app.key,
        "name": "asap-rs Connect demo",
        "baseUrl": app.base_url,
        "authentication": {"type": "jwt"},
        "apiMigrations": {"signed-install": true},
        "lifecycle": {
            "installed": "/installed",
            "enabled": "/enabled",
            "disabled": "/disabled",
            "uninstalled": "/uninstalled",
        },
        "scopes": ["READ"],
        "modules": {
            "generalPages": [{
                "key": "demo-page",
                "name": {"value": "asap-rs demo"},
                "url": "/page",
            }],
        },
    }))
}

/// One handler for the four lifecycle callbacks: each is verified by the `Lifecycle` (RS256
/// install key, or the tenant's current secret) and single-use; `enabled` and `disabled` need
/// an installed tenant and leave its record as it is.
async fn lifecycle_event(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lifecycle = &app.lifecycle;
    let result = match uri.path() {
        "/installed" => lifecycle
            .installed(&method, &uri, &headers, &body)
            .await
            .map(drop),
        "/enabled" => lifecycle.enabled(&method, &uri, &headers, &body).await.map(drop),
        "/disabled" => lifecycle.disabled(&method, &uri, &headers, &body).await.map(drop),
        "/uninstalled" => lifecycle
            .uninstalled(&method, &uri, &headers, &body)
            .await
            .map(drop),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        // 401 for a callback that does not verify, 503 when the keys or the store are away.
        Err(error) => connect_response(&error).into_response(),
    }
}

/// The protected page: who is looking, and what the product's REST API says about the site.
async fn page(State(app): State<Arc<App>>, ConnectAuthenticated(request): ConnectAuthenticated) -> Response {
    let tenant = match app.tenants.tenant(request.client_key()).await {
        Ok(Some(tenant)) => tenant,
        // Authenticated a moment ago and uninstalled since, or the store is away.
        Ok(None) => return StatusCode::UNAUTHORIZED.into_response(),
        Err(error) => return connect_response(&error.into()).into_response(),
    };
    // Confluence serves its REST API under /wiki; Jira at the root.
    let api = if tenant.base_url().ends_with("/wiki") {
        "/rest/api/space?limit=5"
    } else {
        "/rest/api/3/serverInfo"
    };
    let url = format!("{}{api}", tenant.base_url().trim_end_matches('/'));
    let answer = match app
        .product
        .get(&url)
        .with_extension(ConnectTenant(tenant))
        .send()
        .await
    {
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            format!("{status}\n{body}")
        }
        Err(error) => format!("the call failed: {error}"),
    };
    Html(format!(
        "<!DOCTYPE html>\n<html><head><script src=\"https://connect-cdn.atl-paas.net/all.js\"></script></head>\n\
         <body><h1>Hello from {}</h1><p>User: {}</p><p>GET {}</p><pre>{}</pre></body></html>\n",
        escape(request.client_key()),
        escape(request.subject().unwrap_or("anonymous")),
        escape(&url),
        escape(&answer),
    ))
    .into_response()
}

/// An AJAX endpoint of the page: accepts the page's context token or its session token.
async fn whoami(ConnectAuthenticated(request): ConnectAuthenticated) -> Json<Value> {
    Json(json!({
        "clientKey": request.client_key(),
        "user": request.subject(),
    }))
}

/// Everything shown on the page came from the network: escape it.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
