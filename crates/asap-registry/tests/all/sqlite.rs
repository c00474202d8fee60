//! The scenarios on a real SQLite file, created and migrated on first use.

use asap_registry::{KeyRegistry, RegistryError};

use crate::scenarios;
use crate::support::p256;

fn url(dir: &tempfile::TempDir) -> String {
    format!("sqlite:{}", dir.path().join("keys.db").display())
}

#[tokio::test]
async fn the_file_is_created_and_migrated_on_first_use_and_reopened_later() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys.db");
    assert!(!path.exists());
    let registry = KeyRegistry::open(&url(&dir)).await.expect("open");
    assert!(path.exists(), "the database file is created");
    assert_eq!(registry.backend(), "sqlite");
    registry.add("svc", Some("k1"), &p256().1).await.expect("add");
    registry.close().await;

    // A plain path works too, and migrations do not run twice.
    let again = KeyRegistry::open(path.to_str().expect("utf-8"))
        .await
        .expect("reopen");
    let keys = again.list(None).await.expect("list");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid().as_str(), "svc/k1");
}

#[tokio::test]
async fn a_missing_directory_or_unknown_scheme_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = format!("sqlite:{}", dir.path().join("no/such/dir/keys.db").display());
    assert!(matches!(
        KeyRegistry::open(&missing).await,
        Err(RegistryError::Connect(_))
    ));
    let err = KeyRegistry::open("mysql://localhost/keys")
        .await
        .expect_err("unsupported");
    assert!(matches!(err, RegistryError::UnsupportedUrl(_)));
    assert!(err.to_string().contains("sqlite:PATH"), "{err}");
}

#[tokio::test]
async fn lifecycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    scenarios::lifecycle(&url(&dir)).await;
}

#[tokio::test]
async fn duplicates_and_unknown_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    scenarios::duplicates_and_unknown_keys(&url(&dir)).await;
}

#[tokio::test]
async fn revocation_reaches_a_caching_instance_within_the_ttl() {
    let dir = tempfile::tempdir().expect("tempdir");
    scenarios::revocation_bound(&url(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_add_and_revoke_while_verifying() {
    let dir = tempfile::tempdir().expect("tempdir");
    scenarios::concurrent(&url(&dir)).await;
}

#[tokio::test]
async fn openssh_keys_sign_and_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::openssh::every_key_type(&url(&dir)).await;
}
