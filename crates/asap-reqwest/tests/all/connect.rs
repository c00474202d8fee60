//! The Connect middleware (feature `connect`) end to end: a client signing with it calls a
//! "product" on 127.0.0.1 that authenticates with asap-tower's `ConnectLayer`.

use asap_reqwest::{ConnectMiddleware, ConnectMiddlewareError, ConnectTenant};
use asap_testkit::http::spawn_http;
use asap_tower::{ConnectAuthenticated, ConnectLayer};
use axum::Router;
use axum::routing::get;
use connect_qsh::{
    Authenticator, ConnectSigner, InMemorySharedSecretStore, PayloadError, SharedSecret, Tenant,
};
use http::Extensions;
use reqwest::{Method, Request, Response, StatusCode};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};
use serde_json::{Value, json};

const APP_KEY: &str = "com.example.my-app";
const SECRET: &str = "shared-secret-from-installed";

/// The product, with its REST API under `/wiki` (like Confluence Cloud): it knows the app's
/// shared secret and echoes who called and what it saw.
struct Product {
    origin: String,
}

impl Product {
    async fn start() -> Product {
        let secrets = InMemorySharedSecretStore::new();
        secrets.insert(APP_KEY, SharedSecret::new(SECRET).expect("secret"));
        let authenticator = Authenticator::builder(secrets)
            .base_url("/wiki")
            .build()
            .expect("valid authenticator");
        let echo = |ConnectAuthenticated(caller): ConnectAuthenticated,
                    method: http::Method,
                    uri: http::Uri| async move {
            axum::Json(json!({"iss": caller.client_key(), "method": method.as_str(), "uri": uri.to_string()}))
        };
        let api = Router::new()
            .route("/rest/api/space", get(echo).post(echo))
            .route("/rest/api/other", get(echo))
            .route("/rest/api/content/{id}", get(echo))
            .route_layer(ConnectLayer::new(authenticator));
        let addr = spawn_http(Router::new().nest("/wiki", api)).await;
        Product {
            origin: format!("http://{addr}"),
        }
    }

    /// The tenant record the app would have saved from the product's `installed` callback.
    fn tenant(&self, secret: &str) -> Tenant {
        let payload = json!({
            "key": APP_KEY,
            "clientKey": "acme-client-key",
            "sharedSecret": secret,
            "baseUrl": format!("{}/wiki", self.origin),
            "eventType": "installed",
        });
        Tenant::from_install_payload_allowing_loopback(&payload.to_string()).expect("valid payload")
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("{}/wiki{path_and_query}", self.origin)
    }
}

fn client(middleware: ConnectMiddleware) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build()
}

async fn echo(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK);
    serde_json::from_str(&response.text().await.expect("body")).expect("json body")
}

#[tokio::test]
async fn signed_requests_pass_the_products_connect_layer() {
    let product = Product::start().await;
    let client = client(ConnectMiddleware::for_tenant(
        ConnectSigner::new(APP_KEY),
        product.tenant(SECRET),
    ));
    for (method, target) in [
        (Method::GET, "/rest/api/space?limit=10&expand=a,b"),
        (
            Method::GET,
            "/rest/api/space?spaceKey=A%20B&title=x+y&title=a*~&empty=",
        ),
        (Method::POST, "/rest/api/space"),
        (Method::GET, "/rest/api/content/42?expand=body.storage"),
        (Method::GET, "/rest/api/content/a%20b"),
    ] {
        let body = echo(
            client
                .request(method.clone(), product.url(target))
                .body("{}")
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(body["iss"], APP_KEY, "{method} {target}");
        assert_eq!(body["method"], method.as_str());
    }
}

#[tokio::test]
async fn the_tenant_can_be_chosen_per_request() {
    let product = Product::start().await;
    let right = product.tenant(SECRET);
    let wrong = product.tenant("a secret the product does not know");

    let shared = client(ConnectMiddleware::new(ConnectSigner::new(APP_KEY)));
    let response = shared
        .get(product.url("/rest/api/space"))
        .with_extension(ConnectTenant(right.clone()))
        .send()
        .await
        .expect("sent");
    echo(response).await;

    // A per-request tenant wins over the client's.
    let per_client = client(ConnectMiddleware::for_tenant(ConnectSigner::new(APP_KEY), wrong));
    let response = per_client
        .get(product.url("/rest/api/space"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = per_client
        .get(product.url("/rest/api/space"))
        .with_extension(ConnectTenant(right))
        .send()
        .await
        .expect("sent");
    echo(response).await;
}

#[tokio::test]
async fn no_tenant_is_a_typed_error_and_nothing_is_sent() {
    let product = Product::start().await;
    let client = client(ConnectMiddleware::new(ConnectSigner::new(APP_KEY)));
    let err = client
        .get(product.url("/rest/api/space"))
        .send()
        .await
        .expect_err("must not be sent");
    let reqwest_middleware::Error::Middleware(inner) = err else {
        panic!("expected a middleware error, got {err:?}");
    };
    assert!(matches!(
        inner.downcast_ref::<ConnectMiddlewareError>(),
        Some(ConnectMiddlewareError::NoTenant)
    ));
}

#[tokio::test]
async fn a_url_outside_the_tenants_base_url_is_never_signed() {
    let product = Product::start().await;
    let client = client(ConnectMiddleware::for_tenant(
        ConnectSigner::new(APP_KEY),
        product.tenant(SECRET),
    ));
    for url in [
        format!("{}/confluence/rest/api/space", product.origin),
        "http://127.0.0.2:9/wiki/rest/api/space".to_owned(),
    ] {
        let err = client.get(&url).send().await.expect_err("must not be sent");
        let reqwest_middleware::Error::Middleware(inner) = err else {
            panic!("expected a middleware error, got {err:?}");
        };
        assert!(
            matches!(
                inner.downcast_ref::<ConnectMiddlewareError>(),
                Some(ConnectMiddlewareError::Sign(_))
            ),
            "{url}: {inner}"
        );
    }
}

#[tokio::test]
async fn a_token_never_travels_in_clear() {
    // A tenant's base URL is https (or http on loopback, when explicitly allowed).
    let payload =
        |base_url: &str| json!({"clientKey": "c", "sharedSecret": SECRET, "baseUrl": base_url}).to_string();
    for insecure in ["http://acme.atlassian.net/wiki", "http://10.1.2.3/wiki"] {
        assert_eq!(
            Tenant::from_install_payload_allowing_loopback(&payload(insecure)).err(),
            Some(PayloadError::InsecureBaseUrl),
            "{insecure}"
        );
    }
    let acme = Tenant::from_install_payload(&payload("https://acme.atlassian.net/wiki")).expect("valid");
    let client = client(ConnectMiddleware::for_tenant(ConnectSigner::new(APP_KEY), acme));
    // Plain http, to the tenant's host or any other non-loopback host: refused before signing.
    for url in [
        "http://acme.atlassian.net/wiki/rest/api/space",
        "http://acme.atlassian.net:443/wiki/rest/api/space",
        "http://evil.example/wiki/rest/api/space",
    ] {
        let err = client.get(url).send().await.expect_err("must not be sent");
        let reqwest_middleware::Error::Middleware(inner) = err else {
            panic!("expected a middleware error, got {err:?}");
        };
        assert!(
            matches!(
                inner.downcast_ref::<ConnectMiddlewareError>(),
                Some(ConnectMiddlewareError::InsecureUrl(_))
            ),
            "{url}: {inner}"
        );
    }
}

/// Rewrites the request after it was signed, as a man in the middle (or a misplaced
/// middleware) would.
struct Tamper(fn(&mut Request));

#[async_trait::async_trait]
impl Middleware for Tamper {
    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        (self.0)(&mut req);
        next.run(req, extensions).await
    }
}

#[tokio::test]
async fn tampering_with_method_path_or_query_after_signing_is_401() {
    let product = Product::start().await;
    let tamperings: [fn(&mut Request); 5] = [
        |r| *r.method_mut() = Method::POST,
        |r| r.url_mut().set_path("/wiki/rest/api/other"),
        |r| r.url_mut().set_query(Some("limit=11")),
        |r| r.url_mut().set_query(Some("limit=10&admin=true")),
        |r| r.url_mut().set_query(None),
    ];
    for (i, tamper) in tamperings.into_iter().enumerate() {
        let client = ClientBuilder::new(reqwest::Client::new())
            .with(ConnectMiddleware::for_tenant(
                ConnectSigner::new(APP_KEY),
                product.tenant(SECRET),
            ))
            .with(Tamper(tamper))
            .build();
        let response = client
            .get(product.url("/rest/api/space?limit=10"))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "tampering {i}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(challenge.starts_with("JWT"), "{challenge}");
    }

    // Reordering the parameters is not tampering: the qsh sorts them.
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(ConnectMiddleware::for_tenant(
            ConnectSigner::new(APP_KEY),
            product.tenant(SECRET),
        ))
        .with(Tamper(|r| r.url_mut().set_query(Some("b=2&a=1"))))
        .build();
    let response = client
        .get(product.url("/rest/api/space?a=1&b=2"))
        .send()
        .await
        .expect("sent");
    echo(response).await;
}

#[tokio::test]
async fn an_app_the_product_does_not_know_is_401() {
    let product = Product::start().await;
    let client = client(ConnectMiddleware::for_tenant(
        ConnectSigner::new("com.example.unknown-app"),
        product.tenant(SECRET),
    ));
    let response = client
        .get(product.url("/rest/api/space"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = serde_json::from_str(&response.text().await.expect("body")).expect("json");
    assert!(
        body["error_description"]
            .as_str()
            .expect("text")
            .contains("unknown issuer"),
        "{body}"
    );
}

#[tokio::test]
async fn an_explicit_authorization_header_is_left_alone() {
    let product = Product::start().await;
    let client = client(ConnectMiddleware::for_tenant(
        ConnectSigner::new(APP_KEY),
        product.tenant(SECRET),
    ));
    let response = client
        .get(product.url("/rest/api/space"))
        .header("authorization", "JWT caller-chosen")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn debug_never_shows_the_shared_secret() {
    let payload = json!({"clientKey": "c", "sharedSecret": SECRET, "baseUrl": "https://acme.atlassian.net"});
    let tenant = Tenant::from_install_payload(&payload.to_string()).expect("valid");
    let middleware = ConnectMiddleware::for_tenant(ConnectSigner::new(APP_KEY), tenant.clone());
    for shown in [format!("{middleware:?}"), format!("{:?}", ConnectTenant(tenant))] {
        assert!(!shown.contains(SECRET), "{shown}");
    }
}
