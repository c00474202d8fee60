//! The attacker's view: every crate attacked through its public interface, one module per attack
//! class, each test asserting the exact refusal (error variant and HTTP status) and, where it
//! matters, that the key repository was never asked.
//!
//! The stack under attack is real ([`stack`]): an axum service behind `asap_tower::AsapLayer`, a
//! verifier whose keys come from `asap_keys::HttpKeyRepository`, and a key repository served
//! over HTTPS on 127.0.0.1 that counts every request. Tokens are forged byte by byte with
//! `asap_testkit::forge`, signed through the public signing seam (`PrivateKey::sign`) when the
//! attack needs a valid signature. `docs/security.md` maps each attack class to its test.

mod stack;

mod claims;
mod connect;
mod forge;
mod framing;
mod header;
mod key_repository;
mod kid;
mod private_keys;
mod replay;
mod serve_keys;
mod signatures;
mod transport;
