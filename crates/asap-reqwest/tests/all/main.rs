//! asap-reqwest integration tests: a real axum server behind asap-tower on 127.0.0.1.

#[cfg(feature = "connect")]
mod connect;
mod middleware;
#[cfg(feature = "user-tokens")]
mod user_tokens;
