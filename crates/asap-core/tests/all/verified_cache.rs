//! The verified-token cache under an issuer that fills it (issue 13, item 9): other issuers
//! keep their entries, and the cache never answers past a token's `exp`.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use asap_core::*;
use serde_json::json;

use crate::support::*;

struct Issuer {
    name: &'static str,
    kid: KeyId,
    private: PrivateKey,
}

impl Issuer {
    fn new(name: &'static str) -> Issuer {
        Issuer {
            name,
            kid: KeyId::parse(&format!("{name}/k1")).expect("kid"),
            private: PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key"),
        }
    }

    fn token(&self, jti: &str, exp: i64) -> String {
        self.token_with(&json!({"iss": self.name, "aud": AUDIENCE, "jti": jti, "iat": NOW, "exp": exp}))
    }

    fn token_with(&self, claims: &serde_json::Value) -> String {
        let header = json!({"alg": "ES256", "kid": self.kid.as_str(), "typ": "JWT"});
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
}

fn verifier_for(issuers: &[&Issuer], entries: usize) -> (Verifier, Arc<CountingSource>, Arc<ManualClock>) {
    let mut keys = StaticKeySource::new();
    for issuer in issuers {
        keys.insert(issuer.kid.clone(), issuer.private.public_key().expect("public"));
    }
    let source = Arc::new(CountingSource {
        keys,
        lookups: AtomicUsize::new(0),
    });
    let clock = Arc::new(ManualClock::new(NOW));
    let verifier = Verifier::builder_shared(source.clone())
        .audience(aud())
        .clock(clock.clone())
        .cache_verified_tokens(entries)
        .build()
        .expect("verifier");
    (verifier, source, clock)
}

/// An issuer with a valid key fills the whole cache with long-lived tokens; another issuer's
/// tokens are still cached, and the first issuer's later tokens cannot push them out.
#[tokio::test]
async fn an_issuer_filling_the_cache_cannot_push_out_another_issuers_entries() {
    let (mallory, billing) = (Issuer::new("mallory"), Issuer::new("billing"));
    let (verifier, source, _) = verifier_for(&[&mallory, &billing], 8);
    for i in 0..8 {
        verifier
            .verify(&mallory.token(&format!("m{i}"), NOW + 3600))
            .await
            .expect("mallory's token");
    }
    let ours: Vec<String> = (0..4)
        .map(|i| billing.token(&format!("b{i}"), NOW + 60))
        .collect();
    for t in &ours {
        verifier.verify(t).await.expect("billing's token");
    }
    for i in 8..100 {
        verifier
            .verify(&mallory.token(&format!("m{i}"), NOW + 3600))
            .await
            .expect("mallory's token");
    }
    let before = source.count();
    for t in &ours {
        verifier.verify(t).await.expect("still valid");
    }
    assert_eq!(source.count(), before, "billing's tokens are all still cached");
}

/// Entries answer until the token's own `exp`, never after, however long they were cached.
#[tokio::test]
async fn a_cached_entry_never_outlives_the_tokens_exp() {
    let billing = Issuer::new("billing");
    let (verifier, source, clock) = verifier_for(&[&billing], 8);
    let token = billing.token("j", NOW + 60);
    verifier.verify(&token).await.expect("first");
    clock.set(NOW + 60);
    verifier.verify(&token).await.expect("at exp, from the cache");
    assert_eq!(source.count(), 1);
    clock.set(NOW + 61);
    verifier
        .verify(&token)
        .await
        .expect("within the leeway, verified again");
    assert_eq!(source.count(), 2, "past exp the entry did not answer");
    clock.set(NOW + 91);
    assert!(matches!(
        verifier.verify(&token).await,
        Err(VerifyError::Token(TokenError::Expired { .. }))
    ));
}

/// A valid key can sign a token of a few KiB whose claims parse into a hundred times their text
/// (`{"":0}` is six bytes of text and a map node of over 600): such a token is verified every
/// time instead of being kept, so a full cache holds a small multiple of its tokens' text. Claims
/// of a usual size, nested ones too, are still kept.
#[tokio::test]
async fn a_token_whose_claims_parse_into_far_more_than_its_text_is_verified_every_time() {
    let mallory = Issuer::new("mallory");
    let (verifier, source, _) = verifier_for(&[&mallory], 8);
    let claims = |jti: &str, extra: serde_json::Value| json!({"iss": "mallory", "aud": AUDIENCE, "jti": jti, "iat": NOW, "exp": NOW + 3600, "p": extra});
    let padded = mallory.token_with(&claims("padded", json!(vec![json!({"": 0}); 400])));
    assert!(
        padded.len() <= 4096,
        "short enough to be kept by its text: {}",
        padded.len()
    );
    verifier.verify(&padded).await.expect("valid");
    verifier.verify(&padded).await.expect("valid again");
    assert_eq!(source.count(), 2, "verified again, not kept");

    let nested = json!({
        "app": {"id": "ari:cloud:ecosystem::app/1", "environment": {"id": "e1"}, "module": {"key": "m"}},
        "context": {"cloudId": "c1", "moduleKey": "m", "siteUrl": "https://example.atlassian.net"},
        "principal": "user-1",
        "scopes": ["read:jira-work", "write:jira-work"],
    });
    let usual = mallory.token_with(&claims("usual", nested));
    verifier.verify(&usual).await.expect("valid");
    verifier.verify(&usual).await.expect("from the cache");
    assert_eq!(source.count(), 3, "kept");
}

/// An entry answers only from the first second the time rule accepts the token: a clock stepped
/// back further re-checks it by every rule, so a token issued in what is now the future is
/// refused, as without the cache.
#[tokio::test]
async fn a_cached_token_is_checked_again_when_the_clock_steps_back() {
    let billing = Issuer::new("billing");
    let (verifier, _, clock) = verifier_for(&[&billing], 8);
    let token = billing.token("j", NOW + 600);
    verifier.verify(&token).await.expect("first");
    clock.set(NOW - 100);
    assert!(matches!(
        verifier.verify(&token).await,
        Err(VerifyError::Token(TokenError::IssuedInFuture { .. }))
    ));
}
