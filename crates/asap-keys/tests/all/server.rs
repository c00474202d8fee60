//! The key directory reader and the key server (feature `server`): one set of rules for
//! `DirectoryKeySource` and the server, the tower service's answers, its `tracing` events, and
//! the connection bounds of `KeyServer`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use asap_core::{KeyFuture, KeyId, KeySourceError, PublicKeySource};
use asap_keys::server::{ConnectionLimits, KeyServer, KeyServerConfig, KeyService, NOT_A_KEY_BODY};
use asap_keys::{DirectoryError, DirectoryKeySource, KeyDirectory};
use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tower_service::Service as _;

use crate::support::p256;

fn kid(text: &str) -> KeyId {
    KeyId::parse(text).expect("kid")
}

/// A key directory with one key of each kind of trouble, under `<tmp>/public`, and a valid
/// public key outside it.
struct Fixture {
    root: tempfile::TempDir,
    public_pem: String,
}

impl Fixture {
    fn new() -> Fixture {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("public/svc");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let key = p256();
        let public_pem = key.public_key().expect("public").to_pem();
        let private_pem = key.to_pkcs8_pem().expect("pem");
        std::fs::write(dir.join("k.pem"), &public_pem).expect("write");
        std::fs::write(
            dir.join("commented.pem"),
            format!("# a note\n{public_pem}more notes\n"),
        )
        .expect("write");
        std::fs::write(dir.join("text.pem"), "not a key\n").expect("write");
        std::fs::write(dir.join("private.pem"), &private_pem).expect("write");
        let damaged = private_pem.replace("-----END PRIVATE KEY-----", "-----END PRIVATE KEY---");
        std::fs::write(dir.join("mixed.pem"), format!("{public_pem}{damaged}")).expect("write");
        std::fs::write(
            dir.join("large.pem"),
            "x".repeat(asap_keys::MAX_KEY_BODY_BYTES + 1),
        )
        .expect("write");
        std::fs::create_dir(dir.join("dir.pem")).expect("mkdir");
        std::fs::write(root.path().join("outside.pem"), &public_pem).expect("write");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.path().join("outside.pem"), dir.join("out.pem"))
                .expect("symlink");
            std::os::unix::fs::symlink(dir.join("k.pem"), dir.join("inside.pem")).expect("symlink");
            let made = std::process::Command::new("mkfifo")
                .arg(dir.join("fifo.pem"))
                .status()
                .expect("run mkfifo");
            assert!(made.success(), "mkfifo");
        }
        Fixture { root, public_pem }
    }

    fn public(&self) -> std::path::PathBuf {
        self.root.path().join("public")
    }
}

/// What each fixture file is, for the one reader, and what a `DirectoryKeySource` makes of it.
#[tokio::test]
async fn the_directory_reader_and_the_key_source_apply_one_set_of_rules() {
    let fixture = Fixture::new();
    let dir = KeyDirectory::new(fixture.public());
    let source = DirectoryKeySource::new(fixture.public());
    let read = |name: &str| {
        let dir = dir.clone();
        let kid = kid(&format!("svc/{name}"));
        async move {
            tokio::time::timeout(Duration::from_secs(5), dir.read(&kid))
                .await
                .unwrap_or_else(|_| panic!("reading {kid} hangs"))
        }
    };
    assert_eq!(read("k.pem").await.expect("key").to_pem(), fixture.public_pem);
    assert_eq!(
        read("commented.pem").await.expect("key").to_pem(),
        fixture.public_pem,
        "re-serialised"
    );
    assert!(matches!(read("missing.pem").await, Err(DirectoryError::Missing)));
    assert!(matches!(read("k.pem/below").await, Err(DirectoryError::Missing)));
    assert!(matches!(
        read("dir.pem").await,
        Err(DirectoryError::NotRegularFile)
    ));
    assert!(matches!(
        read("text.pem").await,
        Err(DirectoryError::InvalidKey(_))
    ));
    assert!(matches!(read("large.pem").await, Err(DirectoryError::TooLarge)));
    assert!(matches!(
        read("private.pem").await,
        Err(DirectoryError::PrivateKeyMaterial)
    ));
    assert!(matches!(
        read("mixed.pem").await,
        Err(DirectoryError::PrivateKeyMaterial)
    ));
    #[cfg(unix)]
    {
        assert!(matches!(
            read("fifo.pem").await,
            Err(DirectoryError::NotRegularFile)
        ));
        assert!(matches!(read("out.pem").await, Err(DirectoryError::OutsideRoot)));
        assert_eq!(
            read("inside.pem").await.expect("a link inside").to_pem(),
            fixture.public_pem
        );
    }

    let lookup = |name: &str| {
        let kid = kid(&format!("svc/{name}"));
        let source = source.clone();
        async move { source.public_key(&kid).await }
    };
    assert!(lookup("k.pem").await.is_ok());
    for name in ["missing.pem", "dir.pem", "fifo.pem", "out.pem"] {
        assert!(
            matches!(lookup(name).await, Err(KeySourceError::NotFound(_))),
            "{name}"
        );
    }
    for name in ["text.pem", "large.pem", "private.pem", "mixed.pem"] {
        assert!(
            matches!(lookup(name).await, Err(KeySourceError::InvalidKey { .. })),
            "{name}"
        );
    }
    // The root itself missing: the directory cannot answer.
    let gone = DirectoryKeySource::new(fixture.root.path().join("nowhere"));
    assert!(matches!(
        gone.public_key(&kid("svc/k.pem")).await,
        Err(KeySourceError::Unavailable(_))
    ));
}

async fn call(
    service: &mut KeyService,
    method: Method,
    path: &str,
) -> (StatusCode, Response<Full<Bytes>>, String) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .expect("request");
    let response: Response<Full<Bytes>> = service
        .call(request)
        .await
        .unwrap_or_else(|e: Infallible| match e {});
    let status = response.status();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    (
        status,
        Response::from_parts(parts, Full::new(bytes.clone())),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test]
async fn the_key_service_answers_like_a_key_repository() {
    let fixture = Fixture::new();
    let mut service = KeyService::directory(fixture.public()).max_age(Duration::from_secs(42));

    let (status, response, body) = call(&mut service, Method::GET, "/svc/k.pem").await;
    assert_eq!(status, 200);
    assert_eq!(response.headers()["content-type"], "application/x-pem-file");
    assert_eq!(response.headers()["cache-control"], "max-age=42");
    assert_eq!(body, fixture.public_pem);
    let (status, _, body) = call(&mut service, Method::GET, "/svc%2Fcommented.pem").await;
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (200, fixture.public_pem.as_str())
    );

    let (status, response, body) = call(&mut service, Method::HEAD, "/svc/k.pem").await;
    assert_eq!(status, 200);
    assert_eq!(body, "");
    assert_eq!(
        response.headers()["content-length"],
        fixture.public_pem.len().to_string().as_str()
    );

    for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
        let (status, response, _) = call(&mut service, method.clone(), "/svc/k.pem").await;
        assert_eq!(status, 405, "{method}");
        assert_eq!(response.headers()["allow"], "GET, HEAD");
    }

    let mut not_a_key = vec![
        "/svc/missing.pem",
        "/svc/dir.pem",
        "/svc/text.pem",
        "/svc/large.pem",
        "/svc/private.pem",
        "/svc/mixed.pem",
        "/svc/../k.pem",
        "/%2e%2e/outside.pem",
        "/",
        "/%ff",
    ];
    if cfg!(unix) {
        not_a_key.extend(["/svc/fifo.pem", "/svc/out.pem"]);
    }
    for path in not_a_key {
        let (status, response, body) = call(&mut service, Method::GET, path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body, NOT_A_KEY_BODY, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-cache", "{path}");
    }
}

/// A source that cannot answer.
#[derive(Debug)]
struct Down;

impl PublicKeySource for Down {
    fn public_key<'a>(&'a self, _: &'a KeyId) -> KeyFuture<'a> {
        Box::pin(async { Err(KeySourceError::Unavailable("the registry is down".into())) })
    }
}

#[tokio::test]
async fn a_key_source_that_cannot_answer_is_503_with_retry_after() {
    let mut service = KeyService::from_source(Arc::new(Down));
    let (status, response, _) = call(&mut service, Method::GET, "/svc/k.pem").await;
    assert_eq!(status, 503);
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(response.headers()["cache-control"], "no-store");
}

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn each_request_is_one_tracing_event_without_key_material() {
    let fixture = Fixture::new();
    let (captured, subscriber) = asap_testkit::logs::Captured::subscriber(tracing::Level::INFO);
    let runtime = current_thread_runtime();
    {
        let _guard = asap_testkit::logs::scoped(subscriber);
        runtime.block_on(async {
            let mut service = KeyService::directory(fixture.public());
            call(&mut service, Method::GET, "/svc/k.pem").await;
            call(&mut service, Method::GET, "/svc/private.pem").await;
            call(&mut service, Method::POST, "/svc/k.pem").await;
        });
    }
    let lines = captured.lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(
        lines[0].contains("INFO") && lines[0].contains("status=200"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("path=\"/svc/k.pem\"") && lines[0].contains("method=GET"));
    assert!(lines[0].contains("duration_ms="), "{}", lines[0]);
    assert!(
        lines[1].contains("WARN") && lines[1].contains("status=404"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("private key material"), "{}", lines[1]);
    assert!(lines[2].contains("status=405"), "{}", lines[2]);
    let key_lines: Vec<&str> = fixture
        .public_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for line in &lines {
        assert!(
            !line.contains("BEGIN") && !key_lines.iter().any(|k| line.contains(k)),
            "{line}"
        );
    }
}

/// A key set request walks the directory and reads every key file, so a flood of them must not
/// cost one build each: 50 concurrent requests make two builds (the first, and the one every
/// request that arrived while it ran shares; a directory holding one file that is not a key
/// logs "left out of the key set" once per build). And a key written before a request is in
/// its set, however recently the set was built.
#[test]
fn a_burst_of_key_set_requests_builds_the_set_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("svc");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("k1.pem"), p256().public_key().expect("pk").to_pem()).expect("write");
    std::fs::write(dir.join("notes.pem"), "not a key\n").expect("write");
    let (captured, subscriber) = asap_testkit::logs::Captured::subscriber(tracing::Level::DEBUG);
    // One blocking thread, held until every request has arrived: a build reads the directory
    // on that thread, so the first one cannot end before the burst is in (on a free thread it
    // can end within its request's first poll, and the next request then rightly builds anew).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .expect("runtime");
    let (release, held) = std::sync::mpsc::channel::<()>();
    let _holder = runtime.spawn_blocking(move || held.recv());
    let builds = || {
        captured
            .lines()
            .iter()
            .filter(|line| line.contains("left out of the key set"))
            .count()
    };
    let _guard = asap_testkit::logs::scoped(subscriber);
    runtime.block_on(async {
        let service = KeyService::directory(root.path()).publish_jwks(true);
        let mut requests: Vec<_> = (0..50)
            .map(|_| {
                let mut service = service.clone();
                Box::pin(futures_util::future::maybe_done(async move {
                    call(&mut service, Method::GET, asap_keys::server::JWKS_PATH).await
                }))
            })
            .collect();
        // A burst: every request arrives (is polled once, up to the cache) before the first
        // build can end, whatever order an executor would poll them in.
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        for request in &mut requests {
            let _ = std::future::Future::poll(request.as_mut(), &mut cx);
        }
        release.send(()).expect("the holder waits");
        futures_util::future::join_all(requests.iter_mut().map(|r| r.as_mut())).await;
        for request in &mut requests {
            let (status, _, body) = request.as_mut().take_output().expect("answered");
            assert_eq!(status, StatusCode::OK);
            assert!(body.contains("svc/k1.pem"), "{body}");
        }
        assert_eq!(builds(), 2, "builds for 50 requests");

        std::fs::write(dir.join("k2.pem"), p256().public_key().expect("pk").to_pem()).expect("write");
        let (_, _, body) = call(&mut service.clone(), Method::GET, asap_keys::server::JWKS_PATH).await;
        assert!(
            body.contains("svc/k2.pem"),
            "a key written before the request: {body}"
        );
        assert_eq!(builds(), 3);
    });
}

async fn start(
    dir: &Path,
    limits: ConnectionLimits,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let server = KeyServer::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        KeyServerConfig::new(dir).limits(limits),
    )
    .await
    .expect("bind");
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve(async {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
    });
    (addr, stop, task)
}

/// Reads until the server closes; the time that took, or a panic after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((started + within).into(), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the server still holds the connection after {within:?}"),
        }
    }
}

async fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("send");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .expect("answered in time")
        .expect("read");
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn each_connection_bound_is_enforced() {
    let fixture = Fixture::new();
    let limits = ConnectionLimits::default()
        .first_byte_timeout(Duration::from_millis(200))
        .request_timeout(Duration::from_millis(1500))
        .idle_timeout(Duration::from_millis(300));
    let (addr, _stop, _task) = start(&fixture.public(), limits).await;
    let within = Duration::from_secs(5);

    // No first byte: closed after the first-byte bound, well before the request bound.
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    let took = closed_within(&mut silent, within).await;
    assert!(took < Duration::from_millis(1200), "{took:?}");

    // A first byte, then nothing: the request bound, counted from before the connection (the
    // server's clock starts after that, however late this task runs).
    let connecting = Instant::now();
    let mut partial = TcpStream::connect(addr).await.expect("connect");
    partial.write_all(b"PRI * HTTP/2.0\r\n").await.expect("send");
    closed_within(&mut partial, within).await;
    let took = connecting.elapsed();
    assert!(took >= Duration::from_millis(1400), "{took:?}");

    // After a request, the idle bound.
    let mut keep_alive = TcpStream::connect(addr).await.expect("connect");
    keep_alive
        .write_all(b"GET /svc/k.pem HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("send");
    closed_within(&mut keep_alive, within).await;

    assert!(get(addr, "/svc/k.pem").await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn at_the_cap_a_new_connection_evicts_the_oldest_idle_one() {
    let fixture = Fixture::new();
    let limits = ConnectionLimits::default()
        .first_byte_timeout(Duration::from_secs(60))
        .request_timeout(Duration::from_secs(60))
        .max_connections(3);
    let (addr, _stop, _task) = start(&fixture.public(), limits).await;
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(TcpStream::connect(addr).await.expect("connect"));
    }
    // Let the server accept all three before the fourth arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    assert!(get(addr, "/svc/k.pem").await.starts_with("HTTP/1.1 200"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // The oldest silent connection made room.
    closed_within(&mut silent[0], Duration::from_secs(2)).await;
}

#[tokio::test]
async fn shutdown_stops_accepting_and_closes_idle_connections() {
    let fixture = Fixture::new();
    let (addr, stop, task) = start(&fixture.public(), ConnectionLimits::default()).await;
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    stop.send(()).expect("stop");
    closed_within(&mut idle, Duration::from_secs(3)).await;
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .expect("serve returns")
        .expect("no panic");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(TcpStream::connect(addr).await.is_err(), "no longer listening");
}

#[test]
fn tls_files_are_read_up_to_their_caps_and_refused_beyond() {
    use asap_keys::server::{MAX_CERT_CHAIN_FILE_BYTES, load_tls_config};
    let ca = asap_testkit::tls::TestCa::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, ca.server_cert_pem()).expect("cert");
    std::fs::write(&key, ca.server_key_pem()).expect("key");
    assert!(load_tls_config(&cert, &key).is_ok());

    // PEM allows text around its blocks: padded to exactly the cap, the files still load.
    let padded = |pem: String, to: usize| format!("{pem}{}", "\n".repeat(to - pem.len()));
    std::fs::write(&cert, padded(ca.server_cert_pem(), MAX_CERT_CHAIN_FILE_BYTES)).expect("cert");
    std::fs::write(&key, padded(ca.server_key_pem(), asap_keys::MAX_KEY_TEXT_BYTES)).expect("key");
    assert!(load_tls_config(&cert, &key).is_ok());

    // One byte more is refused as too large, before any PEM parsing.
    for (path, cap) in [
        (&cert, MAX_CERT_CHAIN_FILE_BYTES),
        (&key, asap_keys::MAX_KEY_TEXT_BYTES),
    ] {
        let pem = std::fs::read_to_string(path).expect("read");
        std::fs::write(path, format!("{pem}\n")).expect("grow");
        let err = load_tls_config(&cert, &key)
            .expect_err("over the cap")
            .to_string();
        assert!(err.contains(&format!("larger than {cap} bytes")), "{err}");
        std::fs::write(path, pem).expect("restore");
    }
}
