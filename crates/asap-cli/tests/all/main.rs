//! Integration tests of the `asap` binary: each runs the built binary (`CARGO_BIN_EXE_asap`) in a
//! temporary directory. One test binary for the crate (see docs/decisions.md, "The workspace").

mod bound;
mod connect;
mod curl;
mod generate;
mod inspect;
mod jwks;
mod keys;
mod passphrase;
mod proxy;
mod python;
mod roundtrip;
mod run;
mod serve_keys;
mod support;
mod usage;
mod user_and_issuer;
