//! Errors. Each names the rule that failed in words a caller can act on; a verification error
//! maps to an HTTP outcome through exactly one method, [`ForgeError::outcome`].

use asap_core::{BoxError, KeyError, KeyId, KidError, Outcome, ReplayError, TokenError};

/// Why an invocation was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForgeError {
    /// No `Authorization` header.
    #[error("no Authorization header")]
    MissingToken,
    /// The `Authorization` header is not `Bearer <token>` (or is sent twice).
    #[error("bad Authorization header: {0}")]
    BadAuthorization(&'static str),
    /// A rule every token profile shares: size, framing, strict JSON, `alg`, claim typing,
    /// time, audience, signature.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The `kid` header is not a valid key id.
    #[error("invalid kid: {0}")]
    Kid(#[from] KidError),
    /// `iss` is not `forge/invocation-token`.
    #[error("issuer {0:?} is not the Forge invocation token issuer")]
    WrongIssuer(String),
    /// A Forge claim is missing or not of its documented type.
    #[error("claim {claim:?} is invalid: {reason}")]
    InvalidClaim {
        /// The claim.
        claim: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// `app.id` is not the token's audience: the token describes another app than the one it
    /// is addressed to.
    #[error("app.id is not the token's audience")]
    AppMismatch,
    /// The Forge key set publishes no key with this kid.
    #[error("no Forge key for kid {0}")]
    KeyNotFound(KeyId),
    /// The key published for the kid cannot be used.
    #[error("the Forge key for kid {kid} is not acceptable: {source}")]
    InvalidKey {
        /// The kid.
        kid: KeyId,
        /// Why.
        #[source]
        source: KeyError,
    },
    /// The Forge key set cannot be fetched and nothing cached can answer.
    #[error("cannot get the Forge keys: {0}")]
    KeyUnavailable(#[source] BoxError),
    /// The token's `jti` was used before, while the token lives (only with a replay guard).
    #[error("the invocation token was used before")]
    Replayed,
    /// The replay guard cannot record the token (a store that is full or down).
    #[error("the replay guard cannot record the invocation: {0}")]
    ReplayUnavailable(#[source] ReplayError),
    /// An `x-forge-oauth-*` header that cannot be an OAuth token.
    #[error("header {header} is not a usable OAuth token: {reason}")]
    BadOAuthToken {
        /// The header.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl ForgeError {
    /// The HTTP outcome: 503 when the keys cannot be fetched or the replay guard cannot answer,
    /// 401 for everything else.
    pub fn outcome(&self) -> Outcome {
        match self {
            ForgeError::KeyUnavailable(_) | ForgeError::ReplayUnavailable(_) => Outcome::Unavailable,
            ForgeError::Token(e) => e.outcome(),
            _ => Outcome::Unauthorized,
        }
    }
}

impl From<asap_core::KeySourceError> for ForgeError {
    fn from(e: asap_core::KeySourceError) -> Self {
        match e {
            asap_core::KeySourceError::NotFound(kid) => ForgeError::KeyNotFound(kid),
            asap_core::KeySourceError::InvalidKey { kid, source } => ForgeError::InvalidKey { kid, source },
            asap_core::KeySourceError::Unavailable(e) => ForgeError::KeyUnavailable(e),
            other => ForgeError::KeyUnavailable(Box::new(other)),
        }
    }
}

/// A verifier setting that is out of range.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The app id is not `ari:cloud:ecosystem::app/<id>`.
    #[error("the app id {0:?} is not ari:cloud:ecosystem::app/<id>")]
    AppId(String),
    /// A setting is out of range.
    #[error("invalid Forge verifier setting: {0}")]
    Setting(String),
    /// The JWKS source cannot be built.
    #[error(transparent)]
    Keys(#[from] asap_keys::ConfigError),
}

impl From<asap_core::ConfigError> for ConfigError {
    fn from(e: asap_core::ConfigError) -> Self {
        ConfigError::Setting(e.0)
    }
}
