//! The Rust blocks of docs/*.md, compiled: each is here line for line (indentation aside),
//! wrapped in what it needs (its inputs as parameters), and
//! [`every_rust_block_of_the_docs_is_compiled_here`] fails when a block of the docs is not.
//! Nothing here runs but that test: the rest only has to compile. A block fenced
//! `rust,ignore` is a quote (a trait's declaration), not code to compile.
#![allow(dead_code, unused_variables)]

use std::error::Error;
use std::net::SocketAddr;

use asap_core::{PublicKey, Signer, Token, Verifier};
use connect_qsh::InMemoryTenantStore;
use forge_remote::Invocation;

use crate::grpc::proto::ledger_client::LedgerClient;
use crate::grpc::proto::ledger_server::LedgerServer;
use crate::grpc::proto::{Caller, WhoAmIRequest};

/// docs/forge.md: a Forge app behind `ForgeLayer`.
#[rustfmt::skip]
mod forge_layer {
    use asap_tower::{ForgeInvocation, ForgeLayer};
    use axum::{Router, routing::post};
    use forge_remote::{ForgeKeys, InvocationVerifier, ProductClient};

    async fn handler(ForgeInvocation(invocation): ForgeInvocation) -> String {
        // Call the product back as the app, through app.apiBaseUrl.
        let product = ProductClient::new(reqwest::Client::new());
        match product.as_app(&invocation, reqwest::Method::GET, "/rest/api/3/serverInfo") {
            Ok(request) => match request.send().await {
                Ok(response) => response.text().await.unwrap_or_default(),
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(), // no app system token in this invocation
        }
    }

    fn app() -> Result<Router, Box<dyn std::error::Error>> {
        let verifier = InvocationVerifier::builder("ari:cloud:ecosystem::app/<app id>")
            .keys(ForgeKeys::Production) // or ForgeKeys::Staging
            .build()?;
        Ok(Router::new().route("/macro", post(handler)).layer(ForgeLayer::new(verifier)))
    }
}

/// docs/forge.md: a Forge installation linked to the Connect tenant of the same site.
#[rustfmt::skip]
async fn forge_connect_link(tenants: &InMemoryTenantStore, client_key: String, invocation: Invocation) -> Result<(), Box<dyn Error>> {
    use connect_qsh::{InstallationLinks, TenantStore};

    // Both facts verified: the invocation by InvocationVerifier (ForgeLayer), the tenant by the Connect lifecycle.
    let tenant = tenants.tenant(&client_key).await?.ok_or("not installed")?;
    if invocation.claims().site_url().is_some_and(|site| tenant.is_site(site)) {
        tenants.link(invocation.installation_id(), tenant.client_key()).await?;
    }
    // Later, from a Forge invocation: the Connect tenant of the same site.
    let client_key = tenants.linked_client_key(invocation.installation_id()).await?;
    Ok(())
}

/// docs/grpc.md: the tonic server behind `AsapLayer`.
#[rustfmt::skip]
async fn grpc_server(verifier: Verifier, addr: SocketAddr) -> Result<(), Box<dyn Error>> {
    use asap_tower::AsapLayer;
    use tonic::transport::Server;

    Server::builder()
        .layer(AsapLayer::new(verifier).allowed_issuers(["billing"]))
        .add_service(LedgerServer::new(Ledger))
        .serve(addr)
        .await?;
    Ok(())
}

/// The service of docs/grpc.md.
struct Ledger;

/// docs/grpc.md: the handler reading the verified caller.
#[tonic::async_trait]
#[rustfmt::skip]
impl crate::grpc::proto::ledger_server::Ledger for Ledger {
    async fn who_am_i(&self, request: tonic::Request<WhoAmIRequest>) -> Result<tonic::Response<Caller>, tonic::Status> {
        let caller = request.extensions().get::<asap_core::Verified>().ok_or_else(|| tonic::Status::internal("no caller"))?;
        // caller.issuer(), caller.subject(), caller.claims() …
        Ok(tonic::Response::new(Caller { issuer: caller.issuer().to_owned(), ..Caller::default() }))
    }
}

/// docs/grpc.md: a tonic client signing through `SignRequestsLayer`.
#[rustfmt::skip]
async fn grpc_client(signer: Signer) -> Result<(), Box<dyn Error>> {
    use asap_core::{Audience, TokenRequest};
    use asap_tower::SignRequestsLayer;
    use tonic::transport::Endpoint;
    use tower::ServiceBuilder;

    let channel = Endpoint::from_static("https://ledger.internal").connect().await?;
    let channel = ServiceBuilder::new()
        .layer(SignRequestsLayer::new(&signer, Audience::new("ledger")?))
        .service(channel);
    let mut client = LedgerClient::new(channel);

    client.who_am_i(WhoAmIRequest {}).await?;           // signed for "ledger"

    let mut request = tonic::Request::new(WhoAmIRequest {});
    request.extensions_mut().insert(TokenRequest::new(Audience::new("audit")?));
    client.who_am_i(request).await?;                      // this one for "audit"
    Ok(())
}

/// docs/jsonwebtoken.md: the smallest jsonwebtoken-made token that passes here.
#[rustfmt::skip]
fn jsonwebtoken_makes(unique_id: &str, pem: &str) -> Result<(), Box<dyn Error>> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("billing/k1".into());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let claims = serde_json::json!({ "iss": "billing", "aud": "ledger", "jti": unique_id, "iat": now, "exp": now + 60 });
    let token = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes())?)?; // pem: PKCS#8 text
    Ok(())
}

/// docs/jsonwebtoken.md: jsonwebtoken checking one of our tokens as much as it can.
#[rustfmt::skip]
fn jsonwebtoken_checks(public_key: &PublicKey, token: &Token) -> Result<(), Box<dyn Error>> {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["ledger"]);
    validation.set_issuer(&["billing"]);                        // to check as much as we do:
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.validate_nbf = true;
    let key = jsonwebtoken::DecodingKey::from_ec_pem(public_key.to_pem().as_bytes())?; // an asap_core::PublicKey
    let data = jsonwebtoken::decode::<serde_json::Value>(token.as_str(), &key, &validation)?;  // an asap_core::Token
    Ok(())
}

/// docs/metrics.md: a Prometheus recorder for the library's metrics.
#[rustfmt::skip]
fn prometheus() -> Result<(), Box<dyn Error>> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    asap_core::metrics::describe(); // optional: help text and units for `# HELP` lines
    asap_keys::metrics::describe();
    Ok(())
}

#[test]
fn every_rust_block_of_the_docs_is_compiled_here() {
    let here: Vec<&str> = include_str!("doc_snippets.rs").lines().map(str::trim).collect();
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    let mut files: Vec<_> = std::fs::read_dir(&docs)
        .expect("docs/")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        let mut lines = text.lines().enumerate();
        while let Some((n, line)) = lines.next() {
            if line.trim_end() != "```rust" {
                continue;
            }
            let block: Vec<&str> = lines
                .by_ref()
                .map(|(_, l)| l)
                .take_while(|l| !l.starts_with("```"))
                .map(str::trim)
                .collect();
            assert!(
                here.windows(block.len()).any(|w| w == block.as_slice()),
                "{}:{}: this block is not in examples/tests/all/doc_snippets.rs, so nothing compiles it",
                file.display(),
                n + 1
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no Rust block found under {}", docs.display());
}
