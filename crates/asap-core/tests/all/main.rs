//! asap-core integration tests: one binary, one module per area.

mod bound_tokens;
mod claims_policy;
mod ecdsa_malleability;
mod interop;
mod keys;
mod kid_ownership;
mod signer;
mod support;
mod verified_cache;
mod verifier;
mod wycheproof;
