//! Bad keys are refused with an error that says what is wrong, and nothing is stored.

use asap_core::{KeyKind, KeySpec, PrivateKey};
use asap_registry::{KeyFormatError, KeyRegistry, RegistryError};

#[tokio::test]
async fn bad_keys_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = KeyRegistry::open(&format!("sqlite:{}", dir.path().join("k.db").display()))
        .await
        .expect("open");
    let private_pem = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))
        .expect("generate")
        .to_pkcs8_pem()
        .expect("pem");
    let cases: [(&str, &str); 8] = [
        ("", "no key found"),
        ("hello world", "not supported"),
        (&private_pem, "private key"),
        (
            "ssh-dss AAAAB3NzaC1kc3MAAACBAP8= me",
            "\"ssh-dss\" is not supported",
        ),
        ("ssh-ed25519 %%%notbase64 me", "not valid base64"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDedm9L5 me", "truncated"),
        (
            "ssh-rsa-cert-v01@openssh.com AAAA me",
            "certificate; register the plain public key",
        ),
        (
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            "PEM",
        ),
    ];
    for (text, expected) in cases {
        let err = registry
            .add("svc", Some("k"), text)
            .await
            .expect_err("a bad key must be refused");
        assert!(matches!(err, RegistryError::BadKey(_)), "{text:?}: {err:?}");
        let message = err.to_string();
        assert!(message.starts_with("bad public key: "), "{message}");
        assert!(
            message.contains(expected),
            "{text:?}: {message:?} lacks {expected:?}"
        );
    }
    assert!(
        registry.list(None).await.expect("list").is_empty(),
        "nothing stored"
    );
    assert!(matches!(
        asap_keys::parse_public_key(&private_pem),
        Err(KeyFormatError::PrivateKey)
    ));
}

/// An OpenSSH `ssh-ed25519` line carrying a small-order point (here the identity, which
/// verifies a signature made without any private key) is refused like any bad key.
#[tokio::test]
async fn a_small_order_ed25519_ssh_key_is_refused() {
    use base64::Engine as _;
    let mut blob = Vec::new();
    for field in [&b"ssh-ed25519"[..], &{
        let mut identity = [0u8; 32];
        identity[0] = 1;
        identity
    }] {
        blob.extend_from_slice(&u32::try_from(field.len()).expect("len").to_be_bytes());
        blob.extend_from_slice(field);
    }
    let line = format!(
        "ssh-ed25519 {} forged@example",
        base64::engine::general_purpose::STANDARD.encode(&blob)
    );
    let err = asap_keys::parse_public_key(&line).expect_err("a small-order key");
    assert!(err.to_string().contains("small order"), "{err}");
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = KeyRegistry::open(&format!("sqlite:{}", dir.path().join("k.db").display()))
        .await
        .expect("open");
    assert!(matches!(
        registry.add("svc", Some("k"), &line).await,
        Err(RegistryError::BadKey(_))
    ));
}
