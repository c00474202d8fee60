//! A Forge stand-in: an HTTPS JWKS server on 127.0.0.1 that counts its requests, an RSA key
//! it publishes, and invocation tokens built to the documented layout.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use asap_core::{Algorithm, KeyId, KeySpec, ManualClock, PrivateKey};
use asap_keys::{JwkSet, JwksKeySource};
use asap_testkit::tls::TestCa;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use forge_remote::InvocationVerifier;
use serde_json::{Value, json};

pub(crate) const APP_ID: &str = "ari:cloud:ecosystem::app/5e3a1c52-7d7c-4d55-9d8b-0c1e6c2b8d11";
pub(crate) const NOW: i64 = 1_800_000_000;

#[derive(Default)]
struct Published {
    body: Mutex<String>,
    hits: AtomicUsize,
}

/// The key set server, the signing key it publishes, and a verifier using it.
pub(crate) struct Forge {
    pub(crate) key: PrivateKey,
    pub(crate) kid: String,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) verifier: Arc<InvocationVerifier>,
    pub(crate) jwks: JwksKeySource,
    published: Arc<Published>,
}

impl Forge {
    pub(crate) async fn start() -> Forge {
        let ca = TestCa::new();
        let published = Arc::new(Published::default());
        let router = Router::new()
            .route("/.well-known/jwks.json", get(serve))
            .with_state(published.clone());
        let addr = asap_testkit::http::spawn_https(router, &ca).await;
        let clock = Arc::new(ManualClock::new(NOW));
        let jwks = JwksKeySource::builder(format!("https://127.0.0.1:{}/.well-known/jwks.json", addr.port()))
            .root_certificates_pem(ca.root_pem())
            .clock(clock.clone())
            .build()
            .expect("jwks source");
        let verifier = InvocationVerifier::builder(APP_ID)
            .key_source(Arc::new(jwks.clone()))
            .clock(clock.clone())
            .build()
            .expect("verifier");
        let forge = Forge {
            key: PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa"),
            kid: "forge-key-1".to_owned(),
            clock,
            verifier: Arc::new(verifier),
            jwks,
            published,
        };
        forge.publish(&[(&forge.kid, &forge.key)]);
        forge
    }

    pub(crate) fn publish(&self, keys: &[(&str, &PrivateKey)]) {
        let keys: Vec<(KeyId, asap_core::PublicKey)> = keys
            .iter()
            .map(|(kid, key)| (KeyId::parse(kid).expect("kid"), key.public_key().expect("public")))
            .collect();
        *self.published.body.lock().expect("lock") = JwkSet::to_json(keys.iter().map(|(k, v)| (k, v)));
    }

    pub(crate) fn publish_raw(&self, body: String) {
        *self.published.body.lock().expect("lock") = body;
    }

    pub(crate) fn fetches(&self) -> usize {
        self.published.hits.load(Ordering::SeqCst)
    }

    /// An RS256 token with this kid and key.
    pub(crate) fn token(&self, claims: &Value) -> String {
        sign(
            &json!({"alg": "RS256", "kid": self.kid, "typ": "JWT"}),
            claims,
            &self.key,
        )
    }
}

async fn serve(State(published): State<Arc<Published>>) -> ([(&'static str, &'static str); 2], String) {
    published.hits.fetch_add(1, Ordering::SeqCst);
    let body = published.body.lock().expect("lock").clone();
    (
        [
            ("content-type", "application/json"),
            ("cache-control", "max-age=300"),
        ],
        body,
    )
}

pub(crate) fn sign(header: &Value, claims: &Value, key: &PrivateKey) -> String {
    let alg: Algorithm = header["alg"]
        .as_str()
        .unwrap_or("RS256")
        .parse()
        .unwrap_or(Algorithm::RS256);
    asap_testkit::forge::signed(header, claims, |input| key.sign(alg, input).expect("sign"))
}

/// The claims of an invocation token, in the layout Forge documents.
pub(crate) fn claims() -> Value {
    json!({
        "iss": "forge/invocation-token",
        "aud": APP_ID,
        "iat": NOW - 5,
        "nbf": NOW - 5,
        "exp": NOW + 55,
        "jti": "a1b2c3d4-0000-4000-8000-000000000001",
        "app": {
            "id": APP_ID,
            "installationId": "ari:cloud:ecosystem::installation/8f1d2c9a-1111-4222-8333-444455556666",
            "apiBaseUrl": "https://api.atlassian.com/ex/jira/4a7c1f0e-aaaa-4bbb-8ccc-dddddddddddd",
            "appVersion": "2.14.0",
            "environment": {"type": "PRODUCTION", "id": "ari:cloud:ecosystem::environment/5e3a1c52/prod"},
            "module": {"type": "xen:macro", "key": "remote-macro"},
            "license": {"isActive": true, "billingPeriod": "MONTHLY", "isEvaluation": false},
            "installation": {
                "id": "ari:cloud:ecosystem::installation/8f1d2c9a-1111-4222-8333-444455556666",
                "contexts": [{"name": "ari:cloud:jira::site/4a7c1f0e", "cloudId": "4a7c1f0e-aaaa-4bbb-8ccc-dddddddddddd"}]
            }
        },
        "context": {
            "cloudId": "4a7c1f0e-aaaa-4bbb-8ccc-dddddddddddd",
            "siteUrl": "https://acme.atlassian.net",
            "moduleKey": "remote-macro",
            "localId": "local-1",
            "extension": {"type": "macro", "content": {"id": "123"}}
        },
        "principal": "5b10a2844c20165700ede21g"
    })
}
