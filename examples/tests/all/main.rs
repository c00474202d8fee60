//! The examples package's one test binary.
//!
//! - End-to-end tests: key repository + axum service behind the layer + reqwest middleware, over
//!   real sockets on 127.0.0.1 ([`quickstart`], [`tls_repository`]); Forge Remote with a
//!   stand-in for Forge's key set and for the product ([`forge`]).
//! - [`adversarial`]: the attacker's view across every crate, one module per attack class.

mod adversarial;
mod forge;
mod quickstart;
mod tls_repository;
