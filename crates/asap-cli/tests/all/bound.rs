//! `asap token --bind` and `asap curl --bind`: request-bound tokens from the command line.

use std::time::Duration;

use crate::support::{Repos, one_shot_server, path_str, payload, run};

#[test]
fn token_bind_puts_the_qsh_of_the_request_relative_to_the_base_url_in_the_token() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let url = "https://ledger.example/api/pay?b=2&a=1";
    let base = "https://ledger.example/api";
    let token = repos.token("svc", "ledger", &["--bind", "POST", url, "--base-url", base]);
    let expected = run(&["qsh", "--base-url", base, "POST", url]).ok().to_owned();
    assert_eq!(payload(&token)["qsh"], expected.as_str());
    let canonical = run(&["qsh", "--canonical", "--base-url", base, "POST", url])
        .ok()
        .to_owned();
    assert_eq!(canonical, "POST&/pay&a=1&b=2");
    // Without --base-url the whole path is bound.
    let whole = repos.token("svc", "ledger", &["--bind", "POST", "/api/pay?b=2&a=1"]);
    assert_ne!(payload(&whole)["qsh"], expected.as_str());
    assert_eq!(
        payload(&whole)["qsh"],
        run(&["qsh", "POST", "/api/pay?a=1&b=2"]).ok()
    );
    assert!(payload(&repos.token("svc", "ledger", &[])).get("qsh").is_none());
}

#[test]
fn token_bind_refuses_a_url_outside_the_base_url_and_a_bad_method() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let private = repos.private();
    let base = [
        "token",
        "--issuer",
        "svc",
        "--private-key-repo",
        path_str(&private),
        "--audience",
        "ledger",
    ];
    let mut outside = base.to_vec();
    outside.extend([
        "--bind",
        "GET",
        "https://other.example/api/x",
        "--base-url",
        "https://ledger.example/api",
    ]);
    let line = run(&outside).failure().to_owned();
    assert!(line.contains("cannot bind the token"), "{line}");
    assert!(line.contains("not under the base URL"), "{line}");
    let mut bad_method = base.to_vec();
    bad_method.extend(["--bind", "GE T", "/x"]);
    assert!(run(&bad_method).failure().contains("invalid method"));
}

#[test]
fn base_url_without_bind_is_a_usage_error() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let private = repos.private();
    for command in ["token", "curl"] {
        let mut args = vec![
            command,
            "--issuer",
            "svc",
            "--private-key-repo",
            path_str(&private),
        ];
        args.extend(["--audience", "ledger", "--base-url", "/api"]);
        if command == "curl" {
            args.push("http://127.0.0.1:9/x");
        }
        let line = run(&args).usage_error().to_owned();
        assert!(line.contains("--bind"), "{command}: {line}");
    }
}

#[test]
fn curl_bind_binds_the_token_to_the_request_it_sends() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let (url, received) = one_shot_server(200, "paid\n");
    let private = repos.private();
    let target = format!("{url}/api/pay?to=acme&amount=3");
    let args = [
        "curl",
        "--bind",
        "-X",
        "POST",
        "-d",
        "{}",
        "--base-url",
        &format!("{url}/api"),
        "--issuer",
        "svc",
        "--private-key-repo",
        path_str(&private),
        "--audience",
        "ledger",
        &target,
    ];
    assert_eq!(run(&args).ok(), "paid");
    let request = received
        .recv_timeout(Duration::from_secs(10))
        .expect("the server got a request");
    assert!(
        request.starts_with("POST /api/pay?to=acme&amount=3 HTTP/1.1\r\n"),
        "{request}"
    );
    let token = request
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("authorization: bearer ")
                .then(|| l[22..].to_owned())
        })
        .expect("a Bearer token");
    assert_eq!(
        payload(&token)["qsh"],
        run(&["qsh", "POST", "/pay?amount=3&to=acme"]).ok(),
        "the qsh of what was sent, relative to --base-url"
    );
}
