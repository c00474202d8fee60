//! The README's first command: `cargo run --example quickstart`.
//!
//! Generates keys, serves the public key repository, starts a service behind the ASAP layer and
//! calls it with the reqwest middleware, printing one line per case. Everything runs on
//! 127.0.0.1 and stops when the program ends.

use asap_examples::Quickstart;

#[tokio::main]
async fn main() -> Result<(), asap_examples::Error> {
    let demo = Quickstart::start().await?;
    println!("public key repository: {}", demo.key_repository_url());
    println!("service:               {}\n", demo.service_url());
    for observed in demo.scenarios().await? {
        println!("{observed}");
    }
    Ok(())
}
