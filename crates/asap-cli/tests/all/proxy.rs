//! `asap proxy` as a child process in front of a real loopback service (axum): every request
//! arrives with a fresh token that verifies, bodies stream through whole, and what the proxy
//! must refuse, it refuses.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::routing::get;
use serde_json::{Value, json};

use crate::support::{Repos, asap, path_str, run, spawn_announcing};

/// `asap proxy --listen 127.0.0.1:0 …` as a child process, killed on drop; its stderr is
/// collected.
struct ProxyProcess {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl ProxyProcess {
    fn start(repos: &Repos, upstream: &str, extra: &[&str]) -> ProxyProcess {
        let private = repos.private();
        let mut command = asap();
        command
            .args(["proxy", "--listen", "127.0.0.1:0", "--upstream", upstream])
            .args([
                "--issuer",
                "svc",
                "--private-key-repo",
                path_str(&private),
                "--audience",
                "ledger",
            ])
            .args(extra);
        let (child, line, log) = spawn_announcing(&mut command, "proxy");
        let addr = line
            .rsplit(" at http://")
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
        ProxyProcess { child, addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    /// Sends raw bytes and returns the status code of the answer.
    fn raw(&self, request: &[u8]) -> u16 {
        let mut stream = TcpStream::connect(self.addr).expect("connect to the proxy");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        // The proxy may answer and close before the whole body is written.
        let _ = stream.write_all(request);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        status_of(&answer)
    }
}

/// The status code of an HTTP/1.1 answer's first bytes.
#[track_caller]
fn status_of(answer: &[u8]) -> u16 {
    let answer = String::from_utf8_lossy(answer);
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const BIG_RESPONSE: usize = 8 * 1024 * 1024;

/// The upstream: `/big` answers 8 MiB; anything else echoes what arrived as JSON.
async fn upstream() -> SocketAddr {
    async fn echo(request: Request) -> String {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 64 * 1024 * 1024).await.expect("body");
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .map(|v| v.to_str().expect("ASCII").to_owned())
        };
        json!({
            "method": parts.method.as_str(),
            "uri": parts.uri.to_string(),
            "authorization": header("authorization"),
            "x_trace": header("x-trace"),
            "x_hop": header("x-hop"),
            "len": body.len(),
            "sum": body.iter().map(|b| u64::from(*b)).sum::<u64>(),
        })
        .to_string()
    }
    let router = Router::new()
        .route("/api/big", get(|| async { Body::from(vec![7u8; BIG_RESPONSE]) }))
        .fallback(echo);
    asap_testkit::http::spawn_http(router).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("client")
}

fn verifies(repos: &Repos, token: &str) -> Value {
    let public = repos.public();
    let claims = run(&[
        "verify",
        "--audience",
        "ledger",
        "--key-repo",
        path_str(&public),
        token,
    ]);
    serde_json::from_str(claims.ok()).expect("claims JSON")
}

fn token_of(echo: &Value) -> String {
    echo["authorization"]
        .as_str()
        .and_then(|a| a.strip_prefix("Bearer "))
        .expect("a Bearer token")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_request_reaches_the_upstream_with_a_fresh_token_and_its_body_whole() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let upstream = upstream().await;
    let proxy = ProxyProcess::start(&repos, &format!("http://{upstream}/api/"), &[]);

    let body: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| u8::try_from(i % 251).expect("byte"))
        .collect();
    let sum: u64 = body.iter().map(|b| u64::from(*b)).sum();
    let first: Value = client()
        .post(proxy.url("/pay?amount=3"))
        .header("authorization", "Bearer forged-by-the-client")
        .header("x-trace", "abc")
        .header("connection", "x-hop")
        .header("x-hop", "dropped")
        .body(body.clone())
        .send()
        .await
        .expect("through the proxy")
        .text()
        .await
        .map(|text| serde_json::from_str(&text).expect("echo JSON"))
        .expect("echo");
    assert_eq!(first["method"], "POST");
    assert_eq!(first["uri"], "/api/pay?amount=3");
    assert_eq!(first["len"], body.len());
    assert_eq!(first["sum"], sum);
    assert_eq!(first["x_trace"], "abc");
    assert_eq!(
        first["x_hop"],
        Value::Null,
        "a header named by Connection is hop-by-hop"
    );
    let first_token = token_of(&first);
    assert_ne!(first_token, "forged-by-the-client");

    let second: Value = client()
        .get(proxy.url("/balance"))
        .send()
        .await
        .expect("through the proxy")
        .text()
        .await
        .map(|text| serde_json::from_str(&text).expect("echo JSON"))
        .expect("echo");
    assert_eq!(second["uri"], "/api/balance");
    let second_token = token_of(&second);
    assert_ne!(first_token, second_token, "a fresh token per request");
    let (a, b) = (verifies(&repos, &first_token), verifies(&repos, &second_token));
    assert_eq!(a["iss"], "svc");
    assert_eq!(a["aud"], "ledger");
    assert_ne!(a["jti"], b["jti"]);

    let big = client()
        .get(proxy.url("/big"))
        .send()
        .await
        .expect("through the proxy")
        .bytes()
        .await
        .expect("the whole response");
    assert_eq!(big.len(), BIG_RESPONSE);

    // One line per request, without the token or the query.
    let log = proxy.log();
    assert!(log.contains("POST /pay -> 200"), "{log}");
    assert!(!log.contains(&first_token) && !log.contains("amount=3"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_over_the_limit_are_413_whether_declared_or_streamed() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let upstream = upstream().await;
    let proxy = ProxyProcess::start(
        &repos,
        &format!("http://{upstream}/api"),
        &["--max-body-bytes", "1024"],
    );

    let declared = client()
        .post(proxy.url("/upload"))
        .body(vec![0u8; 2048])
        .send()
        .await
        .expect("an answer");
    assert_eq!(declared.status(), 413);
    let at_limit = client()
        .post(proxy.url("/upload"))
        .body(vec![1u8; 1024])
        .send()
        .await
        .expect("an answer");
    assert_eq!(at_limit.status(), 200);

    let chunk = "x".repeat(600);
    let chunked = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"
    );
    assert_eq!(proxy.raw(chunked.as_bytes()), 413);
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_for_other_hosts_tunnels_and_climbing_paths_are_refused() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let upstream = upstream().await;
    let proxy = ProxyProcess::start(&repos, &format!("http://{upstream}/api"), &[]);

    // As a tool with HTTP_PROXY set sends them.
    let elsewhere =
        b"GET http://198.51.100.7/steal HTTP/1.1\r\nHost: 198.51.100.7\r\nConnection: close\r\n\r\n";
    assert_eq!(proxy.raw(elsewhere), 403);
    let same =
        format!("GET http://{upstream}/api/x HTTP/1.1\r\nHost: {upstream}\r\nConnection: close\r\n\r\n");
    assert_eq!(proxy.raw(same.as_bytes()), 200);
    let tunnel = b"CONNECT 198.51.100.7:443 HTTP/1.1\r\nHost: 198.51.100.7:443\r\n\r\n";
    assert_eq!(proxy.raw(tunnel), 405);
    for path in ["/../admin", "/a/%2e%2e/%2e%2e/admin", "/./x"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_eq!(proxy.raw(request.as_bytes()), 400, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_upstream_is_502() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    // A port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let proxy = ProxyProcess::start(&repos, &format!("http://{closed}/"), &[]);
    let response = client().get(proxy.url("/x")).send().await.expect("an answer");
    assert_eq!(response.status(), 502);
}

#[test]
fn it_listens_on_this_machine_only_and_sends_tokens_over_https_elsewhere() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let private = repos.private();
    let proxy = |listen: &str, upstream: &str| {
        run(&[
            "proxy",
            "--listen",
            listen,
            "--upstream",
            upstream,
            "--issuer",
            "svc",
            "--private-key-repo",
            path_str(&private),
            "--audience",
            "ledger",
        ])
    };
    let out = proxy("0.0.0.0:0", "http://127.0.0.1:9/");
    assert!(out.failure().contains("listens on this machine only"), "{out:#?}");
    let out = proxy("127.0.0.1:0", "http://ledger.example.com/");
    assert!(
        out.failure().contains("refusing to send tokens in clear text"),
        "{out:#?}"
    );
    let out = proxy("127.0.0.1:0", "https://ledger.example.com/?a=1");
    assert!(out.failure().contains("no query"), "{out:#?}");
    // Userinfo is refused first, and neither it nor the query is shown.
    let out = proxy(
        "127.0.0.1:0",
        "https://ann:pw-9f3k@ledger.example.com/?key=pw-9f3k",
    );
    assert!(out.failure().contains("no user or password"), "{out:#?}");
    assert!(!out.failure().contains("pw-9f3k"), "{out:#?}");
    let out = proxy("127.0.0.1:0", "http://ann:pw-9f3k@ledger.example.com/");
    assert!(!out.failure().contains("pw-9f3k"), "{out:#?}");
}

/// Reads the status code of an answer on `stream`; `None` when none has begun within `within`.
fn status_within(stream: &mut TcpStream, within: Duration) -> Option<u16> {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while answer.len() < 12 && started.elapsed() < within {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("the proxy reset the connection: {e}"),
        }
    }
    (!answer.is_empty()).then(|| status_of(&answer))
}

/// `--max-connections` (64 by default): 64 connections are served at once, the 65th waits in
/// the listen queue until one of them closes, and is then served.
#[tokio::test(flavor = "multi_thread")]
async fn the_65th_connection_is_served_only_when_one_of_64_closes() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let upstream = upstream().await;
    let proxy = ProxyProcess::start(&repos, &format!("http://{upstream}/api"), &[]);
    let request = b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n";

    // 63 connections that send nothing yet, and a 64th that is served (and kept alive).
    let mut idle: Vec<TcpStream> = (0..63)
        .map(|_| TcpStream::connect(proxy.addr).expect("connect"))
        .collect();
    let mut served = TcpStream::connect(proxy.addr).expect("connect");
    served.write_all(request).expect("send");
    assert_eq!(status_within(&mut served, Duration::from_secs(20)), Some(200));

    let mut waiting = TcpStream::connect(proxy.addr).expect("connect");
    waiting.write_all(request).expect("send");
    assert_eq!(
        status_within(&mut waiting, Duration::from_secs(2)),
        None,
        "the 65th connection is served while 64 are open"
    );
    drop(idle.pop());
    assert_eq!(status_within(&mut waiting, Duration::from_secs(20)), Some(200));
    drop((idle, served));
}

/// A client gets 10 s for its whole request head, however steadily it trickles it: the
/// connection (and its place among `--max-connections`) is taken back, long before the 30 s
/// hyper would allow by default.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_trickles_its_headers_is_dropped_after_the_header_timeout() {
    const BOUND: Duration = Duration::from_secs(25);
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let upstream = upstream().await;
    let proxy = ProxyProcess::start(&repos, &format!("http://{upstream}/api"), &[]);

    let mut stream = crate::support::connect(proxy.addr);
    stream
        .write_all(b"GET /x HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .expect("send");
    let mut trickle = stream.try_clone().expect("clone");
    // One byte of a header that never ends, every 200 ms, until the proxy closes.
    let writer = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        while started.elapsed() < BOUND && trickle.write_all(b"a").is_ok() {
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let took = crate::support::closed_within(&mut stream, BOUND);
    assert!(took < BOUND, "{took:?}");
    writer.join().expect("writer");
    // The proxy still serves.
    let ok = format!("GET /x HTTP/1.1\r\nHost: {upstream}\r\nConnection: close\r\n\r\n");
    assert_eq!(proxy.raw(ok.as_bytes()), 200);
}
