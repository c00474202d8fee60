//! The examples package's one test binary.
//!
//! - End-to-end tests: key repository + axum service behind the layer + reqwest middleware, over
//!   real sockets on 127.0.0.1 ([`quickstart`], [`tls_repository`]); per-user and
//!   central-issuer tokens end to end ([`user_and_issuer_tokens`]).
//! - [`adversarial`]: the attacker's view across every crate, one module per attack class.

mod adversarial;
mod quickstart;
mod tls_repository;
mod user_and_issuer_tokens;
