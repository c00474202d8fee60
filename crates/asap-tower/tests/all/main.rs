//! asap-tower integration tests over real sockets on 127.0.0.1.

#[cfg(feature = "axum")]
mod axum_app;
#[cfg(feature = "axum")]
mod bound;
mod cached;
#[cfg(all(feature = "connect", feature = "axum"))]
mod connect;
#[cfg(all(feature = "forge", feature = "axum"))]
mod forge;
mod grpc;
mod hardening;
mod hyper_plain;
#[cfg(all(feature = "issuer-tokens", feature = "axum"))]
mod issuer_tokens;
#[cfg(feature = "axum")]
mod scope;
mod sign;
mod support;
#[cfg(all(feature = "user-tokens", feature = "axum"))]
mod user_tokens;
