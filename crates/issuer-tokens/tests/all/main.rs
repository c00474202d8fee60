//! issuer-tokens integration tests: the verifier's rules and route policies, and both directions
//! against api-jwt-2 1.3.2 (module api_jwt) and PyJWT.

mod python_peer;
mod verifier;
