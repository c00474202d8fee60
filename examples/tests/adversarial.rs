//! The attacker's view: every crate attacked through its public interface, one test per attack
//! class, each asserting the exact refusal (error variant and HTTP status) and, where it
//! matters, that the key repository was never asked.
//!
//! The stack under attack is real: an axum service behind `asap_tower::AsapLayer`, a verifier
//! whose keys come from `asap_keys::HttpKeyRepository`, and a key repository served over HTTPS
//! on 127.0.0.1 that counts every request. Tokens are forged here byte by byte, signed through
//! the public signing seam (`PrivateKey::sign`) when the attack needs a valid signature.
//! `docs/security.md` maps each attack class to its test.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asap_core::{
    Algorithm, Audience, InMemoryReplayGuard, KeyKind, KeySpec, ManualClock, PrivateKey, TokenError,
    Verifier, VerifierBuilder, VerifyError,
};
use asap_keys::{HttpKeyRepository, LoadError};
use asap_testkit::tls::TestCa;
use asap_tower::{AsapLayer, Authenticated, default_response};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Response, Uri};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use connect_qsh::{
    AuthError, Authenticator, ConnectSigner, InMemorySharedSecretStore, QshBinding, QshPolicy, SharedSecret,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const NOW: i64 = 1_900_000_000;
const ISSUER: &str = "svc";
const AUDIENCE: &str = "api";
const KID: &str = "svc/k1";
const KID_521: &str = "svc/k521";

// ---------------------------------------------------------------------------------------------
// A key repository on https://127.0.0.1 that counts requests and can be made hostile per path.

#[derive(Clone)]
enum Answer {
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
struct Repo {
    addr: SocketAddr,
    state: Arc<RepoState>,
}

impl Repo {
    async fn start(ca: &TestCa) -> Repo {
        let state = Arc::new(RepoState::default());
        let router = Router::new().fallback(repo_answer).with_state(state.clone());
        let addr = asap_testkit::http::spawn_https(router, ca).await;
        Repo { addr, state }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/", self.addr.port())
    }

    fn set(&self, kid: &str, answer: Answer) {
        self.state
            .answers
            .lock()
            .expect("lock")
            .insert(format!("/{kid}"), answer);
    }

    fn publish(&self, kid: &str, key: &PrivateKey) {
        self.set(
            kid,
            Answer::Body(
                "application/x-pem-file",
                key.public_key().expect("public").to_pem(),
            ),
        );
    }

    fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    fn paths(&self) -> Vec<String> {
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

struct Stack {
    ca: TestCa,
    repo: Repo,
    key: PrivateKey,
    key_521: PrivateKey,
    verifier: Verifier,
    app: SocketAddr,
    client: reqwest::Client,
}

/// What the service answered: the status, the refusal (the `VerifyError` as `Debug`, added by
/// the test's rejection hook on top of the default response) and the challenge.
#[derive(Debug)]
struct Answered {
    status: u16,
    refusal: String,
    challenge: String,
    body: String,
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
    async fn start() -> Stack {
        Stack::start_with(|b| b).await
    }

    async fn start_with(configure: impl FnOnce(VerifierBuilder) -> VerifierBuilder) -> Stack {
        let ca = TestCa::new();
        let repo = Repo::start(&ca).await;
        let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("p256");
        let key_521 = PrivateKey::generate(KeySpec::Curve(KeyKind::P521)).expect("p521");
        repo.publish(KID, &key);
        repo.publish(KID_521, &key_521);
        let keys = HttpKeyRepository::builder(repo.url())
            .root_certificates_pem(ca.root_pem())
            .timeout(Duration::from_secs(1))
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
    async fn call(&self, authorization: &[&str]) -> Answered {
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

    async fn bearer(&self, token: &str) -> Answered {
        self.call(&[&format!("Bearer {token}")]).await
    }

    /// Sends `token` and asserts the status and the exact refusal.
    async fn refused(&self, case: &str, token: &str, status: u16, refusal: &str) {
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
    async fn refused_like(&self, case: &str, token: &str, status: u16, prefix: &str) {
        let got = self.bearer(token).await;
        assert_eq!(got.status, status, "{case}: {got:?}");
        assert!(got.refusal.starts_with(prefix), "{case}: {got:?}");
    }

    async fn accepted(&self, case: &str, token: &str) {
        let got = self.bearer(token).await;
        assert_eq!((got.status, got.body.as_str()), (200, ISSUER), "{case}: {got:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Forging tokens.

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

static JTI: AtomicU64 = AtomicU64::new(1);

/// Claims that pass every rule at `NOW`.
fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": ISSUER,
        "aud": AUDIENCE,
        "jti": format!("jti-{}", JTI.fetch_add(1, Ordering::SeqCst)),
        "iat": NOW,
        "exp": NOW + 60,
    })
}

fn es256_header() -> Value {
    json!({"alg": "ES256", "kid": KID, "typ": "JWT"})
}

/// `header.claims.signature` from raw JSON texts, signed with `key` under `alg`.
fn forge_raw(header: &str, claims: &str, key: &PrivateKey, alg: Algorithm) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let sig = key.sign(alg, input.as_bytes()).expect("sign");
    format!("{input}.{}", b64(&sig))
}

fn forge(header: &Value, claims: &Value, key: &PrivateKey, alg: Algorithm) -> String {
    forge_raw(&header.to_string(), &claims.to_string(), key, alg)
}

/// A token with a signature chosen by the attacker.
fn with_signature(header: &Value, claims: &Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(sig)
    )
}

fn hmac(alg: &'static aws_lc_rs::hmac::Algorithm, secret: &[u8], input: &str) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(*alg, secret);
    aws_lc_rs::hmac::sign(&key, input.as_bytes()).as_ref().to_vec()
}

fn with_mutated(mutate: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut c = claims();
    mutate(c.as_object_mut().expect("object"));
    c
}

// ---------------------------------------------------------------------------------------------
// ASAP: framing, header, kid, claims, signatures, transport, replay.

#[tokio::test]
async fn framing_and_size_attacks_are_refused_before_any_key_fetch() {
    let s = Stack::start().await;
    let good = forge(&es256_header(), &claims(), &s.key, Algorithm::ES256);
    let (h, c, sig) = {
        let mut parts = good.split('.');
        (
            parts.next().expect("h").to_owned(),
            parts.next().expect("c").to_owned(),
            parts.next().expect("s").to_owned(),
        )
    };

    // 1 MB: refused by size before any parsing; over HTTP the server's header limit answers
    // first (431), and neither reaches the key repository.
    let mega = "A".repeat(1 << 20);
    let err = s.verifier.verify(&mega).await.expect_err("1 MB token");
    assert!(
        matches!(err, VerifyError::Token(TokenError::TooLarge { len, max: 8192 }) if len == 1 << 20),
        "{err:?}"
    );
    assert_eq!(err.outcome().status(), 401);
    let over_http = s.bearer(&mega).await;
    assert_eq!(over_http.status, 431, "{over_http:?}");
    let just_over = format!("{h}.{c}.{}", "A".repeat(8192));
    s.refused(
        "8 KiB + a signature",
        &just_over,
        401,
        &format!("Token(TooLarge {{ len: {}, max: 8192 }})", just_over.len()),
    )
    .await;

    const MALFORMED_3: &str = "Token(Malformed(\"a token has exactly three segments separated by '.'\"))";
    for (case, token) in [
        ("a token of dots", ".".repeat(4000)),
        ("two segments", format!("{h}.{c}")),
        ("four segments", format!("{good}.{sig}")),
        ("five segments (JWE shape)", format!("{h}.{c}.{c}.{c}.{sig}")),
    ] {
        s.refused(case, &token, 401, MALFORMED_3).await;
    }
    for (case, token) in [
        ("two dots", "..".to_owned()),
        ("empty header", format!(".{c}.{sig}")),
        ("empty signature", format!("{h}.{c}.")),
        ("padding", format!("{h}=.{c}.{sig}")),
        (
            "standard alphabet",
            format!("{h}.{c}.{}", sig.replace('-', "+").replace('_', "/")),
        ),
        ("invalid character", format!("{h}!.{c}.{sig}")),
        ("one-character segment", format!("A.{c}.{sig}")),
        (
            "non-canonical trailing bits",
            format!("{h}.{c}.{}B", &sig[..sig.len() - 1]),
        ),
    ] {
        s.refused_like(case, &token, 401, "Token(Malformed(").await;
    }
    // Non-ASCII never gets past the transport rule over HTTP; given to the verifier directly it
    // is a framing error.
    let err = s
        .verifier
        .verify(&format!("{good}\u{e9}"))
        .await
        .expect_err("non-ASCII");
    assert!(
        matches!(err, VerifyError::Token(TokenError::Malformed(_))),
        "{err:?}"
    );
    for json_text in [
        "[]",
        "\"x\"",
        "null",
        "1",
        "true",
        "{\"alg\":\"ES256\"}x",
        "{",
        "\u{feff}{}",
    ] {
        let as_header = format!("{}.{c}.{sig}", b64(json_text.as_bytes()));
        s.refused_like(
            &format!("header {json_text:?}"),
            &as_header,
            401,
            "Token(Malformed(",
        )
        .await;
        let as_claims = forge_raw(&es256_header().to_string(), json_text, &s.key, Algorithm::ES256);
        s.refused_like(
            &format!("claims {json_text:?}"),
            &as_claims,
            401,
            "Token(Malformed(",
        )
        .await;
    }
    // Nesting deeper than the JSON parser's recursion limit: an error, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(3000), "]".repeat(3000));
    let deep_claims = format!("{{\"x\":{deep}}}");
    let token = forge_raw(
        &es256_header().to_string(),
        &deep_claims,
        &s.key,
        Algorithm::ES256,
    );
    s.refused_like("deeply nested claims", &token, 401, "Token(Malformed(")
        .await;

    // Two parsers that pick different duplicates would read one token two ways.
    let header_dup = format!(
        "{}.{c}.{sig}",
        b64(br#"{"alg":"ES256","kid":"svc/k1","alg":"none"}"#)
    );
    s.refused("duplicate alg", &header_dup, 401, "Token(DuplicateKey(\"alg\"))")
        .await;
    let claims_dup = format!(
        r#"{{"iss":"svc","iss":"other","aud":"api","jti":"d1","iat":{NOW},"exp":{}}}"#,
        NOW + 60
    );
    let token = forge_raw(&es256_header().to_string(), &claims_dup, &s.key, Algorithm::ES256);
    s.refused(
        "duplicate iss (validly signed)",
        &token,
        401,
        "Token(DuplicateKey(\"iss\"))",
    )
    .await;
    let nested_dup = format!(
        r#"{{"iss":"svc","aud":"api","jti":"d2","iat":{NOW},"exp":{},"ctx":{{"role":"user","role":"admin"}}}}"#,
        NOW + 60
    );
    let token = forge_raw(&es256_header().to_string(), &nested_dup, &s.key, Algorithm::ES256);
    s.refused(
        "duplicate nested key",
        &token,
        401,
        "Token(DuplicateKey(\"role\"))",
    )
    .await;
    let escaped_dup = format!(
        r#"{{"iss":"svc","\u0069ss":"other","aud":"api","jti":"d3","iat":{NOW},"exp":{}}}"#,
        NOW + 60
    );
    let token = forge_raw(
        &es256_header().to_string(),
        &escaped_dup,
        &s.key,
        Algorithm::ES256,
    );
    s.refused(
        "duplicate spelled with an escape",
        &token,
        401,
        "Token(DuplicateKey(\"iss\"))",
    )
    .await;

    assert_eq!(s.repo.hits(), 0, "framing attacks reached the key repository");
    s.accepted("the unmodified token", &good).await;
    assert_eq!(s.repo.hits(), 1);
}

#[tokio::test]
async fn header_attacks_none_hmac_embedded_keys_and_crit_never_fetch_a_key() {
    let s = Stack::start().await;
    // A server the attacker controls, named by jku/x5u: it must never be contacted.
    let attacker = Repo::start(&s.ca).await;
    let attacker_key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
    attacker.publish("jwks.json", &attacker_key);
    let c = claims();

    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": alg, "kid": KID});
        let unsigned = format!(
            "{}.{}.",
            b64(header.to_string().as_bytes()),
            b64(c.to_string().as_bytes())
        );
        let refusal = format!("Token(Algorithm(Forbidden({alg:?})))");
        s.refused(&format!("alg {alg}, empty signature"), &unsigned, 401, &refusal)
            .await;
        let token = with_signature(&header, &c, b"x");
        s.refused(
            &format!("alg {alg}"),
            &token,
            401,
            &format!("Token(Algorithm(Forbidden({alg:?})))"),
        )
        .await;
    }

    // The classic confusion: HMAC keyed with the verifier's own public key bytes.
    let public = s.key.public_key().expect("public");
    let pem = public.to_pem();
    let secrets: [&[u8]; 2] = [pem.as_bytes(), public.spki_der()];
    for secret in secrets {
        for (name, alg) in [
            ("HS256", &aws_lc_rs::hmac::HMAC_SHA256),
            ("HS384", &aws_lc_rs::hmac::HMAC_SHA384),
            ("HS512", &aws_lc_rs::hmac::HMAC_SHA512),
        ] {
            let header = json!({"alg": name, "kid": KID});
            let input = format!(
                "{}.{}",
                b64(header.to_string().as_bytes()),
                b64(c.to_string().as_bytes())
            );
            let token = format!("{input}.{}", b64(&hmac(alg, secret, &input)));
            s.refused(
                &format!("{name} keyed with the public key"),
                &token,
                401,
                &format!("Token(Algorithm(Forbidden({name:?})))"),
            )
            .await;
        }
    }

    // Headers that would let the token pick its own key or its own rules, each on a token
    // validly signed by the attacker's key.
    let attacker_jwk = json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"});
    let jwks_url = format!("{}jwks.json", attacker.url());
    for (name, value) in [
        ("jwk", attacker_jwk),
        ("jku", json!(jwks_url)),
        ("x5u", json!(jwks_url)),
        ("x5c", json!([b64(b"certificate")])),
        ("crit", json!(["exp"])),
    ] {
        let mut header = es256_header();
        header[name] = value;
        let token = forge(&header, &c, &attacker_key, Algorithm::ES256);
        s.refused(
            &format!("embedded {name}"),
            &token,
            401,
            &format!("Token(ForbiddenHeader({name:?}))"),
        )
        .await;
    }

    for (case, header, refusal) in [
        (
            "alg lower case",
            json!({"alg": "es256", "kid": KID}),
            "Token(Algorithm(Unknown(\"es256\")))",
        ),
        (
            "alg with a space",
            json!({"alg": "ES256 ", "kid": KID}),
            "Token(Algorithm(Unknown(\"ES256 \")))",
        ),
        (
            "alg array",
            json!({"alg": ["ES256"], "kid": KID}),
            "Token(MissingHeader(\"alg\"))",
        ),
        (
            "alg missing",
            json!({"kid": KID}),
            "Token(MissingHeader(\"alg\"))",
        ),
        (
            "kid missing",
            json!({"alg": "ES256"}),
            "Token(MissingHeader(\"kid\"))",
        ),
        (
            "kid number",
            json!({"alg": "ES256", "kid": 1}),
            "Token(MissingHeader(\"kid\"))",
        ),
        (
            "EdDSA not enabled",
            json!({"alg": "EdDSA", "kid": KID}),
            "AlgorithmNotEnabled(EdDSA)",
        ),
    ] {
        let token = with_signature(&header, &c, &[1; 64]);
        s.refused(case, &token, 401, refusal).await;
    }

    assert_eq!(s.repo.hits(), 0, "header attacks reached the key repository");
    assert_eq!(attacker.hits(), 0, "jku/x5u were followed");
}

#[tokio::test]
async fn kid_tricks_are_refused_before_any_key_fetch() {
    let s = Stack::start().await;
    let long = format!("svc/{}", "a".repeat(600));
    let cases: Vec<(&str, String, String)> = vec![
        (
            "traversal",
            "svc/../admin/k1".into(),
            "Kid(BadSegment(\"svc/../admin/k1\"))".into(),
        ),
        (
            "leading traversal",
            "../svc/k1".into(),
            "Kid(BadSegment(\"../svc/k1\"))".into(),
        ),
        (
            "dot segment",
            "svc/./k1".into(),
            "Kid(BadSegment(\"svc/./k1\"))".into(),
        ),
        (
            "absolute path",
            "/svc/k1".into(),
            "Kid(BadSegment(\"/svc/k1\"))".into(),
        ),
        (
            "doubled slash",
            "svc//k1".into(),
            "Kid(BadSegment(\"svc//k1\"))".into(),
        ),
        (
            "encoded traversal",
            "svc/%2e%2e/k1".into(),
            "Kid(BadCharacter('%'))".into(),
        ),
        (
            "encoded slash",
            "svc%2F..%2Fk1".into(),
            "Kid(BadCharacter('%'))".into(),
        ),
        (
            "backslash traversal",
            "svc\\..\\k1".into(),
            "Kid(BadCharacter('\\\\'))".into(),
        ),
        (
            "absolute URL",
            "https://evil.example/k1".into(),
            "Kid(BadCharacter(':'))".into(),
        ),
        (
            "protocol-relative",
            "//evil.example/k1".into(),
            "Kid(BadSegment(\"//evil.example/k1\"))".into(),
        ),
        (
            "userinfo",
            "svc@evil.example/k1".into(),
            "Kid(BadCharacter('@'))".into(),
        ),
        ("query", "svc/k1?x=1".into(), "Kid(BadCharacter('?'))".into()),
        ("fragment", "svc/k1#x".into(), "Kid(BadCharacter('#'))".into()),
        (
            "newline",
            "svc/k1\nHost: evil".into(),
            "Kid(BadCharacter('\\n'))".into(),
        ),
        ("NUL", "svc/k1\u{0}.pem".into(), "Kid(BadCharacter('\\0'))".into()),
        ("tab", "svc/k\t1".into(), "Kid(BadCharacter('\\t'))".into()),
        ("space", "svc/k 1".into(), "Kid(BadCharacter(' '))".into()),
        (
            "Cyrillic look-alike",
            "svc/\u{43a}1".into(),
            "Kid(BadCharacter('\\u{43a}'))".into(),
        ),
        (
            "fullwidth solidus",
            "svc\u{ff0f}k1".into(),
            "Kid(BadCharacter('\\u{ff0f}'))".into(),
        ),
        (
            "one dot leader",
            "svc/\u{2024}\u{2024}/k1".into(),
            "Kid(BadCharacter('\\u{2024}'))".into(),
        ),
        (
            "very long",
            long.clone(),
            format!("Kid(TooLong {{ len: {} }})", long.len()),
        ),
        ("empty", String::new(), "Kid(Empty)".into()),
        (
            "another issuer's key",
            "other/k1".into(),
            "Kid(NotOwnedByIssuer { kid: \"other/k1\", issuer: \"svc\" })".into(),
        ),
        (
            "issuer as a mere prefix",
            "svcadmin/k1".into(),
            "Kid(NotOwnedByIssuer { kid: \"svcadmin/k1\", issuer: \"svc\" })".into(),
        ),
        (
            "kid equal to the issuer (legacy switch off)",
            "svc".into(),
            "Kid(NotOwnedByIssuer { kid: \"svc\", issuer: \"svc\" })".into(),
        ),
    ];
    for (case, kid, refusal) in cases {
        let header = json!({"alg": "ES256", "kid": kid});
        let token = forge(&header, &claims(), &s.key, Algorithm::ES256);
        s.refused(case, &token, 401, &refusal).await;
    }
    // The issuer that owns the kid prefix but is not on the allow-list: 403, still no fetch.
    let token = forge(
        &json!({"alg": "ES256", "kid": "intruder/k1"}),
        &with_mutated(|c| {
            c.insert("iss".into(), json!("intruder"));
            c.insert("sub".into(), json!("intruder"));
        }),
        &s.key,
        Algorithm::ES256,
    );
    s.refused(
        "issuer not allowed",
        &token,
        403,
        "IssuerNotAllowed(\"intruder\")",
    )
    .await;
    assert_eq!(
        s.repo.hits(),
        0,
        "kid tricks reached the key repository: {:?}",
        s.repo.paths()
    );

    // A syntactically valid kid is fetched as exactly base + kid.
    s.accepted(
        "a valid kid",
        &forge(&es256_header(), &claims(), &s.key, Algorithm::ES256),
    )
    .await;
    assert_eq!(s.repo.paths(), vec![format!("/{KID}")]);
}

#[tokio::test]
async fn claim_type_and_boundary_attacks_get_the_rule_that_failed() {
    let s = Stack::start().await;
    let header = es256_header();
    let send = |c: Value| forge(&header, &c, &s.key, Algorithm::ES256);

    // Wrong types never reach the key repository.
    let typed: Vec<(&str, Value, &str)> = vec![
        (
            "iat as a float",
            with_mutated(|c| {
                c.insert("iat".into(), json!(1_900_000_000.5));
            }),
            "Token(InvalidClaim { claim: \"iat\", reason: ",
        ),
        (
            "iat as an exponent",
            with_mutated(|c| {
                c.insert("iat".into(), json!(1.9e9));
            }),
            "Token(InvalidClaim { claim: \"iat\", reason: ",
        ),
        (
            "exp as a string",
            with_mutated(|c| {
                c.insert("exp".into(), json!((NOW + 60).to_string()));
            }),
            "Token(InvalidClaim { claim: \"exp\", reason: ",
        ),
        (
            "exp above i64",
            with_mutated(|c| {
                c.insert("exp".into(), json!(u64::MAX));
            }),
            "Token(InvalidClaim { claim: \"exp\", reason: ",
        ),
        (
            "nbf as null",
            with_mutated(|c| {
                c.insert("nbf".into(), Value::Null);
            }),
            "Token(InvalidClaim { claim: \"nbf\", reason: ",
        ),
        (
            "iss empty",
            with_mutated(|c| {
                c.insert("iss".into(), json!(""));
            }),
            "Token(InvalidClaim { claim: \"iss\", reason: ",
        ),
        (
            "iss as an array",
            with_mutated(|c| {
                c.insert("iss".into(), json!([ISSUER]));
            }),
            "Token(InvalidClaim { claim: \"iss\", reason: ",
        ),
        (
            "jti as a number",
            with_mutated(|c| {
                c.insert("jti".into(), json!(7));
            }),
            "Token(InvalidClaim { claim: \"jti\", reason: ",
        ),
        (
            "jti empty",
            with_mutated(|c| {
                c.insert("jti".into(), json!(""));
            }),
            "Token(InvalidClaim { claim: \"jti\", reason: ",
        ),
        (
            "aud empty array",
            with_mutated(|c| {
                c.insert("aud".into(), json!([]));
            }),
            "Token(InvalidClaim { claim: \"aud\", reason: ",
        ),
        (
            "aud array with a number",
            with_mutated(|c| {
                c.insert("aud".into(), json!([AUDIENCE, 1]));
            }),
            "Token(InvalidClaim { claim: \"aud\", reason: ",
        ),
        (
            "aud as an object",
            with_mutated(|c| {
                c.insert("aud".into(), json!({"aud": AUDIENCE}));
            }),
            "Token(InvalidClaim { claim: \"aud\", reason: ",
        ),
        (
            "sub as a number",
            with_mutated(|c| {
                c.insert("sub".into(), json!(1));
            }),
            "Token(InvalidClaim { claim: \"sub\", reason: ",
        ),
        (
            "exp missing",
            with_mutated(|c| {
                c.remove("exp");
            }),
            "Token(MissingClaim(\"exp\"))",
        ),
        (
            "jti missing",
            with_mutated(|c| {
                c.remove("jti");
            }),
            "Token(MissingClaim(\"jti\"))",
        ),
    ];
    for (case, c, refusal) in typed {
        s.refused_like(case, &send(c), 401, refusal).await;
    }
    assert_eq!(s.repo.hits(), 0, "claim type errors reached the key repository");

    // Boundaries at NOW with the default 30 s leeway: exact values pass, one second more fails.
    let at = |iat: i64, exp: i64, nbf: Option<i64>| {
        with_mutated(|c| {
            c.insert("iat".into(), json!(iat));
            c.insert("exp".into(), json!(exp));
            if let Some(nbf) = nbf {
                c.insert("nbf".into(), json!(nbf));
            }
        })
    };
    s.accepted("exp = now - leeway", &send(at(NOW - 90, NOW - 30, None)))
        .await;
    s.accepted("iat = now + leeway", &send(at(NOW + 30, NOW + 90, None)))
        .await;
    s.accepted("lifetime 3600", &send(at(NOW - 10, NOW + 3590, None)))
        .await;
    s.accepted("iat = exp", &send(at(NOW, NOW, None))).await;
    let failing: Vec<(&str, Value, String)> = vec![
        (
            "exp = now - leeway - 1",
            at(NOW - 91, NOW - 31, None),
            format!("Token(Expired {{ exp: {}, now: {NOW} }})", NOW - 31),
        ),
        (
            "iat = now + leeway + 1",
            at(NOW + 31, NOW + 91, None),
            format!("Token(IssuedInFuture {{ iat: {}, now: {NOW} }})", NOW + 31),
        ),
        (
            "nbf = now + leeway + 1",
            at(NOW, NOW + 60, Some(NOW + 31)),
            format!("Token(NotYetValid {{ nbf: {}, now: {NOW} }})", NOW + 31),
        ),
        (
            "lifetime 3601",
            at(NOW - 10, NOW + 3591, None),
            "Token(BadLifetime { lifetime: 3601, max: 3600 })".to_owned(),
        ),
        (
            "exp before iat",
            at(NOW, NOW - 1, None),
            "Token(BadLifetime { lifetime: -1, max: 3600 })".to_owned(),
        ),
        (
            "exp = i64::MAX",
            at(NOW, i64::MAX, None),
            format!("Token(BadLifetime {{ lifetime: {}, max: 3600 }})", i64::MAX - NOW),
        ),
        (
            "iat = i64::MIN (exp - iat overflows)",
            at(i64::MIN, NOW, None),
            format!("Token(BadLifetime {{ lifetime: {}, max: 3600 }})", i64::MAX),
        ),
        (
            "aud differs in case",
            with_mutated(|c| {
                c.insert("aud".into(), json!("API"));
            }),
            "Token(AudienceMismatch)".to_owned(),
        ),
        (
            "aud with a trailing space",
            with_mutated(|c| {
                c.insert("aud".into(), json!("api "));
            }),
            "Token(AudienceMismatch)".to_owned(),
        ),
    ];
    for (case, c, refusal) in failing {
        s.refused(case, &send(c), 401, &refusal).await;
    }
    s.refused(
        "sub other than iss",
        &send(with_mutated(|c| {
            c.insert("sub".into(), json!("admin"));
        })),
        403,
        "SubjectMismatch { subject: \"admin\", issuer: \"svc\" }",
    )
    .await;
    // One key fetch for all of them: the key is cached.
    assert_eq!(s.repo.hits(), 1);
}

#[tokio::test]
async fn replay_races_let_exactly_one_request_through() {
    let guard = Arc::new(InMemoryReplayGuard::new(10_000));
    let s = Arc::new(Stack::start_with(|b| b.replay_guard(guard)).await);
    let token = forge(&es256_header(), &claims(), &s.key, Algorithm::ES256);
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (s, token) = (s.clone(), token.clone());
        tasks.push(tokio::spawn(async move { s.bearer(&token).await }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task"));
    }
    let passed = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(passed, 1, "{answers:?}");
    for answer in answers.iter().filter(|a| a.status != 200) {
        assert_eq!((answer.status, answer.refusal.as_str()), (401, "Replayed"));
    }
    // The same jti in a freshly signed token (new iat) is still a replay of (iss, jti).
    let mut again = serde_json::from_slice::<Value>(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).expect("claims"))
            .expect("b64"),
    )
    .expect("json");
    again["iat"] = json!(NOW - 1);
    s.refused(
        "same jti, new signature",
        &forge(&es256_header(), &again, &s.key, Algorithm::ES256),
        401,
        "Replayed",
    )
    .await;
}

/// A DER `ECDSA-Sig-Value` from a fixed-width `r || s`.
fn der_signature(p1363: &[u8]) -> Vec<u8> {
    fn integer(bytes: &[u8]) -> Vec<u8> {
        let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        let mut body = if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
            vec![0]
        } else {
            Vec::new()
        };
        body.extend(trimmed);
        let mut out = vec![0x02];
        push_len(&mut out, body.len());
        out.extend(body);
        out
    }
    fn push_len(out: &mut Vec<u8>, len: usize) {
        if len < 128 {
            out.push(u8::try_from(len).expect("short"));
        } else {
            out.push(0x81);
            out.push(u8::try_from(len).expect("one length byte"));
        }
    }
    let (r, s) = p1363.split_at(p1363.len() / 2);
    let body = [integer(r), integer(s)].concat();
    let mut out = vec![0x30];
    push_len(&mut out, body.len());
    out.extend(body);
    out
}

#[tokio::test]
async fn ecdsa_zero_and_wrong_length_signatures_are_refused() {
    let s = Stack::start().await;
    // The group orders: r = n and s = n are out of range, like 0.
    let n256 = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let n521 = hex(
        "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
         fa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409",
    );
    for (alg, kid, key, width, order) in [
        (Algorithm::ES256, KID, &s.key, 32usize, n256),
        (Algorithm::ES512, KID_521, &s.key_521, 66, n521),
    ] {
        let header = json!({"alg": alg.as_str(), "kid": kid});
        let c = claims();
        let good = forge(&header, &c, key, alg);
        let good_sig = URL_SAFE_NO_PAD
            .decode(good.split('.').nth(2).expect("sig"))
            .expect("b64");
        assert_eq!(good_sig.len(), 2 * width);
        s.accepted(&format!("{alg} as signed"), &good).await;
        let (r, sv) = good_sig.split_at(width);
        let mut bad: Vec<(&str, Vec<u8>)> = vec![
            ("r = s = 0", vec![0; 2 * width]),
            ("r = s = n", [order.clone(), order.clone()].concat()),
            ("r = 0, s valid", [vec![0; width], sv.to_vec()].concat()),
            ("r valid, s = 0", [r.to_vec(), vec![0; width]].concat()),
            ("all ones", vec![0xff; 2 * width]),
            ("r and s swapped", [sv, r].concat()),
            ("one byte short", good_sig[..2 * width - 1].to_vec()),
            ("one byte long", [good_sig.clone(), vec![0]].concat()),
            (
                "zero-padded r and s",
                [vec![0], r.to_vec(), vec![0], sv.to_vec()].concat(),
            ),
            ("a single byte", vec![0]),
            ("DER instead of P1363", der_signature(&good_sig)),
        ];
        if alg == Algorithm::ES512 {
            // 132 bytes of P-521 as 2 x 65 (a common off-by-one) plus padding.
            bad.push(("65-byte halves", [&r[1..], &sv[1..]].concat()));
        }
        for (case, sig) in bad {
            let token = with_signature(&header, &c, &sig);
            s.refused(&format!("{alg} {case}"), &token, 401, "Token(BadSignature)")
                .await;
        }
        // A valid signature over another message.
        let other = forge(&header, &claims(), key, alg);
        let spliced = format!(
            "{}.{}",
            good.rsplit_once('.').expect("dot").0,
            other.rsplit_once('.').expect("dot").1
        );
        s.refused(
            &format!("{alg} signature of another token"),
            &spliced,
            401,
            "Token(BadSignature)",
        )
        .await;
    }
    // The P-256 key named by the kid cannot verify an ES512 token (or the reverse).
    let token = with_signature(&json!({"alg": "ES512", "kid": KID}), &claims(), &[0; 132]);
    s.refused(
        "ES512 token on a P-256 kid",
        &token,
        401,
        "Token(KeyAlgorithmMismatch { alg: ES512, key: P256 })",
    )
    .await;
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

#[tokio::test]
async fn authorization_header_variants_through_the_layer_never_fetch_a_key() {
    let s = Stack::start().await;
    let good = forge(&es256_header(), &claims(), &s.key, Algorithm::ES256);
    const TWO: &str = "BadAuthorization(\"more than one Authorization header\")";
    const SHAPE: &str = "BadAuthorization(\"expected \\\"Bearer <token>\\\"\")";
    const ONE_SPACE: &str = "BadAuthorization(\"expected exactly one space, then the token\")";
    const SCHEME: &str = "BadAuthorization(\"the scheme must be Bearer\")";
    const TOKEN_CHARS: &str = "BadAuthorization(\"the token must be printable ASCII, without spaces\")";
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "two headers",
            vec![format!("Bearer {good}"), format!("Bearer {good}")],
            TWO,
        ),
        (
            "a good and an empty header",
            vec![format!("Bearer {good}"), String::new()],
            TWO,
        ),
        ("double space", vec![format!("Bearer  {good}")], ONE_SPACE),
        ("tab", vec![format!("Bearer\t{good}")], SHAPE),
        ("wrong scheme", vec![format!("Basic {good}")], SCHEME),
        ("Connect scheme", vec![format!("JWT {good}")], SCHEME),
        ("scheme glued", vec![format!("Bearer{good}")], SHAPE),
        ("scheme only", vec!["Bearer".to_owned()], SHAPE),
        // HTTP trims the trailing space, leaving the scheme alone.
        ("empty token", vec!["Bearer ".to_owned()], SHAPE),
        ("empty header", vec![String::new()], SHAPE),
        ("token only", vec![good.clone()], SHAPE),
        (
            "two tokens in one header",
            vec![format!("Bearer {good}, Bearer {good}")],
            TOKEN_CHARS,
        ),
        (
            "comma-joined",
            vec![format!("Bearer {good},{good}")],
            "Token(Malformed(\"a token has exactly three segments separated by '.'\"))",
        ),
    ];
    for (case, values, refusal) in cases {
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let got = s.call(&refs).await;
        assert_eq!(
            (got.status, got.refusal.as_str()),
            (401, refusal),
            "{case}: {got:?}"
        );
    }
    let missing = s.call(&[]).await;
    assert_eq!(
        (
            missing.status,
            missing.refusal.as_str(),
            missing.challenge.as_str()
        ),
        (401, "MissingToken", "Bearer")
    );

    // Bytes no client library would send, on a raw connection: never a 500.
    for raw in [
        &b"Authorization: Bearer \x01x.y.z\r\n"[..],
        b"Authorization: Bearer \xc3\x28.a.b\r\n",
        b"Authorization: Bearer\r\n a.b.c\r\n",
        b"Authorization : Bearer a.b.c\r\n",
    ] {
        let status = raw_status(s.app, raw).await;
        assert!(
            matches!(status, 400 | 401),
            "{:?} gave {status}",
            String::from_utf8_lossy(raw)
        );
    }
    assert_eq!(s.repo.hits(), 0, "header variants reached the key repository");
    // The scheme is case-insensitive: this is the one that passes.
    let ok = s.call(&[&format!("bearer {good}")]).await;
    assert_eq!(ok.status, 200, "{ok:?}");
}

/// Sends `GET /whoami` with `header_lines` on a raw connection; the status code.
async fn raw_status(addr: SocketAddr, header_lines: &[u8]) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut request = b"GET /whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".to_vec();
    request.extend_from_slice(header_lines);
    request.extend_from_slice(b"\r\n");
    stream.write_all(&request).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response);
    text.get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[tokio::test]
async fn hostile_key_repositories_fail_closed() {
    let s = Stack::start().await;
    // The attacker's server, where a redirect would lead: it serves the attacker's key.
    let attacker = Repo::start(&s.ca).await;
    let attacker_key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
    attacker.publish("svc/redirect", &attacker_key);

    let public_pem = s.key.public_key().expect("public").to_pem();
    let attacker_pem = attacker_key.public_key().expect("public").to_pem();
    s.repo.set("svc/huge", Answer::Huge(1 << 20));
    s.repo.set(
        "svc/slow",
        Answer::Slow(Duration::from_secs(10), public_pem.clone()),
    );
    s.repo.set(
        "svc/redirect",
        Answer::Redirect(format!("{}svc/redirect", attacker.url())),
    );
    s.repo
        .set("svc/html", Answer::Body("text/html", public_pem.clone()));
    s.repo.set(
        "svc/private",
        Answer::Body("application/x-pem-file", s.key.to_pkcs8_pem().expect("pem")),
    );
    s.repo.set(
        "svc/certificate",
        Answer::Body("application/x-pem-file", s.ca.server_cert_pem()),
    );
    s.repo.set(
        "svc/two-keys",
        Answer::Body("application/x-pem-file", format!("{attacker_pem}{public_pem}")),
    );
    s.repo.set(
        "svc/p384",
        Answer::Body(
            "application/x-pem-file",
            PrivateKey::generate(KeySpec::Curve(KeyKind::P384))
                .expect("p384")
                .public_key()
                .expect("public")
                .to_pem(),
        ),
    );

    let token_for = |kid: &str, key: &PrivateKey| {
        forge(
            &json!({"alg": "ES256", "kid": kid}),
            &claims(),
            key,
            Algorithm::ES256,
        )
    };
    for (kid, status, refusal) in [
        ("svc/huge", 503, "KeyUnavailable("),
        ("svc/redirect", 503, "KeyUnavailable("),
        ("svc/html", 503, "KeyUnavailable("),
        (
            "svc/private",
            401,
            "InvalidKey { kid: KeyId(\"svc/private\"), source: WrongKeyClass",
        ),
        (
            "svc/certificate",
            401,
            "InvalidKey { kid: KeyId(\"svc/certificate\"), source: Pem(",
        ),
        (
            "svc/two-keys",
            401,
            "InvalidKey { kid: KeyId(\"svc/two-keys\"), source: Pem(",
        ),
        (
            "svc/p384",
            401,
            "Token(KeyAlgorithmMismatch { alg: ES256, key: P384 })",
        ),
        ("svc/absent", 401, "KeyNotFound(KeyId(\"svc/absent\"))"),
    ] {
        s.refused_like(kid, &token_for(kid, &s.key), status, refusal)
            .await;
    }
    // The attacker's own key, behind the redirect, is never fetched, so its token fails too.
    s.refused_like(
        "attacker-signed, redirected",
        &token_for("svc/redirect", &attacker_key),
        503,
        "KeyUnavailable(",
    )
    .await;
    assert_eq!(attacker.hits(), 0, "the redirect was followed");

    let started = Instant::now();
    s.refused_like("svc/slow", &token_for("svc/slow", &s.key), 503, "KeyUnavailable(")
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Refusals that are about the key (not the transport) are remembered: no second fetch.
    let before = s.repo.hits();
    for kid in ["svc/private", "svc/absent"] {
        s.refused_like(kid, &token_for(kid, &s.key), 401, "").await;
    }
    assert_eq!(
        s.repo.hits(),
        before,
        "an invalid or absent key was fetched again at once"
    );
}

// ---------------------------------------------------------------------------------------------
// Private key files.

/// An encrypted PKCS#8 file asking for PBKDF2 with 2^32 - 1 iterations (made with `openssl
/// pkcs8 -topk8 -v2 aes-256-cbc -iter 16` on a throw-away P-256 key, then the iteration count
/// re-encoded): without a bound, loading it spins for tens of minutes.
const PBKDF2_HUGE: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHvMFoGCSqGSIb3DQEFDTBNMCwGCSqGSIb3DQEFDDAfBAj0UWfMCL7QigIFAP//
//8wDAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEK5q99XMFdmd2rmvCP7mZkkE
gZCUkYJgZWV+HIs6oBsHl+Dt3EcYa2t6T6LlFwt31fmgmtk/JUwCR/5m8sIUzbqd
7lmD19Hjda1T3s3l5LnWvt/NtFj5JuMwAwSwXAp8d85CmRxcUqYvk2Kk8+HZFnhm
GTjqHOPRtVvxm9Du63aOnP9fk5tjRUJcitmV+JiPCsq+5jk14pp2t43ApxWygOzs
Zc8=
-----END ENCRYPTED PRIVATE KEY-----
";

/// The same with scrypt N = 2^30, r = 8 (`openssl pkcs8 -topk8 -scrypt` with small parameters,
/// then re-encoded): without a bound, loading it asks for 1 TiB and aborts the process.
const SCRYPT_HUGE: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIGVMFEGCSqGSIb3DQEFDTBEMCMGCSsGAQQB2kcECzAWBAg2osRUhtfcMAIEQAAA
AAIBCAIBATAdBglghkgBZQMEASoEEBg1AxUW+B06nQHHXlI8IqAEQMJu7g9SWl7f
R9lsn0qzjn8mNmT1zUA/WoHgEL1ZQaJ7C/Mya6/QYj1Ev3lnulQ0hTqN3F0HJsSO
FWlaKBTILKQ=
-----END ENCRYPTED PRIVATE KEY-----
";

/// The `private_key` fuzz target's find: the same key mutated to 4096 bcrypt rounds, then the
/// limit, which took over 30 s to refuse nothing (now at most 512 rounds are accepted).
const OPENSSH_ROUNDS_4096: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABCr+5f+ga
PAHr8Z/T8gnCAyAAAQAAAAAAEAAABoAAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlz
dHAyNTYAAABBBB06ijArxTdT5tpdONGqUaLW6NG+u7MBCp1vd2NC367X5YAcpyQUzefyZj
h3GmX5JDXq/Hr8Z/T8gnCAyAAAAAQAAAAEAAABoAAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmldONGqUaLW6NG+u7MBCp1vd2NC367X5YAcpyQUzefyZj
h3eBDMvdQTUxOQAAACAFLhgbrseBDMvdO4zb0XgVNHamRBqeE3uULrn8XVu+Fw
AAAEADKs0I2E5TmVcXSRWOxLf1yPOgfgwaeKA==
-----END OPENSSH PRIVATE KEY-----
";

/// An OpenSSH key (`ssh-keygen -t ecdsa -a 1 -N fuzz`, throw-away) with its bcrypt rounds
/// re-encoded as 2^32 - 1.
const OPENSSH_ROUNDS_HUGE: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABCr+5f+ga
PAHr8Z/T8gnCAy/////wAAAAEAAABoAAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlz
dHAyNTYAAABBBB06ijArxTdT5tpdONGqUaLW6NG+u7MBCp1vd3NC367X5YAcpyQUzefyZj
h3GmX5JDXq/6cKcAx+xPR71j6NBAYAAACgSR7KaPv28ShTq52e3dctctAtgxwUcG+Bw27Y
zYG48daJ0MCdI9BUSN/XdHAN/qSXKQC65lWZbqj07KxwmfVwOhCiz+Pu8xwl+qdq5ohaAt
POk5o2064eHXw2KJPAGl6a3VMjs+CTnuc3ynhHrT2ohlNNahkVR4OZiZR56Yn4eUM/83vH
P6I9pqZu/TwXk3g3htTSs4puD/Y23VYxmJ/WKA==
-----END OPENSSH PRIVATE KEY-----
";

#[test]
fn hostile_encrypted_private_keys_are_refused_before_key_derivation() {
    for (case, pem) in [
        ("PBKDF2 2^32-1 iterations", PBKDF2_HUGE),
        ("scrypt N=2^30", SCRYPT_HUGE),
    ] {
        let started = Instant::now();
        let err = asap_keys::parse_private_key(pem, Some(b"fuzz")).expect_err(case);
        assert!(
            matches!(err, LoadError::UnsupportedEncryption(_)),
            "{case}: {err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{case}: {:?}",
            started.elapsed()
        );
    }
    for (case, pem) in [
        ("2^32-1 bcrypt rounds", OPENSSH_ROUNDS_HUGE),
        ("4096 bcrypt rounds", OPENSSH_ROUNDS_4096),
    ] {
        let started = Instant::now();
        let err = asap_keys::parse_private_key(pem, Some(b"fuzz")).expect_err(case);
        assert!(
            matches!(&err, LoadError::Format(reason) if reason.contains("rounds")),
            "{case}: {err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{case}: {:?}",
            started.elapsed()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Atlassian Connect.

const CLIENT_KEY: &str = "jira:tenant-1";
const SECRET: &str = "a-shared-secret-of-reasonable-length-1234";
const BASE: &str = "https://app.example/connect";

fn connect_authenticator() -> Authenticator {
    let secrets = InMemorySharedSecretStore::new();
    secrets.insert(CLIENT_KEY, SharedSecret::new(SECRET));
    Authenticator::builder(secrets)
        .base_url(BASE)
        .build()
        .expect("authenticator")
}

fn hs256(claims: &Value, secret: &str) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = hmac(&aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes(), &input);
    format!("{input}.{}", b64(&sig))
}

async fn connect_call(
    auth: &Authenticator,
    method: &str,
    target: &str,
    token: &str,
    policy: QshPolicy,
) -> Result<connect_qsh::Authenticated, AuthError> {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("JWT {token}")).expect("header"),
    );
    let uri: Uri = target.parse().expect("uri");
    auth.authenticate_with(&method.parse().expect("method"), &uri, &headers, policy)
        .await
}

#[tokio::test]
async fn connect_qsh_tampering_is_refused() {
    let auth = connect_authenticator();
    let now = asap_core::Clock::now(&asap_core::SystemClock);
    let signed = "/connect/rest/issue?id=1&project=P";
    let token = ConnectSigner::new(CLIENT_KEY)
        .sign(&SharedSecret::new(SECRET), "GET", signed, "/connect")
        .expect("sign");
    let ok = connect_call(&auth, "GET", signed, &token, QshPolicy::RequestOnly)
        .await
        .expect("the request it was made for");
    assert_eq!(ok.binding(), QshBinding::Request);

    // The same token replayed against another request.
    for (case, method, target) in [
        ("method", "DELETE", signed),
        ("path", "GET", "/connect/rest/admin?id=1&project=P"),
        ("value", "GET", "/connect/rest/issue?id=2&project=P"),
        (
            "added parameter",
            "GET",
            "/connect/rest/issue?id=1&project=P&admin=true",
        ),
        (
            "repeated parameter",
            "GET",
            "/connect/rest/issue?id=1&id=2&project=P",
        ),
        ("dropped parameter", "GET", "/connect/rest/issue?id=1"),
        (
            "doubled trailing slash",
            "GET",
            "/connect/rest/issue//?id=1&project=P",
        ),
    ] {
        let err = connect_call(&auth, method, target, &token, QshPolicy::RequestOnly)
            .await
            .expect_err(case);
        assert!(matches!(err, AuthError::QshMismatch), "{case}: {err:?}");
        assert_eq!(err.outcome().status(), 401, "{case}");
    }

    // Editing the claims without the secret.
    let qsh_of = |method: &str, target: &str| connect_qsh::qsh(method, target, "/connect").expect("qsh");
    let claims = |qsh: Value| json!({"iss": CLIENT_KEY, "iat": now, "exp": now + 60, "qsh": qsh});
    let target = "/connect/rest/admin";
    let (head, _) = token.split_once('.').expect("dot");
    let sig = token.rsplit_once('.').expect("dot").1;
    let retargeted = format!(
        "{head}.{}.{sig}",
        b64(claims(json!(qsh_of("GET", target))).to_string().as_bytes())
    );
    let err = connect_call(&auth, "GET", target, &retargeted, QshPolicy::RequestOnly)
        .await
        .expect_err("re-targeted qsh, old signature");
    assert!(
        matches!(err, AuthError::Token(TokenError::BadSignature)),
        "{err:?}"
    );
    let guessed = hs256(&claims(json!(qsh_of("GET", target))), "guessed-secret");
    let err = connect_call(&auth, "GET", target, &guessed, QshPolicy::RequestOnly)
        .await
        .expect_err("wrong secret");
    assert!(
        matches!(err, AuthError::Token(TokenError::BadSignature)),
        "{err:?}"
    );

    // Signed with the right secret but with a qsh that is not this request's, in every shape.
    let upper = qsh_of("GET", target).to_uppercase();
    for (case, qsh) in [
        ("upper-case hex", json!(upper)),
        ("truncated", json!(&qsh_of("GET", target)[..63])),
        ("empty", json!("")),
        ("of another method", json!(qsh_of("POST", target))),
    ] {
        let token = hs256(&claims(qsh), SECRET);
        let err = connect_call(&auth, "GET", target, &token, QshPolicy::RequestOnly)
            .await
            .expect_err(case);
        assert!(
            matches!(
                err,
                AuthError::QshMismatch | AuthError::Token(TokenError::InvalidClaim { claim: "qsh", .. })
            ),
            "{case}: {err:?}"
        );
        assert_eq!(err.outcome().status(), 401, "{case}");
    }
    for (case, qsh) in [
        ("number", json!(1)),
        ("array", json!([qsh_of("GET", target)])),
        ("null", Value::Null),
    ] {
        let token = hs256(&claims(qsh), SECRET);
        let err = connect_call(&auth, "GET", target, &token, QshPolicy::RequestOnly)
            .await
            .expect_err(case);
        assert!(
            matches!(
                err,
                AuthError::Token(TokenError::InvalidClaim { claim: "qsh", .. })
            ),
            "{case}: {err:?}"
        );
    }
    let no_qsh = hs256(&json!({"iss": CLIENT_KEY, "iat": now, "exp": now + 60}), SECRET);
    let err = connect_call(&auth, "GET", target, &no_qsh, QshPolicy::RequestOnly)
        .await
        .expect_err("no qsh");
    assert!(
        matches!(err, AuthError::Token(TokenError::MissingClaim("qsh"))),
        "{err:?}"
    );
}

#[tokio::test]
async fn connect_context_qsh_on_a_bound_route_is_403() {
    let auth = connect_authenticator();
    let now = asap_core::Clock::now(&asap_core::SystemClock);
    let context = hs256(
        &json!({"iss": CLIENT_KEY, "sub": "user-1", "iat": now, "exp": now + 60, "qsh": "context-qsh"}),
        SECRET,
    );
    let bound = "/connect/rest/issue?id=1";
    for method in ["GET", "POST", "DELETE"] {
        let err = connect_call(&auth, method, bound, &context, QshPolicy::RequestOnly)
            .await
            .expect_err("context token on a bound route");
        assert!(
            matches!(err, AuthError::ContextQshNotAllowed),
            "{method}: {err:?}"
        );
        assert_eq!(err.outcome().status(), 403);
    }
    // Variants of the magic value are just wrong hashes, never a context token.
    for qsh in ["Context-Qsh", "context-qsh ", "context_qsh"] {
        let token = hs256(
            &json!({"iss": CLIENT_KEY, "iat": now, "exp": now + 60, "qsh": qsh}),
            SECRET,
        );
        let err = connect_call(&auth, "GET", bound, &token, QshPolicy::AllowContext)
            .await
            .expect_err(qsh);
        assert!(matches!(err, AuthError::QshMismatch), "{qsh:?}: {err:?}");
    }
    // Where the route opts in, the same token passes, marked as a context token.
    let ok = connect_call(&auth, "GET", bound, &context, QshPolicy::AllowContext)
        .await
        .expect("route opted in");
    assert_eq!(ok.binding(), QshBinding::Context);
}

// ---------------------------------------------------------------------------------------------
// serve-keys.

/// Sends a raw `GET <target>` to `addr`; the status and body.
async fn raw_get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

#[tokio::test]
async fn serve_keys_path_traversal_never_leaves_the_directory() {
    use asap_cli::serve_keys::{KeyServer, KeyServerConfig};

    let dir = tempfile::tempdir().expect("tempdir");
    let public_dir = dir.path().join("public");
    std::fs::create_dir_all(public_dir.join("svc")).expect("mkdir");
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
    std::fs::write(
        public_dir.join("svc/k1.pem"),
        key.public_key().expect("pk").to_pem(),
    )
    .expect("write");
    // Secrets beside the served directory, and a link inside it that points at one.
    let secret = key.to_pkcs8_pem().expect("pem");
    std::fs::write(dir.path().join("secret.pem"), &secret).expect("write");
    std::fs::write(
        dir.path().join("publicity.pem"),
        key.public_key().expect("pk").to_pem(),
    )
    .expect("write");
    std::os::unix::fs::symlink(dir.path().join("secret.pem"), public_dir.join("svc/link.pem"))
        .expect("symlink");
    std::os::unix::fs::symlink(dir.path().join("publicity.pem"), public_dir.join("svc/out.pem"))
        .expect("symlink");

    let server = KeyServer::bind(
        "127.0.0.1:0".parse().expect("addr"),
        KeyServerConfig::new(&public_dir).log_requests(false),
    )
    .await
    .expect("bind");
    let addr = server.local_addr();
    tokio::spawn(server.serve(std::future::pending()));

    let (status, body) = raw_get(addr, "/svc/k1.pem").await;
    assert_eq!(status, 200, "the control request: {body}");

    for target in [
        "/../secret.pem",
        "/svc/../../secret.pem",
        "/%2e%2e/secret.pem",
        "/svc/%2e%2e/%2e%2e/secret.pem",
        "/svc%2f..%2f..%2fsecret.pem",
        "/%252e%252e/secret.pem",
        "/svc/..%5c..%5csecret.pem",
        "/..\\secret.pem",
        "/%c0%ae%c0%ae/secret.pem",
        "/svc/%00/../../secret.pem",
        "//secret.pem",
        "/svc/link.pem",
        "/svc/out.pem",
        "/svc/k1.pem%00.txt",
        "/.%2e/secret.pem",
        "http://127.0.0.1/../secret.pem",
    ] {
        let (status, body) = raw_get(addr, target).await;
        assert!(matches!(status, 400 | 404), "{target}: {status}\n{body}");
        assert!(!body.contains("PRIVATE KEY"), "{target} leaked the secret");
        assert!(
            !body.contains("PUBLIC KEY"),
            "{target} served a file outside the directory"
        );
    }
}
