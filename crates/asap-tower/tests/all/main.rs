//! asap-tower integration tests over real sockets on 127.0.0.1.

mod axum_app;
mod hyper_plain;
mod support;
