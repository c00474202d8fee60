//! The exit status contract: 0 success, 1 failure with one stderr line, 2 usage error; and help.

use crate::support::{Repos, asap, path_str, run, run_command};

#[test]
fn wrong_flags_exit_2_with_a_helpful_message() {
    let cases: [(&[&str], &str); 6] = [
        (&["verify", "--bogus"], "--bogus"),
        (&["verify", "--key-repo", "dir", "tok"], "--audience"),
        (&["token", "--audience", "a", "--lifetime", "0"], "--lifetime"),
        (
            &[
                "keygen",
                "--issuer",
                "x",
                "--alg",
                "HS256",
                "--private-dir",
                "a",
                "--public-dir",
                "b",
            ],
            "forbidden",
        ),
        (&["frobnicate"], "frobnicate"),
        (
            &[
                "token",
                "--audience",
                "a",
                "--private-key",
                "k",
                "--private-key-repo",
                "d",
            ],
            "cannot be used with",
        ),
    ];
    for (args, expected) in cases {
        let stderr = run(args).usage_error().to_owned();
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(stderr.contains("--help"), "{args:?} points to --help: {stderr}");
    }
    // No subcommand at all: usage on stderr, exit 2.
    assert!(run(&[]).usage_error().contains("Usage"));
}

#[test]
fn help_reads_well_for_every_subcommand() {
    let top = run(&["--help"]).ok().to_owned();
    for sub in [
        "keygen",
        "token",
        "verify",
        "curl",
        "serve-keys",
        "data-uri",
        "qsh",
        "connect-token",
    ] {
        assert!(top.contains(sub), "top-level help lists {sub}");
        let help = run(&[sub, "--help"]).ok().to_owned();
        assert!(help.contains(&format!("Usage: asap {sub}")), "{sub}: {help}");
        assert!(help.contains("Example"), "{sub} help has an example");
    }
    let verify = run(&["verify", "--help"]).ok().to_owned();
    for flag in [
        "--audience",
        "--key-repo",
        "--issuer",
        "--leeway",
        "--allow-insecure-http",
        "ASAP_PUBLIC_KEY_REPOSITORY_URL",
    ] {
        assert!(verify.contains(flag), "verify help mentions {flag}");
    }
    let token = run(&["token", "--help"]).ok().to_owned();
    for flag in [
        "--issuer",
        "--kid",
        "--private-key",
        "--private-key-repo",
        "--alg",
        "--subject",
        "--lifetime",
        "--claim",
        "ASAP_ISSUER",
        "ASAP_PRIVATE_KEY",
        "ASAP_AUDIENCE",
        "ASAP_KEY_ID",
    ] {
        assert!(token.contains(flag), "token help mentions {flag}");
    }
    assert!(run(&["--version"]).ok().starts_with("asap "));
}

#[test]
fn the_private_key_from_the_environment_never_shows_in_help() {
    let out = crate::support::run_command(
        crate::support::asap()
            .args(["token", "--help"])
            .env("ASAP_PRIVATE_KEY", "data:secret-material"),
        "",
    );
    assert!(!out.ok().contains("secret-material"));
}

/// Every verification failure: exit 1, one line on stderr naming the rule, nothing on stdout.
#[test]
fn verify_failures_exit_1_with_one_line_naming_the_rule() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    repos.keygen("other", &[]);
    let public = repos.public();
    let verify = |extra: &[&str], token: &str| {
        let mut args = vec!["verify", "--audience", "ledger", "--key-repo", path_str(&public)];
        args.extend_from_slice(extra);
        args.push(token);
        run(&args)
    };
    let token = repos.token("svc", "ledger", &[]);

    let line = verify(&[], "not-a-token").failure().to_owned();
    assert!(line.contains("malformed"), "{line}");

    let wrong_audience = repos.token("svc", "billing", &[]);
    assert!(verify(&[], &wrong_audience).failure().contains("audience"));

    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let sig = parts[2].clone();
    parts[2] = format!("{}{}", if sig.starts_with('A') { "B" } else { "A" }, &sig[1..]);
    assert!(verify(&[], &parts.join(".")).failure().contains("signature"));

    let line = verify(&["--issuer", "other"], &token).failure().to_owned();
    assert!(line.contains("svc") && line.contains("not allowed"), "{line}");

    let subject = repos.token("svc", "ledger", &["--subject", "someone"]);
    assert!(verify(&[], &subject).failure().contains("subject"));

    // A key nobody publishes.
    std::fs::remove_dir_all(public.join("svc")).expect("unpublish");
    let line = verify(&[], &token).failure().to_owned();
    assert!(line.contains("no public key"), "{line}");
}

#[test]
fn an_expired_token_is_refused_with_its_times() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let token = repos.token("svc", "ledger", &["--lifetime", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let public = repos.public();
    let line = run(&[
        "verify",
        "--audience",
        "ledger",
        "--key-repo",
        path_str(&public),
        "--leeway",
        "0",
        &token,
    ])
    .failure()
    .to_owned();
    assert!(line.starts_with("asap: token expired (exp "), "{line}");
    // Within the leeway it is still good.
    run(&[
        "verify",
        "--audience",
        "ledger",
        "--key-repo",
        path_str(&public),
        &token,
    ])
    .ok();
}

/// Issue 13: a huge `--leeway` once let a token that expired in 1970 verify. The leeway is
/// capped at 300 s; above it the command refuses to run, in one line, before any verification.
#[test]
fn a_leeway_above_300_s_is_refused_in_one_line() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let token = repos.token("svc", "ledger", &[]);
    let public = repos.public();
    let verify = |leeway: &str| {
        run(&[
            "verify",
            "--audience",
            "ledger",
            "--key-repo",
            path_str(&public),
            "--leeway",
            leeway,
            &token,
        ])
    };
    let line = verify("301").failure().to_owned();
    assert!(
        line.contains("leeway 301 s is larger than the maximum 300 s"),
        "{line}"
    );
    let line = verify("99999999999").failure().to_owned();
    assert!(line.contains("larger than the maximum 300 s"), "{line}");
    verify("300").ok();
}

#[test]
fn eddsa_needs_to_be_enabled_and_says_so() {
    let repos = Repos::new();
    repos.keygen("svc", &["--alg", "EdDSA"]);
    let token = repos.token("svc", "ledger", &[]);
    let public = repos.public();
    let line = run(&[
        "verify",
        "--audience",
        "ledger",
        "--key-repo",
        path_str(&public),
        &token,
    ])
    .failure()
    .to_owned();
    assert!(line.contains("--enable-eddsa"), "{line}");
}

#[test]
fn token_failures_say_what_to_give() {
    let line = run(&["token", "--audience", "a"]).failure().to_owned();
    assert!(
        line.contains("--issuer") && line.contains("ASAP_ISSUER"),
        "{line}"
    );
    let line = run(&["token", "--audience", "a", "--issuer", "svc"])
        .failure()
        .to_owned();
    assert!(line.contains("--private-key"), "{line}");
    let line = run(&[
        "token",
        "--audience",
        "a",
        "--issuer",
        "svc",
        "--private-key",
        "/nonexistent/key.pem",
    ])
    .failure()
    .to_owned();
    // A value that names no file is not shown (it may be a key; see the next test), but the
    // error says what was expected.
    assert!(
        line.contains("--private-key is neither") && line.contains("existing file"),
        "{line}"
    );
    let repos = Repos::new();
    repos.keygen("svc", &["--name", "k1"]);
    let private = repos.private();
    let line = run(&[
        "token",
        "--audience",
        "a",
        "--issuer",
        "svc",
        "--private-key-repo",
        path_str(&private),
        "--claim",
        "scope=read",
    ])
    .failure()
    .to_owned();
    assert!(line.contains("not JSON"), "{line}");
    let line = run(&[
        "token",
        "--audience",
        "a",
        "--issuer",
        "svc",
        "--private-key-repo",
        path_str(&private),
        "--claim",
        "iss=\"x\"",
    ])
    .failure()
    .to_owned();
    assert!(line.contains("iss"), "{line}");
    // The kid must belong to the issuer.
    let key = private.join("svc/k1.pem");
    let line = run(&[
        "token",
        "--audience",
        "a",
        "--issuer",
        "svc",
        "--private-key",
        path_str(&key),
        "--kid",
        "other/k1.pem",
    ])
    .failure()
    .to_owned();
    assert!(line.contains("does not belong"), "{line}");
}

/// A private key value that is neither PEM, nor a data URI, nor an existing file may still be
/// a secret (a key pasted without its PEM lines into `ASAP_PRIVATE_KEY`, the wrong variable):
/// the error names where it came from and what was expected, never the value. A value that
/// names an existing file is a path, and is named.
#[test]
fn an_unrecognised_private_key_value_is_never_echoed() {
    let secret = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgS3cr3tK3yMat3r1al";
    let pem_without_armor = format!("  {secret}\n{secret}  ");
    for (value, from_env) in [
        (secret, false),
        (secret, true),
        (pem_without_armor.as_str(), true),
    ] {
        let mut command = asap();
        command.args(["token", "--issuer", "svc", "--audience", "a"]);
        if from_env {
            command.env("ASAP_PRIVATE_KEY", value);
        } else {
            command.args(["--private-key", value]);
        }
        let out = run_command(&mut command, "");
        let line = out.failure();
        assert!(!line.contains(&secret[..16]), "{line}");
        let origin = if from_env {
            "ASAP_PRIVATE_KEY"
        } else {
            "--private-key"
        };
        assert!(
            line.contains(&format!("{origin} is neither a PEM private key"))
                && line.contains("data: URI")
                && line.contains("existing file"),
            "{line}"
        );
    }
    // user-token takes a data URI or a file: the same rule.
    let line = run(&["user-token", "--username", "ann", "--private-key", secret])
        .failure()
        .to_owned();
    assert!(!line.contains(&secret[..16]), "{line}");
    assert!(line.contains("--private-key is neither a data: URI"), "{line}");

    // An existing path that is not a key file: named, since it is a path.
    let dir = tempfile::tempdir().expect("tempdir");
    let line = run(&[
        "token",
        "--issuer",
        "svc",
        "--audience",
        "a",
        "--kid",
        "svc/k1",
        "--private-key",
        path_str(dir.path()),
    ])
    .failure()
    .to_owned();
    assert!(line.contains(path_str(dir.path())), "{line}");
}

/// `--subject` is an allow-list of effective subjects (`sub`, or `iss` without one), as its help
/// says: listed subjects may differ from the issuer, and an issuer acting for itself is accepted
/// only when listed too. (Before, the help promised "accept this subject when it differs from
/// the issuer", while the issuer's own tokens were refused.)
#[test]
fn verify_subject_is_an_allow_list_of_effective_subjects_as_its_help_says() {
    let help = run(&["verify", "--help"]).ok().to_owned();
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains("Accept only tokens whose subject (`sub`, or `iss` when there is no `sub`) is SUB"),
        "{help}"
    );
    assert!(
        help.contains("An issuer's token for itself needs `--subject ISS` too"),
        "{help}"
    );

    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let public = repos.public();
    let verify = |subjects: &[&str], token: &str| {
        let mut args = vec!["verify", "--audience", "ledger", "--key-repo", path_str(&public)];
        for subject in subjects {
            args.extend_from_slice(&["--subject", subject]);
        }
        args.push(token);
        run(&args)
    };
    let for_alice = repos.token("svc", "ledger", &["--subject", "alice"]);
    let for_itself = repos.token("svc", "ledger", &[]);
    let sub_equals_iss = repos.token("svc", "ledger", &["--subject", "svc"]);

    assert!(verify(&["alice"], &for_alice).ok().contains("\"sub\":\"alice\""));
    for token in [&for_itself, &sub_equals_iss] {
        let line = verify(&["alice"], token).failure().to_owned();
        assert!(
            line.contains("\"svc\"") && line.contains("--subject lists every accepted subject"),
            "{line}"
        );
        verify(&["alice", "svc"], token).ok();
    }
    verify(&["alice", "svc"], &for_alice).ok();
    // Without --subject, the default rule: sub must equal iss.
    verify(&[], &sub_equals_iss).ok();
    assert!(verify(&[], &for_alice).failure().contains("subject"));
}
