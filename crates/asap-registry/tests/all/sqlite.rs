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

/// A URL's password never shows, wherever it sits: after a second `@` (an unencoded `@` in
/// the password) or in the query (`password=`, `sslpassword=`, `passfile=`).
#[tokio::test]
async fn neither_errors_nor_the_builders_debug_show_a_urls_password() {
    for url in [
        "mysql://app:p@ss-hunter2@db.internal/keys",
        "mysql://app@db.internal/keys?password=hunter2",
        "postgress://app@db.internal/keys?sslmode=require&sslpassword=hunter2",
        "mysql://app@db.internal/keys?passfile=/home/app/hunter2",
        "mysql://app@db.internal/keys?password=p@ss-hunter2",
    ] {
        let err = KeyRegistry::open(url).await.expect_err("unsupported");
        assert!(matches!(err, RegistryError::UnsupportedUrl(_)), "{err:?}");
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains("hunter2"), "{url} → {shown}");
            assert!(shown.contains("<redacted>"), "{url} → {shown}");
        }
    }
    for url in [
        "postgres://app:p@ss-hunter2@db.internal/keys",
        "postgres://app@db.internal/keys?password=hunter2",
        "postgres://app@db.internal/keys?sslpassword=hunter2&passfile=/x/hunter2",
    ] {
        let builder = KeyRegistry::builder(url);
        let shown = format!("{builder:?}");
        assert!(!shown.contains("hunter2"), "{url} → {shown}");
        assert!(shown.contains("db.internal"), "{url} → {shown}");
    }
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

/// A principal may have `/` in it, a key name may not, so the owner of every kid is the kid
/// without its last segment: `team` can neither register a key under `team/billing` nor sign
/// with `team/billing`'s key.
#[tokio::test]
async fn a_nested_principals_key_never_signs_for_its_parent() {
    use asap_core::{Audience, KeyId, KidError, Signer, SigningKey, Verifier, VerifyError};
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = KeyRegistry::open(&url(&dir)).await.expect("open");
    let (private, pem) = p256();
    let added = registry
        .add("team/billing", Some("k1"), &pem)
        .await
        .expect("a nested principal");
    assert_eq!(added.kid().as_str(), "team/billing/k1");
    assert!(matches!(
        registry.add("team", Some("billing/k2"), &pem).await,
        Err(RegistryError::InvalidName(_))
    ));

    // A token claiming `team` with that key (the signer only makes it when switched on).
    let token = Signer::builder("team")
        .key(SigningKey::new(KeyId::parse("team/billing/k1").expect("kid"), private, None).expect("key"))
        .allow_nested_key_names(true)
        .build()
        .expect("signer")
        .sign(&Audience::new(crate::support::AUDIENCE).expect("aud"))
        .expect("token");
    let verifier = Verifier::builder(registry.clone())
        .audience(Audience::new(crate::support::AUDIENCE).expect("aud"))
        .allowed_issuers(["team"])
        .build()
        .expect("verifier");
    assert!(matches!(
        verifier.verify(token.as_str()).await,
        Err(VerifyError::Kid(KidError::NotOwnedByIssuer { .. }))
    ));
}

/// A query parameter the PostgreSQL driver does not read (here libpq's `sslpassword`, the
/// client key's passphrase) is refused by name, before the driver sees the URL: it would
/// ignore it with a warning that logs its value.
#[tokio::test]
async fn an_unknown_postgres_url_parameter_is_refused_and_its_value_never_logged() {
    let (captured, subscriber) = asap_testkit::logs::Captured::subscriber(tracing::Level::TRACE);
    let _guard = asap_testkit::logs::scoped(subscriber);
    let url = "postgres://u@127.0.0.1:1/db?sslmode=disable&sslpassword=s3cret-passphrase";
    let err = KeyRegistry::open(url).await.expect_err("refused");
    assert!(
        matches!(&err, RegistryError::UnsupportedParameter(name) if name == "sslpassword"),
        "{err}"
    );
    #[cfg(feature = "connect")]
    {
        let err = asap_registry::PostgresTenantStore::connect(url)
            .await
            .expect_err("refused");
        assert!(matches!(err, RegistryError::UnsupportedParameter(_)), "{err}");
    }
    let shown = format!("{err} {err:?} {}", captured.lines().join("\n"));
    assert!(!shown.contains("s3cret"), "{shown}");
}
