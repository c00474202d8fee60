//! Forge Remote end to end: the key server publishes a directory as `/.well-known/jwks.json`
//! over HTTPS (the stand-in for Forge's key set, which tests cannot reach), the remote is an
//! axum app behind `ForgeLayer`, and its handler calls a stand-in product back through
//! `app.apiBaseUrl` with the app system token. Invocation tokens are built to the documented
//! layout; every refusal is checked with its status.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use asap_core::{Algorithm, Clock as _, KeySpec, PrivateKey, SystemClock};
use asap_keys::JwksKeySource;
use asap_keys::server::KeyService;
use asap_testkit::tls::TestCa;
use asap_tower::{ForgeInvocation, ForgeLayer};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::{get, post};
use forge_remote::{InvocationVerifier, ProductClient, SYSTEM_TOKEN_HEADER};
use reqwest::StatusCode;
use serde_json::{Value, json};

const APP_ID: &str = "ari:cloud:ecosystem::app/0c7d2f3e-1b2a-4c5d-8e9f-a0b1c2d3e4f5";
const SYSTEM_TOKEN: &str = "eyJhbGciOi.system-token.sig";

/// Forge's key set: a key directory served by the key server's `KeyService` with
/// `publish_jwks`, counting the requests for the key set.
struct ForgeKeys {
    dir: tempfile::TempDir,
    url: String,
    fetches: Arc<AtomicUsize>,
    ca: TestCa,
}

async fn count(State(fetches): State<Arc<AtomicUsize>>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/.well-known/jwks.json" {
        fetches.fetch_add(1, Ordering::SeqCst);
    }
    next.run(request).await
}

impl ForgeKeys {
    async fn start() -> ForgeKeys {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("forge")).expect("mkdir");
        let fetches = Arc::new(AtomicUsize::new(0));
        let service = KeyService::directory(dir.path()).publish_jwks(true);
        let router = Router::new()
            .fallback_service(service)
            .layer(from_fn_with_state(fetches.clone(), count));
        let ca = TestCa::new();
        let addr = asap_testkit::http::spawn_https(router, &ca).await;
        ForgeKeys {
            dir,
            url: format!("https://127.0.0.1:{}/.well-known/jwks.json", addr.port()),
            fetches,
            ca,
        }
    }

    /// Publishes a new RSA key as `forge/<name>` and returns it with its kid.
    fn rotate_in(&self, name: &str) -> (String, PrivateKey) {
        let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
        let kid = format!("forge/{name}");
        std::fs::write(
            self.dir.path().join(&kid),
            key.public_key().expect("public").to_pem(),
        )
        .expect("write");
        (kid, key)
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// The product: answers `GET /ex/jira/<cloud>/rest/api/3/myself` for the app system token only.
async fn product() -> String {
    async fn myself(headers: HeaderMap) -> (StatusCode, String) {
        match headers.get("authorization").and_then(|v| v.to_str().ok()) {
            Some(value) if value == format!("Bearer {SYSTEM_TOKEN}") => {
                (StatusCode::OK, "the app user".into())
            }
            _ => (StatusCode::UNAUTHORIZED, "who are you".into()),
        }
    }
    let router = Router::new().route("/ex/jira/c1/rest/api/3/myself", get(myself));
    format!(
        "http://{}/ex/jira/c1",
        asap_testkit::http::spawn_http(router).await
    )
}

/// The remote: verifies invocations, and calls the product back as the app.
async fn remote(keys: &ForgeKeys) -> String {
    let jwks = JwksKeySource::builder(&keys.url)
        .root_certificates_pem(keys.ca.root_pem())
        .build()
        .expect("jwks");
    let verifier = InvocationVerifier::builder(APP_ID)
        .key_source(Arc::new(jwks))
        .build()
        .expect("verifier");
    let product = ProductClient::new(reqwest::Client::new()).allow_insecure_loopback(true);
    async fn invoked(
        State(product): State<ProductClient>,
        ForgeInvocation(invocation): ForgeInvocation,
    ) -> String {
        let me = match product.as_app(&invocation, reqwest::Method::GET, "/rest/api/3/myself") {
            Ok(request) => match request.send().await {
                Ok(response) => response.text().await.unwrap_or_default(),
                Err(e) => format!("product call failed: {e}"),
            },
            Err(e) => e.to_string(),
        };
        format!(
            "{} {} {me}",
            invocation.installation_id(),
            invocation.principal().unwrap_or("-")
        )
    }
    let router = Router::new()
        .route("/invoke", post(invoked))
        .with_state(product)
        .layer(ForgeLayer::new(verifier));
    format!("http://{}/invoke", asap_testkit::http::spawn_http(router).await)
}

fn claims(api_base_url: &str) -> Value {
    let now = SystemClock.now();
    json!({
        "iss": "forge/invocation-token",
        "aud": APP_ID,
        "iat": now, "nbf": now, "exp": now + 60,
        "jti": format!("jti-{now}"),
        "app": {
            "id": APP_ID,
            "installationId": "ari:cloud:ecosystem::installation/7e6d5c4b",
            "apiBaseUrl": api_base_url,
            "appVersion": "1.0.0",
            "environment": {"type": "DEVELOPMENT", "id": "ari:cloud:ecosystem::environment/x"},
            "module": {"type": "core:endpoint", "key": "remote"},
            "installation": {"id": "ari:cloud:ecosystem::installation/7e6d5c4b", "contexts": []}
        },
        "context": {"cloudId": "c1", "siteUrl": "https://acme.atlassian.net"},
        "principal": "account-42"
    })
}

fn sign(alg: &str, kid: &str, claims: &Value, key: &PrivateKey) -> String {
    let algorithm: Algorithm = alg.parse().expect("alg");
    asap_testkit::forge::signed(&json!({"alg": alg, "kid": kid, "typ": "JWT"}), claims, |input| {
        key.sign(algorithm, input).expect("sign")
    })
}

async fn call(remote: &str, token: &str) -> (StatusCode, HeaderMap, String) {
    let response = reqwest::Client::new()
        .post(remote)
        .header("authorization", format!("Bearer {token}"))
        .header(SYSTEM_TOKEN_HEADER, SYSTEM_TOKEN)
        .send()
        .await
        .expect("send");
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.text().await.expect("body"))
}

#[tokio::test]
async fn an_invocation_is_verified_and_the_handler_calls_the_product_as_the_app() {
    let keys = ForgeKeys::start().await;
    let (kid, key) = keys.rotate_in("k1.pem");
    let (product, remote) = (product().await, remote(&keys).await);
    let (status, _, body) = call(&remote, &sign("RS256", &kid, &claims(&product), &key)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        "ari:cloud:ecosystem::installation/7e6d5c4b account-42 the app user"
    );
    assert_eq!(keys.fetches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_one_refetch_for_many_concurrent_invocations() {
    let keys = ForgeKeys::start().await;
    let (kid, key) = keys.rotate_in("k1.pem");
    let (product, remote) = (product().await, remote(&keys).await);
    assert_eq!(
        call(&remote, &sign("RS256", &kid, &claims(&product), &key))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(keys.fetches(), 1);

    let (next_kid, next) = keys.rotate_in("k2.pem");
    let token = sign("RS256", &next_kid, &claims(&product), &next);
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let (remote, token) = (remote.clone(), token.clone());
            tokio::spawn(async move { call(&remote, &token).await.0 })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.expect("task"), StatusCode::OK);
    }
    assert_eq!(keys.fetches(), 2, "one refetch for the new kid");
    // Made-up kids within the cooldown cost nothing upstream.
    for i in 0..50 {
        let token = sign("RS256", &format!("forge/made-up-{i}"), &claims(&product), &next);
        assert_eq!(call(&remote, &token).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(keys.fetches(), 2);
}

#[tokio::test]
async fn every_refusal_has_its_status_and_challenge() {
    let keys = ForgeKeys::start().await;
    let (kid, key) = keys.rotate_in("k1.pem");
    let (product, remote) = (product().await, remote(&keys).await);
    let good = claims(&product);
    let with = |path: &[&str], value: Value| {
        let mut c = good.clone();
        let (last, parents) = path.split_last().expect("path");
        let mut at = &mut c;
        for p in parents {
            at = &mut at[*p];
        }
        at[*last] = value;
        c
    };
    let now = SystemClock.now();
    let public = key.public_key().expect("public");
    let hs256 = |secret: &[u8]| {
        asap_testkit::forge::signed(&json!({"alg": "HS256", "kid": kid}), &good, |input| {
            asap_testkit::forge::Hmac::Sha256.sign(secret, input)
        })
    };
    // The JWKS key's own bytes: the modulus from the published set.
    let set: Value = serde_json::from_str(&reqwest_jwks(&keys).await).expect("set");
    let modulus = set["keys"][0]["n"].as_str().expect("n").to_owned();
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong iss",
            sign("RS256", &kid, &with(&["iss"], json!("forge/other")), &key),
        ),
        (
            "wrong aud",
            sign(
                "RS256",
                &kid,
                &with(&["aud"], json!("ari:cloud:ecosystem::app/x")),
                &key,
            ),
        ),
        ("HS256 with the SPKI", hs256(public.spki_der())),
        ("HS256 with the PEM", hs256(public.to_pem().as_bytes())),
        ("HS256 with the JWK n", hs256(modulus.as_bytes())),
        ("PS256 with the right key", sign("PS256", &kid, &good, &key)),
        (
            "expired",
            sign("RS256", &kid, &with(&["exp"], json!(now - 120)), &key),
        ),
        (
            "over the cap",
            sign(
                "RS256",
                &kid,
                &with(&["context", "extension"], json!("x".repeat(40_000))),
                &key,
            ),
        ),
        ("unknown kid", sign("RS256", "forge/unknown.pem", &good, &key)),
    ];
    for (case, token) in cases {
        let (status, headers, body) = call(&remote, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {body}");
        assert_eq!(
            headers["www-authenticate"], "Bearer error=\"invalid_token\"",
            "{case}"
        );
        assert!(!body.contains(&token), "{case}: the token is never echoed");
    }
}

async fn reqwest_jwks(keys: &ForgeKeys) -> String {
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(keys.ca.root_pem().as_bytes()).expect("root")])
        .build()
        .expect("client");
    client
        .get(&keys.url)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body")
}

#[tokio::test]
async fn a_key_set_with_private_members_is_never_trusted() {
    // A key set that leaks a private key: the remote answers 503, it does not use the set.
    let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let mut set: Value = serde_json::from_str(&asap_keys::JwkSet::to_json([(
        &asap_core::KeyId::parse("forge/k1.pem").expect("kid"),
        &key.public_key().expect("public"),
    )]))
    .expect("json");
    set["keys"][0]["d"] = json!("AQAB");
    let body = set.to_string();
    let router = Router::new().route(
        "/.well-known/jwks.json",
        get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let ca = TestCa::new();
    let addr = asap_testkit::http::spawn_https(router, &ca).await;
    let keys = ForgeKeys {
        dir: tempfile::tempdir().expect("tempdir"),
        url: format!("https://127.0.0.1:{}/.well-known/jwks.json", addr.port()),
        fetches: Arc::new(AtomicUsize::new(0)),
        ca,
    };
    let (product, remote) = (product().await, remote(&keys).await);
    let (status, headers, _) = call(&remote, &sign("RS256", "forge/k1.pem", &claims(&product), &key)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "5");
}
