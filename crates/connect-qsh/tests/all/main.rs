//! connect-qsh integration tests: one binary, one module per area. Without the `auth` feature
//! only the standalone qsh is tested (the conformance cases and the npm comparison).

#[cfg(feature = "auth")]
mod asymmetric;
#[cfg(feature = "auth")]
mod authenticator;
mod conformance;
#[cfg(feature = "auth")]
mod lifecycle;
mod npm;
#[cfg(feature = "auth")]
mod python;
#[cfg(feature = "auth")]
mod resource_binding;
#[cfg(feature = "auth")]
mod session;
#[cfg(feature = "auth")]
mod support;
