//! Forge Remote under attack: invocation tokens that bring their own key or confuse the
//! algorithm, floods of made-up kids, and a hostile key set server. Each fails closed with its
//! status, and the key set server is asked only as often as the rules allow.

use std::sync::Arc;
use std::time::Duration;

use asap_core::{Algorithm, Clock as _, KeyId, KeySpec, PrivateKey, SystemClock, TokenError};
use asap_keys::{JwkSet, JwksKeySource};
use asap_testkit::tls::TestCa;
use axum::http::{HeaderMap, HeaderValue};
use forge_remote::{ForgeError, InvocationVerifier};
use serde_json::{Value, json};

use super::stack::{Answer, Repo};

const APP_ID: &str = "ari:cloud:ecosystem::app/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
const PATH: &str = ".well-known/jwks.json";

/// Forge's key set, served by a repository the test controls, and a verifier reading it.
struct Target {
    ca: TestCa,
    set: Repo,
    key: PrivateKey,
    verifier: InvocationVerifier,
}

impl Target {
    async fn start() -> Target {
        let ca = TestCa::new();
        let set = Repo::start(&ca).await;
        let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
        set.set(
            PATH,
            Answer::Body("application/json", set_of(&[("forge-1", &key)])),
        );
        let jwks = JwksKeySource::builder(format!("{}{PATH}", set.url()))
            .root_certificates_pem(ca.root_pem())
            // Room for a cold TLS handshake on a loaded machine.
            .timeout(Duration::from_secs(3))
            .build()
            .expect("jwks");
        let verifier = InvocationVerifier::builder(APP_ID)
            .key_source(Arc::new(jwks))
            .build()
            .expect("verifier");
        Target {
            ca,
            set,
            key,
            verifier,
        }
    }

    async fn refused(&self, case: &str, token: &str) -> (ForgeError, u16) {
        let err = self.verifier.verify(token).await.expect_err(case);
        let status = err.outcome().status();
        (err, status)
    }
}

fn set_of(keys: &[(&str, &PrivateKey)]) -> String {
    let keys: Vec<(KeyId, asap_core::PublicKey)> = keys
        .iter()
        .map(|(kid, key)| (KeyId::parse(kid).expect("kid"), key.public_key().expect("public")))
        .collect();
    JwkSet::to_json(keys.iter().map(|(k, v)| (k, v)))
}

fn claims() -> Value {
    let now = SystemClock.now();
    json!({
        "iss": "forge/invocation-token", "aud": APP_ID,
        "iat": now, "nbf": now, "exp": now + 60, "jti": "j1",
        "app": {"id": APP_ID, "installationId": "ari:cloud:ecosystem::installation/1", "apiBaseUrl": "https://api.atlassian.com/ex/jira/1"},
    })
}

fn signed(header: &Value, key: &PrivateKey) -> String {
    asap_testkit::forge::signed(header, &claims(), |input| {
        key.sign(Algorithm::RS256, input).expect("sign")
    })
}

#[tokio::test]
async fn a_token_that_brings_its_own_key_is_refused_without_a_fetch() {
    let t = Target::start().await;
    let attacker = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let attacker_jwk: Value =
        serde_json::from_str::<Value>(&set_of(&[("forge-1", &attacker)])).expect("json")["keys"][0].clone();
    let attacker_set = Repo::start(&t.ca).await;
    for (name, value) in [
        ("jwk", attacker_jwk),
        ("jku", json!(format!("{}{PATH}", attacker_set.url()))),
        ("x5u", json!(format!("{}cert.pem", attacker_set.url()))),
        ("x5c", json!([t.ca.server_cert_pem()])),
    ] {
        let token = signed(&json!({"alg": "RS256", "kid": "forge-1", name: value}), &attacker);
        let (err, status) = t.refused(name, &token).await;
        assert!(
            matches!(err, ForgeError::Token(TokenError::ForbiddenHeader(h)) if h == name),
            "{name}: {err}"
        );
        assert_eq!(status, 401);
    }
    assert_eq!(t.set.hits(), 0, "Forge's key set is not asked");
    assert_eq!(attacker_set.hits(), 0, "the attacker's URL is never fetched");
}

#[tokio::test]
async fn hs256_keyed_with_any_form_of_the_published_key_is_refused_without_a_fetch() {
    let t = Target::start().await;
    let public = t.key.public_key().expect("public");
    let set: Value = serde_json::from_str(&set_of(&[("forge-1", &t.key)])).expect("json");
    let n = set["keys"][0]["n"].as_str().expect("n").to_owned();
    for (case, secret) in [
        ("SPKI DER", public.spki_der().to_vec()),
        ("PEM", public.to_pem().into_bytes()),
        ("JWK n", n.into_bytes()),
        ("JWK JSON", set["keys"][0].to_string().into_bytes()),
    ] {
        let token =
            asap_testkit::forge::signed(&json!({"alg": "HS256", "kid": "forge-1"}), &claims(), |input| {
                asap_testkit::forge::Hmac::Sha256.sign(&secret, input)
            });
        let (err, status) = t.refused(case, &token).await;
        assert!(
            matches!(err, ForgeError::Token(TokenError::Algorithm(_))),
            "{case}: {err}"
        );
        assert_eq!(status, 401);
    }
    assert_eq!(t.set.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_made_up_kids_costs_one_refetch() {
    let t = Arc::new(Target::start().await);
    let attacker = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let checks: Vec<_> = (0..1000)
        .map(|i| {
            let t = t.clone();
            let token = signed(&json!({"alg": "RS256", "kid": format!("made-up-{i}")}), &attacker);
            tokio::spawn(async move {
                t.verifier
                    .verify(&token)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.outcome().status())
            })
        })
        .collect();
    for check in checks {
        assert_eq!(check.await.expect("task"), Err(401));
    }
    assert!(
        t.set.hits() <= 2,
        "the first load and at most one refetch: {}",
        t.set.hits()
    );
}

/// What the hostile key set server answers, given the target and the attacker's own server.
type HostileAnswer = dyn Fn(&Target, &Repo) -> Answer;

#[tokio::test]
async fn a_hostile_key_set_server_fails_closed_with_a_503() {
    let attacker = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let cases: Vec<(&str, Box<HostileAnswer>)> = vec![
        (
            "slow",
            Box::new(|_, _| Answer::Slow(Duration::from_secs(10), String::new())),
        ),
        (
            "redirect to the attacker's set",
            Box::new(|_, other| Answer::Redirect(format!("{}{PATH}", other.url()))),
        ),
        (
            "huge",
            Box::new(|_, _| Answer::Body("application/json", "[".repeat(1 << 20))),
        ),
        (
            "html",
            Box::new(|t, _| Answer::Body("text/html", set_of(&[("forge-1", &t.key)]))),
        ),
        (
            "not a set",
            Box::new(|_, _| Answer::Body("application/json", "{\"keys\":7}".to_owned())),
        ),
        (
            "a private member",
            Box::new(|t, _| {
                let mut set: Value = serde_json::from_str(&set_of(&[("forge-1", &t.key)])).expect("json");
                set["keys"][0]["d"] = json!("AQAB");
                Answer::Body("application/json", set.to_string())
            }),
        ),
    ];
    for (case, answer) in cases {
        let t = Target::start().await;
        let other = Repo::start(&t.ca).await;
        other.set(
            PATH,
            Answer::Body("application/json", set_of(&[("forge-1", &attacker)])),
        );
        t.set.set(PATH, answer(&t, &other));
        let token = signed(&json!({"alg": "RS256", "kid": "forge-1"}), &attacker);
        let (err, status) = t.refused(case, &token).await;
        assert!(matches!(err, ForgeError::KeyUnavailable(_)), "{case}: {err}");
        assert_eq!(status, 503, "{case}");
        assert_eq!(other.hits(), 0, "{case}: a redirect is never followed");
    }
}

#[tokio::test]
async fn oauth_token_headers_that_could_smuggle_anything_refuse_the_request() {
    let t = Target::start().await;
    let token = signed(&json!({"alg": "RS256", "kid": "forge-1"}), &t.key);
    for (case, value) in [
        ("huge", "a".repeat(forge_remote::MAX_OAUTH_TOKEN_BYTES + 1)),
        ("space", "a b".to_owned()),
    ] {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).expect("v"),
        );
        headers.insert(
            forge_remote::SYSTEM_TOKEN_HEADER,
            HeaderValue::from_str(&value).expect("v"),
        );
        let err = t.verifier.verify_request(&headers).await.expect_err(case);
        assert!(matches!(err, ForgeError::BadOAuthToken { .. }), "{case}: {err}");
        assert_eq!(err.outcome().status(), 401);
    }
}
