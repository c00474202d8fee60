//! Integration tests of the `asap` binary: each runs the built binary (`CARGO_BIN_EXE_asap`) in a
//! temporary directory. One test binary for the crate (see docs/decisions.md, "The workspace").

mod connect;
mod curl;
mod keys;
mod python;
mod roundtrip;
mod serve_keys;
mod support;
mod usage;
mod user_and_issuer;
