//! The examples package's one test binary.
//!
//! - End-to-end tests: key repository + axum service behind the layer + reqwest middleware, over
//!   real sockets on 127.0.0.1 ([`quickstart`], [`tls_repository`]); a Connect app with the
//!   atlassian-connect-express features ([`connect_app`]).
//! - [`adversarial`]: the attacker's view across every crate, one module per attack class.

mod adversarial;
mod connect_app;
mod quickstart;
mod tls_repository;
