//! `asap run`: a real child process gets a fresh token in its environment, and not the key.

use crate::support::{Repos, asap, path_str, run, run_command};

#[test]
fn the_command_gets_a_verifiable_token_and_the_header_text_but_no_secret() {
    let repos = Repos::new();
    let kid = repos.keygen("svc", &[]);
    let private = repos.private();
    let key = private.join(&kid);
    let data_uri = run(&["data-uri", "--kid", &kid, path_str(&key)]).ok().to_owned();
    let mut command = asap();
    command
        .env("ASAP_ISSUER", "svc")
        .env("ASAP_PRIVATE_KEY", &data_uri)
        .env("ASAP_AUDIENCE", "ledger")
        .env("ASAP_CONNECT_SHARED_SECRET", "tenant-secret")
        .env("ASAP_KEY_REGISTRY_DB", "postgres://app:hunter2@db/keys")
        .args(["run", "--", "sh", "-c"])
        .arg("printf '%s\\n%s\\n%s%s%s' \"$ASAP_TOKEN\" \"$ASAP_AUTHORIZATION\" \"${ASAP_PRIVATE_KEY-no key}\" \"${ASAP_CONNECT_SHARED_SECRET-}\" \"${ASAP_KEY_REGISTRY_DB-}\"; exit 3");
    let out = run_command(&mut command, "");
    assert_eq!(out.code, Some(3), "the command's exit status: {out:#?}");
    assert_eq!(out.stderr, "", "asap prints nothing: {out:#?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let [token, authorization, key] = lines[..] else {
        panic!("three lines: {out:#?}");
    };
    assert_eq!(authorization, format!("Bearer {token}"));
    assert_eq!(
        key, "no key",
        "the child must get none of ASAP_PRIVATE_KEY, ASAP_CONNECT_SHARED_SECRET, ASAP_KEY_REGISTRY_DB"
    );
    let public = repos.public();
    let claims = run(&[
        "verify",
        "--audience",
        "ledger",
        "--key-repo",
        path_str(&public),
        token,
    ]);
    assert!(claims.ok().contains("\"iss\":\"svc\""), "{claims:#?}");
}

#[test]
fn each_run_signs_a_fresh_token() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let private = repos.private();
    let token = || {
        run(&[
            "run",
            "--issuer",
            "svc",
            "--private-key-repo",
            path_str(&private),
            "--audience",
            "ledger",
            "--",
            "sh",
            "-c",
            "printf %s \"$ASAP_TOKEN\"",
        ])
        .ok()
        .to_owned()
    };
    let (first, second) = (token(), token());
    assert_eq!(first.split('.').count(), 3, "{first}");
    assert_ne!(first, second);
}

#[test]
fn a_missing_command_is_127_and_no_command_is_a_usage_error() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let private = repos.private();
    let signing = [
        "--issuer",
        "svc",
        "--private-key-repo",
        path_str(&private),
        "--audience",
        "ledger",
    ];
    let mut args = vec!["run"];
    args.extend(signing);
    args.extend(["--", "/nonexistent/command"]);
    let out = run(&args);
    assert_eq!(out.code, Some(127), "{out:#?}");
    assert!(
        out.stderr.starts_with("asap: cannot run /nonexistent/command"),
        "{out:#?}"
    );

    let mut args = vec!["run"];
    args.extend(signing);
    run(&args).usage_error();
}

#[test]
fn a_key_that_cannot_sign_fails_before_the_command_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let marker = dir.path().join("ran");
    let out = run(&[
        "run",
        "--issuer",
        "svc",
        "--private-key",
        path_str(&dir.path().join("missing.pem")),
        "--kid",
        "svc/k1",
        "--audience",
        "ledger",
        "--",
        "touch",
        path_str(&marker),
    ]);
    out.failure();
    assert!(!marker.exists(), "the command must not run without a token");
}
