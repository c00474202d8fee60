//! The one integration-test binary of asap-keys: real servers on 127.0.0.1 (HTTPS with a
//! throw-away CA), keys generated in the tests.

mod budget;
mod cache;
mod end_to_end;
mod failover;
mod file_repo;
mod http_repo;
mod jwks;
mod private_keys;
#[cfg(feature = "server")]
mod server;
mod support;
