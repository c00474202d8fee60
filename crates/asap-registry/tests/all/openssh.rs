//! Keys made by `ssh-keygen`: the registry holds the `.pub`, the client signs with the private
//! key read by `asap_keys::read_private_key`.

use asap_registry::{KeyFormatError, KeyRegistry, RegistryError};

use crate::support::{ssh_keygen, status, token, verifier};

pub(crate) async fn every_key_type(url: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = KeyRegistry::open(url).await.expect("open");
    let verifier = verifier(&registry);
    for (name, args) in [
        ("ed25519", &["-t", "ed25519"][..]),
        ("ecdsa256", &["-t", "ecdsa", "-b", "256"]),
        ("ecdsa384", &["-t", "ecdsa", "-b", "384"]),
        ("ecdsa521", &["-t", "ecdsa", "-b", "521"]),
        ("rsa2048", &["-t", "rsa", "-b", "2048"]),
    ] {
        let Some((private_path, public_line)) = ssh_keygen(dir.path(), name, args) else {
            return;
        };
        registry
            .add("alice", Some(name), &public_line)
            .await
            .unwrap_or_else(|e| panic!("register {name}: {e}"));
        let private = asap_keys::read_private_key(&private_path, None).expect("read the OpenSSH private key");
        let token = token("alice", name, private);
        assert_eq!(status(&verifier, &token).await, 200, "{name} token verifies");
    }

    // With authorized_keys options in front, too.
    let Some((_, line)) = ssh_keygen(dir.path(), "with-options", &["-t", "ed25519"]) else {
        return;
    };
    registry
        .add(
            "alice",
            Some("opts"),
            &format!("from=\"10.0.0.1,10.0.0.2\",no-pty {line}"),
        )
        .await
        .expect("options are skipped");

    // An RSA key under 2048 bits is refused with its size.
    let Some((_, small)) = ssh_keygen(dir.path(), "rsa1024", &["-t", "rsa", "-b", "1024"]) else {
        return;
    };
    let err = registry
        .add("alice", Some("small"), &small)
        .await
        .expect_err("1024 bits");
    assert!(
        matches!(err, RegistryError::BadKey(KeyFormatError::Key(_))),
        "{err:?}"
    );
    assert!(err.to_string().contains("1024 bits"), "{err}");
}
