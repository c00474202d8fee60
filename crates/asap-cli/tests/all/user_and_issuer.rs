//! `asap user-token`, `asap user-verify` and `asap issuer-verify` through the binary: the
//! contract (exit 0 and JSON, or exit 1 and one line), and against the Python packages.

use std::path::Path;

use asap_core::{KeyKind, KeySpec, PrivateKey};
use asap_testkit::jwt_peers;
use serde_json::json;

use crate::support::{path_str, run};

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path_str(&path).to_owned()
}

#[test]
fn a_user_token_header_verifies_and_its_claims_print_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    for key in [
        PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa"),
        PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("ed25519"),
    ] {
        let private = write(dir.path(), "user.pem", &key.to_pkcs8_pem().expect("pem"));
        let public = write(
            dir.path(),
            "user.pub.pem",
            &key.public_key().expect("public").to_pem(),
        );
        let header = run(&["user-token", "--username", "ann", "--private-key", &private])
            .ok()
            .to_owned();
        assert!(header.starts_with("JWT "), "{header}");
        let claims: serde_json::Value = serde_json::from_str(
            run(&[
                "user-verify",
                "--username",
                "ann",
                "--public-key",
                &public,
                &header,
            ])
            .ok(),
        )
        .expect("json");
        assert_eq!(claims["username"], "ann");
        assert!(claims["time"].is_i64() && claims["nonce"].is_string());
        // The bare token works too; another user's name does not.
        let token = header.strip_prefix("JWT ").expect("scheme");
        run(&["user-verify", "--username", "ann", "--public-key", &public, token]).ok();
        let line = run(&[
            "user-verify",
            "--username",
            "bob",
            "--public-key",
            &public,
            &header,
        ])
        .failure()
        .to_owned();
        assert_eq!(line, "asap: no key registered for this user verifies the token");
    }
}

/// `--public-key` files are read up to 64 KiB (the most a key text may be): a key padded to the
/// cap verifies, one byte more is refused before any token is looked at, by both commands.
#[test]
fn public_key_files_are_read_up_to_64_kib_and_refused_beyond() {
    const CAP: usize = 64 * 1024;
    let dir = tempfile::tempdir().expect("tempdir");
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("ed25519");
    let private = write(dir.path(), "user.pem", &key.to_pkcs8_pem().expect("pem"));
    let pem = key.public_key().expect("public").to_pem();
    let padded = |len: usize| format!("{pem}{}", "\n".repeat(len - pem.len()));
    let at_cap = write(dir.path(), "at-cap.pem", &padded(CAP));
    let over_cap = write(dir.path(), "over-cap.pem", &padded(CAP + 1));
    let header = run(&["user-token", "--username", "ann", "--private-key", &private])
        .ok()
        .to_owned();

    let verify = |public: &str| {
        run(&[
            "user-verify",
            "--username",
            "ann",
            "--public-key",
            public,
            &header,
        ])
    };
    verify(&at_cap).ok();
    let line = verify(&over_cap).failure().to_owned();
    assert!(line.contains("larger than 65536 bytes"), "{line}");
    let line = run(&["issuer-verify", "--public-key", &over_cap, "not-a-token"])
        .failure()
        .to_owned();
    assert!(line.contains("larger than 65536 bytes"), "{line}");
    #[cfg(unix)]
    for args in [
        &[
            "user-verify",
            "--username",
            "ann",
            "--public-key",
            "/dev/zero",
            "t",
        ][..],
        &["issuer-verify", "--public-key", "/dev/zero", "t"],
    ] {
        let line = run(args).failure().to_owned();
        assert!(line.contains("larger than 65536 bytes"), "{args:?}: {line}");
    }
}

#[test]
fn user_token_takes_openssh_keys_and_refuses_ec_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((private, public_line)) = ssh_keygen(dir.path()) else {
        return;
    };
    let public = write(dir.path(), "id.pub", &public_line);
    let header = run(&["user-token", "--username", "ann", "--private-key", &private])
        .ok()
        .to_owned();
    run(&[
        "user-verify",
        "--username",
        "ann",
        "--public-key",
        &public,
        &header,
    ])
    .ok();

    let ec = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("p256");
    let ec_path = write(dir.path(), "ec.pem", &ec.to_pkcs8_pem().expect("pem"));
    let line = run(&["user-token", "--username", "ann", "--private-key", &ec_path])
        .failure()
        .to_owned();
    assert!(line.contains("cannot sign per-user tokens"), "{line}");
    let garbage = run(&[
        "user-verify",
        "--username",
        "ann",
        "--public-key",
        &public,
        "JWT a.b.c",
    ])
    .failure()
    .to_owned();
    assert!(garbage.starts_with("asap: malformed token"), "{garbage}");
}

fn ssh_keygen(dir: &Path) -> Option<(String, String)> {
    let path = dir.join("id_ed25519");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "ann@laptop", "-f"])
        .arg(&path)
        .status();
    match status {
        Ok(s) if s.success() => {}
        _ if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => panic!("ssh-keygen is required in CI"),
        _ => {
            eprintln!("skipping: cannot run ssh-keygen");
            return None;
        }
    }
    let public = std::fs::read_to_string(path.with_extension("pub")).expect("read .pub");
    Some((path_str(&path).to_owned(), public))
}

#[test]
fn the_packages_headers_verify_and_ours_verify_there() {
    let Some(py) = jwt_peers::asymmetric_jwt_auth() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("ed25519");
    let pem = key.to_pkcs8_pem().expect("pem");
    let public_pem = key.public_key().expect("public").to_pem();
    let private = write(dir.path(), "k.pem", &pem);
    let public = write(dir.path(), "k.pub.pem", &public_pem);

    let theirs = jwt_peers::auth_header(&py, "ann", &pem, None);
    run(&[
        "user-verify",
        "--username",
        "ann",
        "--public-key",
        &public,
        &theirs,
    ])
    .ok();
    let ours = run(&["user-token", "--username", "ann", "--private-key", &private])
        .ok()
        .to_owned();
    assert_eq!(
        jwt_peers::middleware(&py, &ours, "ann", &public_pem).as_deref(),
        Some("ann")
    );
}

#[test]
fn issuer_verify_types_extras_applies_the_policy_and_refuses_other_keys() {
    let Some(py) = jwt_peers::api_jwt() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let other = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let public = write(
        dir.path(),
        "auth.pem",
        &key.public_key().expect("public").to_pem(),
    );
    let other_public = write(
        dir.path(),
        "other.pem",
        &other.public_key().expect("public").to_pem(),
    );
    let token = jwt_peers::api_jwt_encode(
        &py,
        &key.to_pkcs8_pem().expect("pem"),
        &json!({"level": [0.0, 3.0, 3.1]}),
        &json!({"subject": "ann", "key": "admin", "level": 3.1, "scopes": ["admin:all"], "dnt": 1}),
    );
    let claims: serde_json::Value =
        serde_json::from_str(run(&["issuer-verify", "--public-key", &public, &token]).ok()).expect("json");
    assert_eq!(claims["iss"], "auth_admin");
    assert_eq!(claims["level"], 3.1);
    assert_eq!(claims["dnt"], 1);
    assert_eq!(claims["scopes"], json!(["admin:all"]));

    // The second of two keys; a policy met.
    run(&[
        "issuer-verify",
        "--public-key",
        &other_public,
        "--public-key",
        &public,
        "--min-level",
        "3",
        "--scope",
        "admin:all",
        &token,
    ])
    .ok();
    let low = run(&[
        "issuer-verify",
        "--public-key",
        &public,
        "--min-level",
        "4",
        &token,
    ])
    .failure()
    .to_owned();
    assert_eq!(low, "asap: authentication level 3.1 is below the required 4.0");
    let scope = run(&[
        "issuer-verify",
        "--public-key",
        &public,
        "--scope",
        "user:all",
        &token,
    ])
    .failure()
    .to_owned();
    assert_eq!(scope, "asap: token lacks the scope(s) user:all");
    let untrusted = run(&["issuer-verify", "--public-key", &other_public, &token])
        .failure()
        .to_owned();
    assert_eq!(untrusted, "asap: signature does not verify");
    let role = run(&[
        "issuer-verify",
        "--public-key",
        &public,
        "--role",
        "user=auth_user",
        &token,
    ])
    .failure()
    .to_owned();
    assert_eq!(
        role,
        "asap: issuer \"auth_admin\" is not the issuer of a known role"
    );
}
