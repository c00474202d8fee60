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

/// The whole body of `response`, as text.
pub(crate) async fn body_text<B>(response: http::Response<B>) -> String
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    use http_body_util::BodyExt as _;
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

/// The events logged while a [`LogRecorder`] is the thread's subscriber, as `(level, fields)`.
#[derive(Clone, Default)]
pub(crate) struct LogRecorder {
    events: Arc<std::sync::Mutex<Vec<(tracing::Level, String)>>>,
}

impl LogRecorder {
    /// Records this thread's events until the guard is dropped (a `#[tokio::test]` runs on one
    /// thread).
    pub(crate) fn install(&self) -> tracing::subscriber::DefaultGuard {
        asap_testkit::logs::scoped(self.clone())
    }

    pub(crate) fn events(&self) -> Vec<(tracing::Level, String)> {
        self.events.lock().expect("not poisoned").clone()
    }
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl tracing::Subscriber for LogRecorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.events
            .lock()
            .expect("not poisoned")
            .push((*event.metadata().level(), fields.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
