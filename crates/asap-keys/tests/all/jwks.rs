//! JWK sets: strict parsing (every refusal typed), and `JwksKeySource` against a real HTTPS
//! server on 127.0.0.1 that counts its requests: rotation, the unknown-kid cooldown under load,
//! the maximum age, stale-if-error, and the download rules it shares with the key repository.

use std::sync::Arc;
use std::time::Duration;

use asap_core::{
    KeyId, KeyKind, KeySourceError, KeySpec, ManualClock, PrivateKey, PublicKey, PublicKeySource,
};
use asap_keys::{FetchError, JwkError, JwkSet, JwksKeySource, JwksKeySourceBuilder, JwksPolicy};
use asap_testkit::tls::TestCa;
use serde_json::{Value, json};

use futures_util::FutureExt as _;

use crate::support::{Hold, KeyServer, Reply, fetch_error, kid, p256};

const PATH: &str = ".well-known/jwks.json";
const NOW: i64 = 1_800_000_000;

fn public(spec: KeySpec) -> PublicKey {
    PrivateKey::generate(spec)
        .and_then(|k| k.public_key())
        .expect("key")
}

fn set_json(keys: &[(&KeyId, &PublicKey)]) -> String {
    JwkSet::to_json(keys.iter().copied())
}

/// One valid JWK of each type, as JSON to edit.
fn jwk(spec: KeySpec, kid: &str) -> Value {
    let key = public(spec);
    let text = set_json(&[(&KeyId::parse(kid).expect("kid"), &key)]);
    serde_json::from_str::<Value>(&text).expect("json")["keys"][0].clone()
}

fn parse(keys: &[Value]) -> Result<JwkSet, JwkError> {
    JwkSet::parse(json!({ "keys": keys }).to_string().as_bytes())
}

#[test]
fn every_key_type_round_trips_through_the_writer_and_the_parser() {
    let specs = [
        KeySpec::Rsa(2048),
        KeySpec::Curve(KeyKind::P256),
        KeySpec::Curve(KeyKind::P384),
        KeySpec::Curve(KeyKind::P521),
        KeySpec::Curve(KeyKind::Ed25519),
    ];
    let keys: Vec<(KeyId, PublicKey)> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| (kid(&format!("k{i}")), public(*spec)))
        .collect();
    let set = JwkSet::parse(JwkSet::to_json(keys.iter().map(|(k, v)| (k, v))).as_bytes()).expect("parses");
    assert_eq!(set.len(), keys.len());
    for (kid, key) in &keys {
        assert_eq!(&**set.get(kid).expect("present").key(), key, "{kid}");
    }
}

#[test]
fn an_alg_that_fits_the_key_is_kept() {
    let mut key = jwk(KeySpec::Curve(KeyKind::P256), "k");
    key["alg"] = json!("ES256");
    let set = parse(&[key]).expect("fits");
    assert_eq!(
        set.get(&kid("k")).and_then(|j| j.algorithm()),
        Some(asap_core::Algorithm::ES256)
    );
}

#[test]
fn unknown_types_and_curves_are_refused() {
    let mut oct = jwk(KeySpec::Curve(KeyKind::P256), "k");
    oct["kty"] = json!("oct");
    assert!(matches!(parse(&[oct]), Err(JwkError::UnknownKeyType { kty, .. }) if kty == "oct"));
    let mut secp = jwk(KeySpec::Curve(KeyKind::P256), "k");
    secp["crv"] = json!("secp256k1");
    assert!(matches!(parse(&[secp]), Err(JwkError::UnknownCurve { crv, .. }) if crv == "secp256k1"));
    let mut x25519 = jwk(KeySpec::Curve(KeyKind::Ed25519), "k");
    x25519["crv"] = json!("X25519");
    assert!(matches!(parse(&[x25519]), Err(JwkError::UnknownCurve { .. })));
}

#[test]
fn keys_not_published_for_signatures_are_refused() {
    let mut enc = jwk(KeySpec::Rsa(2048), "k");
    enc["use"] = json!("enc");
    assert!(matches!(
        parse(&[enc]),
        Err(JwkError::NotForSignatures { member: "use", .. })
    ));
    for ops in [
        json!(["sign"]),
        json!(["verify", "encrypt"]),
        json!([]),
        json!("verify"),
    ] {
        let mut key = jwk(KeySpec::Rsa(2048), "k");
        key["key_ops"] = ops.clone();
        assert!(
            matches!(
                parse(&[key]),
                Err(JwkError::NotForSignatures {
                    member: "key_ops",
                    ..
                })
            ),
            "{ops}"
        );
    }
    let mut verify = jwk(KeySpec::Rsa(2048), "k");
    verify["key_ops"] = json!(["verify"]);
    assert!(parse(&[verify]).is_ok());
}

#[test]
fn an_alg_that_does_not_fit_the_key_is_refused() {
    for (spec, alg) in [
        (KeySpec::Rsa(2048), "ES256"),
        (KeySpec::Rsa(2048), "HS256"),
        (KeySpec::Rsa(2048), "none"),
        (KeySpec::Curve(KeyKind::P384), "ES256"),
        (KeySpec::Curve(KeyKind::Ed25519), "ES256"),
        (KeySpec::Curve(KeyKind::P256), "RS256"),
    ] {
        let mut key = jwk(spec, "k");
        key["alg"] = json!(alg);
        assert!(
            matches!(parse(&[key]), Err(JwkError::AlgorithmMismatch { alg: found, .. }) if found == alg),
            "{alg}"
        );
    }
}

#[test]
fn private_members_refuse_the_whole_set() {
    for member in asap_keys::PRIVATE_JWK_MEMBERS {
        let good = jwk(KeySpec::Curve(KeyKind::P256), "good");
        let mut leaked = jwk(KeySpec::Curve(KeyKind::P256), "leaked");
        leaked[member] = json!("AQAB");
        assert!(
            matches!(parse(&[good, leaked]), Err(JwkError::PrivateMember { index: 1, member: m }) if m == member),
            "{member}"
        );
    }
}

#[test]
fn duplicate_kids_and_duplicate_members_are_refused() {
    let a = jwk(KeySpec::Curve(KeyKind::P256), "same");
    let b = jwk(KeySpec::Curve(KeyKind::P256), "same");
    assert!(matches!(parse(&[a, b]), Err(JwkError::DuplicateKid(k)) if k.as_str() == "same"));
    let key = jwk(KeySpec::Curve(KeyKind::P256), "k").to_string();
    let repeated = key.replacen("\"kid\":\"k\"", "\"kid\":\"k\",\"kid\":\"other\"", 1);
    assert_ne!(repeated, key);
    let document = format!("{{\"keys\":[{repeated}]}}");
    assert!(matches!(
        JwkSet::parse(document.as_bytes()),
        Err(JwkError::DuplicateMember(m)) if m == "kid"
    ));
}

#[test]
fn weak_rsa_is_refused_as_everywhere() {
    let mut key = jwk(KeySpec::Rsa(2048), "k");
    // A 1024-bit modulus.
    key["n"] = json!(asap_testkit::forge::b64(&[0xc3; 128]));
    assert!(matches!(
        parse(&[key]),
        Err(JwkError::Key {
            source: asap_core::KeyError::RsaTooSmall { bits: 1024 },
            ..
        })
    ));
}

#[test]
fn malformed_members_kids_and_documents_are_refused() {
    let mut short = jwk(KeySpec::Curve(KeyKind::P256), "k");
    short["x"] = json!(asap_testkit::forge::b64(&[1; 31]));
    assert!(matches!(
        parse(&[short]),
        Err(JwkError::Member { member: "x", .. })
    ));
    let mut padded = jwk(KeySpec::Rsa(2048), "k");
    padded["e"] = json!("AQAB==");
    assert!(matches!(
        parse(&[padded]),
        Err(JwkError::Member { member: "e", .. })
    ));
    let mut no_kid = jwk(KeySpec::Rsa(2048), "k");
    no_kid.as_object_mut().expect("object").remove("kid");
    assert!(matches!(
        parse(&[no_kid]),
        Err(JwkError::Member { member: "kid", .. })
    ));
    let mut bad_kid = jwk(KeySpec::Rsa(2048), "k");
    bad_kid["kid"] = json!("../etc");
    assert!(matches!(parse(&[bad_kid]), Err(JwkError::Kid { .. })));
    let mut off_curve = jwk(KeySpec::Curve(KeyKind::P256), "k");
    off_curve["y"] = json!(asap_testkit::forge::b64(&[7; 32]));
    assert!(matches!(parse(&[off_curve]), Err(JwkError::Key { .. })));
    for document in ["[]", "{}", r#"{"keys":{}}"#, r#"{"keys":[1]}"#, "not json"] {
        assert!(
            matches!(JwkSet::parse(document.as_bytes()), Err(JwkError::NotASet(_))),
            "{document}"
        );
    }
    let many: Vec<Value> = (0..=asap_keys::MAX_JWKS_KEYS)
        .map(|i| jwk(KeySpec::Curve(KeyKind::Ed25519), &format!("k{i}")))
        .collect();
    assert!(matches!(
        parse(&many),
        Err(JwkError::TooManyKeys { count: 101, max: 100 })
    ));
}

/// A key set server, a clock and a source builder trusting the test CA.
struct Fixture {
    server: KeyServer,
    clock: Arc<ManualClock>,
    ca: TestCa,
}

impl Fixture {
    async fn new() -> Fixture {
        let ca = TestCa::new();
        Fixture {
            server: KeyServer::start(&ca).await,
            clock: Arc::new(ManualClock::new(NOW)),
            ca,
        }
    }

    fn url(&self) -> String {
        format!("{}{PATH}", self.server.url())
    }

    fn publish(&self, keys: &[(&KeyId, &PublicKey)], cache_control: Option<&str>) {
        let mut reply = Reply::pem(set_json(keys)).content_type("application/jwk-set+json");
        if let Some(cc) = cache_control {
            reply = reply.cache_control(cc);
        }
        self.server.publish(PATH, reply);
    }

    fn builder(&self) -> JwksKeySourceBuilder {
        JwksKeySource::builder(self.url())
            .root_certificates_pem(self.ca.root_pem())
            .clock(self.clock.clone())
    }

    fn source(&self) -> JwksKeySource {
        self.builder().build().expect("source")
    }
}

#[tokio::test]
async fn a_key_is_found_in_the_set_and_fetched_once() {
    let f = Fixture::new().await;
    let (k1, key) = (kid("k1"), public(KeySpec::Rsa(2048)));
    f.publish(&[(&k1, &key)], None);
    let source = f.source();
    for _ in 0..10 {
        assert_eq!(*source.public_key(&k1).await.expect("found"), key);
    }
    assert_eq!(f.server.hits(), 1);
    assert_eq!(f.server.accept_headers(), ["application/jwk-set+json"]);
}

#[tokio::test]
async fn a_set_that_may_not_be_cached_still_answers_the_lookups_that_fetched_it() {
    for cache_control in ["no-store", "max-age=0, must-revalidate", "no-cache"] {
        let f = Fixture::new().await;
        let (k1, key) = (kid("k1"), public(KeySpec::Curve(KeyKind::P256)));
        f.publish(&[(&k1, &key)], Some(cache_control));
        let source = f.source();
        // Before the fix, the lookup that waited for the fetch found nothing usable and
        // answered "not found" (401) for a key the server had just sent.
        assert_eq!(
            *source.public_key(&k1).await.expect(cache_control),
            key,
            "{cache_control}"
        );
        assert_eq!(f.server.hits(), 1, "{cache_control}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_whose_runtime_is_dropped_fails_its_waiters_with_503_and_is_fetched_again() {
    let f = Fixture::new().await;
    let (k1, key) = (kid("k1"), public(KeySpec::Curve(KeyKind::P256)));
    let set = Reply::pem(set_json(&[(&k1, &key)])).content_type("application/jwk-set+json");
    let hold = Hold::new();
    f.server.publish(PATH, set.clone().hold(&hold));
    let source = f.source();

    // The fetch starts on a runtime of its own, dropped while the server holds the request.
    let (drop_runtime, told) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn({
        let (source, k1) = (source.clone(), k1.clone());
        move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            let _lookup = runtime.spawn(async move { source.public_key(&k1).await.map(|_| ()) });
            told.recv().expect("told");
            drop(runtime);
        }
    });
    hold.arrival().await;
    // A lookup here joins that fetch.
    let mut waiter = source.public_key(&k1);
    assert!(
        (&mut waiter).now_or_never().is_none(),
        "waits for the fetch in flight"
    );
    drop_runtime.send(()).expect("send");
    tokio::task::spawn_blocking(move || other.join())
        .await
        .expect("join")
        .expect("thread");

    // The waiter hears a retryable failure, not "not found" (401) for a key never fetched.
    let err = waiter.await.expect_err("the fetch was abandoned");
    assert!(matches!(err, KeySourceError::Unavailable(_)), "{err:?}");
    // And the set fetches again (before the fix, every later lookup joined the dead fetch).
    f.server.publish(PATH, set);
    assert_eq!(*source.public_key(&k1).await.expect("fetched again"), key);
    assert_eq!(f.server.hits(), 2);
    hold.release();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotation_costs_one_refetch_and_the_cooldown_holds_under_a_thousand_unknown_kids() {
    let f = Fixture::new().await;
    let (k1, old) = (kid("k1"), public(KeySpec::Curve(KeyKind::P256)));
    f.publish(&[(&k1, &old)], Some("max-age=3600"));
    let source = f.source();
    source.public_key(&k1).await.expect("k1");
    assert_eq!(f.server.hits(), 1);

    // The issuer rotates: a new kid appears; a thousand tokens name it at once.
    let (k2, new) = (kid("k2"), public(KeySpec::Curve(KeyKind::P256)));
    f.publish(&[(&k1, &old), (&k2, &new)], Some("max-age=3600"));
    let lookups = (0..1000).map(|_| {
        let source = source.clone();
        let k2 = k2.clone();
        tokio::spawn(async move { source.public_key(&k2).await.map(|k| (*k).clone()) })
    });
    for lookup in futures_util::future::join_all(lookups).await {
        let found = lookup.expect("task").expect("the new key, after one refetch");
        assert_eq!(found, new);
    }
    assert_eq!(f.server.hits(), 2, "one refetch for a thousand tokens");

    // A thousand made-up kids within the cooldown: not one more request.
    let lookups = (0..1000).map(|i| {
        let source = source.clone();
        tokio::spawn(async move { source.public_key(&kid(&format!("made-up-{i}"))).await })
    });
    for lookup in futures_util::future::join_all(lookups).await {
        assert!(matches!(lookup.expect("task"), Err(KeySourceError::NotFound(_))));
    }
    assert_eq!(f.server.hits(), 2, "the cooldown holds");

    // After the cooldown, an unknown kid may cause one refetch again.
    f.clock.advance(31);
    for i in 0..100 {
        assert!(source.public_key(&kid(&format!("later-{i}"))).await.is_err());
    }
    assert_eq!(f.server.hits(), 3);
}

#[tokio::test]
async fn the_unknown_kid_cooldown_holds_while_the_set_is_stale() {
    // A server that allows no caching: the held set is stale at every lookup.
    let f = Fixture::new().await;
    let (k1, key) = (kid("k1"), public(KeySpec::Curve(KeyKind::P256)));
    f.publish(&[(&k1, &key)], Some("max-age=0"));
    let source = f.source();
    source.public_key(&k1).await.expect("k1");
    assert_eq!(f.server.hits(), 1);
    for i in 0..100 {
        let unknown = source.public_key(&kid(&format!("made-up-{i}"))).await;
        assert!(matches!(unknown, Err(KeySourceError::NotFound(_))), "{unknown:?}");
    }
    // Before the fix, one fetch per made-up kid (101 in all).
    assert_eq!(f.server.hits(), 2, "one refetch, then the cooldown");
    f.clock.advance(29);
    assert!(source.public_key(&kid("made-up-late")).await.is_err());
    assert_eq!(f.server.hits(), 2);
    f.clock.advance(1);
    assert!(source.public_key(&kid("made-up-after")).await.is_err());
    assert_eq!(f.server.hits(), 3, "one more after the cooldown");

    // A server that is down while the set is served within stale-if-error: made-up kids over
    // a minute cost one fetch per cooldown, not one per error_ttl (5 s) or per token.
    let f = Fixture::new().await;
    f.publish(&[(&k1, &key)], Some("max-age=60, stale-if-error=3600"));
    let source = f.source();
    source.public_key(&k1).await.expect("k1");
    f.server.answer_everything_with(Some(Reply::status(503)));
    f.clock.advance(61);
    for second in 0..60 {
        f.clock.advance(1);
        for i in 0..10 {
            let unknown = source.public_key(&kid(&format!("made-up-{second}-{i}"))).await;
            assert!(matches!(unknown, Err(KeySourceError::NotFound(_))), "{unknown:?}");
        }
    }
    assert_eq!(f.server.hits(), 1 + 2, "one refetch per 30 s cooldown in 60 s");
    assert_eq!(*source.public_key(&k1).await.expect("stale-if-error"), key);
}

/// A JWK of `key` under `kid`, as JSON to edit.
fn jwk_of(kid: &KeyId, key: &PublicKey) -> Value {
    serde_json::from_str::<Value>(&set_json(&[(kid, key)])).expect("json")["keys"][0].clone()
}

#[tokio::test]
async fn a_jwk_that_names_its_alg_verifies_tokens_of_that_algorithm_only() {
    use asap_core::{Algorithm, Signer, SigningKey, TokenError, VerifyError};

    let f = Fixture::new().await;
    let private = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let public = private.public_key().expect("public");
    let (pinned, open) = (kid("billing/pinned"), kid("billing/open"));
    let mut pinned_jwk = jwk_of(&pinned, &public);
    pinned_jwk["alg"] = json!("RS256");
    f.server.publish(
        PATH,
        Reply::pem(json!({ "keys": [pinned_jwk, jwk_of(&open, &public)] }).to_string())
            .content_type("application/json"),
    );
    let verifier = crate::support::verifier(f.source(), &["billing"]);
    let der = private.to_pkcs8_der().expect("der");
    let token = |kid: &KeyId, alg| {
        let key = PrivateKey::from_pkcs8_der(&der).expect("key");
        let signer = Signer::builder("billing")
            .key(SigningKey::new(kid.clone(), key, Some(alg)).expect("signing key"))
            .build()
            .expect("signer");
        signer.sign(&crate::support::aud()).expect("sign")
    };

    verifier
        .verify(token(&pinned, Algorithm::RS256).as_str())
        .await
        .expect("the JWK's own alg");
    for alg in [Algorithm::PS256, Algorithm::RS512] {
        let refused = verifier.verify(token(&pinned, alg).as_str()).await;
        assert!(
            matches!(
                refused,
                Err(VerifyError::Token(TokenError::KeyAlgorithmMismatch { alg: a, key: KeyKind::Rsa })) if a == alg
            ),
            "{alg}: {refused:?}"
        );
    }
    // A JWK without alg verifies every RSA algorithm, as before.
    for alg in [Algorithm::RS256, Algorithm::PS256, Algorithm::RS512] {
        verifier
            .verify(token(&open, alg).as_str())
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
    }
    assert_eq!(f.server.hits(), 1);
}

#[tokio::test]
async fn a_removed_kid_stops_verifying_at_the_latest_after_the_max_age() {
    let f = Fixture::new().await;
    let (k1, key) = (kid("k1"), public(KeySpec::Curve(KeyKind::P256)));
    let (k2, next) = (kid("k2"), public(KeySpec::Curve(KeyKind::P256)));
    // The server asks for a day; the policy trusts a set for an hour.
    f.publish(
        &[(&k1, &key), (&k2, &next)],
        Some("max-age=86400, stale-if-error=86400"),
    );
    let mut policy = JwksPolicy::default();
    policy.max_age = Duration::from_secs(3600);
    let source = f.builder().policy(policy).build().expect("source");
    source.public_key(&k1).await.expect("k1");

    // k1 is withdrawn; the cached set still holds it until it is older than the max age.
    f.publish(&[(&k2, &next)], Some("max-age=86400"));
    f.clock.advance(3599);
    source.public_key(&k1).await.expect("still in the fresh set");
    assert_eq!(f.server.hits(), 1);
    f.clock.advance(1);
    assert!(matches!(
        source.public_key(&k1).await,
        Err(KeySourceError::NotFound(_))
    ));
    assert_eq!(f.server.hits(), 2);
    source.public_key(&k2).await.expect("k2 stays");

    // A set that cannot be refreshed stops being trusted at the max age, stale-if-error or not.
    f.server.answer_everything_with(Some(Reply::status(503)));
    f.clock.advance(3599);
    source.public_key(&k2).await.expect("fresh");
    f.clock.advance(1);
    let err = source.public_key(&k2).await.expect_err("no longer trusted");
    assert!(
        matches!(fetch_error(&err), FetchError::Status { status: 503, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_stale_set_answers_while_the_server_fails_within_stale_if_error() {
    let f = Fixture::new().await;
    let (k1, key) = (kid("k1"), public(KeySpec::Curve(KeyKind::P256)));
    f.publish(
        &[(&k1, &key)],
        Some("max-age=60, stale-while-revalidate=0, stale-if-error=600"),
    );
    let source = f.source();
    source.public_key(&k1).await.expect("k1");
    f.server.answer_everything_with(Some(Reply::status(500)));
    f.clock.advance(61);
    source.public_key(&k1).await.expect("stale-if-error");
    // The failure is remembered for error_ttl: no request per lookup.
    let hits = f.server.hits();
    for _ in 0..20 {
        source.public_key(&k1).await.expect("stale-if-error");
    }
    assert_eq!(f.server.hits(), hits);
    f.clock.advance(600);
    let err = source.public_key(&k1).await.expect_err("past stale-if-error");
    assert!(matches!(
        fetch_error(&err),
        FetchError::Status { status: 500, .. }
    ));
}

#[tokio::test]
async fn an_unacceptable_set_is_the_servers_failure_and_the_previous_set_keeps_answering() {
    let f = Fixture::new().await;
    let (k1, key) = (kid("k1"), public(KeySpec::Curve(KeyKind::P256)));
    f.publish(&[(&k1, &key)], Some("max-age=60, stale-if-error=600"));
    let source = f.source();
    source.public_key(&k1).await.expect("k1");

    let mut leaked = jwk(KeySpec::Curve(KeyKind::P256), "k1");
    leaked["d"] = json!("AQAB");
    f.server.publish(
        PATH,
        Reply::pem(json!({ "keys": [leaked] }).to_string()).content_type("application/json"),
    );
    f.clock.advance(61);
    assert_eq!(*source.public_key(&k1).await.expect("previous set"), key);

    let fresh = Fixture::new().await;
    fresh.server.publish(
        PATH,
        Reply::pem(json!({ "keys": [leaked] }).to_string()).content_type("application/json"),
    );
    let err = fresh.source().public_key(&k1).await.expect_err("no set");
    assert!(matches!(
        fetch_error(&err),
        FetchError::InvalidKeySet {
            source: JwkError::PrivateMember { member: "d", .. },
            ..
        }
    ));
}

#[tokio::test]
async fn the_download_rules_of_the_key_repository_apply() {
    let f = Fixture::new().await;
    let k1 = kid("k1");
    let cases = [
        (Reply::status(302), "redirect"),
        (Reply::pem("{}").content_type("text/html"), "content type"),
        (
            Reply::pem("x".repeat(asap_keys::MAX_KEY_BODY_BYTES + 1)).content_type("application/json"),
            "too large",
        ),
        (Reply::status(404), "missing set"),
    ];
    for (reply, case) in cases {
        f.server.publish(PATH, reply);
        let err = f.source().public_key(&k1).await.expect_err(case);
        let matched = match fetch_error(&err) {
            FetchError::Redirect { .. } => case == "redirect",
            FetchError::ContentType { expected, .. } => {
                case == "content type" && *expected == asap_keys::JWKS_CONTENT_TYPE
            }
            FetchError::TooLarge { .. } => case == "too large",
            FetchError::Status { status: 404, .. } => case == "missing set",
            _ => false,
        };
        assert!(matched, "{case}: {err}");
    }
    let plain = format!("http://127.0.0.1:{}/{PATH}", f.server.addr.port());
    assert!(matches!(
        JwksKeySource::builder(&plain).build(),
        Err(asap_keys::ConfigError::InsecureUrl(_))
    ));
    assert!(
        JwksKeySource::builder("https://keys.example/jwks.json#x")
            .build()
            .is_err()
    );
    let mut policy = JwksPolicy::default();
    policy.max_age = Duration::ZERO;
    assert!(f.builder().policy(policy).build().is_err());
}

#[tokio::test]
async fn for_url_makes_an_independent_source_with_the_same_settings() {
    let f = Fixture::new().await;
    let (k1, key) = (kid("k1"), public(KeySpec::Curve(KeyKind::P256)));
    f.publish(&[(&k1, &key)], None);
    let (k2, other) = (kid("k2"), public(KeySpec::Curve(KeyKind::P256)));
    f.server.publish(
        "users/ann/jwks.json",
        Reply::pem(set_json(&[(&k2, &other)])).content_type("application/json"),
    );
    let source = f.source();
    // The same client: it trusts the test CA without being told again.
    let ann = source
        .for_url(&format!("{}users/ann/jwks.json", f.server.url()))
        .expect("url");
    assert_eq!(*ann.public_key(&k2).await.expect("ann's key"), other);
    assert!(ann.public_key(&k1).await.is_err(), "not ann's key");
    assert_eq!(*source.public_key(&k1).await.expect("k1"), key);
    assert!(ann.key_set().is_some_and(|set| set.len() == 1));
    assert!(source.for_url("http://keys.example/jwks.json").is_err());
}

#[tokio::test]
async fn a_jwks_source_verifies_asap_tokens() {
    let f = Fixture::new().await;
    let (kid, private) = (kid("billing/k1"), p256());
    f.publish(&[(&kid, &private.public_key().expect("public"))], None);
    let verified = crate::support::sign_and_verify(f.source(), "billing", kid, private)
        .await
        .expect("verified");
    assert_eq!(verified.issuer(), "billing");
}

/// The key server publishes its directory as a key set that this client reads back.
#[cfg(feature = "server")]
#[tokio::test]
async fn the_key_server_publishes_its_directory_as_a_jwk_set() {
    use asap_keys::server::{JWKS_PATH, KeyServer, KeyServerConfig};

    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("svc");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let (rsa, ec) = (public(KeySpec::Rsa(2048)), public(KeySpec::Curve(KeyKind::P384)));
    std::fs::write(dir.join("rsa.pem"), rsa.to_pem()).expect("write");
    std::fs::write(dir.join("ec.pem"), ec.to_pem()).expect("write");
    std::fs::write(dir.join("private.pem"), p256().to_pkcs8_pem().expect("pem")).expect("write");
    std::fs::write(dir.join("notes.txt"), "not a key").expect("write");

    let config = KeyServerConfig::new(root.path()).publish_jwks(true);
    let server = KeyServer::bind("127.0.0.1:0".parse().expect("addr"), config)
        .await
        .expect("bind");
    let url = format!("{}{}", server.url(), JWKS_PATH.trim_start_matches('/'));
    tokio::spawn(server.serve(std::future::pending()));

    let response = reqwest::get(&url).await.expect("get");
    assert_eq!(response.headers()["content-type"], asap_keys::JWKS_CONTENT_TYPE);
    assert_eq!(response.headers()["cache-control"], "max-age=300");
    let set = JwkSet::parse(&response.bytes().await.expect("body")).expect("a valid set");
    let mut kids: Vec<&str> = set.kids().map(KeyId::as_str).collect();
    kids.sort_unstable();
    assert_eq!(
        kids,
        ["svc/ec.pem", "svc/rsa.pem"],
        "private keys and non-keys are left out"
    );

    let source = JwksKeySource::builder(&url)
        .allow_insecure_loopback(true)
        .build()
        .expect("source");
    assert_eq!(*source.public_key(&kid("svc/rsa.pem")).await.expect("rsa"), rsa);
    assert_eq!(*source.public_key(&kid("svc/ec.pem")).await.expect("ec"), ec);

    // Without the switch the path is an ordinary (missing) kid.
    let plain = KeyServer::bind(
        "127.0.0.1:0".parse().expect("addr"),
        KeyServerConfig::new(root.path()),
    )
    .await
    .expect("bind");
    let plain_url = format!("{}{}", plain.url(), JWKS_PATH.trim_start_matches('/'));
    tokio::spawn(plain.serve(std::future::pending()));
    assert_eq!(reqwest::get(&plain_url).await.expect("get").status(), 404);
}
