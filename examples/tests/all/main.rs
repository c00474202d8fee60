//! The examples package's one test binary.
//!
//! - End-to-end tests: key repository + axum service behind the layer + reqwest middleware, over
//!   real sockets on 127.0.0.1 ([`quickstart`], [`tls_repository`], [`bound_tokens`]); Forge
//!   Remote with a stand-in for Forge's key set and for the product ([`forge`]); a Connect app
//!   with the atlassian-connect-express features ([`connect_app`]); per-user and
//!   central-issuer tokens end to end ([`user_and_issuer_tokens`]).
//! - [`grpc`]: a tonic server behind the layer and a tonic client signing through
//!   `SignRequestsLayer`, for each gRPC status.
//! - [`jsonwebtoken`]: tokens made by the `jsonwebtoken` crate verify here and ours verify there;
//!   where our rules are stricter than its defaults.
//! - [`metrics`]: the counters and histograms of docs/metrics.md, read through a recorder.
//! - [`adversarial`]: the attacker's view across every crate, one module per attack class.
//! - [`doc_snippets`]: the Rust blocks of docs/*.md, compiled.

mod adversarial;
mod bound_tokens;
mod connect_app;
mod doc_snippets;
mod forge;
mod grpc;
mod jsonwebtoken;
mod metrics;
mod quickstart;
mod tls_repository;
mod user_and_issuer_tokens;
