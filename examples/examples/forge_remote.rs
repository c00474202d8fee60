//! A Forge Remote backend on axum: every request Forge sends carries a Forge Invocation Token;
//! `ForgeLayer` verifies it against Forge's key set and the handler gets the invocation (its
//! tenant, its user, and the app's OAuth tokens) and can call the product back.
//!
//! ```text
//! cargo run --example forge_remote
//! ```
//!
//! Forge's key set cannot be reached from here, so this runs a stand-in on 127.0.0.1 (the key
//! server publishing a directory as `/.well-known/jwks.json`) and sends itself a few
//! invocations, printing one line per case. In your app, configure the verifier with
//! `ForgeKeys::Production` (or `ForgeKeys::Staging`) instead of `key_source`:
//!
//! ```no_run
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = forge_remote::InvocationVerifier::builder("ari:cloud:ecosystem::app/<your app id>")
//!     .keys(forge_remote::ForgeKeys::Production)
//!     .build()?;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use asap_core::{Algorithm, Clock as _, KeySpec, PrivateKey, SystemClock};
use asap_keys::JwksKeySource;
use asap_keys::server::{KeyServer, KeyServerConfig};
use asap_tower::{ForgeInvocation, ForgeLayer};
use axum::Router;
use axum::routing::post;
use forge_remote::InvocationVerifier;
use serde_json::json;

const APP_ID: &str = "ari:cloud:ecosystem::app/0c7d2f3e-1b2a-4c5d-8e9f-a0b1c2d3e4f5";

/// The handler: the invocation is verified; its claims are typed.
async fn invoked(ForgeInvocation(invocation): ForgeInvocation) -> String {
    let site = invocation
        .claims()
        .context
        .as_ref()
        .and_then(|c| c.site_url.clone())
        .unwrap_or_default();
    format!(
        "hello {} on {site} (installation {}); app system token: {}",
        invocation.principal().unwrap_or("app"),
        invocation.installation_id(),
        if invocation.system_token().is_some() {
            "present"
        } else {
            "absent"
        },
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The stand-in for Forge: a key directory published as a JWK set.
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("forge"))?;
    let key = PrivateKey::generate(KeySpec::Rsa(2048))?;
    std::fs::write(dir.path().join("forge/k1"), key.public_key()?.to_pem())?;
    let keys = KeyServer::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        KeyServerConfig::new(dir.path()).publish_jwks(true),
    )
    .await?;
    let jwks_url = format!("{}.well-known/jwks.json", keys.url());
    tokio::spawn(keys.serve(std::future::pending()));

    // The remote.
    let jwks = JwksKeySource::builder(&jwks_url)
        .allow_insecure_loopback(true)
        .build()?;
    let verifier = InvocationVerifier::builder(APP_ID)
        .key_source(Arc::new(jwks))
        .build()?;
    let app = Router::new()
        .route("/invoke", post(invoked))
        .layer(ForgeLayer::new(verifier));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let remote = format!("http://{}/invoke", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("Forge key set (stand-in): {jwks_url}\nremote:                   {remote}\n");

    // Invocations, as Forge sends them.
    let now = SystemClock.now();
    let claims = json!({
        "iss": "forge/invocation-token", "aud": APP_ID,
        "iat": now, "nbf": now, "exp": now + 60, "jti": "8d7f6e5d",
        "app": {
            "id": APP_ID,
            "installationId": "ari:cloud:ecosystem::installation/7e6d5c4b",
            "apiBaseUrl": "https://api.atlassian.com/ex/jira/4a7c1f0e",
            "environment": {"type": "DEVELOPMENT"}
        },
        "context": {"cloudId": "4a7c1f0e", "siteUrl": "https://acme.atlassian.net"},
        "principal": "5b10a2844c20165700ede21g"
    });
    let sign = |alg: Algorithm, claims: &serde_json::Value| -> Result<String, asap_core::SignError> {
        let header = json!({"alg": alg.as_str(), "kid": "forge/k1"}).to_string();
        asap_core::encode_compact(header.as_bytes(), claims.to_string().as_bytes(), |input| {
            key.sign(alg, input)
        })
    };
    let mut for_another_app = claims.clone();
    for_another_app["aud"] = json!("ari:cloud:ecosystem::app/someone-else");
    let mut expired = claims.clone();
    expired["exp"] = json!(now - 600);
    let cases = [
        ("valid invocation", Some(sign(Algorithm::RS256, &claims)?)),
        ("no token", None),
        (
            "token for another app",
            Some(sign(Algorithm::RS256, &for_another_app)?),
        ),
        ("expired token", Some(sign(Algorithm::RS256, &expired)?)),
        ("PS256 instead of RS256", Some(sign(Algorithm::PS256, &claims)?)),
    ];
    let client = reqwest::Client::new();
    for (case, token) in cases {
        let mut request = client
            .post(&remote)
            .header("x-forge-oauth-system", "app-system-token");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        println!("{case:<24} → {status} {}", response.text().await?);
    }
    Ok(())
}
