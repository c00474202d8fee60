//! A reqwest client that calls an ASAP service. Copy this into your client.
//!
//! ```text
//! ASAP_ISSUER=billing ASAP_KEY_ID=billing/2026-11-01.pem \
//! ASAP_PRIVATE_KEY="$(asap data-uri --kid billing/2026-11-01.pem private/billing/2026-11-01.pem)" \
//! ASAP_AUDIENCE=ledger cargo run --example reqwest_client -- http://127.0.0.1:8080/hello
//! ```

use asap_keys::EnvSigner;
use asap_reqwest::{AsapMiddleware, Origin};
use reqwest_middleware::ClientBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8080/hello".into());
    // ASAP_ISSUER, ASAP_KEY_ID, ASAP_PRIVATE_KEY (data URI or PEM) and ASAP_AUDIENCE, as the
    // reference implementations read them; errors name the variable that is wrong.
    let (signer, audience) = EnvSigner::from_env()?.into_parts();
    let audience = audience.ok_or("set ASAP_AUDIENCE")?;

    // The token goes to this URL's origin only: any other host gets an error, not the token.
    let service = Origin::of(&reqwest::Url::parse(&url)?)?;

    let client = ClientBuilder::new(reqwest::Client::new())
        .with(AsapMiddleware::new(&signer, audience).allow_origins([service]))
        .build();
    let response = client.get(&url).send().await?;
    println!("{} {}", response.status(), response.text().await?.trim_end());
    Ok(())
}
