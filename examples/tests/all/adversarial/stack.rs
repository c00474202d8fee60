//! The stack under attack and the tokens the attacks start from.
//!
//! A key repository on https://127.0.0.1 that counts requests and can be made hostile per kid,
//! an axum service behind `AsapLayer` whose verifier fetches keys from it, and claims that pass
//! every rule at [`NOW`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asap_core::{
    Algorithm, Audience, KeyKind, KeySpec, ManualClock, PrivateKey, Verifier, VerifierBuilder, VerifyError,
};
use asap_keys::HttpKeyRepository;
use asap_testkit::forge;
use asap_testkit::tls::TestCa;
use asap_tower::{AsapLayer, Authenticated, default_response};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Response, Uri};
use axum::routing::get;
use serde_json::{Value, json};

/// The verifier's clock: every token's times are relative to it.
pub(super) const NOW: i64 = 1_900_000_000;
pub(super) const ISSUER: &str = "svc";
pub(super) const AUDIENCE: &str = "api";
pub(super) const KID: &str = "svc/k1";
pub(super) const KID_521: &str = "svc/k521";

// ---------------------------------------------------------------------------------------------
// A key repository on https://127.0.0.1 that counts requests and can be made hostile per path.

#[derive(Clone)]
pub(super) enum Answer {
    /// 200 with a Content-Type and a body.
    Body(&'static str, String),
    /// Waits, then answers a valid PEM.
    Slow(Duration, String),
    /// 302 to another server.
    Redirect(String),
    /// 200, PEM type, a body of this many bytes.
    Huge(usize),
}

#[derive(Default)]
struct RepoState {
    answers: Mutex<HashMap<String, Answer>>,
    hits: AtomicUsize,
    paths: Mutex<Vec<String>>,
}

#[derive(Clone)]
pub(super) struct Repo {
    addr: SocketAddr,
    state: Arc<RepoState>,
}

impl Repo {
    pub(super) async fn start(ca: &TestCa) -> Repo {
        let state = Arc::new(RepoState::default());
        let router = Router::new().fallback(repo_answer).with_state(state.clone());
        let addr = asap_testkit::http::spawn_https(router, ca).await;
        Repo { addr, state }
    }

    pub(super) fn url(&self) -> String {
        format!("https://127.0.0.1:{}/", self.addr.port())
    }

    pub(super) fn set(&self, kid: &str, answer: Answer) {
        self.state
            .answers
            .lock()
            .expect("lock")
            .insert(format!("/{kid}"), answer);
    }

    pub(super) fn publish(&self, kid: &str, key: &PrivateKey) {
        self.set(
            kid,
            Answer::Body(
                "application/x-pem-file",
                key.public_key().expect("public").to_pem(),
            ),
        );
    }

    pub(super) fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    pub(super) fn paths(&self) -> Vec<String> {
        self.state.paths.lock().expect("lock").clone()
    }
}

async fn repo_answer(State(state): State<Arc<RepoState>>, uri: Uri) -> Response<Body> {
    state.hits.fetch_add(1, Ordering::SeqCst);
    state
        .paths
        .lock()
        .expect("lock")
        .push(uri.path_and_query().map_or_else(String::new, ToString::to_string));
    let answer = state.answers.lock().expect("lock").get(uri.path()).cloned();
    let pem = |body: String| {
        Response::builder()
            .header("content-type", "application/x-pem-file")
            .body(Body::from(body))
            .expect("response")
    };
    match answer {
        None => Response::builder()
            .status(404)
            .body(Body::empty())
            .expect("response"),
        Some(Answer::Body(content_type, body)) => Response::builder()
            .header("content-type", content_type)
            .body(Body::from(body))
            .expect("response"),
        Some(Answer::Slow(delay, body)) => {
            tokio::time::sleep(delay).await;
            pem(body)
        }
        Some(Answer::Redirect(location)) => Response::builder()
            .status(302)
            .header("location", location)
            .body(Body::empty())
            .expect("response"),
        Some(Answer::Huge(len)) => pem("A".repeat(len)),
    }
}

// ---------------------------------------------------------------------------------------------
// The service under attack.

pub(super) struct Stack {
    pub(super) ca: TestCa,
    pub(super) repo: Repo,
    pub(super) key: PrivateKey,
    pub(super) key_521: PrivateKey,
    pub(super) verifier: Verifier,
    pub(super) app: SocketAddr,
    client: reqwest::Client,
}

/// What the service answered: the status, the refusal (the `VerifyError` as `Debug`, added by
/// the test's rejection hook on top of the default response) and the challenge.
#[derive(Debug)]
pub(super) struct Answered {
    pub(super) status: u16,
    pub(super) refusal: String,
    pub(super) challenge: String,
    pub(super) body: String,
}

/// `Debug` of the error, with non-ASCII characters escaped so that it fits in a header.
fn refusal_text(error: &VerifyError) -> String {
    format!("{error:?}")
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                c.escape_unicode().to_string()
            }
        })
        .collect()
}

impl Stack {
    pub(super) async fn start() -> Stack {
        Stack::start_with(|b| b).await
    }

    pub(super) async fn start_with(configure: impl FnOnce(VerifierBuilder) -> VerifierBuilder) -> Stack {
        let ca = TestCa::new();
        let repo = Repo::start(&ca).await;
        let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("p256");
        let key_521 = PrivateKey::generate(KeySpec::Curve(KeyKind::P521)).expect("p521");
        repo.publish(KID, &key);
        repo.publish(KID_521, &key_521);
        let keys = HttpKeyRepository::builder(repo.url())
            .root_certificates_pem(ca.root_pem())
            // Room for a cold TLS handshake on a loaded machine, under the 5 s a slow answer is
            // allowed (key_repository.rs).
            .timeout(Duration::from_secs(2))
            .build()
            .expect("key repository");
        let builder = Verifier::builder(keys)
            .audience(Audience::new(AUDIENCE).expect("audience"))
            .allowed_issuers([ISSUER, "other"])
            .clock(Arc::new(ManualClock::new(NOW)));
        let verifier = configure(builder).build().expect("verifier");
        let layer = AsapLayer::new(verifier.clone()).on_rejection(|error| {
            let mut response = default_response(error);
            if let Ok(value) = HeaderValue::from_str(&refusal_text(error)) {
                response.headers_mut().insert("x-refusal", value);
            }
            response
        });
        let router = Router::new()
            .route(
                "/whoami",
                get(|Authenticated(caller): Authenticated| async move { caller.issuer().to_owned() }),
            )
            .layer(layer);
        let app = asap_testkit::http::spawn_http(router).await;
        Stack {
            ca,
            repo,
            key,
            key_521,
            verifier,
            app,
            client: reqwest::Client::new(),
        }
    }

    /// `GET /whoami` with these `Authorization` header values.
    pub(super) async fn call(&self, authorization: &[&str]) -> Answered {
        let mut request = self.client.get(format!("http://{}/whoami", self.app));
        for value in authorization {
            request = request.header("authorization", *value);
        }
        let response = request.send().await.expect("request");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default()
        };
        let (refusal, challenge) = (header("x-refusal"), header("www-authenticate"));
        let status = response.status().as_u16();
        let body = response.text().await.expect("body");
        Answered {
            status,
            refusal,
            challenge,
            body,
        }
    }

    pub(super) async fn bearer(&self, token: &str) -> Answered {
        self.call(&[&format!("Bearer {token}")]).await
    }

    /// Sends `token` and asserts the status and the exact refusal.
    pub(super) async fn refused(&self, case: &str, token: &str, status: u16, refusal: &str) {
        let got = self.bearer(token).await;
        assert_eq!(
            (got.status, got.refusal.as_str()),
            (status, refusal),
            "{case}: {got:?}"
        );
        if status == 401 {
            assert_eq!(got.challenge, "Bearer error=\"invalid_token\"", "{case}");
        }
        assert!(!got.body.contains(token), "{case}: the token is echoed");
    }

    /// Sends `token` and asserts the status and that the refusal starts with `prefix` (for
    /// variants that carry a free-text reason).
    pub(super) async fn refused_like(&self, case: &str, token: &str, status: u16, prefix: &str) {
        let got = self.bearer(token).await;
        assert_eq!(got.status, status, "{case}: {got:?}");
        assert!(got.refusal.starts_with(prefix), "{case}: {got:?}");
    }

    pub(super) async fn accepted(&self, case: &str, token: &str) {
        let got = self.bearer(token).await;
        assert_eq!((got.status, got.body.as_str()), (200, ISSUER), "{case}: {got:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens: good claims to start from, signed through the public seam.

static JTI: AtomicU64 = AtomicU64::new(1);

/// Claims that pass every rule at `NOW`, each with a fresh `jti`.
pub(super) fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": ISSUER,
        "aud": AUDIENCE,
        "jti": format!("jti-{}", JTI.fetch_add(1, Ordering::SeqCst)),
        "iat": NOW,
        "exp": NOW + 60,
    })
}

/// [`claims`], changed by `mutate`.
pub(super) fn with_mutated(mutate: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut c = claims();
    mutate(c.as_object_mut().expect("object"));
    c
}

pub(super) fn es256_header() -> Value {
    json!({"alg": "ES256", "kid": KID, "typ": "JWT"})
}

/// Any header and claims, validly signed with `key` under `alg` (`PrivateKey::sign`).
pub(super) fn signed(header: &Value, claims: &Value, key: &PrivateKey, alg: Algorithm) -> String {
    forge::signed(header, claims, |input| key.sign(alg, input).expect("sign"))
}

/// Any header and claims texts (repeated keys, non-objects), validly signed with `key`.
pub(super) fn signed_text(header: &str, claims: &str, key: &PrivateKey, alg: Algorithm) -> String {
    forge::signed_text(header, claims, |input| key.sign(alg, input).expect("sign"))
}
