//! Where tokens go: a token for an audience reaches only that audience's origins, over real
//! loopback servers that record the `Authorization` header of every request they get.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use asap_core::*;
use asap_reqwest::{AsapAudience, AsapMiddleware, AsapMiddlewareError, Origin, OtherOrigins};
use asap_testkit::http::{spawn_http, spawn_http_and_https};
use asap_testkit::tls::TestCa;
use axum::Router;
use axum::response::Redirect;
use axum::routing::get;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};

/// A server that records the `Authorization` header (or its absence) of each request to
/// `/echo`; `/home` redirects to its own `/echo`, `/away` to `away` when given.
struct Recorder {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Option<String>>>>,
}

impl Recorder {
    async fn spawn(away: Option<String>) -> Recorder {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let mut app = Router::new()
            .route(
                "/echo",
                get(move |headers: http::HeaderMap| async move {
                    let authorization = headers
                        .get("authorization")
                        .map(|v| v.to_str().unwrap_or_default().to_owned());
                    log.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(authorization);
                }),
            )
            .route("/home", get(|| async { Redirect::temporary("/echo") }));
        if let Some(away) = away {
            app = app.route("/away", get(move || async move { Redirect::temporary(&away) }));
        }
        Recorder {
            addr: spawn_http(app).await,
            seen,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn origin(&self) -> Origin {
        Origin::parse(&self.url("")).expect("origin")
    }

    /// The `Authorization` headers received so far, in order.
    fn seen(&self) -> Vec<Option<String>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

struct Keys {
    signer: Signer,
    verifier: Verifier,
}

fn keys() -> Keys {
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
    let kid = KeyId::parse("billing/k1").expect("kid");
    let source = StaticKeySource::new().with_key(kid.clone(), key.public_key().expect("public"));
    Keys {
        signer: Signer::builder("billing")
            .key(SigningKey::new(kid, key, None).expect("sk"))
            .build()
            .expect("signer"),
        verifier: Verifier::builder(source)
            .audience(aud("ledger"))
            .audience(aud("audit"))
            .build()
            .expect("verifier"),
    }
}

fn aud(name: &str) -> Audience {
    Audience::new(name).expect("audience")
}

fn client(middleware: AsapMiddleware) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build()
}

/// The audience of the bearer token in `authorization`, verified.
async fn audience_of(keys: &Keys, authorization: Option<&str>) -> String {
    let token = authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .expect("a bearer token");
    let verified = keys.verifier.verify(token).await.expect("verifies");
    verified.claims().audiences().join(",")
}

/// The request fails with `OriginNotAllowed`; returns its audience and origin.
fn refused(result: reqwest_middleware::Result<reqwest::Response>) -> (String, String) {
    let err = result.expect_err("refused");
    let reqwest_middleware::Error::Middleware(inner) = err else {
        panic!("not the middleware's error: {err}")
    };
    match inner.downcast_ref::<AsapMiddlewareError>() {
        Some(AsapMiddlewareError::OriginNotAllowed { audience, origin }) => {
            (audience.to_string(), origin.clone())
        }
        other => panic!("not OriginNotAllowed: {other:?}"),
    }
}

#[tokio::test]
async fn an_allowed_origin_gets_a_token_for_its_audience() {
    let keys = keys();
    let ledger = Recorder::spawn(None).await;
    let c = client(AsapMiddleware::new(&keys.signer, aud("ledger")).allow_origins([ledger.origin()]));
    let response = c.get(ledger.url("/echo?x=1")).send().await.expect("sent");
    assert_eq!(response.status(), 200);
    let seen = ledger.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(audience_of(&keys, seen[0].as_deref()).await, "ledger");
}

#[tokio::test]
async fn another_port_host_or_scheme_is_refused_before_it_leaves() {
    let keys = keys();
    let ledger = Recorder::spawn(None).await;
    let other_port = Recorder::spawn(None).await;
    let c = client(AsapMiddleware::new(&keys.signer, aud("ledger")).allow_origins([ledger.origin()]));
    let port = ledger.addr.port();

    let (audience, origin) = refused(c.get(other_port.url("/echo")).send().await);
    assert_eq!((audience.as_str(), origin), ("ledger", other_port.url("")));
    // `localhost` reaches the same server, but is another origin.
    let (_, origin) = refused(c.get(format!("http://localhost:{port}/echo")).send().await);
    assert_eq!(origin, format!("http://localhost:{port}"));
    let (_, origin) = refused(c.get(format!("https://127.0.0.1:{port}/echo")).send().await);
    assert_eq!(origin, format!("https://127.0.0.1:{port}"));

    assert!(ledger.seen().is_empty(), "nothing reached the allowed server");
    assert!(other_port.seen().is_empty(), "nothing reached the other port");
}

#[tokio::test]
async fn lookalike_hosts_are_refused() {
    let keys = keys();
    let server = Recorder::spawn(None).await;
    let port = server.addr.port();
    let mut http = reqwest::Client::builder();
    for name in [
        "ledger.internal",
        "ledger.internal.",
        "ledger.internal.evil.example",
        "evil.example",
        "xledger.internal",
    ] {
        http = http.resolve(name, server.addr);
    }
    let allowed = Origin::parse(&format!("http://Ledger.Internal:{port}")).expect("origin");
    let c = ClientBuilder::new(http.build().expect("client"))
        .with(AsapMiddleware::new(&keys.signer, aud("ledger")).allow_origins([allowed]))
        .build();

    // The allowed host, whatever its letter case: the names resolve to the recorder.
    for url in [
        format!("http://ledger.internal:{port}/echo"),
        format!("http://LEDGER.internal:{port}/echo"),
    ] {
        c.get(&url).send().await.expect(&url);
    }
    for url in [
        format!("http://ledger.internal.evil.example:{port}/echo"),
        format!("http://ledger.internal.:{port}/echo"),
        format!("http://xledger.internal:{port}/echo"),
        format!("http://evil.example:{port}/echo?ledger.internal"),
        format!("https://ledger.internal:{port}/echo"),
    ] {
        let (_, origin) = refused(c.get(&url).send().await);
        assert!(!origin.contains("/echo") && !origin.contains('?'), "{origin}");
    }
    // A URL built by hand with userinfo reaches the middleware as it is: its host is
    // evil.example, whatever the user name says.
    let sneaky =
        reqwest::Url::parse(&format!("http://ledger.internal:{port}@evil.example:{port}/echo")).expect("url");
    let (_, origin) = refused(c.execute(reqwest::Request::new(http::Method::GET, sneaky)).await);
    assert_eq!(origin, format!("http://evil.example:{port}"));
    // Through the request builder, reqwest turns userinfo into the caller's own Basic
    // credentials, which the middleware leaves alone: still no token.
    c.get(format!("http://ledger.internal:{port}@evil.example:{port}/echo"))
        .send()
        .await
        .expect("sent with the caller's own credentials");

    let seen = server.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    for authorization in &seen[..2] {
        assert_eq!(audience_of(&keys, authorization.as_deref()).await, "ledger");
    }
    assert!(
        seen[2].as_deref().is_some_and(|a| a.starts_with("Basic ")),
        "{:?}",
        seen[2]
    );
}

#[tokio::test]
async fn a_per_request_audience_is_checked_against_its_own_origins() {
    let keys = keys();
    let ledger = Recorder::spawn(None).await;
    let audit = Recorder::spawn(None).await;
    let c = client(
        AsapMiddleware::new(&keys.signer, aud("ledger"))
            .allow_origins([ledger.origin()])
            .allow_origins_for(aud("audit"), [audit.origin()]),
    );
    c.get(audit.url("/echo"))
        .with_extension(AsapAudience(aud("audit")))
        .send()
        .await
        .expect("audit to audit");
    // Naming the middleware's own audience per request is the same as not naming it.
    c.get(ledger.url("/echo"))
        .with_extension(AsapAudience(aud("ledger")))
        .send()
        .await
        .expect("ledger to ledger");

    let (audience, _) = refused(
        c.get(ledger.url("/echo"))
            .with_extension(AsapAudience(aud("audit")))
            .send()
            .await,
    );
    assert_eq!(audience, "audit");
    let (audience, _) = refused(c.get(audit.url("/echo")).send().await);
    assert_eq!(audience, "ledger");

    let (to_audit, to_ledger) = (audit.seen(), ledger.seen());
    assert_eq!((to_audit.len(), to_ledger.len()), (1, 1));
    assert_eq!(audience_of(&keys, to_audit[0].as_deref()).await, "audit");
    assert_eq!(audience_of(&keys, to_ledger[0].as_deref()).await, "ledger");
}

#[tokio::test]
async fn an_audience_without_a_list_is_refused_once_any_list_exists() {
    let keys = keys();
    let server = Recorder::spawn(None).await;
    // Only the middleware's own audience has a list: another audience goes nowhere.
    let c = client(AsapMiddleware::new(&keys.signer, aud("ledger")).allow_origins([server.origin()]));
    let (audience, _) = refused(
        c.get(server.url("/echo"))
            .with_extension(AsapAudience(aud("audit")))
            .send()
            .await,
    );
    assert_eq!(audience, "audit");
    // Only another audience has a list: the middleware's own goes nowhere.
    let c = client(
        AsapMiddleware::new(&keys.signer, aud("ledger")).allow_origins_for(aud("audit"), [server.origin()]),
    );
    let (audience, _) = refused(c.get(server.url("/echo")).send().await);
    assert_eq!(audience, "ledger");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn without_any_list_every_origin_gets_a_token() {
    // The behaviour before origin lists, kept for existing clients (see the crate docs).
    let keys = keys();
    let (a, b) = (Recorder::spawn(None).await, Recorder::spawn(None).await);
    let c = client(AsapMiddleware::new(&keys.signer, aud("ledger")));
    c.get(a.url("/echo")).send().await.expect("sent");
    c.get(b.url("/echo")).send().await.expect("sent");
    assert_eq!(audience_of(&keys, a.seen()[0].as_deref()).await, "ledger");
    assert_eq!(audience_of(&keys, b.seen()[0].as_deref()).await, "ledger");
}

#[tokio::test]
async fn send_unsigned_passes_other_origins_through_without_a_token() {
    let keys = keys();
    let ledger = Recorder::spawn(None).await;
    let webhook = Recorder::spawn(None).await;
    let c = client(
        AsapMiddleware::new(&keys.signer, aud("ledger"))
            .allow_origins([ledger.origin()])
            .other_origins(OtherOrigins::SendUnsigned),
    );
    c.get(ledger.url("/echo")).send().await.expect("sent");
    c.get(webhook.url("/echo")).send().await.expect("sent");
    // An audience without a list is sent unsigned too, even to an allowed origin of another.
    c.get(ledger.url("/echo"))
        .with_extension(AsapAudience(aud("audit")))
        .send()
        .await
        .expect("sent");
    let to_ledger = ledger.seen();
    assert_eq!(audience_of(&keys, to_ledger[0].as_deref()).await, "ledger");
    assert_eq!(to_ledger[1], None);
    assert_eq!(webhook.seen(), [None]);
}

#[tokio::test]
async fn an_explicit_authorization_header_goes_anywhere_as_it_is() {
    let keys = keys();
    let (ledger, other) = (Recorder::spawn(None).await, Recorder::spawn(None).await);
    let c = client(AsapMiddleware::new(&keys.signer, aud("ledger")).allow_origins([ledger.origin()]));
    c.get(other.url("/echo"))
        .header("authorization", "Bearer caller.set.this")
        .send()
        .await
        .expect("sent");
    assert_eq!(other.seen(), [Some("Bearer caller.set.this".to_owned())]);
}

#[tokio::test]
async fn a_redirect_to_another_origin_does_not_carry_the_token() {
    let keys = keys();
    let elsewhere = Recorder::spawn(None).await;
    let ledger = Recorder::spawn(Some(elsewhere.url("/echo"))).await;
    let c = client(AsapMiddleware::new(&keys.signer, aud("ledger")).allow_origins([ledger.origin()]));

    let response = c.get(ledger.url("/away")).send().await.expect("followed");
    assert_eq!(response.url().as_str(), elsewhere.url("/echo"));
    // reqwest drops Authorization on a redirect to another scheme, host or port.
    assert_eq!(elsewhere.seen(), [None]);

    // On the same origin it keeps it: the recorder would have seen a token above.
    c.get(ledger.url("/home")).send().await.expect("followed");
    assert_eq!(audience_of(&keys, ledger.seen()[0].as_deref()).await, "ledger");
}

/// A redirect from the allowed `https` origin to `http` on the same host and port (one port
/// that speaks both) would send the token in clear text: reqwest drops it when only the scheme
/// changes (since 0.13.4, the workspace's floor).
#[tokio::test]
async fn a_redirect_from_https_to_http_on_the_same_port_does_not_carry_the_token() {
    let keys = keys();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let app = Router::new()
        .route(
            "/down",
            get(|uri: http::Uri, headers: http::HeaderMap| async move {
                // HTTP/2 (negotiated over TLS when the workspace's features turn it on) names
                // the host in the URI, HTTP/1.1 in the Host header.
                let host = match uri.authority() {
                    Some(authority) => authority.to_string(),
                    None => headers["host"].to_str().expect("host").to_owned(),
                };
                Redirect::temporary(&format!("http://{host}/echo"))
            }),
        )
        .route(
            "/echo",
            get(move |uri: http::Uri, headers: http::HeaderMap| async move {
                let authorization = headers.get("authorization").map(|v| v.as_bytes().to_vec());
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((uri.to_string(), authorization));
            }),
        );
    let ca = TestCa::new();
    let addr = spawn_http_and_https(app, &ca).await;
    let https = format!("https://{addr}");
    let root = reqwest::Certificate::from_pem(ca.root_pem().as_bytes()).expect("root");
    let inner = reqwest::Client::builder()
        .tls_certs_only([root])
        .build()
        .expect("client");
    let c = ClientBuilder::new(inner)
        .with(
            AsapMiddleware::new(&keys.signer, aud("ledger"))
                .allow_origins([Origin::parse(&https).expect("origin")]),
        )
        .build();

    let response = c.get(format!("{https}/down")).send().await.expect("followed");
    assert_eq!(response.url().as_str(), format!("http://{addr}/echo"));
    assert_eq!(
        seen.lock().unwrap_or_else(PoisonError::into_inner).clone(),
        [("/echo".to_owned(), None)]
    );
    // Over https the same route does get the token.
    c.get(format!("{https}/echo")).send().await.expect("echo");
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let token = seen[1]
        .1
        .as_deref()
        .map(|v| String::from_utf8_lossy(v).into_owned());
    assert_eq!(audience_of(&keys, token.as_deref()).await, "ledger");
}

#[tokio::test]
async fn a_refusal_shows_neither_the_token_nor_the_urls_credentials_or_query() {
    let keys = keys();
    let c = client(
        AsapMiddleware::new(&keys.signer, aud("ledger"))
            .allow_origins([Origin::parse("https://ledger.internal").expect("origin")]),
    );
    let url = reqwest::Url::parse("https://svc:s3cr3t@evil.example:8443/hook?sig=s3cr3t").expect("url");
    let err = c
        .execute(reqwest::Request::new(http::Method::GET, url))
        .await
        .expect_err("refused");
    let text = format!("{err} {err:?}");
    assert!(text.contains("https://evil.example:8443"), "{text}");
    assert!(!text.contains("s3cr3t") && !text.contains("/hook"), "{text}");
    assert!(!text.contains("Bearer") && !text.contains("eyJ"), "{text}");
}
