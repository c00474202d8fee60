//! End-to-end tests: key repository + axum service behind the layer + reqwest middleware, over
//! real sockets on 127.0.0.1.

mod quickstart;
mod tls_repository;
