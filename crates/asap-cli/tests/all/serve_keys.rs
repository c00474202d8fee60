//! `asap serve-keys` as a child process: verify over HTTP(S), headers, traversal, shutdown.

use crate::support::{KeyServerProcess, Repos, asap, path_str, raw_get, run, run_command};

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
    assert_eq!(status, 500, "{response}");
    assert!(!response.contains("PRIVATE KEY"), "{response}");
    let log = server.wait_for_log_lines(2).join("\n");
    assert!(log.contains("not a PEM public key"), "{log}");
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
