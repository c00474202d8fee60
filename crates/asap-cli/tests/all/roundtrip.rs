//! keygen → token → verify, for every algorithm, and what keygen promises about its files.

use std::time::Duration;

use crate::support::{Repos, asap, header, path_str, payload, run, run_command};

const ALGORITHMS: [&str; 10] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
];

#[test]
fn keygen_token_verify_round_trip_for_every_algorithm() {
    let repos = Repos::new();
    for alg in ALGORITHMS {
        // One issuer per algorithm: each repository directory holds one key.
        let issuer = format!("svc-{}", alg.to_ascii_lowercase());
        // RSA 3072 (the default) once; 2048 elsewhere keeps the test quick.
        let bits: &[&str] = match alg {
            "RS256" => &[],
            a if a.starts_with('R') || a.starts_with('P') => &["--bits", "2048"],
            _ => &[],
        };
        let mut keygen = vec!["--alg", alg];
        keygen.extend_from_slice(bits);
        let kid = repos.keygen(&issuer, &keygen);
        assert!(
            kid.starts_with(&format!("{issuer}/")) && kid.ends_with(".pem"),
            "{kid}"
        );
        assert!(repos.public().join(&kid).is_file(), "public key at PUBLIC/<kid>");
        assert!(
            repos.private().join(&kid).is_file(),
            "private key at PRIVATE/<kid>"
        );

        let token = repos.token(&issuer, "ledger", &["--alg", alg, "--claim", "scope=\"read\""]);
        assert_eq!(header(&token)["alg"], alg);
        assert_eq!(header(&token)["kid"], kid.as_str());

        let public = repos.public();
        let mut verify = vec!["verify", "--audience", "ledger", "--key-repo", path_str(&public)];
        if alg == "EdDSA" {
            verify.push("--enable-eddsa");
        }
        verify.push(&token);
        let out = run(&verify);
        let claims: serde_json::Value = serde_json::from_str(out.ok()).expect("claims JSON");
        assert_eq!(claims["iss"], issuer.as_str(), "{alg}");
        assert_eq!(claims["aud"], "ledger");
        assert_eq!(claims["scope"], "read");
        assert_eq!(out.stdout.lines().count(), 1, "one line of JSON");
    }
}

#[test]
fn rsa_keys_are_3072_bits_by_default_and_never_under_2048() {
    let repos = Repos::new();
    let kid = repos.keygen("svc", &["--alg", "PS256"]);
    let der_len = std::fs::read_to_string(repos.public().join(&kid))
        .expect("public key")
        .len();
    // A 3072-bit SPKI PEM is about 625 bytes; 2048-bit about 450.
    assert!(der_len > 600, "3072-bit key expected, PEM is {der_len} bytes");
    let private = repos.private();
    let public = repos.public();
    let stderr = run(&[
        "keygen",
        "--issuer",
        "svc",
        "--alg",
        "RS256",
        "--bits",
        "1024",
        "--private-dir",
        path_str(&private),
        "--public-dir",
        path_str(&public),
    ])
    .usage_error()
    .to_owned();
    assert!(stderr.contains("1024") && stderr.contains("2048"), "{stderr}");
    let line = run(&[
        "keygen",
        "--issuer",
        "svc",
        "--alg",
        "ES256",
        "--bits",
        "2048",
        "--private-dir",
        path_str(&private),
        "--public-dir",
        path_str(&public),
    ])
    .failure()
    .to_owned();
    assert!(line.contains("--bits"), "{line}");
}

#[cfg(unix)]
#[test]
fn the_private_key_is_mode_0600() {
    use std::os::unix::fs::PermissionsExt as _;
    let repos = Repos::new();
    let kid = repos.keygen("svc", &[]);
    let mode = std::fs::metadata(repos.private().join(&kid))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(repos.private().join("svc"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(
        dir_mode & 0o077,
        0,
        "the private issuer directory is not open to others"
    );
}

#[test]
fn keygen_refuses_to_overwrite_without_force() {
    let repos = Repos::new();
    let kid = repos.keygen("svc", &["--name", "k1"]);
    assert_eq!(kid, "svc/k1.pem");
    let before = std::fs::read(repos.private().join(&kid)).expect("private key");
    let private = repos.private();
    let public = repos.public();
    let args = [
        "keygen",
        "--issuer",
        "svc",
        "--name",
        "k1",
        "--private-dir",
        path_str(&private),
        "--public-dir",
        path_str(&public),
    ];
    let line = run(&args).failure().to_owned();
    assert!(
        line.contains("already exists") && line.contains("--force"),
        "{line}"
    );
    assert_eq!(
        std::fs::read(repos.private().join(&kid)).expect("private key"),
        before
    );

    let mut forced = args.to_vec();
    forced.push("--force");
    assert_eq!(run(&forced).ok(), "svc/k1.pem");
    assert_ne!(
        std::fs::read(repos.private().join(&kid)).expect("private key"),
        before
    );
}

/// The public directory is served over HTTP; a private key written into it (or below it) would
/// be served too. keygen refuses, whatever the spelling, and writes nothing.
#[test]
fn keygen_refuses_a_private_dir_that_is_or_is_inside_the_public_dir() {
    let root = tempfile::tempdir().expect("tempdir");
    let public = root.path().join("public");
    let public_str = path_str(&public).to_owned();
    let mut private_dirs = vec![
        public_str.clone(),
        format!("{public_str}/"),
        format!("{public_str}/./sub/.."),
        // The key goes to PRIVATE-DIR/ISS: a public directory that is PRIVATE-DIR/ISS or below.
        format!("{public_str}/secret"),
        format!("{}/not-yet/../public", path_str(root.path())),
    ];
    #[cfg(unix)]
    {
        std::fs::create_dir_all(&public).expect("mkdir");
        let link = root.path().join("link-to-public");
        std::os::unix::fs::symlink(&public, &link).expect("symlink");
        private_dirs.push(path_str(&link).to_owned());
    }
    for private in &private_dirs {
        let line = run(&[
            "keygen",
            "--issuer",
            "svc",
            "--name",
            "k1",
            "--private-dir",
            private,
            "--public-dir",
            &public_str,
        ])
        .failure()
        .to_owned();
        assert!(
            line.contains("inside --public-dir") && line.contains("outside the public one"),
            "{private}: {line}"
        );
        assert!(!public.join("svc").exists(), "{private}: nothing is written");
    }
    // The public directory as the issuer directory of the private one: PRIVATE-DIR/svc is it.
    let private = root.path().join("private");
    let line = run(&[
        "keygen",
        "--issuer",
        "svc",
        "--private-dir",
        path_str(&private),
        "--public-dir",
        path_str(&private.join("svc")),
    ])
    .failure()
    .to_owned();
    assert!(line.contains("inside --public-dir"), "{line}");
    assert!(!private.exists(), "nothing is written");

    // Siblings, and a public directory inside the private one (no private key in it), are fine.
    let kid = run(&[
        "keygen",
        "--issuer",
        "svc",
        "--name",
        "k1",
        "--private-dir",
        path_str(&private),
        "--public-dir",
        &public_str,
    ])
    .ok()
    .to_owned();
    assert_eq!(kid, "svc/k1.pem");
    run(&[
        "keygen",
        "--issuer",
        "svc",
        "--name",
        "k2",
        "--private-dir",
        path_str(&private),
        "--public-dir",
        path_str(&private.join("published")),
    ])
    .ok();
}

#[test]
fn the_default_key_name_sorts_newest_last_so_the_repository_rotates() {
    let repos = Repos::new();
    let first = repos.keygen("svc", &[]);
    std::thread::sleep(Duration::from_millis(1100));
    let second = repos.keygen("svc", &[]);
    assert!(first < second, "{first} < {second}");
    let token = repos.token("svc", "ledger", &[]);
    assert_eq!(header(&token)["kid"], second.as_str(), "the newest key signs");
}

#[test]
fn token_takes_a_pem_file_a_data_uri_or_the_environment() {
    let repos = Repos::new();
    let kid = repos.keygen("svc", &["--name", "k1"]);
    let key_file = repos.private().join(&kid);
    let public = repos.public();
    let verify = |token: &str| {
        run(&[
            "verify",
            "--audience",
            "ledger",
            "--key-repo",
            path_str(&public),
            token,
        ])
        .ok()
        .to_owned()
    };

    // A file in repository layout: the kid is ISS/FILE.
    let token = run(&[
        "token",
        "--issuer",
        "svc",
        "--private-key",
        path_str(&key_file),
        "--audience",
        "ledger",
    ])
    .ok()
    .to_owned();
    assert_eq!(header(&token)["kid"], "svc/k1.pem");
    verify(&token);

    // A data URI carries its kid.
    let uri = run(&["data-uri", "--kid", &kid, path_str(&key_file)])
        .ok()
        .to_owned();
    assert!(
        uri.starts_with("data:application/pkcs8;kid=svc%2Fk1.pem;base64,"),
        "{uri}"
    );
    let token = run(&[
        "token",
        "--issuer",
        "svc",
        "--private-key",
        &uri,
        "--audience",
        "ledger",
    ])
    .ok()
    .to_owned();
    verify(&token);

    // The reference implementations' environment variables.
    let out = run_command(
        asap()
            .args(["token", "--subject", "user-1"])
            .env("ASAP_ISSUER", "svc")
            .env("ASAP_PRIVATE_KEY", &uri)
            .env("ASAP_AUDIENCE", "ledger"),
        "",
    );
    let token = out.ok().to_owned();
    assert_eq!(payload(&token)["sub"], "user-1");
    assert_eq!(payload(&token)["aud"], "ledger");
    let out = run(&[
        "verify",
        "--audience",
        "ledger",
        "--key-repo",
        path_str(&public),
        "--subject",
        "user-1",
        &token,
    ]);
    assert!(out.ok().contains("\"sub\":\"user-1\""));

    // PEM text in ASAP_PRIVATE_KEY with ASAP_KEY_ID.
    let pem = std::fs::read_to_string(&key_file).expect("pem");
    let out = run_command(
        asap()
            .args(["token", "--audience", "ledger", "--lifetime", "600"])
            .env("ASAP_ISSUER", "svc")
            .env("ASAP_KEY_ID", &kid)
            .env("ASAP_PRIVATE_KEY", pem.replace('\n', "\\n")),
        "",
    );
    let token = out.ok().to_owned();
    let claims = payload(&token);
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        600
    );
    verify(&token);
}

#[test]
fn verify_reads_the_token_from_stdin() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let token = repos.token("svc", "ledger", &[]);
    let public = repos.public();
    let out = run_command(
        asap().args(["verify", "--audience", "ledger", "--key-repo", path_str(&public)]),
        &format!("{token}\n"),
    );
    let claims: serde_json::Value = serde_json::from_str(out.ok()).expect("JSON");
    assert_eq!(claims["iss"], "svc");
    // Keys in a stable, sorted order.
    let keys: Vec<String> = claims.as_object().expect("object").keys().cloned().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert!(out.stdout.starts_with("{\"aud\":"), "{}", out.stdout);
}

/// A token on stdin (`verify`, `inspect`) is read up to 16 KiB, twice the verifier's 8 KiB size
/// limit: a token padded with white space to the cap verifies, and more is refused rather than
/// cut, so bytes after the cap are never silently dropped.
#[test]
fn a_token_on_stdin_is_read_up_to_16_kib_and_refused_beyond() {
    const CAP: usize = 2 * 8 * 1024;
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let token = repos.token("svc", "ledger", &[]);
    let public = repos.public();
    let padded =
        |len: usize, tail: &str| format!("{token}{}{tail}", " ".repeat(len - token.len() - tail.len()));
    let verify = |stdin: &str| {
        run_command(
            asap().args(["verify", "--audience", "ledger", "--key-repo", path_str(&public)]),
            stdin,
        )
    };
    let inspect = |stdin: &str| run_command(asap().args(["inspect", "--audience", "ledger"]), stdin);

    let at_cap = padded(CAP, "\n");
    let claims: serde_json::Value = serde_json::from_str(verify(&at_cap).ok()).expect("JSON");
    assert_eq!(claims["iss"], "svc");
    assert!(inspect(&at_cap).ok().contains("UNVERIFIED"));
    // Beyond any earlier bound too: what follows the white space is part of the input.
    for over_cap in [padded(CAP + 1, "\n"), padded(128 * 1024, "junk")] {
        for out in [verify(&over_cap), inspect(&over_cap)] {
            let line = out.failure().to_owned();
            assert!(
                line.contains(
                    "the token on stdin is larger than 16384 bytes (16 KiB), too large for a token"
                ),
                "{line}"
            );
        }
    }
}
