//! The quickstart as a library, so that `cargo run --example quickstart` prints exactly what the
//! end-to-end tests assert.
//!
//! [`Quickstart::start`] makes everything a fleet has, on loopback: a key pair per service in a
//! temporary directory, the public key repository served over HTTP ([`asap_keys::server`], what
//! `asap serve-keys` runs), an axum service behind [`asap_tower::AsapLayer`] (audience `ledger`,
//! issuers `billing` only, replay protection on), and clients using
//! [`asap_reqwest::AsapMiddleware`]. [`Quickstart::scenarios`] then makes one call per case and
//! reports what came back.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use asap_core::{
    Audience, Clock, InMemoryReplayGuard, KeyId, KeyKind, KeySpec, ManualClock, PrivateKey, Signer,
    SigningKey, SystemClock, Verifier,
};
use asap_keys::HttpKeyRepository;
use asap_keys::server::{KeyServer, KeyServerConfig};
use asap_reqwest::{AsapAudience, AsapMiddleware};
use asap_tower::{AsapLayer, Authenticated};
use axum::Router;
use axum::routing::get;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};

/// Anything that can go wrong setting the demo up.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The audience of the demo service.
pub const AUDIENCE: &str = "ledger";

/// What one call got back.
#[derive(Debug, Clone)]
pub struct Observed {
    /// What the call tried.
    pub case: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// The `WWW-Authenticate` header, if any.
    pub www_authenticate: Option<String>,
    /// The response body.
    pub body: String,
}

impl std::fmt::Display for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let summary = serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["error_description"].as_str().map(str::to_owned))
            .unwrap_or_else(|| self.body.trim().to_owned());
        write!(f, "{:<40} → {} {summary}", self.case, self.status)?;
        if let Some(challenge) = &self.www_authenticate {
            write!(f, "  [WWW-Authenticate: {challenge}]")?;
        }
        Ok(())
    }
}

/// A service's identity: its private key (on disk, as a file repository holds it) and signer.
struct Service {
    signer: Signer,
    kid: KeyId,
}

fn create_service(dir: &Path, issuer: &str) -> Result<Service, Error> {
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?;
    let kid = KeyId::parse(&format!("{issuer}/2026-11-22.pem"))?;
    let public_file = dir.join("public").join(kid.as_str());
    std::fs::create_dir_all(public_file.parent().ok_or("no parent")?)?;
    std::fs::write(&public_file, key.public_key()?.to_pem())?;
    let signer = Signer::builder(issuer)
        .key(SigningKey::new(kid.clone(), key, None)?)
        .build()?;
    Ok(Service { signer, kid })
}

/// The running demo.
pub struct Quickstart {
    billing: Service,
    payroll: Service,
    service_url: String,
    key_repository_url: String,
    client: reqwest::Client,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Quickstart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quickstart")
            .field("service_url", &self.service_url)
            .field("key_repository_url", &self.key_repository_url)
            .finish_non_exhaustive()
    }
}

impl Quickstart {
    /// Generates keys, starts the key repository and the service.
    pub async fn start() -> Result<Quickstart, Error> {
        let dir = tempfile::tempdir()?;
        let billing = create_service(dir.path(), "billing")?;
        let payroll = create_service(dir.path(), "payroll")?;

        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let key_server = KeyServer::bind(loopback, KeyServerConfig::new(dir.path().join("public"))).await?;
        let key_repository_url = key_server.url();
        tokio::spawn(key_server.serve(std::future::pending()));

        // Plain HTTP is accepted for loopback only, and only when asked: real fleets use HTTPS.
        let keys = HttpKeyRepository::builder(&key_repository_url)
            .allow_insecure_loopback(true)
            .build()?;
        let verifier = Verifier::builder(keys)
            .audience(Audience::new(AUDIENCE)?)
            .allowed_issuers(["billing"])
            .replay_guard(Arc::new(InMemoryReplayGuard::new(100_000)))
            .build()?;
        let app = Router::new()
            .route(
                "/balance",
                get(|Authenticated(caller): Authenticated| async move {
                    format!("balance for {}: 42.00", caller.subject())
                }),
            )
            .layer(AsapLayer::new(verifier));
        let listener = tokio::net::TcpListener::bind(loopback).await?;
        let service_url = format!("http://{}/balance", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });

        Ok(Quickstart {
            billing,
            payroll,
            service_url,
            key_repository_url,
            client: reqwest::Client::new(),
            dir,
        })
    }

    /// Where the public keys are served.
    pub fn key_repository_url(&self) -> &str {
        &self.key_repository_url
    }

    /// The protected endpoint.
    pub fn service_url(&self) -> &str {
        &self.service_url
    }

    /// A client that signs each call as `service`; a fresh token per call, since this service
    /// allows one use per token.
    fn client_for(&self, signer: &Signer) -> Result<ClientWithMiddleware, Error> {
        let middleware = AsapMiddleware::new(signer, Audience::new(AUDIENCE)?).fresh_tokens();
        Ok(ClientBuilder::new(self.client.clone()).with(middleware).build())
    }

    async fn observe(case: &'static str, response: reqwest::Response) -> Result<Observed, Error> {
        let status = response.status().as_u16();
        let www_authenticate = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Observed {
            case,
            status,
            www_authenticate,
            body: response.text().await?,
        })
    }

    async fn raw(&self, case: &'static str, token: &str) -> Result<Observed, Error> {
        Quickstart::observe(
            case,
            self.client
                .get(&self.service_url)
                .bearer_auth(token)
                .send()
                .await?,
        )
        .await
    }

    /// One call per case: valid, no token, forged, expired, wrong audience, replay, disallowed
    /// issuer.
    pub async fn scenarios(&self) -> Result<Vec<Observed>, Error> {
        let mut out = Vec::new();
        let audience = Audience::new(AUDIENCE)?;

        let billing = self.client_for(&self.billing.signer)?;
        out.push(
            Quickstart::observe(
                "valid call from billing",
                billing.get(&self.service_url).send().await?,
            )
            .await?,
        );

        out.push(Quickstart::observe("no token", self.client.get(&self.service_url).send().await?).await?);

        // An attacker's own key, claiming to be billing's key.
        let attacker_key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?;
        let forger = Signer::builder("billing")
            .key(SigningKey::new(self.billing.kid.clone(), attacker_key, None)?)
            .build()?;
        out.push(
            self.raw("forged token (wrong key)", forger.sign(&audience)?.as_str())
                .await?,
        );

        // A token made two hours ago (by a signer whose clock is two hours behind).
        let two_hours_ago: Arc<dyn Clock> = Arc::new(ManualClock::new(SystemClock.now() - 7200));
        let billing_key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?;
        let public = billing_key.public_key()?;
        let old_kid = KeyId::parse("billing/2026-11-21.pem")?;
        std::fs::write(
            self.dir.path().join("public").join(old_kid.as_str()),
            public.to_pem(),
        )?;
        let old = Signer::builder("billing")
            .key(SigningKey::new(old_kid, billing_key, None)?)
            .clock(two_hours_ago)
            .build()?;
        out.push(self.raw("expired token", old.sign(&audience)?.as_str()).await?);

        let wrong_audience = billing
            .get(&self.service_url)
            .with_extension(AsapAudience(Audience::new("payments")?))
            .send()
            .await?;
        out.push(Quickstart::observe("token for another audience", wrong_audience).await?);

        let token = self.billing.signer.sign(&audience)?;
        out.push(self.raw("first use of a token", token.as_str()).await?);
        out.push(self.raw("same token again (replay)", token.as_str()).await?);

        let payroll = self.client_for(&self.payroll.signer)?;
        out.push(
            Quickstart::observe(
                "valid token from payroll (not allowed)",
                payroll.get(&self.service_url).send().await?,
            )
            .await?,
        );
        Ok(out)
    }
}

/// The README's Rust examples, compiled as doctests so they cannot rot.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
