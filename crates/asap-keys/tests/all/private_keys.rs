//! Private keys in every supported form sign tokens that verify; wrong passphrases are clear
//! errors. Keys are generated in the test: by aws-lc-rs, by `openssl` and by `ssh-keygen`.

use std::path::Path;
use std::process::Command;

use asap_core::{Algorithm, KeyKind, KeySpec, PrivateKey, PublicKey, StaticKeySource};
use asap_keys::{LoadError, parse_private_key, read_private_key};

use crate::support::*;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Proves a loaded key works: a token it signs verifies against `public`, a public key obtained
/// independently of this crate's conversion.
async fn assert_signs_for(key: PrivateKey, public: PublicKey) {
    let kid = kid("billing/k1");
    let keys = StaticKeySource::new().with_key(kid.clone(), public);
    let verified = sign_and_verify(keys, "billing", kid, key)
        .await
        .expect("token verifies");
    assert_eq!(verified.issuer(), "billing");
}

fn specs() -> [KeySpec; 5] {
    [
        KeySpec::Rsa(2048),
        KeySpec::Curve(KeyKind::P256),
        KeySpec::Curve(KeyKind::P384),
        KeySpec::Curve(KeyKind::P521),
        KeySpec::Curve(KeyKind::Ed25519),
    ]
}

#[tokio::test]
async fn encrypted_pkcs8_made_by_the_pkcs8_crate() {
    use pkcs8::pkcs5::pbes2;
    for spec in specs() {
        let key = PrivateKey::generate(spec).expect("generate");
        let der = key.to_pkcs8_der().expect("der");
        let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice()).expect("info");
        // Few PBKDF2 rounds: the test checks the format, not the strength.
        let params =
            pbes2::Parameters::pbkdf2_sha256_aes256cbc(1000, b"saltsalt", &[7u8; 16]).expect("params");
        let encrypted = info
            .encrypt_with_params(params, b"correct horse")
            .expect("encrypt");
        let pem = pem::encode(&pem::Pem::new(
            "ENCRYPTED PRIVATE KEY",
            encrypted.as_bytes().to_vec(),
        ));

        let loaded = parse_private_key(&pem, Some(b"correct horse")).expect("decrypts");
        assert_signs_for(loaded, key.public_key().expect("pk")).await;
        assert!(matches!(
            parse_private_key(&pem, Some(b"wrong horse")),
            Err(LoadError::WrongPassphrase)
        ));
        assert!(matches!(
            parse_private_key(&pem, None),
            Err(LoadError::PassphraseRequired)
        ));
    }
}

#[tokio::test]
async fn encrypted_pkcs8_made_by_openssl() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, spec) in specs().into_iter().enumerate() {
        let key = PrivateKey::generate(spec).expect("generate");
        let plain = dir.path().join(format!("plain{i}.pem"));
        let encrypted = dir.path().join(format!("enc{i}.pem"));
        std::fs::write(&plain, key.to_pkcs8_pem().expect("pem")).expect("write");
        // scrypt is slow in an unoptimised build: one key type is enough to cover it.
        let schemes: &[(&str, &[&str])] = if i == 1 {
            &[("aes-256-cbc", &[]), ("aes-128-cbc", &["-scrypt"])]
        } else {
            &[("aes-256-cbc", &[])]
        };
        for (cipher, extra) in schemes {
            run(Command::new("openssl")
                .args(["pkcs8", "-topk8", "-v2", cipher])
                .args(*extra)
                .args(["-passout", "pass:s3cret", "-in"])
                .arg(&plain)
                .arg("-out")
                .arg(&encrypted));
            let loaded = read_private_key(&encrypted, Some(b"s3cret")).expect("decrypts");
            assert_signs_for(loaded, key.public_key().expect("pk")).await;
            assert!(matches!(
                read_private_key(&encrypted, Some(b"S3cret")),
                Err(LoadError::WrongPassphrase)
            ));
        }
    }
}

#[tokio::test]
async fn pkcs1_and_sec1_made_by_openssl() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // `openssl rsa -traditional` writes PKCS#1; `openssl ec` writes SEC1.
    for (spec, args) in [
        (KeySpec::Rsa(2048), &["rsa", "-traditional"][..]),
        (KeySpec::Curve(KeyKind::P384), &["ec"][..]),
    ] {
        let key = PrivateKey::generate(spec).expect("generate");
        let plain = dir.path().join("plain.pem");
        std::fs::write(&plain, key.to_pkcs8_pem().expect("pem")).expect("write");
        let traditional = run(Command::new("openssl").args(args).arg("-in").arg(&plain));
        assert!(
            traditional.contains("BEGIN RSA PRIVATE KEY") || traditional.contains("BEGIN EC PRIVATE KEY"),
            "{traditional}"
        );
        let loaded = parse_private_key(&traditional, None).expect("parses");
        assert_signs_for(loaded, key.public_key().expect("pk")).await;
    }
}

/// The public key of an OpenSSH key pair, from its `.pub` file, without this crate's converter.
fn ssh_public_key(pub_path: &Path) -> PublicKey {
    use base64::Engine as _;
    let text = std::fs::read_to_string(pub_path).expect("read .pub");
    if text.starts_with("ssh-ed25519 ") {
        let blob = base64::engine::general_purpose::STANDARD
            .decode(text.split_whitespace().nth(1).expect("base64 field"))
            .expect("base64");
        // string "ssh-ed25519" (4 + 11 bytes), then string key (4 + 32 bytes).
        assert_eq!(blob.len(), 4 + 11 + 4 + 32);
        // SubjectPublicKeyInfo for Ed25519 (RFC 8410) is a fixed prefix and the 32 key bytes.
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend_from_slice(&blob[19..]);
        return PublicKey::from_spki_der(&spki).expect("ed25519 spki");
    }
    // RSA and ECDSA: ssh-keygen exports them as a PEM SubjectPublicKeyInfo itself.
    let pem = run(Command::new("ssh-keygen")
        .args(["-e", "-m", "PKCS8", "-f"])
        .arg(pub_path));
    PublicKey::from_pem(&pem).expect("exported public key")
}

#[tokio::test]
async fn openssh_keys_made_by_ssh_keygen_sign_tokens_that_verify() {
    if !require_tool("ssh-keygen") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: [(&str, &str, KeyKind); 5] = [
        ("ed25519", "256", KeyKind::Ed25519),
        ("ecdsa", "256", KeyKind::P256),
        ("ecdsa", "384", KeyKind::P384),
        ("ecdsa", "521", KeyKind::P521),
        ("rsa", "2048", KeyKind::Rsa),
    ];
    for (kind, bits, expected) in cases {
        for passphrase in ["", "open sesame"] {
            let path = dir.path().join(format!("id_{kind}{bits}{}", passphrase.len()));
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", kind, "-b", bits, "-C", "", "-N", passphrase, "-f"])
                .arg(&path));
            let given = (!passphrase.is_empty()).then_some(passphrase.as_bytes());
            let key = read_private_key(&path, given).unwrap_or_else(|e| panic!("{kind} {bits}: {e}"));
            assert_eq!(key.kind(), expected);
            assert_eq!(key.default_algorithm(), Algorithm::default_for(expected));
            let public = ssh_public_key(&path.with_extension("pub"));
            assert_eq!(key.public_key().expect("pk"), public, "{kind} {bits}");
            assert_signs_for(key, public).await;

            if !passphrase.is_empty() {
                assert!(matches!(
                    read_private_key(&path, Some(b"open sesame!")),
                    Err(LoadError::WrongPassphrase)
                ));
                let err = read_private_key(&path, None).expect_err("needs a passphrase");
                assert!(matches!(err, LoadError::PassphraseRequired), "{err}");
                assert!(err.to_string().contains("passphrase"));
            }
        }
    }
}

/// The `.pub` line and the private file go through the same SSH wire reader; both must give
/// the key `ssh-keygen` itself exports.
#[test]
fn openssh_public_key_lines_are_the_keys_ssh_keygen_exports() {
    if !require_tool("ssh-keygen") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (kind, bits) in [
        ("ed25519", "256"),
        ("ecdsa", "256"),
        ("ecdsa", "384"),
        ("ecdsa", "521"),
        ("rsa", "2048"),
    ] {
        let path = dir.path().join(format!("id_{kind}{bits}"));
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-b", bits, "-C", "me@laptop", "-N", "", "-f"])
            .arg(&path));
        let pub_path = path.with_extension("pub");
        let line = std::fs::read_to_string(&pub_path).expect("read .pub");
        let public = asap_keys::parse_public_key(&line).unwrap_or_else(|e| panic!("{kind} {bits}: {e}"));
        assert_eq!(public, ssh_public_key(&pub_path), "{kind} {bits}");
        let private = read_private_key(&path, None).expect("private key");
        assert_eq!(private.public_key().expect("pk"), public, "{kind} {bits}");
    }
}

#[test]
fn weak_openssh_rsa_keys_are_refused() {
    if !require_tool("ssh-keygen") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("id_rsa1024");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "1024", "-C", "", "-N", "", "-f"])
        .arg(&path));
    let err = read_private_key(&path, None).expect_err("weak");
    assert!(
        matches!(
            err,
            LoadError::Key(asap_core::KeyError::RsaTooSmall { bits: 1024 })
        ),
        "{err}"
    );
}

#[test]
fn missing_and_oversized_files_are_typed_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.pem");
    assert!(matches!(
        read_private_key(&missing, None),
        Err(LoadError::Io { .. })
    ));
    let big = dir.path().join("big.pem");
    std::fs::write(&big, vec![b'A'; 1024 * 1024]).expect("write");
    assert!(matches!(read_private_key(&big, None), Err(LoadError::Format(_))));
    let binary = dir.path().join("bin.pem");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).expect("write");
    assert!(read_private_key(&binary, None).is_err());
}

#[test]
fn hostile_openssh_input_never_panics() {
    let valid_header = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
    let footer = "-----END OPENSSH PRIVATE KEY-----\n";
    for body in [
        "",
        "AAAA",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB",
        "b3BlbnNzaC1rZXktdjEA////////////////////////////////",
    ] {
        let text = format!("{valid_header}{body}\n{footer}");
        assert!(parse_private_key(&text, Some(b"x")).is_err());
    }
}

#[tokio::test]
async fn p521_keys_whose_scalar_has_leading_zeros() {
    if !require_tool("ssh-keygen") {
        return;
    }
    // OpenSSH writes the scalar as a minimal integer: about half of all P-521 keys have a
    // shorter one. Eight keys miss that case with probability 1/256.
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..8 {
        let path = dir.path().join(format!("id_ecdsa{i}"));
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ecdsa", "-b", "521", "-C", "", "-N", "", "-f"])
            .arg(&path));
        let key = read_private_key(&path, None).expect("loads");
        let public = ssh_public_key(&path.with_extension("pub"));
        assert_eq!(key.public_key().expect("pk"), public);
        assert_signs_for(key, public).await;
    }
}

#[test]
fn openssh_ciphers_ssh_keygen_can_choose() {
    if !require_tool("ssh-keygen") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for cipher in [
        "aes128-ctr",
        "aes256-cbc",
        "aes256-gcm@openssh.com",
        "chacha20-poly1305@openssh.com",
    ] {
        let path = dir.path().join(format!("id_{}", cipher.replace(['@', '.'], "_")));
        run(Command::new("ssh-keygen")
            .args([
                "-q", "-t", "ed25519", "-C", "", "-N", "pw", "-a", "4", "-Z", cipher, "-f",
            ])
            .arg(&path));
        let key = read_private_key(&path, Some(b"pw")).unwrap_or_else(|e| panic!("{cipher}: {e}"));
        assert_eq!(
            key.public_key().expect("pk"),
            ssh_public_key(&path.with_extension("pub"))
        );
        let err = read_private_key(&path, Some(b"wrong")).expect_err("wrong passphrase");
        assert!(matches!(err, LoadError::WrongPassphrase), "{cipher}: {err}");
    }
}

#[test]
fn truncated_and_corrupted_openssh_keys_are_errors_not_panics() {
    if !require_tool("ssh-keygen") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (kind, bits, passphrase) in [
        ("ed25519", "256", ""),
        ("ecdsa", "521", ""),
        ("rsa", "2048", "pw"),
    ] {
        let path = dir.path().join(format!("id_{kind}"));
        run(Command::new("ssh-keygen")
            .args([
                "-q", "-t", kind, "-b", bits, "-C", "", "-N", passphrase, "-a", "1", "-f",
            ])
            .arg(&path));
        let text = std::fs::read_to_string(&path).expect("read");
        let blob = pem::parse(&text).expect("pem").contents().to_vec();
        let reencode = |bytes: Vec<u8>| pem::encode(&pem::Pem::new("OPENSSH PRIVATE KEY", bytes));
        let given = Some(passphrase.as_bytes());
        for len in (0..blob.len()).step_by(7) {
            assert!(parse_private_key(&reencode(blob[..len].to_vec()), given).is_err());
        }
        for at in (0..blob.len()).step_by(13) {
            let mut corrupted = blob.clone();
            corrupted[at] ^= 0xff;
            // Some flips land in ignored bytes (the comment, the public key copy); no panic is
            // what matters.
            let _ = parse_private_key(&reencode(corrupted), given);
        }
    }
}
