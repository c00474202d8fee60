//! user-tokens integration tests: the verifier's rules, and both directions against the Python
//! package asymmetric-jwt-auth 1.3.0.

mod per_user_jwks;
mod python_peer;
mod redis_nonces;
mod verifier;
