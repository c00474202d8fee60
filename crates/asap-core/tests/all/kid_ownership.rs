//! Kid ownership through the verifier: the key name is one segment, so a nested issuer's key
//! never signs for its parent (issue 13, item 4).

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use asap_core::*;
use serde_json::json;

use crate::support::*;

/// `team/billing`'s key, published under its kid, and a verifier that allows only `team`.
struct Nested {
    private: PrivateKey,
    source: Arc<CountingSource>,
}

impl Nested {
    fn new() -> Nested {
        let private = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
        let keys = StaticKeySource::new().with_key(
            KeyId::parse("team/billing/k1.pem").expect("kid"),
            private.public_key().expect("public"),
        );
        Nested {
            private,
            source: Arc::new(CountingSource {
                keys,
                lookups: AtomicUsize::new(0),
            }),
        }
    }

    fn token(&self, iss: &str) -> String {
        let header = json!({"alg": "ES256", "kid": "team/billing/k1.pem", "typ": "JWT"});
        let claims = json!({"iss": iss, "aud": AUDIENCE, "jti": "j", "iat": NOW, "exp": NOW + 60});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self
            .private
            .sign(Algorithm::ES256, input.as_bytes())
            .expect("sign");
        format!("{input}.{}", b64(&sig))
    }

    fn verifier(&self, issuer: &str) -> VerifierBuilder {
        Verifier::builder_shared(self.source.clone())
            .audience(aud())
            .allowed_issuers([issuer])
            .clock(Arc::new(ManualClock::new(NOW)))
    }
}

#[tokio::test]
async fn a_nested_issuer_cannot_impersonate_its_parent() {
    let nested = Nested::new();
    let verifier = nested.verifier("team").build().expect("verifier");
    let err = verifier
        .verify(&nested.token("team"))
        .await
        .expect_err("team/billing's key must not sign for team");
    assert!(
        matches!(err, VerifyError::Kid(KidError::NotOwnedByIssuer { ref issuer, .. }) if issuer == "team"),
        "{err:?}"
    );
    assert_eq!(err.outcome().status(), 401);
    assert_eq!(nested.source.count(), 0, "refused before any key lookup");
}

#[tokio::test]
async fn the_owner_of_a_nested_kid_is_the_kid_without_its_last_segment() {
    let nested = Nested::new();
    let verifier = nested.verifier("team/billing").build().expect("verifier");
    let verified = verifier
        .verify(&nested.token("team/billing"))
        .await
        .expect("the owner");
    assert_eq!(verified.issuer(), "team/billing");
}

#[tokio::test]
async fn deeper_key_names_need_the_explicit_switch() {
    let nested = Nested::new();
    let verifier = nested
        .verifier("team")
        .allow_nested_key_names(true)
        .build()
        .expect("verifier");
    let verified = verifier.verify(&nested.token("team")).await.expect("switched on");
    assert_eq!(verified.kid().owner(), Some("team/billing"));
    // The legacy kid == iss switch does not open it.
    let legacy = nested
        .verifier("team")
        .allow_legacy_kid_equals_issuer(true)
        .build()
        .expect("verifier");
    assert!(matches!(
        legacy.verify(&nested.token("team")).await,
        Err(VerifyError::Kid(KidError::NotOwnedByIssuer { .. }))
    ));
}
