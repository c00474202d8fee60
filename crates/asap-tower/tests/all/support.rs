//! Keys, signer and verifier for the tests.

use std::sync::Arc;

use asap_core::*;

pub(crate) const AUDIENCE: &str = "ledger";

/// A service's key pair with a signer, plus a verifier trusting it.
pub(crate) struct Caller {
    pub(crate) signer: Signer,
    pub(crate) key: Arc<PrivateKey>,
    pub(crate) kid: KeyId,
}

impl Caller {
    pub(crate) fn new(issuer: &str) -> Caller {
        let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
        let der = key.to_pkcs8_der().expect("der");
        let kid = KeyId::parse(&format!("{issuer}/k1")).expect("kid");
        let signing =
            SigningKey::new(kid.clone(), PrivateKey::from_pkcs8_der(&der).expect("key"), None).expect("sk");
        Caller {
            signer: Signer::builder(issuer).key(signing).build().expect("signer"),
            key: Arc::new(key),
            kid,
        }
    }

    pub(crate) fn token(&self) -> String {
        self.signer
            .sign(&Audience::new(AUDIENCE).expect("aud"))
            .expect("token")
            .to_string()
    }

    #[cfg(feature = "axum")]
    pub(crate) fn token_for(&self, request: &TokenRequest) -> String {
        self.signer.sign_request(request).expect("token").to_string()
    }
}

pub(crate) fn keys(callers: &[&Caller]) -> StaticKeySource {
    let mut keys = StaticKeySource::new();
    for c in callers {
        keys.insert(c.kid.clone(), c.key.public_key().expect("public"));
    }
    keys
}

pub(crate) fn verifier(keys: impl PublicKeySource + 'static) -> VerifierBuilder {
    Verifier::builder(keys).audience(Audience::new(AUDIENCE).expect("aud"))
}
