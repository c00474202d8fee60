//! asap-tower integration tests over real sockets on 127.0.0.1.

mod axum_app;
#[cfg(feature = "connect")]
mod connect;
mod hyper_plain;
mod scope;
mod support;
