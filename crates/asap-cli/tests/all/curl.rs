//! `asap curl`: an authenticated request, like `curl --fail`.

use std::time::Duration;

use crate::support::{Repos, asap, one_shot_server, path_str, run, run_command};

fn signing_args(repos: &Repos) -> Vec<String> {
    vec![
        "--issuer".into(),
        "svc".into(),
        "--private-key-repo".into(),
        path_str(&repos.private()).to_owned(),
        "--audience".into(),
        "ledger".into(),
    ]
}

#[test]
fn curl_sends_a_valid_bearer_token_with_method_headers_and_body() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let (url, received) = one_shot_server(200, "paid\n");
    let mut args = vec![
        "curl".to_owned(),
        "-X".into(),
        "PUT".into(),
        "-H".into(),
        "X-Trace: abc".into(),
    ];
    args.extend([
        "-H".into(),
        "Content-Type: application/json".into(),
        "-d".into(),
        "{\"amount\":3}".into(),
    ]);
    args.extend(signing_args(&repos));
    args.push(format!("{url}/pay?now=1"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args);
    assert_eq!(out.ok(), "paid");

    let request = received
        .recv_timeout(Duration::from_secs(10))
        .expect("the server got a request");
    assert!(request.starts_with("PUT /pay?now=1 HTTP/1.1\r\n"), "{request}");
    let lower = request.to_ascii_lowercase();
    assert!(lower.contains("x-trace: abc"), "{request}");
    assert!(lower.contains("content-type: application/json"), "{request}");
    assert!(request.ends_with("{\"amount\":3}"), "{request}");
    let token = request
        .lines()
        .find_map(|l| {
            l.strip_prefix("authorization: Bearer ")
                .or_else(|| l.strip_prefix("Authorization: Bearer "))
        })
        .expect("a Bearer token");
    let public = repos.public();
    run(&[
        "verify",
        "--audience",
        "ledger",
        "--key-repo",
        path_str(&public),
        token,
    ])
    .ok();
}

#[test]
fn curl_exits_1_on_http_errors_like_curl_fail() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let (url, _received) = one_shot_server(401, "go away\n");
    let mut args = vec!["curl".to_owned()];
    args.extend(signing_args(&repos));
    args.push(format!("{url}/secret"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let line = run(&args).failure().to_owned();
    assert!(line.contains("401"), "{line}");
    assert!(line.contains("WWW-Authenticate: Bearer"), "{line}");
}

#[test]
fn curl_refuses_to_send_a_token_in_clear_text_off_this_machine() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let mut args = vec!["curl".to_owned()];
    args.extend(signing_args(&repos));
    // Never contacted: the check comes first.
    args.push("http://keys.example.invalid/api".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let line = run(&args).failure().to_owned();
    assert!(
        line.contains("clear text") && line.contains("--allow-insecure-http"),
        "{line}"
    );
}

#[test]
fn curl_never_shows_url_credentials_or_header_values_in_its_errors() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let secret = "pw-9f3k";
    let cases: [&[&str]; 3] = [
        // Refused before any connection, the URL in the message.
        &[&format!(
            "http://ann:{secret}@keys.example.invalid/api?key={secret}"
        )],
        // Not a URL at all.
        &[&format!("ht!tp://ann:{secret}@x/?key={secret}")],
        // A -H value without a colon: the whole value may be the credential.
        &[
            "-H",
            &format!("X-Api-Key {secret}"),
            "https://keys.example.invalid/",
        ],
    ];
    for case in cases {
        let mut args: Vec<String> = vec!["curl".to_owned()];
        args.extend(signing_args(&repos));
        args.extend(case.iter().map(|a| (*a).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let line = run(&args).failure().to_owned();
        assert!(!line.contains(secret), "{line}");
    }
}

/// A listener that counts the connections it is offered, standing for a proxy named in the
/// environment.
fn proxy_recorder() -> (String, std::sync::mpsc::Receiver<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
            let _ = sender.send(());
        }
    });
    (url, receiver)
}

/// A proxy from the environment never sees a token or a key request: `curl` (which sends the
/// token, in clear over the loopback `http` it allows) and the key client (a loopback `http`
/// key set a proxy could answer with its own key) go straight to the URL.
#[test]
fn proxies_from_the_environment_see_neither_tokens_nor_key_requests() {
    let (proxy, connections) = proxy_recorder();
    let with_proxy = |args: &[&str]| {
        let mut command = crate::support::asap();
        for name in [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            command.env(name, &proxy);
        }
        command.env_remove("NO_PROXY").env_remove("no_proxy");
        crate::support::run_command(command.args(args), "")
    };
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let (url, received) = one_shot_server(200, "paid\n");
    let mut args = vec!["curl".to_owned()];
    args.extend(signing_args(&repos));
    args.push(format!("{url}/pay"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(with_proxy(&args).ok(), "paid");
    assert!(
        received.recv_timeout(Duration::from_secs(10)).is_ok(),
        "the URL got the request"
    );

    let keys = Repos::new();
    keys.keygen("billing", &["--alg", "ES256"]);
    let server = crate::support::KeyServerProcess::start(&keys.public(), &["--jwks"]);
    let jwks = format!("{}.well-known/jwks.json", server.url);
    let token = keys.token("billing", "ledger", &[]);
    let verified = with_proxy(&[
        "verify",
        "--audience",
        "ledger",
        "--jwks",
        &jwks,
        "--allow-insecure-http",
        &token,
    ]);
    verified.ok();
    assert!(
        connections.recv_timeout(Duration::from_millis(200)).is_err(),
        "the proxy was offered a connection"
    );
}

/// `-d @FILE` and `-d @-` read at most 16 MiB, as `--help` says: a body at the cap is read
/// (the command goes on to the signing options, missing here), one byte more is refused with
/// the cap named, before anything is signed or sent.
#[test]
fn request_bodies_are_read_up_to_16_mib_and_refused_beyond() {
    const CAP: usize = 16 * 1024 * 1024;
    let help = run(&["curl", "--help"]).ok().to_owned();
    assert!(help.contains("at most 16 MiB"), "{help}");
    let dir = tempfile::tempdir().expect("tempdir");
    let at_cap = dir.path().join("at-cap.bin");
    let over_cap = dir.path().join("over-cap.bin");
    std::fs::write(&at_cap, vec![b'x'; CAP]).expect("write");
    std::fs::write(&over_cap, vec![b'x'; CAP + 1]).expect("write");
    let curl = |data: &str, stdin: &str| {
        run_command(
            asap().args(["curl", "--audience", "ledger", "-d", data, "http://127.0.0.1:9/"]),
            stdin,
        )
    };
    let too_large = "larger than 16777216 bytes (16 MiB), too large for a request body (-d)";

    let at_cap_data = format!("@{}", path_str(&at_cap));
    let line = curl(&at_cap_data, "").failure().to_owned();
    assert!(line.contains("no issuer"), "{line}");
    let over_cap_data = format!("@{}", path_str(&over_cap));
    let line = curl(&over_cap_data, "").failure().to_owned();
    assert!(line.contains(too_large), "{line}");

    let line = curl("@-", &"x".repeat(CAP)).failure().to_owned();
    assert!(line.contains("no issuer"), "{line}");
    let line = curl("@-", &"x".repeat(CAP + 1)).failure().to_owned();
    assert!(
        line.contains(&format!("the body on stdin is {too_large}")),
        "{line}"
    );
}
