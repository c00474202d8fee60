//! Connect HS256: ours next to its crypto floor, and the Python and npm `atlassian-jwt`
//! packages doing the whole request.
//!
//! Each row says exactly what each side does, on the same request, secret and tokens:
//!
//! - **token** — the token alone, its `qsh` claim already computed. Sign:
//!   `ConnectSigner::sign_with_qsh` (claims JSON, base64url, HMAC, base64url) next to one raw
//!   aws-lc-rs `hmac::sign` over the same signing input with a prepared key. Verify:
//!   `Authenticator::authenticate_url` of a `context-qsh` token on a route that admits it (find
//!   the token in the header, strict framing, claims, secret lookup, HMAC, time rule; no request
//!   hash to compute) next to one raw `hmac::verify` over its signing input.
//! - **request** — the whole request. Sign: `ConnectSigner::sign` (canonical request, SHA-256,
//!   then the token). Verify: `Authenticator::authenticate_url` of a request-bound token (the
//!   above, plus the canonical request, SHA-256 and the constant-time `qsh` comparison). The
//!   floor: raw aws-lc-rs SHA-256 of the same canonical request string (already built) plus the
//!   raw HMAC sign or verify above.
//! - **Python / npm** — `atlassian-jwt` doing the whole request (scripts/connect_*).

use std::hint::black_box;
use std::path::Path;

use aws_lc_rs::{digest, hmac};
use connect_qsh::{
    Authenticator, CONTEXT_QSH, ConnectSigner, InMemorySharedSecretStore, QshPolicy, SharedSecret,
    canonical_request, qsh,
};
use serde_json::{Value, json};

use super::{Meter, profiled, ready, script};

const METHOD: &str = "GET";
const URL: &str = "/rest/api/issue?expand=names&fields=summary%2Cstatus&q=a+b";
const CLIENT_KEY: &str = "bench-client";
const SECRET: &str = "a-shared-secret-of-thirty-two-bytes!";

/// The `--profile` modes. Each `…-raw-…` mode is the crypto floor of the mode named without
/// `raw-`: `connect-raw-sign|verify` (SHA-256 of the canonical request, then HMAC) for the whole
/// request, `connect-token-raw-sign|verify` (HMAC alone) for the token with its qsh given.
pub(crate) const PROFILES: &str = "connect-sign|connect-verify|connect-raw-sign|connect-raw-verify|\
     connect-token-sign|connect-token-verify|connect-token-raw-sign|connect-token-raw-verify";

/// Everything both sides share: the signer, the authenticator, the tokens and their signing
/// inputs and signatures, split beforehand so that the raw side only hashes and MACs.
struct Setup {
    secret: SharedSecret,
    signer: ConnectSigner,
    authenticator: Authenticator,
    key: hmac::Key,
    qsh: String,
    canonical: String,
    /// `Authorization: JWT …` of 64 request-bound tokens, and of 64 `context-qsh` tokens.
    request_headers: Vec<http::HeaderMap>,
    context_headers: Vec<http::HeaderMap>,
    /// (signing input, signature) of the same tokens.
    request_split: Vec<(String, Vec<u8>)>,
    context_split: Vec<(String, Vec<u8>)>,
}

fn setup() -> Setup {
    let secret = SharedSecret::new(SECRET);
    let signer = ConnectSigner::new(CLIENT_KEY);
    let store = InMemorySharedSecretStore::new();
    store.insert(CLIENT_KEY, SharedSecret::new(SECRET));
    let authenticator = Authenticator::builder(store).build().expect("authenticator");
    let request: Vec<String> = (0..64)
        .map(|_| signer.sign(&secret, METHOD, URL, "").expect("token"))
        .collect();
    let context: Vec<String> = (0..64)
        .map(|_| signer.sign_with_qsh(&secret, CONTEXT_QSH))
        .collect();
    Setup {
        key: hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes()),
        qsh: qsh(METHOD, URL, "").expect("qsh"),
        canonical: canonical_request(METHOD, URL, "").expect("canonical"),
        request_headers: request.iter().map(|t| header(t)).collect(),
        context_headers: context.iter().map(|t| header(t)).collect(),
        request_split: request.iter().map(|t| split(t)).collect(),
        context_split: context.iter().map(|t| split(t)).collect(),
        secret,
        signer,
        authenticator,
    }
}

fn header(token: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::AUTHORIZATION,
        format!("JWT {token}").parse().expect("header"),
    );
    h
}

fn split(token: &str) -> (String, Vec<u8>) {
    use base64::Engine as _;
    let (input, sig) = token.rsplit_once('.').expect("jws");
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .expect("b64");
    (input.to_owned(), sig)
}

impl Setup {
    fn token_sign(&self) {
        black_box(self.signer.sign_with_qsh(&self.secret, black_box(&self.qsh)));
    }

    fn token_verify(&self, i: usize) {
        black_box(
            ready(self.authenticator.authenticate_url(
                METHOD,
                URL,
                &self.context_headers[i % 64],
                QshPolicy::AllowContext,
            ))
            .expect("ours"),
        );
    }

    fn request_sign(&self) {
        black_box(
            self.signer
                .sign(&self.secret, METHOD, black_box(URL), "")
                .expect("ours"),
        );
    }

    fn request_verify(&self, i: usize) {
        black_box(
            ready(self.authenticator.authenticate_url(
                METHOD,
                URL,
                &self.request_headers[i % 64],
                QshPolicy::RequestOnly,
            ))
            .expect("ours"),
        );
    }

    /// One HMAC over the signing input of a token, with the prepared key.
    fn raw_sign(&self, i: usize) {
        let (input, _) = &self.request_split[i % 64];
        black_box(hmac::sign(&self.key, black_box(input.as_bytes())));
    }

    fn raw_verify(&self, i: usize, split: &[(String, Vec<u8>)]) {
        let (input, sig) = &split[i % 64];
        hmac::verify(&self.key, black_box(input.as_bytes()), black_box(sig)).expect("raw");
    }

    fn sha256_of_canonical(&self) {
        black_box(digest::digest(
            &digest::SHA256,
            black_box(self.canonical.as_bytes()),
        ));
    }
}

/// For profilers: `what` (see [`PROFILES`]) `n` times, each inside `profiled`.
pub(crate) fn profile(what: &str, n: usize) {
    let s = setup();
    let op: &dyn Fn(usize) = match what {
        "connect-sign" => &|_| s.request_sign(),
        "connect-verify" => &|i| s.request_verify(i),
        "connect-token-sign" => &|_| s.token_sign(),
        "connect-token-verify" => &|i| s.token_verify(i),
        "connect-token-raw-sign" => &|i| s.raw_sign(i),
        "connect-token-raw-verify" => &|i| s.raw_verify(i, &s.context_split),
        "connect-raw-sign" => &|i| {
            s.sha256_of_canonical();
            s.raw_sign(i);
        },
        "connect-raw-verify" => &|i| {
            s.sha256_of_canonical();
            s.raw_verify(i, &s.request_split);
        },
        other => panic!("--profile {other}? ({PROFILES})"),
    };
    for i in 0..n {
        profiled(&mut || op(i));
    }
}

/// The Connect rows: ours against the floor (token alone, whole request), then the Python and
/// npm packages.
pub(crate) fn bench(meter: &Meter, seconds: f64) -> Value {
    let s = setup();
    let pair = |ours: &dyn Fn(usize), floor: &dyn Fn(usize)| {
        let r = meter.compare(&mut [&mut |i| ours(i), &mut |i| floor(i)]);
        json!({ "ours_per_s": r[0], "floor_per_s": r[1], "ratio": r[0] / r[1] })
    };
    let token = json!({
        "sign": pair(&|_| s.token_sign(), &|i| s.raw_sign(i)),
        "verify": pair(&|i| s.token_verify(i), &|i| s.raw_verify(i, &s.context_split)),
    });
    // The whole request against its floor and, measured in the same rounds, against the bare
    // HMAC (the row `ours` of earlier reports, which the target names).
    let triple = |ours: &dyn Fn(usize), floor: &dyn Fn(usize), hmac: &dyn Fn(usize)| {
        let r = meter.compare(&mut [&mut |i| ours(i), &mut |i| floor(i), &mut |i| hmac(i)]);
        (
            json!({ "ours_per_s": r[0], "floor_per_s": r[1], "ratio": r[0] / r[1] }),
            (r[0], r[2]),
        )
    };
    let (sign, (sign_per_s, raw_sign_per_s)) = triple(
        &|_| s.request_sign(),
        &|i| {
            s.sha256_of_canonical();
            s.raw_sign(i);
        },
        &|i| s.raw_sign(i),
    );
    let (verify, (verify_per_s, raw_verify_per_s)) = triple(
        &|i| s.request_verify(i),
        &|i| {
            s.sha256_of_canonical();
            s.raw_verify(i, &s.request_split);
        },
        &|i| s.raw_verify(i, &s.request_split),
    );
    let request = json!({ "sign": sign, "verify": verify });
    let ours = json!({
        "sign_per_s": sign_per_s, "raw_sign_per_s": raw_sign_per_s,
        "sign_ratio": sign_per_s / raw_sign_per_s,
        "verify_per_s": verify_per_s, "raw_verify_per_s": raw_verify_per_s,
        "verify_ratio": verify_per_s / raw_verify_per_s,
    });
    eprintln!("Connect HS256, token alone: {token}");
    eprintln!("Connect HS256, whole request: {request}");
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let python = script(
        "python3",
        &scripts.join("connect_python.py"),
        seconds,
        None,
        "Python atlassian-jwt",
    );
    let npm = match std::env::var_os("ASAP_NPM_DIR") {
        Some(_) => script(
            "node",
            &scripts.join("connect_node.js"),
            seconds,
            None,
            "npm atlassian-jwt",
        ),
        None => {
            eprintln!("note: npm atlassian-jwt was not measured: ASAP_NPM_DIR is not set");
            Value::Null
        }
    };
    json!({
        "ours": ours,
        "token": token,
        "request": request,
        "python_atlassian_jwt": python,
        "npm_atlassian_jwt": npm,
    })
}
