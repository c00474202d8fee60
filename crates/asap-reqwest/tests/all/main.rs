//! asap-reqwest integration tests: a real axum server behind asap-tower on 127.0.0.1.

mod bound;
#[cfg(feature = "connect")]
mod connect;
#[cfg(feature = "connect")]
mod connect_user;
mod middleware;
mod origins;
#[cfg(feature = "user-tokens")]
mod user_tokens;
