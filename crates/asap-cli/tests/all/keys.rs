//! `asap keys add|list|revoke` and `asap serve-keys --db`: a registry on a SQLite file (and on
//! a real PostgreSQL server), an engineer's SSH key signing tokens that verify against it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use asap_testkit::postgres::PostgresServer;

use crate::support::{KeyServerProcess, asap, path_str, raw_get, run, run_command};

/// `ssh-keygen` into `dir`: the private key path and the `.pub` path. `None` (a skip) locally
/// when ssh-keygen is missing, a panic in CI.
pub(crate) fn ssh_keygen(dir: &Path, name: &str, args: &[&str]) -> Option<(PathBuf, PathBuf)> {
    let path = dir.join(name);
    match Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", "me@laptop", "-f"])
        .arg(&path)
        .args(args)
        .status()
    {
        Ok(status) => assert!(status.success(), "ssh-keygen {args:?} failed"),
        Err(e) if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => {
            panic!("ssh-keygen is required in CI: {e}")
        }
        Err(e) => {
            eprintln!("skipping: cannot run ssh-keygen ({e}); install openssh-client");
            return None;
        }
    }
    let public = path.with_extension("pub");
    Some((path, public))
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("keys.db").display())
}

#[test]
fn an_ssh_key_in_the_registry_verifies_tokens_until_revoked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((private, public)) = ssh_keygen(dir.path(), "id_ed25519", &["-t", "ed25519"]) else {
        return;
    };
    let db = sqlite_url(dir.path());
    let kid = run(&[
        "keys",
        "add",
        "--db",
        &db,
        "--principal",
        "alice",
        "--name",
        "laptop",
        path_str(&public),
    ])
    .ok()
    .to_owned();
    assert_eq!(kid, "alice/laptop");

    let server = KeyServerProcess::start_with(&["--db", &db]);
    assert!(
        server.log()[0].contains("serving the sqlite key registry"),
        "{:?}",
        server.log()
    );
    let token = run(&[
        "token",
        "--issuer",
        "alice",
        "--kid",
        "alice/laptop",
        "--private-key",
        path_str(&private),
        "--audience",
        "ledger",
    ])
    .ok()
    .to_owned();
    let verify = || {
        run(&[
            "verify",
            "--audience",
            "ledger",
            "--key-repo",
            &server.url,
            "--allow-insecure-http",
            "--enable-eddsa",
            &token,
        ])
    };
    let claims: serde_json::Value = serde_json::from_str(verify().ok()).expect("claims");
    assert_eq!(claims["iss"], "alice");

    // The served key: PEM, with the shorter max-age used for a registry.
    let (status, response) = raw_get(server.addr, "/alice/laptop");
    assert_eq!(status, 200, "{response}");
    let lower = response.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/x-pem-file"),
        "{response}"
    );
    assert!(lower.contains("cache-control: max-age=30"), "{response}");
    assert!(response.contains("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(raw_get(server.addr, "/alice/desktop").0, 404);
    assert_eq!(raw_get(server.addr, "/alice/../etc/passwd").0, 404);

    // Revoked by another process: gone from the repository within the registry's cache TTL.
    let revoked = run(&[
        "keys",
        "revoke",
        "--db",
        &db,
        "--principal",
        "alice",
        "--name",
        "laptop",
    ]);
    assert_eq!(revoked.ok(), "alice/laptop");
    let start = Instant::now();
    while raw_get(server.addr, "/alice/laptop").0 != 404 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "a revoked key is still served after the 10 s cache TTL"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let line = verify().failure().to_owned();
    assert!(line.contains("alice/laptop"), "{line}");
}

#[test]
fn add_list_and_revoke_print_what_scripts_need() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(dir.path());
    let keygen = run(&[
        "keygen",
        "--issuer",
        "svc",
        "--name",
        "k1",
        "--private-dir",
        path_str(&dir.path().join("private")),
        "--public-dir",
        path_str(&dir.path().join("public")),
    ]);
    keygen.ok();
    let pem = dir.path().join("public/svc/k1.pem");

    // From stdin, without a name: named after the key's SHA-256.
    let text = std::fs::read_to_string(&pem).expect("pem");
    let out = run_command(
        asap()
            .args(["keys", "add", "--principal", "svc", "-"])
            .env("ASAP_KEY_REGISTRY_DB", &db),
        &text,
    );
    let unnamed = out.ok().to_owned();
    assert!(unnamed.starts_with("svc/sha256-"), "{unnamed}");
    let named = run(&[
        "keys",
        "add",
        "--db",
        &db,
        "--principal",
        "svc",
        "--name",
        "k1",
        path_str(&pem),
    ]);
    assert_eq!(named.ok(), "svc/k1");
    let revoked = run(&[
        "keys",
        "revoke",
        "--db",
        &db,
        "--principal",
        "svc",
        "--name",
        "k1",
    ]);
    assert_eq!(revoked.ok(), "svc/k1");
    // The same key is still registered without a name: per-user tokens still verify with it.
    let unnamed_name = unnamed.trim_start_matches("svc/");
    assert!(
        revoked.stderr.contains("warning") && revoked.stderr.contains(unnamed_name),
        "{}",
        revoked.stderr
    );

    let list = run(&["keys", "list", "--db", &db]);
    let lines: Vec<&str> = list.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.contains(&"svc/k1\tEC P-256\trevoked"), "{lines:?}");
    assert!(
        lines.contains(&format!("{unnamed}\tEC P-256\tactive").as_str()),
        "{lines:?}"
    );
    let json = run(&["keys", "list", "--db", &db, "--principal", "svc", "--json"]);
    let keys: serde_json::Value = serde_json::from_str(json.ok()).expect("json");
    assert_eq!(keys.as_array().map(Vec::len), Some(2));
    assert!(
        keys[0]["public_key"]
            .as_str()
            .is_some_and(|p| p.contains("PUBLIC KEY"))
    );
    // The fingerprint is the kid a per-user token signed with the key carries.
    for key in keys.as_array().expect("array") {
        let public = asap_core::PublicKey::from_pem(key["public_key"].as_str().expect("pem")).expect("key");
        assert_eq!(
            key["fingerprint"].as_str(),
            Some(user_tokens::Fingerprint::of(&public).as_str())
        );
    }
    assert!(
        run(&["keys", "list", "--db", &db, "--principal", "nobody"])
            .ok()
            .is_empty()
    );
}

#[test]
fn bad_input_fails_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(dir.path());
    let private = dir.path().join("id");
    std::fs::write(
        &private,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    let line = run(&[
        "keys",
        "add",
        "--db",
        &db,
        "--principal",
        "svc",
        path_str(&private),
    ])
    .failure()
    .to_owned();
    assert!(line.contains("this is a private key"), "{line}");
    let dsa = dir.path().join("id_dsa.pub");
    std::fs::write(&dsa, "ssh-dss AAAAB3NzaC1kc3MAAACBAP8= me@laptop\n").expect("write");
    let line = run(&["keys", "add", "--db", &db, "--principal", "svc", path_str(&dsa)])
        .failure()
        .to_owned();
    assert!(line.contains("\"ssh-dss\" is not supported"), "{line}");

    let line = run(&[
        "keys",
        "revoke",
        "--db",
        &db,
        "--principal",
        "svc",
        "--name",
        "nope",
    ])
    .failure()
    .to_owned();
    assert!(line.contains("no key svc/nope is registered"), "{line}");
    let line = run(&["keys", "list", "--db", "mysql://localhost/keys"])
        .failure()
        .to_owned();
    assert!(line.contains("unsupported database URL"), "{line}");

    // serve-keys takes a directory or a registry, not both and not neither.
    run(&["serve-keys"]).usage_error();
    run(&["serve-keys", "--dir", path_str(dir.path()), "--db", &db]).usage_error();
    run(&["keys", "add", "--principal", "svc", "key.pub"]).usage_error();
}

/// A registry URL in an error shows neither its password nor its query, whatever their shape:
/// a password holding an unencoded `@` (`u:p@ss@host`), `?password=`, `?sslpassword=`.
#[test]
fn registry_url_errors_never_show_a_password() {
    for url in [
        // Nothing listens on port 1: a connection error (after the 5 s acquire timeout).
        "postgres://app:p@ss-hunter2@127.0.0.1:1/keys",
        // A port that is no number: refused as the URL is parsed.
        "postgres://app@127.0.0.1:x/keys?password=hunter2",
        "postgres://app@127.0.0.1:x/keys?sslmode=disable&sslpassword=hunter2",
        // An unsupported scheme: the registry's own error quotes the URL.
        "postgress://app:p@ss-hunter2@db.internal/keys",
        "mysql://app@db.internal/keys?password=hunter2",
    ] {
        let line = run(&["keys", "list", "--db", url]).failure().to_owned();
        assert!(!line.contains("hunter2"), "{url}: {line}");
        assert!(line.contains("cannot open the key registry"), "{url}: {line}");
        assert!(line.contains("<redacted>"), "{url}: {line}");
    }
}

/// `keys add` reads at most 64 KiB (the most a key text may be) from a file or stdin: a key
/// padded to the cap is registered, one byte more is refused, and `/dev/zero` is not read
/// without end.
#[test]
fn keys_add_reads_a_key_up_to_64_kib_and_refuses_more() {
    const CAP: usize = 64 * 1024;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(dir.path());
    let key =
        asap_core::PrivateKey::generate(asap_core::KeySpec::Curve(asap_core::KeyKind::P256)).expect("key");
    let pem = key.public_key().expect("public").to_pem();
    let padded = |len: usize| format!("{pem}{}", "\n".repeat(len - pem.len()));
    let file = dir.path().join("key.pem");

    std::fs::write(&file, padded(CAP)).expect("write");
    let add = |name: &str| {
        run(&[
            "keys",
            "add",
            "--db",
            &db,
            "--principal",
            "svc",
            "--name",
            name,
            path_str(&file),
        ])
    };
    assert_eq!(add("at-cap").ok(), "svc/at-cap");
    std::fs::write(&file, padded(CAP + 1)).expect("write");
    let line = add("over-cap").failure().to_owned();
    assert!(line.contains("larger than 65536 bytes"), "{line}");
    #[cfg(unix)]
    {
        let line = run(&["keys", "add", "--db", &db, "--principal", "svc", "/dev/zero"])
            .failure()
            .to_owned();
        assert!(line.contains("larger than 65536 bytes"), "{line}");
    }

    let stdin = |text: &str, name: &str| {
        run_command(
            asap().args([
                "keys",
                "add",
                "--db",
                &db,
                "--principal",
                "svc",
                "--name",
                name,
                "-",
            ]),
            text,
        )
    };
    assert_eq!(stdin(&padded(CAP), "stdin-at-cap").ok(), "svc/stdin-at-cap");
    let line = stdin(&padded(CAP + 1), "stdin-over-cap").failure().to_owned();
    assert!(
        line.contains("the key on stdin is larger than 65536 bytes"),
        "{line}"
    );
    assert!(!run(&["keys", "list", "--db", &db]).ok().contains("over-cap"));
}

#[test]
fn the_same_commands_on_postgres() {
    let Some(pg) = PostgresServer::start() else { return };
    let db = pg.create_database("cli_keys");
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((_, public)) = ssh_keygen(dir.path(), "id_ecdsa", &["-t", "ecdsa", "-b", "384"]) else {
        return;
    };
    let add = run(&[
        "keys",
        "add",
        "--db",
        &db,
        "--principal",
        "bob",
        "--name",
        "ci",
        path_str(&public),
    ]);
    assert_eq!(add.ok(), "bob/ci");
    assert_eq!(
        run(&["keys", "list", "--db", &db]).ok(),
        "bob/ci\tEC P-384\tactive"
    );
    let server = KeyServerProcess::start_with(&["--db", &db, "--max-age", "5"]);
    let (status, response) = raw_get(server.addr, "/bob/ci");
    assert_eq!(status, 200, "{response}");
    assert!(response.to_ascii_lowercase().contains("cache-control: max-age=5"));
    assert_eq!(
        run(&[
            "keys",
            "revoke",
            "--db",
            &db,
            "--principal",
            "bob",
            "--name",
            "ci"
        ])
        .ok(),
        "bob/ci"
    );
    assert_eq!(
        run(&["keys", "list", "--db", &db]).ok(),
        "bob/ci\tEC P-384\trevoked"
    );
}

/// A key name is one kid segment, so a parent issuer cannot mint keys that sign for a nested
/// one (`team` writing `team/billing/k2.pem`), nor sign with a nested issuer's key.
#[test]
fn keygen_and_keys_add_refuse_a_key_name_with_a_slash() {
    let repos = crate::support::Repos::new();
    assert_eq!(
        repos.keygen("team/billing", &["--name", "k1"]),
        "team/billing/k1.pem",
        "a nested issuer is fine"
    );
    let line = run(&[
        "keygen",
        "--issuer",
        "team",
        "--name",
        "billing/k2",
        "--private-dir",
        path_str(&repos.private()),
        "--public-dir",
        path_str(&repos.public()),
    ])
    .failure()
    .to_owned();
    assert!(line.contains("must not contain `/`"), "{line}");
    assert!(!repos.public().join("team/billing/k2.pem").exists());
    assert!(!repos.private().join("team/billing/k2.pem").exists());

    // The signer refuses to sign for `team` with `team/billing`'s key.
    let line = run(&[
        "token",
        "--issuer",
        "team",
        "--kid",
        "team/billing/k1.pem",
        "--private-key",
        path_str(&repos.private().join("team/billing/k1.pem")),
        "--audience",
        "svc",
    ])
    .failure()
    .to_owned();
    assert!(line.contains("does not belong to issuer \"team\""), "{line}");

    let db = sqlite_url(repos.dir.path());
    let line = run(&[
        "keys",
        "add",
        "--db",
        &db,
        "--principal",
        "team",
        "--name",
        "billing/k1",
        path_str(&repos.public().join("team/billing/k1.pem")),
    ])
    .failure()
    .to_owned();
    assert!(line.contains("must not contain `/`"), "{line}");
}
