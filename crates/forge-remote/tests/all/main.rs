//! forge-remote integration tests: one binary, one module per area. The Forge key set cannot
//! be reached from tests: a loopback HTTPS JWKS server with keys made in the test stands in.

mod support;
mod verifier;
