//! user-tokens integration tests.
