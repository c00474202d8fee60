//! connect-qsh integration tests: one binary, one module per area.

mod authenticator;
mod conformance;
mod lifecycle;
mod npm;
mod python;
mod support;
