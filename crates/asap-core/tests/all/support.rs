//! Shared fixtures: keys generated in the test, a counting key source, and a token forger.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use asap_core::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

pub(crate) const NOW: i64 = 1_800_000_000;
pub(crate) const ISSUER: &str = "billing";
pub(crate) const AUDIENCE: &str = "ledger";

/// A key source that counts lookups, to prove that cheap checks run before any key fetch.
#[derive(Debug, Default)]
pub(crate) struct CountingSource {
    pub(crate) keys: StaticKeySource,
    pub(crate) lookups: AtomicUsize,
}

impl CountingSource {
    pub(crate) fn count(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }
}

impl PublicKeySource for CountingSource {
    fn public_key<'a>(&'a self, kid: &'a KeyId) -> KeyFuture<'a> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.keys.public_key(kid)
    }
}

/// One issuer's key pair, its signer, and a verifier that trusts it.
pub(crate) struct Fixture {
    pub(crate) alg: Algorithm,
    pub(crate) kid: KeyId,
    pub(crate) private: Arc<PrivateKey>,
    pub(crate) source: Arc<CountingSource>,
    pub(crate) clock: Arc<ManualClock>,
}

pub(crate) fn spec_for(alg: Algorithm) -> KeySpec {
    match alg.key_kind() {
        // 2048 keeps the tests quick; the CLI defaults to 3072.
        KeyKind::Rsa => KeySpec::Rsa(2048),
        kind => KeySpec::Curve(kind),
    }
}

impl Fixture {
    pub(crate) fn new(alg: Algorithm) -> Fixture {
        let private = PrivateKey::generate(spec_for(alg)).expect("generate");
        Fixture::with_key(alg, private)
    }

    pub(crate) fn with_key(alg: Algorithm, private: PrivateKey) -> Fixture {
        let kid = KeyId::parse(&format!("{ISSUER}/{alg}")).expect("kid");
        let mut keys = StaticKeySource::new();
        keys.insert(kid.clone(), private.public_key().expect("public"));
        Fixture {
            alg,
            kid,
            private: Arc::new(private),
            source: Arc::new(CountingSource {
                keys,
                lookups: AtomicUsize::new(0),
            }),
            clock: Arc::new(ManualClock::new(NOW)),
        }
    }

    pub(crate) fn signer(&self) -> SignerBuilder {
        let der = self.private.to_pkcs8_der().expect("der");
        let key = PrivateKey::from_pkcs8_der(&der).expect("reparse");
        Signer::builder(ISSUER)
            .key(SigningKey::new(self.kid.clone(), key, Some(self.alg)).expect("signing key"))
            .clock(self.clock.clone())
    }

    pub(crate) fn verifier(&self) -> VerifierBuilder {
        Verifier::builder_shared(self.source.clone())
            .audience(Audience::new(AUDIENCE).expect("aud"))
            .enable_eddsa(true)
            .clock(self.clock.clone())
    }

    /// Good claims at NOW for this fixture.
    pub(crate) fn claims(&self) -> Value {
        json!({"iss": ISSUER, "sub": ISSUER, "aud": AUDIENCE, "jti": "j-1", "iat": NOW, "nbf": NOW, "exp": NOW + 60})
    }

    pub(crate) fn header(&self) -> Value {
        json!({"alg": self.alg.as_str(), "kid": self.kid.as_str(), "typ": "JWT"})
    }

    /// Signs arbitrary header and claims JSON with this fixture's key.
    pub(crate) fn forge(&self, header: &Value, claims: &Value) -> String {
        self.forge_raw(&header.to_string(), &claims.to_string())
    }

    /// Signs arbitrary header and claims text (for duplicate keys and other non-canonical JSON).
    pub(crate) fn forge_raw(&self, header: &str, claims: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let sig = self.private.sign(self.alg, input.as_bytes()).expect("sign");
        format!("{input}.{}", b64(&sig))
    }
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn aud() -> Audience {
    Audience::new(AUDIENCE).expect("aud")
}

pub(crate) fn decode_claims(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("claims segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("b64")).expect("json")
}

pub(crate) fn fixture_path(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}
