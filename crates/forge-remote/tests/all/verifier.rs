//! The Forge Invocation Token rules end to end against the loopback key set: the documented
//! token verifies with its typed claims; every refusal has its typed error and its status.

use std::sync::Arc;

use asap_core::{KeyKind, KeySpec, PrivateKey, TokenError};
use forge_remote::{ForgeError, InvocationVerifier, SYSTEM_TOKEN_HEADER, USER_TOKEN_HEADER};
use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use crate::support::{APP_ID, Forge, NOW, claims, sign};

fn with(mut claims: Value, path: &[&str], value: Value) -> Value {
    let (last, parents) = path.split_last().expect("path");
    let mut at = &mut claims;
    for p in parents {
        at = &mut at[*p];
    }
    if value.is_null() {
        at.as_object_mut().expect("object").remove(*last);
    } else {
        at[*last] = value;
    }
    claims
}

async fn refused(forge: &Forge, token: &str) -> (ForgeError, u16) {
    let err = forge.verifier.verify(token).await.expect_err("refused");
    let status = err.outcome().status();
    (err, status)
}

#[tokio::test]
async fn a_documented_invocation_token_verifies_with_typed_claims() {
    let forge = Forge::start().await;
    let verified = forge
        .verifier
        .verify(&forge.token(&claims()))
        .await
        .expect("verified");
    assert_eq!(verified.audience, APP_ID);
    assert_eq!(verified.app.id, APP_ID);
    assert!(verified.app.installation_id.ends_with("444455556666"));
    assert!(
        verified
            .app
            .api_base_url
            .starts_with("https://api.atlassian.com/ex/jira/")
    );
    assert_eq!(verified.app.app_version.as_deref(), Some("2.14.0"));
    let env = verified.app.environment.as_ref().expect("environment");
    assert_eq!(env.kind.as_deref(), Some("PRODUCTION"));
    assert_eq!(
        verified.app.module.as_ref().and_then(|m| m.key.as_deref()),
        Some("remote-macro")
    );
    let license = verified.app.license.as_ref().expect("license");
    assert_eq!(license.is_active, Some(true));
    assert_eq!(
        license.extra["billingPeriod"], "MONTHLY",
        "unknown members are kept"
    );
    let contexts = &verified.app.installation.as_ref().expect("installation").contexts;
    assert_eq!(
        contexts[0].cloud_id.as_deref(),
        Some("4a7c1f0e-aaaa-4bbb-8ccc-dddddddddddd")
    );
    assert_eq!(verified.cloud_id(), Some("4a7c1f0e-aaaa-4bbb-8ccc-dddddddddddd"));
    let context = verified.context.as_ref().expect("context");
    assert_eq!(context.site_url.as_deref(), Some("https://acme.atlassian.net"));
    assert_eq!(
        context.extension.as_ref().expect("extension")["content"]["id"],
        "123"
    );
    assert_eq!(verified.principal.as_deref(), Some("5b10a2844c20165700ede21g"));
    assert_eq!(verified.token_id, "a1b2c3d4-0000-4000-8000-000000000001");
}

#[tokio::test]
async fn fields_forge_adds_later_are_kept_not_refused() {
    let forge = Forge::start().await;
    let token = forge.token(&with(
        with(claims(), &["app", "newThing"], json!({"x": 1})),
        &["featureFlags"],
        json!(["a"]),
    ));
    let verified = forge.verifier.verify(&token).await.expect("verified");
    assert_eq!(verified.app.extra["newThing"]["x"], 1);
    assert_eq!(verified.extra["featureFlags"][0], "a");
    // An app-initiated invocation (a scheduled trigger) has no principal and no context.
    let token = forge.token(&with(
        with(claims(), &["principal"], Value::Null),
        &["context"],
        Value::Null,
    ));
    let verified = forge.verifier.verify(&token).await.expect("verified");
    assert!(verified.principal.is_none() && verified.context.is_none());
}

#[tokio::test]
async fn a_wrong_issuer_or_audience_is_a_401() {
    let forge = Forge::start().await;
    let (err, status) = refused(&forge, &forge.token(&with(claims(), &["iss"], json!("billing")))).await;
    assert!(
        matches!(err, ForgeError::WrongIssuer(ref i) if i == "billing"),
        "{err}"
    );
    assert_eq!(status, 401);
    let other = "ari:cloud:ecosystem::app/00000000-0000-0000-0000-000000000000";
    let (err, status) = refused(&forge, &forge.token(&with(claims(), &["aud"], json!(other)))).await;
    assert!(
        matches!(err, ForgeError::Token(TokenError::AudienceMismatch)),
        "{err}"
    );
    assert_eq!(status, 401);
    // The token is addressed to this app but describes another.
    let (err, status) = refused(
        &forge,
        &forge.token(&with(claims(), &["app", "id"], json!(other))),
    )
    .await;
    assert!(matches!(err, ForgeError::AppMismatch), "{err}");
    assert_eq!(status, 401);
    assert_eq!(forge.fetches(), 1, "refused before any key lookup but the last");
}

#[tokio::test]
async fn only_rs256_is_accepted_and_hs256_keyed_with_the_published_rsa_key_is_refused() {
    let forge = Forge::start().await;
    // The classic confusion: HMAC keyed with bytes of the public key the JWKS publishes.
    let spki = forge.key.public_key().expect("public").spki_der().to_vec();
    let pem = forge.key.public_key().expect("public").to_pem();
    for secret in [spki.clone(), pem.into_bytes()] {
        let token =
            asap_testkit::forge::signed(&json!({"alg": "HS256", "kid": forge.kid}), &claims(), |input| {
                asap_testkit::forge::Hmac::Sha256.sign(&secret, input)
            });
        let (err, status) = refused(&forge, &token).await;
        assert!(
            matches!(err, ForgeError::Token(TokenError::Algorithm(_))),
            "{err}"
        );
        assert_eq!(status, 401);
    }
    for alg in ["RS512", "PS256"] {
        let token = sign(&json!({"alg": alg, "kid": forge.kid}), &claims(), &forge.key);
        let (err, status) = refused(&forge, &token).await;
        assert!(
            matches!(err, ForgeError::Token(TokenError::Algorithm(_))),
            "{alg}: {err}"
        );
        assert_eq!(status, 401);
    }
    let none = asap_testkit::forge::unsigned(&json!({"alg": "none", "kid": forge.kid}), &claims());
    assert_eq!(refused(&forge, &none).await.1, 401);
    assert_eq!(
        forge.fetches(),
        0,
        "no key is fetched for a token with the wrong alg"
    );
}

#[tokio::test]
async fn a_forged_signature_an_unknown_kid_and_a_non_rsa_key_are_401() {
    let forge = Forge::start().await;
    let attacker = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let forged = sign(&json!({"alg": "RS256", "kid": forge.kid}), &claims(), &attacker);
    let (err, status) = refused(&forge, &forged).await;
    assert!(
        matches!(err, ForgeError::Token(TokenError::BadSignature)),
        "{err}"
    );
    assert_eq!(status, 401);

    let unknown = sign(&json!({"alg": "RS256", "kid": "nobody"}), &claims(), &forge.key);
    let (err, status) = refused(&forge, &unknown).await;
    assert!(matches!(err, ForgeError::KeyNotFound(_)), "{err}");
    assert_eq!(status, 401);

    // An EC key published under a kid cannot verify an RS256 token.
    let forge = Forge::start().await;
    let ec = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("ec");
    forge.publish(&[(&forge.kid, &forge.key), ("ec-key", &ec)]);
    let token = sign(&json!({"alg": "RS256", "kid": "ec-key"}), &claims(), &forge.key);
    let (err, status) = refused(&forge, &token).await;
    assert!(
        matches!(err, ForgeError::Token(TokenError::KeyAlgorithmMismatch { .. })),
        "{err}"
    );
    assert_eq!(status, 401);

    let bad_kid = sign(&json!({"alg": "RS256", "kid": "../x"}), &claims(), &forge.key);
    assert!(matches!(refused(&forge, &bad_kid).await.0, ForgeError::Kid(_)));
    let no_kid = sign(&json!({"alg": "RS256"}), &claims(), &forge.key);
    assert!(matches!(
        refused(&forge, &no_kid).await.0,
        ForgeError::Token(TokenError::MissingHeader("kid"))
    ));
}

#[tokio::test]
async fn the_time_rule_and_jti_apply() {
    let forge = Forge::start().await;
    forge.clock.advance(56 + 30);
    let (err, status) = refused(&forge, &forge.token(&claims())).await;
    assert!(
        matches!(err, ForgeError::Token(TokenError::Expired { .. })),
        "{err}"
    );
    assert_eq!(status, 401);
    forge.clock.set(NOW);
    let future = with(
        with(claims(), &["nbf"], json!(NOW + 120)),
        &["exp"],
        json!(NOW + 180),
    );
    assert!(matches!(
        refused(&forge, &forge.token(&future)).await.0,
        ForgeError::Token(TokenError::NotYetValid { .. })
    ));
    let long = with(claims(), &["exp"], json!(NOW + 2 * 3600));
    assert!(matches!(
        refused(&forge, &forge.token(&long)).await.0,
        ForgeError::Token(TokenError::BadLifetime { .. })
    ));
    let no_jti = with(claims(), &["jti"], Value::Null);
    assert!(matches!(
        refused(&forge, &forge.token(&no_jti)).await.0,
        ForgeError::Token(TokenError::MissingClaim("jti"))
    ));
    let float_exp = with(claims(), &["exp"], json!(1.8e9));
    assert!(matches!(
        refused(&forge, &forge.token(&float_exp)).await.0,
        ForgeError::Token(TokenError::InvalidClaim { claim: "exp", .. })
    ));
}

#[tokio::test]
async fn app_claims_must_have_their_documented_types() {
    let forge = Forge::start().await;
    for (path, value) in [
        (&["app"][..], Value::Null),
        (&["app"][..], json!("app")),
        (&["app", "installationId"][..], Value::Null),
        (&["app", "apiBaseUrl"][..], json!(7)),
        (&["context"][..], json!([1])),
        (&["principal"][..], json!({"accountId": "x"})),
    ] {
        let (err, status) = refused(&forge, &forge.token(&with(claims(), path, value.clone()))).await;
        assert!(
            matches!(
                err,
                ForgeError::InvalidClaim { .. } | ForgeError::Token(TokenError::InvalidClaim { .. })
            ),
            "{path:?} = {value}: {err}"
        );
        assert_eq!(status, 401);
    }
    // A repeated key anywhere in the claims refuses the token.
    let text = claims().to_string().replacen(
        "\"siteUrl\"",
        "\"siteUrl\":\"https://evil.example\",\"siteUrl\"",
        1,
    );
    let token = asap_testkit::forge::signed_text(
        &json!({"alg": "RS256", "kid": forge.kid}).to_string(),
        &text,
        |input| forge.key.sign(asap_core::Algorithm::RS256, input).expect("sign"),
    );
    assert!(matches!(
        refused(&forge, &token).await.0,
        ForgeError::Token(TokenError::DuplicateKey(_))
    ));
    // Inside `app` too: a typed member, and a member kept as JSON.
    for (member, key) in [
        ("\"installationId\"", "installationId"),
        ("\"billingPeriod\"", "billingPeriod"),
    ] {
        let text = claims()
            .to_string()
            .replacen(member, &format!("{member}:\"x\",{member}"), 1);
        let token = asap_testkit::forge::signed_text(
            &json!({"alg": "RS256", "kid": forge.kid}).to_string(),
            &text,
            |input| forge.key.sign(asap_core::Algorithm::RS256, input).expect("sign"),
        );
        let (err, status) = refused(&forge, &token).await;
        assert!(
            matches!(err, ForgeError::Token(TokenError::DuplicateKey(ref k)) if k == key),
            "{key}: {err}"
        );
        assert_eq!(status, 401);
    }
    // A member of another type is refused by its path, before any key lookup: under a kid the
    // key set does not have, the refusal is still the claim's.
    let bad = with(claims(), &["app", "license", "isActive"], json!("yes"));
    let token = sign(&json!({"alg": "RS256", "kid": "not-published"}), &bad, &forge.key);
    let (err, status) = refused(&forge, &token).await;
    assert_eq!(
        err.to_string(),
        "claim \"app\" is invalid: app.license.isActive is a string, not true or false"
    );
    assert_eq!(status, 401);
}

#[tokio::test]
async fn tokens_over_the_cap_are_refused_before_parsing_and_large_real_ones_pass() {
    let forge = Forge::start().await;
    // A large context (a big macro body) under the 32 KiB default passes…
    let large = with(
        claims(),
        &["context", "extension", "body"],
        json!("x".repeat(16 * 1024)),
    );
    forge
        .verifier
        .verify(&forge.token(&large))
        .await
        .expect("a large real token");
    // …one over it is refused by its length alone.
    let huge = with(
        claims(),
        &["context", "extension", "body"],
        json!("x".repeat(40 * 1024)),
    );
    let (err, status) = refused(&forge, &forge.token(&huge)).await;
    assert!(
        matches!(err, ForgeError::Token(TokenError::TooLarge { max: 32768, .. })),
        "{err}"
    );
    assert_eq!(status, 401);
    assert!(
        InvocationVerifier::builder(APP_ID)
            .max_token_bytes(forge_remote::MAX_INVOCATION_TOKEN_BYTES + 1)
            .key_source(Arc::new(forge.jwks.clone()))
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn a_key_set_with_private_members_is_a_503_not_a_trusted_key() {
    let forge = Forge::start().await;
    let mut set: Value = serde_json::from_str(&asap_keys::JwkSet::to_json([(
        &asap_core::KeyId::parse(&forge.kid).expect("kid"),
        &forge.key.public_key().expect("public"),
    )]))
    .expect("json");
    set["keys"][0]["d"] = json!("AQAB");
    forge.publish_raw(set.to_string());
    let (err, status) = refused(&forge, &forge.token(&claims())).await;
    assert!(matches!(err, ForgeError::KeyUnavailable(_)), "{err}");
    assert_eq!(status, 503);
}

#[tokio::test]
async fn a_rotation_is_one_refetch_whatever_the_number_of_tokens() {
    let forge = Forge::start().await;
    forge.verifier.verify(&forge.token(&claims())).await.expect("k1");
    assert_eq!(forge.fetches(), 1);
    let next = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    forge.publish(&[(&forge.kid, &forge.key), ("forge-key-2", &next)]);
    let token = sign(&json!({"alg": "RS256", "kid": "forge-key-2"}), &claims(), &next);
    let verifier = forge.verifier.clone();
    let checks = (0..200).map(|_| {
        let (verifier, token) = (verifier.clone(), token.clone());
        tokio::spawn(async move { verifier.verify(&token).await.map(|_| ()) })
    });
    let checks: Vec<_> = checks.collect();
    for check in futures_join(checks.into_iter()).await {
        check.expect("task").expect("verified with the new key");
    }
    assert_eq!(forge.fetches(), 2);
}

async fn futures_join<T>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await);
    }
    out
}

#[tokio::test]
async fn requests_carry_the_bearer_token_and_the_oauth_tokens_as_secrets() {
    let forge = Forge::start().await;
    let mut headers = HeaderMap::new();
    assert!(matches!(
        forge.verifier.verify_request(&headers).await,
        Err(ForgeError::MissingToken)
    ));
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("JWT {}", forge.token(&claims()))).expect("v"),
    );
    assert!(matches!(
        forge.verifier.verify_request(&headers).await,
        Err(ForgeError::BadAuthorization(_))
    ));
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {}", forge.token(&claims()))).expect("v"),
    );
    headers.insert(
        SYSTEM_TOKEN_HEADER,
        HeaderValue::from_static("system-secret-token"),
    );
    headers.insert(USER_TOKEN_HEADER, HeaderValue::from_static("user-secret-token"));
    let invocation = forge.verifier.verify_request(&headers).await.expect("verified");
    assert_eq!(
        invocation.system_token().map(|t| t.expose()),
        Some("system-secret-token")
    );
    assert_eq!(
        invocation.user_token().map(|t| t.expose()),
        Some("user-secret-token")
    );
    let debug = format!("{invocation:?}");
    assert!(!debug.contains("secret-token"), "{debug}");
    assert!(debug.contains("<redacted>"));
    headers.insert(USER_TOKEN_HEADER, HeaderValue::from_static("two words"));
    assert!(matches!(
        forge.verifier.verify_request(&headers).await,
        Err(ForgeError::BadOAuthToken {
            header: USER_TOKEN_HEADER,
            ..
        })
    ));
}

#[test]
fn app_ids_are_checked_when_the_verifier_is_built() {
    for bad in [
        "5e3a1c52",
        "ari:cloud:ecosystem::app/",
        "ari:cloud:ecosystem::app/a/b",
        "ari:cloud:jira::site/1",
    ] {
        assert!(
            matches!(
                InvocationVerifier::builder(bad).build(),
                Err(forge_remote::ConfigError::AppId(_))
            ),
            "{bad}"
        );
    }
    // The production and staging key sets are configuration, not reached here.
    assert!(
        InvocationVerifier::builder(APP_ID)
            .keys(forge_remote::ForgeKeys::Staging)
            .build()
            .is_ok()
    );
    assert_eq!(
        forge_remote::ForgeKeys::Staging.url(),
        "https://forge.cdn.stg.atlassian-dev.net/.well-known/jwks.json"
    );
}

/// A replay guard that remembers what it was asked to record, over an in-memory one.
#[derive(Debug)]
struct Recording {
    inner: asap_core::InMemoryReplayGuard,
    uses: std::sync::Mutex<Vec<(String, String, i64)>>,
}

impl asap_core::ReplayGuard for Recording {
    fn first_use<'a>(&'a self, use_: asap_core::TokenUse<'a>) -> asap_core::ReplayFuture<'a> {
        self.uses
            .lock()
            .expect("lock")
            .push((use_.issuer.to_owned(), use_.jti.to_owned(), use_.expires_at));
        self.inner.first_use(use_)
    }
}

#[tokio::test]
async fn with_a_replay_guard_an_invocation_token_is_single_use() {
    let forge = Forge::start().await;
    let token = forge.token(&claims());
    // Off by default: the same token twice is accepted.
    forge.verifier.verify(&token).await.expect("first");
    forge
        .verifier
        .verify(&token)
        .await
        .expect("no guard, no replay rule");

    let guard = Arc::new(Recording {
        inner: asap_core::InMemoryReplayGuard::new(100),
        uses: std::sync::Mutex::default(),
    });
    let verifier = InvocationVerifier::builder(APP_ID)
        .key_source(Arc::new(forge.jwks.clone()))
        .clock(forge.clock.clone())
        .replay_guard(guard.clone())
        .build()
        .expect("verifier");
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).expect("v"),
    );
    // A request that fails a later rule (a bad OAuth header) does not burn the jti.
    headers.insert(USER_TOKEN_HEADER, HeaderValue::from_static("two words"));
    assert!(matches!(
        verifier.verify_request(&headers).await,
        Err(ForgeError::BadOAuthToken { .. })
    ));
    headers.remove(USER_TOKEN_HEADER);
    verifier.verify_request(&headers).await.expect("first use");
    let replayed = verifier.verify_request(&headers).await.expect_err("replayed");
    assert!(matches!(replayed, ForgeError::Replayed), "{replayed}");
    assert_eq!(replayed.outcome().status(), 401);
    // The same jti in a token signed again is the same invocation.
    let mut resigned = claims();
    resigned["context"]["localId"] = json!("local-2");
    assert!(matches!(
        verifier.verify(&forge.token(&resigned)).await,
        Err(ForgeError::Replayed)
    ));
    // Still refused at the last second the token passes the time rule (exp + leeway).
    forge.clock.set(NOW + 55 + 30);
    assert!(matches!(verifier.verify(&token).await, Err(ForgeError::Replayed)));
    // Keyed by (installation, jti), kept until exp + the leeway.
    let uses = guard.uses.lock().expect("lock").clone();
    assert!(!uses.is_empty());
    for (issuer, jti, expires_at) in uses {
        assert_eq!(issuer, claims()["app"]["installationId"]);
        assert_eq!(jti, "a1b2c3d4-0000-4000-8000-000000000001");
        assert_eq!(expires_at, NOW + 55 + 30);
    }
}

/// A key source whose lookup takes `seconds` on the verifier's clock (a slow key fetch).
#[derive(Debug)]
struct Slow {
    inner: asap_keys::JwksKeySource,
    clock: Arc<asap_core::ManualClock>,
    seconds: i64,
}

impl asap_core::PublicKeySource for Slow {
    fn public_key<'a>(&'a self, kid: &'a asap_core::KeyId) -> asap_core::KeyFuture<'a> {
        use asap_core::Clock;
        Box::pin(async move {
            let key = self.inner.public_key(kid).await;
            self.clock.set(self.clock.now() + self.seconds);
            key
        })
    }
}

/// A token that expires while its key is being fetched is refused as expired, by the clock
/// read after the fetch, with or without a replay guard; with one, it never reaches the guard
/// (which would count it as seen: a replay).
#[tokio::test]
async fn a_token_that_expires_during_the_key_fetch_is_expired_not_replayed() {
    let forge = Forge::start().await;
    let guard = Arc::new(Recording {
        inner: asap_core::InMemoryReplayGuard::new(100),
        uses: std::sync::Mutex::default(),
    });
    for guarded in [false, true] {
        let slow = Slow {
            inner: forge.jwks.clone(),
            clock: forge.clock.clone(),
            seconds: 60,
        };
        let mut builder = InvocationVerifier::builder(APP_ID)
            .key_source(Arc::new(slow))
            .clock(forge.clock.clone());
        if guarded {
            builder = builder.replay_guard(guard.clone());
        }
        let verifier = builder.build().expect("verifier");
        // exp is NOW + 55 and the leeway 30 s: valid when checked at NOW + 30, expired at NOW + 90.
        forge.clock.set(NOW + 30);
        let err = verifier
            .verify(&forge.token(&claims()))
            .await
            .expect_err("expired meanwhile");
        assert!(
            matches!(err, ForgeError::Token(TokenError::Expired { now, .. }) if now == NOW + 90),
            "guarded: {guarded}: {err}"
        );
        assert_eq!(err.outcome().status(), 401);
    }
    assert!(
        guard.uses.lock().expect("lock").is_empty(),
        "nothing taken to the guard"
    );
}

/// A maximum lifetime beyond an hour is refused when the verifier is built: no replay guard
/// keeps an entry that long, so every use of such a token would have been a 503.
#[tokio::test]
async fn a_maximum_lifetime_beyond_an_hour_is_a_configuration_error() {
    let forge = Forge::start().await;
    let build = |max| {
        InvocationVerifier::builder(APP_ID)
            .key_source(Arc::new(forge.jwks.clone()))
            .max_lifetime(std::time::Duration::from_secs(max))
            .build()
    };
    assert!(build(3600).is_ok());
    assert!(build(3601).is_err());
}

#[tokio::test]
async fn a_replay_guard_that_cannot_record_is_a_503() {
    let forge = Forge::start().await;
    let verifier = InvocationVerifier::builder(APP_ID)
        .key_source(Arc::new(forge.jwks.clone()))
        .clock(forge.clock.clone())
        .replay_guard(Arc::new(asap_core::InMemoryReplayGuard::new(1)))
        .build()
        .expect("verifier");
    verifier
        .verify(&forge.token(&claims()))
        .await
        .expect("fills the guard");
    let other = with(claims(), &["jti"], json!("another-invocation"));
    let err = verifier.verify(&forge.token(&other)).await.expect_err("full");
    assert!(matches!(err, ForgeError::ReplayUnavailable(_)), "{err}");
    assert_eq!(err.outcome().status(), 503);
}

/// The in-memory guard keeps an eighth of its entries per issuer, and every invocation has the
/// same `iss`: recorded under their installation, the invocations of one installation fill its
/// own share, never the guard of every other installation.
#[tokio::test]
async fn one_installation_cannot_fill_the_in_memory_guard_for_the_others() {
    let forge = Forge::start().await;
    let verifier = InvocationVerifier::builder(APP_ID)
        .key_source(Arc::new(forge.jwks.clone()))
        .clock(forge.clock.clone())
        // 16 entries: 2 per issuer.
        .replay_guard(Arc::new(asap_core::InMemoryReplayGuard::new(16)))
        .build()
        .expect("verifier");
    let invocation = |n: usize| with(claims(), &["jti"], json!(format!("flood-{n}")));
    for n in 0..2 {
        verifier
            .verify(&forge.token(&invocation(n)))
            .await
            .expect("within the installation's share");
    }
    let err = verifier
        .verify(&forge.token(&invocation(2)))
        .await
        .expect_err("the installation's share is full");
    assert!(
        matches!(
            err,
            ForgeError::ReplayUnavailable(asap_core::ReplayError::IssuerFull { .. })
        ),
        "{err}"
    );
    let other = with(
        invocation(3),
        &["app", "installationId"],
        json!("ari:cloud:ecosystem::installation/0d9e8f7a-aaaa-4bbb-8ccc-ddddeeeeffff"),
    );
    verifier
        .verify(&forge.token(&other))
        .await
        .expect("another installation is still served");
}
