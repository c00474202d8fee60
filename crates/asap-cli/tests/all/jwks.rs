//! `asap serve-keys --jwks` and `asap verify --jwks`: one repository for PEM-by-kid and JWKS
//! consumers, and the verify output contract with a key set.

use crate::support::{KeyServerProcess, Repos, raw_get, run};

#[test]
fn serve_keys_publishes_the_directory_as_a_key_set_that_verify_reads() {
    let repos = Repos::new();
    let kid = repos.keygen("billing", &["--alg", "ES256"]);
    let server = KeyServerProcess::start(&repos.public(), &["--jwks"]);
    let jwks = format!("{}.well-known/jwks.json", server.url);

    let (status, response) = raw_get(server.addr, "/.well-known/jwks.json");
    assert_eq!(status, 200);
    let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/jwk-set+json"),
        "{head}"
    );
    let set: serde_json::Value = serde_json::from_str(body).expect("a JSON key set");
    assert_eq!(set["keys"][0]["kid"], kid.as_str());
    assert_eq!(set["keys"][0]["crv"], "P-256");
    // The same key by kid, as before.
    assert_eq!(raw_get(server.addr, &format!("/{kid}")).0, 200);

    let token = repos.token("billing", "ledger", &[]);
    let out = run(&[
        "verify",
        "--audience",
        "ledger",
        "--jwks",
        &jwks,
        "--allow-insecure-http",
        &token,
    ]);
    let claims: serde_json::Value = serde_json::from_str(out.ok()).expect("claims JSON");
    assert_eq!(claims["iss"], "billing");
    assert_eq!(out.stdout.lines().count(), 1, "one line of JSON");

    let refused = run(&[
        "verify",
        "--audience",
        "payroll",
        "--jwks",
        &jwks,
        "--allow-insecure-http",
        &token,
    ]);
    assert_eq!(
        refused.failure().trim(),
        "asap: token is not meant for this service (audience mismatch)"
    );
    let plain = run(&["verify", "--audience", "ledger", "--jwks", &jwks, &token]);
    let line = plain.failure();
    assert!(
        line.contains("plain http") && line.contains("--allow-insecure-http"),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1);
}

#[test]
fn without_the_switch_the_key_set_is_not_published() {
    let repos = Repos::new();
    repos.keygen("billing", &["--alg", "ES256"]);
    let server = KeyServerProcess::start(&repos.public(), &[]);
    assert_eq!(raw_get(server.addr, "/.well-known/jwks.json").0, 404);
}
