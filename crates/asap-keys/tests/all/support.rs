//! A key repository server on 127.0.0.1 whose answers the test controls and which counts the
//! requests it sees, plus key and token helpers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asap_core::{
    Audience, KeyId, KeyKind, KeySpec, PrivateKey, PublicKeySource, Signer, SigningKey, Verified, Verifier,
    VerifyError,
};
use asap_keys::{CachePolicy, FetchBudget, HttpKeyRepository, HttpKeyRepositoryBuilder};
use asap_testkit::tls::TestCa;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Response, Uri};
use tokio::sync::Semaphore;

/// What the server answers.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: String,
    pub(crate) cache_control: Option<String>,
    pub(crate) delay: Duration,
    pub(crate) hold: Option<Hold>,
}

/// Holds the requests it is given to until [`release`](Hold::release), and tells the test when
/// one arrives: a fetch kept in flight for exactly as long as the test needs, no timing.
#[derive(Clone, Debug)]
pub(crate) struct Hold {
    arrived: Arc<Semaphore>,
    released: Arc<Semaphore>,
}

impl Hold {
    pub(crate) fn new() -> Hold {
        Hold {
            arrived: Arc::new(Semaphore::new(0)),
            released: Arc::new(Semaphore::new(0)),
        }
    }

    /// Waits until one more held request has arrived.
    pub(crate) async fn arrival(&self) {
        self.arrived.acquire().await.expect("open").forget();
    }

    /// Lets every held request (and every later one) be answered.
    pub(crate) fn release(&self) {
        self.released.close();
    }
}

impl Reply {
    pub(crate) fn pem(body: impl Into<String>) -> Reply {
        Reply {
            status: 200,
            content_type: "application/x-pem-file".into(),
            body: body.into(),
            cache_control: None,
            delay: Duration::ZERO,
            hold: None,
        }
    }

    pub(crate) fn status(status: u16) -> Reply {
        Reply {
            status,
            content_type: "text/plain".into(),
            body: String::new(),
            cache_control: None,
            delay: Duration::ZERO,
            hold: None,
        }
    }

    pub(crate) fn cache_control(mut self, value: &str) -> Reply {
        self.cache_control = Some(value.into());
        self
    }

    pub(crate) fn content_type(mut self, value: &str) -> Reply {
        self.content_type = value.into();
        self
    }

    pub(crate) fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    /// Answered only once `hold` is released.
    pub(crate) fn hold(mut self, hold: &Hold) -> Reply {
        self.hold = Some(hold.clone());
        self
    }
}

#[derive(Default)]
struct ServerState {
    keys: Mutex<HashMap<String, Reply>>,
    /// When set, answers every request (a repository that is down, a proxy error page).
    override_all: Mutex<Option<Reply>>,
    hits: AtomicUsize,
    paths: Mutex<Vec<String>>,
    accept: Mutex<Vec<String>>,
}

/// A key repository on https://127.0.0.1:<port>/.
#[derive(Clone)]
pub(crate) struct KeyServer {
    pub(crate) addr: SocketAddr,
    state: Arc<ServerState>,
}

impl KeyServer {
    pub(crate) async fn start(ca: &TestCa) -> KeyServer {
        let state = Arc::new(ServerState::default());
        let router = Router::new().fallback(serve).with_state(state.clone());
        let addr = asap_testkit::http::spawn_https(router, ca).await;
        KeyServer { addr, state }
    }

    pub(crate) async fn start_plain() -> KeyServer {
        let state = Arc::new(ServerState::default());
        let router = Router::new().fallback(serve).with_state(state.clone());
        let addr = asap_testkit::http::spawn_http(router).await;
        KeyServer { addr, state }
    }

    pub(crate) fn url(&self) -> String {
        format!("https://127.0.0.1:{}/", self.addr.port())
    }

    pub(crate) fn publish(&self, kid: &str, reply: Reply) {
        self.state
            .keys
            .lock()
            .expect("lock")
            .insert(kid.to_owned(), reply);
    }

    pub(crate) fn publish_key(&self, kid: &KeyId, key: &PrivateKey) {
        self.publish(
            kid.as_str(),
            Reply::pem(key.public_key().expect("public").to_pem()),
        );
    }

    pub(crate) fn answer_everything_with(&self, reply: Option<Reply>) {
        *self.state.override_all.lock().expect("lock") = reply;
    }

    pub(crate) fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    pub(crate) fn paths(&self) -> Vec<String> {
        self.state.paths.lock().expect("lock").clone()
    }

    pub(crate) fn accept_headers(&self) -> Vec<String> {
        self.state.accept.lock().expect("lock").clone()
    }
}

async fn serve(State(state): State<Arc<ServerState>>, uri: Uri, headers: HeaderMap) -> Response<Body> {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let path = uri.path().to_owned();
    state.paths.lock().expect("lock").push(path.clone());
    if let Some(accept) = headers.get("accept").and_then(|v| v.to_str().ok()) {
        state.accept.lock().expect("lock").push(accept.to_owned());
    }
    let reply = state
        .override_all
        .lock()
        .expect("lock")
        .clone()
        .or_else(|| {
            let keys = state.keys.lock().expect("lock");
            keys.get(path.trim_start_matches('/')).cloned()
        })
        .unwrap_or_else(|| Reply::status(404));
    if let Some(hold) = &reply.hold {
        hold.arrived.add_permits(1);
        // Closed on release.
        let _ = hold.released.acquire().await;
    }
    tokio::time::sleep(reply.delay).await;
    let mut response = Response::builder()
        .status(reply.status)
        .header("content-type", reply.content_type);
    if let Some(cc) = reply.cache_control {
        response = response.header("cache-control", cc);
    }
    response.body(Body::from(reply.body)).expect("response")
}

/// A builder for a repository at `url` that trusts only the test CA.
pub(crate) fn repo(ca: &TestCa, url: &str) -> HttpKeyRepositoryBuilder {
    HttpKeyRepository::builder(url)
        .root_certificates_pem(ca.root_pem())
        .timeout(Duration::from_secs(5))
}

/// The default cache policy, changed by `edit`.
pub(crate) fn policy(edit: impl FnOnce(&mut CachePolicy)) -> CachePolicy {
    let mut policy = CachePolicy::default();
    edit(&mut policy);
    policy
}

/// A fetch budget that never refuses within a test's few hundred lookups.
pub(crate) fn unlimited() -> FetchBudget {
    let mut budget = FetchBudget::default();
    budget.burst = 100_000;
    budget.max_in_flight = 100_000;
    budget
}

/// A port on 127.0.0.1 that refuses connections (bound, then released).
pub(crate) fn refused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

pub(crate) fn kid(s: &str) -> KeyId {
    KeyId::parse(s).expect("valid kid")
}

pub(crate) fn p256() -> PrivateKey {
    PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("generate")
}

pub(crate) fn aud() -> Audience {
    Audience::new("ledger").expect("audience")
}

pub(crate) fn verifier(keys: impl PublicKeySource + 'static, issuers: &[&str]) -> Verifier {
    Verifier::builder(keys)
        .audience(aud())
        .allowed_issuers(issuers.iter().copied())
        .enable_eddsa(true)
        .build()
        .expect("verifier")
}

/// Signs a token with `key` under `kid` and verifies it against `keys`.
pub(crate) async fn sign_and_verify(
    keys: impl PublicKeySource + 'static,
    issuer: &str,
    kid: KeyId,
    key: PrivateKey,
) -> Result<Verified, VerifyError> {
    let signer = Signer::builder(issuer)
        .key(SigningKey::new(kid, key, None).expect("signing key"))
        .build()
        .expect("signer");
    let token = signer.sign(&aud()).expect("sign");
    verifier(keys, &[issuer]).verify(token.as_str()).await
}

/// The `FetchError` inside an `Unavailable` lookup error.
pub(crate) fn fetch_error(err: &asap_core::KeySourceError) -> &asap_keys::FetchError {
    match err {
        asap_core::KeySourceError::Unavailable(source) => source
            .downcast_ref::<asap_keys::FetchError>()
            .unwrap_or_else(|| panic!("not a FetchError: {source}")),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// Whether a tool is on PATH; in CI a missing tool is a failure, elsewhere a skip.
pub(crate) fn require_tool(name: &str) -> bool {
    let found = std::process::Command::new(name)
        .arg("-V")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "test prerequisite missing (CI is set): {name}"
        );
        eprintln!("skipping: {name} is not installed");
    }
    found
}
