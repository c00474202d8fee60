//! A fleet shares one nonce store: the core `ReplayGuard` on Redis, keyed by
//! `(username, time:nonce)`, so a token accepted by one instance is refused by every other.

use std::sync::Arc;

use asap_core::{KeyKind, KeySpec, PrivateKey};
use asap_redis::{RedisReplayGuard, USER_NONCE_PREFIX};
use asap_testkit::redis::RedisServer;
use user_tokens::{StaticUserKeys, UserSigner, UserTokenError, UserVerifier};

#[tokio::test]
async fn a_token_used_on_one_instance_is_refused_on_another() {
    let Some(redis) = RedisServer::start() else { return };
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("key");
    let keys = Arc::new(StaticUserKeys::new().with_key("ann", key.public_key().expect("public")));
    let mut instances = Vec::new();
    for _ in 0..2 {
        let guard = RedisReplayGuard::connect(&redis.url())
            .await
            .expect("redis")
            .key_prefix(USER_NONCE_PREFIX);
        instances.push(
            UserVerifier::builder_shared(keys.clone())
                .nonce_store(Arc::new(guard))
                .build()
                .expect("verifier"),
        );
    }
    let header = UserSigner::new("ann", key)
        .expect("signer")
        .authorization()
        .expect("header");
    instances[0]
        .verify_authorization(&header)
        .await
        .expect("first instance");
    assert!(matches!(
        instances[1].verify_authorization(&header).await,
        Err(UserTokenError::Replayed)
    ));
}
