//! An axum service that accepts ASAP calls. Copy this into your service.
//!
//! ```text
//! ASAP_PUBLIC_KEY_REPOSITORY_URL=https://keys.internal/ \
//! ASAP_AUDIENCE=ledger ASAP_ALLOWED_ISSUERS=billing,payroll \
//!     cargo run --example axum_server
//! ```

use asap_core::{Audience, Verifier};
use asap_keys::HttpKeyRepository;
use asap_tower::{AsapLayer, Authenticated};
use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter("info,asap_tower=debug")
        .init();

    // Keys come from the repository named in ASAP_PUBLIC_KEY_REPOSITORY_URL (mirrors with
    // `url1 | url2`, a fallback in ASAP_PUBLIC_KEY_FALLBACK_REPOSITORY_URL), cached by
    // Cache-Control, one fetch per kid however many requests wait for it.
    let keys = HttpKeyRepository::builder_from_env()?.build()?;
    let audience = std::env::var("ASAP_AUDIENCE").unwrap_or_else(|_| "ledger".into());
    let mut verifier = Verifier::builder(keys).audience(Audience::new(&audience)?);
    if let Ok(issuers) = std::env::var("ASAP_ALLOWED_ISSUERS") {
        verifier = verifier.allowed_issuers(issuers.split(',').map(str::trim));
    }
    let verifier = verifier.build()?;

    let app =
        Router::new()
            .route(
                "/hello",
                get(|Authenticated(caller): Authenticated| async move {
                    format!("hello, {}\n", caller.subject())
                }),
            )
            .layer(AsapLayer::new(verifier));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
