//! # asap-cli
//!
//! The `asap` command line (`cargo install --path crates/asap-cli`, then `asap --help`): key
//! generation, ASAP tokens, verification, authenticated HTTP requests, a public key repository
//! server, and the Atlassian Connect `qsh` and tokens. Its interface is a contract that scripts
//! and tests drive (docs/decisions.md, "The `asap` command is a contract").
//!
//! This library part holds what other programs reuse: the public key repository server behind
//! `asap serve-keys`, so that tests and examples can run one in-process.
//!
//! ```no_run
//! use std::time::Duration;
//! use asap_cli::serve_keys::{KeyServer, KeyServerConfig};
//!
//! # async fn run() -> Result<(), asap_cli::serve_keys::ServeError> {
//! // `<dir>/<kid>` is served at `/<kid>`, e.g. `public/billing/2026.pem` at `/billing/2026.pem`.
//! let config = KeyServerConfig::new("public").max_age(Duration::from_secs(60));
//! let server = KeyServer::bind("127.0.0.1:0".parse().expect("address"), config).await?;
//! println!("key repository at {}", server.url());
//! server.serve(async { tokio::signal::ctrl_c().await.ok(); }).await?;
//! # Ok(()) }
//! ```

#![deny(unsafe_code)]

pub mod serve_keys;
