//! The registry as the key store of per-user tokens: keys found by `(username, fingerprint)`,
//! on SQLite and on PostgreSQL, revocation bounded as for ASAP kids, OpenSSH keys on both ends.

use std::sync::Arc;
use std::time::Duration;

use asap_core::{KeyKind, KeySpec, PrivateKey, PublicKey};
use asap_registry::{KeyRegistry, RegistryError};
use asap_testkit::postgres::PostgresServer;
use user_tokens::{UserSigner, UserTokenError, UserVerifier};

use crate::support::ssh_keygen;

/// Runs `$body` with `$pool` a connection pool of the database at `$url` (SQLite or
/// PostgreSQL), for what the admin API cannot do: write rows as an older version did.
macro_rules! on_pool {
    ($url:expr, |$pool:ident| $body:expr) => {
        if $url.starts_with("postgres") {
            let $pool = sqlx::PgPool::connect($url).await.expect("pool");
            $body
        } else {
            let $pool = sqlx::SqlitePool::connect($url).await.expect("pool");
            $body
        }
    };
}

fn verifier(registry: &KeyRegistry) -> UserVerifier {
    UserVerifier::builder(registry.clone()).build().expect("verifier")
}

fn pair() -> (PrivateKey, String) {
    let private = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("ed25519");
    let pem = private.public_key().expect("public").to_pem();
    (private, pem)
}

async fn status(verifier: &UserVerifier, signer: &UserSigner) -> Result<(), UserTokenError> {
    verifier
        .verify_authorization(&signer.authorization().expect("header"))
        .await
        .map(|_| ())
}

/// Whether the verifier refuses the signer's token as signed by no key of its user (a 401).
async fn no_key(verifier: &UserVerifier, signer: &UserSigner) -> bool {
    matches!(status(verifier, signer).await, Err(UserTokenError::NoMatchingKey))
}

/// Every per-user scenario on the registry at `url`.
async fn per_user_keys(url: &str) {
    let registry = KeyRegistry::open(url).await.expect("open");
    let (ann_key, ann_pem) = pair();
    registry.add("ann", Some("laptop"), &ann_pem).await.expect("add");
    let rsa = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    registry
        .add("ann", None, &rsa.public_key().expect("public").to_pem())
        .await
        .expect("add rsa");
    let verifier = verifier(&registry);

    let ann = UserSigner::new("ann", ann_key).expect("signer");
    status(&verifier, &ann).await.expect("ann's Ed25519 key");
    status(&verifier, &UserSigner::new("ann", rsa).expect("signer"))
        .await
        .expect("ann's RSA key, registered without a name");

    // Unknown user, and a key ann never registered: one answer.
    let (stranger_key, _) = pair();
    let bob = UserSigner::new("bob", pair().0).expect("signer");
    assert!(no_key(&verifier, &bob).await);
    let unregistered = UserSigner::new("ann", stranger_key).expect("signer");
    assert!(no_key(&verifier, &unregistered).await);
    // Ann's key claimed by another principal.
    let (key, pem) = pair();
    registry.add("carol", Some("k"), &pem).await.expect("add");
    let ann_with_carols = UserSigner::new("ann", key).expect("signer");
    assert!(no_key(&verifier, &ann_with_carols).await);

    // Usernames no principal can have (a NUL byte would be a PostgreSQL error): a 401, not a
    // 503.
    for name in ["a\u{0}b", "", "/ann", "ann/", "a b"] {
        let Ok(signer) = UserSigner::new(name, pair().0) else {
            continue;
        };
        assert!(no_key(&verifier, &signer).await, "{name:?}");
    }

    // A key added after a miss verifies at once here (the pair's cached miss is dropped).
    let (late_key, late_pem) = pair();
    let late = UserSigner::new("dave", late_key).expect("signer");
    assert!(status(&verifier, &late).await.is_err());
    registry.add("dave", Some("k"), &late_pem).await.expect("add");
    status(&verifier, &late).await.expect("added after a miss");

    // Revoked here: refused at once. On another instance: within its cache TTL.
    let other = KeyRegistry::builder(url)
        .cache_ttl(Duration::from_millis(300))
        .open()
        .await
        .expect("second instance");
    let other_verifier = UserVerifier::builder(other.clone()).build().expect("verifier");
    status(&other_verifier, &ann)
        .await
        .expect("cached on the other instance");
    registry.revoke("ann", "laptop").await.expect("revoke");
    assert!(no_key(&verifier, &ann).await);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(no_key(&other_verifier, &ann).await);
    registry.close().await;
    other.close().await;
}

/// A user with more keys than one lookup reads rows verifies with each: the lookup goes by
/// fingerprint, not through the principal's keys in name order.
async fn many_keys(url: &str) {
    let registry = KeyRegistry::open(url).await.expect("open");
    let mut signers = Vec::new();
    for i in 0..70 {
        let (key, pem) = pair();
        registry
            .add("erin", Some(&format!("k{i:02}")), &pem)
            .await
            .expect("add");
        signers.push(UserSigner::new("erin", key).expect("signer"));
    }
    let verifier = verifier(&registry);
    for (i, signer) in signers.iter().enumerate() {
        status(&verifier, signer)
            .await
            .unwrap_or_else(|e| panic!("erin's key k{i:02}: {e}"));
    }
    registry.revoke("erin", "k69").await.expect("revoke");
    assert!(no_key(&verifier, &signers[69]).await);
    registry.close().await;
}

/// Rows an older version wrote (no fingerprint, a migration it does not know) still verify,
/// and the next open fills their fingerprints in, page after page, skipping a corrupt row.
async fn rows_of_an_older_version(url: &str) {
    let registry = KeyRegistry::builder(url)
        .cache_ttl(Duration::ZERO)
        .open()
        .await
        .expect("open");
    let (key, pem) = pair();
    registry.add("fay", Some("old"), &pem).await.expect("add");
    let fay = UserSigner::new("fay", key).expect("signer");
    let fingerprint = user_tokens::Fingerprint::of(&PublicKey::from_pem(&pem).expect("pem"));
    let stored = |url: &str| {
        let url = url.to_owned();
        async move {
            on_pool!(&url, |pool| {
                let rows: Vec<(String, Option<String>)> = sqlx::query_as(
                    "SELECT key_name, fingerprint FROM asap_public_keys WHERE principal = 'fay' \
                     ORDER BY key_name",
                )
                .fetch_all(&pool)
                .await
                .expect("select");
                rows
            })
        }
    };
    assert_eq!(
        stored(url).await,
        vec![("old".to_owned(), Some(fingerprint.as_str().to_owned()))],
        "add stores the fingerprint"
    );

    // An older version: rows without a fingerprint (300, more than a page), a corrupt one of
    // another principal, and a migration this version does not know.
    on_pool!(url, |pool| {
        sqlx::query("UPDATE asap_public_keys SET fingerprint = NULL")
            .execute(&pool)
            .await
            .expect("update");
        for i in 0..300 {
            sqlx::query(
                "INSERT INTO asap_public_keys (principal, key_name, public_key, algorithm, created_at) \
                 VALUES ('fay', $1, $2, 'Ed25519', 0)",
            )
            .bind(format!("same{i:03}"))
            .bind(&pem)
            .execute(&pool)
            .await
            .expect("insert");
        }
        sqlx::query(
            "INSERT INTO asap_public_keys (principal, key_name, public_key, algorithm, created_at) \
             VALUES ('broken', 'k', 'not a key', 'Ed25519', 0)",
        )
        .execute(&pool)
        .await
        .expect("insert");
        sqlx::query(
            "INSERT INTO asap_registry_migrations (version, description, success, checksum, execution_time) \
             VALUES (999, 'from a newer version', $1, $2, 0)",
        )
        .bind(true)
        .bind(vec![0_u8; 48])
        .execute(&pool)
        .await
        .expect("insert");
    });
    let verifier = verifier(&registry);
    status(&verifier, &fay)
        .await
        .expect("a row without a fingerprint matches by the computed one");
    let broken = UserSigner::new("broken", pair().0).expect("signer");
    assert!(
        no_key(&verifier, &broken).await,
        "an unreadable row not yet filled in is no key: a 401, not a 503"
    );
    // A stored fingerprint is a search key, not a claim: a row whose column names another
    // key's fingerprint (edited by hand) is not that key.
    let (_, other_pem) = pair();
    let other = user_tokens::Fingerprint::of(&PublicKey::from_pem(&other_pem).expect("pem"));
    on_pool!(url, |pool| {
        sqlx::query(
            "UPDATE asap_public_keys SET fingerprint = $1 WHERE principal = 'fay' AND key_name = 'same000'",
        )
        .bind(other.as_str())
        .execute(&pool)
        .await
        .expect("update");
    });
    let found = user_tokens::UserKeySource::user_key(&registry, "fay", &other)
        .await
        .expect("answers");
    assert!(found.is_none(), "fay's key is not the key of another fingerprint");
    on_pool!(url, |pool| {
        sqlx::query(
            "UPDATE asap_public_keys SET fingerprint = NULL WHERE principal = 'fay' AND key_name = 'same000'",
        )
        .execute(&pool)
        .await
        .expect("update");
    });

    let reopened = tokio::time::timeout(Duration::from_secs(60), KeyRegistry::open(url))
        .await
        .expect("the fill ends")
        .expect("opens a database with a newer migration");
    let rows = stored(url).await;
    assert_eq!(rows.len(), 301);
    assert!(
        rows.iter()
            .all(|(_, f)| f.as_deref() == Some(fingerprint.as_str())),
        "every row filled in"
    );
    status(&self::verifier(&reopened), &fay)
        .await
        .expect("verifies after the fill");
    let broken_row: Vec<Option<String>> = on_pool!(url, |pool| {
        sqlx::query_scalar("SELECT fingerprint FROM asap_public_keys WHERE principal = 'broken'")
            .fetch_all(&pool)
            .await
            .expect("select")
    });
    assert_eq!(
        broken_row,
        [Some(String::new())],
        "an unreadable row is marked, not left to every lookup"
    );
    assert!(no_key(&self::verifier(&reopened), &broken).await);
    registry.close().await;
    reopened.close().await;

    // A newer version that changed what a reader must understand stops this one at open.
    on_pool!(url, |pool| {
        sqlx::query("UPDATE asap_registry_schema SET min_reader = 3")
            .execute(&pool)
            .await
            .expect("update");
    });
    let err = KeyRegistry::open(url).await.expect_err("too new");
    assert!(
        matches!(
            err,
            RegistryError::SchemaTooNew {
                required: 3,
                supported: 2
            }
        ),
        "{err}"
    );
}

/// The same key under two names of one principal: revoking one name stops its ASAP kid, and
/// per-user tokens (which name the key, not the name) verify until the last name is revoked;
/// the revocation says so in a warning.
async fn one_key_under_two_names(url: &str) {
    let registry = KeyRegistry::open(url).await.expect("open");
    let (key, pem) = pair();
    let spare = PrivateKey::from_pkcs8_der(&key.to_pkcs8_der().expect("der")).expect("a copy");
    registry.add("gus", Some("laptop"), &pem).await.expect("add");
    registry
        .add("gus", None, &pem)
        .await
        .expect("the same key, named after its hash");
    let verifier = verifier(&registry);
    let gus = UserSigner::new("gus", key).expect("signer");
    status(&verifier, &gus).await.expect("verifies");

    let (captured, subscriber) = asap_testkit::logs::Captured::subscriber(tracing::Level::WARN);
    let guard = asap_testkit::logs::scoped(subscriber);
    registry.revoke("gus", "laptop").await.expect("revoke");
    drop(guard);
    let warned = captured.lines().join("\n");
    assert!(
        warned.contains("still registered under other names") && warned.contains("sha256-"),
        "{warned}"
    );
    status(&verifier, &gus)
        .await
        .expect("still registered under its other name");
    let asap = crate::support::verifier(&registry);
    let laptop = crate::support::token("gus", "laptop", spare);
    assert_eq!(
        crate::support::status(&asap, &laptop).await,
        401,
        "the revoked kid"
    );

    let other = registry
        .list(Some("gus"))
        .await
        .expect("list")
        .into_iter()
        .find(|k| !k.is_revoked())
        .expect("the other name");
    registry.revoke("gus", other.name()).await.expect("revoke");
    assert!(no_key(&verifier, &gus).await);
    registry.close().await;
}

#[tokio::test]
async fn per_user_keys_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = |name: &str| format!("sqlite:{}", dir.path().join(name).display());
    per_user_keys(&url("keys.db")).await;
    many_keys(&url("many.db")).await;
    rows_of_an_older_version(&url("older.db")).await;
    one_key_under_two_names(&url("two_names.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_keys_on_postgres() {
    let Some(pg) = PostgresServer::start() else { return };
    per_user_keys(&pg.create_database("user_keys")).await;
    many_keys(&pg.create_database("many_keys")).await;
    rows_of_an_older_version(&pg.create_database("older_rows")).await;
    one_key_under_two_names(&pg.create_database("two_names")).await;
}

#[tokio::test]
async fn an_openssh_key_signs_and_its_authorized_keys_line_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((private_path, public_line)) = ssh_keygen(dir.path(), "id_ed25519", &["-t", "ed25519"]) else {
        return;
    };
    let registry = KeyRegistry::open(&format!("sqlite:{}", dir.path().join("keys.db").display()))
        .await
        .expect("open");
    registry
        .add("ann", None, &public_line)
        .await
        .expect("add the .pub line");
    let key = asap_keys::read_private_key(&private_path, None).expect("~/.ssh key");
    let signer = UserSigner::new("ann", key).expect("signer");
    let verifier = UserVerifier::builder_shared(Arc::new(registry))
        .build()
        .expect("verifier");
    status(&verifier, &signer).await.expect("verifies");
}

#[tokio::test]
async fn an_unreachable_database_is_a_503() {
    let Some(mut pg) = PostgresServer::start() else {
        return;
    };
    let registry = KeyRegistry::builder(pg.url())
        .cache_ttl(Duration::ZERO)
        .acquire_timeout(Duration::from_secs(2))
        .open()
        .await
        .expect("open");
    let verifier = verifier(&registry);
    pg.stop();
    let err = status(&verifier, &UserSigner::new("ann", pair().0).expect("signer"))
        .await
        .expect_err("down");
    assert!(matches!(err, UserTokenError::KeysUnavailable(_)), "{err}");
    assert_eq!(err.outcome().status(), 503);
}
