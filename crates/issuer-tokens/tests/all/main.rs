//! issuer-tokens integration tests.
