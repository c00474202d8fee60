//! `asap serve-keys` as a child process: verify over HTTP(S), headers, traversal, what is never
//! served, bounded connections, shutdown.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{
    KeyServerProcess, Repos, asap, closed_within, connect, path_str, raw_get, run, run_command,
};

#[test]
fn verify_against_serve_keys_over_http_on_loopback() {
    let repos = Repos::new();
    let kid = repos.keygen("svc", &[]);
    let server = KeyServerProcess::start(&repos.public(), &["--max-age", "42"]);
    let token = repos.token("svc", "ledger", &[]);

    let out = run(&[
        "verify",
        "--audience",
        "ledger",
        "--key-repo",
        &server.url,
        "--allow-insecure-http",
        &token,
    ]);
    let claims: serde_json::Value = serde_json::from_str(out.ok()).expect("claims");
    assert_eq!(claims["iss"], "svc");

    // Plain http needs the flag, and the message says so.
    let line = run(&[
        "verify",
        "--audience",
        "ledger",
        "--key-repo",
        &server.url,
        &token,
    ])
    .failure()
    .to_owned();
    assert!(line.contains("--allow-insecure-http"), "{line}");

    // The environment variable of the reference implementations works as the default.
    let out = run_command(
        asap()
            .args(["verify", "--audience", "ledger", "--allow-insecure-http", &token])
            .env("ASAP_PUBLIC_KEY_REPOSITORY_URL", &server.url),
        "",
    );
    out.ok();

    // The key itself, with its headers.
    let (status, response) = raw_get(server.addr, &format!("/{kid}"));
    assert_eq!(status, 200, "{response}");
    let lower = response.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/x-pem-file"),
        "{response}"
    );
    assert!(lower.contains("cache-control: max-age=42"), "{response}");
    assert!(response.contains("-----BEGIN PUBLIC KEY-----"));

    let (status, _) = raw_get(server.addr, "/svc/unknown.pem");
    assert_eq!(status, 404);

    // One log line per request: the first line is the startup line.
    let log = server.wait_for_log_lines(6);
    let requests: Vec<&String> = log.iter().filter(|l| l.contains("\"/svc/")).collect();
    assert_eq!(requests.len(), 4, "{log:#?}");
    assert!(requests.iter().any(|l| l.contains(" 404 ")), "{log:#?}");
}

#[test]
fn traversal_kids_get_404_and_nothing_outside_the_directory_is_served() {
    let root = tempfile::tempdir().expect("tempdir");
    let public = root.path().join("public");
    std::fs::create_dir_all(public.join("svc")).expect("mkdir");
    // A secret next to the served directory, and one in a sibling directory, both valid PEM
    // public keys so that only the path rule can keep them in.
    let repos = Repos::new();
    let kid = repos.keygen("svc", &[]);
    let pem = std::fs::read_to_string(repos.public().join(&kid)).expect("pem");
    std::fs::write(root.path().join("secret.pem"), &pem).expect("write secret");
    std::fs::create_dir_all(root.path().join("sibling")).expect("mkdir");
    std::fs::write(root.path().join("sibling/secret.pem"), &pem).expect("write secret");
    std::fs::write(public.join("svc/k.pem"), &pem).expect("write key");
    let server = KeyServerProcess::start(&public, &[]);

    assert_eq!(
        raw_get(server.addr, "/svc/k.pem").0,
        200,
        "the control request works"
    );
    for target in [
        "/../secret.pem",
        "/svc/../../secret.pem",
        "/../sibling/secret.pem",
        "/%2e%2e/secret.pem",
        "/%2E%2E/secret.pem",
        "/%2e%2e%2fsecret.pem",
        "/svc%2f..%2f..%2fsecret.pem",
        "/svc/%2e%2e/%2e%2e/sibling/secret.pem",
        "/%252e%252e/secret.pem",
        "/.%2e/secret.pem",
        "//secret.pem",
        "/./svc/k.pem",
        "/svc/./k.pem",
        "/svc\\..\\..\\secret.pem",
    ] {
        let (status, response) = raw_get(server.addr, target);
        assert!(
            status == 404 || status == 400,
            "{target} must not be served: {response}"
        );
        assert!(
            !response.contains("BEGIN PUBLIC KEY"),
            "{target} leaked a file: {response}"
        );
    }
    // An absolute path in the request line, too.
    let absolute = format!("{}/secret.pem", path_str(root.path()));
    let (status, response) = raw_get(server.addr, &absolute);
    assert!(status == 404 || status == 400, "{response}");
}

#[test]
fn a_private_key_in_the_public_directory_is_never_served() {
    let repos = Repos::new();
    let kid = repos.keygen("svc", &[]);
    // The operator points serve-keys at the private repository by mistake.
    let server = KeyServerProcess::start(&repos.private(), &[]);
    let (status, response) = raw_get(server.addr, &format!("/{kid}"));
    assert_eq!(status, 404, "{response}");
    assert!(!response.contains("PRIVATE KEY"), "{response}");
    let log = server.wait_for_log_lines(2).join("\n");
    assert!(
        log.contains("warning: ") && log.contains("private key material"),
        "{log}"
    );
}

#[test]
fn verify_against_serve_keys_over_https() {
    let ca = asap_testkit::tls::TestCa::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let root = dir.path().join("root.pem");
    std::fs::write(&cert, ca.server_cert_pem()).expect("write");
    std::fs::write(&key, ca.server_key_pem()).expect("write");
    std::fs::write(&root, ca.root_pem()).expect("write");

    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let server = KeyServerProcess::start(
        &repos.public(),
        &["--tls-cert", path_str(&cert), "--tls-key", path_str(&key)],
    );
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);
    let token = repos.token("svc", "ledger", &[]);

    run(&[
        "verify",
        "--audience",
        "ledger",
        "--key-repo",
        &server.url,
        "--cacert",
        path_str(&root),
        &token,
    ])
    .ok();
    // Without trusting the CA, the repository is unavailable.
    let line = run(&[
        "verify",
        "--audience",
        "ledger",
        "--key-repo",
        &server.url,
        &token,
    ])
    .failure()
    .to_owned();
    assert!(
        line.contains("public key") && line.contains("certificate"),
        "{line}"
    );
}

/// `--cacert` (verify, curl, proxy) is read up to 1 MiB, room for a whole system bundle: a CA
/// file padded to the cap is trusted, one byte more is refused, and `/dev/zero` is not read
/// without end.
#[test]
fn cacert_files_are_read_up_to_1_mib_and_refused_beyond() {
    const CAP: usize = 1024 * 1024;
    let ca = asap_testkit::tls::TestCa::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, ca.server_cert_pem()).expect("write");
    std::fs::write(&key, ca.server_key_pem()).expect("write");
    let root = ca.root_pem();
    let padded = |len: usize| format!("{root}{}", "\n".repeat(len - root.len()));
    let at_cap = dir.path().join("at-cap.pem");
    let over_cap = dir.path().join("over-cap.pem");
    std::fs::write(&at_cap, padded(CAP)).expect("write");
    std::fs::write(&over_cap, padded(CAP + 1)).expect("write");

    let repos = Repos::new();
    let kid = repos.keygen("svc", &[]);
    let server = KeyServerProcess::start(
        &repos.public(),
        &["--tls-cert", path_str(&cert), "--tls-key", path_str(&key)],
    );
    let token = repos.token("svc", "ledger", &[]);
    let private = repos.private();
    let signing = [
        "--issuer",
        "svc",
        "--private-key-repo",
        path_str(&private),
        "--audience",
        "ledger",
    ];
    let key_url = format!("{}/{kid}", server.url.trim_end_matches('/'));
    let verify = |cacert: &str| {
        run(&[
            "verify",
            "--audience",
            "ledger",
            "--key-repo",
            &server.url,
            "--cacert",
            cacert,
            &token,
        ])
    };
    let curl = |cacert: &str| {
        let mut args = vec!["curl", "--cacert", cacert];
        args.extend(signing);
        args.push(&key_url);
        run(&args)
    };
    let proxy = |cacert: &str| {
        let mut command = asap();
        command
            .args([
                "proxy",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                &server.url,
                "--cacert",
                cacert,
            ])
            .args(signing);
        command
    };

    // The proxy's first stderr line says where it listens, or why it does not; a proxy that
    // started is stopped at once (it would otherwise serve until killed).
    let proxy_first_line = |cacert: &str| {
        let (mut child, line, _log) = crate::support::spawn_announcing(&mut proxy(cacert), "proxy");
        let _ = child.kill();
        let _ = child.wait();
        line
    };

    verify(path_str(&at_cap)).ok();
    assert!(curl(path_str(&at_cap)).ok().contains("PUBLIC KEY"));
    let line = proxy_first_line(path_str(&at_cap));
    assert!(line.contains(" at http://127.0.0.1:"), "{line}");

    let mut over = vec![path_str(&over_cap)];
    if cfg!(unix) {
        over.push("/dev/zero");
    }
    for cacert in over {
        for line in [
            verify(cacert).failure().to_owned(),
            curl(cacert).failure().to_owned(),
            proxy_first_line(cacert),
        ] {
            assert!(line.contains("larger than 1048576 bytes"), "{cacert}: {line}");
        }
    }
}

/// `--tls-cert` is read up to 1 MiB (as a CA bundle) and `--tls-key` up to 64 KiB (as any key
/// text): files padded to the caps serve HTTPS, one byte more is refused before anything
/// listens, and `/dev/zero` is not read without end.
#[test]
fn tls_cert_and_key_files_are_read_up_to_their_caps_and_refused_beyond() {
    const CERT_CAP: usize = 1024 * 1024;
    const KEY_CAP: usize = 64 * 1024;
    let ca = asap_testkit::tls::TestCa::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let public = dir.path().join("public");
    std::fs::create_dir(&public).expect("mkdir");
    let padded = |name: &str, pem: &str, len: usize| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{pem}{}", "\n".repeat(len - pem.len()))).expect("write");
        path.to_str().expect("UTF-8 temp path").to_owned()
    };
    let (cert_pem, key_pem) = (ca.server_cert_pem(), ca.server_key_pem());
    let cert = padded("cert-at-cap.pem", &cert_pem, CERT_CAP);
    let cert_over = padded("cert-over-cap.pem", &cert_pem, CERT_CAP + 1);
    let key = padded("key-at-cap.pem", &key_pem, KEY_CAP);
    let key_over = padded("key-over-cap.pem", &key_pem, KEY_CAP + 1);
    // The first stderr line says where the server listens, or why it does not; a server that
    // started is stopped at once.
    let first_line = |cert: &str, key: &str| {
        let mut command = asap();
        command.args([
            "serve-keys",
            "--dir",
            path_str(&public),
            "--listen",
            "127.0.0.1:0",
        ]);
        command.args(["--tls-cert", cert, "--tls-key", key]);
        let (mut child, line, _log) = crate::support::spawn_announcing(&mut command, "serve-keys");
        let _ = child.kill();
        let _ = child.wait();
        line
    };

    let line = first_line(&cert, &key);
    assert!(line.contains(" at https://127.0.0.1:"), "{line}");
    let mut refused = vec![
        (
            cert_over.as_str(),
            key.as_str(),
            "larger than 1048576 bytes (1 MiB), too large for a certificate chain",
        ),
        (
            cert.as_str(),
            key_over.as_str(),
            "larger than 65536 bytes (64 KiB), too large for a TLS private key",
        ),
    ];
    if cfg!(unix) {
        refused.push(("/dev/zero", key.as_str(), "larger than 1048576 bytes"));
        refused.push((cert.as_str(), "/dev/zero", "larger than 65536 bytes"));
    }
    for (cert, key, expected) in refused {
        let line = first_line(cert, key);
        assert!(
            line.starts_with("asap: ") && line.contains(expected),
            "{cert} {key}: {line}"
        );
    }
}

#[test]
fn serve_keys_refuses_a_missing_directory_and_half_a_tls_configuration() {
    let line = run(&[
        "serve-keys",
        "--dir",
        "/nonexistent/keys",
        "--listen",
        "127.0.0.1:0",
    ])
    .failure()
    .to_owned();
    assert!(line.contains("/nonexistent/keys"), "{line}");
    let stderr = run(&["serve-keys", "--dir", ".", "--tls-cert", "c.pem"])
        .usage_error()
        .to_owned();
    assert!(stderr.contains("--tls-key"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn serve_keys_stops_gracefully_on_ctrl_c() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let server = KeyServerProcess::start(&repos.public(), &[]);
    let addr = server.addr;
    assert_eq!(raw_get(addr, "/nothing").0, 404);
    assert_eq!(server.interrupt(), Some(0));
    assert!(std::net::TcpStream::connect(addr).is_err(), "no longer listening");
}

/// The body of a raw HTTP/1.1 response.
fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

/// The response without its `Date` header, which differs between two responses.
fn without_date(response: &str) -> String {
    response
        .split("\r\n")
        .filter(|line| !line.to_ascii_lowercase().starts_with("date:"))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Issue: a public key file followed by a private key block whose END line is damaged was served
/// whole, private key included (a PEM parser skips the broken block, so the file passed as one
/// public key); text outside PEM blocks was served too. Now only the parsed public key leaves,
/// re-serialised, and a file with any private key material is not served at all.
#[test]
fn only_the_parsed_public_key_is_served_and_never_a_file_with_private_key_material() {
    let repos = Repos::new();
    let kid = repos.keygen("svc", &[]);
    let public_pem = std::fs::read_to_string(repos.public().join(&kid)).expect("public pem");
    let private_pem = std::fs::read_to_string(repos.private().join(&kid)).expect("private pem");
    let damaged = private_pem.replace("-----END PRIVATE KEY-----", "-----END PRIVATE KEY----");
    assert_ne!(damaged, private_pem, "the fixture damages the END line");
    let dir = repos.public().join("svc");
    std::fs::write(dir.join("mixed.pem"), format!("{public_pem}{damaged}")).expect("write");
    std::fs::write(
        dir.join("commented.pem"),
        format!("billing's key, rotated on Monday\n{public_pem}do not share this file\n"),
    )
    .expect("write");
    let server = KeyServerProcess::start(&repos.public(), &[]);
    let secret_lines: Vec<&str> = private_pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();

    let (status, response) = raw_get(server.addr, "/svc/mixed.pem");
    assert_eq!(status, 404, "{response}");
    for line in &secret_lines {
        assert!(
            !response.contains(line),
            "private key material served: {response}"
        );
    }

    let (status, response) = raw_get(server.addr, "/svc/commented.pem");
    assert_eq!(status, 200, "{response}");
    assert_eq!(body(&response), public_pem, "exactly the canonical PEM");

    let log = server.wait_for_log_lines(3).join("\n");
    let warning = log
        .lines()
        .find(|line| line.contains("/svc/mixed.pem"))
        .unwrap_or_else(|| panic!("a log line for the mixed file: {log}"));
    assert!(
        warning.contains("warning: ") && warning.contains("private key material"),
        "{warning}"
    );
    for line in &secret_lines {
        assert!(!log.contains(line), "the log shows key material: {log}");
    }
}

/// Issue: a FIFO in the key directory hung the request, and a path that exists but is not a key
/// answered 500 where a missing one answered 404 (an existence oracle). Now every "not a key
/// here" is the same 404, byte for byte, and nothing blocks.
#[cfg(unix)]
#[test]
fn everything_that_is_not_a_key_gets_the_same_404_and_nothing_hangs() {
    let repos = Repos::new();
    let kid = repos.keygen("svc", &[]);
    let public = repos.public();
    let dir = public.join("svc");
    let status = std::process::Command::new("mkfifo")
        .arg(dir.join("fifo.pem"))
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo");
    std::fs::create_dir(dir.join("dir.pem")).expect("mkdir");
    // A valid public key outside the directory, reached by a link inside it.
    let outside = repos.dir.path().join("outside.pem");
    std::fs::copy(public.join(&kid), &outside).expect("copy");
    std::os::unix::fs::symlink(&outside, dir.join("link.pem")).expect("symlink");
    std::fs::write(dir.join("text.pem"), "not a key\n").expect("write");
    std::fs::copy(repos.private().join(&kid), dir.join("private.pem")).expect("copy");
    let server = KeyServerProcess::start(&public, &[]);

    let (status, _) = raw_get(server.addr, &format!("/{kid}"));
    assert_eq!(status, 200, "the control request");
    let (_, missing) = raw_get(server.addr, "/svc/missing.pem");
    for target in [
        "/svc/fifo.pem",
        "/svc/dir.pem",
        "/svc/link.pem",
        "/svc/text.pem",
        "/svc/private.pem",
        "/svc/missing.pem/below",
        "/svc/../x.pem",
    ] {
        let started = Instant::now();
        let (status, response) = raw_get(server.addr, target);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{target} took {:?}",
            started.elapsed()
        );
        assert_eq!(status, 404, "{target}: {response}");
        assert_eq!(without_date(&response), without_date(&missing), "{target}");
    }
}

/// A server with one-second bounds, for the tests of issue: silent connections were held forever.
fn server_with_short_bounds(dir: &Path, extra: &[&str]) -> KeyServerProcess {
    let mut args = vec!["--request-timeout", "1", "--idle-timeout", "1"];
    args.extend_from_slice(extra);
    KeyServerProcess::start(dir, &args)
}

const BOUND: Duration = Duration::from_secs(5);
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty HTTP/2 SETTINGS frame.
const H2_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

/// Issue: a client that sent nothing, half an HTTP/2 preface, or a whole preface and nothing
/// more, stayed connected for ever. Now each is closed when the time to a complete request runs
/// out (here 1 s), on HTTP/1 and HTTP/2.
#[test]
fn silent_and_half_sent_connections_are_closed_within_the_request_timeout() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let server = server_with_short_bounds(&repos.public(), &[]);
    let h2_settled: Vec<u8> = [H2_PREFACE, H2_SETTINGS].concat();
    let cases: [(&str, &[u8]); 5] = [
        ("nothing", b""),
        ("half an HTTP/2 preface", &H2_PREFACE[..16]),
        ("an HTTP/2 preface", H2_PREFACE),
        ("an HTTP/2 preface and settings", &h2_settled),
        (
            "half an HTTP/1 request",
            b"GET /svc/k.pem HTTP/1.1\r\nHost: x\r\n",
        ),
    ];
    let mut streams: Vec<_> = cases
        .iter()
        .map(|(what, bytes)| {
            let mut stream = connect(server.addr);
            stream.write_all(bytes).expect("send");
            (*what, stream)
        })
        .collect();
    for (what, stream) in &mut streams {
        let took = closed_within(stream, BOUND);
        assert!(took < BOUND, "{what}: {took:?}");
    }
    // The server still serves.
    assert_eq!(raw_get(server.addr, "/svc/none.pem").0, 404);
}

/// A keep-alive connection that sends no second request is closed after the idle timeout.
#[test]
fn a_connection_idle_after_a_request_is_closed_within_the_idle_timeout() {
    let repos = Repos::new();
    let kid = repos.keygen("svc", &[]);
    let server = server_with_short_bounds(&repos.public(), &[]);
    let mut stream = connect(server.addr);
    write!(stream, "GET /{kid} HTTP/1.1\r\nHost: x\r\n\r\n").expect("send");
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    while !String::from_utf8_lossy(&response).contains("-----END PUBLIC KEY-----") {
        assert!(started.elapsed() < BOUND, "no response");
        if let Ok(n) = stream.read(&mut buf) {
            assert!(n > 0, "closed before the response");
            response.extend_from_slice(&buf[..n]);
        }
    }
    closed_within(&mut stream, BOUND);
}

/// The same bounds over TLS: a client silent before the handshake, one that sends part of a
/// `ClientHello`, and one that completes the handshake (HTTP/2 by ALPN) and sends only the
/// preface.
#[test]
fn stalled_tls_connections_are_closed_within_the_request_timeout() {
    let ca = asap_testkit::tls::TestCa::new();
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let cert = repos.dir.path().join("cert.pem");
    let key = repos.dir.path().join("key.pem");
    std::fs::write(&cert, ca.server_cert_pem()).expect("write");
    std::fs::write(&key, ca.server_key_pem()).expect("write");
    let server = server_with_short_bounds(
        &repos.public(),
        &["--tls-cert", path_str(&cert), "--tls-key", path_str(&key)],
    );

    let silent = connect(server.addr);
    let mut partial_hello = connect(server.addr);
    partial_hello
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0xc8, 0x01])
        .expect("send");

    let mut roots = rustls::RootCertStore::empty();
    let root = rustls::pki_types::pem::PemObject::from_pem_slice(ca.root_pem().as_bytes()).expect("root");
    roots.add(root).expect("add root");
    let mut config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let mut tcp = connect(server.addr);
    tcp.set_read_timeout(Some(BOUND)).expect("timeout");
    while tls.is_handshaking() {
        tls.complete_io(&mut tcp).expect("handshake");
    }
    assert_eq!(tls.alpn_protocol(), Some(&b"h2"[..]));
    tcp.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut stream = rustls::StreamOwned::new(tls, tcp);
    stream.write_all(H2_PREFACE).expect("send the preface");
    stream.flush().expect("flush");

    for (what, took) in [
        ("silent", closed_within(&mut { silent }, BOUND)),
        ("half a ClientHello", closed_within(&mut partial_hello, BOUND)),
        ("handshake and preface", closed_within(&mut stream, BOUND)),
    ] {
        assert!(took < BOUND, "{what}: {took:?}");
    }
}

/// Issue: with a low file-descriptor limit, 150 silent sockets made a legitimate request time
/// out. Now at most --max-connections are open, and at the cap (or when the process runs out of
/// file descriptors below it, as with the default cap of 512 here) a new connection makes the
/// oldest idle one close: the request is answered at once, although the silent ones would only
/// time out after 30 s.
#[cfg(unix)]
#[test]
fn silent_connections_beyond_the_cap_do_not_keep_a_legitimate_request_out() {
    let repos = Repos::new();
    let kid = repos.keygen("svc", &[]);
    let dir = path_str(&repos.public()).to_owned();
    for cap in [&[][..], &["--max-connections", "16"]] {
        let mut args = vec!["--dir", dir.as_str(), "--request-timeout", "30"];
        args.extend_from_slice(cap);
        let server = KeyServerProcess::start_with_fd_limit(64, &args);
        let silent: Vec<_> = (0..150).map(|_| connect(server.addr)).collect();
        let started = Instant::now();
        let (status, response) = raw_get(server.addr, &format!("/{kid}"));
        assert_eq!(status, 200, "{cap:?}: {response}");
        assert!(
            started.elapsed() < BOUND,
            "{cap:?}: the request waited {:?}",
            started.elapsed()
        );
        drop(silent);
    }
}
