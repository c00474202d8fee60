//! The private key repository directory and the public key directory.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use asap_core::{KeySourceError, PublicKeySource, Signer, SigningKeySource};
use asap_keys::{DirectoryKeySource, FileKeyRepository, LoadError};

use crate::support::*;

/// Writes a key pair in repository layout: the private key in `<private>/<issuer>/<name>`, the
/// public key in `<public>/<issuer>/<name>`. Files are renamed into place, as a rotation would.
fn add_key(private: &Path, public: &Path, issuer: &str, name: &str) {
    let key = p256();
    for (root, text) in [
        (private, key.to_pkcs8_pem().expect("pem")),
        (public, key.public_key().expect("pk").to_pem()),
    ] {
        let dir = root.join(issuer);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let staged = dir.join(format!("{name}.new"));
        std::fs::write(&staged, text).expect("write");
        std::fs::rename(&staged, dir.join(name)).expect("rename");
    }
}

#[test]
fn the_lexicographically_last_pem_is_active_and_other_names_are_ignored() {
    let (private, public) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    add_key(private.path(), public.path(), "billing", "2026-01-01.pem");
    add_key(private.path(), public.path(), "billing", "2026-02-01.pem");
    let dir = private.path().join("billing");
    std::fs::write(dir.join("2026-03-01.pem.new"), "half written").expect("write");
    std::fs::write(dir.join("2026-09-01.txt"), "notes").expect("write");
    std::fs::write(dir.join("zz bad name.pem"), "not a kid").expect("write");
    std::fs::create_dir(dir.join("2026-12-01.pem")).expect("a directory named like a key");

    let repo = FileKeyRepository::builder(private.path(), "billing")
        .build()
        .expect("repo");
    assert_eq!(
        repo.current().expect("key").kid().as_str(),
        "billing/2026-02-01.pem"
    );
}

#[tokio::test]
async fn a_new_key_is_picked_up_without_restart_and_without_reading_on_every_signature() {
    let (private, public) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    add_key(private.path(), public.path(), "billing", "2026-01-01.pem");
    // Long enough that the second signature below is within it on a loaded machine.
    let rescan = Duration::from_secs(2);
    let repo = FileKeyRepository::builder(private.path(), "billing")
        .rescan_interval(rescan)
        .build()
        .expect("repo");
    let signer = Signer::builder("billing")
        .key_source(Arc::new(repo))
        .build()
        .expect("signer");
    let verifier = verifier(DirectoryKeySource::new(public.path()), &["billing"]);
    let before = signer.sign(&aud()).expect("sign");
    assert_eq!(kid_of(&verifier, &before).await, "billing/2026-01-01.pem");

    add_key(private.path(), public.path(), "billing", "2026-02-01.pem");
    // Within the rescan interval the directory is not read again.
    let token = signer.sign(&aud()).expect("sign");
    assert_eq!(kid_of(&verifier, &token).await, "billing/2026-01-01.pem");

    tokio::time::sleep(rescan + Duration::from_millis(200)).await;
    let after = signer.sign(&aud()).expect("sign");
    assert_eq!(kid_of(&verifier, &after).await, "billing/2026-02-01.pem");
}

async fn kid_of(verifier: &asap_core::Verifier, token: &asap_core::Token) -> String {
    let verified = verifier.verify(token.as_str()).await.expect("verifies");
    verified.kid().to_string()
}

#[test]
fn clear_errors_for_a_missing_directory_or_no_valid_key() {
    let root = tempfile::tempdir().expect("dir");
    let err = FileKeyRepository::builder(root.path(), "billing")
        .build()
        .expect_err("missing");
    assert!(
        matches!(&err, LoadError::Io { path, .. } if path.ends_with("billing")),
        "{err}"
    );

    std::fs::create_dir(root.path().join("billing")).expect("mkdir");
    let err = FileKeyRepository::builder(root.path(), "billing")
        .build()
        .expect_err("empty");
    assert!(matches!(err, LoadError::NoKey { .. }), "{err}");
    assert!(err.to_string().contains("no .pem file"), "{err}");

    std::fs::write(root.path().join("billing/2026.pem"), "garbage").expect("write");
    let err = FileKeyRepository::builder(root.path(), "billing")
        .build()
        .expect_err("invalid");
    assert!(matches!(err, LoadError::NoKey { .. }), "{err}");
    assert!(err.to_string().contains("2026.pem"), "{err}");

    let err = FileKeyRepository::builder(root.path(), "../etc")
        .build()
        .expect_err("traversal");
    assert!(matches!(err, LoadError::Kid(_)), "{err}");
}

#[test]
fn an_unusable_new_file_keeps_the_current_key() {
    let (private, public) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    add_key(private.path(), public.path(), "billing", "2026-01-01.pem");
    let repo = FileKeyRepository::builder(private.path(), "billing")
        .rescan_interval(Duration::ZERO)
        .build()
        .expect("repo");
    std::fs::write(private.path().join("billing/2026-02-01.pem"), "truncated").expect("write");
    assert!(repo.rescan().is_err());
    assert_eq!(
        repo.current().expect("key").kid().as_str(),
        "billing/2026-01-01.pem"
    );
}

#[test]
fn encrypted_files_with_a_passphrase() {
    if !require_tool("ssh-keygen") {
        return;
    }
    let root = tempfile::tempdir().expect("dir");
    std::fs::create_dir(root.path().join("billing")).expect("mkdir");
    let path = root.path().join("billing/laptop.pem");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-C", "", "-N", "pw", "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen");
    assert!(out.success());
    let repo = FileKeyRepository::builder(root.path(), "billing")
        .passphrase("pw")
        .build()
        .expect("repo");
    let key = repo.current().expect("key");
    assert_eq!(key.kid().as_str(), "billing/laptop.pem");
    assert_eq!(key.algorithm(), asap_core::Algorithm::EdDSA);
    let err = FileKeyRepository::builder(root.path(), "billing")
        .build()
        .expect_err("no passphrase");
    assert!(err.to_string().contains("passphrase"), "{err}");
}

#[tokio::test]
async fn directory_source_serves_repository_layout() {
    let (private, public) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    add_key(private.path(), public.path(), "billing", "k1.pem");
    std::fs::write(
        public.path().join("billing/weak.pem"),
        include_str!("../fixtures/rsa1024.pub.pem"),
    )
    .expect("write");
    let keys = DirectoryKeySource::new(public.path());
    assert!(keys.public_key(&kid("billing/k1.pem")).await.is_ok());
    assert!(matches!(
        keys.public_key(&kid("billing/k2.pem")).await,
        Err(KeySourceError::NotFound(_))
    ));
    assert!(matches!(
        keys.public_key(&kid("billing/k1.pem/x")).await,
        Err(KeySourceError::NotFound(_))
    ));
    assert!(matches!(
        keys.public_key(&kid("billing")).await,
        Err(KeySourceError::NotFound(_))
    ));
    assert!(matches!(
        keys.public_key(&kid("billing/weak.pem")).await,
        Err(KeySourceError::InvalidKey { .. })
    ));
}
